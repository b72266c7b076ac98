from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from leaderboard.models import Benchmark
from leaderboard.services import baselines as bl

if TYPE_CHECKING:
    from reference_models.sweeps import SweepEntry


def _csv(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


class Command(BaseCommand):
    help = (
        "Submit every baseline of the sweep table (reference_models/sweeps.py) as a baseline "
        "checkpoint through the real pipeline, the 1k protocol first, then full. Each archive "
        "comes from the committed cache (reference_models/baselines) or var/baselines when its "
        "recipe, seed, task versions and backbone weights match, and is trained by the starter "
        "kit otherwise. One progress line per step; the home page shows the counts."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        from reference_models.make_baselines import COMMITTED_ROOT

        parser.add_argument("--benchmark", default="med-vtab-mini")
        parser.add_argument("--methods", help="comma-separated method names (default: all)")
        parser.add_argument("--tasks", help="comma-separated task slugs (default: all)")
        parser.add_argument("--protocols", default="1k,full", help="comma-separated: 1k, full")
        parser.add_argument("--epochs", type=int, default=None, help="override every recipe")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument(
            "--archives", type=Path, default=COMMITTED_ROOT,
            help="folder of trained archives and their index (default: the committed one)",
        )
        parser.add_argument(
            "--wait", type=float, default=3600.0,
            help="seconds to wait for the scores after submitting (0: do not wait)",
        )
        parser.add_argument(
            "--skip-pretrain", action="store_true",
            help="fail instead of pre-training missing demo backbones",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        from reference_models.sweeps import PROTOCOLS, sweep

        benchmark = Benchmark.objects.filter(slug=options["benchmark"]).first()
        if benchmark is None:
            raise CommandError(f"no benchmark {options['benchmark']!r}; run create_demo_benchmark")
        given = _csv(options["protocols"]) or []
        if not given or set(given) - set(PROTOCOLS):
            raise CommandError(
                f"--protocols takes {', '.join(PROTOCOLS)}, not {options['protocols']!r}"
            )
        protocols = [p for p in PROTOCOLS if p in given]  # 1k first: its board fills soonest
        try:
            entries = sweep(protocols, _csv(options["methods"]))
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        if not entries:
            raise CommandError("no method matches --methods")
        log = bl.ProgressLog(self.stdout.write, self.stdout.flush)
        if not options["skip_pretrain"]:
            self._pretrain(log)
        opts = bl.SeedOptions(
            benchmark=benchmark, tasks=_csv(options["tasks"]), seed=options["seed"],
            epochs=options["epochs"], archives=[options["archives"]], log=log,
        )
        self._seed(entries, protocols, opts, options["wait"])

    def _pretrain(self, log: bl.ProgressLog) -> None:
        from reference_models.pretrain_demo import ensure_demo_backbones

        bl.write_progress({"stage": "pre-training demo backbones", "done": 0, "total": 0})
        log("demo backbones: checking (pre-training them if missing)")
        ensure_demo_backbones(progress=False)
        log("demo backbones: ready")

    @staticmethod
    def _training(state: bl.ProgressJSON, entry: SweepEntry, log: bl.ProgressLog) -> None:
        bl.write_progress({**state, "stage": f"training {entry.name}"})
        log(f"{entry.name}: training (no cached checkpoint matches)")

    def _seed(self, entries: list[SweepEntry], protocols: list[str], opts: bl.SeedOptions,
              wait_s: float) -> None:
        plans = [bl.ProtocolPlan(protocol=p, names=[e.name for e in entries if e.protocol == p])
                 for p in protocols]
        state = bl.ProgressJSON(stage="starting", done=0, total=len(entries), protocols=plans)
        bl.write_progress(state)
        owner, log = bl.baseline_owner(), opts.log
        watch = bl.ScoreWatch(log)
        for number, protocol in enumerate(protocols):
            batch = [e for e in entries if e.protocol == protocol]
            log(f"{protocol} protocol: {len(batch)} baselines")
            for i, entry in enumerate(batch, 1):
                bl.write_progress({**state, "stage": f"preparing {entry.name}"})
                training = partial(self._training, state, entry, log)
                archive, how = bl.prepare_archive(entry, opts, training)
                sub, created = bl.submit_baseline(entry, archive, owner, opts)
                what = "submitted" if created else "already submitted"
                log(f"{i}/{len(batch)} {entry.name}: {what} #{sub.pk} ({how})")
                state["done"] = state.get("done", 0) + 1
                watch.add(sub, entry.name)
                watch.poll()
            watch.close(protocol, len(batch))
            if number == 0:  # the reference rows right after the first board's baselines
                self._pixel_references(opts.benchmark, protocols, watch)
                if len(protocols) > 1 and wait_s > 0:
                    # Training the next protocol would take the cores from the worker scoring
                    # this one: the first board completes first, then the rest trains.
                    bl.write_progress({**state, "stage": f"scoring the {protocol} board"})
                    watch.wait(wait_s)
        bl.write_progress({**state, "stage": "all baselines submitted; scoring"})
        log(f"{len(entries)} baselines submitted")
        if wait_s > 0:
            watch.wait(wait_s)
        bl.write_progress({**state, "stage": "done"})
        log("seeding done")

    @staticmethod
    def _pixel_references(benchmark: Benchmark, protocols: list[str], watch: bl.ScoreWatch) -> None:
        """The pixel logistic-regression reference row of each protocol's boards. A failure is
        logged and seeding goes on: the baselines do not depend on it."""
        from leaderboard.services.reference import create_pixel_reference

        for protocol in protocols:
            try:
                sub = create_pixel_reference(benchmark, protocol)
            except Exception as exc:  # logged; the baselines are seeded without the reference
                watch.log(f"pixel reference ({protocol}): failed: {exc}")
                continue
            watch.log(f"pixel reference ({protocol}): #{sub.pk} ({sub.status})")
            watch.add(sub, f"pixel reference ({protocol})")
