"""One JSON shape for every API error: ``{"message": str, "details": ...}``."""

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from config.errors import ApplicationError
from config.limits import too_large_message


def _django_validation_details(exc: DjangoValidationError):
    if hasattr(exc, "error_dict"):
        return {field: [m for e in errors for m in e.messages] for field, errors in exc.error_dict.items()}
    return {"non_field_errors": exc.messages}


def exception_handler(exc, context):
    if isinstance(exc, ApplicationError):
        return Response({"message": exc.message, "details": exc.details}, status=exc.status)
    if isinstance(exc, DjangoValidationError):
        details = _django_validation_details(exc)
        return Response({"message": "The request is not valid; see details.", "details": details}, status=400)
    if isinstance(exc, RequestDataTooBig):
        return Response({"message": too_large_message(context["request"], exc), "details": []}, status=413)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    data = response.data
    if isinstance(exc, exceptions.ValidationError):
        response.data = {"message": "The request is not valid; see details.", "details": data}
    elif isinstance(data, dict) and "detail" in data:
        response.data = {"message": str(data["detail"]), "details": []}
    return response
