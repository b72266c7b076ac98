from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from leaderboard.services.reaper import reap


class Command(BaseCommand):
    help = (
        "Re-queue or fail stranded submissions and re-send lost ones (what beat runs every minute)."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(str(reap()))
