"""``Authorization: Bearer <token>`` (or ``Token <token>``) authentication for the API."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from leaderboard.api.tokens import find_token, touch
from leaderboard.models import ApiToken

KEYWORDS = (b"bearer", b"token")


class ApiTokenAuthentication(BaseAuthentication):
    """Long-lived, revocable tokens; ``request.auth`` is the :class:`ApiToken`."""

    def authenticate(self, request: Request) -> tuple[Any, ApiToken] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() not in KEYWORDS:
            return None  # not ours: the session may authenticate
        if len(parts) != 2:
            raise AuthenticationFailed(
                "malformed Authorization header; send 'Authorization: Bearer <token>'",
                code="invalid_token",
            )
        try:
            clear = parts[1].decode("ascii")
        except UnicodeDecodeError:
            raise AuthenticationFailed("the token is not valid", code="invalid_token") from None
        token = find_token(clear)
        if token is None:
            raise AuthenticationFailed("the token is not valid", code="invalid_token")
        if not token.is_active:
            raise AuthenticationFailed(
                f"the token {token.prefix}… was revoked; create a new one on the API tokens page",
                code="token_revoked",
            )
        if not token.user.is_active:
            raise AuthenticationFailed(
                "the account of this token is disabled", code="invalid_token"
            )
        touch(token)
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "leaderboard.api.authentication.ApiTokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API token ('Authorization: Bearer <token>'; 'Token <token>' is "
            "accepted too). Create one on the API tokens page or with "
            "`manage.py create_api_token`.",
        }
