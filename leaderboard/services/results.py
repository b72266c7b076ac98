"""Store a score JSON and its replicate vectors as rows, replacing any earlier results at once."""

from __future__ import annotations

from typing import Any

import numpy as np

from evaluator import EVALUATOR_VERSION
from evaluator.scoring import ScoreResult
from leaderboard.models import Aggregate, Modality, ReplicateVector, Result, Submission, Task

SPLITS = ("test_id", "test_ood")


def _ci(entry: dict[str, Any] | None, split: str) -> tuple[float | None, float | None]:
    ci = (entry or {}).get("ci", {}).get(split) if entry else None
    if not ci:
        return None, None
    return ci[0], ci[1]


def _aggregate_row(
    submission: Submission, scope: str, modality: Modality | None, entry: dict[str, Any]
) -> Aggregate:
    id_low, id_high = _ci(entry, "test_id")
    ood_low, ood_high = _ci(entry, "test_ood")
    return Aggregate(
        submission=submission,
        scope=scope,
        modality=modality,
        test_id=entry.get("test_id"),
        test_id_ci_low=id_low,
        test_id_ci_high=id_high,
        test_ood=entry.get("test_ood"),
        test_ood_ci_low=ood_low,
        test_ood_ci_high=ood_high,
        ood_gap=entry.get("ood_gap"),
        complete=bool(entry.get("complete")),
    )


def store_score(submission: Submission, score: ScoreResult) -> None:
    """Must run inside the caller's transaction, with the submission row locked."""
    data = score.json
    tasks = {t.slug: t for t in Task.objects.filter(benchmark=submission.benchmark)}
    modalities = {m.slug: m for m in Modality.objects.filter(benchmark=submission.benchmark)}
    Result.objects.filter(submission=submission).delete()
    Aggregate.objects.filter(submission=submission).delete()
    ReplicateVector.objects.filter(submission=submission).delete()
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
    Result.objects.bulk_create(results)
    aggregates = [
        _aggregate_row(submission, "modality", modalities[slug], entry)
        for slug, entry in data.get("modalities", {}).items()
        if slug in modalities
    ]
    aggregates.append(_aggregate_row(submission, "overall", None, data["overall"]))
    Aggregate.objects.bulk_create(aggregates)
    ReplicateVector.objects.bulk_create(
        ReplicateVector(
            submission=submission,
            task=tasks[slug],
            split=split,
            values=np.asarray(vector, dtype="<f8").tobytes(),
        )
        for slug, by_split in score.replicates.items()
        for split, vector in by_split.items()
        if vector is not None and slug in tasks
    )
    meta = data["meta"]
    submission.score_json = data
    submission.complete = bool(data["overall"].get("complete"))
    submission.evaluator_version = str(meta.get("evaluator_version") or EVALUATOR_VERSION)
    submission.bootstrap_seed = meta.get("seed")
    submission.bootstrap_replicates = meta.get("replicates")
    submission.task_versions = {
        slug: tasks[slug].version for slug in data["tasks"] if slug in tasks
    }


def load_replicates(vector: ReplicateVector) -> np.ndarray:
    return np.frombuffer(bytes(vector.values), dtype="<f8")
