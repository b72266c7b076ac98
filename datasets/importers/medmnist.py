"""Import a MedMNIST(+) ``.npz`` (``{train,val,test}_{images,labels}``) as a task bundle.

Three modes, chosen by what the source offers (see docs/formats-bundles.md):

* **patient**: patient-id arrays are given (``{train,val,test}_patient_ids``, in the same file or in
  ``patient_ids_npz``): all images are pooled and re-split by patient, ``ood_level = "patient"``.
* **site**: ``ood_from_test=True``: the official test split (a held-out site or centre in some
  MedMNIST sets) becomes ``test_ood``; part of the official train split becomes ``test_id``.
* **none**: otherwise the official test split becomes ``test_id`` and ``test_ood`` is empty.

Without patient ids every image is its own pseudo-patient (its patient id is its image id).
"""

from __future__ import annotations

import dataclasses
import zipfile
from pathlib import Path

import numpy as np

from datasets.bundle import BundleError, SplitData, TaskMeta
from datasets.importers.common import (
    DatasetImportError,
    concat,
    drop_cross_split_duplicates,
    ensure_absent,
    finish,
    image_ids_for,
    make_meta,
    per_image_patients,
    resize_images,
    take,
)
from datasets.splits import build_patient_splits, holdout_test_id

SOURCE_SPLITS = ("train", "val", "test")
PATIENT_KEYS = tuple(f"{s}_patient_ids" for s in SOURCE_SPLITS)


def _open_npz(path: Path | str) -> np.lib.npyio.NpzFile:
    try:
        # Never allow pickle: an object array in a user's file must fail, not execute.
        return np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise DatasetImportError(f"{path}: no such file") from None
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise DatasetImportError(f"{path}: not a readable .npz archive ({exc})") from None


def _get(npz: np.lib.npyio.NpzFile, key: str, path: Path | str) -> np.ndarray:
    if key not in npz.files:
        raise DatasetImportError(
            f"{path}: missing key {key!r} (the file has: {', '.join(sorted(npz.files)) or 'none'})"
        )
    try:
        array = npz[key]
    except ValueError as exc:
        raise DatasetImportError(
            f"{path}: key {key!r} holds an object array, which is refused ({exc})"
        ) from None
    if array.dtype == object:
        raise DatasetImportError(f"{path}: key {key!r} holds an object array, which is refused")
    return array


def _images(key: str, array: np.ndarray) -> np.ndarray:
    if array.ndim == 3:
        array = array[..., None]
    if array.ndim != 4 or array.shape[3] not in (1, 3):
        raise DatasetImportError(
            f"key {key!r}: expected images NxHxW or NxHxWx3, got shape {tuple(array.shape)}"
        )
    if array.shape[1] < 2 or array.shape[2] < 2:
        raise DatasetImportError(f"key {key!r}: shape {tuple(array.shape)} is not an image stack")
    if array.dtype == np.uint8:
        return array
    if array.dtype.kind in "iu" and (array.size == 0 or (array.min() >= 0 and array.max() <= 255)):
        return array.astype(np.uint8)
    raise DatasetImportError(f"key {key!r}: images must be uint8 (0..255), not {array.dtype}")


def _labels(key: str, array: np.ndarray, n: int, label_type: str, k: int) -> np.ndarray:
    if len(array) != n:
        raise DatasetImportError(f"key {key!r} has {len(array)} rows but its images have {n}")
    if array.dtype.kind not in "iub":
        raise DatasetImportError(f"key {key!r}: labels must be integers, not {array.dtype}")
    if label_type == "multilabel":
        if array.ndim != 2 or array.shape[1] != k:
            raise DatasetImportError(
                f"key {key!r}: multilabel labels must be Nx{k}, got shape {tuple(array.shape)}"
            )
        bad = np.flatnonzero(((array != 0) & (array != 1)).any(axis=1))
        if len(bad):
            raise DatasetImportError(f"key {key!r}: labels must be 0/1 (row {int(bad[0])})")
        return array.astype(np.uint8)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1:
        raise DatasetImportError(
            f"key {key!r}: {label_type} labels must be N or Nx1, got shape {tuple(array.shape)}"
        )
    bad = np.flatnonzero((array < 0) | (array >= k))
    if len(bad):
        raise DatasetImportError(
            f"key {key!r}: label {int(array[bad[0]])} at row {int(bad[0])} is outside [0, {k}) "
            f"({len(bad)} labels out of range)"
        )
    return array.astype(np.int64)


def _patients(key: str, array: np.ndarray, n: int) -> np.ndarray:
    if array.ndim != 1 or len(array) != n:
        raise DatasetImportError(
            f"key {key!r}: expected {n} patient ids (1-D), got shape {tuple(array.shape)}"
        )
    if array.dtype.kind not in "iuUS":
        raise DatasetImportError(f"key {key!r}: patient ids must be strings or integers")
    ids = array.astype(str)
    if len(ids) and (np.char.strip(ids) == "").any():
        row = int(np.argmax(np.char.strip(ids) == ""))
        raise DatasetImportError(f"key {key!r}: empty patient id at row {row}")
    return ids


def _read_sources(
    npz_path: Path | str, patient_ids_npz: Path | str | None, label_type: str, k: int
) -> tuple[dict[str, SplitData], bool]:
    """The official splits (ids still unset) and whether real patient ids came with them."""
    sources: dict[str, SplitData] = {}
    with _open_npz(npz_path) as npz:
        for split in SOURCE_SPLITS:
            images = _images(f"{split}_images", _get(npz, f"{split}_images", npz_path))
            labels = _labels(f"{split}_labels", _get(npz, f"{split}_labels", npz_path),
                             len(images), label_type, k)
            # Provisional ids (source index) until the final splits are named.
            ids = np.array([f"{split}:{i}" for i in range(len(images))], dtype=str)
            sources[split] = SplitData(images=images, image_ids=ids, labels=labels)
        has_inline = any(key in npz.files for key in PATIENT_KEYS)
        if has_inline and patient_ids_npz is None:
            _attach_patients(sources, npz, npz_path)
    if patient_ids_npz is not None:
        with _open_npz(patient_ids_npz) as pnpz:
            _attach_patients(sources, pnpz, patient_ids_npz)
    shapes = {s: d.images.shape[1:] for s, d in sources.items()}  # type: ignore[union-attr]
    if len(set(shapes.values())) > 1:
        raise DatasetImportError(f"{npz_path}: image shapes differ between splits: {shapes}")
    return sources, has_inline or patient_ids_npz is not None


def _attach_patients(
    sources: dict[str, SplitData], npz: np.lib.npyio.NpzFile, path: Path | str
) -> None:
    for split in SOURCE_SPLITS:
        key = f"{split}_patient_ids"
        n = len(sources[split].image_ids)
        sources[split].patient_ids = _patients(key, _get(npz, key, path), n)


def _empty_like(data: SplitData) -> SplitData:
    return take(data, np.zeros(0, dtype=np.int64))


def _split_by_mode(
    sources: dict[str, SplitData], mode: str, *, seed: int, fractions: dict[str, float]
) -> dict[str, SplitData]:
    if mode == "patient":
        pooled = concat([sources[s] for s in SOURCE_SPLITS])
        idx = build_patient_splits(
            pooled.patient_ids, pooled.labels, seed=seed,  # type: ignore[arg-type]
            ood_fraction=fractions["ood"], test_id_fraction=fractions["test_id"],
            val_fraction=fractions["val"],
        )
        return {s: take(pooled, i) for s, i in idx.items()}
    if mode == "site":
        kept, held = holdout_test_id(sources["train"].labels, seed=seed,  # type: ignore[arg-type]
                                     fraction=fractions["test_id"])
        return {"train": take(sources["train"], kept), "val": sources["val"],
                "test_id": take(sources["train"], held), "test_ood": sources["test"]}
    return {"train": sources["train"], "val": sources["val"], "test_id": sources["test"],
            "test_ood": _empty_like(sources["test"])}


def _name_images(slug: str, splits: dict[str, SplitData], real_patients: bool) -> None:
    for split, data in splits.items():
        data.image_ids = image_ids_for(slug, split, len(data.labels))  # type: ignore[arg-type]
        if not real_patients:
            data.patient_ids = per_image_patients(data.image_ids)


def import_medmnist(
    npz_path: Path | str,
    root: Path | str,
    *,
    benchmark: str,
    slug: str,
    name: str,
    modality: str,
    organ: str,
    label_type: str,
    classes: list[str] | tuple[str, ...],
    source: str,
    license: str,
    citation: str,
    seed: int = 0,
    ood_from_test: bool = False,
    image_size: int | None = None,
    version: str = "1",
    patient_ids_npz: Path | str | None = None,
    test_images_public: bool = True,
    ood_fraction: float = 0.2,
    test_id_fraction: float = 0.2,
    val_fraction: float = 0.1,
    drop_duplicates: bool = False,
    overwrite: bool = False,
    description: str = "",
) -> TaskMeta:
    """Import a MedMNIST-style ``.npz`` as task ``benchmark/slug`` under ``root``; return its meta.

    Raises ``DatasetImportError`` (naming the key at fault) and writes nothing on bad input.
    ``drop_duplicates`` drops images whose exact content already sits in an earlier split.
    """
    # Check the arguments before reading a possibly large file; size and channels come later.
    meta = make_meta(
        benchmark=benchmark, slug=slug, name=name, modality=modality, organ=organ,
        label_type=label_type, classes=classes, image_size=image_size or 28, channels=1,
        ood_level="none", source=source, license=license, citation=citation, version=version,
        test_images_public=test_images_public, description=description,
    )
    ensure_absent(root, meta, overwrite)
    sources, real_patients = _read_sources(npz_path, patient_ids_npz, label_type, len(classes))
    native = sources["train"].images.shape[1:]  # type: ignore[union-attr]
    if image_size is None and native[0] != native[1]:
        raise DatasetImportError(f"{npz_path}: images are {native[0]}x{native[1]}; "
                                 "give image_size to resize them to a square")
    size = int(image_size or native[0])
    mode = "patient" if real_patients else ("site" if ood_from_test else "none")
    meta = dataclasses.replace(meta, image_size=size, channels=int(native[2]), ood_level=mode)
    try:
        meta.check(where=f"task {slug}")
    except BundleError as exc:
        raise DatasetImportError(str(exc)) from None
    for data in sources.values():
        data.images = resize_images(data.images, size)  # type: ignore[arg-type]
    fractions = {"ood": ood_fraction, "test_id": test_id_fraction, "val": val_fraction}
    try:
        splits = _split_by_mode(sources, mode, seed=seed, fractions=fractions)
    except ValueError as exc:
        raise DatasetImportError(str(exc)) from None
    if drop_duplicates:
        splits, _ = drop_cross_split_duplicates(splits)
    _name_images(slug, splits, real_patients)
    return finish(root, meta, splits, seed=seed)
