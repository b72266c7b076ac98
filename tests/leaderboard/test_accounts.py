"""Accounts: sign-up, e-mail verification, login/logout, password reset and change, can_submit."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core import mail, signing
from django.http import HttpRequest, HttpResponse
from django.test import Client
from django.urls import NoReverseMatch, path, reverse
from django.views import View

import medvtab.urls
from leaderboard.accounts import (
    UNVERIFIED_MESSAGE,
    VerifiedRequiredMixin,
    can_submit,
    check_verification_token,
    make_verification_token,
    mark_verified,
    verified_required,
)

pytestmark = pytest.mark.django_db

PASSWORD = "a-Long-unusual-Passphrase-19"
TEMPLATES = Path(__file__).resolve().parents[2] / "templates" / "registration"


@verified_required
def _protected(request: HttpRequest) -> HttpResponse:
    return HttpResponse("submitted")


class _ProtectedView(VerifiedRequiredMixin, View):
    def get(self, request: HttpRequest) -> HttpResponse:
        return HttpResponse("submitted")


def _stub(request: HttpRequest) -> HttpResponse:
    return HttpResponse("stub")


# This module is also the URLconf of its tests: the real URLs plus two protected views, and stand-ins
# for header links (Submit, My submissions) whose views may not exist yet.
urlpatterns: list[Any] = [
    *medvtab.urls.urlpatterns,
    path("test-protected/", _protected, name="test_protected"),
    path("test-protected-cbv/", _ProtectedView.as_view(), name="test_protected_cbv"),
]
for _name in ("submit", "my_submissions"):
    try:
        reverse(_name, urlconf="medvtab.urls")
    except NoReverseMatch:
        urlpatterns.append(path(f"test-{_name}/", _stub, name=_name))


@pytest.fixture(autouse=True)
def _accounts_settings(settings: Any) -> None:
    settings.ROOT_URLCONF = __name__
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.ALLOWED_HOSTS = ["testserver"]


def _user(username: str = "ada", email: str = "ada@example.org", **extra: Any) -> User:
    return User.objects.create_user(username, email, PASSWORD, **extra)


def _link(message: mail.EmailMessage) -> str:
    found = re.findall(r"^https?://\S+/accounts/\S+$", message.body, re.MULTILINE)
    assert len(found) == 1, message.body
    return found[0]


def _signup(client: Client, username: str = "ada", email: str = "Ada@Example.ORG") -> Any:
    data = {"username": username, "email": email, "password1": PASSWORD, "password2": PASSWORD}
    return client.post(reverse("signup"), data)


def _expired_token(user: User, monkeypatch: pytest.MonkeyPatch, max_age: int) -> str:
    past = int(time.time()) - max_age - 5
    with monkeypatch.context() as patch:
        patch.setattr(signing.TimestampSigner, "timestamp", lambda self: signing.b62_encode(past))
        return make_verification_token(user)


# --- sign-up and verification ------------------------------------------------------------------


def test_signup_mail_and_verify_flow(client: Client) -> None:
    assert client.get(reverse("signup")).status_code == 200
    response = _signup(client)
    assert response.status_code == 302
    assert response["Location"] == reverse("signup_done")
    user = User.objects.get(username="ada")
    assert user.is_active
    assert user.email == "Ada@example.org"  # domain normalised, local part kept
    assert user.check_password(PASSWORD)
    assert client.session["_auth_user_id"] == str(user.pk)  # logged in straight away
    assert not user.profile.email_verified
    assert not can_submit(user)
    assert client.get(reverse("test_protected")).status_code == 302

    done = client.get(reverse("signup_done")).content.decode()
    assert "Check your e-mail" in done and "Ada@example.org" in done

    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["Ada@example.org"]
    assert "Verify" in message.subject
    link = _link(message)
    assert link.startswith("http://testserver/accounts/verify/")

    page = client.get(link)
    assert page.status_code == 200
    assert "E-mail address verified" in page.content.decode()
    user.refresh_from_db()
    user.profile.refresh_from_db()
    assert user.profile.email_verified
    assert can_submit(user)
    assert client.get(reverse("test_protected")).content == b"submitted"
    assert client.get(reverse("test_protected_cbv")).content == b"submitted"

    again = client.get(link)  # a used link is inert, and says why
    assert again.status_code == 200
    assert "Already verified" in again.content.decode()
    assert check_verification_token(link.rstrip("/").rsplit("/", 1)[1]) is None


def test_verification_works_without_being_logged_in(client: Client) -> None:
    user = _user()
    page = client.get(reverse("verify_email", args=[make_verification_token(user)]))
    assert page.status_code == 200
    assert "Log in" in page.content.decode()
    assert can_submit(User.objects.get(pk=user.pk))


def test_tampered_token_is_refused_with_a_resend_button(client: Client) -> None:
    user = _user()
    client.force_login(user)
    token = make_verification_token(user)
    assert check_verification_token(token) == user
    tampered = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    for bad in (tampered, "garbage", signing.dumps({"u": user.pk}, salt="another-salt")):
        assert check_verification_token(bad) is None
        page = client.get(reverse("verify_email", args=[bad]))
        assert page.status_code == 400
        html = page.content.decode()
        assert "not valid" in html
        assert f'action="{reverse("resend_verification")}"' in html
    assert not can_submit(User.objects.get(pk=user.pk))


def test_expired_token_then_resend(
    client: Client, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.MEDVTAB_VERIFICATION_MAX_AGE_S = 60
    user = _user()
    expired = _expired_token(user, monkeypatch, 60)
    assert check_verification_token(expired) is None
    fresh = make_verification_token(user)
    assert check_verification_token(fresh) == user  # same user, only the age differs

    anonymous = client.get(reverse("verify_email", args=[expired]))
    assert anonymous.status_code == 400
    assert "expired" in anonymous.content.decode()
    assert "resend_verification" not in anonymous.content.decode()

    client.force_login(user)
    page = client.get(reverse("verify_email", args=[expired]))
    assert "expired" in page.content.decode()
    assert reverse("resend_verification") in page.content.decode()
    assert not can_submit(User.objects.get(pk=user.pk))

    assert client.get(reverse("resend_verification")).status_code == 405
    response = client.post(reverse("resend_verification"))
    assert response["Location"] == reverse("account")
    assert len(mail.outbox) == 1
    assert client.get(_link(mail.outbox[0])).status_code == 200
    assert can_submit(User.objects.get(pk=user.pk))


def test_token_dies_when_the_email_changes(client: Client) -> None:
    user = _user()
    token = make_verification_token(user)
    user.email = "someone-else@example.org"
    user.save()
    assert check_verification_token(token) is None
    assert client.get(reverse("verify_email", args=[token])).status_code == 400
    assert not can_submit(User.objects.get(pk=user.pk))


def test_resend_needs_login_and_skips_verified_accounts(client: Client) -> None:
    anonymous = client.post(reverse("resend_verification"))
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith(reverse("login"))
    user = _user()
    mark_verified(user)
    client.force_login(user)
    response = client.post(reverse("resend_verification"), follow=True)
    assert "already verified" in response.content.decode()
    assert mail.outbox == []


def test_duplicate_email_is_refused_case_insensitively(client: Client) -> None:
    _user("first", "Grace@example.org")
    response = _signup(client, "second", "grace@EXAMPLE.org")
    assert response.status_code == 200
    assert "already exists" in response.content.decode()
    assert not User.objects.filter(username="second").exists()
    assert mail.outbox == []
    assert "_auth_user_id" not in client.session


def test_signup_applies_the_password_validators(client: Client) -> None:
    data = {"username": "bob", "email": "bob@example.org", "password1": "password"}
    response = client.post(reverse("signup"), {**data, "password2": "password"})
    assert "too common" in response.content.decode()
    assert response.context["form"].has_error("password2", "password_too_common")
    mismatch = client.post(reverse("signup"), {**data, "password1": PASSWORD, "password2": "x"})
    assert mismatch.context["form"].has_error("password2", "password_mismatch")
    assert not User.objects.filter(username="bob").exists()


def test_signup_survives_a_mail_failure(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise ConnectionRefusedError("no mail server")

    monkeypatch.setattr("leaderboard.accounts.send_mail", broken)
    response = _signup(client, "carol", "carol@example.org")
    assert response["Location"] == reverse("account")
    assert User.objects.filter(username="carol").exists()
    page = client.get(reverse("account")).content.decode()
    assert "could not send" in page


def test_signed_in_user_visiting_signup_goes_to_account(client: Client) -> None:
    client.force_login(_user())
    assert client.get(reverse("signup"))["Location"] == reverse("account")


# --- login, logout, passwords ----------------------------------------------------------------


def test_login_by_username_and_logout_by_post_only(client: Client) -> None:
    user = _user()
    assert client.get(reverse("login")).status_code == 200
    wrong = client.post(reverse("login"), {"username": "ada", "password": "nope"})
    assert wrong.status_code == 200 and "_auth_user_id" not in client.session
    response = client.post(reverse("login"), {"username": "ada", "password": PASSWORD})
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(user.pk)

    assert client.get(reverse("logout")).status_code == 405
    assert client.session["_auth_user_id"] == str(user.pk)
    assert client.post(reverse("logout")).status_code == 302
    assert "_auth_user_id" not in client.session


def test_password_reset_mail_and_completion(client: Client) -> None:
    _user()
    page = client.post(reverse("password_reset"), {"email": "ADA@example.org"})
    assert page["Location"] == reverse("password_reset_done")
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["ada@example.org"]
    link = _link(mail.outbox[0])
    assert link.startswith("http://testserver/accounts/reset/")

    form_url = client.get(link)["Location"]  # Django swaps the token for a session key
    form = client.get(form_url)
    assert "Choose a new password" in form.content.decode()
    new = "another-Unusual-phrase-42"
    done = client.post(form_url, {"new_password1": new, "new_password2": new})
    assert done["Location"] == reverse("password_reset_complete")
    assert User.objects.get(username="ada").check_password(new)
    assert "not valid" in client.get(link, follow=True).content.decode()  # single use


def test_password_reset_for_unknown_address_sends_nothing(client: Client) -> None:
    response = client.post(reverse("password_reset"), {"email": "nobody@example.org"})
    assert response["Location"] == reverse("password_reset_done")  # no account enumeration
    assert mail.outbox == []


def test_password_change(client: Client) -> None:
    user = _user()
    assert client.get(reverse("password_change"))["Location"].startswith(reverse("login"))
    client.force_login(user)
    new = "changed-Unusual-phrase-77"
    data = {"old_password": PASSWORD, "new_password1": new, "new_password2": new}
    response = client.post(reverse("password_change"), data)
    assert response["Location"] == reverse("password_change_done")
    assert User.objects.get(pk=user.pk).check_password(new)


# --- can_submit, verified_required, account page -------------------------------------------------


def test_can_submit_rules() -> None:
    from django.contrib.auth.models import AnonymousUser

    user = _user()
    assert not can_submit(AnonymousUser())
    assert not can_submit(None)
    assert not can_submit(user)
    mark_verified(user)
    assert can_submit(user)
    user.is_active = False
    assert not can_submit(user)
    staff = _user("op", "op@example.org", is_staff=True)
    assert not staff.profile.email_verified
    assert can_submit(staff)


def test_verified_required_redirects(client: Client) -> None:
    anonymous = client.get(reverse("test_protected"))
    assert anonymous["Location"].startswith(reverse("login") + "?next=")
    user = _user()
    client.force_login(user)
    for name in ("test_protected", "test_protected_cbv"):
        response = client.get(reverse(name))
        assert response["Location"] == reverse("account")
    page = client.get(reverse("account")).content.decode()
    assert "Only accounts with a verified e-mail address can submit" in page
    assert UNVERIFIED_MESSAGE.startswith("Only accounts")


def test_account_page_shows_state(client: Client) -> None:
    assert client.get(reverse("account"))["Location"].startswith(reverse("login"))
    user = _user()
    client.force_login(user)
    html = client.get(reverse("account")).content.decode()
    assert 'data-verified="no"' in html and 'data-can-submit="no"' in html
    assert reverse("resend_verification") in html
    mark_verified(user)
    html = client.get(reverse("account")).content.decode()
    assert 'data-verified="yes"' in html and 'data-can-submit="yes"' in html
    assert reverse("resend_verification") not in html
    assert "ada@example.org" in html


def test_templates_have_no_inline_script_or_style() -> None:
    templates = sorted(TEMPLATES.glob("*.html"))
    assert len(templates) >= 10
    for template in templates:
        text = template.read_text()
        assert "<script" not in text and "style=" not in text and "<style" not in text, template
        assert "autoescape off" not in text and "|safe" not in text, template
