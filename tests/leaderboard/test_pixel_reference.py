"""The pixel reference on the platform: one submission per protocol, computed by the task through
the ordinary claim/finish path and scored by the scorer exactly as any checkpoint's outputs."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from datasets.bundle import write_task
from evaluator.scoring import score_probabilities
from leaderboard.models import (
    Benchmark,
    BoardEntry,
    ReplicateVector,
    Result,
    Status,
    Submission,
)
from leaderboard.services.baselines import BASELINE_USER
from leaderboard.services.reference import create_pixel_reference, method_name
from leaderboard.services.registration import sync_benchmark
from medvtab.celery import app
from reference_models.pixel_reference import benchmark_reference
from tests.factories import tiny_meta, tiny_splits

pytestmark = pytest.mark.django_db
BENCH = "tiny-bench"
REPLICATES = 20
Run = Callable[[Callable[[], Any]], Any]


def write_bench(root: Path, *, version: str = "1", indices: bool = True) -> None:
    """Two tasks (one with hidden test images), 24 images a split, with ``1k`` indices."""
    for slug, kwargs in (
        ("ref-cxr", {"modality": "xray"}),
        ("ref-nodule", {"modality": "ct-oct", "test_images_public": False,
                        "label_type": "binary", "classes": ("benign", "malignant")}),
    ):
        meta = tiny_meta(slug, image_size=16, version=version, **kwargs)  # type: ignore[arg-type]
        protocols = {"1k": {"train800": np.arange(0, 24, 2), "val200": np.arange(1, 24, 2)}}
        write_task(root, meta, tiny_splits(meta, per_split=24), protocols if indices else None)


@pytest.fixture
def bench(data_root: Path, settings: Any, tmp_path: Path) -> Benchmark:
    write_bench(data_root)
    sync_benchmark(data_root, BENCH)
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.MEDVTAB_BOOTSTRAP_REPLICATES = REPLICATES
    return Benchmark.objects.get(slug=BENCH)


@pytest.fixture
def run(django_capture_on_commit_callbacks: Any) -> Iterator[Run]:
    """Call ``fn`` with the Celery tasks run eagerly once its transaction commits."""
    app.conf.task_always_eager = True

    def call(fn: Callable[[], Any]) -> Any:
        with django_capture_on_commit_callbacks(execute=True):
            return fn()

    yield call
    app.conf.task_always_eager = False


def test_one_reference_per_protocol_scored_as_any_entry(
    bench: Benchmark, data_root: Path, run: Run
) -> None:
    subs = {p: run(lambda p=p: create_pixel_reference(bench, p)) for p in ("1k", "full")}
    for protocol, sub in subs.items():
        sub.refresh_from_db()
        assert sub.status == Status.SUCCEEDED, sub.error + sub.staff_log
        assert (sub.is_reference, sub.is_public, sub.is_baseline) == (True, True, False)
        assert sub.owner.get_username() == BASELINE_USER
        assert (sub.method_name, sub.method_family, sub.protocol) == (
            method_name(protocol), "reference", protocol
        )
        assert sub.complete and sub.attempts == 1 and "C chosen on val: ref-cxr C=" in sub.user_log
        # exactly the scorer's JSON for the module's outputs: the same scoring as any entry
        refs = benchmark_reference(data_root, BENCH, protocol)
        expected = score_probabilities(
            data_root, BENCH, {r.slug: r.outputs for r in refs}, bootstrap=REPLICATES, seed=0
        )
        assert sub.score_json == expected.json
        assert set(sub.score_json["tasks"]) == {"ref-cxr", "ref-nodule"}  # hidden images too
        assert sub.verified_tunable_params == round((3 * 257 + 257) / 2)
        metrics = Result.objects.filter(submission=sub)
        assert metrics.filter(is_primary=True).count() == 2 * 2  # tasks x splits
        assert ReplicateVector.objects.filter(submission=sub).count() == 4
    assert subs["1k"].score_json != subs["full"].score_json  # trained on different subsets
    # idempotent: asked again, the same submissions and nothing re-run
    again = run(lambda: create_pixel_reference(bench, "1k"))
    assert again.pk == subs["1k"].pk and Submission.objects.filter(is_reference=True).count() == 2
    again.refresh_from_db()
    assert again.attempts == 1
    # on every board it has tasks on, the checkpoint-only one included, and never ranked
    entries = BoardEntry.objects.filter(submission__is_reference=True)
    # (the ct-oct board averages no task: its one task accepts checkpoints only)
    assert {e.board_slug() for e in entries} == {"overall", "xray", "~checkpoint-only"}
    assert all(e.rank_test_id is None and e.rank_all_test_id is None for e in entries)


def test_a_failed_reference_is_requeued_when_asked_again(
    data_root: Path, settings: Any, tmp_path: Path, run: Run
) -> None:
    write_bench(data_root, indices=False)
    sync_benchmark(data_root, BENCH)
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.MEDVTAB_BOOTSTRAP_REPLICATES = 0
    bench = Benchmark.objects.get(slug=BENCH)
    sub = run(lambda: create_pixel_reference(bench, "1k"))
    sub.refresh_from_db()
    assert sub.status == Status.FAILED and "no '1k' protocol indices" in sub.error
    write_bench(data_root)  # same versions, now with the indices
    assert run(lambda: create_pixel_reference(bench, "1k")).pk == sub.pk
    sub.refresh_from_db()
    assert sub.status == Status.SUCCEEDED and sub.error == "" and sub.attempts == 1


def test_new_task_versions_get_a_new_reference_and_retire_the_old(
    bench: Benchmark, data_root: Path, run: Run
) -> None:
    old = run(lambda: create_pixel_reference(bench, "full"))
    write_bench(data_root, version="2")
    sync_benchmark(data_root, BENCH)
    new = run(lambda: create_pixel_reference(bench, "full"))
    old.refresh_from_db()
    new.refresh_from_db()
    assert new.pk != old.pk and new.status == Status.SUCCEEDED
    assert not old.is_public and new.is_public
    shown = set(BoardEntry.objects.values_list("submission_id", flat=True))
    assert shown == {new.pk}


def test_bad_protocol_is_refused(bench: Benchmark) -> None:
    with pytest.raises(ValueError, match="unknown protocol 'few'"):
        create_pixel_reference(bench, "few")


def test_broker_down_leaves_it_pending(bench: Benchmark, django_capture_on_commit_callbacks: Any,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from leaderboard.tasks.reference import compute_pixel_reference

    def down(*args: Any, **kwargs: Any) -> None:
        raise ConnectionError("broker down")

    monkeypatch.setattr(compute_pixel_reference, "apply_async", down)
    with django_capture_on_commit_callbacks(execute=True):
        sub = create_pixel_reference(bench, "full")
    sub.refresh_from_db()
    assert sub.status == Status.PENDING


def test_seed_reference_command(bench: Benchmark, run: Run) -> None:
    out = io.StringIO()
    run(lambda: call_command("seed_reference", "--benchmark", BENCH, stdout=out))
    lines = out.getvalue().splitlines()
    subs = Submission.objects.filter(is_reference=True).order_by("protocol")
    assert [s.protocol for s in subs] == ["1k", "full"]
    assert all(s.status == Status.SUCCEEDED for s in subs)
    assert lines == [f"reference {s.method_name}: submission #{s.pk} (pending)" for s in subs]
    with pytest.raises(CommandError, match="--protocols: 5k"):
        call_command("seed_reference", "--benchmark", BENCH, "--protocols", "5k")
    with pytest.raises(CommandError, match="no benchmark 'nope'"):
        call_command("seed_reference", "--benchmark", "nope")


def test_the_web_tier_never_imports_scikit_learn() -> None:
    code = (
        "import sys, django; django.setup()\n"
        "import medvtab.urls, leaderboard.tasks, leaderboard.services.reference\n"
        "import leaderboard.management.commands.seed_reference\n"
        "assert 'sklearn' not in sys.modules, 'sklearn imported'\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "medvtab.settings"}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, env=env,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert done.returncode == 0, done.stderr
