"""Arguments, error handling and the summary shared by the importer commands."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.management.base import CommandError, CommandParser

from datasets.bundle import LABEL_TYPES, BundleError, TaskMeta
from datasets.importers.common import ImportSummary, OnSummary
from leaderboard.services.registration import RegistrationError, sync_benchmark

# The arguments a MedMNIST preset can fill; the other commands require them.
PRESET_FILLED = ("modality", "label_type", "classes", "source", "license")


def add_task_arguments(parser: CommandParser, *, preset_fills: bool = False) -> None:
    """The task's options; with ``preset_fills`` those a preset fills are optional."""
    need = not preset_fills
    parser.add_argument("--benchmark", required=need, help="benchmark slug, e.g. med-vtab")
    parser.add_argument("--slug", required=need, help="task slug, unique across the server")
    parser.add_argument("--name", help="human name (default: the slug)")
    parser.add_argument("--modality", required=need, help="modality slug, e.g. xray")
    parser.add_argument("--organ", default=None if preset_fills else "")
    parser.add_argument("--label-type", required=need, choices=LABEL_TYPES)
    parser.add_argument(
        "--classes", required=need, help="comma-separated class (or label) names, in column order"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the patient-ID split builder")
    parser.add_argument("--source", required=need, help="where the data comes from")
    parser.add_argument("--license", required=need, help="the data licence")
    parser.add_argument("--citation", default=None if preset_fills else "")
    parser.add_argument("--task-version", dest="task_version", default="1")
    parser.add_argument(
        "--drop-duplicates", action="store_true",
        help="drop images whose exact content already sits in an earlier split (train, val, "
             "test_id, test_ood) instead of refusing the file",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing task")
    parser.add_argument(
        "--chunk-images", type=int, default=None,
        help="images per chunk (default: the MEDVTAB_IMPORT_CHUNK_IMAGES setting)",
    )


def _chunk(options: dict[str, Any]) -> int:
    chunk = options["chunk_images"]
    if chunk is None:
        chunk = settings.MEDVTAB_IMPORT_CHUNK_IMAGES
    if chunk < 1:
        raise CommandError(f"--chunk-images must be at least 1, not {chunk}")
    return int(chunk)


def task_kwargs(options: dict[str, Any], *, preset: bool = False) -> dict[str, Any]:
    """The importer's keyword arguments; with a ``preset``, options left unset stay None (the
    preset fills them), else the name defaults to the slug."""
    classes = options["classes"]
    return {
        "benchmark": options["benchmark"],
        "slug": options["slug"],
        "name": options["name"] or (None if preset else options["slug"]),
        "modality": options["modality"],
        "organ": options["organ"],
        "label_type": options["label_type"],
        "classes": None if classes is None else [c.strip() for c in classes.split(",")
                                                 if c.strip()],
        "seed": options["seed"],
        "source": options["source"],
        "license": options["license"],
        "citation": options["citation"],
        "version": options["task_version"],
        "drop_duplicates": options["drop_duplicates"],
        "overwrite": options["overwrite"],
        "chunk_images": _chunk(options),
    }


def summary_lines(summary: ImportSummary) -> list[str]:
    """Images and patients per split, duplicates dropped per pair of splits, and the time."""
    lines = [f"{split:<9} {summary.images[split]:>9} images {summary.patients[split]:>9} patients"
             for split in summary.images]
    for (kept, dropped_from), n in summary.duplicates.items():
        lines.append(f"dropped {n} image(s) from {dropped_from} already in {kept}")
    lines.append(f"took {summary.seconds:.1f} s")
    return lines


def run_import(importer: Callable[[OnSummary], TaskMeta]) -> str:
    """Run an importer (given the summary callback), then register its benchmark.

    Every expected failure becomes a CommandError (a message, no traceback).
    """
    summaries: list[ImportSummary] = []
    try:
        meta = importer(summaries.append)
        report = sync_benchmark(settings.MEDVTAB_DATA_ROOT, meta.benchmark)
    except (ValueError, OSError, BundleError, RegistrationError) as exc:
        raise CommandError(str(exc)) from None
    counts = ", ".join(f"{s} {c.n_images}" for s, c in meta.splits.items())
    lines = [f"imported {meta.slug} (ood_level {meta.ood_level}; {counts}); {report}"]
    return "\n".join(lines + [f"  {line}" for line in summary_lines(summaries[0])])
