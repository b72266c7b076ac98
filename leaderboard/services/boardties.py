"""Statistical ties with the leader, from the stored replicate vectors.

An entry is tied with its board's leader when the 95% CI of the paired replicate difference
contains 0 (``evaluator.ranking.paired_difference_ci``); the same holds per task on the boards that
rank tasks. Only the leaders' vectors are held in memory; the others are streamed submission by
submission, so memory does not grow with the board.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from evaluator.ranking import paired_difference_ci
from leaderboard.models import Benchmark, BoardEntry, ReplicateVector, Status
from leaderboard.models.boards import SPLITS, Split
from leaderboard.services.results import decode_vector

Vectors = dict[tuple[str, str], np.ndarray]  # (task, split) -> replicates


@dataclass
class Leaders:
    """Each board's task list and leaders: per (board, protocol, split), and per task on the
    boards that rank tasks (board, protocol, task, split)."""

    board_tasks: dict[str, list[str]]
    boards: dict[tuple[str, str, Split], int] = field(default_factory=dict)
    tasks: dict[tuple[str, str, str, str], int] = field(default_factory=dict)

    def submission_ids(self) -> set[int]:
        return set(self.boards.values()) | set(self.tasks.values())


def board_vector(vectors: Vectors, slugs: list[str], split: str) -> np.ndarray | None:
    """Replicate by replicate mean over the board's tasks that have a vector (as the scorer's
    aggregate does); None when the submission has none, or vectors of unequal length."""
    stack = [vectors[(s, split)] for s in slugs if (s, split) in vectors]
    if not stack or len({v.shape for v in stack}) != 1:
        return None
    return np.vstack(stack).mean(axis=0)


def _tied(leader: np.ndarray | None, other: np.ndarray | None) -> bool:
    diff = paired_difference_ci(leader, other)
    return diff is not None and diff[0] <= 0.0 <= diff[1]


def _stream_vectors(benchmark: Benchmark) -> Iterator[tuple[int, Vectors]]:
    rows = (
        ReplicateVector.objects.filter(
            submission__benchmark=benchmark,
            submission__status=Status.SUCCEEDED,
            submission__is_public=True,
        )
        .order_by("submission_id")
        .values_list("submission_id", "task__slug", "split", "values")
        .iterator(chunk_size=1000)
    )
    current: int | None = None
    vectors: Vectors = {}
    for sub_id, slug, split, raw in rows:
        if sub_id != current:
            if current is not None:
                yield current, vectors
            current, vectors = sub_id, {}
        vectors[(slug, split)] = decode_vector(raw)
    if current is not None:
        yield current, vectors


def apply_ties(benchmark: Benchmark, entries: list[BoardEntry], leaders: Leaders) -> None:
    """Set the statistical-tie flags of every ranked, non-leading row and task cell."""
    by_sub: dict[int, list[BoardEntry]] = defaultdict(list)
    for e in entries:
        by_sub[e.submission_id].append(e)
    leader_vectors: dict[int, Vectors] = defaultdict(dict)
    rows = ReplicateVector.objects.filter(submission_id__in=leaders.submission_ids()).values_list(
        "submission_id", "task__slug", "split", "values"
    )
    for sub_id, slug, split, raw in rows:
        leader_vectors[sub_id][(slug, split)] = decode_vector(raw)
    if not leader_vectors:
        return
    for sub_id, vectors in _stream_vectors(benchmark):
        for e in by_sub.get(sub_id, []):
            _board_ties(e, vectors, leader_vectors, leaders)
            _cell_ties(e, vectors, leader_vectors, leaders)


def _board_ties(
    e: BoardEntry, vectors: Vectors, leader_vectors: dict[int, Vectors], leaders: Leaders
) -> None:
    key = e.board_slug()
    slugs = leaders.board_tasks[key]
    for split in SPLITS:
        leader = leaders.boards.get((key, e.protocol, split))
        rank = e.rank(split, all_rows=True)
        if leader is not None and rank is not None and rank > 1 and leader in leader_vectors:
            mine = board_vector(vectors, slugs, split)
            theirs = board_vector(leader_vectors[leader], slugs, split)
            e.set_tied(split, _tied(theirs, mine))


def _cell_ties(
    e: BoardEntry, vectors: Vectors, leader_vectors: dict[int, Vectors], leaders: Leaders
) -> None:
    key = e.board_slug()
    for slug, cell in e.cells.items():
        for split, rank in (cell.get("rank") or {}).items():
            leader = leaders.tasks.get((key, e.protocol, slug, split))
            if rank and rank > 1 and leader in leader_vectors:
                cell["tied"][split] = _tied(
                    leader_vectors[leader].get((slug, split)), vectors.get((slug, split))
                )
