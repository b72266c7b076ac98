"""What both importers share: the error type, metadata, resizing and the checked, atomic write."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from datasets.bundle import SPLITS, BundleError, SplitData, TaskMeta, task_dir, write_task
from datasets.splits import build_1k_protocol
from datasets.validate import check_split_rules

PRIMARY_METRIC = {
    "binary": "auroc", "multiclass": "accuracy", "ordinal": "accuracy", "multilabel": "auroc",
}


class DatasetImportError(ValueError):
    """The input cannot become a task; the message names the key, row or column at fault."""


OnSummary = Callable[["ImportSummary"], None]
# Called as progress(done, total) while images are copied, so a caller can draw a progress bar.
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class ImportSummary:
    """What one import wrote: counts per split, duplicates dropped and the time it took.

    ``import_medmnist`` and ``import_manifest`` return the task's ``TaskMeta`` as before and hand
    this summary to their ``on_summary`` callback (keyword argument) when one is given; their
    ``progress`` keyword takes a ``Progress`` callback.

    ``duplicates`` maps ``(kept_in, dropped_from)`` split pairs, e.g. ``("train", "test_id")``,
    to the number of images dropped from the second split because the first already held them.
    """

    meta: TaskMeta
    source: str
    seconds: float
    duplicates: dict[tuple[str, str], int] = field(default_factory=dict)

    @property
    def images(self) -> dict[str, int]:
        return {s: c.n_images for s, c in self.meta.splits.items()}

    @property
    def patients(self) -> dict[str, int]:
        return {s: c.n_patients for s, c in self.meta.splits.items()}

    @property
    def duplicates_dropped(self) -> int:
        return sum(self.duplicates.values())


def make_meta(
    *, benchmark: str, slug: str, name: str, modality: str, organ: str, label_type: str,
    classes: list[str] | tuple[str, ...], image_size: int, channels: int, ood_level: str,
    source: str, license: str, citation: str, version: str = "1",
    test_images_public: bool = True, description: str = "",
) -> TaskMeta:
    """Build and check a task's metadata before any image is read, so bad arguments fail fast."""
    if label_type not in PRIMARY_METRIC:
        raise DatasetImportError(
            f"label_type {label_type!r} is not one of {', '.join(PRIMARY_METRIC)}"
        )
    meta = TaskMeta(
        slug=slug, name=name, benchmark=benchmark, modality=modality, organ=organ,
        label_type=label_type, classes=tuple(str(c) for c in classes), image_size=int(image_size),
        channels=int(channels), primary_metric=PRIMARY_METRIC[label_type], version=str(version),
        source=source, license=license, citation=citation, test_images_public=test_images_public,
        ood_level=ood_level, synthetic=False, description=description,
    )
    try:
        meta.check(where=f"task {slug}")
    except BundleError as exc:
        raise DatasetImportError(str(exc)) from None
    return meta


def resize_images(images: np.ndarray, size: int) -> np.ndarray:
    """Resize NxHxWxC uint8 images to NxsizexsizexC (Lanczos), a no-op when already that size."""
    if images.shape[1:3] == (size, size):
        return images
    channels = images.shape[3]
    out = np.empty((len(images), size, size, channels), dtype=np.uint8)
    for i, image in enumerate(images):
        pil = Image.fromarray(image[..., 0] if channels == 1 else image)
        resized = np.asarray(pil.resize((size, size), Image.Resampling.LANCZOS), dtype=np.uint8)
        out[i] = resized.reshape(size, size, channels)
    return out


def per_image_patients(image_ids: np.ndarray) -> np.ndarray:
    """Sources without patient ids get one pseudo-patient per image, named after the image."""
    return np.asarray(image_ids, dtype=str).copy()


def image_ids_for(slug: str, split: str, n: int) -> np.ndarray:
    return np.array([f"{slug}_{split}_{i}" for i in range(n)], dtype=str)


def ensure_absent(root: Path | str, meta: TaskMeta, overwrite: bool) -> None:
    trees = ("public", "hidden")
    exists = any(task_dir(root, t, meta.benchmark, meta.slug).exists() for t in trees)
    if exists and not overwrite:
        raise DatasetImportError(
            f"task {meta.benchmark}/{meta.slug} already exists under {root}; pass overwrite=True "
            "to replace it"
        )


def finish(
    root: Path | str, meta: TaskMeta, splits: dict[str, SplitData], *, seed: int
) -> TaskMeta:
    """Check the split rules, add the 1k protocol and write the task atomically."""
    problems = check_split_rules(meta, splits)
    if problems:
        if any(p.startswith("identical images") for p in problems):
            problems.append("drop_duplicates=True keeps only the copy in the earliest split")
        raise DatasetImportError(f"task {meta.slug} breaks the split rules: " + "; ".join(problems))
    protocol = build_1k_protocol(
        len(splits["train"]), len(splits["val"]), seed=seed,
        train_labels=splits["train"].labels, val_labels=splits["val"].labels,
    )
    try:
        return write_task(root, meta, {s: splits[s] for s in SPLITS}, {"1k": protocol})
    except BundleError as exc:
        raise DatasetImportError(str(exc)) from None


def _rows(array: np.ndarray | None, idx: np.ndarray) -> np.ndarray | None:
    return None if array is None else array[idx]


def take(data: SplitData, idx: np.ndarray) -> SplitData:
    """Rows ``idx`` of every array a split has."""
    return SplitData(
        images=_rows(data.images, idx), image_ids=data.image_ids[idx],
        labels=_rows(data.labels, idx), patient_ids=_rows(data.patient_ids, idx),
    )


def _join(arrays: list[np.ndarray | None]) -> np.ndarray | None:
    return None if any(a is None for a in arrays) else np.concatenate(arrays)  # type: ignore[arg-type]


def concat(parts: list[SplitData]) -> SplitData:
    return SplitData(
        images=_join([p.images for p in parts]),
        image_ids=np.concatenate([p.image_ids for p in parts]),
        labels=_join([p.labels for p in parts]),
        patient_ids=_join([p.patient_ids for p in parts]),
    )


def drop_cross_split_duplicates(splits: dict[str, SplitData]) -> tuple[dict[str, SplitData], int]:
    """Drop images whose exact content already sits in an earlier split (train, val, test_id, ...).

    Real sources sometimes hold the same (e.g. blank) image in two official splits; the split rules
    forbid it, and the copy in the earlier (training-side) split is the one kept.
    """
    from datasets.validate import image_digests

    seen = np.zeros(0, dtype="S16")
    out: dict[str, SplitData] = {}
    dropped = 0
    for split in SPLITS:
        data = splits[split]
        digests = image_digests(data.images)  # type: ignore[arg-type]
        keep = ~np.isin(digests, seen)
        dropped += int((~keep).sum())
        out[split] = take(data, np.flatnonzero(keep))
        seen = np.union1d(seen, digests)
    return out, dropped
