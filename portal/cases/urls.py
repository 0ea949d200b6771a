from django.urls import path

from portal.cases import views

app_name = "cases"

urlpatterns = [
    path("report/", views.report, name="report"),
    path("report/duplicates/", views.duplicates, name="duplicates"),
    path("mine/", views.my_cases, name="mine"),
    path("public/", views.public_list, name="public"),
    path("<str:reference>/reported/", views.reported, name="reported"),
    path("<str:reference>/", views.case_page, name="detail"),
]
