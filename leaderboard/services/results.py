"""Store a score JSON and its replicate vectors as rows, replacing any earlier results at once."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from django.db import transaction

from evaluator import EVALUATOR_VERSION
from evaluator.scorejson import AggregateJSON, ScoreJSON
from evaluator.scoring import ScoreResult
from leaderboard.models import (
    Aggregate,
    Modality,
    ReplicateVector,
    Result,
    Status,
    Submission,
    Task,
)
from leaderboard.models.boards import SPLITS

VECTOR_DTYPE = "<f8"  # replicate vectors are stored as little-endian float64 bytes


def save_running_log_line(sub: Submission, line: str) -> None:
    """Append ``line`` to the user log now, while this worker still holds the submission (not
    cancelled or taken over meanwhile): the evaluation task re-reads the row to finish, so a line
    kept on ``sub`` would be lost."""
    with transaction.atomic():
        row = (
            Submission.objects.select_for_update()
            .filter(pk=sub.pk, status=Status.RUNNING, worker=sub.worker)
            .first()
        )
        if row is not None:
            row.append_log(line)
            row.save(update_fields=["user_log"])


def encode_vector(vector: Sequence[float] | np.ndarray) -> bytes:
    return np.asarray(vector, dtype=VECTOR_DTYPE).tobytes()


def decode_vector(raw: bytes | memoryview) -> np.ndarray:
    return np.frombuffer(bytes(raw), dtype=VECTOR_DTYPE)


def _aggregate_row(
    submission: Submission, scope: str, modality: Modality | None, entry: AggregateJSON
) -> Aggregate:
    ci = entry.get("ci") or {"test_id": None, "test_ood": None}
    id_ci, ood_ci = ci.get("test_id") or (None, None), ci.get("test_ood") or (None, None)
    return Aggregate(
        submission=submission,
        scope=scope,
        modality=modality,
        test_id=entry.get("test_id"),
        test_id_ci_low=id_ci[0],
        test_id_ci_high=id_ci[1],
        test_ood=entry.get("test_ood"),
        test_ood_ci_low=ood_ci[0],
        test_ood_ci_high=ood_ci[1],
        ood_gap=entry.get("ood_gap"),
        complete=bool(entry.get("complete")),
    )


def _aggregates(
    submission: Submission, data: ScoreJSON, modalities: dict[str, Modality]
) -> list[Aggregate]:
    rows = [
        _aggregate_row(submission, "modality", modalities[slug], entry)
        for slug, entry in data.get("modalities", {}).items()
        if slug in modalities
    ]
    rows.append(_aggregate_row(submission, "overall", None, data["overall"]))
    # scores from evaluators before 2.0.0 have neither section
    checkpoint_only = data.get("checkpoint_only")
    if checkpoint_only is not None:
        rows.append(_aggregate_row(submission, "checkpoint_only", None, checkpoint_only))
    all_tasks = data.get("all_tasks")
    if all_tasks is not None:
        rows.append(_aggregate_row(submission, "all_tasks", None, all_tasks))
    return rows


def _results(submission: Submission, data: ScoreJSON, tasks: dict[str, Task]) -> list[Result]:
    results: list[Result] = []
    for slug, entry in data["tasks"].items():
        task = tasks[slug]
        for split in SPLITS:
            for metric, m in (entry.get(split) or {}).items():
                results.append(
                    Result(
                        submission=submission,
                        task=task,
                        split=split,
                        metric=metric,
                        value=m.get("value"),
                        ci_low=m.get("ci_low"),
                        ci_high=m.get("ci_high"),
                        reason=m.get("reason") or "",
                        is_primary=metric == task.primary_metric,
                    )
                )
    return results


def store_score(submission: Submission, score: ScoreResult) -> None:
    """Must run inside the caller's transaction, with the submission row locked."""
    data = score.json
    tasks = {t.slug: t for t in Task.objects.filter(benchmark=submission.benchmark)}
    modalities = {m.slug: m for m in Modality.objects.filter(benchmark=submission.benchmark)}
    Result.objects.filter(submission=submission).delete()
    Aggregate.objects.filter(submission=submission).delete()
    ReplicateVector.objects.filter(submission=submission).delete()
    Result.objects.bulk_create(_results(submission, data, tasks))
    Aggregate.objects.bulk_create(_aggregates(submission, data, modalities))
    ReplicateVector.objects.bulk_create(
        ReplicateVector(
            submission=submission, task=tasks[slug], split=split, values=encode_vector(vector)
        )
        for slug, by_split in score.replicates.items()
        for split, vector in by_split.items()
        if vector is not None and slug in tasks
    )
    meta = data["meta"]
    submission.score_json = data
    # complete on the boards that rank it: the tasks open to both tracks
    submission.complete = bool(data["overall"].get("complete"))
    submission.evaluator_version = str(meta.get("evaluator_version") or EVALUATOR_VERSION)
    submission.bootstrap_seed = meta.get("seed")
    submission.bootstrap_replicates = meta.get("replicates")
    submission.task_versions = {
        slug: tasks[slug].version for slug in data["tasks"] if slug in tasks
    }
