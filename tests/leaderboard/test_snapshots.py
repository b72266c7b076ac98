"""Frozen snapshots: what is frozen (rows, ranks, ties, CIs, versions), byte-identical pages and
exports after a rescore and a new submission, immutability, the command's filters and errors, the
freeze at a phase's close (once, after its submissions settle), the page under the strict CSP."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import ProtectedError
from django.test import Client
from django.utils import timezone

from evaluator import EVALUATOR_VERSION
from leaderboard.models import (
    Benchmark,
    BoardSnapshot,
    SnapshotImmutable,
    SnapshotRow,
    Status,
    Submission,
)
from leaderboard.services.boards import recompute
from leaderboard.services.results import store_score
from leaderboard.services.snapshots import SnapshotRequest, freeze, freeze_closed_phases
from leaderboard.tasks import freeze_closed_phases as freeze_task
from tests.browser.seed import make_score, scored_submission
from tests.factories import make_phase
from tests.leaderboard.conftest import make_user

pytestmark = pytest.mark.django_db
ALL = ("tiny-cxr", "tiny-derm", "tiny-oct")
DAY = timedelta(days=1)


@pytest.fixture(autouse=True)
def _media(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


def _same(v: float) -> dict[str, tuple[float, float]]:
    return {s: (v, v - 0.1) for s in ALL}


def _add(user: Any, bench: Benchmark, root: Path, v: float, name: str, **kw: Any) -> Submission:
    score = make_score(root, _same(v), seed=kw.pop("seed", 0))
    return scored_submission(user, bench, score, method_name=name, **kw)


@pytest.fixture
def board(benchmark: Benchmark, tiny_bundles: Path) -> dict[str, Submission]:
    a = _add(make_user("ann"), benchmark, tiny_bundles, 0.8, "alpha")
    b = _add(make_user("ben"), benchmark, tiny_bundles, 0.6, "beta", seed=1)
    recompute(benchmark)
    return {"a": a, "b": b}


def _freeze(**kw: Any) -> BoardSnapshot:
    out = io.StringIO()
    call_command("snapshot_board", "tiny-bench", stdout=out, **kw)
    snapshot = BoardSnapshot.objects.get()
    assert f"/snapshots/{snapshot.slug}/" in out.getvalue()
    return snapshot


def _served(client: Client, snapshot: BoardSnapshot) -> list[bytes]:
    urls = [f"/snapshots/{snapshot.slug}/", f"/snapshots/{snapshot.pk}/"]
    urls += [f"/snapshots/{snapshot.slug}/export.csv", f"/snapshots/{snapshot.pk}/export.json"]
    urls += [f"/api/v1/snapshots/{snapshot.pk}/", "/api/v1/snapshots/", "/snapshots/"]
    responses = [client.get(u) for u in urls]
    assert [r.status_code for r in responses] == [200] * len(urls)
    return [r.content for r in responses]


def test_a_snapshot_holds_the_boards_rows_ranks_cis_and_versions(
    board: dict[str, Submission], client: Client
) -> None:
    snapshot = _freeze()
    rows = list(snapshot.rows.order_by("position"))
    assert [(r.submission_id, r.rank, r.team) for r in rows] == [
        (board["a"].pk, 1, "ann"),
        (board["b"].pk, 2, "ben"),
    ]
    live = client.get("/b/tiny-bench/export.json").json()["rows"]
    for row, shown in zip(rows, live, strict=True):
        assert {k: row.values[k] for k in shown} == shown  # every column, CIs and ties included
    assert rows[0].values["test_id.ci_low"] < rows[0].test_id < rows[0].values["test_id.ci_high"]
    assert snapshot.benchmark_version == live[0]["benchmark_version"]
    assert snapshot.evaluator_version == EVALUATOR_VERSION
    assert snapshot.evaluator_versions == ["test"]  # what the seeded rows were scored with
    assert snapshot.task_versions == {s: "1" for s in ALL}
    assert sorted(snapshot.tasks) == list(ALL) and snapshot.columns[-1] == "team"


def test_rescoring_and_new_submissions_never_change_a_snapshot(
    board: dict[str, Submission], benchmark: Benchmark, tiny_bundles: Path, client: Client
) -> None:
    snapshot = _freeze()
    before = _served(client, snapshot)
    live_before = client.get("/b/tiny-bench/export.csv").content
    store_score(board["b"], make_score(tiny_bundles, _same(0.95), seed=5))  # a rescore
    board["b"].save()
    _add(make_user("cat"), benchmark, tiny_bundles, 0.9, "gamma", seed=2)
    recompute(benchmark)
    assert client.get("/b/tiny-bench/export.csv").content != live_before  # the board moved
    assert _served(client, snapshot) == before  # the snapshot did not


def test_snapshots_refuse_changes_and_deletion(board: dict[str, Submission]) -> None:
    snapshot = _freeze()
    row = snapshot.rows.first()
    assert row is not None
    snapshot.title = "changed"
    for attempt in (
        snapshot.save,
        snapshot.delete,
        row.save,
        row.delete,
        lambda: BoardSnapshot.objects.update(title="x"),
        lambda: BoardSnapshot.objects.all().delete(),
        lambda: SnapshotRow.objects.filter(snapshot=snapshot).update(rank=9),
        lambda: SnapshotRow.objects.all().delete(),
    ):
        with pytest.raises(SnapshotImmutable, match="immutable"):
            attempt()
    with pytest.raises(ProtectedError):  # deleting the benchmark would cascade into it
        Benchmark.objects.get(slug="tiny-bench").delete()
    assert BoardSnapshot.objects.get().title != "changed" and SnapshotRow.objects.count() == 2


def test_the_command_takes_the_boards_filters(
    board: dict[str, Submission], benchmark: Benchmark, tiny_bundles: Path
) -> None:
    ck = _add(make_user("dan"), benchmark, tiny_bundles, 0.7, "ckpt", seed=3, track="checkpoint")
    snapshot = _freeze(track="checkpoint", split="test_ood", title="Checkpoints, OOD")
    assert [r.submission_id for r in snapshot.rows.all()] == [ck.pk]
    assert (snapshot.split, snapshot.track, snapshot.title) == (
        "test_ood",
        "checkpoint",
        "Checkpoints, OOD",
    )
    assert snapshot.filters == {"split": "test_ood", "track": "checkpoint"}
    assert any(c.startswith("tiny-cxr.test_ood.") for c in snapshot.columns)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"modality": "nope"}, "no board 'nope' of benchmark 'tiny-bench'"),
        ({"modality": "~checkpoint-only"}, "no board '~checkpoint-only'"),
    ],
)
def test_the_command_names_what_it_cannot_freeze(
    board: dict[str, Submission], options: dict[str, str], message: str
) -> None:
    with pytest.raises(CommandError, match=message):
        call_command("snapshot_board", "tiny-bench", **options)
    with pytest.raises(CommandError, match="no benchmark 'missing'"):
        call_command("snapshot_board", "missing")
    assert not BoardSnapshot.objects.exists()


def test_a_modality_board_can_be_frozen(board: dict[str, Submission]) -> None:
    from leaderboard.models import Modality

    modality = Modality.objects.filter(benchmark__slug="tiny-bench").first()
    assert modality is not None
    snapshot = freeze(SnapshotRequest("tiny-bench", modality.slug))
    assert snapshot.board == modality.slug and snapshot.rows.count() == 2
    assert set(snapshot.tasks) < set(ALL)


def test_closing_a_phase_freezes_its_boards_once_after_its_submissions_settle(
    board: dict[str, Submission], benchmark: Benchmark
) -> None:
    now = timezone.now()
    phase = make_phase(benchmark, "final", now - 3 * DAY, now - DAY, protocols=["full"])
    make_phase(benchmark, "later", now + DAY, now + 2 * DAY)  # not closed: nothing frozen
    late = Submission.objects.get(pk=board["b"].pk)
    Submission.objects.filter(pk=late.pk).update(status=Status.RUNNING, created=now - 2 * DAY)
    assert freeze_closed_phases() == 0  # scored before the close, still running: wait for it
    Submission.objects.filter(pk=late.pk).update(status=Status.SUCCEEDED)
    assert freeze_task() == "1"  # the beat task, called in process
    assert freeze_task() == "0" and freeze_closed_phases() == 0  # idempotent
    snapshot = BoardSnapshot.objects.get()
    assert snapshot.phase == phase and snapshot.phase_name == "Final"
    assert (snapshot.board, snapshot.protocol) == ("overall", "full")
    assert snapshot.rows.count() == 2 and snapshot.created_by == "phase close"


def test_beat_runs_the_freeze_on_the_reapers_interval(settings: Any) -> None:
    from medvtab.celery import app

    entry = app.conf.beat_schedule["freeze-closed-phases"]
    assert entry["task"] == "medvtab.freeze_closed_phases"
    assert entry["schedule"] == float(settings.MEDVTAB_REAPER_INTERVAL_S)
    assert entry["options"]["queue"] == "cpu"


def test_the_page_shows_the_citation_and_renders_under_the_strict_csp(
    board: dict[str, Submission], client: Client
) -> None:
    snapshot = _freeze()
    response = client.get(f"/snapshots/{snapshot.pk}/")
    assert "script-src 'self'" in (response.headers.get("content-security-policy") or "")
    html = response.content.decode()
    assert "<script>" not in html and "style=" not in html
    assert f"@misc{{medvtab-snapshot-{snapshot.pk}," in html
    assert f"http://testserver/snapshots/{snapshot.slug}/" in html
    assert snapshot.benchmark_version in html and f'data-submission="{board["a"].pk}"' in html
    exported = client.get(f"/snapshots/{snapshot.slug}/export.json").json()
    assert exported["citation"].startswith(f"@misc{{medvtab-snapshot-{snapshot.pk},")
    assert "benchmark version " + snapshot.benchmark_version in exported["citation"]
    text = client.get(f"/snapshots/{snapshot.slug}/export.csv").content.decode()
    header, *rows = list(csv.reader(io.StringIO(text)))
    assert header == snapshot.columns and len(rows) == 2
    assert json.loads(client.get("/api/v1/snapshots/").content)[0]["num_rows"] == 2
    assert client.get("/snapshots/nope/").status_code == 404
    assert client.get("/snapshots/999999/export.csv").status_code == 404


def test_the_admin_shows_snapshots_read_only(board: dict[str, Submission], client: Client) -> None:
    from django.contrib.auth.models import User

    snapshot = _freeze()
    User.objects.create_superuser("root", "root@example.org", "correct-horse-9")
    client.login(username="root", password="correct-horse-9")
    page = client.get(f"/admin/leaderboard/boardsnapshot/{snapshot.pk}/change/")
    assert page.status_code == 200 and snapshot.slug in page.content.decode()
    assert 'name="_save"' not in page.content.decode()  # nothing to save
    assert client.get("/admin/leaderboard/boardsnapshot/add/").status_code == 403
    deleting = client.post(
        f"/admin/leaderboard/boardsnapshot/{snapshot.pk}/delete/", {"post": "yes"}
    )
    assert deleting.status_code == 403 and BoardSnapshot.objects.filter(pk=snapshot.pk).exists()
    ladder = client.get(f"/admin/leaderboard/benchmark/{snapshot.benchmark_id}/change/")
    assert 'name="ladder"' in ladder.content.decode()
    assert 'name="ladder_margin"' in ladder.content.decode()


def test_the_database_keeps_one_snapshot_per_phase_board_and_protocol(
    board: dict[str, Submission], benchmark: Benchmark
) -> None:
    from django.db import IntegrityError

    now = timezone.now()
    phase = make_phase(benchmark, "final", now - 3 * DAY, now - DAY)
    freeze(SnapshotRequest("tiny-bench"), phase=phase)
    with pytest.raises(IntegrityError):  # what a second worker racing the first one meets
        freeze(SnapshotRequest("tiny-bench"), phase=phase)
    assert BoardSnapshot.objects.count() == 1
    freeze(SnapshotRequest("tiny-bench", protocol="1k"), phase=phase)  # another protocol: fine
    assert BoardSnapshot.objects.count() == 2


def test_the_board_links_to_the_snapshots(board: dict[str, Submission], client: Client) -> None:
    snapshot = _freeze()
    page = client.get("/b/tiny-bench/").content.decode()
    link = page.split('id="snapshots-link"', 1)[0].rsplit("<a ", 1)[1]
    assert 'href="/snapshots/"' in link
    assert f"/snapshots/{snapshot.slug}/" in client.get("/snapshots/").content.decode()
