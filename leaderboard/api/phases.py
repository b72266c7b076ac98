"""A benchmark's phases, and the 409 that a closed phase answers an upload with (docs/api.md)."""

from __future__ import annotations

from datetime import UTC

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from leaderboard.api.exceptions import ApiError
from leaderboard.api.params import is_slug, slug_path
from leaderboard.api.serializers import PhaseSerializer
from leaderboard.models import Benchmark
from leaderboard.services.phases import PhaseClosed, phase_json, phases_of


def phase_closed_error(exc: PhaseClosed) -> ApiError:
    """409 ``phase_closed`` with the next opening (also as ``Retry-After`` when there is one)."""
    opens = exc.next_opens
    return ApiError(
        exc.message,
        code="phase_closed",
        status_code=status.HTTP_409_CONFLICT,
        field=exc.field,
        retry_after_s=exc.retry_after_s(),
        extra={
            "next_opens": opens.astimezone(UTC).isoformat() if opens else None,
            "phase": exc.phase.slug if exc.phase is not None else None,
        },
    )


class BenchmarkPhases(APIView):
    """The benchmark's phases in opening order, each with its state now; an empty list for a
    benchmark without phases (always open)."""

    @extend_schema(
        parameters=[slug_path("slug", "benchmark slug")],
        responses=PhaseSerializer(many=True),
        operation_id="benchmarks_phases_list",
    )
    def get(self, request: Request, slug: str) -> Response:
        benchmark = Benchmark.objects.filter(slug=slug).first() if is_slug(slug) else None
        if benchmark is None:
            raise ApiError(f"no such benchmark '{slug}'", code="not_found", status_code=404)
        return Response([phase_json(p) for p in phases_of(benchmark)])
