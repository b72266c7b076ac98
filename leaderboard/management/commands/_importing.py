"""Arguments and error handling shared by the importer commands."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.management.base import CommandError, CommandParser

from datasets.bundle import LABEL_TYPES, BundleError, TaskMeta
from leaderboard.services.registration import RegistrationError, sync_benchmark


def add_task_arguments(parser: CommandParser) -> None:
    parser.add_argument("--benchmark", required=True, help="benchmark slug, e.g. med-vtab")
    parser.add_argument("--slug", required=True, help="task slug, unique across the server")
    parser.add_argument("--name", help="human name (default: the slug)")
    parser.add_argument("--modality", required=True, help="modality slug, e.g. xray")
    parser.add_argument("--organ", default="")
    parser.add_argument("--label-type", required=True, choices=LABEL_TYPES)
    parser.add_argument(
        "--classes", required=True, help="comma-separated class (or label) names, in column order"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the patient-ID split builder")
    parser.add_argument("--source", required=True, help="where the data comes from")
    parser.add_argument("--license", required=True, help="the data licence")
    parser.add_argument("--citation", default="")
    parser.add_argument("--task-version", dest="task_version", default="1")


def task_kwargs(options: dict[str, Any]) -> dict[str, Any]:
    classes = [c.strip() for c in options["classes"].split(",") if c.strip()]
    return {
        "benchmark": options["benchmark"],
        "slug": options["slug"],
        "name": options["name"] or options["slug"],
        "modality": options["modality"],
        "organ": options["organ"],
        "label_type": options["label_type"],
        "classes": classes,
        "seed": options["seed"],
        "source": options["source"],
        "license": options["license"],
        "citation": options["citation"],
        "version": options["task_version"],
    }


def run_import(importer: Callable[[], TaskMeta]) -> str:
    """Run an importer, then register its benchmark.

    Every expected failure becomes a CommandError (a message, no traceback).
    """
    try:
        meta = importer()
        report = sync_benchmark(settings.MEDVTAB_DATA_ROOT, meta.benchmark)
    except (ValueError, OSError, BundleError, RegistrationError) as exc:
        raise CommandError(str(exc)) from None
    counts = ", ".join(f"{s} {c.n_images}" for s, c in meta.splits.items())
    return f"imported {meta.slug} (ood_level {meta.ood_level}; {counts}); {report}"
