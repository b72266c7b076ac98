"""The OpenAPI schema: every operation documents the JSON errors it can answer with."""

from __future__ import annotations

from typing import Any

from django.core.validators import ProhibitNullCharactersValidator
from drf_spectacular.openapi import AutoSchema
from rest_framework.permissions import IsAuthenticated

from leaderboard.api.serializers import ErrorSerializer

# Errors any operation can answer with: bad query or body, missing/invalid credentials, denied,
# absent, throttled. 500 is documented too so that a client knows its shape; tests assert none.
COMMON_ERRORS = ("400", "401", "403", "404", "429", "500")
WRITE_ERRORS = ("409", "415")
NO_NUL = "^[^\\u0000]*$"


class ApiAutoSchema(AutoSchema):
    def _get_response_bodies(self, direction: Any = "response") -> dict[str, Any]:
        responses = dict(super()._get_response_bodies(direction))
        codes = COMMON_ERRORS + (WRITE_ERRORS if self.method == "POST" else ())
        for code in codes:
            if code not in responses:
                responses[code] = self._get_response_for_code(
                    ErrorSerializer, code, ["application/json"], direction
                )
        return responses

    def get_auth(self) -> list[dict[str, list[Any]]]:
        """Credentials are optional (``{}``) wherever anonymous callers are let through: the
        rule comes from the view's own permission classes, so schema and behaviour agree."""
        auths = list(super().get_auth())
        required = any(isinstance(p, IsAuthenticated) for p in self.view.get_permissions())
        if not required and {} not in auths:
            auths.append({})
        return auths

    def _insert_field_validators(self, field: Any, schema: dict[str, Any]) -> None:
        super()._insert_field_validators(field, schema)
        # Every DRF text field refuses NUL characters; the schema says so.
        refuses_nul = any(isinstance(v, ProhibitNullCharactersValidator) for v in field.validators)
        if refuses_nul and schema.get("type") == "string" and "pattern" not in schema:
            schema["pattern"] = NO_NUL

    def get_tags(self) -> list[str]:
        # /api/v1/<resource>/... → the resource
        parts = [p for p in self.path.split("/") if p and not p.startswith("{")]
        return [parts[2]] if len(parts) > 2 else super().get_tags()
