from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.http import HttpResponse
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from config.tokens import obtain_token

handler400 = "config.limits.bad_request"  # RequestDataTooBig is the 413 of config.limits


def healthz(request):
    """A trivial view: the baseline that benchmarks compare page latency with."""
    return HttpResponse("ok", content_type="text/plain")


urlpatterns = [
    path("healthz/", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="api-schema"), name="api-redoc"),
    path("api/auth/token/", obtain_token, name="api-token"),
    path("api/", include(("triage.api_urls", "triage-api"))),
    path("api/", include(("labelling.api.urls", "labelling-api"))),
    path("reports/", include(("triage.urls", "triage"))),
    path("", include(("labelling.urls", "labelling"))),
]
