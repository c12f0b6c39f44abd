"""Request-size limits: a body over its limit is a 413 that says the limit and how to get under it.

Two limits, from the environment (config.settings):

* ``BUGSIFT_MAX_REQUEST_BYTES`` (``BUGSIFT_MAX_REQUEST_MB``, default 25 MB) for pages and API calls;
* ``BUGSIFT_MAX_UPLOAD_BYTES`` (``BUGSIFT_MAX_UPLOAD_MB``, default 500 MB) for file uploads
  (multipart forms: report and label files, reproducers) and crash batches (``/api/crashes/``).

``RequestLimits`` refuses a request whose Content-Length is over its limit before a byte of the
body is read. A body without Content-Length (``Transfer-Encoding: chunked``, which the WSGI server
marks with ``wsgi.input_terminated``) is read through ``BoundedStream``, which raises Django's own
``RequestDataTooBig`` once more than the limit has been read. Django raises the same exception when
form fields are over ``DATA_UPLOAD_MAX_MEMORY_SIZE``; ``bad_request`` (``handler400``) and the API
exception handler turn it into the same 413, never a 400 or a 500. Uploaded files go to a
temporary file on disk (``FILE_UPLOAD_HANDLERS``), never into memory.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import JsonResponse
from django.shortcuts import render
from django.views.defaults import bad_request as django_bad_request

UPLOAD_PATHS = ("/api/crashes/",)
MB = 1024 * 1024


def limit_for(request) -> tuple[int, str]:
    """The body limit in bytes for this request and the setting that sets it."""
    if request.path.startswith(UPLOAD_PATHS) or request.content_type == "multipart/form-data":
        return settings.BUGSIFT_MAX_UPLOAD_BYTES, "BUGSIFT_MAX_UPLOAD_MB"
    return settings.BUGSIFT_MAX_REQUEST_BYTES, "BUGSIFT_MAX_REQUEST_MB"


def _size(n: int) -> str:
    return f"{n / MB:g} MB" if n >= MB else f"{n} bytes"


def too_large_message(request, exc: Exception | None = None) -> str:
    """What was over which limit and how to get under it.

    ``exc`` is the RequestDataTooBig being answered: Django's own (form fields over
    DATA_UPLOAD_MAX_MEMORY_SIZE) names the form-field limit; BodyTooLarge or none, the body's.
    """
    if exc is not None and not isinstance(exc, BodyTooLarge):
        return (
            f"The form fields (files not counted) are over the {_size(settings.DATA_UPLOAD_MAX_MEMORY_SIZE)} "
            "limit. Send long text as a file, or ask the administrator to raise BUGSIFT_MAX_REQUEST_MB."
        )
    limit, setting = limit_for(request)
    if request.path.startswith(UPLOAD_PATHS):
        what, fix = "a crash batch", "Send fewer crash reports a batch"
    elif setting == "BUGSIFT_MAX_UPLOAD_MB":
        what, fix = "an upload", "Split the file into smaller files"
    else:
        what, fix = "a request", "Send less data at once"
    return (
        f"The request body is over the {_size(limit)} limit for {what}. {fix}, or ask the "
        f"administrator to raise {setting} (and the reverse proxy's client_max_body_size to match)."
    )


def too_large_response(request, exc: Exception | None = None):
    """The 413: JSON ``{"message", "details"}`` under /api/, the 413 page elsewhere."""
    message = too_large_message(request, exc)
    if request.path.startswith("/api/"):
        return JsonResponse({"message": message, "details": []}, status=413)
    return render(request, "413.html", {"message": message}, status=413)


class BodyTooLarge(RequestDataTooBig):
    """More of a body without Content-Length was read than its limit allows."""


class BoundedStream:
    """A file-like body that raises RequestDataTooBig once more than ``limit`` bytes are read."""

    def __init__(self, stream, limit: int):
        self.stream = stream
        self.limit = limit
        self.read_so_far = 0

    def _count(self, data: bytes) -> bytes:
        self.read_so_far += len(data)
        if self.read_so_far > self.limit:
            raise BodyTooLarge(f"Request body over {self.limit} bytes.")
        return data

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = self.limit + 1 - self.read_so_far  # never more than one byte past the limit
        return self._count(self.stream.read(max(size, 0)))

    def readline(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = self.limit + 1 - self.read_so_far
        return self._count(self.stream.readline(max(size, 0)))


class RequestLimits:
    """Refuses bodies over their limit with a 413 before reading them (see the module docstring)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        limit, _ = limit_for(request)
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        if declared > limit:
            return too_large_response(request)
        if not declared and request.META.get("wsgi.input_terminated"):
            # Chunked: Django reads nothing of a body without Content-Length; read it, bounded.
            request._stream = BoundedStream(request.META["wsgi.input"], limit)
        return self.get_response(request)


def bad_request(request, exception, template_name="400.html"):
    """handler400: a RequestDataTooBig (Django's DATA_UPLOAD_MAX_* or BoundedStream) is the 413."""
    if isinstance(exception, RequestDataTooBig):
        return too_large_response(request, exception)
    return django_bad_request(request, exception, template_name=template_name)
