"""Write the synthetic Med-VTAB-mini benchmark as task bundles (both trees, 1k protocol)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from datasets.bundle import (
    SPLITS,
    BundleError,
    SplitCounts,
    SplitData,
    TaskMeta,
    read_meta,
    split_counts,
    task_dir,
    write_task,
)
from datasets.splits import build_1k_protocol, build_patient_splits
from datasets.synthetic.cohort import Cohort, make_cohort
from datasets.synthetic.render import CHUNK, make_unique, render_batch
from datasets.synthetic.spec import (
    BENCHMARK_SLUG,
    CITATION,
    LICENSE,
    TASKS,
    TaskSpec,
    derive_seed,
    rng_for,
)

# Split fractions chosen so that scale=1 gives about 1,450 train, 250 val, 560 test_id and 600
# test_ood images per task (OOD by patient; test_id and val by image among the remaining patients).
OOD_FRACTION = 0.21
TEST_ID_FRACTION = 0.25
VAL_FRACTION = 0.11


def task_meta(spec: TaskSpec, *, seed: int, image_size: int,
              counts: dict[str, SplitCounts] | None = None) -> TaskMeta:
    return TaskMeta(
        slug=spec.slug, name=spec.name, benchmark=BENCHMARK_SLUG, modality=spec.modality,
        organ=spec.organ, label_type=spec.label_type, classes=spec.classes, image_size=image_size,
        channels=spec.channels, primary_metric=spec.primary_metric, version=spec.version,
        source=f"synthetic (Med-VTAB-mini generator, seed {seed})", license=LICENSE,
        citation=CITATION, test_images_public=spec.test_images_public, ood_level="patient",
        synthetic=True, splits=dict(counts or {}),
        description=spec.description(seed),
    )


def render_images(spec: TaskSpec, cohort: Cohort, rng: np.random.Generator,
                  image_size: int) -> np.ndarray:
    """All of a task's images, rendered a chunk at a time to bound memory."""
    n = len(cohort)
    out = np.empty((n, image_size, image_size, spec.channels), np.uint8)
    for start in range(0, n, CHUNK):
        index = np.arange(start, min(start + CHUNK, n))
        out[index] = render_batch(spec.draw, rng, image_size, spec.channels, cohort.labels[index],
                                  cohort.image_traits(index), spec.texture)
    return make_unique(out)


def plan_splits(spec: TaskSpec, cohort: Cohort, seed: int) -> dict[str, np.ndarray]:
    return build_patient_splits(
        cohort.patient_ids, cohort.labels, seed=derive_seed(seed, spec.slug, "splits"),
        ood_fraction=OOD_FRACTION, test_id_fraction=TEST_ID_FRACTION, val_fraction=VAL_FRACTION,
    )


def _split_data(cohort: Cohort, index: np.ndarray, images: np.ndarray | None) -> SplitData:
    return SplitData(
        images=None if images is None else images[index], image_ids=cohort.image_ids[index],
        labels=cohort.labels[index], patient_ids=cohort.patient_ids[index],
    )


def _already_built(root: Path, expected: TaskMeta) -> bool:
    try:
        current = read_meta(root, expected.benchmark, expected.slug)
    except BundleError:
        return False
    hidden = task_dir(root, "hidden", expected.benchmark, expected.slug)
    return current == expected and hidden.is_dir()


def build_task(root: Path | str, spec: TaskSpec, *, seed: int = 0, image_size: int = 64,
               scale: float = 1.0, force: bool = False) -> TaskMeta:
    """Generate one task and write it; skipped when an identical task.json is already on disk."""
    from datasets.validate import check_split_rules  # validate imports bundle only; kept local

    root = Path(root)
    cohort = make_cohort(spec, rng_for(seed, spec.slug, "cohort"), scale)
    index = plan_splits(spec, cohort, seed)
    counts = {s: split_counts(_split_data(cohort, index[s], None)) for s in SPLITS}
    expected = task_meta(spec, seed=seed, image_size=image_size, counts=counts)
    if not force and _already_built(root, expected):
        return expected
    images = render_images(spec, cohort, rng_for(seed, spec.slug, "render"), image_size)
    splits = {s: _split_data(cohort, index[s], images) for s in SPLITS}
    problems = check_split_rules(expected, splits)
    if problems:
        raise BundleError(f"{spec.slug}: generated splits break the rules: " + "; ".join(problems))
    protocol = build_1k_protocol(
        len(index["train"]), len(index["val"]), seed=derive_seed(seed, spec.slug, "1k"),
        train_labels=splits["train"].labels, val_labels=splits["val"].labels,
    )
    return write_task(root, expected, splits, {"1k": protocol})


def build_benchmark(root: Path | str, *, seed: int = 0, image_size: int = 64, scale: float = 1.0,
                    tasks: list[str] | None = None, progress: Callable[[str], None] | None = None,
                    force: bool = False) -> list[TaskMeta]:
    """Write every synthetic task (or the named ``tasks``) under ``root``; returns their metadata.

    Deterministic: the same seed, size and scale give byte-identical arrays, and a task whose
    task.json already matches is left as it is unless ``force`` is set.
    """
    if scale <= 0:
        raise ValueError(f"scale must be positive, not {scale}")
    specs = [TASKS.get(name) for name in (tasks if tasks is not None else TASKS.names())]
    written = []
    for i, spec in enumerate(specs, start=1):
        if progress is not None:
            progress(f"[{i}/{len(specs)}] {BENCHMARK_SLUG}/{spec.slug}")
        written.append(build_task(root, spec, seed=seed, image_size=image_size, scale=scale,
                                  force=force))
    return written
