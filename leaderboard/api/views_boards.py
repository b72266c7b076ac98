"""The leaderboard API: the board page's rows, order and tie flags, as JSON.

The rows come from the boards service (``leaderboard.services.boardquery``): the same stored
``BoardEntry`` rows, filters, order and pagination as the page. Ranked (complete) rows are paged by
``page``; incomplete ones, which the page lists apart, by ``ipage``.
"""

from __future__ import annotations

import re
from typing import Any

from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.views import APIView

from evaluator.metrics import METRICS
from leaderboard.api import rendered
from leaderboard.api.exceptions import ApiError
from leaderboard.api.params import is_slug, query_slug, slug_path, slug_query
from leaderboard.api.schema import NO_NUL
from leaderboard.api.serializers import LeaderboardPageSerializer
from leaderboard.models import BoardEntry, Submission
from leaderboard.services import boardcache
from leaderboard.services.boardquery import (
    PRETRAININGS,
    PROTOCOLS,
    SPLITS,
    TRACKS,
    Board,
    BoardFilters,
    filtered,
    is_reference,
    metric_for,
    ordered,
    page_of,
)

BOARD_KINDS = ("overall", "checkpoint-only")
ORDERS = ("desc", "asc")
BOOLEANS = ("true", "false", "1", "0", "on")  # "1"/"on": what the board page's links send
SORT_PATTERN = r"^(rank|test_id|test_ood|ood_gap|params|method|task:.+)$"
MAX_PAGE = 10**9 - 1
FAMILY_LENGTH = Submission._meta.get_field("method_family").max_length
PAGE_SCHEMA = {"type": "integer", "minimum": 1, "maximum": MAX_PAGE}
# Query values that must be one of a fixed set; anything else is a 400 (the page falls back).
CHOICES: dict[str, tuple[str, ...]] = {
    "split": SPLITS,
    "protocol": PROTOCOLS,
    "pretraining": PRETRAININGS,
    "track": TRACKS,
    "order": ORDERS,
    "metric": ("primary", *sorted(METRICS.names())),
    "verified": BOOLEANS,
    "all": BOOLEANS,
    "board": BOARD_KINDS,
}

PARAMETERS = [
    slug_query("modality", "modality slug (default: the overall board)"),
    OpenApiParameter(
        "board",
        str,
        enum=list(BOARD_KINDS),
        description="'checkpoint-only': the tasks that accept checkpoints only (without modality)",
    ),
    OpenApiParameter("split", str, enum=list(SPLITS), description="default test_id"),
    OpenApiParameter(
        "metric", str, enum=list(CHOICES["metric"]), description="default: each task's primary"
    ),
    OpenApiParameter("protocol", str, enum=list(PROTOCOLS), description="default full"),
    OpenApiParameter(
        "family",
        {"type": "string", "maxLength": FAMILY_LENGTH, "pattern": NO_NUL},
        description="method family",
    ),
    OpenApiParameter("pretraining", str, enum=list(PRETRAININGS)),
    OpenApiParameter("track", str, enum=list(TRACKS)),
    OpenApiParameter("verified", bool, description="only verified tunable-parameter counts"),
    OpenApiParameter("all", bool, description="every submission, not only each method's best"),
    OpenApiParameter(
        "sort",
        {"type": "string", "pattern": SORT_PATTERN},
        description="rank (default), test_id, test_ood, ood_gap, params, method or "
        "task:<task slug> (a task of the board, else 404)",
    ),
    OpenApiParameter("order", str, enum=list(ORDERS)),
    OpenApiParameter("page", PAGE_SCHEMA, description="page of ranked rows (50 a page)"),
    OpenApiParameter("ipage", PAGE_SCHEMA, description="page of incomplete rows"),
]


def _cell(value: Any) -> dict[str, float | None]:
    value = value or [None, None, None]
    return {"value": value[0], "ci_low": value[1], "ci_high": value[2]}


def row_json(e: BoardEntry, board: Board, f: BoardFilters) -> dict[str, Any]:
    tasks = {
        t.slug: _cell((e.cells.get(t.slug, {}).get(f.split) or {}).get(metric_for(t, f)))
        for t in board.tasks
    }
    return {
        "rank": e.rank(f.split, all_rows=f.show_all),
        "tied_with_leader": e.tied_with_leader(f.split, all_rows=f.show_all),
        "submission_id": e.submission_id,
        "method_name": e.method_name,
        "method_family": e.method_family,
        "owner": e.owner_name,
        "team": e.team_name or e.owner_name,
        "is_baseline": e.is_baseline,
        "is_reference": is_reference(e),
        "protocol": e.protocol,
        "track": e.track,
        "pretraining": e.pretraining,
        "tunable_params": e.tunable_params,
        "params_verified": e.params_verified,
        "complete": e.complete,
        "test_id": _cell([e.test_id, e.test_id_lo, e.test_id_hi]),
        "test_ood": _cell([e.test_ood, e.test_ood_lo, e.test_ood_hi]),
        "ood_gap": e.ood_gap,
        "all_tasks": {"test_id": e.all_tasks_test_id, "test_ood": e.all_tasks_test_ood},
        "tasks": tasks,
    }


def _refuse(name: str, detail: str) -> ApiError:
    return ApiError(f"{name}: {detail}", code="invalid", field=name)


def check_query(request: Request) -> None:
    """Refuse what the schema does not allow (400, naming the parameter), never ignore it."""
    query = request.query_params
    for name, allowed in CHOICES.items():
        if name in query and query[name] not in allowed:
            raise _refuse(name, f"must be one of {', '.join(allowed)}")
    for name in ("page", "ipage"):
        raw = query.get(name)
        if raw is not None and not (raw.isascii() and raw.isdigit() and 0 < int(raw) <= MAX_PAGE):
            raise _refuse(name, f"must be an integer between 1 and {MAX_PAGE}")
    family = query.get("family", "")
    if len(family) > FAMILY_LENGTH or "\x00" in family:
        raise _refuse("family", f"must be at most {FAMILY_LENGTH} characters, none of them NUL")
    if "sort" in query and not re.match(SORT_PATTERN, query["sort"]):
        raise _refuse("sort", "must be rank, test_id, test_ood, ood_gap, params, method or task:…")


def _check_sorted_task(request: Request, board: Board) -> None:
    sort = request.query_params.get("sort", "")
    if sort.startswith("task:") and sort[5:] not in {t.slug for t in board.tasks}:
        raise ApiError(
            f"no task '{sort[5:]}' on board '{board.slug}'", code="not_found", status_code=404
        )


def _checkpoint_only(request: Request, modality: str | None) -> bool:
    checkpoint_only = request.query_params.get("board") == "checkpoint-only"
    if checkpoint_only and modality:
        raise _refuse("board", "checkpoint-only takes no modality (its tasks span modalities)")
    return checkpoint_only


class Leaderboard(APIView):
    """A board's rows in the page's order, with ranks and statistical ties with the leader."""

    @extend_schema(
        parameters=[slug_path("benchmark", "benchmark slug"), *PARAMETERS],
        responses=LeaderboardPageSerializer,
    )
    def get(self, request: Request, benchmark: str) -> HttpResponse:
        if not is_slug(benchmark):
            raise ApiError(f"no benchmark '{benchmark}'", code="not_found", status_code=404)
        check_query(request)
        modality = query_slug(request, "modality") or None
        checkpoint_only = _checkpoint_only(request, modality)
        found = boardcache.board_for(request._request, benchmark, modality, checkpoint_only)
        if found is None:
            what = f"modality '{modality}' of " if modality else ""
            what = "checkpoint-only tasks in " if checkpoint_only else what
            raise ApiError(
                f"no board for {what}benchmark '{benchmark}'", code="not_found", status_code=404
            )
        board, protocol = found
        _check_sorted_task(request, board)
        f = BoardFilters.parse(
            request.query_params,
            [t.slug for t in board.tasks],
            list(CHOICES["metric"][1:]),  # a known metric the board lacks reads as empty cells
            protocol,
        )
        render = rendered.renderer_for(request)
        content = boardcache.body(
            request._request,
            "api",
            board,
            f"{rendered.variant(request)}:{f.cache_key()}",
            lambda: render(board_page(board, f)),
        )
        return rendered.response(request, content)


def board_page(board: Board, f: BoardFilters) -> dict[str, Any]:
    qs = ordered(filtered(board, f), board, f)
    rows, page, pages = page_of(qs.filter(complete=True), f.page)
    incomplete, ipage, ipages = page_of(qs.filter(complete=False), f.ipage)
    out: dict[str, Any] = {
        "benchmark": board.benchmark.slug,
        "board": board.slug,
        "filters": f.params(page=1, ipage=1),
        "tasks": [t.slug for t in board.tasks],
        "page": page,
        "num_pages": pages,
        "ipage": ipage,
        "num_ipages": ipages,
        "results": [row_json(e, board, f) for e in rows],
        "incomplete": [row_json(e, board, f) for e in incomplete],
    }
    ladder = board.ladder(f.protocol)
    if ladder is not None:  # added only under the Ladder, as in the board export
        out["ladder"] = ladder
    return out
