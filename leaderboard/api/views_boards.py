"""The leaderboard API: the board page's rows, order and tie flags, as JSON.

The rows come from the boards service (``leaderboard.services.boardquery``): the same stored
``BoardEntry`` rows, filters, order and pagination as the page. Ranked (complete) rows are paged by
``page``; incomplete ones, which the page lists apart, by ``ipage``.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from leaderboard.api.exceptions import ApiError
from leaderboard.api.serializers import LeaderboardPageSerializer
from leaderboard.models import BoardEntry
from leaderboard.services.boardquery import (
    PRETRAININGS,
    PROTOCOLS,
    SPLITS,
    TRACKS,
    Board,
    BoardFilters,
    default_protocol,
    filtered,
    load_board,
    metric_for,
    ordered,
    page_of,
)

BOARD_KINDS = ("overall", "checkpoint-only")
PARAMETERS = [
    OpenApiParameter("modality", str, description="modality slug (default: the overall board)"),
    OpenApiParameter(
        "board",
        str,
        enum=list(BOARD_KINDS),
        description="'checkpoint-only': the tasks that accept checkpoints only (without modality)",
    ),
    OpenApiParameter("split", str, enum=list(SPLITS), description="default test_id"),
    OpenApiParameter("metric", str, description="'primary' (default) or a metric name"),
    OpenApiParameter("protocol", str, enum=list(PROTOCOLS), description="default full"),
    OpenApiParameter("family", str, description="method family"),
    OpenApiParameter("pretraining", str, enum=list(PRETRAININGS)),
    OpenApiParameter("track", str, enum=list(TRACKS)),
    OpenApiParameter("verified", bool, description="only verified tunable-parameter counts"),
    OpenApiParameter("all", bool, description="every submission, not only each method's best"),
    OpenApiParameter("sort", str, description="rank (default), test_id, test_ood, ood_gap, …"),
    OpenApiParameter("order", str, enum=["desc", "asc"]),
    OpenApiParameter("page", int, description="page of ranked rows (50 a page)"),
    OpenApiParameter("ipage", int, description="page of incomplete rows"),
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
        "is_baseline": e.is_baseline,
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


def _positive(request: Request, name: str) -> None:
    raw = request.query_params.get(name)
    if raw is not None and not (raw.isdigit() and 0 < int(raw) < 10**9):
        raise ApiError(f"{name} must be a positive integer", code="invalid", field=name)


def _checkpoint_only(request: Request, modality: str | None) -> bool:
    kind = request.query_params.get("board") or "overall"
    if kind not in BOARD_KINDS:
        allowed = ", ".join(BOARD_KINDS)
        raise ApiError(f"board must be one of {allowed}", code="invalid", field="board")
    if kind == "checkpoint-only" and modality:
        raise ApiError(
            "board=checkpoint-only takes no modality (its tasks span modalities)",
            code="invalid",
            field="board",
        )
    return kind == "checkpoint-only"


class Leaderboard(APIView):
    """A board's rows in the page's order, with ranks and statistical ties with the leader."""

    @extend_schema(parameters=PARAMETERS, responses=LeaderboardPageSerializer)
    def get(self, request: Request, benchmark: str) -> Response:
        _positive(request, "page")
        _positive(request, "ipage")
        modality = request.query_params.get("modality") or None
        checkpoint_only = _checkpoint_only(request, modality)
        board = load_board(benchmark, modality, checkpoint_only=checkpoint_only)
        if board is None:
            what = f"modality '{modality}' of " if modality else ""
            what = "checkpoint-only tasks in " if checkpoint_only else what
            raise ApiError(
                f"no board for {what}benchmark '{benchmark}'", code="not_found", status_code=404
            )
        f = BoardFilters.parse(
            request.query_params,
            [t.slug for t in board.tasks],
            board.metrics,
            default_protocol(board.benchmark.pk),
        )
        qs = ordered(filtered(board, f), board, f)
        rows, page, pages = page_of(qs.filter(complete=True), f.page)
        incomplete, ipage, ipages = page_of(qs.filter(complete=False), f.ipage)
        return Response(
            {
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
        )
