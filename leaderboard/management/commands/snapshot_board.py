"""``manage.py snapshot_board BENCHMARK``: freeze a board into a citable snapshot."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from leaderboard.models.boards import CHECKPOINT_ONLY_SLUG
from leaderboard.services.boardquery import PROTOCOLS, SPLITS, TRACKS
from leaderboard.services.snapshots import SnapshotRefused, SnapshotRequest, freeze, snapshot_path


class Command(BaseCommand):
    help = (
        "Freeze a board (recomputed first) as an immutable snapshot with a permanent URL, "
        "CSV/JSON exports and a citation; prints its URL."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("benchmark", help="benchmark slug")
        parser.add_argument(
            "--modality",
            help=f"a modality's board (its slug), or {CHECKPOINT_ONLY_SLUG} (default: overall)",
        )
        parser.add_argument("--protocol", choices=PROTOCOLS, default="full")
        parser.add_argument("--split", choices=SPLITS, default="test_id")
        parser.add_argument("--track", choices=TRACKS, default="", help="default: both tracks")
        parser.add_argument("--title", default="", help="default: built from the board and date")

    def handle(self, *args: Any, **options: Any) -> None:
        request = SnapshotRequest(
            benchmark=options["benchmark"],
            modality=options["modality"] or None,
            protocol=options["protocol"],
            split=options["split"],
            track=options["track"],
            title=options["title"].strip()[:200],
            created_by="snapshot_board",
        )
        try:
            snapshot = freeze(request)
        except SnapshotRefused as exc:
            raise CommandError(str(exc)) from exc
        count = snapshot.rows.count()
        self.stdout.write(
            f"froze {count} rows as snapshot {snapshot.pk}: {snapshot_path(snapshot)}"
        )
