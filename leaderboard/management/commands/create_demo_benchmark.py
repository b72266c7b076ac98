from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from datasets import synthetic
from leaderboard.services.registration import sync_benchmark, write_benchmark_info

DEMO_INFO: dict[str, object] = {
    "name": "Med-VTAB-mini (synthetic)",
    "description": (
        "A small, fully synthetic stand-in for Med-VTAB, generated deterministically "
        "on this server "
        "for the demo and the tests. Its images are not medical data and its scores say nothing "
        "about real clinical performance."
    ),
    "modalities": {"colour": "Colour images", "xray": "X-ray", "ct-oct": "CT / OCT / MRI"},
}


class Command(BaseCommand):
    help = (
        "Build the synthetic med-vtab-mini benchmark under the data root and register it "
        "(idempotent)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--seed", type=int, default=settings.MEDVTAB_DEMO_SEED)
        parser.add_argument("--image-size", type=int, default=64)
        parser.add_argument(
            "--scale", type=float, default=1.0, help="shrink every split (tests use e.g. 0.05)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        root = settings.MEDVTAB_DATA_ROOT
        start = time.perf_counter()
        metas = synthetic.build_benchmark(
            root,
            seed=options["seed"],
            image_size=options["image_size"],
            scale=options["scale"],
            progress=lambda message: self.stdout.write(message),
        )
        write_benchmark_info(root, synthetic.BENCHMARK_SLUG, DEMO_INFO)
        report = sync_benchmark(root, synthetic.BENCHMARK_SLUG)
        self.stdout.write(
            f"{report} ({len(metas)} tasks on disk, {time.perf_counter() - start:.1f} s)"
        )
