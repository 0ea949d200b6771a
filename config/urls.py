from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from civic.health import healthz
from civic.twofactor.views import SecondFactorView

api_v1 = [
    path("auth/", include("civic.api.urls")),
    path("grid/", include("grid.api.urls")),
    path("issues/", include("issues.api.urls")),
    path("centre/", include("centre.api.urls")),
    path("partners/", include("partners.api.urls")),
    path("billing/", include("services.billing.api.urls")),
    path("booking/", include("services.booking.api.urls")),
]

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/2fa/", SecondFactorView.as_view(), name="admin_2fa"),
    path("admin/centre/", include("centre.urls")),  # before the admin's catch-all
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("field/", include("field.urls")),
    path("open311/v2/", include("open311.urls")),
    path("billing/gateway/", include("services.billing.gateway_urls")),  # the simulated gateway, before the portal
    path("", include("portal.urls")),
]
# No static() for MEDIA_URL: uploads are served only by views that check access (civic.protected_media).
