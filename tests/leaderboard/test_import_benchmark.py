"""``manage.py import_benchmark SPEC --from DIR`` with tiny stand-in ``.npz`` files."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

import datasets.importers.spec_run as spec_run
from leaderboard.models import Benchmark, Task
from tests.datasets.helpers import medmnist_arrays

pytestmark = pytest.mark.django_db

REPO = Path(__file__).resolve().parents[2]

HEAD = """
[benchmark]
slug = "stand-in"
name = "Stand-in benchmark"
description = "four tiny tasks"

[modalities]
xray = "X-ray"
ct-oct = "CT / OCT / MRI"

[defaults]
label_type = "multiclass"
classes = ["liver", "kidney", "spleen"]
source = "stand-in"
license = "CC0-1.0"
drop_duplicates = true
"""


def task(slug: str, modality: str = "xray", ood: str = "site", extra: str = "") -> str:
    reason = 'ood_reason = "same site"\n' if ood == "none" else ""
    return (f'[[tasks]]\nslug = "{slug}"\nfile = "{slug}.npz"\nmodality = "{modality}"\n'
            f'ood_level = "{ood}"\n{reason}{extra}\n')


TASKS = [task("organ-a"), task("organ-b", "ct-oct", "none"),
         task("organ-c", extra="image_size = 16"), task("organ-d", "ct-oct")]


def stand_in(folder: Path, slug: str, seed: int, **overrides: np.ndarray) -> None:
    arrays = {**medmnist_arrays(seed=seed, size=12), **overrides}
    np.savez(folder / f"{slug}.npz", **arrays)  # type: ignore[arg-type]


@pytest.fixture
def source(tmp_path: Path) -> Path:
    folder = tmp_path / "files"
    folder.mkdir()
    for seed, slug in enumerate(("organ-a", "organ-b", "organ-c", "organ-d")):
        stand_in(folder, slug, seed)
    (tmp_path / "spec.toml").write_text(HEAD + "".join(TASKS), encoding="utf-8")
    return folder


def run(folder: Path, *extra: str) -> str:
    out = io.StringIO()
    call_command("import_benchmark", str(folder.parent / "spec.toml"), "--from", str(folder),
                 *extra, stdout=out)
    return out.getvalue()


def mtimes(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_mtime_ns
            for p in root.rglob("*.npy")}


def test_import_registers_every_task_and_prints_a_summary(data_root: Path, source: Path) -> None:
    out = run(source)
    bench = Benchmark.objects.get(slug="stand-in")
    assert (bench.name, bench.description) == ("Stand-in benchmark", "four tiny tasks")
    assert set(bench.modalities.values_list("slug", "name")) == {
        ("xray", "X-ray"), ("ct-oct", "CT / OCT / MRI")}
    tasks = {t.slug: t for t in Task.objects.filter(benchmark=bench)}
    assert sorted(tasks) == ["organ-a", "organ-b", "organ-c", "organ-d"]
    assert tasks["organ-a"].ood_level == "site" and tasks["organ-b"].ood_level == "none"
    assert tasks["organ-c"].image_size == 16 and tasks["organ-a"].image_size == 12
    assert "Out-of-distribution split: same site" in tasks["organ-b"].description
    # Plain progress lines (the test's stdout is no terminal), then the table and registration.
    assert "[1/4] organ-a: importing" in out and "[4/4] organ-d: imported" in out
    assert "\r" not in out
    assert "hashing organ-a.npz (0.00 GB)" in out
    header = next(line for line in out.splitlines() if line.startswith("task "))
    assert header.split() == ["task", "status", "train", "img/pat", "val", "img/pat", "test_id",
                              "img/pat", "test_ood", "img/pat", "time", "dropped"]
    row_b = next(line for line in out.splitlines() if line.startswith("organ-b "))
    counts = tasks["organ-b"].split_counts
    assert row_b.split()[:3] == ["organ-b", "imported",
                                 f"{counts['train']['n_images']}/{counts['train']['n_patients']}"]
    total = sum(t.split_counts["train"]["n_images"] for t in tasks.values())
    assert next(line for line in out.splitlines() if line.startswith("total ")).split()[3] == \
        str(total)
    assert "stand-in: 4 task(s) registered, 0 updated" in out


def test_rerun_skips_every_task_untouched(data_root: Path, source: Path) -> None:
    run(source)
    before = mtimes(data_root)
    out = run(source)
    assert mtimes(data_root) == before
    assert out.count("already imported, skipping") == 4
    assert "hashing" not in out  # unchanged size and time: the recorded hashes are reused
    assert all(line.split()[1] == "skipped" for line in out.splitlines()
               if line.startswith("organ-"))
    assert "stand-in: 0 task(s) registered, 4 updated" in out


def test_failed_task_keeps_the_ones_before_it_and_a_rerun_resumes(
    data_root: Path, source: Path
) -> None:
    stand_in(source, "organ-c", 2, val_labels=np.full((10, 1), 7, dtype=np.uint8))
    with pytest.raises(CommandError) as info:
        run(source)
    message = str(info.value)
    assert "tasks[2] (organ-c)" in message and "val_labels" in message
    assert "2 of 4 task(s) are imported and registered" in message
    assert sorted(Task.objects.values_list("slug", flat=True)) == ["organ-a", "organ-b"]
    assert not (data_root / "public" / "stand-in" / "organ-c").exists()
    stand_in(source, "organ-c", 2)
    out = run(source)
    assert "[1/4] organ-a: already imported, skipping" in out
    assert "[3/4] organ-c: importing" in out and "[4/4] organ-d: importing" in out
    assert Task.objects.filter(benchmark__slug="stand-in").count() == 4


def test_interrupted_import_resumes_after_the_last_finished_task(
    data_root: Path, source: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = spec_run._import_task
    calls: list[str] = []

    def interrupt_third(spec: object, task: spec_run.SpecTask, *args: object,
                        **kwargs: object) -> object:
        calls.append(task.slug)
        if task.slug == "organ-c":
            raise KeyboardInterrupt
        return real(spec, task, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(spec_run, "_import_task", interrupt_third)
    with pytest.raises(CommandError) as info:
        run(source)
    assert info.value.returncode == 130 and "interrupted" in str(info.value)
    assert sorted(Task.objects.values_list("slug", flat=True)) == ["organ-a", "organ-b"]
    calls.clear()
    monkeypatch.setattr(spec_run, "_import_task", lambda *a, **k: (calls.append(a[1].slug),
                                                                  real(*a, **k))[1])
    run(source)
    assert calls == ["organ-c", "organ-d"]
    assert Task.objects.filter(benchmark__slug="stand-in").count() == 4


def test_changed_source_is_refused_unless_replace(data_root: Path, source: Path) -> None:
    run(source)
    stand_in(source, "organ-d", 9)
    with pytest.raises(CommandError, match=r"tasks\[3\] \(organ-d\).*--replace"):
        run(source)
    before = json.loads((data_root / "hidden" / "stand-in" / "organ-d" / "import_source.json")
                        .read_text())
    out = run(source, "--replace")
    assert "[4/4] organ-d: source changed, re-importing" in out
    assert out.count("already imported, skipping") == 3
    after = json.loads((data_root / "hidden" / "stand-in" / "organ-d" / "import_source.json")
                       .read_text())
    assert after["key"] != before["key"]
    assert after["files"]["file"]["sha256"] != before["files"]["file"]["sha256"]


@pytest.mark.parametrize(("edit", "message"), [
    (lambda folder: (folder / "organ-b.npz").unlink(),
     "spec.toml: tasks[1].file: no such file"),
    (lambda folder: (folder.parent / "spec.toml").write_text(
        HEAD.replace('ct-oct = "CT / OCT / MRI"', 'findings = "F"') + "".join(TASKS)),
     "spec.toml: modalities.findings: 'findings' is reserved"),
    (lambda folder: (folder.parent / "spec.toml").write_text(
        HEAD + TASKS[0] + TASKS[1].replace('ood_level = "none"', 'preset = "organamnistt"\n'
                                           'ood_level = "none"')),
     "spec.toml: tasks[1].preset: unknown preset 'organamnistt'; did you mean "
     "'organamnist'"),
])
def test_bad_input_is_named_and_nothing_is_imported(
    data_root: Path, source: Path, edit: object, message: str
) -> None:
    edit(source)  # type: ignore[operator]
    with pytest.raises(CommandError) as info:
        run(source)
    assert message in str(info.value)
    assert not Task.objects.exists()
    assert not (data_root / "public" / "stand-in").exists()


def test_synthetic_tasks_import_through_a_spec(data_root: Path, tmp_path: Path) -> None:
    spec = tmp_path / "spec.toml"
    spec.write_text('[benchmark]\nslug = "med-vtab-mini"\nname = "Mini"\n[modalities]\n'
                    'colour = "Colour images"\n[[tasks]]\nsynthetic = "derm-synth"\n'
                    "scale = 0.05\nimage_size = 16\n")
    out = io.StringIO()
    call_command("import_benchmark", str(spec), "--from", str(tmp_path), stdout=out)
    derm = Task.objects.get(slug="derm-synth")
    assert derm.synthetic and derm.ood_level == "patient" and derm.image_size == 16
    before = mtimes(data_root)
    again = io.StringIO()
    call_command("import_benchmark", str(spec), "--from", str(tmp_path), stdout=again)
    assert "[1/1] derm-synth: importing" in again.getvalue()
    assert mtimes(data_root) == before  # the generator found its task current and kept it


def test_the_demo_spec_matches_create_demo_benchmark(data_root: Path) -> None:
    call_command("create_demo_benchmark", "--scale", "0.05", "--image-size", "16",
                 stdout=io.StringIO())
    before = mtimes(data_root)
    text = (REPO / "specs" / "med-vtab-mini.toml").read_text().replace(
        "image_size = 64", "image_size = 16").replace("scale = 1.0", "scale = 0.05")
    spec = data_root.parent / "mini.toml"
    spec.write_text(text)
    out = io.StringIO()
    call_command("import_benchmark", str(spec), "--from", str(data_root.parent), stdout=out)
    assert mtimes(data_root) == before  # the same six tasks, byte for byte: nothing rewritten
    assert "med-vtab-mini: 0 task(s) registered, 6 updated" in out.getvalue()
    assert Benchmark.objects.get(slug="med-vtab-mini").name == "Med-VTAB-mini (synthetic)"


def test_summary_counts_duplicates_dropped_per_pair(data_root: Path, source: Path) -> None:
    arrays = medmnist_arrays(seed=0, size=12)
    arrays["val_images"][:2] = arrays["train_images"][:2]
    arrays["test_images"][0] = arrays["train_images"][5]
    stand_in(source, "organ-b", 0, **{k: v for k, v in arrays.items() if k.endswith("images")})
    out = run(source)
    row_b = next(line for line in out.splitlines() if line.startswith("organ-b "))
    assert row_b.endswith("3 (train>test_id 1, train>val 2)")
    record = json.loads((data_root / "hidden" / "stand-in" / "organ-b" / "import_source.json")
                        .read_text())
    assert record["duplicates"] == {"train>val": 2, "train>test_id": 1}
    # The skipped rerun reports the same figures from the record.
    rerun = next(line for line in run(source).splitlines() if line.startswith("organ-b "))
    assert rerun.split()[1] == "skipped" and rerun.endswith("3 (train>test_id 1, train>val 2)")


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_a_bar_on_a_terminal(data_root: Path, source: Path) -> None:
    out = FakeTerminal()
    call_command("import_benchmark", str(source.parent / "spec.toml"), "--from", str(source),
                 stdout=out)
    text = out.getvalue()
    assert "\r[1/4] organ-a: [" in text and "##############################] 65/65 images" in text


def test_manifest_tasks_import_through_a_spec(data_root: Path, tmp_path: Path) -> None:
    from PIL import Image

    from tests.datasets.helpers import manifest_rows

    folder = tmp_path / "cxr"
    (folder / "images").mkdir(parents=True)
    rows = manifest_rows(n_patients=12, per_patient=4)
    rng = np.random.default_rng(0)
    for row in rows:
        Image.fromarray(rng.integers(0, 256, (20, 20), dtype=np.uint8)).save(folder / row["path"])
    lines = ["path,label,patient_id"] + [f"{r['path']},{r['label']},{r['patient_id']}"
                                         for r in rows]
    (folder / "manifest.csv").write_text("\n".join(lines) + "\n")
    spec = tmp_path / "spec.toml"
    spec.write_text('[benchmark]\nslug = "cxr-bench"\n[modalities]\nxray = "X-ray"\n'
                    '[[tasks]]\nslug = "cxr-m"\nfile = "cxr/manifest.csv"\nmodality = "xray"\n'
                    'label_type = "binary"\nclasses = ["normal", "pneumonia"]\n'
                    'source = "stand-in"\nlicense = "CC0-1.0"\nimage_size = 16\nchannels = 1\n'
                    'ood_level = "patient"\n')
    out = io.StringIO()
    call_command("import_benchmark", str(spec), "--from", str(tmp_path), stdout=out)
    task = Task.objects.get(slug="cxr-m")
    assert (task.ood_level, task.image_size, task.channels) == ("patient", 16, 1)
    counts = task.split_counts
    assert sum(c["n_images"] for c in counts.values()) == len(rows)
    assert counts["test_ood"]["n_patients"] >= 1
