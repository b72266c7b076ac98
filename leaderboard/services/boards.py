"""Recompute a benchmark's boards: rows, ranks, statistical ties and the best score over time.

Runs on a worker when results land (``leaderboard.tasks.boards``). It reads only stored results
(score JSON and replicate vectors), never hidden labels, and writes every row of the benchmark in
one transaction with a fresh cache token. Boards: the overall one and one per modality average the
tasks open to both tracks; the checkpoint-only board the tasks that accept checkpoints only
(docs/formats.md, "Score JSON"). Ranks are shared on ties and incomplete or null entries are never
ranked (``evaluator.ranking.rank_entries``); ties with the leader come from
``leaderboard.services.boardties``. Reference rows (``Submission.is_reference``, the pixel
logistic regression) are shown on every board they have tasks on but take no part in anything that
picks winners: no rank, no tie with the leader, never a leader, never grouped with their team's
entries, not in the best-over-time history. The default view keeps each team's best entry per
method (members' submissions of one method are one row, shown under the team's name).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from evaluator.ranking import Entry, rank_entries
from evaluator.scorejson import AggregateJSON, ScoreJSON, TaskJSON
from leaderboard.models import Benchmark, BoardEntry, BoardState, Modality, Status, Submission, Task
from leaderboard.models.boards import SPLITS, BoardScope, Split, board_slug, new_cache_token
from leaderboard.services.boardties import Leaders, apply_ties
from leaderboard.services.ladder import BoardLadder


@dataclass(frozen=True)
class BoardSpec:
    """One board of a benchmark: which tasks it averages and which score section holds that."""

    scope: str
    modality: Modality | None
    slugs: list[str]
    section: Callable[[ScoreJSON], AggregateJSON | None]
    ranks_tasks: bool  # whether its rows carry the per-task ranks the task pages show

    @property
    def slug(self) -> str:
        return board_slug(self.scope, self.modality.slug if self.modality else None)


def board_specs(tasks: list[Task], modalities: list[Modality]) -> list[BoardSpec]:
    both = [t.slug for t in tasks if t.accepts_predictions]
    only = [t.slug for t in tasks if not t.accepts_predictions]
    specs = [BoardSpec(BoardScope.OVERALL, None, both, lambda d: d.get("overall"), True)]
    for m in modalities:
        slugs = [t.slug for t in tasks if t.modality_id == m.pk and t.accepts_predictions]
        section = _modality_section(m.slug)
        specs.append(BoardSpec(BoardScope.MODALITY, m, slugs, section, False))
    if only:
        section = _checkpoint_section
        specs.append(BoardSpec(BoardScope.CHECKPOINT_ONLY, None, only, section, True))
    return specs


def _modality_section(slug: str) -> Callable[[ScoreJSON], AggregateJSON | None]:
    return lambda data: (data.get("modalities") or {}).get(slug)


def _checkpoint_section(data: ScoreJSON) -> AggregateJSON | None:
    return data.get("checkpoint_only")


def _triple(agg: AggregateJSON | None, split: Split) -> tuple[Any, Any, Any]:
    if agg is None:
        return None, None, None
    ci = (agg.get("ci") or {}).get(split)
    return agg.get(split), *(ci or (None, None))


def _cells(tasks_json: dict[str, TaskJSON], slugs: list[str]) -> dict[str, Any]:
    return {
        slug: {
            split: {
                metric: [m.get("value"), m.get("ci_low"), m.get("ci_high")]
                for metric, m in (tasks_json[slug].get(split) or {}).items()
            }
            for split in SPLITS
        }
        for slug in slugs
        if slug in tasks_json
    }


def _entry(sub: dict[str, Any], spec: BoardSpec) -> BoardEntry | None:
    data: ScoreJSON = sub["score_json"]  # never null: filtered in build_entries
    tasks_json = data.get("tasks") or {}
    if not any(s in tasks_json for s in spec.slugs):
        return None  # nothing of this board was submitted
    agg = spec.section(data)
    id_v, id_lo, id_hi = _triple(agg, "test_id")
    ood_v, ood_lo, ood_hi = _triple(agg, "test_ood")
    verified = sub["verified_tunable_params"]
    # the mean over every task entered, where that is more than this board averages
    others = spec.scope != BoardScope.MODALITY and bool(set(tasks_json) - set(spec.slugs))
    all_tasks = data.get("all_tasks") if others else None
    return BoardEntry(
        benchmark_id=sub["benchmark_id"],
        scope=spec.scope,
        modality=spec.modality,
        submission_id=sub["id"],
        owner_id=sub["owner_id"],
        owner_name=sub["owner__username"],
        team_id=sub["team_id"],
        team_name=sub["team__name"] or sub["owner__username"],
        method_name=sub["method_name"],
        method_family=sub["method_family"],
        protocol=sub["protocol"],
        track=sub["track"],
        pretraining=sub["pretraining"],
        is_baseline=sub["is_baseline"],
        tunable_params=verified if verified is not None else sub["reported_tunable_params"],
        params_verified=verified is not None,
        finished_at=sub["finished_at"],
        complete=bool(agg and agg.get("complete")),
        test_id=id_v,
        test_id_lo=id_lo,
        test_id_hi=id_hi,
        test_ood=ood_v,
        test_ood_lo=ood_lo,
        test_ood_hi=ood_hi,
        ood_gap=agg.get("ood_gap") if agg else None,
        all_tasks_test_id=all_tasks.get("test_id") if all_tasks else None,
        all_tasks_test_ood=all_tasks.get("test_ood") if all_tasks else None,
        cells=_cells(tasks_json, spec.slugs),
    )


def _best_key(e: BoardEntry, split: Split) -> tuple[Any, ...]:
    value = e.score(split)
    ts = e.finished_at.timestamp() if e.finished_at else 0.0
    # complete first, then numbers before nulls, then higher, then earlier, then lower id
    return (not e.complete, value is None, -(value or 0.0), ts, e.submission_id)


def _collapse_key(e: BoardEntry) -> tuple[str, int, str]:
    """One best row per team and method: members' entries of one method are one row. A row
    bulk-inserted without a team (past ``Submission.save``) falls back to its owner."""
    if e.team_id is not None:
        return ("team", e.team_id, e.method_name)
    return ("owner", e.owner_id, e.method_name)


def _mark_best(entries: list[BoardEntry]) -> None:
    groups: dict[tuple[str, int, str], list[BoardEntry]] = defaultdict(list)
    for e in entries:
        groups[_collapse_key(e)].append(e)
    for group in groups.values():
        for split in SPLITS:
            min(group, key=lambda e: _best_key(e, split)).mark_best(split)


def _rank(entries: list[BoardEntry], split: Split, *, all_rows: bool) -> BoardEntry | None:
    """Set the competition ranks; return the leader (None when nobody is ranked)."""
    by_id = {str(i): e for i, e in enumerate(entries)}
    ranked = rank_entries([Entry(k, e.score(split), e.complete) for k, e in by_id.items()])
    for r in ranked:
        by_id[r.id].set_rank(split, r.rank, all_rows=all_rows)
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
            rows = [e for e in entries if e.is_best(split) and task.slug in e.cells]
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


def _history(entries: list[BoardEntry], references: set[int]) -> dict[str, list[list[Any]]]:
    """Best complete score over time per protocol and split: the steps where it improved
    (participants' and baselines' entries; a reference is not a step)."""
    entries = [e for e in entries if e.submission_id not in references]
    out: dict[str, list[list[Any]]] = {}
    for split in SPLITS:
        for protocol in sorted({e.protocol for e in entries}):
            rows = [
                e
                for e in entries
                if e.protocol == protocol and e.complete and e.score(split) is not None
            ]
            rows.sort(key=lambda e: (e.finished_at or timezone.now(), e.submission_id))
            steps: list[list[Any]] = []
            for e in rows:
                value = e.score(split)
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
    "team_id",
    "team__name",
    "method_name",
    "method_family",
    "protocol",
    "track",
    "pretraining",
    "is_baseline",
    "is_reference",
    "verified_tunable_params",
    "reported_tunable_params",
    "finished_at",
    "score_json",
)


def _rank_board(
    rows: list[BoardEntry],
    spec: BoardSpec,
    tasks: list[Task],
    leaders: Leaders,
    references: set[int],
) -> None:
    for protocol in sorted({e.protocol for e in rows}):
        part = [e for e in rows if e.protocol == protocol and e.submission_id not in references]
        for e in rows:
            if e.protocol == protocol and e.submission_id in references:
                _show_unranked(e)
        _mark_best(part)
        for split in SPLITS:
            _rank([e for e in part if e.is_best(split)], split, all_rows=False)
            leader = _rank(part, split, all_rows=True)
            for e in part:
                e.set_tied(split, e.rank(split, all_rows=True) == 1)
            if leader is not None:
                leaders.boards[(spec.slug, protocol, split)] = leader.submission_id
        if spec.ranks_tasks:
            board_tasks = [t for t in tasks if t.slug in spec.slugs]
            for (slug, task_split), sub_id in _rank_tasks(part, board_tasks).items():
                leaders.tasks[(spec.slug, protocol, slug, task_split)] = sub_id


def _show_unranked(e: BoardEntry) -> None:
    """A reference row: in the default (best-per-method) view, with no rank and no tie."""
    for split in SPLITS:
        e.mark_best(split)


def _facets(entries: list[BoardEntry], subs: list[dict[str, Any]]) -> dict[str, list[str]]:
    versions = {
        str((s["score_json"].get("meta") or {}).get("benchmark_version") or "") for s in subs
    }
    return {
        "families": sorted({e.method_family for e in entries if e.method_family}),
        "protocols": sorted({e.protocol for e in entries}),
        "metrics": sorted(
            {m for e in entries for c in e.cells.values() for sp in SPLITS for m in c.get(sp, {})}
        ),
        "versions": sorted(versions - {""}),
    }


def build_entries(benchmark: Benchmark) -> tuple[list[BoardEntry], dict[str, Any], Leaders]:
    modalities = list(Modality.objects.filter(benchmark=benchmark).order_by("order", "slug"))
    tasks = list(Task.objects.filter(benchmark=benchmark).order_by("slug"))
    specs = board_specs(tasks, modalities)
    subs = list(
        Submission.objects.filter(
            benchmark=benchmark, status=Status.SUCCEEDED, is_public=True, score_json__isnull=False
        ).values(*SUBMISSION_FIELDS)
    )
    entries: list[BoardEntry] = []
    history: dict[str, Any] = {}
    leaders = Leaders({spec.slug: spec.slugs for spec in specs})
    references = {s["id"] for s in subs if s["is_reference"]}
    ladder = BoardLadder(benchmark.ladder_margin, references) if benchmark.ladder else None
    for spec in specs:
        rows = [e for s in subs if (e := _entry(s, spec)) is not None]
        if ladder is not None:  # only the entries that moved a team's shown score stay
            rows = ladder.apply(rows, spec.scope, spec.slug, spec.slugs)
        _rank_board(rows, spec, tasks, leaders, references)
        history[spec.slug] = _history(rows, references)
        entries += rows
    facets = _facets(entries, subs) | ({"ladder": ladder.facets()} if ladder else {})
    return entries, {"facets": facets, "history": history}, leaders


def recompute(benchmark: Benchmark, requested_at: float | None = None) -> bool:
    """Rebuild the benchmark's board rows. Returns False when a newer recompute already covers
    the request (results that landed before it started are in its rows)."""
    state, _ = BoardState.objects.get_or_create(benchmark=benchmark)
    if requested_at is not None and state.source_started_at > requested_at:
        return False
    started = time.time()
    entries, extra, leaders = build_entries(benchmark)
    apply_ties(benchmark, entries, leaders)
    with transaction.atomic():
        state = BoardState.objects.select_for_update().get(pk=state.pk)
        if state.source_started_at > started:
            return False  # a later recompute wrote newer rows meanwhile
        BoardEntry.objects.filter(benchmark=benchmark).delete()
        BoardEntry.objects.bulk_create(entries, batch_size=2000)
        state.generation += 1
        state.cache_token = new_cache_token()
        state.source_started_at = started
        state.computed_at = timezone.now()
        state.facets = extra["facets"]
        state.history = extra["history"]
        state.save()
    return True
