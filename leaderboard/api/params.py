"""Path and query parameters the views share: declared in the schema exactly as they are checked,
so a value the schema forbids is refused (and never reaches a database query)."""

from __future__ import annotations

import re

from drf_spectacular.utils import OpenApiParameter
from rest_framework.request import Request

from leaderboard.api.exceptions import ApiError

SLUG_PATTERN = r"^[-a-zA-Z0-9_]+$"
_SLUG = re.compile(r"[-a-zA-Z0-9_]+")


def is_slug(value: str) -> bool:
    return _SLUG.fullmatch(value) is not None


def slug_path(name: str, description: str) -> OpenApiParameter:
    schema = {"type": "string", "pattern": SLUG_PATTERN}
    return OpenApiParameter(name, schema, OpenApiParameter.PATH, description=description)


def slug_query(name: str, description: str) -> OpenApiParameter:
    schema = {"type": "string", "pattern": SLUG_PATTERN}
    return OpenApiParameter(name, schema, OpenApiParameter.QUERY, description=description)


def query_slug(request: Request, name: str) -> str | None:
    """The slug in the query string (None when absent); anything else is a 400."""
    value = request.query_params.get(name)
    if value is not None and not is_slug(value):
        raise ApiError(
            f"{name}: must be a slug (letters, digits, '-' and '_')", code="invalid", field=name
        )
    return value
