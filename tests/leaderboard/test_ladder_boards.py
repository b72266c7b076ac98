"""The Ladder on the standing boards: a submission that is not a significant paired improvement
over its team's shown score is not shown anywhere (rows, all-submissions view, exports, API,
modality boards, the best-over-time history) and the board says "no significant improvement";
a significant one moves the shown score; without the option every submission shows."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.test import Client

from leaderboard.models import Benchmark, BoardEntry, BoardState, Submission
from leaderboard.services.boards import recompute
from tests.browser.seed import REPLICATES, make_score, scored_submission
from tests.leaderboard.conftest import make_user

pytestmark = pytest.mark.django_db
ALL = ("tiny-cxr", "tiny-derm", "tiny-oct")
SHARED = {s: np.random.default_rng(i).normal(0, 0.02, REPLICATES) for i, s in enumerate(ALL)}


@pytest.fixture(autouse=True)
def _media(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


def _add(
    user: Any,
    bench: Benchmark,
    root: Path,
    v: float,
    *,
    paired: bool,
    seed: int,
    offset: float,
    **fields: Any,
) -> Submission:
    """Scores ``v`` on every task; ``paired``: the same bootstrap noise as the other paired
    submissions (the resamples line up, so small gains are significant)."""
    noise = SHARED if paired else None
    score = make_score(root, {s: (v, v - 0.1) for s in ALL}, noise=noise, seed=seed)
    fields.setdefault("method_name", "m")
    return scored_submission(user, bench, score, finished_offset_s=offset, **fields)


@pytest.fixture
def laddered(benchmark: Benchmark) -> Benchmark:
    Benchmark.objects.filter(pk=benchmark.pk).update(ladder=True, ladder_margin=0.0)
    benchmark.refresh_from_db()
    return benchmark


def _shown(benchmark: Benchmark, **filters: Any) -> set[int]:
    rows = BoardEntry.objects.filter(benchmark=benchmark, **filters)
    return set(rows.values_list("submission_id", flat=True))


def test_an_insignificant_gain_keeps_the_shown_score_everywhere(
    laddered: Benchmark, tiny_bundles: Path, client: Client
) -> None:
    ann, ben = make_user("ann"), make_user("ben")
    first = _add(ann, laddered, tiny_bundles, 0.80, paired=True, seed=0, offset=0)
    # higher raw score, but with its own noise the paired difference's CI spans 0
    probe = _add(ann, laddered, tiny_bundles, 0.805, paired=False, seed=9, offset=10)
    other = _add(ben, laddered, tiny_bundles, 0.70, paired=False, seed=3, offset=5)
    recompute(laddered)
    assert _shown(laddered) == {first.pk, other.pk}  # every board, every scope and modality
    page = client.get("/b/tiny-bench/?all=1").content.decode()
    assert f'data-submission="{probe.pk}"' not in page
    note = page.split('id="board-ladder"', 1)[1].split("</p>", 1)[0]
    assert f'data-submission="{first.pk}"' in note and "no significant improvement" in note
    assert "ann" in note and "1 later submission," in note
    exported = client.get("/b/tiny-bench/export.json?all=1").json()
    assert {r["submission_id"] for r in exported["rows"]} == {first.pk, other.pk}
    assert exported["ladder"]["notes"] == [
        {"protocol": "full", "team": "ann", "method": "m", "submission_id": first.pk, "held": 1}
    ]
    text = client.get("/b/tiny-bench/export.csv?all=1").content.decode()
    table = list(csv.DictReader(io.StringIO(text)))
    assert {int(r["submission_id"]) for r in table} == {first.pk, other.pk}
    api = client.get("/api/v1/leaderboards/tiny-bench/?all=true").json()
    assert {r["submission_id"] for r in api["results"]} == {first.pk, other.pk}
    assert api["ladder"]["notes"] == exported["ladder"]["notes"]
    history = BoardState.objects.get(benchmark=laddered).history["overall"]["full:test_id"]
    assert probe.pk not in {step[3] for step in history}


def test_a_significant_paired_gain_moves_the_shown_score(
    laddered: Benchmark, tiny_bundles: Path, client: Client
) -> None:
    ann = make_user("ann")
    first = _add(ann, laddered, tiny_bundles, 0.80, paired=True, seed=0, offset=0)
    # +0.005 is far inside each submission's own CI, but paired it is certain
    better = _add(ann, laddered, tiny_bundles, 0.805, paired=True, seed=1, offset=10)
    recompute(laddered)
    assert _shown(laddered) == {first.pk, better.pk}
    best = BoardEntry.objects.get(benchmark=laddered, scope="overall", best_test_id=True)
    assert best.submission_id == better.pk and best.test_id == pytest.approx(0.805)
    assert 'class="ladder-note"' not in client.get("/b/tiny-bench/").content.decode()
    Benchmark.objects.filter(pk=laddered.pk).update(ladder_margin=0.01)
    laddered.refresh_from_db()
    recompute(laddered)  # the same gain no longer clears a margin of 0.01
    assert _shown(laddered) == {first.pk}


def test_without_the_ladder_every_submission_shows(
    benchmark: Benchmark, tiny_bundles: Path, client: Client
) -> None:
    ann = make_user("ann")
    first = _add(ann, benchmark, tiny_bundles, 0.80, paired=True, seed=0, offset=0)
    probe = _add(ann, benchmark, tiny_bundles, 0.805, paired=False, seed=9, offset=10)
    recompute(benchmark)
    assert _shown(benchmark) == {first.pk, probe.pk}
    assert 'id="board-ladder"' not in client.get("/b/tiny-bench/").content.decode()
    assert "ladder" not in client.get("/b/tiny-bench/export.json").json()
    assert "ladder" not in client.get("/api/v1/leaderboards/tiny-bench/").json()


def test_switching_the_ladder_in_the_admin_recomputes_the_boards(
    benchmark: Benchmark, monkeypatch: Any, django_capture_on_commit_callbacks: Any, rf: Any
) -> None:
    from types import SimpleNamespace

    from django.contrib.admin import site

    from leaderboard import admin as admin_module

    calls: list[int] = []
    monkeypatch.setattr(admin_module, "request_recompute", calls.append)
    model_admin = admin_module.BenchmarkAdmin(Benchmark, site)
    benchmark.ladder = True
    for changed, expected in ((["name"], []), (["ladder"], [benchmark.pk])):
        with django_capture_on_commit_callbacks(execute=True):
            model_admin.save_model(
                rf.post("/"), benchmark, SimpleNamespace(changed_data=changed), True
            )
        assert calls == expected
    assert Benchmark.objects.get(pk=benchmark.pk).ladder is True


def test_the_servers_baselines_are_not_laddered(laddered: Benchmark, tiny_bundles: Path) -> None:
    staff = make_user("baselines", staff=True)
    subs = [
        _add(staff, laddered, tiny_bundles, v, paired=False, seed=i, offset=i, is_baseline=True,
             method_name=name)
        for i, (v, name) in enumerate([(0.8, "linear-probe"), (0.79, "lora"), (0.81, "adapter")])
    ]  # fmt: skip
    recompute(laddered)
    assert _shown(laddered, scope="overall") == {s.pk for s in subs}
