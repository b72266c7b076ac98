"""What participants download: the public ``.npz`` of a task and sample prediction submissions.

Only the public tree is read here (``load_split(..., hidden=False)``), so neither the download nor
the sample submission can carry a hidden label or a test patient id.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import numpy as np

from datasets.bundle import TEST_SPLITS, BundleError, TaskMeta, list_tasks, load_split

LABELLED_KEYS = ("images", "labels", "patient_ids", "image_ids")
TEST_KEYS = ("images", "image_ids")
PROB_DECIMALS = 6


def public_npz_arrays(root: Path | str, meta: TaskMeta) -> dict[str, np.ndarray]:
    """The download's arrays by key (MedMNIST-style names, ``<split>_<array>``)."""
    arrays: dict[str, np.ndarray] = {}
    for split in ("train", "val"):
        data = load_split(root, meta, split, hidden=False)
        for key in LABELLED_KEYS:
            arrays[f"{split}_{key}"] = np.asarray(getattr(data, key))
    if meta.test_images_public:
        for split in TEST_SPLITS:
            data = load_split(root, meta, split, hidden=False)
            for key in TEST_KEYS:
                arrays[f"{split}_{key}"] = np.asarray(getattr(data, key))
    return arrays


def _write_atomic(path: Path, write: Callable[[BinaryIO], None]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def export_public_npz(root: Path | str, meta: TaskMeta, out: Path | str | BinaryIO) -> None:
    """Write the task's public download (compressed ``.npz``) to a path (atomically) or a stream."""
    arrays = public_npz_arrays(root, meta)

    def write(handle: BinaryIO) -> None:
        np.savez_compressed(handle, **arrays)  # type: ignore[arg-type]

    if isinstance(out, str | Path):
        _write_atomic(Path(out), write)
    else:
        write(out)


def _uniform_row(meta: TaskMeta) -> list[str]:
    k = meta.num_classes
    if meta.label_type == "multilabel":
        return [f"{0.5:.{PROB_DECIMALS}f}"] * k
    # Rounded 1/K values may not sum to 1 within 1e-3 for large K; the last column takes the rest.
    share = round(1.0 / k, PROB_DECIMALS)
    last = round(1.0 - share * (k - 1), PROB_DECIMALS)
    return [f"{share:.{PROB_DECIMALS}f}"] * (k - 1) + [f"{last:.{PROB_DECIMALS}f}"]


def public_test_image_ids(root: Path | str, meta: TaskMeta) -> list[str]:
    """Public ids of the test images (test_id then test_ood); hidden test images raise."""
    if not meta.test_images_public:
        raise BundleError(
            f"{meta.slug}: test images are hidden, so this task takes checkpoint submissions only "
            "and has no sample predictions file"
        )
    ids: list[str] = []
    for split in TEST_SPLITS:
        ids += [str(i) for i in load_split(root, meta, split, hidden=False, images=False).image_ids]
    return ids


def sample_submission_csv(root: Path | str, meta: TaskMeta) -> str:
    """A valid predictions CSV with uniform probabilities for every test image of the task."""
    row = _uniform_row(meta)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["image_id", *meta.classes])
    for image_id in public_test_image_ids(root, meta):
        writer.writerow([image_id, *row])
    return buffer.getvalue()


def write_sample_submission_zip(
    root: Path | str, benchmark: str, out: Path | str | BinaryIO
) -> list[str]:
    """A predictions-track ``.zip`` of ``<task-slug>.csv`` for every task with public test images.

    Returns the slugs included; tasks whose test images are hidden are left out (they take
    checkpoint submissions only). Raises ``BundleError`` when no task qualifies.
    """
    metas = [m for m in list_tasks(root, benchmark) if m.test_images_public]
    if not metas:
        raise BundleError(
            f"benchmark {benchmark!r} has no task with public test images under {root}"
        )
    members = {f"{m.slug}.csv": sample_submission_csv(root, m) for m in metas}

    def write(handle: BinaryIO) -> None:
        with zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, text in members.items():
                archive.writestr(name, text)

    if isinstance(out, str | Path):
        _write_atomic(Path(out), write)
    else:
        write(out)
    return [m.slug for m in metas]
