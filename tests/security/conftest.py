from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.test import Client
from rest_framework.test import APIClient

from leaderboard.api.tokens import create_token
from leaderboard.models import Profile
from medvtab.celery import app
from tests.leaderboard.conftest import benchmark  # noqa: F401 - shared fixture
from tests.reference_models.conftest import tiny_backbones  # noqa: F401 - shared fixture
from tests.security.corpus import Ctx


@pytest.fixture(autouse=True)
def hardened_settings(
    settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """Eager Celery, a private media root and a private temporary folder (checked for leaks)."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.VAR_DIR = tmp_path / "var"
    settings.MEDVTAB_BOOTSTRAP_REPLICATES = 20
    settings.MEDVTAB_DEVICE = "cpu"
    settings.MEDVTAB_API_RATES = {"anon": "10000/min", "user": "10000/min", "upload": "10000/min"}
    spool = tmp_path / "spool"
    spool.mkdir()
    settings.FILE_UPLOAD_TEMP_DIR = str(spool)
    monkeypatch.setattr(tempfile, "tempdir", str(spool))
    cache.clear()  # throttle counters
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = eager


@pytest.fixture
def ctx(benchmark: Any, tiny_bundles: Path, tmp_path: Path, tiny_backbones: dict) -> Ctx:
    return Ctx(root=tiny_bundles, marker=tmp_path / "PWNED", backbone=tiny_backbones["general"].id)


def participant(username: str = "mallory") -> Any:
    """A verified, quota-exempt participant (no password: hashing would dominate the run)."""
    user = get_user_model().objects.create_user(username, f"{username}@example.org")
    Profile.objects.update_or_create(
        user=user, defaults={"email_verified": True, "quota_exempt": True}
    )
    return user


@pytest.fixture
def mallory(db: None) -> Any:
    return participant()


@pytest.fixture
def api_client(mallory: Any) -> APIClient:
    _, clear = create_token(mallory, scope="submit")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {clear}")
    return client


@pytest.fixture
def web_client(mallory: Any) -> Client:
    client = Client()
    client.force_login(mallory)
    return client
