"""Aggregate replicate vectors and rank entries (pure functions, no I/O).

An entry is *statistically tied* with the leader when the 95% percentile interval of the paired
replicate difference (leader − entry, replicate by replicate, NaN replicates dropped) contains 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from evaluator.bootstrap import percentile_ci

TIE_TOLERANCE = 1e-12  # scores this close are equal (aggregates are sums of floats)


@dataclass(frozen=True)
class Entry:
    id: str
    value: float | None
    complete: bool = True
    replicates: np.ndarray | None = None


@dataclass(frozen=True)
class RankedEntry:
    id: str
    value: float | None
    complete: bool
    rank: int | None  # shared on ties; None when not ranked (incomplete or null)
    tied_with_leader: bool
    diff_ci: tuple[float, float] | None  # CI of (leader − entry); None for the leader itself


def aggregate_replicates(vectors: Sequence[np.ndarray | Sequence[float]]) -> np.ndarray:
    """Mean over tasks, replicate by replicate (a NaN in any task drops that replicate)."""
    if not vectors:
        raise ValueError("no replicate vectors to aggregate")
    stacked = np.vstack([np.asarray(v, dtype=np.float64) for v in vectors])
    return stacked.mean(axis=0)


def paired_difference_ci(
    leader: np.ndarray | None, other: np.ndarray | None
) -> tuple[float, float] | None:
    if leader is None or other is None:
        return None
    a, b = np.asarray(leader, dtype=np.float64), np.asarray(other, dtype=np.float64)
    if a.shape != b.shape or a.size == 0:
        return None
    return percentile_ci(a - b)


def _rankable(entry: Entry) -> bool:
    return entry.complete and entry.value is not None and bool(np.isfinite(entry.value))


def rank_entries(entries: Sequence[Entry], *, higher_is_better: bool = True) -> list[RankedEntry]:
    """Ranked entries first (best first, competition ranks 1, 2, 2, 4), then unranked ones:
    complete entries with a null value, then incomplete entries (by value, nulls last)."""
    sign = -1.0 if higher_is_better else 1.0
    ranked = sorted((e for e in entries if _rankable(e)), key=lambda e: sign * float(e.value or 0))
    out: list[RankedEntry] = []
    leader = ranked[0] if ranked else None
    rank = 0
    for i, entry in enumerate(ranked):
        assert entry.value is not None
        prev = ranked[i - 1].value if i else None
        if prev is None or abs(entry.value - prev) > TIE_TOLERANCE:
            rank = i + 1
        if rank == 1:
            out.append(RankedEntry(entry.id, entry.value, True, 1, True, None))
            continue
        assert leader is not None
        diff = paired_difference_ci(leader.replicates, entry.replicates)
        tied = diff is not None and diff[0] <= 0.0 <= diff[1]
        out.append(RankedEntry(entry.id, entry.value, True, rank, tied, diff))
    rest = [e for e in entries if not _rankable(e)]
    rest.sort(key=lambda e: (e.complete is False, e.value is None, sign * float(e.value or 0)))
    out += [RankedEntry(e.id, e.value, e.complete, None, False, None) for e in rest]
    return out
