from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from datasets.importers.medmnist import import_medmnist
from leaderboard.management.commands._importing import add_task_arguments, run_import, task_kwargs


class Command(BaseCommand):
    help = (
        "Import a MedMNIST(+) .npz (train/val/test images and labels). With patient-id arrays the "
        "splits are rebuilt by patient (ood_level patient); with --ood-from-test the official test "
        "split becomes test_ood (ood_level site); otherwise it becomes test_id (ood_level none)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)
        add_task_arguments(parser)
        parser.add_argument("--ood-from-test", action="store_true")
        parser.add_argument("--image-size", type=int, default=None)

    def handle(self, *args: Any, **options: Any) -> None:
        message = run_import(
            lambda: import_medmnist(
                options["file"],
                settings.MEDVTAB_DATA_ROOT,
                ood_from_test=options["ood_from_test"],
                image_size=options["image_size"],
                **task_kwargs(options),
            )
        )
        self.stdout.write(message)
