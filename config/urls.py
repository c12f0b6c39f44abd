from csp.decorators import csp_update
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.http import HttpResponse
from django.urls import include, path
from django.views.decorators.http import require_safe
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView

from config.renderers import INLINE_STYLES
from config.tokens import obtain_token

# The API docs pages (Swagger UI, Redoc, from drf-spectacular-sidecar) set styles inline: only
# they may. Swagger's start-up script is served as a file (the split view), so scripts stay 'self';
# Redoc runs its search in a worker it builds from a blob: URL.
swagger_csp = csp_update(INLINE_STYLES)
redoc_csp = csp_update({**INLINE_STYLES, "worker-src": ["blob:"]})

handler400 = "config.limits.bad_request"  # RequestDataTooBig is the 413 of config.limits
handler403 = "config.error_pages.permission_denied"
handler404 = "config.error_pages.page_not_found"
handler500 = "config.error_pages.server_error"


@require_safe
def healthz(request):
    """A trivial view: the baseline that benchmarks compare page latency with."""
    return HttpResponse("ok", content_type="text/plain")


urlpatterns = [
    path("healthz/", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/password/change/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path("accounts/password/change/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path("accounts/password/reset/", auth_views.PasswordResetView.as_view(), name="password_reset"),
    path("accounts/password/reset/sent/", auth_views.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path(
        "accounts/password/reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "accounts/password/reset/done/",
        auth_views.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", swagger_csp(SpectacularSwaggerSplitView.as_view(url_name="api-schema")), name="api-docs"),
    path(
        "api/redoc/",
        redoc_csp(SpectacularRedocView.as_view(url_name="api-schema", template_name="api_docs/redoc.html")),
        name="api-redoc",
    ),
    path("api/auth/token/", obtain_token, name="api-token"),
    path("api/", include(("triage.api_urls", "triage-api"))),
    path("api/", include(("labelling.api.urls", "labelling-api"))),
    path("api/", include(("surveys.api.urls", "surveys-api"))),
    path("reports/", include(("triage.urls", "triage"))),
    path("", include(("surveys.urls", "surveys"))),
    path("", include(("labelling.urls", "labelling"))),
]
