"""Starter kit (train, predict) and demo pre-training, end to end on tiny data."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from reference_models import predict, pretrain_demo, train
from reference_models.archive import check_checkpoint_archive
from reference_models.backbones import BackboneUnavailable, load_backbone
from reference_models.specs import get_backbone_spec
from tests.reference_models.conftest import BENCH


def test_train_then_predict(tiny_backbones: dict, data_root: Path, tmp_path: Path,
                            capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "ckpt.zip"
    rc = train.main([
        "--data-root", str(data_root), "--benchmark", BENCH, "--task", "all",
        "--method", "gmoe_adapter", "--backbone", "general=tiny-general",
        "--backbone", "medical=tiny-medical", "--config", "num_experts=2", "--config",
        "bottleneck=4", "--epochs", "2", "--quiet", "--out", str(out),
    ])
    assert rc == 0
    manifest = check_checkpoint_archive(out, known_tasks={"tiny-gray": "1", "tiny-rgb": "1"})
    assert set(manifest.tasks) == {"tiny-gray", "tiny-rgb"}
    assert manifest.method_config["num_experts"] == 2 and manifest.protocol == "full"
    preds = tmp_path / "preds.zip"
    assert predict.main(["--checkpoint", str(out), "--data-root", str(data_root),
                         "--out", str(preds)]) == 0
    assert "test images are hidden" in capsys.readouterr().err  # tiny-rgb keeps them hidden
    with zipfile.ZipFile(preds) as zf:
        assert zf.namelist() == ["tiny-gray.csv"]
        rows = list(csv.reader(io.StringIO(zf.read("tiny-gray.csv").decode())))
    assert rows[0] == ["image_id", "c0", "c1", "c2"]
    ids = np.load(data_root / "public" / BENCH / "tiny-gray" / "test_id" / "image_ids.npy")
    ood = np.load(data_root / "public" / BENCH / "tiny-gray" / "test_ood" / "image_ids.npy")
    assert [r[0] for r in rows[1:]] == [*ids.tolist(), *ood.tolist()]
    probs = np.array([[float(v) for v in r[1:]] for r in rows[1:]])
    assert np.allclose(probs.sum(1), 1.0, atol=1e-3) and (probs >= 0).all()


def test_train_learns_and_supports_the_1k_protocol(tiny_backbones: dict, data_root: Path,
                                                   tmp_path: Path) -> None:
    from datasets.bundle import read_meta
    from datasets.export import public_task

    meta = read_meta(data_root, BENCH, "tiny-gray")
    state, report = train.train_task(
        public_task(data_root, meta), "linear", {}, {"backbone": "tiny-general"}, protocol="1k", epochs=6,
        lr=3e-2, progress=False,
    )
    # the linear head is an L-BFGS solve on frozen features (reference_models.probe): no epochs
    assert report.epochs_run == 0 and report.tunable_params == 3 * 33
    assert set(state) == {"head.weight", "head.bias"}
    assert report.best_val_loss < np.log(3)  # better than chance on the learnable bands


def test_train_refuses_unknown_roles(tiny_backbones: dict, data_root: Path, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    rc = train.main(["--data-root", str(data_root), "--benchmark", BENCH, "--task", "tiny-gray",
                    "--method", "linear", "--backbone", "medical=tiny-medical", "--quiet",
                    "--out", str(tmp_path / "x.zip")])
    assert rc == 2
    assert "has role(s) backbone; not medical" in capsys.readouterr().err
    assert not (tmp_path / "x.zip").exists()


def test_backbone_hash_is_checked(tiny_backbones: dict, tmp_path: Path) -> None:
    from reference_models.specs import BackboneSpec

    good = tiny_backbones["general"]
    bad = BackboneSpec(**{**good.__dict__, "id": "tiny-tampered", "sha256": "0" * 64})
    with pytest.raises(BackboneUnavailable, match="sha256"):
        load_backbone(bad, cache=False)


def test_demo_pretraining_is_idempotent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDVTAB_BACKBONE_ROOT", str(tmp_path))
    spec = get_backbone_spec("demo-vit-medical")
    with pytest.raises(BackboneUnavailable, match="pretrain_demo"):
        load_backbone(spec, cache=False)
    paths = pretrain_demo.ensure_demo_backbones(n_images=16, epochs=1, progress=False)
    assert [p.name for p in paths] == ["demo-vit-general.safetensors", "demo-vit-medical.safetensors"]
    info = json.loads((tmp_path / "demo-vit-medical.json").read_text())
    assert info["domain"] == "medical" and info["classes"] and len(info["sha256"]) == 64
    mtimes = [p.stat().st_mtime_ns for p in paths]
    pretrain_demo.ensure_demo_backbones(n_images=16, epochs=1, progress=False)
    assert [p.stat().st_mtime_ns for p in paths] == mtimes  # reused, not retrained
    vit = load_backbone(spec, cache=False)
    assert not any(p.requires_grad for p in vit.parameters())


def test_synthetic_pretraining_data_is_deterministic_and_disjoint() -> None:
    from reference_models.synthetic_pretrain import make_dataset

    a, ya, names_a = make_dataset("general", 12, 32, seed=3)
    b, yb, _ = make_dataset("general", 12, 32, seed=3)
    _, _, names_m = make_dataset("medical", 12, 32, seed=3)
    assert np.array_equal(a, b) and np.array_equal(ya, yb)
    assert a.shape == (12, 32, 32, 3) and a.dtype == np.uint8
    assert not set(names_a) & set(names_m)


def test_multilabel_task_trains_and_predicts_sigmoids(tiny_backbones: dict, tmp_path: Path) -> None:
    from datasets.bundle import SplitData, TaskMeta, write_task
    from datasets.export import public_task
    from reference_models.inference import build_model_for_task, predict_probs
    from reference_models.manifest import check_manifest

    rng = np.random.default_rng(5)

    def split(n: int, prefix: str) -> SplitData:
        labels = rng.integers(0, 2, (n, 3)).astype(np.uint8)
        images = rng.integers(0, 60, (n, 16, 16, 3)).astype(np.uint8)
        images[:, :, :, :] += (labels[:, None, None, :] * 150).astype(np.uint8)
        return SplitData(images, np.array([f"{prefix}{i}" for i in range(n)]), labels,
                         np.array([f"p{i % 5}" for i in range(n)]))

    meta = TaskMeta(slug="tiny-ml", name="ml", benchmark=BENCH, modality="fundus", organ="eye",
                    label_type="multilabel", classes=("a", "b", "c"), image_size=16, channels=3,
                    primary_metric="auroc", version="2", source="t", license="CC0", citation="",
                    test_images_public=True, ood_level="none", synthetic=True)
    meta = write_task(tmp_path, meta, {"train": split(40, "t"), "val": split(20, "v"),
                                       "test_id": split(10, "i"), "test_ood": split(10, "o")})
    state, report = train.train_task(public_task(tmp_path, meta), "bitfit", {},
                                     {"backbone": "tiny-general"},
                                     epochs=8, lr=1e-2, batch_size=10, progress=False)
    assert report.best_val_loss < np.log(2)  # better than predicting 0.5 for every label
    manifest = check_manifest({"format": "medvtab-checkpoint/1", "benchmark": BENCH,
                               "method": "bitfit", "backbones": {"backbone": "tiny-general"},
                               "tasks": {"tiny-ml": {"file": "m.safetensors", "task_version": "2"}}})
    model = build_model_for_task(manifest, meta, state)
    images = split(7, "x").images
    probs = predict_probs(model, images, label_type="multilabel", batch_size=3)
    assert probs.shape == (7, 3) and ((probs > 0) & (probs < 1)).all()
    assert not np.allclose(probs.sum(1), 1.0)
