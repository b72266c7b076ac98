"""``manage.py seed_reference``: the pixel logistic-regression reference row of each protocol."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from leaderboard.models import Benchmark, Protocol
from leaderboard.services.reference import create_pixel_reference


def parse_protocols(value: str) -> list[str]:
    protocols = [p.strip() for p in value.split(",") if p.strip()]
    unknown = [p for p in protocols if p not in Protocol.values]
    if unknown or not protocols:
        raise CommandError(
            f"--protocols: {', '.join(unknown) or 'none given'}; choose from "
            f"{', '.join(Protocol.values)}"
        )
    return list(dict.fromkeys(protocols))


class Command(BaseCommand):
    help = (
        "Create the pixel logistic-regression reference submission of a benchmark per protocol "
        "and queue its computation on the gpu queue (an existing one is reused)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--benchmark", default="med-vtab-mini")
        parser.add_argument("--protocols", default="1k,full", help="comma-separated: 1k, full")

    def handle(self, *args: Any, **options: Any) -> None:
        protocols = parse_protocols(options["protocols"])
        benchmark = Benchmark.objects.filter(slug=options["benchmark"]).first()
        if benchmark is None:
            raise CommandError(
                f"no benchmark {options['benchmark']!r}; register its tasks with sync_tasks first"
            )
        for protocol in protocols:
            sub = create_pixel_reference(benchmark, protocol)
            sub.refresh_from_db(fields=["status"])
            self.stdout.write(f"reference {sub.method_name}: submission #{sub.pk} ({sub.status})")
