"""Import a MedMNIST(+) ``.npz`` (``{train,val,test}_{images,labels}``) as a task bundle.

Three modes, chosen by what the source offers (see docs/formats.md, "Importers"):

* **patient**: patient-id arrays are given (``{train,val,test}_patient_ids``, in the same file or in
  ``patient_ids_npz``): all images are pooled and re-split by patient, ``ood_level = "patient"``.
* **site**: ``ood_from_test=True``: the official test split (a held-out site or centre in some
  MedMNIST sets) becomes ``test_ood``; part of the official train split becomes ``test_id``.
* **none**: otherwise the official test split becomes ``test_id`` and ``test_ood`` is empty.

Without patient ids every image is its own pseudo-patient (its patient id is its image id).

Images are streamed from the zip member by member, ``chunk_images`` at a time, into the staged
splits' files (see ``datasets.importers.writer``); labels and patient ids, small, are read whole.
A name from ``datasets/importers/medmnist_presets.toml`` (``preset="pathmnist"``) fills the task's
name, label type, classes, licence, citation, modality and OOD mode; explicit arguments win.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from datasets.bundle import StagedTask, TaskMeta
from datasets.importers.common import (
    DEFAULT_CHUNK_IMAGES,
    DatasetImportError,
    ImportSummary,
    OnSummary,
    Progress,
    ensure_absent,
    make_meta,
    resize_images,
)
from datasets.importers.npz_stream import Header, NpzReader
from datasets.importers.presets import Preset, get_preset, resolve_fields
from datasets.importers.writer import Pool, TaskWriter, with_size
from datasets.splits import build_patient_splits, holdout_test_id

SOURCE_SPLITS = ("train", "val", "test")
PATIENT_KEYS = tuple(f"{s}_patient_ids" for s in SOURCE_SPLITS)


def _image_header(npz: NpzReader, key: str) -> Header:
    """The images' header, checked before any pixel is read."""
    header = npz.header(key)
    shape = header.shape if len(header.shape) != 3 else (*header.shape, 1)
    if len(shape) != 4 or shape[3] not in (1, 3):
        raise DatasetImportError(
            f"{npz.path}: key {key!r}: expected images NxHxW or NxHxWx3, got shape "
            f"{tuple(header.shape)}"
        )
    if shape[1] < 2 or shape[2] < 2:
        raise DatasetImportError(
            f"{npz.path}: key {key!r}: shape {tuple(header.shape)} is not an image stack"
        )
    if header.dtype.kind not in "iu":
        raise DatasetImportError(
            f"{npz.path}: key {key!r}: images must be uint8 (0..255), not {header.dtype}"
        )
    return Header(key=key, shape=shape, dtype=header.dtype, fortran_order=header.fortran_order)


def _as_uint8(path: Path, key: str, chunk: np.ndarray, start: int) -> np.ndarray:
    if chunk.dtype == np.uint8:
        return chunk
    bad = np.flatnonzero(((chunk < 0) | (chunk > 255)).reshape(len(chunk), -1).any(axis=1))
    if len(bad):
        raise DatasetImportError(
            f"{path}: key {key!r}: images must be uint8 (0..255); image {start + int(bad[0])} "
            "has values outside"
        )
    return chunk.astype(np.uint8)


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


def _read_patients(npz: NpzReader, sizes: dict[str, int]) -> np.ndarray:
    parts = []
    for split in SOURCE_SPLITS:
        key = f"{split}_patient_ids"
        try:
            parts.append(_patients(key, npz.read(key), sizes[split]))
        except DatasetImportError as exc:
            raise DatasetImportError(_named(npz.path, exc)) from None
    return np.concatenate(parts)


def _named(path: Path, exc: DatasetImportError) -> str:
    text = str(exc)
    return text if text.startswith(str(path)) else f"{path}: {text}"


def _label_fit(npz: NpzReader, key: str, n: int, meta: TaskMeta, preset: Preset | None,
               preset_classes: bool) -> np.ndarray:
    try:
        return _labels(key, npz.read(key), n, meta.label_type, meta.num_classes)
    except DatasetImportError as exc:
        if preset is not None and preset_classes:
            reason = str(exc).removeprefix(f"key {key!r}: ")
            raise DatasetImportError(
                f"{npz.path}: key {key!r} does not fit {preset.describe()}: {reason}"
            ) from None
        raise DatasetImportError(_named(npz.path, exc)) from None


def _read_pool(
    npz: NpzReader, patient_npz: NpzReader | None, meta: TaskMeta, preset: Preset | None,
    preset_classes: bool,
) -> tuple[Pool, dict[str, Header]]:
    """Headers, labels and patient ids of every source split; no pixel is read."""
    headers: dict[str, Header] = {}
    labels = []
    for split in SOURCE_SPLITS:
        headers[split] = _image_header(npz, f"{split}_images")
        labels.append(_label_fit(npz, f"{split}_labels", headers[split].shape[0], meta, preset,
                                 preset_classes))
    shapes = {s: h.shape[1:] for s, h in headers.items()}
    if len(set(shapes.values())) > 1:
        raise DatasetImportError(f"{npz.path}: image shapes differ between splits: {shapes}")
    sizes = {s: h.shape[0] for s, h in headers.items()}
    inline = any(key in npz.keys for key in PATIENT_KEYS)
    source = patient_npz if patient_npz is not None else (npz if inline else None)
    patients = _read_patients(source, sizes) if source is not None else None
    pool = Pool(
        labels=np.concatenate(labels), patient_ids=patients, source_file=str(npz.path),
        source_key=np.repeat([f"{s}_images" for s in SOURCE_SPLITS], list(sizes.values())),
        source_index=np.concatenate([np.arange(n, dtype=np.int64) for n in sizes.values()]),
        source_path=np.full(sum(sizes.values()), "", dtype=str),
    )
    return pool, headers


def _plan(pool: Pool, sizes: list[int], mode: str, *, seed: int,
          fractions: dict[str, float]) -> dict[str, np.ndarray]:
    """Final splits as sorted indices into the pool (train, then val, then test rows)."""
    offsets = np.cumsum([0, *sizes])
    source = {s: np.arange(offsets[i], offsets[i + 1]) for i, s in enumerate(SOURCE_SPLITS)}
    if mode == "patient":
        return build_patient_splits(
            pool.patient_ids, pool.labels, seed=seed,  # type: ignore[arg-type]
            ood_fraction=fractions["ood"], test_id_fraction=fractions["test_id"],
            val_fraction=fractions["val"],
        )
    empty = np.zeros(0, dtype=np.int64)
    if mode == "site":
        kept, held = holdout_test_id(pool.labels[source["train"]], seed=seed,
                                     fraction=fractions["test_id"])
        return {"train": source["train"][kept], "val": source["val"],
                "test_id": source["train"][held], "test_ood": source["test"]}
    return {"train": source["train"], "val": source["val"], "test_id": source["test"],
            "test_ood": empty}


def _stream(npz: NpzReader, headers: dict[str, Header], writer: TaskWriter, size: int,
            chunk_images: int) -> None:
    start = 0
    for split in SOURCE_SPLITS:
        key, shape = headers[split].key, headers[split].shape[1:]
        first = start
        for chunk in npz.chunks(key, chunk_images):
            images = _as_uint8(npz.path, key, chunk.reshape((len(chunk), *shape)), start - first)
            writer.write(start, resize_images(images, size))
            start += len(chunk)


def _open_patients(path: Path | str | None) -> NpzReader | None:
    return None if path is None else NpzReader(path)


def _mode(real_patients: bool, ood_from_test: bool | None, preset: Preset | None) -> str:
    if real_patients:
        return "patient"
    if ood_from_test is None:
        ood_from_test = preset is not None and preset.ood_level == "site"
    return "site" if ood_from_test else "none"


def _check_preset_channels(npz: NpzReader, channels: int, preset: Preset | None) -> None:
    if preset is not None and channels != preset.n_channels:
        raise DatasetImportError(
            f"{npz.path}: key 'train_images' has {channels} channel(s) but {preset.describe()}"
        )


def import_medmnist(
    npz_path: Path | str,
    root: Path | str,
    *,
    benchmark: str,
    slug: str,
    name: str | None = None,
    modality: str | None = None,
    organ: str | None = None,
    label_type: str | None = None,
    classes: list[str] | tuple[str, ...] | None = None,
    source: str | None = None,
    license: str | None = None,
    citation: str | None = None,
    preset: str | None = None,
    seed: int = 0,
    ood_from_test: bool | None = None,
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
    chunk_images: int = DEFAULT_CHUNK_IMAGES,
    progress: Progress | None = None,
    on_summary: OnSummary | None = None,
) -> TaskMeta:
    """Import a MedMNIST-style ``.npz`` as task ``benchmark/slug`` under ``root``; return its meta.

    Raises ``DatasetImportError`` (naming the file and key at fault) and writes nothing on bad
    input. ``drop_duplicates`` drops images whose exact content already sits in an earlier split.
    ``ood_from_test`` None means: as the preset says (``site`` presets), else False.
    """
    began = time.monotonic()
    try:
        chosen = get_preset(preset) if preset is not None else None
    except DatasetImportError as exc:
        raise DatasetImportError(f"{npz_path}: preset: {exc}") from None
    given = dict(name=name, modality=modality, organ=organ, label_type=label_type,
                 classes=classes, source=source, license=license, citation=citation)
    fields = resolve_fields(chosen, given, str(npz_path))
    # Check the arguments before reading a possibly large file; size and channels come later.
    meta = make_meta(benchmark=benchmark, slug=slug, image_size=image_size or 28, channels=1,
                     ood_level="none", version=version, test_images_public=test_images_public,
                     description=description, **fields)
    ensure_absent(root, meta, overwrite)
    fractions = {"ood": ood_fraction, "test_id": test_id_fraction, "val": val_fraction}
    with NpzReader(npz_path) as npz:
        patient_npz = _open_patients(patient_ids_npz)
        try:
            pool, headers = _read_pool(npz, patient_npz, meta, chosen, classes is None)
        finally:
            if patient_npz is not None:
                patient_npz.close()
        native = headers["train"].shape[1:]
        if image_size is None and native[0] != native[1]:
            raise DatasetImportError(f"{npz_path}: images are {native[0]}x{native[1]}; "
                                     "give image_size to resize them to a square")
        _check_preset_channels(npz, int(native[2]), chosen)
        mode = _mode(pool.patient_ids is not None, ood_from_test, chosen)
        meta = with_size(meta, int(image_size or native[0]), int(native[2]), mode)
        try:
            plan = _plan(pool, [h.shape[0] for h in headers.values()], mode, seed=seed,
                         fractions=fractions)
        except ValueError as exc:
            raise DatasetImportError(f"{npz_path}: {exc}") from None
        with StagedTask(root, meta) as staged:
            writer = TaskWriter(staged, meta, plan, len(pool), progress)
            _stream(npz, headers, writer, meta.image_size, chunk_images)
            meta, dropped = writer.finish(pool, seed=seed, drop_duplicates=drop_duplicates)
    if on_summary is not None:
        on_summary(ImportSummary(meta=meta, source=str(npz_path), duplicates=dropped,
                                 seconds=time.monotonic() - began))
    return meta
