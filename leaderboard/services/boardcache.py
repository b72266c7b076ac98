"""Boards and their rendered responses, cached (docs/performance.md, "CPU per request").

A board (its benchmark, modality, state, tasks and default protocol) is cached under the
catalogue fingerprint (``pagecache.catalogue_version``), which changes with every recompute and
every catalogue edit; a rendered body under that fingerprint, the board's cache token and the
normalised filters. A hit is then one small query and two cache reads. Bodies are rendered
from public board rows only, without the request: nothing in them depends on who asks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from django.core.cache import cache
from django.http import HttpRequest

from leaderboard.services import pagecache
from leaderboard.services.boardquery import Board, default_protocol, load_board

T = TypeVar("T")


def board_for(
    request: HttpRequest, benchmark: str, modality: str | None, checkpoint_only: bool
) -> tuple[Board, str] | None:
    """The board and its default protocol; None when there is no such board (not cached, so
    that made-up slugs cannot fill the cache)."""
    version = pagecache.catalogue_version(request)
    key = pagecache.hashed(f"board:{version}:{benchmark}:{modality}:{checkpoint_only}")
    found = cache.get(key)
    if found is None:
        board = load_board(benchmark, modality, checkpoint_only=checkpoint_only)
        if board is None:
            return None
        found = (board, default_protocol(board.benchmark.pk))
        cache.set(key, found, pagecache.timeout_s())
    return found


def body(request: HttpRequest, kind: str, board: Board, variant: str, make: Callable[[], T]) -> T:
    """``make()`` once per catalogue fingerprint, board token, board, kind and ``variant`` (the
    normalised parameters that change the output)."""
    token = board.state.cache_token
    if not token:  # never recomputed: no state to key by, and nothing worth caching
        return make()
    version = pagecache.catalogue_version(request)
    key = f"{kind}:{version}:{board.benchmark.pk}:{token}:{board.slug}:{variant}"
    return pagecache.cached(pagecache.hashed(key), make)
