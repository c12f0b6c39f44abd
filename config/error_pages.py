"""The 403, 404 and 500 pages (handler403/404/500 in config.urls): in the site's layout, with the
reason and a way back. Under /api/ the same errors answer in the API's JSON shape instead.

The reason shown is the message the code raised with (``PermissionDenied("Your role in this
study does not allow this.")``, ``Http404("No such study.")``): those are written for people.
Django's own messages (a URL that resolves to nothing, ``get_object_or_404``'s "No Study matches
the given query.") are replaced by a plain sentence. The 500 page renders without a request
context: no session, no user, no query, so it renders even when the database is what failed.
"""

from __future__ import annotations

from django.http import HttpResponseServerError, JsonResponse
from django.shortcuts import render
from django.template import loader
from django.urls import Resolver404
from django.utils.http import url_has_allowed_host_and_scheme

NOT_FOUND = "There is nothing at this address: the link may be mistyped or old, or what it showed was deleted."
FORBIDDEN = "Your account is not allowed to do this."


def _message(exception, default: str) -> str:
    if exception is None or isinstance(exception, Resolver404):
        return default
    message = exception.args[0] if exception.args else ""
    if not isinstance(message, str) or not message.strip() or message.endswith("matches the given query."):
        return default
    return message


def _back(request) -> str | None:
    """Where the person came from, if it is a page of this site."""
    referer = request.META.get("HTTP_REFERER", "")
    if referer and url_has_allowed_host_and_scheme(referer, allowed_hosts={request.get_host()}):
        return referer
    return None


def _api(request) -> bool:
    return request.path.startswith("/api/")


def permission_denied(request, exception=None, template_name="403.html"):
    reason = _message(exception, FORBIDDEN)
    if _api(request):
        return JsonResponse({"message": reason, "details": []}, status=403)
    return render(request, template_name, {"reason": reason, "back": _back(request)}, status=403)


def page_not_found(request, exception=None, template_name="404.html"):
    reason = _message(exception, NOT_FOUND)
    if _api(request):
        return JsonResponse({"message": reason, "details": []}, status=404)
    return render(request, template_name, {"reason": reason, "back": _back(request)}, status=404)


def server_error(request, template_name="500.html"):
    if _api(request):
        message = (
            "Something went wrong on the server and the request was not carried out. Try again; "
            "if it goes on, tell the administrator (the server log has the details)."
        )
        return JsonResponse({"message": message, "details": []}, status=500)
    return HttpResponseServerError(loader.get_template(template_name).render())


def csrf_failure(request, reason="", template_name="403_csrf.html"):
    """CSRF_FAILURE_VIEW: an old form (the page was open too long, or you logged in elsewhere)."""
    message = (
        "This form was sent from a page that is too old (or cookies are blocked), so it was refused "
        "and nothing was saved. Reload the page and send the form again."
    )
    return render(request, template_name, {"reason": message, "back": _back(request)}, status=403)
