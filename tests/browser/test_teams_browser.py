"""Two users form a team in the browser (create, invite, accept), both submit the same method
through the web form, and the board shows one row, under the team's name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from leaderboard.models import BoardEntry, Submission
from tests.browser.conftest import Console, shot
from tests.integration.conftest import Stack
from tests.leaderboard.conftest import make_user, predictions_zip
from tests.procs import celery_worker

# Scored by a real worker process, as in production: an eager Celery in the live server's
# thread depended on what earlier tests had left in the Celery app.
pytestmark = [pytest.mark.browser, pytest.mark.integration]


def _login(tab: Any, base: str, username: str) -> None:
    tab.goto(base + "/accounts/login/")
    tab.fill("input[name=username]", username)
    tab.fill("input[name=password]", "correct-horse-9")
    tab.click("main form button[type=submit]")
    tab.wait_for_url(base + "/")


def _submit(tab: Any, base: str, upload: Path) -> None:
    tab.goto(base + "/submit/")
    tab.set_input_files("input[name=file]", str(upload))
    tab.fill("input[name=method_name]", "shared-lora")
    tab.click("#submit-form button[type=submit]")
    tab.wait_for_url("**/submissions/*/")
    tab.wait_for_selector("#status:text('succeeded')", timeout=90_000)


def test_two_users_form_a_team_submit_and_see_one_row(
    live_server: Any, stack: Stack, browser: Any, page: Any, tiny_bundles: Path, tmp_path: Path
) -> None:
    from leaderboard.services.registration import sync_benchmark

    sync_benchmark(tiny_bundles, "tiny-bench")
    make_user("alice")
    make_user("bob")
    base = live_server.url
    alice, console = page
    _login(alice, base, "alice")
    alice.click("header a[href='/teams/']")
    alice.fill("input[name=name]", "Lab A")
    alice.click("form[action='/teams/new/'] button[type=submit]")
    alice.wait_for_url(base + "/teams/lab-a/")
    alice.fill("input[name=username]", "bob")
    alice.click("form[action='/teams/lab-a/invite'] button[type=submit]")
    alice.wait_for_selector(".messages li:text('bob is invited.')")

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    bob = context.new_page()
    bob_console = Console(bob)
    _login(bob, base, "bob")
    bob.goto(base + "/teams/")
    shot(bob, "teams-invitation")
    bob.click("[data-invitation] form[action$='/accept'] button")
    bob.wait_for_selector(".messages li:text('Invitation to Lab A accepted.')")
    bob.goto(base + "/teams/lab-a/")
    assert bob.locator("[data-member]").all_inner_texts()[1].startswith("bob")
    shot(bob, "team-page")

    with celery_worker(stack.worker_env(), name="teams", log=tmp_path / "worker.log"):
        for n, tab in enumerate((alice, bob)):
            upload = tmp_path / f"preds-{n}.zip"
            upload.write_bytes(predictions_zip(tiny_bundles, seed=n))
            _submit(tab, base, upload)
        subs = list(Submission.objects.order_by("pk"))
        assert [(s.owner.username, s.team.name, s.status) for s in subs] == [
            ("alice", "Lab A", "succeeded"),
            ("bob", "Lab A", "succeeded"),
        ], (tmp_path / "worker.log").read_text()[-3000:]
        for _ in range(60):  # the board recompute is the worker's next task
            if BoardEntry.objects.filter(submission=subs[-1], modality__isnull=True).exists():
                break
            bob.wait_for_timeout(500)

    bob.goto(base + "/b/tiny-bench/")
    rows = bob.locator("#board-table tbody tr[data-submission]")
    assert rows.count() == 1
    assert "Lab A" in rows.first.inner_text()
    shot(bob, "board-one-row-per-team")
    bob.goto(base + "/b/tiny-bench/?all=1")
    assert bob.locator("#board-table tbody tr[data-submission]").count() == 2
    context.close()
    errors = console.errors + bob_console.errors
    assert errors == [], "\n".join(errors)
