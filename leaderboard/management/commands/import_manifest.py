from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from datasets.bundle import OOD_LEVELS
from datasets.importers.manifest import import_manifest
from leaderboard.management.commands._importing import add_task_arguments, run_import, task_kwargs


class Command(BaseCommand):
    help = (
        "Import a CSV manifest (path,label(s),patient_id[,split]) of PNG/JPEG files; images are "
        "resized to --image-size and splits are built by patient unless the manifest fixes them."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("manifest", type=Path)
        add_task_arguments(parser)
        parser.add_argument("--image-size", type=int, default=64)
        parser.add_argument("--channels", type=int, choices=(1, 3), default=3)
        parser.add_argument("--base-dir", type=Path, help="image paths are relative to this")
        parser.add_argument(
            "--ood-level", choices=OOD_LEVELS, default="patient",
            help="patient: hold out patients as test_ood (default); site: the manifest's split "
                 "column names the held-out site's images test_ood; none: no test_ood",
        )
        parser.add_argument(
            "--workers", type=int, default=None,
            help="image-decoding processes (default: min(2, CPUs); 1 decodes in this process)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        message = run_import(
            lambda on_summary: import_manifest(
                options["manifest"],
                settings.MEDVTAB_DATA_ROOT,
                image_size=options["image_size"],
                channels=options["channels"],
                base_dir=options["base_dir"],
                ood_level=options["ood_level"],
                workers=options["workers"],
                on_summary=on_summary,
                **task_kwargs(options),
            )
        )
        self.stdout.write(message)
