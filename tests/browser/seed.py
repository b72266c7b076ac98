"""Scored submissions with chosen scores, stored through the real results path
(``store_score``) and aggregated by the real scorer code (``evaluator.aggregate``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from django.core.files.base import ContentFile
from django.utils import timezone

from datasets.bundle import list_tasks
from evaluator.aggregate import aggregates
from evaluator.bootstrap import percentile_ci
from evaluator.scoring import ScoreResult, benchmark_version
from leaderboard.models import Benchmark, Status, Submission
from leaderboard.services.results import store_score

REPLICATES = 200
SECONDARY = "balanced_accuracy"


def _metric(value: float | None, vector: np.ndarray | None) -> dict[str, Any]:
    if value is None or vector is None:
        return {"value": None, "ci_low": None, "ci_high": None, "reason": "undefined"}
    lo, hi = percentile_ci(vector)
    return {"value": value, "ci_low": lo, "ci_high": hi, "reason": None}


def make_score(
    root: Path,
    values: dict[str, tuple[float | None, float | None]],
    *,
    noise: dict[str, np.ndarray] | None = None,
    spread: float = 0.02,
    seed: int = 0,
) -> ScoreResult:
    """A score JSON for ``values`` = {task: (test_id, test_ood)}. Replicates are value + noise,
    with ``noise[task]`` when given (to control pairing) or fresh noise of ``spread``."""
    metas = {m.slug: m for m in list_tasks(root, "tiny-bench")}
    rng = np.random.default_rng(seed)
    tasks_json: dict[str, Any] = {}
    replicates: dict[str, dict[str, list[float] | None]] = {}
    for slug, pair in values.items():
        primary = metas[slug].primary_metric
        entry: dict[str, Any] = {}
        replicates[slug] = {}
        for split, value in zip(("test_id", "test_ood"), pair, strict=True):
            base = noise[slug] if noise and slug in noise else rng.normal(0, spread, REPLICATES)
            vector = None if value is None else value + base
            entry[split] = {
                primary: _metric(value, vector),
                SECONDARY: _metric(None if value is None else value / 2, vector),
            }
            replicates[slug][split] = None if vector is None else vector.tolist()
        gap = None if None in pair else pair[0] - pair[1]  # type: ignore[operator]
        entry["ood_gap"] = gap
        tasks_json[slug] = entry
    meta = {
        "benchmark": "tiny-bench",
        "benchmark_version": benchmark_version(metas),
        "evaluator_version": "test",
        "seed": 0,
        "replicates": REPLICATES,
    }
    json = {"meta": meta, "tasks": tasks_json, **aggregates(metas, tasks_json, replicates)}
    return ScoreResult(json, replicates)  # type: ignore[arg-type]


def scored_submission(
    owner: Any,
    benchmark: Benchmark,
    score: ScoreResult,
    *,
    method_name: str = "m",
    finished_offset_s: float = 0.0,
    **fields: Any,
) -> Submission:
    defaults: dict[str, Any] = {
        "track": "predictions",
        "protocol": "full",
        "method_family": "lora",
        "pretraining": "general",
        "is_public": True,
    }
    defaults.update(fields)
    sub = Submission(owner=owner, benchmark=benchmark, method_name=method_name, **defaults)
    sub.file.save("p.zip", ContentFile(b"PK\x05\x06" + b"\x00" * 18), save=False)
    sub.status = Status.SUCCEEDED
    sub.finished_at = timezone.now() + timezone.timedelta(seconds=finished_offset_s)
    sub.save()
    store_score(sub, score)
    sub.save()
    return sub
