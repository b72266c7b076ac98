"""Reading a board: filters from the query string, the page of rows, cell formatting.

Every read is a constant number of queries over the stored rows (``BoardEntry``), whatever the
number of submissions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlencode

from django.db.models import F, FloatField, Q, QuerySet
from django.db.models.fields.json import KT
from django.db.models.functions import Cast
from django.http import QueryDict

from leaderboard.models import Benchmark, BoardEntry, BoardState, Modality, Task
from leaderboard.models.boards import SPLITS as SPLITS  # the views and API import it from here
from leaderboard.models.boards import BoardScope, Split, board_slug

PAGE_SIZE = 50
PROTOCOLS = ("full", "1k")
PRETRAININGS = ("general", "medical", "both")
TRACKS = ("predictions", "checkpoint")
FIXED_SORTS = ("rank", "test_id", "test_ood", "ood_gap", "params", "method")


@dataclass(frozen=True)
class BoardFilters:
    split: Split = "test_id"
    metric: str = "primary"
    sort: str = "rank"
    desc: bool = True
    protocol: str = "full"
    family: str = ""
    pretraining: str = ""
    track: str = ""
    verified: bool = False
    show_all: bool = False
    page: int = 1
    ipage: int = 1
    default_protocol: str = "full"

    @classmethod
    def parse(
        cls,
        query: QueryDict,
        task_slugs: list[str],
        metrics: list[str],
        default_protocol: str = "full",
    ) -> BoardFilters:
        """Unknown values fall back to the defaults (a shared link never errors)."""

        def pick(name: str, allowed: tuple[str, ...] | list[str], default: str) -> str:
            value = query.get(name, default)
            return value if value in allowed else default

        sorts = [*FIXED_SORTS, *(f"task:{s}" for s in task_slugs)]
        return cls(
            split="test_ood" if query.get("split") == "test_ood" else "test_id",
            metric=pick("metric", ["primary", *metrics], "primary"),
            sort=pick("sort", sorts, "rank"),
            desc=query.get("order", "desc") != "asc",
            protocol=pick("protocol", PROTOCOLS, default_protocol),
            family=query.get("family", "")[:50],
            pretraining=pick("pretraining", PRETRAININGS, ""),
            track=pick("track", TRACKS, ""),
            verified=query.get("verified") in ("1", "on", "true"),
            show_all=query.get("all") in ("1", "on", "true"),
            page=_positive(query.get("page")),
            ipage=_positive(query.get("ipage")),
            default_protocol=default_protocol,
        )

    def params(self, **changes: Any) -> dict[str, str]:
        """The non-default query parameters of these filters with ``changes`` applied."""
        f = replace(self, **changes)
        out = {
            "split": f.split,
            "metric": f.metric,
            "sort": f.sort,
            "order": "desc" if f.desc else "asc",
            "protocol": f.protocol,
            "family": f.family,
            "pretraining": f.pretraining,
            "track": f.track,
            "verified": "1" if f.verified else "",
            "all": "1" if f.show_all else "",
            "page": str(f.page) if f.page > 1 else "",
            "ipage": str(f.ipage) if f.ipage > 1 else "",
        }
        defaults = BoardFilters()
        default_out = {"split": defaults.split, "metric": "primary", "sort": "rank"}
        default_out |= {"order": "desc", "protocol": self.default_protocol}
        return {k: v for k, v in out.items() if v and default_out.get(k) != v}

    def query(self, **changes: Any) -> str:
        params = self.params(**changes)
        return "?" + urlencode(params) if params else "?"

    def cache_key(self) -> str:
        return urlencode(sorted(self.params().items()))

    def export_key(self) -> str:
        """``cache_key`` without the pages, which exports ignore."""
        return urlencode(sorted(self.params(page=1, ipage=1).items()))


def default_protocol(benchmark_id: int) -> str:
    """``full`` once it has entries; until then ``1k`` if that has (the demo's baselines)."""
    protocols = set(
        BoardEntry.objects.filter(benchmark_id=benchmark_id, modality__isnull=True)
        .values_list("protocol", flat=True)
        .distinct()
    )  # the overall and checkpoint-only boards: a checkpoint entry is on one of them
    return "1k" if "full" not in protocols and "1k" in protocols else "full"


def _positive(value: str | None) -> int:
    try:
        return max(int(value or 1), 1)
    except ValueError:
        return 1


@dataclass
class Board:
    benchmark: Benchmark
    modality: Modality | None
    state: BoardState
    tasks: list[Task]  # the tasks this board averages, its columns
    metrics: list[str] = field(default_factory=list)
    scope: str = BoardScope.OVERALL
    # tasks of the benchmark (of the modality, on its board) that accept checkpoints only, so are
    # not averaged here: they have their own board
    left_out: list[Task] = field(default_factory=list)

    @property
    def slug(self) -> str:
        return board_slug(self.scope, self.modality.slug if self.modality else None)

    @property
    def checkpoint_only(self) -> bool:
        return self.scope == BoardScope.CHECKPOINT_ONLY

    @property
    def name(self) -> str:
        if self.checkpoint_only:
            return "Checkpoint-only tasks"
        return self.modality.name if self.modality else "Overall"

    @property
    def title(self) -> str:
        return f"{self.benchmark.name} · {self.name}"

    def ladder(self, protocol: str | None = None) -> dict[str, Any] | None:
        """The Ladder's margin and this board's "no significant improvement" notes (of one
        protocol, or of all), when the benchmark runs the Ladder (leaderboard.services.ladder)."""
        found = self.state.facets.get("ladder") if self.benchmark.ladder else None
        if not found:
            return None
        notes = found["notes"].get(self.slug, [])
        notes = [n for n in notes if protocol is None or n["protocol"] == protocol]
        return {"margin": found["margin"], "split": found["split"], "notes": notes}


def load_board(
    benchmark_slug: str, modality_slug: str | None, *, checkpoint_only: bool = False
) -> Board | None:
    """Three queries: benchmark with its state, the modality, the tasks. None when there is no
    such board (a checkpoint-only board exists while some task accepts checkpoints only)."""
    benchmark = Benchmark.objects.filter(slug=benchmark_slug).first()
    if benchmark is None:
        return None
    modality = None
    if modality_slug is not None:
        modality = Modality.objects.filter(benchmark=benchmark, slug=modality_slug).first()
        if modality is None:
            return None
    state = BoardState.objects.filter(benchmark=benchmark).first() or BoardState(
        benchmark=benchmark
    )
    tasks = Task.objects.filter(benchmark=benchmark).order_by("modality__order", "slug")
    if modality is not None:
        tasks = tasks.filter(modality=modality)
    both = [t for t in tasks if t.accepts_predictions]
    only = [t for t in tasks if not t.accepts_predictions]
    metrics = sorted({m for m in state.facets.get("metrics", [])})
    if checkpoint_only:
        if not only:
            return None
        return Board(benchmark, None, state, only, metrics, BoardScope.CHECKPOINT_ONLY)
    scope = BoardScope.MODALITY if modality else BoardScope.OVERALL
    return Board(benchmark, modality, state, both, metrics, scope, only)


def filtered(board: Board, f: BoardFilters) -> QuerySet[BoardEntry]:
    """The board's rows under ``f``, each annotated ``is_reference`` (read it with
    :func:`is_reference`). The protocol's reference row stays whatever the family, pre-training,
    track and verified filters say: it is the scale every selection is read against."""
    qs = BoardEntry.objects.filter(
        benchmark=board.benchmark, scope=board.scope, modality=board.modality, protocol=f.protocol
    ).annotate(is_reference=F("submission__is_reference"))
    if not f.show_all:
        qs = qs.filter(**{BoardEntry.best_field(f.split): True})
    chosen = Q()
    if f.family:
        chosen &= Q(method_family=f.family)
    if f.pretraining:
        chosen &= Q(pretraining=f.pretraining)
    if f.track:
        chosen &= Q(track=f.track)
    if f.verified:
        chosen &= Q(params_verified=True)
    if chosen:
        qs = qs.filter(chosen | Q(submission__is_reference=True))
    return qs


def is_reference(e: BoardEntry) -> bool:
    """Whether a row of :func:`filtered` is the reference (never ranked)."""
    return bool(getattr(e, "is_reference", False))


def metric_for(task: Task, f: BoardFilters) -> str:
    return task.primary_metric if f.metric == "primary" else f.metric


def ordered(qs: QuerySet[BoardEntry], board: Board, f: BoardFilters) -> QuerySet[BoardEntry]:
    if f.sort == "method":
        expr: Any = F("method_name")
    elif f.sort == "params":
        expr = F("tunable_params")
    elif f.sort.startswith("task:"):
        task = next(t for t in board.tasks if t.slug == f.sort[5:])
        expr = Cast(KT(f"cells__{task.slug}__{f.split}__{metric_for(task, f)}__0"), FloatField())
    else:
        expr = F(f.split if f.sort == "rank" else f.sort)
    key = expr.desc(nulls_last=True) if f.desc else expr.asc(nulls_last=True)
    return qs.order_by(key, "submission_id")


ShownCells = dict[int, list[Any]]  # row pk -> the shown [value, lo, hi] of each task, in order


def shown_cells(rows: list[BoardEntry], board: Board, f: BoardFilters) -> ShownCells:
    """The shown metric of each task for a page of rows fetched without ``cells``: one more
    query over the page's ids, which reads a few bytes of JSON per row instead of every metric
    (and never touches the rows outside the page)."""
    if not rows:
        return {}
    shown = {
        f"cell_{i}": F(f"cells__{t.slug}__{f.split}__{metric_for(t, f)}")
        for i, t in enumerate(board.tasks)
    }
    found = (
        BoardEntry.objects.filter(pk__in=[e.pk for e in rows])
        .annotate(**shown)
        .values("pk", *shown)
    )
    return {row["pk"]: [row[name] for name in shown] for row in found}


def page_of(qs: QuerySet[BoardEntry], page: int) -> tuple[list[BoardEntry], int, int]:
    """(rows, page, number of pages): one count and one slice."""
    total = qs.count()
    pages = max(math.ceil(total / PAGE_SIZE), 1)
    page = min(page, pages)
    start = (page - 1) * PAGE_SIZE
    return list(qs[start : start + PAGE_SIZE]), page, pages


def fmt(value: float | None, digits: int = 4) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def ci_text(lo: float | None, hi: float | None) -> str:
    return "" if lo is None or hi is None else f"95% CI [{lo:.3f}, {hi:.3f}]"


def half_width(lo: float | None, hi: float | None) -> str:
    return "" if lo is None or hi is None else f"±{(hi - lo) / 2:.3f}"


def cell(value: float | None, lo: float | None, hi: float | None) -> dict[str, Any]:
    return {
        "value": value,
        "text": fmt(value),
        "ci": ci_text(lo, hi),
        "pm": half_width(lo, hi),
    }


def row_view(e: BoardEntry, board: Board, f: BoardFilters, cells: ShownCells) -> dict[str, Any]:
    """What the table shows for one row (``cells`` from ``shown_cells``)."""
    values = cells.get(e.pk) or [None] * len(board.tasks)
    tasks = [
        cell(*(v or [None, None, None])) | {"slug": t.slug}
        for t, v in zip(board.tasks, values, strict=True)
    ]
    return {
        "entry": e,
        "is_reference": is_reference(e),
        "rank": e.rank(f.split, all_rows=f.show_all),
        "tied": e.tied_with_leader(f.split, all_rows=f.show_all),
        "tasks": tasks,
        "test_id": cell(e.test_id, e.test_id_lo, e.test_id_hi),
        "test_ood": cell(e.test_ood, e.test_ood_lo, e.test_ood_hi),
        "ood_gap": cell(e.ood_gap, None, None),
        "all_tasks": all_tasks(e),
        "params": e.tunable_params,
        "params_text": compact(e.tunable_params),
    }


def all_tasks(e: BoardEntry) -> dict[str, str] | None:
    """The mean over every task the entry entered, where this board averages fewer."""
    if e.all_tasks_test_id is None and e.all_tasks_test_ood is None:
        return None
    return {"test_id": fmt(e.all_tasks_test_id), "test_ood": fmt(e.all_tasks_test_ood)}


def compact(n: int | None) -> str:
    """1234567 → 1.23M (the exact count is in the cell's title)."""
    if n is None:
        return "n/a"
    for size, suffix in ((10**9, "G"), (10**6, "M"), (10**3, "k")):
        if n >= size:
            return f"{n / size:.3g}{suffix}"
    return str(n)
