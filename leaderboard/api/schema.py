"""The OpenAPI schema: every operation documents the JSON errors it can answer with."""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema

from leaderboard.api.serializers import ErrorSerializer

# Errors any operation can answer with: bad query or body, missing/invalid credentials, denied,
# absent, throttled. 500 is documented too so that a client knows its shape; tests assert none.
COMMON_ERRORS = ("400", "401", "403", "404", "429", "500")
WRITE_ERRORS = ("409", "415")


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

    def get_tags(self) -> list[str]:
        # /api/v1/<resource>/... → the resource
        parts = [p for p in self.path.split("/") if p and not p.startswith("{")]
        return [parts[2]] if len(parts) > 2 else super().get_tags()
