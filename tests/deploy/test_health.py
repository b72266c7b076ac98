"""/healthz and /readyz: one entry per check, 503 naming what is missing, never a traceback."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from leaderboard.models import WorkerHeartbeat
from tests.deploy.helpers import closed_port

pytestmark = pytest.mark.django_db


@pytest.fixture
def broker(settings: Any, monkeypatch: pytest.MonkeyPatch, redis_url: str) -> Iterator[Callable]:
    """Point the Celery app at a broker URL (the real test Redis by default); restore afterwards."""
    from medvtab.celery import app

    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)  # Celery prefers the environment
    previous = app.conf.broker_url

    def use(url: str) -> None:
        settings.CELERY_BROKER_URL = url
        app.conf.broker_url = url

    use(redis_url)
    yield use
    app.conf.broker_url = previous


@pytest.fixture
def ready_root(data_root: Path) -> Path:
    (data_root / "public").mkdir()
    (data_root / "hidden").mkdir()
    return data_root


def beat(hostname: str, queues: str, age_s: float = 0) -> None:
    WorkerHeartbeat.objects.create(
        hostname=hostname, queues=queues, last_seen=timezone.now() - timedelta(seconds=age_s)
    )


def readyz(client: Client) -> tuple[int, dict[str, Any]]:
    response = client.get("/readyz")
    assert response["Content-Type"] == "application/json"
    assert "no-cache" in response.get("Cache-Control", "")
    return response.status_code, json.loads(response.content)


def test_routes_are_at_the_site_root() -> None:
    assert reverse("healthz") == "/healthz"
    assert reverse("readyz") == "/readyz"


def test_healthz_is_ok_without_anything_else(client: Client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert json.loads(response.content) == {"status": "ok"}
    assert client.post("/healthz").status_code == 405


def test_ready_when_everything_is_up(
    client: Client, broker: Callable, ready_root: Path, settings: Any
) -> None:
    beat("cpu@host-a", "cpu")
    beat("gpu0@host-b", "gpu")
    beat("gpu1@host-b", "gpu", age_s=2 * settings.MEDVTAB_HEARTBEAT_INTERVAL_S)  # still fresh
    status, body = readyz(client)
    assert status == 200, body
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "broker", "workers", "data_root"}
    assert all(check["ok"] for check in body["checks"].values())
    assert body["checks"]["workers"]["queues"] == {"cpu": 1, "gpu": 2}


def test_no_heartbeat_names_both_queues(client: Client, broker: Callable, ready_root: Path) -> None:
    status, body = readyz(client)
    assert status == 503
    assert body["status"] == "unavailable"
    workers = body["checks"]["workers"]
    assert workers["ok"] is False
    assert workers["missing"] == ["cpu", "gpu"]
    assert body["checks"]["database"]["ok"] and body["checks"]["broker"]["ok"]


def test_missing_gpu_worker_is_named(client: Client, broker: Callable, ready_root: Path) -> None:
    beat("cpu@host-a", "cpu")
    status, body = readyz(client)
    assert status == 503
    assert body["checks"]["workers"]["missing"] == ["gpu"]
    assert "gpu" in body["checks"]["workers"]["error"]
    assert "host-a" not in json.dumps(body)  # queue names only, never host names


def test_stale_heartbeat_does_not_count(
    client: Client, broker: Callable, ready_root: Path, settings: Any
) -> None:
    beat("cpu@host-a", "cpu")
    beat("gpu0@host-b", "gpu", age_s=3 * settings.MEDVTAB_HEARTBEAT_INTERVAL_S + 5)
    status, body = readyz(client)
    assert status == 503
    assert body["checks"]["workers"]["missing"] == ["gpu"]


def test_one_worker_on_both_queues_is_enough(
    client: Client, broker: Callable, ready_root: Path
) -> None:
    beat("demo@laptop", "cpu,gpu")  # what `make run` starts
    status, body = readyz(client)
    assert status == 200, body
    assert body["checks"]["workers"]["queues"] == {"cpu": 1, "gpu": 1}


def test_required_queues_follow_the_setting(
    client: Client, broker: Callable, ready_root: Path, settings: Any
) -> None:
    settings.MEDVTAB_READY_QUEUES = ("cpu",)
    beat("cpu@host-a", "cpu")
    status, body = readyz(client)
    assert status == 200, body
    assert body["checks"]["workers"]["queues"] == {"cpu": 1}


def test_unreachable_broker_fails_fast_without_leaking(
    client: Client, broker: Callable, ready_root: Path
) -> None:
    beat("demo@laptop", "cpu,gpu")
    broker(f"redis://:s3cret-password@127.0.0.1:{closed_port()}/0")
    started = time.monotonic()
    status, body = readyz(client)
    elapsed = time.monotonic() - started
    assert status == 503
    assert elapsed < 5, elapsed
    assert body["checks"]["broker"] == {"ok": False, "error": "broker unreachable"}
    assert body["checks"]["database"]["ok"] and body["checks"]["workers"]["ok"]
    text = json.dumps(body)
    assert "s3cret" not in text and "127.0.0.1" not in text and "Traceback" not in text


def test_missing_public_tree_is_not_ready(
    client: Client, broker: Callable, data_root: Path
) -> None:
    beat("demo@laptop", "cpu,gpu")
    (data_root / "hidden").mkdir()  # a worker-style root without the public tree
    status, body = readyz(client)
    assert status == 503
    assert body["checks"]["data_root"] == {
        "ok": False,
        "error": "public data tree missing or unreadable",
    }
    assert str(data_root) not in json.dumps(body)


def test_database_down_is_reported_not_raised(
    client: Client, broker: Callable, ready_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django.db import OperationalError

    def refuse(*args: object, **kwargs: object) -> None:
        raise OperationalError('connection to server at "db.internal" failed: password=hunter2')

    monkeypatch.setattr(connection, "cursor", refuse)
    monkeypatch.setattr(WorkerHeartbeat.objects, "filter", refuse)
    status, body = readyz(client)
    assert status == 503
    assert body["checks"]["database"] == {"ok": False, "error": "database unreachable"}
    assert body["checks"]["workers"]["ok"] is False
    assert body["checks"]["broker"]["ok"] is True
    text = json.dumps(body)
    assert "hunter2" not in text and "db.internal" not in text and "Traceback" not in text
