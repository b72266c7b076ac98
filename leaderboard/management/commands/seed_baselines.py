from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from leaderboard.models import Benchmark
from leaderboard.services import baselines as bl


def _csv(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


class Command(BaseCommand):
    help = (
        "Train every registered method on the demo tasks with the starter kit (single-backbone "
        "methods on each demo backbone, gmoe_adapter on both) and submit each as a baseline "
        "checkpoint through the real pipeline. Trained checkpoints are cached under var/baselines."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--benchmark", default="med-vtab-mini")
        parser.add_argument("--methods", help="comma-separated method names (default: all)")
        parser.add_argument("--tasks", help="comma-separated task slugs (default: all)")
        parser.add_argument("--protocols", default="1k", help="comma-separated: 1k, full")
        parser.add_argument("--epochs", type=int, default=None)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument(
            "--skip-pretrain",
            action="store_true",
            help="fail instead of pre-training missing demo backbones",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        from django.conf import settings

        from evaluator.scoring import benchmark_version, load_benchmark

        benchmark = Benchmark.objects.filter(slug=options["benchmark"]).first()
        if benchmark is None:
            raise CommandError(f"no benchmark {options['benchmark']!r}; run create_demo_benchmark")
        if not options["skip_pretrain"]:
            from reference_models.pretrain_demo import ensure_demo_backbones

            bl.write_progress(stage="pre-training demo backbones", done=0, total=0)
            ensure_demo_backbones(progress=False)
        version = benchmark_version(
            load_benchmark(settings.MEDVTAB_DATA_ROOT, benchmark.slug).tasks
        )
        protocols = _csv(options["protocols"]) or ["1k"]
        configs = bl.plan(_csv(options["methods"]), protocols)
        if not configs:
            raise CommandError("no method matches --methods")
        owner = bl.baseline_owner()
        started = time.monotonic()
        for done, config in enumerate(configs):
            bl.write_progress(stage=f"training {config.label}", done=done, total=len(configs))
            archive = bl.train_cached(
                config,
                benchmark,
                _csv(options["tasks"]),
                epochs=options["epochs"],
                seed=options["seed"],
                version=version,
                log=self.stdout.write,
            )
            sub = bl.submit_baseline(config, benchmark, archive, owner)
            self.stdout.write(f"{config.label}: submission #{sub.pk} ({sub.status})")
        bl.write_progress(stage="all baselines submitted", done=len(configs), total=len(configs))
        self.stdout.write(f"{len(configs)} baselines in {time.monotonic() - started:.0f} s")
