from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from datasets.bundle import SplitData, TaskMeta, write_task
from reference_models.specs import BackboneSpec, register_backbone, unregister_backbone

torch = pytest.importorskip("torch")
torch.set_num_threads(min(2, os.cpu_count() or 1))

TINY = {"img_size": 32, "patch_size": 8, "embed_dim": 32, "depth": 2, "num_heads": 2}
BENCH = "tiny-bench"


def _make_backbone(root: Path, backbone_id: str, domain: str, seed: int, kwargs: dict) -> BackboneSpec:
    from reference_models.backbones import create_backbone, save_backbone

    spec = BackboneSpec(backbone_id, "vit_tiny_patch16_224", kwargs, str(root / f"{backbone_id}.safetensors"),
                        domain, mean=(0.5,) * 3, std=(0.25,) * 3)
    torch.manual_seed(seed)
    sha = save_backbone(create_backbone(spec), spec.weights_path())
    return BackboneSpec(**{**spec.__dict__, "sha256": sha})


@pytest.fixture(scope="session")
def tiny_backbones(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, BackboneSpec]]:
    from reference_models.backbones import clear_cache

    root = tmp_path_factory.mktemp("backbones")
    specs = {
        "general": _make_backbone(root, "tiny-general", "general", 1, TINY),
        "medical": _make_backbone(root, "tiny-medical", "medical", 2, {**TINY, "embed_dim": 48}),
    }
    for spec in specs.values():
        register_backbone(spec, replace=True)
    yield specs
    for spec in specs.values():
        unregister_backbone(spec.id)
    clear_cache()


@pytest.fixture(scope="session")
def frozen(tiny_backbones: dict[str, BackboneSpec]) -> dict[str, torch.nn.Module]:
    from reference_models.backbones import load_backbone

    return {role: load_backbone(spec.id) for role, spec in tiny_backbones.items()}


def roles_for(method: str, frozen: dict[str, torch.nn.Module]) -> dict[str, torch.nn.Module]:
    from reference_models.specs import get_method_spec

    roles = get_method_spec(method).roles
    return {"backbone": frozen["general"]} if roles == ("backbone",) else dict(frozen)


def ids_for(method: str, specs: dict[str, BackboneSpec]) -> dict[str, str]:
    from reference_models.specs import get_method_spec

    roles = get_method_spec(method).roles
    if roles == ("backbone",):
        return {"backbone": specs["general"].id}
    return {role: specs[role].id for role in roles}


def _split(rng: np.random.Generator, n: int, prefix: str, classes: int, patients: list[str],
           size: int, channels: int) -> SplitData:
    labels = rng.integers(0, classes, n)
    images = rng.integers(0, 60, (n, size, size, channels)).astype(np.uint8)
    for i, y in enumerate(labels):  # a class-dependent bright band: learnable in a few steps
        band = slice(y * size // classes, (y + 1) * size // classes)
        images[i, band] = np.clip(images[i, band].astype(int) + 150, 0, 255)
    return SplitData(images=images, image_ids=np.array([f"{prefix}-{i:04d}" for i in range(n)]),
                     labels=labels.astype(np.int64),
                     patient_ids=np.array([patients[i % len(patients)] for i in range(n)]))


def make_task(root: Path, slug: str, *, public_test: bool = True, size: int = 24,
              channels: int = 1, classes: int = 3, seed: int = 0) -> TaskMeta:
    rng = np.random.default_rng(seed)
    seen = [f"p{i}" for i in range(8)]
    splits = {
        "train": _split(rng, 60, f"{slug}-tr", classes, seen, size, channels),
        "val": _split(rng, 24, f"{slug}-va", classes, seen, size, channels),
        "test_id": _split(rng, 12, f"{slug}-ti", classes, seen, size, channels),
        "test_ood": _split(rng, 12, f"{slug}-to", classes, ["q1", "q2", "q3"], size, channels),
    }
    meta = TaskMeta(
        slug=slug, name=slug, benchmark=BENCH, modality="x-ray", organ="chest",
        label_type="multiclass", classes=tuple(f"c{i}" for i in range(classes)), image_size=size,
        channels=channels, primary_metric="accuracy", version="1", source="test", license="CC0",
        citation="", test_images_public=public_test, ood_level="patient", synthetic=True,
    )
    protocols = {"1k": {"train800": np.arange(0, 60, 2), "val200": np.arange(0, 24, 2)}}
    return write_task(root, meta, splits, protocols)


@pytest.fixture(scope="session")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("data")
    make_task(root, "tiny-gray", channels=1, size=24)
    make_task(root, "tiny-rgb", channels=3, size=32, classes=2, seed=1, public_test=False)
    return root
