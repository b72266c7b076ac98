"""E-mail verification and the "may this account submit?" check.

Verification tokens are signed with ``django.core.signing`` (SECRET_KEY, a dedicated salt and a
timestamp checked against ``MEDVTAB_VERIFICATION_MAX_AGE_S``). A token carries the user's id and a
keyed digest of the address it was sent to, so it stops working once the address changes; it also
stops working once the account is verified, so a leaked old link is worthless.
"""

from __future__ import annotations

import enum
import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.contrib.auth.views import redirect_to_login
from django.core import signing
from django.core.mail import send_mail
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.crypto import salted_hmac

from leaderboard.models.accounts import Profile

log = logging.getLogger(__name__)

VERIFICATION_SALT = "medvtab.accounts.verify-email"
UNVERIFIED_MESSAGE = (
    "Only accounts with a verified e-mail address can submit. Follow the link in the "
    "verification e-mail, or send yourself a new one below."
)

ViewT = TypeVar("ViewT", bound=Callable[..., HttpResponse])


class TokenState(enum.Enum):
    OK = "ok"
    EXPIRED = "expired"
    INVALID = "invalid"
    ALREADY_VERIFIED = "already_verified"


@dataclass(frozen=True)
class TokenCheck:
    state: TokenState
    user: Any = None  # the account the token names, when it names one that still exists


def _email_digest(email: str) -> str:
    # Keyed, so the token (which is only signed, not encrypted) does not reveal the address.
    return salted_hmac(VERIFICATION_SALT, email.strip().lower()).hexdigest()[:20]


def make_verification_token(user: AbstractBaseUser) -> str:
    """A URL-safe token proving that whoever holds it received mail at the user's address."""
    return signing.dumps({"u": user.pk, "e": _email_digest(user.email)}, salt=VERIFICATION_SALT)


def inspect_verification_token(token: str) -> TokenCheck:
    """Classify a token without changing anything (the views use the state for their message)."""
    try:
        payload = signing.loads(
            token, salt=VERIFICATION_SALT, max_age=settings.MEDVTAB_VERIFICATION_MAX_AGE_S
        )
    except signing.SignatureExpired:
        return TokenCheck(TokenState.EXPIRED)
    except signing.BadSignature:
        return TokenCheck(TokenState.INVALID)
    if not isinstance(payload, dict) or not isinstance(payload.get("e"), str):
        return TokenCheck(TokenState.INVALID)
    user = get_user_model().objects.filter(pk=payload.get("u")).first()
    if user is None or payload["e"] != _email_digest(user.email or ""):
        return TokenCheck(TokenState.INVALID)
    if is_verified(user):
        return TokenCheck(TokenState.ALREADY_VERIFIED, user)
    return TokenCheck(TokenState.OK, user)


def check_verification_token(token: str) -> AbstractBaseUser | None:
    """The user a valid, unexpired, still-applicable token names, else None."""
    result = inspect_verification_token(token)
    return result.user if result.state is TokenState.OK else None


def mark_verified(user: AbstractBaseUser) -> None:
    Profile.objects.update_or_create(user=user, defaults={"email_verified": True})


def is_verified(user: AbstractBaseUser) -> bool:
    return Profile.objects.filter(user=user, email_verified=True).exists()


def verification_url(request: HttpRequest, user: AbstractBaseUser) -> str:
    path = reverse("verify_email", kwargs={"token": make_verification_token(user)})
    return request.build_absolute_uri(path)


def send_verification_email(request: HttpRequest, user: AbstractBaseUser) -> None:
    """Mail the user an absolute verification link; mail-transport errors propagate."""
    context = {
        "user": user,
        "verify_url": verification_url(request, user),
        "max_age_hours": max(1, settings.MEDVTAB_VERIFICATION_MAX_AGE_S // 3600),
        "site_url": request.build_absolute_uri("/"),
    }
    subject = render_to_string("registration/verification_email_subject.txt", context)
    body = render_to_string("registration/verification_email.txt", context)
    send_mail(" ".join(subject.split()), body, None, [user.email])
    log.info("sent a verification e-mail to user %s", user.pk)


def can_submit(user: AbstractBaseUser | AnonymousUser | None) -> bool:
    """Authenticated, active, and either e-mail-verified or staff."""
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    return bool(getattr(user, "is_staff", False)) or is_verified(user)


def _refuse(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    messages.warning(request, UNVERIFIED_MESSAGE)
    return redirect("account")


def verified_required(view: ViewT) -> ViewT:
    """View decorator: anonymous users go to the login page, unverified ones to their account."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not can_submit(request.user):
            return _refuse(request)
        return view(request, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


class VerifiedRequiredMixin:
    """The class-based-view form of ``verified_required``; list it before the view class."""

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not can_submit(request.user):
            return _refuse(request)
        return super().dispatch(request, *args, **kwargs)  # type: ignore[misc]


__all__ = [
    "UNVERIFIED_MESSAGE",
    "TokenCheck",
    "TokenState",
    "VerifiedRequiredMixin",
    "can_submit",
    "check_verification_token",
    "inspect_verification_token",
    "is_verified",
    "make_verification_token",
    "mark_verified",
    "send_verification_email",
    "verification_url",
    "verified_required",
]
