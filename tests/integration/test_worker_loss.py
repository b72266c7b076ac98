"""Losing worker processes with real workers: a pool process killed by SIGKILL (what the kernel's
OOM killer does), idle or mid-evaluation, on both brokers; and the demo's worker killed and
started again."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest

from leaderboard.models import Result, Status, Submission
from tests.integration.conftest import Stack, submit, use_broker
from tests.leaderboard.conftest import make_user
from tests.procs import celery_worker, demo_worker, kill_group, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def operator(tiny_bundles: Path, transactional_db: None) -> Any:
    from leaderboard.services.registration import sync_benchmark

    sync_benchmark(tiny_bundles, "tiny-bench")
    return make_user("operator", staff=True)


def _row(pk: int) -> Submission:
    return Submission.objects.get(pk=pk)


def _finished(pk: int) -> bool:
    return _row(pk).status in (Status.SUCCEEDED, Status.FAILED)


def _scored_once(sub: Submission) -> None:
    assert sub.status == Status.SUCCEEDED, sub.user_log
    expected = sum(len(e[s]) for e in sub.score_json["tasks"].values() for s in ("test_id", "test_ood"))
    assert Result.objects.filter(submission=sub).count() == expected


def test_pool_process_killed_while_idle_the_worker_keeps_serving(
    any_stack: Stack, operator: Any, tiny_bundles: Path
) -> None:
    with celery_worker(any_stack.worker_env(), name="idle", log=any_stack.tmp / "w.log"):
        first = submit(operator, tiny_bundles)
        wait_for(lambda: _finished(first.pk), 90, "the first submission")
        pid = _row(first.pk).worker_pid
        assert pid
        wait_for(lambda: not _pool_busy(any_stack.tmp / "w.log"), 30, "the pool to go idle")
        os.kill(pid, signal.SIGKILL)  # idle, waiting for its next job
        second = submit(operator, tiny_bundles, seed=1)
        wait_for(lambda: _finished(second.pk), 60, "the submission sent after the kill")
    _scored_once(_row(first.pk))
    _scored_once(_row(second.pk))


def _pool_busy(log: Path) -> bool:
    """Whether a task was received and has not finished yet, from the worker's log."""
    text = log.read_text(errors="replace")
    return text.count(" received") > text.count(" succeeded in ") + text.count(" raised ")


def test_pool_process_killed_mid_evaluation_is_retried_then_failed_naming_memory(
    any_stack: Stack, operator: Any, tiny_bundles: Path
) -> None:
    env = any_stack.worker_env(MEDVTAB_EVALUATION_DELAY_S="3", MEDVTAB_MAX_ATTEMPTS="2")
    with celery_worker(env, name="oom", log=any_stack.tmp / "w.log"):
        doomed = submit(operator, tiny_bundles)
        behind = submit(operator, tiny_bundles, seed=1)
        for attempt in (1, 2):
            wait_for(
                lambda a=attempt: (row := _row(doomed.pk)).status == Status.RUNNING  # type: ignore[misc]
                and row.attempts == a,
                90,
                f"attempt {attempt} to start",
            )
            os.kill(_row(doomed.pk).worker_pid or 0, signal.SIGKILL)
        wait_for(lambda: _finished(doomed.pk) and _finished(behind.pk), 90, "both to finish")
    lost = _row(doomed.pk)
    assert lost.status == Status.FAILED
    assert "memory" in lost.error and "2 times" in lost.error
    assert "Retrying" in lost.user_log
    _scored_once(_row(behind.pk))


def test_demo_worker_killed_mid_evaluation_completes_once_after_restart(
    fs_stack: Stack, operator: Any, tiny_bundles: Path
) -> None:
    env = fs_stack.worker_env(MEDVTAB_EVALUATION_DELAY_S="3", MEDVTAB_REAPER_INTERVAL_S="1",
                              MEDVTAB_REQUEUE_AFTER_S="1")
    log = fs_stack.tmp / "demo.log"
    with demo_worker(env, log=log) as demo:
        sub = submit(operator, tiny_bundles)
        wait_for(lambda: _row(sub.pk).status == Status.RUNNING, 90, "the evaluation to start")
        kill_group(demo)  # SIGKILL the whole worker, pool and embedded beat included
    assert _row(sub.pk).status == Status.RUNNING
    with demo_worker(env, log=log):
        wait_for(lambda: _finished(sub.pk), 60, "the interrupted submission after the restart")
        # Submitted while the broker was unreachable: only the embedded beat's reaper sends it.
        with use_broker("redis://127.0.0.1:1/0", 1):
            unsent = submit(operator, tiny_bundles, seed=1)
        assert _row(unsent.pk).status == Status.PENDING
        wait_for(lambda: _finished(unsent.pk), 60, "the reaper to send the unsent submission")
    done = _row(sub.pk)
    _scored_once(done)
    assert done.attempts == 2
    assert "restarted" in done.user_log
    _scored_once(_row(unsent.pk))

