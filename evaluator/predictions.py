"""Load a predictions submission (docs/formats.md, "Predictions submissions"): a ``.zip`` of ``<task-slug>.csv`` / ``.npz`` files.

A single ``<task-slug>.csv`` or ``.npz`` file is accepted too (a one-task submission). Every problem
found in every file is collected before raising, so a participant fixes everything in one go.
"""

from __future__ import annotations

import difflib
import io
import math
import zipfile
from pathlib import Path, PurePosixPath

import numpy as np

from datasets.bundle import TaskMeta
from evaluator.archive import check_zip_safety, human_bytes, read_member
from evaluator.checks import check_columns, check_ids, check_values, finalize
from evaluator.csvreader import parse_csv
from evaluator.errors import SubmissionInvalid
from evaluator.limits import DEFAULT_LIMITS, Limits

SUFFIXES = (".csv", ".npz")
NPZ_KEYS = ("image_ids", "probs")


def _task_for(name: str, tasks: dict[str, TaskMeta], test_ids: dict[str, np.ndarray]) -> str:
    """Map a member name to a task slug, or raise with a did-you-mean hint."""
    if "/" in name:
        raise SubmissionInvalid(
            f"'{name}': put the predictions files at the top level of the zip, not in a folder"
        )
    stem = PurePosixPath(name).stem
    if stem not in tasks:
        close = difflib.get_close_matches(stem, list(tasks), n=2, cutoff=0.6)
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise SubmissionInvalid(
            f"'{name}': unknown task '{stem}'{hint} (tasks of this benchmark: "
            f"{', '.join(sorted(tasks))})"
        )
    meta = tasks[stem]
    if not meta.test_images_public or stem not in test_ids:
        raise SubmissionInvalid(
            f"'{name}': task '{stem}' keeps its test images hidden, so it accepts checkpoint "
            "submissions only"
        )
    return stem


def _read_npz(data: bytes, name: str, limits: Limits, budget: int) -> tuple[np.ndarray, np.ndarray]:
    """Open the ``.npz`` ourselves (it is a zip too) so the same safety checks apply."""
    buf = io.BytesIO(data)
    if not zipfile.is_zipfile(buf):
        raise SubmissionInvalid(f"{name} is not a valid .npz file (save it with np.savez)")
    with zipfile.ZipFile(buf) as zf:
        infos = {i.filename: i for i in zf.infolist()}
        expected = {f"{k}.npy" for k in NPZ_KEYS}
        if set(infos) != expected:
            raise SubmissionInvalid(
                f"{name} holds {sorted(infos)}; it must hold exactly the arrays 'image_ids' "
                "(strings) and 'probs' (N x K floats)"
            )
        arrays: dict[str, np.ndarray] = {}
        for key in NPZ_KEYS:
            info = infos[f"{key}.npy"]
            if info.file_size > budget or (
                info.compress_size and info.file_size / info.compress_size > limits.max_ratio
            ):
                raise SubmissionInvalid(
                    f"{name}: '{key}' is {human_bytes(info.file_size)}, far more than this task "
                    "needs (or it looks like a zip bomb)"
                )
            arrays[key] = _load_npy(read_member(zf, info, f"{name}:{key}"), name, key)
    return arrays["image_ids"], arrays["probs"]


def _check_declared_size(data: bytes, name: str, key: str) -> None:
    """Refuse a header that declares more data than the file holds: ``np.load`` would allocate
    the declared size first (a 10^12-row header is a MemoryError, not a message)."""
    fp = io.BytesIO(data)
    try:
        major, _ = np.lib.format.read_magic(fp)
        reader = (
            np.lib.format.read_array_header_1_0
            if major == 1
            else np.lib.format.read_array_header_2_0
        )
        shape, _, dtype = reader(fp)
    except (ValueError, OSError, EOFError, SyntaxError, TypeError):
        return  # not a plain .npy header: np.load says what is wrong with it
    if dtype.hasobject:
        return
    declared = math.prod(shape) * dtype.itemsize
    if declared > len(data) - fp.tell():
        raise SubmissionInvalid(
            f"{name}: '{key}' declares shape {tuple(shape)} ({human_bytes(declared)}) but holds "
            f"only {human_bytes(len(data) - fp.tell())} of data"
        )


def _load_npy(data: bytes, name: str, key: str) -> np.ndarray:
    _check_declared_size(data, name, key)
    try:
        array = np.load(io.BytesIO(data), allow_pickle=False)
    except ValueError as exc:
        if "allow_pickle" in str(exc) or "object" in str(exc).lower():
            raise SubmissionInvalid(
                f"{name}: '{key}' holds Python objects (an object array), which are never "
                "loaded; save plain arrays, e.g. np.array(ids, dtype=str) and float32/float64 probs"
            ) from None
        raise SubmissionInvalid(f"{name}: '{key}' is not a valid .npy array ({exc})") from None
    except (OSError, EOFError) as exc:
        raise SubmissionInvalid(f"{name}: '{key}' is not a valid .npy array ({exc})") from None
    if key == "image_ids" and (array.ndim != 1 or array.dtype.kind not in "US"):
        raise SubmissionInvalid(
            f"{name}: 'image_ids' must be a 1-D string array, not {array.dtype} {array.shape}"
        )
    if key == "probs" and (array.ndim != 2 or array.dtype.kind not in "fiu"):
        raise SubmissionInvalid(
            f"{name}: 'probs' must be a 2-D numeric array (N x K), not {array.dtype} {array.shape}"
        )
    if array.dtype.kind != "S":
        return array
    try:
        return np.char.decode(array, "utf-8")
    except UnicodeDecodeError:
        raise SubmissionInvalid(
            f"{name}: '{key}' holds bytes that are not valid UTF-8; save the ids as strings"
        ) from None


def _parse_member(
    data: bytes, name: str, meta: TaskMeta, limits: Limits, budget: int
) -> tuple[np.ndarray, np.ndarray, list[str], str]:
    """Return (ids, values in class order, column names, row-name style)."""
    if name.lower().endswith(".npz"):
        ids, probs = _read_npz(data, name, limits, budget)
        if probs.shape[1] != meta.num_classes:
            raise SubmissionInvalid(
                f"{name}: 'probs' has {probs.shape[1]} columns; task '{meta.slug}' has "
                f"{meta.num_classes} classes ({', '.join(meta.classes)})"
            )
        if len(ids) != len(probs):
            raise SubmissionInvalid(
                f"{name}: 'image_ids' has {len(ids)} entries but 'probs' has {len(probs)} rows"
            )
        return ids, probs.astype(np.float64), list(meta.classes), "npz"
    parsed = parse_csv(
        data, name, max_messages=limits.max_messages_per_file,
        check_header=lambda header: check_columns(header, meta.classes, name),
    )
    value_names = [c for i, c in enumerate(parsed.header) if i != parsed.id_column]
    order = [value_names.index(c) for c in meta.classes]
    return parsed.ids, parsed.values[:, order], list(meta.classes), "csv"


def check_task_arrays(
    meta: TaskMeta, ids: np.ndarray, values: np.ndarray, expected: np.ndarray, name: str,
    style: str = "csv", limit: int = DEFAULT_LIMITS.max_messages_per_file,
) -> np.ndarray:
    """Validate one task's predictions and return them aligned to ``expected`` (renormalised)."""

    def row_name(i: int) -> str:
        return f"{name} row {i + 2}" if style == "csv" else f"{name} probs[{i}]"

    positions, problems = check_ids(ids, expected, name, row_name, limit)
    problems += check_values(values, meta, list(meta.classes), row_name, name, limit)
    if problems or positions is None:
        raise SubmissionInvalid(problems)
    aligned = np.empty((len(expected), meta.num_classes), dtype=np.float64)
    aligned[positions] = values
    return finalize(aligned, meta)


def _members(path: Path, limits: Limits, display: str) -> list[tuple[str, int, bytes | None]]:
    """(name, size, data-or-None-for-zip-members) — single files are read directly."""
    if path.suffix.lower() in SUFFIXES:
        size = path.stat().st_size
        if size > limits.max_archive_bytes:
            raise SubmissionInvalid(
                f"{display} is {human_bytes(size)}; the limit is "
                f"{human_bytes(limits.max_archive_bytes)}"
            )
        return [(display, size, None)]
    infos = check_zip_safety(
        path, max_bytes=limits.max_archive_bytes, max_members=limits.max_members,
        max_ratio=limits.max_ratio, allowed_suffixes=SUFFIXES,
        max_uncompressed_bytes=limits.max_uncompressed_bytes, display_name=display,
    )
    return [(i.filename, i.file_size, None) for i in infos]


def load_predictions(
    path: Path | str,
    tasks: dict[str, TaskMeta],
    test_ids: dict[str, np.ndarray],
    *,
    limits: Limits = DEFAULT_LIMITS,
    display_name: str | None = None,
) -> dict[str, np.ndarray]:
    """Return task slug → probabilities (N x K) aligned to ``test_ids[task]``; raise if invalid.

    ``test_ids[task]`` is every test image id of the task (test_id then test_ood); tasks whose test
    images are hidden are simply absent from it. Missing tasks are fine (an incomplete submission).
    """
    path = Path(path)
    display = display_name or path.name
    members = _members(path, limits, display)
    problems: list[str] = []
    out: dict[str, np.ndarray] = {}
    zf = zipfile.ZipFile(path) if path.suffix.lower() not in SUFFIXES else None
    try:
        for name, size, _ in members:
            try:
                task = _task_for(name, tasks, test_ids)
                if task in out:
                    raise SubmissionInvalid(f"'{name}': task '{task}' has more than one file")
                meta, expected = tasks[task], test_ids[task]
                budget = limits.member_budget(len(expected), meta.num_classes)
                if size > budget:
                    raise SubmissionInvalid(
                        f"{name} is {human_bytes(size)}; a file for {len(expected)} test images "
                        f"should be well under {human_bytes(budget)}"
                    )
                info = zf.getinfo(name) if zf else None
                data = read_member(zf, info, name) if zf and info else path.read_bytes()
                ids, values, _, style = _parse_member(data, name, meta, limits, budget)
                out[task] = check_task_arrays(
                    meta, ids, values, expected, name, style, limits.max_messages_per_file
                )
            except SubmissionInvalid as exc:
                problems += exc.messages
    finally:
        if zf is not None:
            zf.close()
    if problems:
        raise SubmissionInvalid(problems)
    return out
