"""API tokens: hashed at rest, shown once, scoped, revocable; the page and the command."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from rest_framework.test import APIClient

from leaderboard.api.tokens import hash_token
from leaderboard.models import ApiToken

pytestmark = pytest.mark.django_db


def _bearer(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def test_command_prints_the_token_alone(alice: Any) -> None:
    out, err = io.StringIO(), io.StringIO()
    call_command("create_api_token", "alice", "--scope", "read", stdout=out, stderr=err)
    token = out.getvalue().strip()
    assert "\n" not in token and token.startswith("mvt_")
    stored = ApiToken.objects.get(user=alice)
    assert stored.scope == "read" and stored.token_hash == hash_token(token)
    assert token not in (stored.prefix, stored.token_hash, stored.name)
    assert _bearer(token).get("/api/v1/submissions/").status_code == 200
    with pytest.raises(CommandError):
        call_command("create_api_token", "nobody", stdout=out, stderr=err)


def test_page_requires_login(db: None) -> None:
    response = Client().get("/accounts/tokens/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_page_creates_shows_once_and_revokes(alice: Any, bob: Any) -> None:
    browser = Client()
    browser.force_login(alice)
    created = browser.post("/accounts/tokens/", {"name": "GitHub Actions", "scope": "submit"})
    assert created.status_code == 200
    assert "no-store" in created["Cache-Control"] or "no-cache" in created["Cache-Control"]
    token = created.context["new_token"]
    assert token in created.content.decode()
    assert token not in browser.get("/accounts/tokens/").content.decode()  # shown once
    stored = ApiToken.objects.get(user=alice)
    assert stored.name == "GitHub Actions" and stored.token_hash == hash_token(token)
    assert _bearer(token).get("/api/v1/submissions/").status_code == 200

    other = Client()
    other.force_login(bob)
    assert other.post(f"/accounts/tokens/{stored.pk}/revoke").status_code == 404
    assert browser.post(f"/accounts/tokens/{stored.pk}/revoke").status_code == 302
    stored.refresh_from_db()
    assert stored.revoked_at is not None
    assert _bearer(token).get("/api/v1/submissions/").status_code == 401
    assert "revoked" in browser.get("/accounts/tokens/").content.decode()


def test_page_refuses_a_bad_scope(alice: Any) -> None:
    browser = Client()
    browser.force_login(alice)
    assert browser.post("/accounts/tokens/", {"scope": "admin"}).status_code == 400
    assert not ApiToken.objects.exists()
