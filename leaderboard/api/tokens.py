"""API tokens: created once (the clear text is shown a single time), stored as a sha256 hash."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone

from leaderboard.models import ApiToken, TokenScope

TOKEN_PREFIX = "mvt_"
PREFIX_CHARS = 12  # what is kept in clear to recognise a token in lists
# last_used is informative: writing it on every request would make each call a database write.
TOUCH_EVERY = timedelta(minutes=1)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(
    user: AbstractBaseUser, *, scope: str = TokenScope.SUBMIT, name: str = ""
) -> tuple[ApiToken, str]:
    """Return the stored token and its clear text (never stored, shown once)."""
    if scope not in TokenScope.values:
        raise ValueError(f"scope must be one of {', '.join(TokenScope.values)}")
    clear = TOKEN_PREFIX + secrets.token_urlsafe(30)
    token = ApiToken.objects.create(
        user=user,
        name=name[:100],
        prefix=clear[:PREFIX_CHARS],
        token_hash=hash_token(clear),
        scope=scope,
    )
    return token, clear


def find_token(clear: str) -> ApiToken | None:
    """The token with this clear text (revoked ones included), else None."""
    if not clear.startswith(TOKEN_PREFIX) or len(clear) > 200:
        return None
    return ApiToken.objects.select_related("user").filter(token_hash=hash_token(clear)).first()


def touch(token: ApiToken) -> None:
    now = timezone.now()
    if token.last_used is None or now - token.last_used > TOUCH_EVERY:
        ApiToken.objects.filter(pk=token.pk).update(last_used=now)
        token.last_used = now


def revoke(token: ApiToken) -> bool:
    """Revoke a token; False when it was already revoked."""
    updated = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    return bool(updated)
