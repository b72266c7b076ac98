"""Modality, overall, checkpoint-only and all-task aggregates of a score JSON (docs/formats.md,
"Score JSON").

Tasks whose test images are hidden accept checkpoint submissions only, so a predictions entry can
never enter them: the overall and modality aggregates average the tasks open to both tracks, the
checkpoint-only aggregate the others, and ``all_tasks`` every task (an entry's score over all it
entered). Each aggregate's score is the mean of its tasks' primary metric over the tasks submitted
whose metric is defined on that split (undefinedness depends on the hidden labels only, so every
submission averages over the same tasks). ``complete`` is false when a task of the group is
missing. The OOD gap is the mean of the per-task gaps ``test_id − test_ood`` (equal to
``test_id − test_ood`` of the aggregate whenever every task has both splits). CIs come from the
tasks' primary-metric replicate vectors, averaged task by task, replicate by replicate.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from datasets.bundle import TaskMeta
from evaluator.bootstrap import percentile_ci
from evaluator.metrics import primary_metric
from evaluator.ranking import aggregate_replicates
from evaluator.scorejson import AggregateCI, AggregateJSON, AggregateSections, TaskJSON

Replicates = Mapping[str, Mapping[str, list[float] | None]]


def _split_mean(
    submitted: list[str],
    tasks: Mapping[str, TaskMeta],
    tasks_json: Mapping[str, TaskJSON],
    replicates: Replicates,
    split: str,
) -> tuple[float | None, list[float] | None]:
    values: list[float] = []
    vectors: list[np.ndarray] = []
    for slug in submitted:
        split_json = tasks_json[slug]["test_id" if split == "test_id" else "test_ood"]
        value = split_json[primary_metric(tasks[slug].label_type)]["value"]
        if value is None:
            continue
        values.append(value)
        vec = replicates.get(slug, {}).get(split)
        if vec is not None:
            vectors.append(np.asarray(vec, dtype=np.float64))
    mean = float(np.mean(values)) if values else None
    # a CI only when every averaged task has its vector: a partial one would be another mean's
    usable = len(vectors) == len(values) and bool(vectors)
    ci = percentile_ci(aggregate_replicates(vectors)) if usable else None
    return mean, list(ci) if ci else None


def aggregate_group(
    slugs: list[str],
    tasks: Mapping[str, TaskMeta],
    tasks_json: Mapping[str, TaskJSON],
    replicates: Replicates,
) -> AggregateJSON:
    submitted = [s for s in slugs if s in tasks_json]
    id_mean, id_ci = _split_mean(submitted, tasks, tasks_json, replicates, "test_id")
    ood_mean, ood_ci = _split_mean(submitted, tasks, tasks_json, replicates, "test_ood")
    gaps = [g for s in submitted if (g := tasks_json[s]["ood_gap"]) is not None]
    return {
        "test_id": id_mean,
        "test_ood": ood_mean,
        "ood_gap": float(np.mean(gaps)) if gaps else None,
        "complete": len(submitted) == len(slugs),
        "ci": AggregateCI(test_id=id_ci, test_ood=ood_ci),
    }


def aggregates(
    tasks: Mapping[str, TaskMeta],
    tasks_json: Mapping[str, TaskJSON],
    replicates: Replicates,
) -> AggregateSections:
    """Every aggregate section of a score. A modality whose tasks all accept checkpoints only has
    no modality aggregate (its tasks are on the checkpoint-only board)."""
    both = [s for s in sorted(tasks) if tasks[s].test_images_public]
    checkpoint_only = [s for s in sorted(tasks) if not tasks[s].test_images_public]
    by_modality: dict[str, list[str]] = {}
    for slug in both:
        by_modality.setdefault(tasks[slug].modality, []).append(slug)
    return {
        "modalities": {
            name: aggregate_group(slugs, tasks, tasks_json, replicates)
            for name, slugs in sorted(by_modality.items())
        },
        "overall": aggregate_group(both, tasks, tasks_json, replicates),
        "checkpoint_only": (
            aggregate_group(checkpoint_only, tasks, tasks_json, replicates)
            if checkpoint_only
            else None
        ),
        "all_tasks": aggregate_group(sorted(tasks), tasks, tasks_json, replicates),
    }
