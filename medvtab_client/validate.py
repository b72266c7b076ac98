"""Check a predictions archive before uploading it: the archive's structure, each file's header,
image ids and probabilities, against the task metadata and sample submissions the API serves.

The rules are the server's (docs/formats.md): a ``.zip`` of ``<task-slug>.csv`` (or ``.npz`` with
``image_ids`` and ``probs``) at the top level; header ``image_id`` plus one column per class, in any
order; one row per test image (test_id and test_ood), ids unique; values finite in [0, 1]; binary,
multiclass and ordinal rows summing to 1 within 1e-3. Missing tasks only make it incomplete.
"""

from __future__ import annotations

import io
import math
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from medvtab_client.npy import NpyError, read_npy

SUM_TOLERANCE = 1e-3
MAX_MESSAGES = 8
JUNK_NAMES = (".DS_Store", "Thumbs.db", "desktop.ini")


@dataclass
class Report:
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    checked: dict[str, int] = field(default_factory=dict)  # task → rows

    @property
    def ok(self) -> bool:
        return not self.problems


def _junk(name: str) -> bool:
    return name.startswith("__MACOSX/") or PurePosixPath(name).name in JUNK_NAMES


def _unsafe(name: str) -> bool:
    if "\\" in name or name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return True
    return any(part == ".." for part in name.split("/"))


def _clean(cell: str) -> str:
    return cell.strip().strip('"').strip()


def _parse_csv(data: bytes, name: str) -> tuple[list[str], list[str], list[list[float]], list[str]]:
    """(header, ids, rows of values in header order without image_id, problems)."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return [], [], [], [f"{name} is UTF-16 encoded; save it as UTF-8"]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return [], [], [], [f"{name}: byte {exc.start} is not valid UTF-8"]
    lines = text.replace("\r\n", "\n").replace("\r", "\n").rstrip("\n").split("\n")
    if not lines or not lines[0].strip():
        return [], [], [], [f"{name} is empty; expected a header 'image_id,<class names…>'"]
    header = [_clean(c) for c in lines[0].split(",")]
    if "image_id" not in header:
        return header, [], [], [f"{name}: the header has no 'image_id' column"]
    id_col = header.index("image_id")
    ids: list[str] = []
    rows: list[list[float]] = []
    problems: list[str] = []
    for number, line in enumerate(lines[1:], start=2):
        cells = line.split(",")
        if not line:
            problems.append(f"{name} row {number}: empty row; remove blank lines")
            continue
        if len(cells) != len(header):
            problems.append(f"{name} row {number}: {len(cells)} fields; expected {len(header)}")
            continue
        values: list[float] = []
        for col, cell in enumerate(cells):
            if col == id_col:
                continue
            try:
                values.append(float(_clean(cell)))
            except ValueError:
                problems.append(
                    f"{name} row {number}: value '{_clean(cell)[:40]}' in column "
                    f"'{header[col]}' is not a number"
                )
                values.append(math.nan)
        ids.append(_clean(cells[id_col]))
        rows.append(values)
        if len(problems) >= MAX_MESSAGES:
            break
    return header, ids, rows, problems


def _check_header(header: list[str], classes: list[str], name: str) -> list[str]:
    expected = ["image_id", *classes]
    problems = []
    dups = sorted({c for c in header if header.count(c) > 1})
    unknown = [c for c in header if c not in expected]
    missing = [c for c in classes if c not in header]
    if dups:
        problems.append(f"{name}: duplicated column(s) {', '.join(map(repr, dups))}")
    if unknown:
        problems.append(f"{name}: unknown column(s) {', '.join(map(repr, unknown[:8]))}")
    if missing:
        problems.append(f"{name}: missing column(s) {', '.join(map(repr, missing[:8]))}")
    if problems:
        problems.append(f"{name}: the header must be '{','.join(expected)}' (any column order)")
    return problems


def _check_ids(ids: list[str], expected: list[str], name: str) -> list[str]:
    problems = []
    if any(not i for i in ids):
        problems.append(f"{name}: an image_id is empty")
    seen: set[str] = set()
    dups = [i for i in ids if i in seen or seen.add(i)]  # type: ignore[func-returns-value]
    if dups:
        problems.append(f"{name}: {len(dups)} image ids appear more than once (first: {dups[0]})")
    wanted = set(expected)
    unknown = [i for i in ids if i not in wanted]
    if unknown:
        problems.append(
            f"{name}: {len(unknown)} image ids are not test images of this task "
            f"(first: {unknown[0]})"
        )
    missing = [i for i in expected if i not in seen]
    if missing:
        problems.append(f"{name}: {len(missing)} test image ids missing (first: {missing[0]})")
    return problems


def _check_values(rows: list[list[float]], columns: list[str], sums: bool, name: str) -> list[str]:
    problems: list[str] = []
    for index, row in enumerate(rows):
        where = f"{name} row {index + 2}"
        for column, value in zip(columns, row, strict=True):
            if not math.isfinite(value):
                problems.append(f"{where}: value {value} in column '{column}' is not finite")
            elif not 0.0 <= value <= 1.0:
                problems.append(
                    f"{where}: value {value:.6g} in column '{column}' is outside [0, 1]"
                )
        if sums and all(math.isfinite(v) for v in row) and abs(sum(row) - 1.0) > SUM_TOLERANCE:
            problems.append(f"{where}: probabilities sum to {sum(row):.6g}; rows must sum to 1")
        if len(problems) >= MAX_MESSAGES:
            problems.append(f"{name}: … stopped after {MAX_MESSAGES} problems")
            break
    return problems


def _read_npz(data: bytes, name: str, classes: list[str]) -> tuple[list[str], list[list[float]]]:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            names = sorted(zf.namelist())
            if names != ["image_ids.npy", "probs.npy"]:
                raise NpyError(f"holds {names}; it must hold exactly 'image_ids' and 'probs'")
            ids_shape, ids_kind, ids = read_npy(zf.read("image_ids.npy"))
            shape, kind, flat = read_npy(zf.read("probs.npy"))
    except zipfile.BadZipFile:
        raise NpyError("is not a valid .npz file (save it with np.savez)") from None
    if len(ids_shape) != 1 or ids_kind not in "US":
        raise NpyError("'image_ids' must be a 1-D string array")
    if len(shape) != 2 or kind not in "fiub":
        raise NpyError("'probs' must be a 2-D numeric array (N x K)")
    if shape[1] != len(classes):
        raise NpyError(f"'probs' has {shape[1]} columns; the task has {len(classes)} classes")
    if shape[0] != len(ids):
        raise NpyError(f"'image_ids' has {len(ids)} entries but 'probs' has {shape[0]} rows")
    k = shape[1]
    return [str(i) for i in ids], [
        [float(v) for v in flat[r * k : (r + 1) * k]] for r in range(shape[0])
    ]


def check_member(
    name: str, data: bytes, task: dict[str, Any], expected_ids: list[str]
) -> list[str]:
    classes = [str(c) for c in task["classes"]]
    sums = task["label_type"] in ("binary", "multiclass", "ordinal")
    if name.lower().endswith(".npz"):
        try:
            ids, rows = _read_npz(data, name, classes)
        except NpyError as exc:
            return [f"{name}: {exc}"]
        return _check_ids(ids, expected_ids, name) + _check_values(rows, classes, sums, name)
    header, ids, rows, problems = _parse_csv(data, name)
    if problems:
        return problems
    problems = _check_header(header, classes, name)
    if problems:
        return problems
    value_columns = [c for c in header if c != "image_id"]
    return _check_ids(ids, expected_ids, name) + _check_values(rows, value_columns, sums, name)


def validate_archive(
    data: bytes,
    tasks: dict[str, dict[str, Any]],
    expected_ids: Callable[[str], list[str]],
    *,
    display: str = "the archive",
) -> Report:
    """Check a predictions zip; ``tasks`` maps slug → the API's task JSON."""
    report = Report()
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        report.problems.append(f"{display} is not a zip archive")
        return report
    seen: set[str] = set()
    with zf:
        for info in zf.infolist():
            name = info.filename
            if _unsafe(name):
                report.problems.append(f"'{name}' has an unsafe path; use plain file names")
                continue
            if info.is_dir() or _junk(name):
                continue
            problem = _member_problem(name, info, tasks, seen)
            if problem:
                report.problems.append(problem)
                continue
            slug = PurePosixPath(name).stem
            seen.add(slug)
            member_problems = check_member(name, zf.read(info), tasks[slug], expected_ids(slug))
            report.problems += member_problems
            if not member_problems:
                report.checked[slug] = len(expected_ids(slug))
    if not seen and not report.problems:
        report.problems.append(f"{display} holds no <task-slug>.csv or .npz file")
    missing = sorted(s for s, t in tasks.items() if t.get("test_images_public") and s not in seen)
    if missing and not report.problems:
        report.warnings.append(
            f"no predictions for {', '.join(missing)}: the submission will be incomplete "
            "(shown, but not ranked on aggregates)"
        )
    return report


def _member_problem(
    name: str, info: zipfile.ZipInfo, tasks: dict[str, dict[str, Any]], seen: set[str]
) -> str | None:
    if info.flag_bits & 0x1:
        return f"'{name}' is encrypted; submit an archive without a password"
    if "/" in name:
        return f"'{name}': put the predictions files at the top level of the zip, not in a folder"
    path = PurePosixPath(name)
    if path.suffix.lower() not in (".csv", ".npz"):
        return f"'{name}' is not allowed; the archive may only hold <task-slug>.csv or .npz files"
    if path.stem not in tasks:
        return f"'{name}': unknown task '{path.stem}' (tasks: {', '.join(sorted(tasks))})"
    if not tasks[path.stem].get("test_images_public", True):
        return f"'{name}': task '{path.stem}' keeps its test images hidden (checkpoints only)"
    if path.stem in seen:
        return f"'{name}': task '{path.stem}' has more than one file"
    return None
