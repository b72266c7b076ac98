"""``python manage.py import_benchmark SPEC --from DIR``: import a whole benchmark from its spec."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, TextIO

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from datasets.bundle import SPLITS, BundleError
from datasets.importers.spec import BenchmarkSpec, SpecError, SpecTask, load_spec
from datasets.importers.spec_run import TaskOutcome, import_spec
from datasets.importers.spec_sources import preset_names
from leaderboard.services.registration import (
    RegistrationError,
    SyncReport,
    sync_benchmark,
    write_benchmark_info,
)

BAR_WIDTH = 30
TTY_REFRESH_S = 0.2


class ProgressDisplay:
    """One line per task; on a terminal a bar redrawn in place, elsewhere plain lines (every
    quarter of a task), so logs of long imports stay readable."""

    def __init__(self, out: TextIO, n_tasks: int) -> None:
        self.out, self.n_tasks = out, n_tasks
        self.tty = bool(getattr(out, "isatty", lambda: False)())
        self.position = 0
        self.last_draw = 0.0
        self.last_quarter = 0

    def start(self, task: SpecTask, state: str) -> None:
        self.position += 1
        self.last_quarter = 0
        action = {"current": "already imported, skipping", "adopt": "recording finished import",
                  "changed": "source changed, re-importing"}.get(state, "importing")
        self._line(f"{self._prefix(task)} {action}")

    def update(self, task: SpecTask, done: int, total: int) -> None:
        if total <= 0:
            return
        if self.tty:
            now = time.monotonic()
            if now - self.last_draw >= TTY_REFRESH_S or done >= total:
                self.last_draw = now
                filled = BAR_WIDTH * done // total
                bar = "#" * filled + "." * (BAR_WIDTH - filled)
                self.out.write(f"\r{self._prefix(task)} [{bar}] {done:,}/{total:,} images")
                self.out.flush()
            return
        quarter = 4 * done // total
        if quarter > self.last_quarter:
            self.last_quarter = quarter
            self._line(f"{self._prefix(task)} {done:,}/{total:,} images ({25 * quarter}%)")

    def done(self, outcome: TaskOutcome) -> None:
        if outcome.status == "imported":
            images = sum(c.n_images for c in outcome.meta.splits.values())
            self._line(f"{self._prefix(outcome.task)} imported {images:,} images in "
                       f"{outcome.seconds:.1f} s")

    def hashing(self, path: Path, size: int) -> None:
        self._line(f"hashing {path.name} ({size / 1e9:.2f} GB) to compare with earlier imports")

    def _prefix(self, task: SpecTask) -> str:
        return f"[{self.position}/{self.n_tasks}] {task.slug}:"

    def _line(self, text: str) -> None:
        self.out.write(("\r\033[K" if self.tty else "") + text + "\n")
        self.out.flush()


def summary_table(outcomes: list[TaskOutcome]) -> str:
    """Images/patients per split, time and duplicates dropped, one row per task and a total."""
    header = ["task", "status", *(f"{s} img/pat" for s in SPLITS), "time", "dropped"]
    rows = [header]
    for o in outcomes:
        counts = [f"{o.meta.splits[s].n_images:,}/{o.meta.splits[s].n_patients:,}"
                  if s in o.meta.splits else "-" for s in SPLITS]
        rows.append([o.task.slug, o.status, *counts, f"{o.seconds:.1f} s",
                     _dropped(o.duplicates)])
    totals = [f"{sum(o.meta.splits[s].n_images for o in outcomes if s in o.meta.splits):,}"
              for s in SPLITS]
    rows.append(["total", f"{len(outcomes)} task(s)", *totals,
                 f"{sum(o.seconds for o in outcomes):.1f} s",
                 f"{sum(o.duplicates_dropped for o in outcomes):,}"])
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
                     for r in rows)


def _dropped(duplicates: dict[str, int]) -> str:
    total = sum(duplicates.values())
    if not total:
        return "0"
    pairs = ", ".join(f"{pair} {n:,}" for pair, n in sorted(duplicates.items()) if n)
    return f"{total:,} ({pairs})"


class Command(BaseCommand):
    help = (
        "Import every task of a benchmark spec (TOML, docs/formats.md 'Benchmark specs') from the "
        "files in --from, skipping tasks already imported from the same source and options, then "
        "register the benchmark. An interrupted import resumes when run again."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("spec", type=Path,
                            help="the spec file, e.g. specs/medmnist-plus-224.toml")
        parser.add_argument("--from", dest="from_dir", type=Path, required=True,
                            help="folder holding the files the spec names")
        parser.add_argument("--replace", action="store_true",
                            help="re-import tasks whose source or options changed (else refused)")
        parser.add_argument("--verify", action="store_true",
                            help="re-hash every source file even when its size and time match")

    def handle(self, *args: Any, **options: Any) -> None:
        root = Path(settings.MEDVTAB_DATA_ROOT)
        try:
            spec = load_spec(options["spec"], presets=preset_names())
        except SpecError as exc:
            raise CommandError(str(exc)) from None
        display = ProgressDisplay(self.stdout, len(spec.tasks))
        outcomes: list[TaskOutcome] = []

        def finished(outcome: TaskOutcome) -> None:
            outcomes.append(outcome)
            display.done(outcome)

        try:
            import_spec(spec, options["from_dir"], root, replace=options["replace"],
                        verify=options["verify"], progress=display.update,
                        on_start=display.start, on_task=finished, on_hash=display.hashing)
        except SpecError as exc:
            raise CommandError(str(exc)) from None
        except (ValueError, OSError, BundleError) as exc:
            raise CommandError(self._partial(spec, root, outcomes, str(exc))) from None
        except KeyboardInterrupt:
            message = self._partial(spec, root, outcomes, "interrupted")
            raise CommandError(message, returncode=130) from None
        self.stdout.write(summary_table(outcomes))
        self.stdout.write(str(self._register(spec, root)))

    def _register(self, spec: BenchmarkSpec, root: Path) -> SyncReport:
        write_benchmark_info(root, spec.slug, spec.info())
        try:
            return sync_benchmark(root, spec.slug)
        except (RegistrationError, BundleError) as exc:
            raise CommandError(str(exc)) from None

    def _partial(
        self, spec: BenchmarkSpec, root: Path, outcomes: list[TaskOutcome], problem: str
    ) -> str:
        """Register the tasks finished before a failure, and say how to resume."""
        if not outcomes:
            return problem
        self.stdout.write(summary_table(outcomes))
        report = self._register(spec, root)
        return (f"{problem}\n{len(outcomes)} of {len(spec.tasks)} task(s) are imported and "
                f"registered ({report}); run the same command again to import the rest")
