"""Submit a predictions file through the web form as a logged-in user and watch the page reach
``succeeded`` on its own: a real Celery worker process on a private Redis, the live server, and
then the board shows the new entry (the recompute ran on the worker too)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from leaderboard.models import BoardEntry, Submission
from tests.browser.conftest import shot
from tests.integration.conftest import Stack
from tests.leaderboard.conftest import make_user, predictions_zip
from tests.procs import celery_worker

pytestmark = [pytest.mark.browser, pytest.mark.integration]


def test_submit_through_the_form_reaches_succeeded(
    live_server: Any, stack: Stack, tiny_bundles: Path, page: Any, tmp_path: Path
) -> None:
    from leaderboard.services.registration import sync_benchmark

    sync_benchmark(tiny_bundles, "tiny-bench")
    make_user("carol")
    upload = tmp_path / "preds.zip"
    upload.write_bytes(predictions_zip(tiny_bundles, seed=3))
    tab, console = page
    with celery_worker(stack.worker_env(), name="web", log=tmp_path / "worker.log"):
        tab.goto(live_server.url + "/accounts/login/")
        tab.fill("input[name=username]", "carol")
        tab.fill("input[name=password]", "correct-horse-9")
        tab.click("main form button[type=submit]")
        tab.wait_for_url(live_server.url + "/")
        tab.goto(live_server.url + "/submit/")
        tab.set_input_files("input[name=file]", str(upload))
        tab.fill("input[name=method_name]", "browser-lora")
        tab.fill("input[name=method_family]", "lora")
        tab.fill("input[name=tunable_params]", "12345")
        shot(tab, "submit-form")
        tab.click("#submit-form button[type=submit]")
        tab.wait_for_url("**/submissions/*/")
        url = tab.url
        tab.wait_for_selector("#status:text('succeeded')", timeout=90_000)
        assert tab.url == url  # no reload: the page followed the status itself
        tab.wait_for_selector("#results tbody tr")
        tab.wait_for_selector("#chart-submission-tasks[data-rendered='1'] .main-svg")
        shot(tab, "submission-succeeded")
        sub = Submission.objects.get(method_name="browser-lora")
        assert sub.status == "succeeded", (tmp_path / "worker.log").read_text()[-3000:]
        for _ in range(60):  # the recompute is the worker's next task
            if BoardEntry.objects.filter(submission=sub, modality__isnull=True).exists():
                break
            tab.wait_for_timeout(500)
        tab.goto(live_server.url + "/b/tiny-bench/")
        assert tab.locator(f"#board-table tr[data-submission='{sub.pk}']").count() == 1
        shot(tab, "board-after-submit")
    assert console.errors == [], "\n".join(console.errors)
