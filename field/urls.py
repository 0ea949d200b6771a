from django.urls import path, register_converter

from civic.twofactor.views import SecondFactorView
from field import views
from field.selectors import VISIT_TARGETS


class VisitTargetConverter:
    """"household" or "place": any other kind of record is no URL at all."""

    regex = "|".join(VISIT_TARGETS)

    def to_python(self, value):
        return value

    def to_url(self, value):
        return value


register_converter(VisitTargetConverter, "visit_target")

app_name = "field"

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("2fa/", SecondFactorView.as_view(template_name="field/second_factor.html", login_url="field:login",
                                          default_next="field:home"), name="2fa"),
    path("report/", views.report, name="report"),
    path("cases/<int:pk>/", views.case_page, name="case"),
    path("patrol/", views.patrol, name="patrol"),
    path("patrol/<visit_target:kind>/<int:pk>/", views.visit, name="visit"),
    path("manifest.webmanifest", views.manifest, name="manifest"),
    path("sw.js", views.service_worker, name="sw"),
]
