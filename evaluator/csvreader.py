"""A vectorised reader for predictions CSVs with messages that name the file, row and column.

Row numbers are the file's line numbers as a spreadsheet shows them: the header is row 1, the first
data row is row 2. The fast path is numpy's C parser (``np.loadtxt``); only when it refuses a value
does the slower diagnostic path run, to say which cell is wrong.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from evaluator.errors import SubmissionInvalid, plural, preview

UTF8_BOM = b"\xef\xbb\xbf"
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
MAX_FIELD_CHARS = 256


@dataclass
class ParsedCSV:
    header: list[str]
    ids: np.ndarray  # unicode, one per data row
    values: np.ndarray  # float64, rows x (len(header) - 1), columns in file order after image_id
    id_column: int


def _decode_check(data: bytes, name: str) -> bytes:
    if data.startswith(UTF8_BOM):
        data = data[len(UTF8_BOM):]
    elif data.startswith(UTF16_BOMS):
        raise SubmissionInvalid(f"{name} is UTF-16 encoded; save it as UTF-8 (CSV UTF-8)")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        row = data.count(b"\n", 0, exc.start) + 1
        raise SubmissionInvalid(
            f"{name} row {row}: byte 0x{data[exc.start]:02x} is not valid UTF-8; "
            "save the file as UTF-8"
        ) from None
    if b"\r" in data:  # Windows (CRLF) and old Mac (CR) line ends
        data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    return data


def _clean(field: str) -> str:
    return field.strip().strip('"').strip()


def _line_layout(body: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per body line: comma count, length, and the longest field, all without a Python loop."""
    raw = np.frombuffer(body, dtype=np.uint8)
    newlines = np.flatnonzero(raw == 10)
    ends = np.append(newlines, len(raw))
    starts = np.concatenate(([0], newlines + 1))
    is_sep = (raw == 44) | (raw == 10)
    commas_before = np.concatenate(([0], np.cumsum(raw == 44)))
    commas = commas_before[ends] - commas_before[starts]
    seps = np.concatenate(([-1], np.flatnonzero(is_sep), [len(raw)]))
    longest = int(np.diff(seps).max()) - 1 if len(seps) > 1 else 0
    return commas, ends - starts, np.asarray(longest)


def _check_layout(body: bytes, n_columns: int, name: str, limit: int) -> None:
    commas, lengths, longest = _line_layout(body)
    problems: list[str] = []
    empty = np.flatnonzero(lengths == 0)
    if len(empty):
        problems.append(
            f"{name}: {plural(len(empty), 'empty row')} (rows {preview(empty + 2)}); "
            "remove blank lines"
        )
    bad = np.flatnonzero((commas != n_columns - 1) & (lengths > 0))
    for i in bad[:limit]:
        problems.append(
            f"{name} row {i + 2}: {commas[i] + 1} fields; expected {n_columns} "
            "(image_id plus one column per class, matching the header)"
        )
    if len(bad) > limit:
        problems.append(f"{name}: … and {len(bad) - limit} more rows with the wrong field count")
    if not problems and int(longest) > MAX_FIELD_CHARS:
        problems.append(f"{name}: a field is longer than {MAX_FIELD_CHARS} characters")
    if problems:
        raise SubmissionInvalid(problems)


def _diagnose_values(body: bytes, header: list[str], id_col: int, name: str, limit: int) -> None:
    """Slow path, run only after the fast parser refused: find the cells that are not numbers."""
    lines = body.decode("utf-8").split("\n")
    problems: list[str] = []
    for row, line in enumerate(lines, start=2):
        for col, cell in enumerate(line.split(",")):
            if col == id_col:
                continue
            try:
                float(_clean(cell))
            except ValueError:
                shown = _clean(cell)
                problems.append(
                    f"{name} row {row}: value '{shown[:40]}' in column '{header[col]}' is not a number"
                    if shown
                    else f"{name} row {row}: column '{header[col]}' is empty; expected a number"
                )
                if len(problems) >= limit:
                    raise SubmissionInvalid(problems) from None
    raise SubmissionInvalid(problems or [f"{name}: some values could not be read as numbers"])


def parse_csv(
    data: bytes, name: str, *, max_messages: int = 8,
    check_header: Callable[[list[str]], list[str]] | None = None,
) -> ParsedCSV:
    """Parse a predictions CSV; ``check_header`` returns problems with the column names."""
    data = _decode_check(data, name).rstrip(b"\n")
    if not data.strip():
        raise SubmissionInvalid(
            f"{name} is empty; expected a header 'image_id,<class names…>' and one row per image"
        )
    head, _, body = data.partition(b"\n")
    header = [_clean(f) for f in head.decode("utf-8").split(",")]
    if "image_id" not in header:
        raise SubmissionInvalid(
            f"{name} has no header row with an 'image_id' column (first line: "
            f"'{head.decode('utf-8')[:80]}'); the first line must be 'image_id,<class names…>'"
        )
    problems = check_header(header) if check_header else []
    if problems:
        raise SubmissionInvalid(problems)
    id_col = header.index("image_id")
    if not body:
        return ParsedCSV(header, np.array([], dtype=str), np.zeros((0, len(header) - 1)), id_col)
    _check_layout(body, len(header), name, max_messages)
    value_cols = [i for i in range(len(header)) if i != id_col]
    try:
        values = np.loadtxt(
            io.BytesIO(body), delimiter=",", usecols=value_cols, dtype=np.float64,
            comments=None, quotechar='"', ndmin=2, encoding="utf-8",
        )
    except ValueError:
        _diagnose_values(body, header, id_col, name, max_messages)
        raise  # pragma: no cover - _diagnose_values always raises
    ids = np.loadtxt(
        io.BytesIO(body), delimiter=",", usecols=id_col, dtype=str, comments=None,
        quotechar='"', ndmin=1, encoding="utf-8",
    )
    return ParsedCSV(header, np.char.strip(ids), values, id_col)
