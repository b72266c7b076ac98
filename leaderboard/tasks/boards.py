"""Board recompute, enqueued on commit whenever a submission's results are stored.

The service (``leaderboard.services.boards``) knows nothing of Celery; this module is the only
one that enqueues it.
"""

from __future__ import annotations

import logging
import time

from django.conf import settings

from leaderboard.models import Benchmark
from leaderboard.services.boards import recompute
from leaderboard.tasks.base import medvtab_task

log = logging.getLogger(__name__)


@medvtab_task(queue="cpu")
def recompute_boards(*, benchmark_id: int, requested_at: float | None = None) -> str:
    benchmark = Benchmark.objects.filter(pk=benchmark_id).first()
    if benchmark is None:
        return "gone"
    return "recomputed" if recompute(benchmark, requested_at) else "skipped"


def request_recompute(benchmark_id: int) -> None:
    """Enqueue a recompute (called on commit when a result lands); never fails the caller.

    It runs ``MEDVTAB_BOARD_RECOMPUTE_DELAY_S`` later: the requests of results that land meanwhile
    are older than its data, so they are skipped, and a busy server recomputes (and empties its
    board caches) at most once per delay instead of once per result.
    """
    try:
        recompute_boards.apply_async(
            kwargs={"benchmark_id": benchmark_id, "requested_at": time.time()},
            countdown=settings.MEDVTAB_BOARD_RECOMPUTE_DELAY_S or None,
        )
    except Exception:  # the broker being down must not undo a stored result
        log.exception("could not enqueue the board recompute of benchmark %s", benchmark_id)
