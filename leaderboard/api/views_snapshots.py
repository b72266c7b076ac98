"""Frozen board snapshots in the API: the list and one snapshot with its rows (docs/api.md).

Anonymous callers may read them, like the boards they froze."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from leaderboard.api.exceptions import ApiError
from leaderboard.api.params import is_slug, query_slug, slug_path, slug_query
from leaderboard.api.serializers import SnapshotDetailSerializer, SnapshotSerializer
from leaderboard.models import Benchmark
from leaderboard.services.snapshots import find, list_snapshots, snapshot_json, snapshot_meta


class SnapshotList(APIView):
    """Every frozen snapshot, newest first, optionally of one benchmark."""

    @extend_schema(
        parameters=[slug_query("benchmark", "only this benchmark's snapshots")],
        responses=SnapshotSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        slug = query_slug(request, "benchmark")
        benchmark = None
        if slug is not None:
            benchmark = Benchmark.objects.filter(slug=slug).first()
            if benchmark is None:
                raise ApiError(f"no benchmark '{slug}'", code="not_found", status_code=404)
        return Response([snapshot_meta(s, n) for s, n in list_snapshots(benchmark)])


class SnapshotDetail(APIView):
    """One snapshot by id or slug, with its citation, columns and rows."""

    @extend_schema(
        parameters=[slug_path("slug", "the snapshot's slug, or its id")],
        responses=SnapshotDetailSerializer,
    )
    def get(self, request: Request, slug: str) -> Response:
        snapshot = find(slug) if is_slug(slug) else None
        if snapshot is None:
            raise ApiError(f"no snapshot '{slug}'", code="not_found", status_code=404)
        url = request.build_absolute_uri(f"/snapshots/{snapshot.slug}/")
        return Response(snapshot_json(snapshot, url))
