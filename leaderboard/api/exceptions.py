"""Every API error is JSON: ``{"code": <stable>, "detail": <human>, "field": <name>?}``.

Validation errors name the (first) field at fault and list every field's messages in ``errors``.
Unexpected exceptions are logged and answered with ``server_error``, never an HTML page.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import (
    RequestDataTooBig,
    SuspiciousOperation,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.db import InterfaceError, OperationalError
from django.http import Http404
from rest_framework import status
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

log = logging.getLogger(__name__)
DATABASE_RETRY_AFTER_S = 10
DATABASE_UNAVAILABLE = "the database is unreachable right now; please try again in a few seconds"


class ApiError(APIException):
    """An API error with its status, stable code and (optionally) the field at fault."""

    def __init__(
        self,
        detail: str,
        *,
        code: str,
        status_code: int = status.HTTP_400_BAD_REQUEST,
        field: str | None = None,
        retry_after_s: int | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail, code)
        self.status_code = status_code
        self.field = field
        self.wait = retry_after_s  # DRF's handler turns ``wait`` into Retry-After
        self.extra = extra or {}  # keys added to the error JSON (e.g. ``next_opens``)


def error_body(code: str, detail: str, field: str | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "detail": detail}
    if field:
        body["field"] = field
    body.update(extra)
    return body


def _first_message(value: Any) -> tuple[str, str]:
    """(message, code) of the first error in a DRF detail structure."""
    if isinstance(value, dict):
        for item in value.values():
            return _first_message(item)
    if isinstance(value, list) and value:
        return _first_message(value[0])
    return str(value), str(getattr(value, "code", "invalid") or "invalid")


def _flatten(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [m for v in value.values() for m in _flatten(v)]
    if isinstance(value, list):
        return [m for v in value for m in _flatten(v)]
    return [str(value)]


def _validation_body(exc: ValidationError) -> dict[str, Any]:
    detail = exc.detail
    if isinstance(detail, dict) and detail:
        field = next(iter(detail))
        message, _ = _first_message(detail[field])
        errors = {str(k): _flatten(v) for k, v in detail.items()}
        named = None if field == "non_field_errors" else str(field)
        text = f"{field}: {message}" if named else message
        return error_body("invalid", text, named, errors=errors)
    message, _ = _first_message(detail)
    return error_body("invalid", message)


def _code_of(exc: APIException) -> str:
    return str(getattr(exc.detail, "code", None) or "error")


def _suspicious(exc: SuspiciousOperation) -> Response:
    """Django refuses oversized or overlong request bodies while DRF parses them; answer 4xx."""
    if isinstance(exc, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE // 1024**2
        body = error_body(
            "request_too_large",
            f"the form fields (besides the file) are larger than {limit} MB; keep them short",
        )
        return Response(body, status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    if isinstance(exc, TooManyFieldsSent):
        detail = f"too many form fields (at most {settings.DATA_UPLOAD_MAX_NUMBER_FIELDS})"
    elif isinstance(exc, TooManyFilesSent):
        detail = f"too many files (at most {settings.DATA_UPLOAD_MAX_NUMBER_FILES})"
    else:
        detail = "bad request"
    return Response(error_body("bad_request", detail), status=status.HTTP_400_BAD_REQUEST)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, SuspiciousOperation):
        return _suspicious(exc)
    if isinstance(exc, (OperationalError, InterfaceError)):  # the database is down or restarting
        log.warning("database unavailable in %s: %s", context.get("view").__class__.__name__, exc)
        return Response(
            error_body("database_unavailable", DATABASE_UNAVAILABLE),
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": str(DATABASE_RETRY_AFTER_S)},
        )
    response = drf_exception_handler(exc, context)
    if response is None:
        log.exception("unexpected error in %s", context.get("view").__class__.__name__)
        return Response(
            error_body("server_error", "internal server error; it has been logged"),
            status=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )
    if isinstance(exc, ValidationError):
        response.data = _validation_body(exc)
    elif isinstance(exc, ApiError):
        response.data = error_body(_code_of(exc), str(exc.detail), exc.field, **exc.extra)
    elif isinstance(exc, APIException):
        message, code = _first_message(exc.detail)
        response.data = error_body(code, message)
    elif isinstance(exc, Http404):
        response.data = error_body("not_found", "not found")
    elif isinstance(exc, DjangoPermissionDenied):
        response.data = error_body("permission_denied", "permission denied")
    return response
