"""``GET /api/v1/findings/<benchmark>/``: the findings page's numbers and sentences as JSON
(docs/api.md), under the board's filters, cached like the page."""

from __future__ import annotations

import json

from django.http import HttpResponse
from drf_spectacular.plumbing import resolve_type_hint
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.views import APIView

from leaderboard.api import rendered
from leaderboard.api.exceptions import ApiError
from leaderboard.api.params import is_slug, slug_path
from leaderboard.api.serializers import ErrorSerializer
from leaderboard.api.views_boards import PARAMETERS, check_query
from leaderboard.services import boardcache
from leaderboard.services.boardquery import BoardFilters
from leaderboard.services.findings import FindingsJSON, board_findings

# The board's filters that change the findings (metric, sort and pages do not).
FILTERS = ("split", "protocol", "family", "pretraining", "track", "verified", "all")
FINDINGS_PARAMETERS = [p for p in PARAMETERS if p.name in FILTERS]


class Findings(APIView):
    """Scaling slopes, medical-vs-general pairs, the ID-OOD gap and GMoE-Adapter against the best
    single-backbone entry, each with a bootstrap 95% CI and a generated sentence."""

    @extend_schema(
        parameters=[slug_path("benchmark", "benchmark slug"), *FINDINGS_PARAMETERS],
        responses={
            200: OpenApiResponse(resolve_type_hint(FindingsJSON), description="the findings"),
            400: ErrorSerializer,
            404: ErrorSerializer,
        },
    )
    def get(self, request: Request, benchmark: str) -> HttpResponse:
        if not is_slug(benchmark):
            raise ApiError(f"no benchmark '{benchmark}'", code="not_found", status_code=404)
        check_query(request)
        found = boardcache.board_for(request._request, benchmark, None, False)
        if found is None:
            raise ApiError(f"no benchmark '{benchmark}'", code="not_found", status_code=404)
        board, protocol = found
        f = BoardFilters.parse(
            request.query_params, [t.slug for t in board.tasks], board.metrics, protocol
        )
        render = rendered.renderer_for(request)
        content = boardcache.body(
            request._request,
            "api-findings",
            board,
            f"{rendered.variant(request)}:{f.export_key()}",
            lambda: render(_checked(board_findings(board, f))),
        )
        return rendered.response(request, content)


def _checked(data: FindingsJSON) -> FindingsJSON:
    json.dumps(data, allow_nan=False)  # a NaN would render as invalid JSON: fail loudly instead
    return data
