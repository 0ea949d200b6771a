"""/open311/v2/...: every resource in XML and JSON, chosen by the URL's suffix."""

from django.urls import re_path

from open311 import views

app_name = "open311"

_FORMAT = r"\.(?P<fmt>xml|json)$"

urlpatterns = [
    re_path(r"^discovery" + _FORMAT, views.discovery, name="discovery"),
    re_path(r"^services" + _FORMAT, views.service_list, name="services"),
    re_path(r"^services/(?P<code>[-\w]+)" + _FORMAT, views.service_definition, name="service"),
    re_path(r"^requests" + _FORMAT, views.requests, name="requests"),
    re_path(r"^requests/(?P<request_id>[-\w]+)" + _FORMAT, views.request_detail, name="request"),
    re_path(r"^tokens/(?P<token>[-\w]+)" + _FORMAT, views.token, name="token"),
]
