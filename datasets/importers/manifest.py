"""Import a CSV manifest of image files (``path,label|labels,patient_id[,split]``) as a task bundle.

Rows are checked first (columns, labels, paths, split names, patient rules of fixed splits), then
the PNG/JPEG files are decoded with Pillow, converted to ``L`` or ``RGB`` and resized to
``image_size``.
Every problem names the file's line number and column; nothing is written unless all is well.
Images are decoded in a process pool (``workers``), ``chunk_images`` per task, and streamed into
the staged splits' files (``datasets.importers.writer``), so memory does not grow with the row count.
"""

from __future__ import annotations

import csv
import multiprocessing
import os
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from datasets.bundle import SPLITS, StagedTask, TaskMeta
from datasets.importers.common import (
    DEFAULT_CHUNK_IMAGES,
    DatasetImportError,
    ImportSummary,
    OnSummary,
    Progress,
    ensure_absent,
    make_meta,
)
from datasets.importers.writer import Pool, TaskWriter
from datasets.splits import build_patient_splits

REQUIRED = ("path", "patient_id")
IMAGE_FORMATS = ["PNG", "JPEG"]
MAX_LISTED = 20


@dataclass(slots=True)  # one per manifest row: no per-instance dict
class Row:
    line: int
    path: Path
    label: np.ndarray  # int64 scalar array or uint8 K vector
    patient_id: str
    split: str | None
    raw_path: str  # as the manifest writes it, kept for the provenance file


class _Problems:
    def __init__(self, where: str) -> None:
        self.where = where
        self.items: list[str] = []

    def add(self, line: int, column: str, message: str) -> None:
        self.items.append(f"line {line}, column {column}: {message}")

    def raise_any(self) -> None:
        if not self.items:
            return
        shown = self.items[:MAX_LISTED]
        more = f"; and {len(self.items) - MAX_LISTED} more" if len(self.items) > MAX_LISTED else ""
        raise DatasetImportError(f"{self.where}: " + "; ".join(shown) + more)


def _parse_one(value: str, classes: tuple[str, ...]) -> int | None:
    value = value.strip()
    if value in classes:
        return classes.index(value)
    if value.isdigit() and int(value) < len(classes):
        return int(value)
    return None


def _parse_label(value: str, label_type: str, classes: tuple[str, ...]) -> np.ndarray | str:
    """The label array, or a message saying what is wrong with ``value``."""
    known = ", ".join(classes)
    if label_type != "multilabel":
        index = _parse_one(value, classes)
        if index is None:
            return f"unknown label {value.strip()!r} (classes: {known}, or 0..{len(classes) - 1})"
        return np.array(index, dtype=np.int64)
    vector = np.zeros(len(classes), dtype=np.uint8)
    for part in (p for p in value.split(";") if p.strip()):
        index = _parse_one(part, classes)
        if index is None:
            return f"unknown label {part.strip()!r} (labels: {known}, or 0..{len(classes) - 1})"
        vector[index] = 1
    return vector


def _read_header(reader: csv.DictReader, where: str) -> str:
    header = [h.strip() for h in (reader.fieldnames or [])]
    if not header:
        raise DatasetImportError(f"{where}: the manifest is empty (no header line)")
    label_columns = [c for c in ("label", "labels") if c in header]
    missing = [c for c in REQUIRED if c not in header]
    if not label_columns:
        missing.insert(1, "label (or labels)")
    if missing:
        raise DatasetImportError(
            f"{where}: line 1: missing column(s) {', '.join(missing)} "
            f"(header is: {', '.join(header)})"
        )
    if len(label_columns) > 1:
        raise DatasetImportError(
            f"{where}: line 1: give either a label or a labels column, not both"
        )
    reader.fieldnames = header
    return label_columns[0]


def _read_rows(
    manifest: Path, base: Path, label_type: str, classes: tuple[str, ...]
) -> list[Row]:
    problems = _Problems(str(manifest))
    rows: list[Row] = []
    seen: dict[Path, int] = {}
    try:
        handle = manifest.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise DatasetImportError(f"{manifest}: cannot read the manifest ({exc})") from None
    with handle:
        reader = csv.DictReader(handle)
        label_column = _read_header(reader, str(manifest))
        has_split = "split" in reader.fieldnames  # type: ignore[operator]
        for record in reader:
            line = reader.line_num
            row = _parse_row(record, line, base, label_column, has_split, label_type, classes,
                             problems)
            if row is None:
                continue
            if row.path in seen:
                problems.add(line, "path", f"duplicate of line {seen[row.path]} ({row.path})")
                continue
            seen[row.path] = line
            rows.append(row)
    problems.raise_any()
    if not rows:
        raise DatasetImportError(f"{manifest}: the manifest has a header but no rows")
    return rows


def _parse_row(
    record: dict[str, str | None], line: int, base: Path, label_column: str, has_split: bool,
    label_type: str, classes: tuple[str, ...], problems: _Problems,
) -> Row | None:
    ok = True
    if None in record or any(record.get(c) is None for c in (*REQUIRED, label_column)):
        problems.add(line, "-", "wrong number of fields")
        return None
    raw_path = (record["path"] or "").strip()
    path = (base / raw_path).resolve()
    if not raw_path:
        problems.add(line, "path", "empty path")
        ok = False
    elif not path.is_file():
        problems.add(line, "path", f"no such image file {raw_path!r}")
        ok = False
    label = _parse_label(record[label_column] or "", label_type, classes)
    if isinstance(label, str):
        problems.add(line, label_column, label)
        ok = False
    patient = (record["patient_id"] or "").strip()
    if not patient:
        problems.add(line, "patient_id", "empty patient id")
        ok = False
    split = (record.get("split") or "").strip() if has_split else None
    if has_split and split not in SPLITS:
        problems.add(line, "split", f"split {split!r} is not one of {', '.join(SPLITS)}")
        ok = False
    if not ok:
        return None
    return Row(line=line, path=path, label=label, patient_id=patient, split=split,  # type: ignore[arg-type]
               raw_path=raw_path)


def _check_fixed_patients(rows: list[Row], where: str) -> None:
    """With a split column and ood_level "patient", patients may not cross the OOD boundary."""
    problems = _Problems(where)
    first_line: dict[tuple[str, str], int] = {}
    for row in rows:
        first_line.setdefault((row.patient_id, row.split or ""), row.line)
    for row in rows:
        if row.split == "test_ood":
            for other in ("train", "val", "test_id"):
                if (row.patient_id, other) in first_line:
                    problems.add(row.line, "patient_id",
                                 f"patient {row.patient_id!r} is in test_ood but also in {other} "
                                 f"(line {first_line[(row.patient_id, other)]})")
        if row.split == "test_id" and (row.patient_id, "train") not in first_line:
            problems.add(row.line, "patient_id",
                         f"patient {row.patient_id!r} is in test_id but has no train image")
    problems.raise_any()


def default_workers() -> int:
    return max(1, min(2, os.cpu_count() or 1))


def decode_images(
    paths: list[Path], size: int, channels: int
) -> tuple[np.ndarray, list[tuple[int, str]]]:
    """Decode, convert and resize images; problems as (position, message), the image left black.

    Runs in a pool worker, so it takes and returns only plain, picklable values.
    """
    images = np.zeros((len(paths), size, size, channels), dtype=np.uint8)
    mode = "L" if channels == 1 else "RGB"
    problems = []
    for i, path in enumerate(paths):
        try:
            with Image.open(path, formats=IMAGE_FORMATS) as image:
                converted = image.convert(mode)
                if converted.size != (size, size):
                    converted = converted.resize((size, size), Image.Resampling.LANCZOS)
                images[i] = np.asarray(converted, dtype=np.uint8).reshape(size, size, channels)
        except (OSError, ValueError, Image.DecompressionBombError) as exc:
            problems.append((i, f"cannot read image {path.name!r} as PNG/JPEG ({exc})"))
    return images, problems


Decoded = tuple[np.ndarray, list[tuple[int, str]]]


def _decoded_chunks(
    paths: list[Path], size: int, channels: int, chunk: int, workers: int
) -> Iterator[tuple[int, Decoded]]:
    """``(start, decoded chunk)`` in order; at most two chunks per worker are in flight."""
    starts = iter(range(0, len(paths), max(1, chunk)))
    if workers <= 1 or len(paths) <= chunk:  # one chunk: starting processes would only cost
        for start in starts:
            yield start, decode_images(paths[start:start + chunk], size, channels)
        return
    # spawn, not fork: the caller may be a threaded server process.
    executor = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
    pending: deque[tuple[int, Future[Decoded]]] = deque()

    def submit() -> None:
        start = next(starts, None)
        if start is not None:
            pending.append((start, executor.submit(
                decode_images, paths[start:start + chunk], size, channels)))

    try:
        for _ in range(2 * workers):
            submit()
        while pending:
            start, future = pending.popleft()
            result = future.result()
            submit()
            yield start, result
    finally:
        executor.shutdown(wait=True, cancel_futures=True)


def _stream_images(rows: list[Row], writer: TaskWriter, meta: TaskMeta, where: str, *,
                   chunk: int, workers: int) -> None:
    problems = _Problems(where)
    paths = [r.path for r in rows]
    try:
        for start, (images, bad) in _decoded_chunks(paths, meta.image_size, meta.channels, chunk,
                                                    workers):
            for i, message in bad:
                problems.add(rows[start + i].line, "path", message)
            writer.write(start, images)
    except BrokenProcessPool as exc:
        # E.g. out of memory, or a script without the ``if __name__ == "__main__":`` guard that
        # spawned processes need.
        raise DatasetImportError(
            f"{where}: an image-decoding process died ({exc}); try again with workers=1 "
            "(--workers 1)"
        ) from None
    problems.raise_any()


def _split_indices(
    rows: list[Row], labels: np.ndarray, *, seed: int, ood_level: str,
    fractions: dict[str, float], where: str,
) -> dict[str, np.ndarray]:
    if rows[0].split is not None:
        if ood_level == "patient":
            _check_fixed_patients(rows, where)
        names = np.array([r.split for r in rows])
        return {s: np.flatnonzero(names == s).astype(np.int64) for s in SPLITS}
    if ood_level == "site":
        raise DatasetImportError(f"{where}: ood_level 'site' needs a split column naming test_ood")
    patients = np.array([r.patient_id for r in rows])
    return build_patient_splits(
        patients, labels, seed=seed,
        ood_fraction=fractions["ood"] if ood_level == "patient" else 0.0,
        test_id_fraction=fractions["test_id"], val_fraction=fractions["val"],
    )


def _pool(rows: list[Row], manifest: Path) -> Pool:
    return Pool(
        labels=np.stack([r.label for r in rows]),
        patient_ids=np.array([r.patient_id for r in rows], dtype=str),
        source_file=str(manifest), source_key=np.full(len(rows), "", dtype=str),
        source_index=np.array([r.line for r in rows], dtype=np.int64),
        source_path=np.array([r.raw_path for r in rows], dtype=str),
    )


def import_manifest(
    manifest_csv: Path | str,
    root: Path | str,
    *,
    benchmark: str,
    slug: str,
    name: str,
    modality: str,
    organ: str,
    label_type: str,
    classes: list[str] | tuple[str, ...],
    image_size: int,
    channels: int,
    source: str,
    license: str,
    citation: str,
    seed: int = 0,
    base_dir: Path | str | None = None,
    version: str = "1",
    ood_level: str = "patient",
    test_images_public: bool = True,
    ood_fraction: float = 0.2,
    test_id_fraction: float = 0.2,
    val_fraction: float = 0.1,
    overwrite: bool = False,
    description: str = "",
    drop_duplicates: bool = False,
    chunk_images: int = DEFAULT_CHUNK_IMAGES,
    workers: int | None = None,
    progress: Progress | None = None,
    on_summary: OnSummary | None = None,
) -> TaskMeta:
    """Import the images a CSV manifest lists as task ``benchmark/slug`` under ``root``.

    Paths are relative to ``base_dir`` (default: the manifest's folder). Without a ``split`` column
    the splits are built by patient (``build_patient_splits``); with one, it is used as given.
    ``workers`` decode processes (default ``min(2, cpus)``; 1 decodes in this process).
    """
    began = time.monotonic()
    manifest = Path(manifest_csv)
    meta = make_meta(
        benchmark=benchmark, slug=slug, name=name, modality=modality, organ=organ,
        label_type=label_type, classes=classes, image_size=image_size, channels=channels,
        ood_level=ood_level, source=source, license=license, citation=citation, version=version,
        test_images_public=test_images_public, description=description,
    )
    ensure_absent(root, meta, overwrite)
    base = Path(base_dir) if base_dir is not None else manifest.parent
    rows = _read_rows(manifest, base, label_type, meta.classes)
    pool = _pool(rows, manifest)
    fractions = {"ood": ood_fraction, "test_id": test_id_fraction, "val": val_fraction}
    try:
        plan = _split_indices(rows, pool.labels, seed=seed, ood_level=ood_level,
                              fractions=fractions, where=str(manifest))
    except ValueError as exc:
        if isinstance(exc, DatasetImportError):
            raise
        raise DatasetImportError(f"{manifest}: {exc}") from None
    with StagedTask(root, meta) as staged:
        writer = TaskWriter(staged, meta, plan, len(pool), progress)
        _stream_images(rows, writer, meta, str(manifest), chunk=chunk_images,
                       workers=default_workers() if workers is None else workers)
        meta, dropped = writer.finish(pool, seed=seed, drop_duplicates=drop_duplicates)
    if on_summary is not None:
        on_summary(ImportSummary(meta=meta, source=str(manifest), duplicates=dropped,
                                 seconds=time.monotonic() - began))
    return meta
