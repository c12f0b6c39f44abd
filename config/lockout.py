"""What a locked-out login sees (django-axes calls ``lockout_response``, AXES_LOCKOUT_CALLABLE).

After ``AXES_FAILURE_LIMIT`` wrong passwords for one username from one address, that pair is
refused for ``AXES_COOLOFF_TIME``, even with the right password, and every further try restarts
the wait. The login page says when to try again; the API (``/api/...``) answers 429 in the
API's error shape with a ``Retry-After`` header. Staff clear a lockout in the admin (Axes ›
Access attempts) or with ``manage.py axes_reset_username NAME`` / ``axes_reset``.
"""

from __future__ import annotations

import math

from axes.helpers import get_cool_off, get_failure_limit
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone


def lockout_response(request: HttpRequest, original_response=None, credentials=None) -> HttpResponse:
    cool_off = get_cool_off(request)
    seconds = math.ceil(cool_off.total_seconds()) if cool_off else None
    retry_at = timezone.now() + cool_off if cool_off else None
    limit = get_failure_limit(request, credentials)
    if seconds:
        minutes = max(1, math.ceil(seconds / 60))
        when = f"in {minutes} minute{'s' if minutes != 1 else ''} (after {retry_at:%H:%M} UTC)"
        message = (
            f"Too many failed logins: after {limit} wrong passwords this account is locked for this "
            f"address. Try again {when}; every further try restarts the wait. A staff user can lift "
            "the lock sooner."
        )
    else:
        message = (
            f"Too many failed logins: after {limit} wrong passwords this account is locked for this "
            "address until a staff user lifts the lock."
        )
    if request.path.startswith("/api/"):
        response = JsonResponse(
            {
                "message": message,
                "details": {"retry_after_seconds": seconds, "retry_at": retry_at.isoformat() if retry_at else None},
            },
            status=429,
        )
    else:
        response = render(
            request,
            "registration/locked_out.html",
            {"message": message, "retry_at": retry_at},
            status=429,
        )
    if seconds:
        response["Retry-After"] = str(seconds)
    return response
