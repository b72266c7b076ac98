from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from datasets.importers.common import DatasetImportError
from datasets.importers.medmnist import import_medmnist
from datasets.importers.presets import Preset, get_preset, preset_for_file, preset_table
from leaderboard.management.commands._importing import add_task_arguments, run_import, task_kwargs


class Command(BaseCommand):
    help = (
        "Import a MedMNIST(+) .npz (train/val/test images and labels). A published file name "
        "(pathmnist.npz, pathmnist_224.npz, ...) or --preset fills the task's name, label type, "
        "classes, licence, citation, modality and OOD mode; flags override them (--list-presets "
        "shows the presets). With patient-id arrays the splits are rebuilt by patient (ood_level "
        "patient); with --ood-from-test the official test split becomes test_ood (ood_level "
        "site); otherwise it becomes test_id (ood_level none)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path, nargs="?")
        add_task_arguments(parser, preset_fills=True)
        parser.add_argument("--preset", help="a MedMNIST preset (default: from the file name)")
        parser.add_argument("--list-presets", action="store_true", help="show the presets")
        parser.add_argument(
            "--ood-from-test", action=argparse.BooleanOptionalAction, default=None,
            help="the official test split becomes test_ood (default: as the preset says)",
        )
        parser.add_argument("--image-size", type=int, default=None)

    def handle(self, *args: Any, **options: Any) -> None:
        if options["list_presets"]:
            self.stdout.write("\n".join(preset_table()))
            return
        if options["file"] is None:
            raise CommandError("give the .npz file to import (or --list-presets)")
        preset = self._preset(options)
        if options["slug"] is None and preset is not None:
            options["slug"] = preset.key
        missing = [f"--{k}" for k in ("benchmark", "slug") if not options[k]]
        if missing:
            raise CommandError(f"give {' and '.join(missing)}")
        message = run_import(
            lambda on_summary: import_medmnist(
                options["file"],
                settings.MEDVTAB_DATA_ROOT,
                preset=None if preset is None else preset.key,
                ood_from_test=options["ood_from_test"],
                image_size=options["image_size"],
                on_summary=on_summary,
                **task_kwargs(options, preset=preset is not None),
            )
        )
        self.stdout.write(message)

    def _preset(self, options: dict[str, Any]) -> Preset | None:
        try:
            if options["preset"]:
                return get_preset(options["preset"])
        except DatasetImportError as exc:
            raise CommandError(f"--preset: {exc}") from None
        found = preset_for_file(options["file"])
        return None if found is None else get_preset(found[0])
