"""The database or the file storage down: 503 with Retry-After and a clear message, never a 500;
an upload refused that way keeps nothing, and its retry with the same key makes one submission."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.storage import FileSystemStorage
from django.db import OperationalError, connection
from django.test import Client as DjangoClient

from leaderboard.models import Submission
from tests.api.conftest import token_client

pytestmark = pytest.mark.django_db
URL = "/api/v1/submissions/"


def _database_down(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
    raise OperationalError("connection to server failed: Connection refused")


def test_upload_while_the_storage_is_unreachable_is_503_and_the_retry_counts_once(
    alice: Any, benchmark: Any, submit_file: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = token_client(alice)

    def unreachable(self: FileSystemStorage, name: str, content: Any) -> str:
        raise OSError("Could not connect to the endpoint URL")

    with monkeypatch.context() as patch:
        patch.setattr(FileSystemStorage, "_save", unreachable)
        refused = client.post(URL, submit_file(idempotency_key="k-1"), format="multipart")
    assert refused.status_code == 503
    assert refused.json()["code"] == "storage_unavailable"
    assert "try again" in refused.json()["detail"]
    assert refused.headers["Retry-After"] == "30"
    assert not Submission.objects.exists()
    first = client.post(URL, submit_file(idempotency_key="k-1"), format="multipart")
    again = client.post(URL, submit_file(idempotency_key="k-1"), format="multipart")
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    assert Submission.objects.count() == 1


def test_the_submit_page_says_503_while_the_storage_is_unreachable(
    alice: Any, benchmark: Any, predictions: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    web = DjangoClient()
    web.force_login(alice)

    def unreachable(self: FileSystemStorage, name: str, content: Any) -> str:
        raise OSError("No route to host")

    monkeypatch.setattr(FileSystemStorage, "_save", unreachable)
    form = {"benchmark": benchmark.pk, "track": "predictions", "protocol": "full",
            "method_name": "m", "method_family": "lora", "pretraining": "unknown",
            "is_public": "on", "file": predictions()}
    response = web.post("/submit/", form)
    assert response.status_code == 503, response.content[:2000]
    assert b"file storage is unreachable" in response.content
    assert not Submission.objects.exists()


def test_api_reads_while_the_database_is_down_are_503(alice: Any, benchmark: Any) -> None:
    client = token_client(alice)
    with connection.execute_wrapper(_database_down):
        response = client.get(f"{URL}1/")
        board = client.get("/api/v1/leaderboards/tiny-bench/")
    for reply in (response, board):
        assert reply.status_code == 503
        assert reply.json()["code"] == "database_unavailable"
        assert reply.headers["Retry-After"] == "10"


def test_pages_while_the_database_is_down_are_503(benchmark: Any) -> None:
    with connection.execute_wrapper(_database_down):
        response = DjangoClient().get("/b/tiny-bench/")
    assert response.status_code == 503
    assert b"database is unreachable" in response.content
    assert response.headers["Retry-After"] == "10"


def test_the_object_store_client_gives_up_within_seconds() -> None:
    """botocore's defaults (60 s a connection try, several tries) would hold a web worker for
    minutes while the store is unreachable; the settings bound it."""
    import subprocess
    import sys

    from tests.procs import REPO

    code = (
        "import django; django.setup(); from django.conf import settings; "
        "c = settings.STORAGES['default']['OPTIONS']['client_config']; "
        "print(c.connect_timeout, c.read_timeout, c.retries['max_attempts'])"
    )
    env = {"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "medvtab.settings", "DEBUG": "1",
           "MEDVTAB_VAR_DIR": "/tmp/medvtab-settings-test", "MEDVTAB_S3_BUCKET": "b",
           "MEDVTAB_S3_CONNECT_TIMEOUT_S": "3"}
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["3", "60", "2"]
