"""The client against a live server whose benchmark's phase is closed: exit code 2 and the
server's message, nothing stored (run as `python -S -m medvtab_client`: standard library only)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from leaderboard.api.tokens import create_token
from leaderboard.models import Submission
from medvtab_client import EXIT_USAGE
from tests.factories import make_phase
from tests.leaderboard.conftest import make_user, predictions_zip
from tests.procs import REPO

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_closed_phase_exits_2_with_the_next_opening(
    live_server: Any, benchmark: Any, tiny_bundles: Path, tmp_path: Path, settings: Any
) -> None:
    ended = timezone.now() - timedelta(days=3)
    make_phase(benchmark, "dev", ended - timedelta(days=5), ended, name="Development")
    opens = (timezone.now() + timedelta(days=4)).replace(microsecond=0)
    make_phase(benchmark, "final", opens, opens + timedelta(days=2), name="Final")
    _, token = create_token(make_user("ci-bot"))
    archive = tmp_path / "preds.zip"
    archive.write_bytes(predictions_zip(tiny_bundles))
    env = {"PATH": os.environ.get("PATH", ""), "MEDVTAB_URL": live_server.url,
           "MEDVTAB_TOKEN": token, "MEDVTAB_BACKOFF_S": "0.2"}  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-S", "-m", "medvtab_client", "submit", str(archive),
         "--benchmark", "tiny-bench", "--track", "predictions", "--wait", "--json"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == EXIT_USAGE == 2, done.stderr
    assert done.stdout == ""  # no submission JSON: nothing was created
    when = opens.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    assert "error: tiny-bench is not open for submissions now" in done.stderr
    assert f"'Final', opens at {when}" in done.stderr
    assert Submission.objects.count() == 0
    folder = Path(settings.MEDIA_ROOT) / "submissions"
    assert not folder.exists() or not any(folder.iterdir())
