from __future__ import annotations

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from leaderboard.services.pagecache import navigation as cached_navigation


def navigation(request: HttpRequest) -> dict[str, object]:
    """Every page's navigation links each benchmark's overall board and its modality boards
    (evaluated lazily: a page that does not render the navigation reads nothing)."""
    return {"nav_benchmarks": SimpleLazyObject(lambda: cached_navigation(request))}
