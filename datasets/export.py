"""What participants download: the public ``.npz`` of a task and sample prediction submissions.

Only the public tree is read here (``load_split(..., hidden=False)``), so neither the download nor
the sample submission can carry a hidden label or a test patient id. The download is read back by
:func:`read_public_npz`, so the starter kit trains from the same file a participant has
(layout: docs/formats.md, "Participant download").
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np

from datasets.bundle import (
    LABELLED_PUBLIC_SPLITS,
    PROTOCOL_1K_SIZES,
    TEST_SPLITS,
    BundleError,
    SplitData,
    TaskMeta,
    list_tasks,
    load_protocol,
    load_split,
    task_dir,
)

# Bump when keys change: it is written into every download, and the server's export cache names
# its files with it, so a cached export of an older layout is never served.
NPZ_FORMAT = "medvtab-download/1"
LABELLED_KEYS = ("images", "labels", "patient_ids", "image_ids")
TEST_KEYS = ("images", "image_ids")
PROTOCOL_KEYS = {"1k": tuple(PROTOCOL_1K_SIZES)}
PROB_DECIMALS = 6


@dataclass(frozen=True)
class PublicTask:
    """A task as a participant sees it: metadata, protocol indices and the public splits (loaded
    on demand, so a caller that needs only the test images never reads the training set)."""

    meta: TaskMeta
    protocols: dict[str, dict[str, np.ndarray]]
    load: Callable[[str], SplitData] = field(repr=False)

    def split(self, name: str) -> SplitData:
        if name in TEST_SPLITS and not self.meta.test_images_public:
            raise BundleError(f"{self.meta.slug}: test images are hidden; they are not downloadable")
        return self.load(name)

    def protocol(self, name: str) -> dict[str, np.ndarray] | None:
        """Index arrays of ``name`` (``None`` for ``full``); a missing protocol is an error."""
        if name == "full":
            return None
        if name not in self.protocols:
            raise BundleError(f"{self.meta.slug}: this task has no {name!r} protocol indices")
        return self.protocols[name]



def public_splits(meta: TaskMeta) -> tuple[str, ...]:
    return LABELLED_PUBLIC_SPLITS + (TEST_SPLITS if meta.test_images_public else ())


def split_keys(split: str) -> tuple[str, ...]:
    """The arrays a split has in a download (test splits carry no labels or patient ids)."""
    return LABELLED_KEYS if split in LABELLED_PUBLIC_SPLITS else TEST_KEYS


def public_task(root: Path | str, meta: TaskMeta) -> PublicTask:
    """The task from the public tree of a bundle (images memory-mapped)."""
    base = task_dir(root, "public", meta.benchmark, meta.slug) / "protocols"
    protocols = {p: load_protocol(root, meta, p) or {} for p in PROTOCOL_KEYS if (base / p).is_dir()}
    return PublicTask(meta, protocols, lambda split: load_split(root, meta, split, hidden=False))


def _text(value: str) -> np.ndarray:
    return np.array(value, dtype=np.str_)


def npz_arrays(task: PublicTask) -> dict[str, np.ndarray]:
    """The download's arrays by key: MedMNIST-style ``<split>_<array>``, the protocol indices
    (``protocol_<name>_<subset>``) and the metadata as 0-d unicode arrays (``task_*``)."""
    meta = task.meta
    arrays = {"format": _text(NPZ_FORMAT), "task_json": _text(json.dumps(meta.to_json(),
                                                                         sort_keys=True)),
              "task_slug": _text(meta.slug), "task_benchmark": _text(meta.benchmark),
              "task_version": _text(meta.version), "task_label_type": _text(meta.label_type),
              "task_classes": np.array(meta.classes, dtype=np.str_)}
    for split in public_splits(meta):
        data = task.split(split)
        for key in split_keys(split):
            arrays[f"{split}_{key}"] = np.asarray(getattr(data, key))
    for name, subsets in task.protocols.items():
        for subset, idx in subsets.items():
            arrays[f"protocol_{name}_{subset}"] = np.asarray(idx, dtype=np.int64)
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
    arrays = npz_arrays(public_task(root, meta))

    def write(handle: BinaryIO) -> None:
        np.savez_compressed(handle, **arrays)  # type: ignore[arg-type]

    if isinstance(out, str | Path):
        _write_atomic(Path(out), write)
    else:
        write(out)


def _open_npz(path: Path) -> np.lib.npyio.NpzFile:
    if not path.is_file():
        raise BundleError(f"{path}: no such file")
    if not zipfile.is_zipfile(path):
        raise BundleError(f"{path}: not an .npz file (a task download is a zip of .npy arrays)")
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise BundleError(f"{path}: cannot be read as an .npz file ({exc})") from None


def _npz_array(npz: np.lib.npyio.NpzFile, key: str, where: Path) -> np.ndarray:
    try:
        return np.asarray(npz[key])
    except KeyError:
        raise BundleError(f"{where}: missing key {key!r}") from None
    except ValueError:  # object arrays: numpy refuses to unpickle them with allow_pickle=False
        raise BundleError(f"{where}: {key!r} holds Python objects; only plain arrays are read") from None
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise BundleError(f"{where}: {key!r} is damaged ({exc})") from None


def _npz_text(npz: np.lib.npyio.NpzFile, key: str, where: Path) -> str:
    value = _npz_array(npz, key, where)
    if value.ndim != 0 or value.dtype.kind != "U":
        raise BundleError(f"{where}: {key!r} must be a 0-d unicode array")
    return str(value)


def _npz_indices(npz: np.lib.npyio.NpzFile, key: str, where: Path) -> np.ndarray:
    value = _npz_array(npz, key, where)
    if value.ndim != 1 or value.dtype.kind not in "iu":
        raise BundleError(f"{where}: {key!r} must be a 1-d integer array")
    return value.astype(np.int64)


def _npz_meta(npz: np.lib.npyio.NpzFile, where: Path) -> TaskMeta:
    if "task_json" not in npz.files:
        raise BundleError(
            f"{where}: no task metadata (key 'task_json'); it is not a task download, or one made "
            "before downloads carried their metadata: download the task again"
        )
    found = _npz_text(npz, "format", where)
    if found != NPZ_FORMAT:
        raise BundleError(f"{where}: format {found!r} is not {NPZ_FORMAT!r}")
    try:
        data = json.loads(_npz_text(npz, "task_json", where))
    except json.JSONDecodeError as exc:
        raise BundleError(f"{where}: 'task_json' is not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise BundleError(f"{where}: 'task_json' must hold a JSON object")
    return TaskMeta.from_json(data, where=f"{where} (task_json)")


def _read_split(path: Path, split: str) -> SplitData:
    with _open_npz(path) as npz:
        arrays = {key: _npz_array(npz, f"{split}_{key}", path) for key in split_keys(split)}
    lengths = {key: len(value) for key, value in arrays.items()}
    if len(set(lengths.values())) > 1:
        raise BundleError(f"{path}: the {split} arrays differ in length ({lengths})")
    images = arrays["images"]
    if images.dtype != np.uint8 or images.ndim != 4:
        raise BundleError(f"{path}: {split}_images must be uint8 N x H x W x C, not "
                          f"{images.dtype} with shape {images.shape}")
    return SplitData(**arrays)


def read_public_npz(path: Path | str) -> PublicTask:
    """Open a task download (``allow_pickle=False``): metadata and protocol indices now, each
    split when asked for. Raises ``BundleError`` naming the file and key at fault."""
    path = Path(path)
    with _open_npz(path) as npz:
        meta = _npz_meta(npz, path)
        missing = [f"{s}_{k}" for s in public_splits(meta) for k in split_keys(s)
                   if f"{s}_{k}" not in npz.files]
        if missing:
            raise BundleError(f"{path}: missing key(s) {', '.join(missing)}")
        protocols = {
            name: {s: _npz_indices(npz, f"protocol_{name}_{s}", path) for s in subsets}
            for name, subsets in PROTOCOL_KEYS.items()
            if any(f"protocol_{name}_{s}" in npz.files for s in subsets)
        }
    return PublicTask(meta, protocols, lambda split: _read_split(path, split))


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
