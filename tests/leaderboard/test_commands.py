from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from leaderboard.models import Benchmark, Task

pytestmark = pytest.mark.django_db


def test_create_demo_benchmark_is_idempotent(data_root: Path) -> None:
    out = io.StringIO()
    args = ("create_demo_benchmark", "--scale", "0.05", "--image-size", "16")
    call_command(*args, stdout=out)
    bench = Benchmark.objects.get(slug="med-vtab-mini")
    assert bench.synthetic and "synthetic" in bench.name.lower()
    tasks = Task.objects.filter(benchmark=bench)
    assert tasks.count() >= 6
    assert {t.label_type for t in tasks} >= {"binary", "multiclass", "multilabel"}
    assert bench.modalities.count() >= 3
    first = {t.slug: t.split_counts for t in tasks}
    call_command(*args, stdout=io.StringIO())
    assert {t.slug: t.split_counts for t in Task.objects.filter(benchmark=bench)} == first


def _medmnist(path: Path, n: int = 60, **overrides: object) -> Path:
    rng = np.random.default_rng(0)
    arrays: dict[str, object] = {}
    for split, size in (("train", n), ("val", n // 3), ("test", n // 2)):
        arrays[f"{split}_images"] = rng.integers(0, 256, (size, 28, 28), dtype=np.uint8)
        arrays[f"{split}_labels"] = rng.integers(0, 3, (size, 1))
    arrays.update(overrides)
    np.savez(path, **arrays)
    return path


MEDMNIST_ARGS = [
    "--benchmark", "real-bench", "--slug", "organ-mini", "--modality", "ct-oct",
    "--label-type", "multiclass", "--classes", "liver,kidney,spleen", "--source", "MedMNIST",
    "--license", "CC BY 4.0",
]


def test_import_medmnist_registers_the_task(data_root: Path, tmp_path: Path) -> None:
    out = io.StringIO()
    call_command("import_medmnist", str(_medmnist(tmp_path / "m.npz")), *MEDMNIST_ARGS,
                 "--ood-from-test", stdout=out)
    task = Task.objects.get(slug="organ-mini")
    assert task.ood_level == "site" and task.benchmark.slug == "real-bench"
    assert "imported organ-mini" in out.getvalue()


def test_import_medmnist_bad_input_is_a_clear_error(data_root: Path, tmp_path: Path) -> None:
    bad = _medmnist(tmp_path / "bad.npz", val_labels=np.zeros((3, 1), dtype=np.int64))
    with pytest.raises(CommandError, match="val"):
        call_command("import_medmnist", str(bad), *MEDMNIST_ARGS)
    assert not Task.objects.filter(slug="organ-mini").exists()
    assert not (data_root / "public" / "real-bench" / "organ-mini").exists()


def test_import_manifest_missing_column(data_root: Path, tmp_path: Path) -> None:
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,label\nx.png,a\n")
    with pytest.raises(CommandError, match="patient_id"):
        call_command("import_manifest", str(manifest), "--benchmark", "real-bench", "--slug", "m1",
                     "--modality", "xray", "--label-type", "binary", "--classes", "a,b",
                     "--source", "local", "--license", "private")
