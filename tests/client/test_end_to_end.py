"""The client end to end: a live server, a real Celery worker, Redis and PostgreSQL, and the
client run as `python -S -m medvtab_client` (no site-packages: standard library only)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from leaderboard.api.tokens import create_token
from leaderboard.models import LicenceAcceptance, Submission
from leaderboard.services.registration import sync_benchmark
from tests.integration.conftest import Stack, stack  # noqa: F401 - fixture
from tests.leaderboard.conftest import make_user, predictions_zip
from tests.procs import REPO, celery_worker

pytestmark = pytest.mark.integration


def _client(
    url: str, token: str, *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ.get("PATH", ""), "MEDVTAB_URL": url, "MEDVTAB_TOKEN": token,
           "MEDVTAB_BACKOFF_S": "0.2"}  # fmt: skip
    return subprocess.run(
        [sys.executable, "-S", "-m", "medvtab_client", *args],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip


def test_submit_wait_json_equals_the_api(
    stack: Stack,
    live_server: Any,
    tiny_bundles: Path,
    tmp_path: Path,
) -> None:
    sync_benchmark(tiny_bundles, "tiny-bench")
    user = make_user("ci-bot")
    _, token = create_token(user)
    archive = tmp_path / "preds.zip"
    archive.write_bytes(predictions_zip(tiny_bundles, seed=4))
    url = live_server.url

    checked = _client(url, token, "validate", str(archive), "--benchmark", "tiny-bench")
    assert checked.returncode == 0, checked.stderr
    broken = tmp_path / "broken.zip"
    broken.write_bytes(predictions_zip(tiny_bundles, corrupt=lambda s, t: t.replace(",", ";")))
    refused = _client(url, token, "validate", str(broken), "--benchmark", "tiny-bench")
    assert refused.returncode == 2 and "error:" in refused.stderr

    with celery_worker(stack.worker_env(), name="e2e", log=stack.tmp / "worker.log"):
        done = _client(url, token, "submit", str(archive), "--benchmark", "tiny-bench",
                       "--track", "predictions", "--method-name", "from-ci", "--validate",
                       "--wait", "--json", "--timeout", "90", "--poll", "0.5")  # fmt: skip
    assert done.returncode == 0, done.stderr + (stack.tmp / "worker.log").read_text()[-3000:]
    printed = json.loads(done.stdout)
    sub = Submission.objects.get(pk=printed["id"])
    assert sub.status == "succeeded" and sub.method_name == "from-ci"
    import urllib.request

    request = urllib.request.Request(
        f"{url}/api/v1/submissions/{sub.pk}/", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request) as response:
        assert json.loads(response.read()) == printed
    assert printed["results"]["overall"]["complete"] is True

    status = _client(url, token, "status", str(sub.pk), "--json")
    assert status.returncode == 0 and json.loads(status.stdout) == printed
    board = _client(url, token, "leaderboard", "tiny-bench", "--json")
    assert board.returncode == 0 and json.loads(board.stdout)["benchmark"] == "tiny-bench"
    out = tmp_path / "cxr.npz"
    refused = _client(url, token, "download", "tiny-cxr", "--out", str(out))
    assert refused.returncode == 2 and "--accept-license" in refused.stderr
    fetched = _client(url, token, "download", "tiny-cxr", "--out", str(out), "--accept-license")
    assert fetched.returncode == 0, fetched.stderr
    accepted = LicenceAcceptance.objects.get()
    assert (accepted.user.username, accepted.via) == (sub.owner.username, "api")
    with np.load(out, allow_pickle=False) as npz:
        assert "train_images" in npz.files and "test_id_labels" not in npz.files
    assert Submission.objects.count() == 1
