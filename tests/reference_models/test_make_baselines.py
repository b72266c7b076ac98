"""make_baselines: F16 archives, an index with provenance, reuse only when the key matches."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from reference_models import make_baselines as mb
from reference_models.archive import check_checkpoint_archive
from reference_models.recipes import recipe_for
from reference_models.specs import BackboneSpec, get_backbone_spec, register_backbone
from reference_models.sweeps import SweepEntry, sweep
from tests.reference_models.conftest import BENCH


@pytest.fixture
def demo_ids(tiny_backbones: dict[str, BackboneSpec]) -> Iterator[None]:
    """The tiny backbones stand in for the demo backbones that the sweep names."""
    saved = {i: get_backbone_spec(i) for i in ("demo-vit-general", "demo-vit-medical")}
    for role in ("general", "medical"):
        register_backbone(BackboneSpec(**{**tiny_backbones[role].__dict__,
                                          "id": f"demo-vit-{role}"}), replace=True)
    yield
    for spec in saved.values():
        register_backbone(spec, replace=True)


def _linear() -> SweepEntry:
    return next(e for e in sweep(["1k"], ["linear"]) if e.pretraining == "general")


def _ensure(entry: SweepEntry, data_root: Path, root: Path, **kw: object) -> tuple[Path, bool]:
    return mb.ensure_archive(entry, data_root=data_root, benchmark=BENCH, roots=[root],
                             write_root=root, **kw)  # type: ignore[arg-type]


def test_trains_once_then_reuses_a_matching_f16_archive(
    demo_ids: None, data_root: Path, tmp_path: Path
) -> None:
    entry = _linear()
    path, reused = _ensure(entry, data_root, tmp_path)
    assert not reused and path == tmp_path / BENCH / "1k" / "linear-general-1k.zip"
    manifest = check_checkpoint_archive(path, known_tasks={"tiny-gray": "1", "tiny-rgb": "1"})
    assert manifest.protocol == "1k" and manifest.backbones == {"backbone": "demo-vit-general"}
    dtypes = {d for header in manifest.headers.values() for d, _ in header.values()}
    assert dtypes == {"F16"}
    record = mb.read_index(tmp_path, BENCH, "1k")["entries"][entry.name]
    assert record["sha256"] == mb.file_sha256(path) and record["dtype"] == "F16"
    assert record["key"]["task_versions"] == {"tiny-gray": "1", "tiny-rgb": "1"}
    assert record["key"]["recipe"] == recipe_for(entry.method).to_json()
    assert record["key"]["seed"] == 0
    assert set(record["key"]["backbone_sha256"]) == {"demo-vit-general"}
    assert record["torch"] and record["timm"] and len(record["training"]) == 2
    stamp = path.stat().st_mtime_ns
    again, reused = _ensure(entry, data_root, tmp_path)
    assert reused and again == path and path.stat().st_mtime_ns == stamp


def test_f16_archive_loads_into_the_model(demo_ids: None, data_root: Path, tmp_path: Path) -> None:
    import torch

    from reference_models.backbones import load_backbone
    from reference_models.checkpoint import read_checkpoint
    from reference_models.methods import build, load_trainable

    path, _ = _ensure(_linear(), data_root, tmp_path)
    manifest, tensors = read_checkpoint(path)
    model = build("linear", manifest.method_config, {"backbone": load_backbone("demo-vit-general")},
                  3)
    load_trainable(model, tensors["tiny-gray"])
    assert model.head.weight.dtype == torch.float32
    assert torch.equal(model.head.weight.data, tensors["tiny-gray"]["head.weight"].float())


@pytest.mark.parametrize("change", ["task_version", "recipe", "bytes", "backbone", "training"])
def test_a_changed_key_or_archive_is_not_reused(
    demo_ids: None, data_root: Path, tmp_path: Path, change: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry = _linear()
    path, _ = _ensure(entry, data_root, tmp_path)
    recipe = mb.recipe_for("linear")
    versions = mb.task_versions(data_root, BENCH, None)
    hashes = mb.backbone_hashes(entry.backbones)
    if change == "task_version":
        versions = {**versions, "tiny-gray": "2"}
    elif change == "recipe":
        recipe = recipe.overridden(epochs=2)
    elif change == "bytes":
        path.write_bytes(path.read_bytes() + b"\0")
    elif change == "backbone":
        hashes = {bid: "0" * 64 for bid in hashes}
    else:
        monkeypatch.setattr(mb, "TRAINING_VERSION", "changed")
    key = mb.cache_key(entry, recipe, 0, versions, hashes)
    assert mb.find_cached([tmp_path], BENCH, entry, key) is None


def test_the_command_trains_the_sweep_and_keeps_what_is_up_to_date(
    demo_ids: None, data_root: Path, tmp_path: Path
) -> None:
    lines: list[str] = []
    argv = ["--protocols", "1k", "--methods", "linear", "--out", str(tmp_path),
            "--data-root", str(data_root), "--benchmark", BENCH]
    assert mb.main(argv, log=lines.append) == 0
    assert len(lines) == 2 and all("trained" in line for line in lines)
    assert lines[0].split("] ", 1)[1].startswith("1/2 linear (general, 1k): trained ")
    index = json.loads((tmp_path / BENCH / "1k" / "index.json").read_text())
    assert sorted(index["entries"]) == ["linear (general, 1k)", "linear (medical, 1k)"]
    assert index["command"] == mb.COMMAND and index["protocol"] == "1k"
    lines.clear()
    assert mb.main(argv, log=lines.append) == 0
    assert all("up to date" in line for line in lines) and len(lines) == 2
    lines.clear()
    assert mb.main([*argv, "--methods", "linear", "--force"], log=lines.append) == 0
    assert all("trained" in line for line in lines)


def test_the_command_refuses_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert mb.main(["--protocols", "5k", "--out", str(tmp_path)]) == 2
    assert "--protocols" in capsys.readouterr().err
    assert mb.main(["--data-root", str(tmp_path), "--out", str(tmp_path), "--methods",
                    "linear"]) == 2
    assert "no tasks found" in capsys.readouterr().err
    assert mb.main(["--methods", "lorax", "--out", str(tmp_path)]) == 2
    assert "unknown method" in capsys.readouterr().err
