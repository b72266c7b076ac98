"""What both importers share: the error type, metadata, resizing and the checked, atomic write."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from datasets.bundle import BundleError, TaskMeta, task_dir

# Images per chunk of a streamed import (MEDVTAB_IMPORT_CHUNK_IMAGES for the commands): memory
# holds about two chunks of pixels, e.g. 256 x 224 x 224 x 3 bytes = 37 MiB each.
DEFAULT_CHUNK_IMAGES = 256

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
            f"task {meta.benchmark}/{meta.slug} already exists under {root}; import with "
            "--overwrite (overwrite=True) to replace it"
        )
