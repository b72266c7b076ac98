from __future__ import annotations

from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from leaderboard.models import Benchmark, Modality, Task
from leaderboard.services.registration import RegistrationError, sync_benchmark
from tests.factories import write_tiny_task

pytestmark = pytest.mark.django_db


def test_sync_registers_benchmark_modalities_and_tasks(tiny_bundles: Path) -> None:
    report = sync_benchmark(tiny_bundles, "tiny-bench")
    assert sorted(report.created) == ["tiny-cxr", "tiny-derm", "tiny-oct"]
    bench = Benchmark.objects.get(slug="tiny-bench")
    assert bench.synthetic
    assert set(Modality.objects.filter(benchmark=bench).values_list("slug", flat=True)) == {
        "xray",
        "colour",
        "ct-oct",
    }
    task = Task.objects.get(slug="tiny-oct")
    assert task.label_type == "multilabel"
    assert task.classes == ["fluid", "drusen", "scar"]
    assert task.split_counts["test_ood"] == {"n_images": 12, "n_patients": 4}
    assert task.modality.slug == "ct-oct"


def test_sync_is_idempotent_and_updates(tiny_bundles: Path) -> None:
    sync_benchmark(tiny_bundles, "tiny-bench")
    write_tiny_task(tiny_bundles, "tiny-cxr", modality="xray", version="2", per_split=15)
    report = sync_benchmark(tiny_bundles, "tiny-bench")
    assert report.created == []
    assert Task.objects.count() == 3
    task = Task.objects.get(slug="tiny-cxr")
    assert task.version == "2"
    assert task.split_counts["train"]["n_images"] == 15


def test_task_slug_unique_across_benchmarks(tiny_bundles: Path) -> None:
    sync_benchmark(tiny_bundles, "tiny-bench")
    write_tiny_task(tiny_bundles, "tiny-cxr", benchmark="other-bench")
    with pytest.raises(RegistrationError, match="already used by benchmark 'tiny-bench'"):
        sync_benchmark(tiny_bundles, "other-bench")
    assert not Benchmark.objects.filter(slug="other-bench").exists()  # rolled back whole


def test_sync_tasks_command(tiny_bundles: Path, capsys: pytest.CaptureFixture[str]) -> None:
    call_command("sync_tasks")
    assert "tiny-bench: 3 task(s) registered" in capsys.readouterr().out
    with pytest.raises(CommandError, match="no task bundles for benchmark 'nope'"):
        call_command("sync_tasks", "--benchmark", "nope")


def test_modalities_keep_the_order_benchmark_json_gives(tiny_bundles: Path) -> None:
    from leaderboard.services.registration import read_benchmark_info, write_benchmark_info

    # not alphabetical: the boards and navigation follow the order written
    info = {"name": "Tiny", "modalities": {"xray": "X-ray", "ct-oct": "CT/OCT", "colour": "Colour"}}
    write_benchmark_info(tiny_bundles, "tiny-bench", info)
    assert list(read_benchmark_info(tiny_bundles, "tiny-bench")["modalities"]) == [
        "xray", "ct-oct", "colour"
    ]
    sync_benchmark(tiny_bundles, "tiny-bench")
    ordered = Modality.objects.filter(benchmark__slug="tiny-bench").order_by("order")
    assert list(ordered.values_list("slug", flat=True)) == ["xray", "ct-oct", "colour"]
