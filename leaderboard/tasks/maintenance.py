from __future__ import annotations

from leaderboard.tasks.base import medvtab_task


@medvtab_task(queue="cpu")
def reap_submissions() -> str:
    from leaderboard.services.reaper import reap

    return str(reap())


@medvtab_task(queue="cpu")
def freeze_closed_phases() -> str:
    """Freeze the boards of phases that have closed (beat runs it with the reaper's interval).
    Idempotent: a phase's boards are frozen once however often it runs."""
    from leaderboard.services.snapshots import freeze_closed_phases as freeze

    return str(freeze())
