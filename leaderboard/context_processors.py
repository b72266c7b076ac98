from __future__ import annotations

from django.http import HttpRequest

from leaderboard.models import Benchmark


def navigation(request: HttpRequest) -> dict[str, object]:
    """Every page's navigation links each benchmark's overall board and its modality boards
    (evaluated lazily: a page that does not render the navigation makes no query)."""
    return {"nav_benchmarks": Benchmark.objects.prefetch_related("modalities").order_by("slug")}
