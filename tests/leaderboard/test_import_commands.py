"""import_medmnist and import_manifest as an operator types them: presets, flags, summaries."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.urls import reverse

from leaderboard.models import Task
from tests.datasets.conftest import write_manifest  # noqa: F401  (fixture)
from tests.datasets.helpers import manifest_rows, medmnist_arrays

pytestmark = pytest.mark.django_db


def _npz(folder: Path, name: str, **arrays: object) -> Path:
    data: dict[str, object] = dict(medmnist_arrays(n_classes=2))
    data.update(arrays)
    path = folder / name
    np.savez(path, **data)  # type: ignore[arg-type]
    return path


def _import(*args: str) -> str:
    out = io.StringIO()
    call_command("import_medmnist", *args, stdout=out)
    return out.getvalue()


def test_list_presets_shows_the_twelve_datasets() -> None:
    lines = _import("--list-presets").strip().splitlines()
    assert len(lines) == 12 and lines[0].startswith("pathmnist ")
    assert any(line.startswith("dermamnist") and "CC BY-NC 4.0" in line for line in lines)


def test_a_published_file_name_needs_only_the_benchmark(data_root: Path, tmp_path: Path) -> None:
    out = _import(str(_npz(tmp_path, "pneumoniamnist_64.npz")), "--benchmark", "med-vtab")
    task = Task.objects.get(slug="pneumoniamnist")
    assert task.name == "PneumoniaMNIST" and task.label_type == "binary"
    assert task.ood_level == "none" and task.benchmark.slug == "med-vtab"
    assert "imported pneumoniamnist" in out
    assert "train            40 images        40 patients" in out and "took " in out


def test_dermamnist_licence_is_shown_on_the_task_page(
    data_root: Path, tmp_path: Path, client: Client
) -> None:
    arrays = medmnist_arrays(n_classes=7, rgb=True)
    _import(str(_npz(tmp_path, "dermamnist.npz", **arrays)), "--benchmark", "med-vtab",
            "--slug", "derma")
    page = client.get(reverse("task", kwargs={"slug": "derma"}))
    assert page.status_code == 200 and "CC BY-NC 4.0" in page.content.decode()


def test_duplicates_are_refused_naming_the_flag_then_dropped_with_it(
    data_root: Path, tmp_path: Path
) -> None:
    arrays = medmnist_arrays(n_classes=2)
    arrays["test_images"][2] = arrays["train_images"][1]
    npz = _npz(tmp_path, "breastmnist.npz", **arrays)
    with pytest.raises(CommandError, match="import with --drop-duplicates") as caught:
        _import(str(npz), "--benchmark", "med-vtab")
    assert "drop_duplicates=True" not in str(caught.value)
    out = _import(str(npz), "--benchmark", "med-vtab", "--drop-duplicates")
    assert "dropped 1 image(s) from test_id already in train" in out
    assert Task.objects.get(slug="breastmnist").split_counts["test_id"]["n_images"] == 14


def test_flags_override_the_preset(data_root: Path, tmp_path: Path) -> None:
    arrays = medmnist_arrays(n_classes=9, rgb=True)
    npz = _npz(tmp_path, "pathmnist_224.npz", **arrays)
    _import(str(npz), "--benchmark", "med-vtab", "--slug", "colon", "--no-ood-from-test",
            "--modality", "histology", "--chunk-images", "3")
    task = Task.objects.get(slug="colon")
    assert task.ood_level == "none" and task.modality.slug == "histology"
    assert task.name == "PathMNIST"


@pytest.mark.parametrize("args,message", [
    (["--preset", "dermamnst"], "--preset: unknown MedMNIST preset 'dermamnst'; did you mean "
                                "'dermamnist'"),
    (["--slug", "x"], "give --benchmark"),
    (["--benchmark", "b", "--slug", "x", "--chunk-images", "0"], "--chunk-images must be at least 1"),
])
def test_bad_options_are_clear_errors(
    data_root: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    with pytest.raises(CommandError, match=message):
        _import(str(_npz(tmp_path, "mine.npz")), *args)


def test_a_file_without_a_preset_needs_the_task_options(data_root: Path, tmp_path: Path) -> None:
    missing = r"mine\.npz: give modality, label_type, classes, source, license, or a preset"
    with pytest.raises(CommandError, match=missing):
        _import(str(_npz(tmp_path, "mine.npz")), "--benchmark", "b", "--slug", "x")


def _manifest_args(manifest: Path, *extra: str) -> list[str]:
    return [str(manifest), "--benchmark", "real-bench", "--slug", "cxr", "--modality", "xray",
            "--label-type", "binary", "--classes", "normal,pneumonia", "--source", "local",
            "--license", "private", "--image-size", "8", "--channels", "1", *extra]


def _with_split(manifest: Path, split_of: Callable[[int], str]) -> None:
    with manifest.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    with manifest.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=[*rows[0], "split"])
        writer.writeheader()
        writer.writerows({**row, "split": split_of(i)} for i, row in enumerate(rows))


def test_import_manifest_ood_levels(
    data_root: Path, write_manifest: Callable[..., Path]
) -> None:
    manifest = write_manifest(manifest_rows())
    out = io.StringIO()
    call_command("import_manifest", *_manifest_args(manifest, "--ood-level", "none"), stdout=out)
    task = Task.objects.get(slug="cxr")
    assert task.ood_level == "none" and task.split_counts["test_ood"]["n_images"] == 0
    assert "patients" in out.getvalue()
    with pytest.raises(CommandError, match="ood_level 'site' needs a split column"):
        call_command("import_manifest", *_manifest_args(manifest, "--ood-level", "site",
                                                         "--overwrite"))
    # Patients 0-9 train (their first image in test_id), 10-11 a held-out site.
    _with_split(manifest, lambda i: "test_ood" if i >= 40 else ("test_id" if i % 4 == 0
                                                               else "train"))
    call_command("import_manifest", *_manifest_args(manifest, "--ood-level", "site",
                                                     "--overwrite", "--workers", "1"),
                 stdout=io.StringIO())
    task.refresh_from_db()
    assert task.ood_level == "site" and task.split_counts["test_ood"]["n_images"] == 8
