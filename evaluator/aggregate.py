"""Modality and overall aggregates of a score JSON (DESIGN §5).

A modality's score is the mean of its tasks' primary metric, the overall score the mean over all
tasks, each over the tasks submitted whose metric is defined on that split (undefinedness depends on
the hidden labels only, so every submission averages over the same tasks). ``complete`` is false
when a task is missing. The OOD gap is the mean of the per-task gaps ``test_id − test_ood`` (equal
to ``test_id − test_ood`` of the aggregate whenever every task has both splits). CIs come from the
tasks' primary-metric replicate vectors, averaged task by task, replicate by replicate.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from datasets.bundle import TEST_SPLITS, TaskMeta
from evaluator.bootstrap import percentile_ci
from evaluator.metrics import primary_metric
from evaluator.ranking import aggregate_replicates


def aggregate_group(
    slugs: list[str],
    tasks: dict[str, TaskMeta],
    tasks_json: dict[str, Any],
    replicates: dict[str, dict[str, list[float] | None]],
) -> dict[str, Any]:
    submitted = [s for s in slugs if s in tasks_json]
    out: dict[str, Any] = {"complete": len(submitted) == len(slugs), "ci": {}}
    for split in TEST_SPLITS:
        values, vectors = [], []
        for slug in submitted:
            value = tasks_json[slug][split][primary_metric(tasks[slug].label_type)]["value"]
            if value is None:
                continue
            values.append(value)
            vec = replicates.get(slug, {}).get(split)
            if vec is not None:
                vectors.append(np.asarray(vec, dtype=np.float64))
        out[split] = float(np.mean(values)) if values else None
        usable = len(vectors) == len(values) and bool(vectors)
        ci = percentile_ci(aggregate_replicates(vectors)) if usable else None
        out["ci"][split] = list(ci) if ci else None
    gaps = [tasks_json[s]["ood_gap"] for s in submitted if tasks_json[s]["ood_gap"] is not None]
    out["ood_gap"] = float(np.mean(gaps)) if gaps else None
    return {k: out[k] for k in ("test_id", "test_ood", "ood_gap", "complete", "ci")}


def aggregates(
    tasks: dict[str, TaskMeta],
    tasks_json: dict[str, Any],
    replicates: dict[str, dict[str, list[float] | None]],
) -> tuple[dict[str, Any], dict[str, Any]]:
    by_modality: dict[str, list[str]] = {}
    for slug in sorted(tasks):
        by_modality.setdefault(tasks[slug].modality, []).append(slug)
    modalities = {
        name: aggregate_group(slugs, tasks, tasks_json, replicates)
        for name, slugs in sorted(by_modality.items())
    }
    overall = aggregate_group(sorted(tasks), tasks, tasks_json, replicates)
    return modalities, overall
