"""Score a submission against the hidden labels and build the score JSON (docs/formats.md).

``score_predictions_file`` (predictions track) and ``score_probabilities`` (checkpoint track, the
server's own model outputs) share everything after the probabilities are aligned.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from datasets.bundle import TEST_SPLITS, BundleError, SplitData, TaskMeta, list_tasks, load_split
from evaluator import EVALUATOR_VERSION
from evaluator.aggregate import aggregates
from evaluator.bootstrap import PatientIndex, bootstrap_counts, percentile_ci
from evaluator.errors import SubmissionInvalid
from evaluator.limits import DEFAULT_LIMITS, Limits
from evaluator.metrics import SplitContext, metrics_for, primary_metric
from evaluator.predictions import check_task_arrays, load_predictions
from evaluator.scorejson import MetricJSON, ScoreJSON, SplitJSON, TaskJSON

Replicates = dict[str, dict[str, list[float] | None]]


@dataclass
class ScoreResult:
    json: ScoreJSON
    # task -> split -> primary-metric replicate vector (NaN = dropped replicate), None if no split
    replicates: Replicates = field(default_factory=dict)


@dataclass
class Benchmark:
    slug: str
    tasks: dict[str, TaskMeta]
    truth: dict[str, dict[str, SplitData]]  # task -> split -> ids, labels, patient ids

    @property
    def version(self) -> str:
        return benchmark_version(self.tasks)

    def test_ids(self, *, public_only: bool) -> dict[str, np.ndarray]:
        return {
            slug: np.concatenate([self.truth[slug][s].image_ids for s in TEST_SPLITS]).astype(str)
            for slug, meta in self.tasks.items()
            if meta.test_images_public or not public_only
        }


def benchmark_version(tasks: dict[str, TaskMeta]) -> str:
    """First 12 hex digits of sha256 over the sorted ``slug@version`` lines of all tasks."""
    lines = "\n".join(f"{slug}@{tasks[slug].version}" for slug in sorted(tasks))
    return hashlib.sha256(lines.encode()).hexdigest()[:12]


def load_benchmark(data_root: Path | str, benchmark: str) -> Benchmark:
    try:
        metas = list_tasks(data_root, benchmark)
    except BundleError as exc:
        raise SubmissionInvalid(f"benchmark '{benchmark}' cannot be read: {exc}") from None
    if not metas:
        raise SubmissionInvalid(f"unknown benchmark '{benchmark}' (no tasks under {data_root})")
    tasks = {m.slug: m for m in metas}
    truth = {
        m.slug: {s: load_split(data_root, m, s, hidden=True, images=False) for s in TEST_SPLITS}
        for m in metas
    }
    return Benchmark(benchmark, tasks, truth)


def _null(reason: str | None) -> MetricJSON:
    return {"value": None, "ci_low": None, "ci_high": None, "reason": reason, "dropped": 0}


def _finite(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def _empty_reason(meta: TaskMeta, split: str) -> str:
    if split == "test_ood" and meta.ood_level == "none":
        return "this task has no OOD split (ood_level 'none')"
    return f"{split} has no images"


def score_split(
    meta: TaskMeta, split: str, truth: SplitData, probs: np.ndarray, bootstrap: int, seed: int
) -> tuple[SplitJSON, list[float] | None]:
    """All metrics of one split, and the primary metric's replicate vector."""
    metrics = metrics_for(meta.label_type)
    if len(truth) == 0:
        return {m.name: _null(_empty_reason(meta, split)) for m in metrics}, None
    assert truth.labels is not None and truth.patient_ids is not None
    patients = PatientIndex.from_ids(truth.patient_ids)
    if bootstrap > 0:
        counts = bootstrap_counts(
            meta.slug, meta.version, split, seed, patients.n_patients, bootstrap
        )
    else:
        counts = np.ones((1, patients.n_patients))
    ctx = SplitContext(
        meta.label_type, meta.classes, split, np.asarray(truth.labels), probs, patients, counts
    )
    out: SplitJSON = {}
    primary: list[float] | None = None
    for metric in metrics:
        values, reason = metric.definitions[meta.label_type][1](ctx)
        reps = values[1:]
        value = _finite(values[0])
        ci = percentile_ci(reps) if value is not None else None
        out[metric.name] = {
            "value": value, "ci_low": ci[0] if ci else None, "ci_high": ci[1] if ci else None,
            "reason": reason, "dropped": int(np.isnan(reps).sum()),
        }
        if metric.name == primary_metric(meta.label_type):
            primary = [float(v) for v in reps] if bootstrap > 0 else None
    return out, primary


def score_task(
    meta: TaskMeta, truth: dict[str, SplitData], probs: np.ndarray, bootstrap: int, seed: int
) -> tuple[TaskJSON, dict[str, list[float] | None]]:
    """``probs`` are aligned to test_id ids followed by test_ood ids."""
    splits: dict[str, SplitJSON] = {}
    reps: dict[str, list[float] | None] = {}
    start = 0
    for split in TEST_SPLITS:
        n = len(truth[split])
        splits[split], reps[split] = score_split(
            meta, split, truth[split], probs[start:start + n], bootstrap, seed
        )
        start += n
    primary = primary_metric(meta.label_type)
    a, b = splits["test_id"][primary]["value"], splits["test_ood"][primary]["value"]
    gap = a - b if a is not None and b is not None else None
    return {"test_id": splits["test_id"], "test_ood": splits["test_ood"], "ood_gap": gap}, reps


def score_aligned(
    bench: Benchmark, probs: dict[str, np.ndarray], *, bootstrap: int, seed: int
) -> ScoreResult:
    if bootstrap < 0:
        raise SubmissionInvalid("--bootstrap must be 0 or more")
    tasks_json: dict[str, TaskJSON] = {}
    replicates: Replicates = {}
    for slug in sorted(probs):
        tasks_json[slug], replicates[slug] = score_task(
            bench.tasks[slug], bench.truth[slug], probs[slug], bootstrap, seed
        )
    score: ScoreJSON = {
        "meta": {
            "benchmark": bench.slug, "benchmark_version": bench.version,
            "evaluator_version": EVALUATOR_VERSION, "seed": seed, "replicates": bootstrap,
            "task_versions": {s: m.version for s, m in sorted(bench.tasks.items())},
        },
        "tasks": tasks_json,
        **aggregates(bench.tasks, tasks_json, replicates),
    }
    return ScoreResult(score, replicates)


def validate_predictions_file(
    data_root: Path | str, benchmark: str, path: Path | str, *, limits: Limits = DEFAULT_LIMITS,
    display_name: str | None = None,
) -> dict[str, np.ndarray]:
    bench = load_benchmark(data_root, benchmark)
    return load_predictions(
        path, bench.tasks, bench.test_ids(public_only=True), limits=limits,
        display_name=display_name,
    )


def score_predictions_file(
    data_root: Path | str, benchmark: str, path: Path | str, *, bootstrap: int = 1000,
    seed: int = 0, limits: Limits = DEFAULT_LIMITS, display_name: str | None = None,
) -> ScoreResult:
    """Parse, validate and score a predictions submission; raises :class:`SubmissionInvalid`."""
    bench = load_benchmark(data_root, benchmark)
    probs = load_predictions(
        path, bench.tasks, bench.test_ids(public_only=True), limits=limits,
        display_name=display_name,
    )
    return score_aligned(bench, probs, bootstrap=bootstrap, seed=seed)


def score_probabilities(
    data_root: Path | str, benchmark: str, probs: dict[str, tuple[np.ndarray, np.ndarray]], *,
    bootstrap: int = 1000, seed: int = 0,
) -> ScoreResult:
    """Score model outputs: task → (image_ids, probs N x K in class order). Missing → incomplete."""
    bench = load_benchmark(data_root, benchmark)
    expected = bench.test_ids(public_only=False)
    aligned: dict[str, np.ndarray] = {}
    problems: list[str] = []
    for slug, (ids, values) in probs.items():
        if slug not in bench.tasks:
            problems.append(f"unknown task '{slug}' in benchmark '{benchmark}'")
            continue
        meta = bench.tasks[slug]
        values = np.asarray(values, dtype=np.float64)
        if values.ndim != 2 or values.shape[1] != meta.num_classes:
            problems.append(f"{slug}: outputs have shape {values.shape}; expected (N, {meta.num_classes})")
            continue
        try:
            aligned[slug] = check_task_arrays(
                meta, np.asarray(ids), values, expected[slug], f"{slug} (model outputs)", "npz"
            )
        except SubmissionInvalid as exc:
            problems += exc.messages
    if problems:
        raise SubmissionInvalid(problems)
    return score_aligned(bench, aligned, bootstrap=bootstrap, seed=seed)
