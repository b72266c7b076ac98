"""Sign-up, e-mail verification and the account page; login, logout and passwords are Django's."""

from __future__ import annotations

import logging
import smtplib

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import AbstractBaseUser
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse, reverse_lazy
from django.views.decorators.http import require_POST

from leaderboard.accounts import (
    TokenState,
    can_submit,
    inspect_verification_token,
    is_verified,
    mark_verified,
    send_verification_email,
)
from leaderboard.forms.accounts import SignUpForm

log = logging.getLogger(__name__)

MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"
SEND_FAILED = (
    "We could not send the verification e-mail just now. "
    "Use “Send a new verification link” on this page to try again."
)

login_view = auth_views.LoginView.as_view(redirect_authenticated_user=True)
logout_view = auth_views.LogoutView.as_view()  # POST only since Django 5
password_reset = auth_views.PasswordResetView.as_view(
    email_template_name="registration/password_reset_email.txt",
    subject_template_name="registration/password_reset_subject.txt",
    success_url=reverse_lazy("password_reset_done"),
)
password_reset_done = auth_views.PasswordResetDoneView.as_view()
password_reset_confirm = auth_views.PasswordResetConfirmView.as_view(
    success_url=reverse_lazy("password_reset_complete"),
)
password_reset_complete = auth_views.PasswordResetCompleteView.as_view()
password_change = auth_views.PasswordChangeView.as_view(
    success_url=reverse_lazy("password_change_done"),
)
password_change_done = auth_views.PasswordChangeDoneView.as_view()


def _send_or_warn(request: HttpRequest, user: AbstractBaseUser) -> bool:
    # A mail server being down must not lose the new account: the user can resend later.
    try:
        send_verification_email(request, user)
    except (OSError, smtplib.SMTPException):
        log.exception("could not send a verification e-mail to user %s", getattr(user, "pk", None))
        messages.error(request, SEND_FAILED)
        return False
    return True


def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("account")
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user, backend=MODEL_BACKEND)
        if _send_or_warn(request, user):
            return redirect("signup_done")
        return redirect("account")
    return render(request, "registration/signup.html", {"form": form})


@login_required
def signup_done(request: HttpRequest) -> HttpResponse:
    return render(request, "registration/signup_done.html", {})


def verify_email(request: HttpRequest, token: str) -> HttpResponse:
    check = inspect_verification_token(token)
    if check.state is TokenState.OK:
        mark_verified(check.user)
        log.info("user %s verified their e-mail address", check.user.pk)
    status = 400 if check.state in (TokenState.EXPIRED, TokenState.INVALID) else 200
    context = {
        "state": check.state.value,
        "verified_user": check.user,
        "same_user": check.user is not None and check.user.pk == request.user.pk,
    }
    return render(request, "registration/verify_email.html", context, status=status)


@require_POST
def resend_verification(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        # Back to the account page after login: this URL only answers POST.
        return redirect_to_login(reverse("account"))
    if is_verified(request.user):
        messages.info(request, "Your e-mail address is already verified.")
    elif not request.user.email:
        messages.error(request, "Your account has no e-mail address; ask an administrator.")
    elif _send_or_warn(request, request.user):
        messages.success(request, f"We sent a new verification link to {request.user.email}.")
    return redirect("account")


@login_required
def account(request: HttpRequest) -> HttpResponse:
    user = request.user
    context = {"email_verified": is_verified(user), "can_submit": can_submit(user)}
    return render(request, "registration/account.html", context)
