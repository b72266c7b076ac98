"""Cached parts of pages that every visitor sees alike (docs/performance.md, "CPU per request").

Keys are fingerprints of the data a part shows, read in one small query, so a cached part is
never older than its data: a new result, a recompute of the boards or an edit of the catalogue
changes the key, in every process, whatever the cache backend. The TTL only bounds what no
fingerprint covers (an administrator renaming a method). Cached parts hold no user, session or
CSRF data: they are rendered without the request, and the per-user header is rendered around
them on every request.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any, TypeVar

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest

from leaderboard.models import Benchmark, BoardState, Task

T = TypeVar("T")
_REQUEST_ATTR = "_medvtab_catalogue_version"


def timeout_s() -> int:
    return int(getattr(settings, "MEDVTAB_BOARD_CACHE_S", 600))


def catalogue_version(request: HttpRequest | None = None) -> str:
    """Benchmarks, tasks and board generations in one string; read once per request."""
    known = getattr(request, _REQUEST_ATTR, None)
    if known is not None:
        return str(known)
    with connection.cursor() as cursor:
        cursor.execute(_catalogue_sql())
        row = cursor.fetchone()
    version = hashed("|".join(map(str, row)))
    if request is not None:
        setattr(request, _REQUEST_ATTR, version)
    return version


def _catalogue_sql() -> str:
    # Plain SQL of constant text: building the same aggregates through the ORM cost more CPU
    # than the rest of a cached page. The last recompute's time goes with the generations, which
    # a rolled-back recompute hands out again. Modality names are covered by the TTL only (they
    # change with their tasks when a benchmark is synced).
    b, t, s = (m._meta.db_table for m in (Benchmark, Task, BoardState))
    return (
        f"SELECT (SELECT COUNT(*) FROM {b}), (SELECT MAX(updated) FROM {b}), "
        f"(SELECT COUNT(*) FROM {t}), (SELECT MAX(updated) FROM {t}), "
        f"(SELECT SUM(generation) FROM {s}), (SELECT MAX(computed_at) FROM {s})"
    )


def hashed(text: str) -> str:
    """A short key of printable characters, whatever ``text`` holds (datetimes have spaces)."""
    return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()


def cached(key: str, make: Callable[[], T]) -> T:
    value = cache.get(key)
    if value is None:
        value = make()
        cache.set(key, value, timeout_s())
    return value


def navigation(request: HttpRequest | None) -> list[dict[str, Any]]:
    """Every benchmark's board links, as plain data (one cache read on a hit)."""

    def make() -> list[dict[str, Any]]:
        benchmarks = Benchmark.objects.prefetch_related("modalities").order_by("slug")
        return [
            {
                "slug": b.slug,
                "name": b.name,
                "modalities": [{"slug": m.slug, "name": m.name} for m in b.modalities.all()],
            }
            for b in benchmarks
        ]

    return cached(hashed(f"nav:{catalogue_version(request)}"), make)
