"""Who may do what through the API."""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from leaderboard.accounts import UNVERIFIED_MESSAGE, can_submit
from leaderboard.models import ApiToken, TokenScope


class TokenScopePermits(BasePermission):
    """A ``read`` token may only read; a ``submit`` token and a session may also write."""

    def has_permission(self, request: Request, view: Any) -> bool:
        token = request.auth
        if request.method in SAFE_METHODS or not isinstance(token, ApiToken):
            return True
        if token.scope != TokenScope.SUBMIT:
            raise PermissionDenied(
                f"this token has the '{token.scope}' scope, which only reads; use a token with "
                "the 'submit' scope",
                code="insufficient_scope",
            )
        return True


class MaySubmit(BasePermission):
    """Writes need a verified (or staff) account."""

    def has_permission(self, request: Request, view: Any) -> bool:
        if request.method in SAFE_METHODS or not request.user.is_authenticated:
            return True  # IsAuthenticated answers for anonymous users (401, not 403)
        if not can_submit(request.user):
            raise PermissionDenied(UNVERIFIED_MESSAGE, code="unverified")
        return True
