"""Board recompute, enqueued on commit whenever a submission's results are stored."""

from __future__ import annotations

from leaderboard.models import Benchmark
from leaderboard.services.boards import recompute
from leaderboard.tasks.base import medvtab_task


@medvtab_task(queue="cpu")
def recompute_boards(*, benchmark_id: int, requested_at: float | None = None) -> str:
    benchmark = Benchmark.objects.filter(pk=benchmark_id).first()
    if benchmark is None:
        return "gone"
    return "recomputed" if recompute(benchmark, requested_at) else "skipped"
