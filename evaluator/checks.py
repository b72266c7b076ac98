"""Checks on one task's predictions once parsed: image ids, then values, then alignment.

Every check is vectorised over rows; messages name the file, the row and the column, and stop after
a few examples per kind of problem (with a count of the rest) so that a broken file of 50,000 rows
gives a short, actionable list.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from datasets.bundle import TaskMeta
from evaluator.errors import plural, preview

SUM_TOLERANCE = 1e-3
RowName = Callable[[int], str]


def sums_to_one(label_type: str) -> bool:
    return label_type in ("binary", "multiclass", "ordinal")


def _capped(items: list[str], total: int, limit: int, where: str, what: str) -> list[str]:
    if total > limit:
        items = [*items[:limit], f"{where}: … and {total - limit} more {what}"]
    return items


def check_ids(
    ids: np.ndarray, expected: np.ndarray, where: str, row_name: RowName, limit: int
) -> tuple[np.ndarray | None, list[str]]:
    """Return (positions of each row in ``expected``, problems)."""
    problems: list[str] = []
    ids = ids.astype(str)
    empty = np.flatnonzero(np.char.str_len(ids) == 0)
    if len(empty):
        problems.append(f"{row_name(int(empty[0]))}: the image_id is empty")
    uniq, first, counts = np.unique(ids, return_index=True, return_counts=True)
    dup = np.flatnonzero(counts > 1)
    if len(dup):
        order = np.argsort(first[dup])
        problems.append(
            f"{where}: {plural(len(dup), 'image id')} appear more than once "
            f"(first: {preview(uniq[dup][order])}); give one row per image"
        )
    sorter = np.argsort(expected, kind="stable")
    sorted_expected = expected[sorter]
    pos = np.searchsorted(sorted_expected, ids)
    pos_clipped = np.minimum(pos, max(len(expected) - 1, 0))
    found = (pos < len(expected)) & (sorted_expected[pos_clipped] == ids) if len(expected) else (
        np.zeros(len(ids), dtype=bool)
    )
    if not found.all():
        unknown = ids[~found]
        problems.append(
            f"{where}: {plural(len(unknown), 'image id')} are not test images of this task "
            f"(first: {preview(unknown)})"
        )
    seen = np.zeros(len(expected), dtype=bool)
    seen[sorter[pos[found]]] = True
    if not seen.all():
        missing = expected[~seen]
        problems.append(
            f"{where}: {len(missing)} test image ids missing (first: {preview(missing)})"
        )
    return (sorter[pos] if not problems else None), problems


def check_values(
    values: np.ndarray, meta: TaskMeta, columns: list[str], row_name: RowName, where: str,
    limit: int,
) -> list[str]:
    """Finite, within [0, 1], and (binary/multiclass) rows summing to 1 within the tolerance."""
    problems: list[str] = []
    nonfinite = ~np.isfinite(values)
    rows, cols = np.nonzero(nonfinite)
    items = [
        f"{row_name(int(r))}: value {float(values[r, c])!r} in column '{columns[c]}' is "
        f"{'not a number (NaN)' if np.isnan(values[r, c]) else 'infinite'}"
        for r, c in zip(rows[:limit], cols[:limit], strict=True)
    ]
    problems += _capped(items, len(rows), limit, where, "non-finite values")
    with np.errstate(invalid="ignore"):
        outside = ((values < 0) | (values > 1)) & ~nonfinite
    rows, cols = np.nonzero(outside)
    items = [
        f"{row_name(int(r))}: value {values[r, c]:.6g} in column '{columns[c]}' is outside [0, 1]"
        for r, c in zip(rows[:limit], cols[:limit], strict=True)
    ]
    problems += _capped(items, len(rows), limit, where, "values outside [0, 1]")
    if sums_to_one(meta.label_type) and not problems:
        sums = values.sum(axis=1)
        bad = np.flatnonzero(np.abs(sums - 1.0) > SUM_TOLERANCE)
        items = [
            f"{row_name(int(r))}: probabilities sum to {sums[r]:.6g}; rows must sum to 1 "
            f"(±{SUM_TOLERANCE:g})"
            for r in bad[:limit]
        ]
        problems += _capped(items, len(bad), limit, where, "rows not summing to 1")
    return problems


def check_columns(header: list[str], classes: tuple[str, ...], where: str) -> list[str]:
    """Columns are matched by name, in any order; exactly image_id plus one per class."""
    problems: list[str] = []
    expected = ["image_id", *classes]
    dups = sorted({c for c in header if header.count(c) > 1})
    if dups:
        problems.append(f"{where}: duplicated column(s) {preview([repr(d) for d in dups], 8)}")
    unknown = [c for c in header if c not in expected]
    missing = [c for c in classes if c not in header]
    if unknown:
        problems.append(f"{where}: unknown column(s) {preview([repr(c) for c in unknown], 8)}")
    if missing:
        problems.append(f"{where}: missing column(s) {preview([repr(c) for c in missing], 8)}")
    if problems:
        problems.append(f"{where}: the header must be '{','.join(expected)}' (any column order)")
    return problems


def finalize(values: np.ndarray, meta: TaskMeta) -> np.ndarray:
    """Renormalise binary/multiclass rows to sum exactly 1 (multilabel values are independent)."""
    values = np.asarray(values, dtype=np.float64)
    if sums_to_one(meta.label_type):
        values = values / values.sum(axis=1, keepdims=True)
    return values
