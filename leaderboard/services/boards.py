"""Recompute a benchmark's boards: rows, ranks, statistical ties and the best score over time.

Runs on a worker when results land. It reads only stored results (score JSON and replicate
vectors), never hidden labels, and writes every row of the benchmark in one transaction, then bumps
the generation that keys the page cache. Ranks are shared on ties and incomplete or null entries
are never ranked (``evaluator.ranking.rank_entries``); an entry is statistically tied with the
leader when the 95% CI of the paired replicate difference contains 0 (``paired_difference_ci``).
Vectors are streamed submission by submission, so memory does not grow with the board.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
from django.db import transaction
from django.utils import timezone

from evaluator.ranking import Entry, paired_difference_ci, rank_entries
from leaderboard.models import (
    Benchmark,
    BoardEntry,
    BoardState,
    Modality,
    ReplicateVector,
    Status,
    Submission,
    Task,
)

log = logging.getLogger(__name__)
SPLITS = ("test_id", "test_ood")
OVERALL = "overall"


def request_recompute(benchmark_id: int) -> None:
    """Enqueue a recompute (called on commit when a result lands); never fails the caller."""
    from leaderboard.tasks.boards import recompute_boards

    try:
        recompute_boards.delay(benchmark_id=benchmark_id, requested_at=time.time())
    except Exception:  # the broker being down must not undo a stored result
        log.exception("could not enqueue the board recompute of benchmark %s", benchmark_id)


def _triple(ci_source: dict[str, Any], split: str) -> tuple[Any, Any, Any]:
    ci = (ci_source.get("ci") or {}).get(split) or [None, None]
    return ci_source.get(split), ci[0], ci[1]


def _cells(tasks_json: dict[str, Any], slugs: Iterable[str]) -> dict[str, Any]:
    cells: dict[str, Any] = {}
    for slug in slugs:
        entry = tasks_json.get(slug)
        if entry is None:
            continue
        cells[slug] = {
            split: {
                metric: [m.get("value"), m.get("ci_low"), m.get("ci_high")]
                for metric, m in (entry.get(split) or {}).items()
            }
            for split in SPLITS
        }
    return cells


def _entry(sub: dict[str, Any], modality: Modality | None, slugs: list[str]) -> BoardEntry | None:
    data = sub["score_json"] or {}
    tasks_json = data.get("tasks") or {}
    if not any(s in tasks_json for s in slugs):
        return None  # nothing of this board was submitted
    agg = data.get("overall") if modality is None else data.get("modalities", {}).get(modality.slug)
    agg = agg or {}
    id_v, id_lo, id_hi = _triple(agg, "test_id")
    ood_v, ood_lo, ood_hi = _triple(agg, "test_ood")
    verified = sub["verified_tunable_params"]
    return BoardEntry(
        benchmark_id=sub["benchmark_id"],
        modality=modality,
        submission_id=sub["id"],
        owner_id=sub["owner_id"],
        owner_name=sub["owner__username"],
        method_name=sub["method_name"],
        method_family=sub["method_family"],
        protocol=sub["protocol"],
        track=sub["track"],
        pretraining=sub["pretraining"],
        is_baseline=sub["is_baseline"],
        tunable_params=verified if verified is not None else sub["reported_tunable_params"],
        params_verified=verified is not None,
        finished_at=sub["finished_at"],
        complete=bool(agg.get("complete")),
        test_id=id_v,
        test_id_lo=id_lo,
        test_id_hi=id_hi,
        test_ood=ood_v,
        test_ood_lo=ood_lo,
        test_ood_hi=ood_hi,
        ood_gap=agg.get("ood_gap"),
        cells=_cells(tasks_json, slugs),
    )


def _best_key(e: BoardEntry, split: str) -> tuple[Any, ...]:
    value = getattr(e, split)
    ts = e.finished_at.timestamp() if e.finished_at else 0.0
    # complete first, then numbers before nulls, then higher, then earlier, then lower id
    return (not e.complete, value is None, -(value or 0.0), ts, e.submission_id)


def _mark_best(entries: list[BoardEntry]) -> None:
    groups: dict[tuple[int, str], list[BoardEntry]] = defaultdict(list)
    for e in entries:
        groups[(e.owner_id, e.method_name)].append(e)
    for group in groups.values():
        for split in SPLITS:
            setattr(min(group, key=lambda e: _best_key(e, split)), f"best_{split}", True)


def _rank(entries: list[BoardEntry], split: str, attr: str) -> BoardEntry | None:
    """Set ``attr`` to the competition rank; return the leader (None when nobody is ranked)."""
    by_id = {str(i): e for i, e in enumerate(entries)}
    ranked = rank_entries([Entry(k, getattr(e, split), e.complete) for k, e in by_id.items()])
    for r in ranked:
        setattr(by_id[r.id], attr, r.rank)
    first = ranked[0] if ranked else None
    return by_id[first.id] if first is not None and first.rank == 1 else None


def _task_value(e: BoardEntry, slug: str, split: str, metric: str) -> float | None:
    cell = e.cells.get(slug, {}).get(split, {}).get(metric)
    return cell[0] if cell else None


def _rank_tasks(entries: list[BoardEntry], tasks: list[Task]) -> dict[tuple[str, str], int]:
    """Per-task ranks among the best rows; returns the leader's submission per (task, split)."""
    leaders: dict[tuple[str, str], int] = {}
    for task in tasks:
        for split in SPLITS:
            rows = [e for e in entries if getattr(e, f"best_{split}") and task.slug in e.cells]
            keyed = {str(i): e for i, e in enumerate(rows)}
            values = {
                k: _task_value(e, task.slug, split, task.primary_metric) for k, e in keyed.items()
            }
            ranked = rank_entries([Entry(k, v) for k, v in values.items()])
            for r in ranked:
                cell = keyed[r.id].cells[task.slug]
                cell.setdefault("rank", {})[split] = r.rank
                cell.setdefault("tied", {})[split] = r.rank == 1
            if ranked and ranked[0].rank == 1:
                leaders[(task.slug, split)] = keyed[ranked[0].id].submission_id
    return leaders


class _Ties:
    """Leaders of every (board, protocol, split) and per task, and the board's task lists."""

    def __init__(self, boards: dict[str, list[str]]) -> None:
        self.boards = boards
        self.board_leaders: dict[tuple[str, str, str], int] = {}
        self.task_leaders: dict[tuple[str, str, str], int] = {}  # (protocol, task, split)

    def leader_ids(self) -> set[int]:
        return set(self.board_leaders.values()) | set(self.task_leaders.values())


def board_vector(
    vectors: dict[tuple[str, str], np.ndarray], slugs: list[str], split: str
) -> np.ndarray | None:
    """Replicate by replicate mean over the board's tasks that have a vector (as the scorer's
    aggregate does); None when the submission has none."""
    stack = [vectors[(s, split)] for s in slugs if (s, split) in vectors]
    if not stack:
        return None
    if len({v.shape for v in stack}) != 1:
        return None
    return np.vstack(stack).mean(axis=0)


def _stream_vectors(
    benchmark: Benchmark,
) -> Iterator[tuple[int, dict[tuple[str, str], np.ndarray]]]:
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
    vectors: dict[tuple[str, str], np.ndarray] = {}
    for sub_id, slug, split, raw in rows:
        if sub_id != current:
            if current is not None:
                yield current, vectors
            current, vectors = sub_id, {}
        vectors[(slug, split)] = np.frombuffer(bytes(raw), dtype="<f8")
    if current is not None:
        yield current, vectors


def _tied(leader: np.ndarray | None, other: np.ndarray | None) -> bool:
    diff = paired_difference_ci(leader, other)
    return diff is not None and diff[0] <= 0.0 <= diff[1]


def _apply_ties(benchmark: Benchmark, entries: list[BoardEntry], ties: _Ties) -> None:
    by_sub: dict[int, list[BoardEntry]] = defaultdict(list)
    for e in entries:
        by_sub[e.submission_id].append(e)
    leader_vectors: dict[int, dict[tuple[str, str], np.ndarray]] = defaultdict(dict)
    rows = ReplicateVector.objects.filter(submission_id__in=ties.leader_ids()).values_list(
        "submission_id", "task__slug", "split", "values"
    )
    for sub_id, slug, split, raw in rows:
        leader_vectors[sub_id][(slug, split)] = np.frombuffer(bytes(raw), dtype="<f8")
    if not leader_vectors:
        return
    for sub_id, vectors in _stream_vectors(benchmark):
        for e in by_sub.get(sub_id, []):
            _entry_ties(e, vectors, leader_vectors, ties)


def _entry_ties(
    e: BoardEntry,
    vectors: dict[tuple[str, str], np.ndarray],
    leader_vectors: dict[int, dict[tuple[str, str], np.ndarray]],
    ties: _Ties,
) -> None:
    board = e.modality.slug if e.modality else OVERALL
    slugs = ties.boards[board]
    for split in SPLITS:
        leader = ties.board_leaders.get((board, e.protocol, split))
        rank = getattr(e, f"rank_all_{split}")
        if leader is not None and rank is not None and rank > 1 and leader in leader_vectors:
            mine = board_vector(vectors, slugs, split)
            theirs = board_vector(leader_vectors[leader], slugs, split)
            setattr(e, f"tied_{split}", _tied(theirs, mine))
    if board != OVERALL:
        return
    for slug, cell in e.cells.items():
        for split, rank in (cell.get("rank") or {}).items():
            leader = ties.task_leaders.get((e.protocol, slug, split))
            if rank and rank > 1 and leader in leader_vectors:
                cell["tied"][split] = _tied(
                    leader_vectors[leader].get((slug, split)), vectors.get((slug, split))
                )


def _history(entries: list[BoardEntry]) -> dict[str, list[list[Any]]]:
    """Best complete score over time per protocol and split: the steps where it improved."""
    out: dict[str, list[list[Any]]] = {}
    for split in SPLITS:
        for protocol in sorted({e.protocol for e in entries}):
            rows = [
                e
                for e in entries
                if e.protocol == protocol and e.complete and getattr(e, split) is not None
            ]
            rows.sort(key=lambda e: (e.finished_at or timezone.now(), e.submission_id))
            steps: list[list[Any]] = []
            for e in rows:
                value = getattr(e, split)
                if not steps or value > steps[-1][1]:
                    when = e.finished_at.isoformat() if e.finished_at else ""
                    steps.append([when, value, e.method_name, e.submission_id])
            out[f"{protocol}:{split}"] = steps
    return out


SUBMISSION_FIELDS = (
    "id",
    "benchmark_id",
    "owner_id",
    "owner__username",
    "method_name",
    "method_family",
    "protocol",
    "track",
    "pretraining",
    "is_baseline",
    "verified_tunable_params",
    "reported_tunable_params",
    "finished_at",
    "score_json",
)


def build_entries(benchmark: Benchmark) -> tuple[list[BoardEntry], dict[str, Any], _Ties]:
    modalities = list(Modality.objects.filter(benchmark=benchmark).order_by("order", "slug"))
    tasks = list(Task.objects.filter(benchmark=benchmark).order_by("slug"))
    boards = {OVERALL: [t.slug for t in tasks]}
    boards.update({m.slug: [t.slug for t in tasks if t.modality_id == m.pk] for m in modalities})
    subs = Submission.objects.filter(
        benchmark=benchmark, status=Status.SUCCEEDED, is_public=True, score_json__isnull=False
    ).values(*SUBMISSION_FIELDS)
    entries: list[BoardEntry] = []
    history: dict[str, Any] = {}
    ties = _Ties(boards)
    subs = list(subs)
    for modality in [None, *modalities]:
        board = modality.slug if modality else OVERALL
        rows = [e for s in subs if (e := _entry(s, modality, boards[board])) is not None]
        for protocol in sorted({e.protocol for e in rows}):
            part = [e for e in rows if e.protocol == protocol]
            _mark_best(part)
            for split in SPLITS:
                _rank([e for e in part if getattr(e, f"best_{split}")], split, f"rank_{split}")
                leader = _rank(part, split, f"rank_all_{split}")
                for e in part:
                    setattr(e, f"tied_{split}", getattr(e, f"rank_all_{split}") == 1)
                if leader is not None:
                    ties.board_leaders[(board, protocol, split)] = leader.submission_id
            if modality is None:
                task_leaders = _rank_tasks(part, tasks)
                for (slug, split), sub_id in task_leaders.items():
                    ties.task_leaders[(protocol, slug, split)] = sub_id
        history[board] = _history(rows)
        entries += rows
    facets = {
        "families": sorted({e.method_family for e in entries if e.method_family}),
        "protocols": sorted({e.protocol for e in entries}),
        "metrics": sorted(
            {m for e in entries for c in e.cells.values() for sp in SPLITS for m in c.get(sp, {})}
        ),
        "versions": sorted(
            {str((s["score_json"].get("meta") or {}).get("benchmark_version") or "") for s in subs}
            - {""}
        ),
    }
    return entries, {"facets": facets, "history": history}, ties


def recompute(benchmark: Benchmark, requested_at: float | None = None) -> bool:
    """Rebuild the benchmark's board rows. Returns False when a newer recompute already covers
    the request (results that landed before it started are in its rows)."""
    state, _ = BoardState.objects.get_or_create(benchmark=benchmark)
    if requested_at is not None and state.source_started_at > requested_at:
        return False
    started = time.time()
    entries, extra, ties = build_entries(benchmark)
    _apply_ties(benchmark, entries, ties)
    with transaction.atomic():
        state = BoardState.objects.select_for_update().get(pk=state.pk)
        if state.source_started_at > started:
            return False  # a later recompute wrote newer rows meanwhile
        BoardEntry.objects.filter(benchmark=benchmark).delete()
        BoardEntry.objects.bulk_create(entries, batch_size=2000)
        state.generation += 1
        state.source_started_at = started
        state.computed_at = timezone.now()
        state.facets = extra["facets"]
        state.history = extra["history"]
        state.save()
    return True
