from __future__ import annotations

from leaderboard.tasks.base import medvtab_task


@medvtab_task(queue="cpu")
def reap_submissions() -> str:
    from leaderboard.services.reaper import reap

    return str(reap())
