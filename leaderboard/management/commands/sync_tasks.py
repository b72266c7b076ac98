from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from datasets.bundle import BundleError
from leaderboard.services.registration import RegistrationError, sync_all, sync_benchmark


class Command(BaseCommand):
    help = "Register (or update) the tasks whose bundles are on disk under MEDVTAB_DATA_ROOT."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--benchmark", help="only this benchmark (default: all on disk)")

    def handle(self, *args: Any, **options: Any) -> None:
        root = settings.MEDVTAB_DATA_ROOT
        try:
            if options["benchmark"]:
                reports = [sync_benchmark(root, options["benchmark"])]
            else:
                reports = sync_all(root)
        except (RegistrationError, BundleError) as exc:
            raise CommandError(str(exc)) from None
        if not reports:
            self.stdout.write(f"no task bundles under {root}/public")
        for report in reports:
            self.stdout.write(str(report))
