"""Torch-free manifest and safetensors-header checks."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save as save_numpy

from reference_models import catalog
from reference_models.catalog import CheckpointInvalid, check_manifest, read_safetensors_header

REPO = Path(__file__).resolve().parents[2]


def manifest(**overrides: object) -> dict:
    data = {
        "format": "medvtab-checkpoint/1", "benchmark": "med-vtab-mini", "method": "gmoe_adapter",
        "method_config": {"num_experts": 4},
        "backbones": {"general": "demo-vit-general", "medical": "demo-vit-medical"},
        "tasks": {"chest-xray": {"file": "chest-xray.safetensors", "task_version": "1"}},
    }
    data.update(overrides)
    return data


def test_catalog_and_header_check_do_not_import_torch(tmp_path: Path) -> None:
    blob = save_numpy({"head.weight": np.zeros((2, 3), np.float32)})
    (tmp_path / "t.safetensors").write_bytes(blob)
    code = f"""
import sys, json
from reference_models import catalog
m = catalog.check_manifest(json.loads({json.dumps(json.dumps(manifest()))}))
with open({str(tmp_path / 't.safetensors')!r}, 'rb') as fp:
    h = catalog.read_safetensors_header(fp, max_header_bytes=1 << 20)
assert h == {{'head.weight': ('F32', (2, 3))}}, h
assert m.method_config['bottleneck'] == 16
assert 'torch' not in sys.modules, 'torch was imported'
print('ok')
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_shipped_schema_matches_the_catalog() -> None:
    shipped = json.loads((REPO / "reference_models/schemas/manifest.schema.json").read_text())
    assert shipped == catalog.build_manifest_schema()


def test_valid_manifest_fills_defaults() -> None:
    m = check_manifest(manifest(), known_tasks={"chest-xray": "1"})
    assert m.method_config == {"num_experts": 4, "bottleneck": 16, "top_k": 2, "residual_init": 0.01}
    assert m.family == "moe"
    assert m.backbones == {"general": "demo-vit-general", "medical": "demo-vit-medical"}


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        ({"method": "gmoe_adaptor"}, "gmoe_adaptor"),
        ({"format": "other/2"}, "format"),
        ({"method_config": {"num_experts": 10**9}}, "num_experts"),
        ({"method_config": {"num_experts": 2, "top_k": 3}}, "top_k"),
        ({"method_config": {"experts": 4}}, "experts"),
        ({"backbones": {"general": "demo-vit-general", "ct": "demo-vit-medical"}}, "backbones"),
        ({"backbones": {"general": "demo-vit-general", "medical": "vit-huge-x"}}, "vit-huge-x"),
        ({"tasks": {"chest-xray": {"file": "../x.safetensors", "task_version": "1"}}}, "file"),
        ({"tasks": {"chest-xray": {"file": "x.pt", "task_version": "1"}}}, "file"),
        ({"extra": 1}, "extra"),
    ],
)
def test_bad_manifests_are_refused(overrides: dict, needle: str) -> None:
    with pytest.raises(CheckpointInvalid, match=needle):
        check_manifest(manifest(**overrides))


def test_unknown_method_suggests_the_close_name() -> None:
    with pytest.raises(CheckpointInvalid, match="did you mean 'gmoe_adapter'"):
        catalog.get_method_spec("gmoe_adaptor")


def test_known_tasks_and_versions_are_enforced() -> None:
    with pytest.raises(CheckpointInvalid, match="not in benchmark"):
        check_manifest(manifest(), known_tasks={"other": "1"})
    with pytest.raises(CheckpointInvalid, match=r"version '1'.*version '2'"):
        check_manifest(manifest(), known_tasks={"chest-xray": "2"})


def test_manifest_bytes_not_json_or_too_large() -> None:
    with pytest.raises(CheckpointInvalid, match="not valid JSON"):
        catalog.parse_manifest_bytes(b"{nope")
    with pytest.raises(CheckpointInvalid, match="larger than"):
        catalog.parse_manifest_bytes(b" " * 70_000 + b"{}")


def test_mismatched_gmoe_backbones_are_refused() -> None:
    spec = catalog.BackboneSpec("other-depth", "vit_tiny_patch16_224",
                                {"img_size": 64, "patch_size": 8, "depth": 6}, "x.safetensors",
                                "medical")
    catalog.register_backbone(spec, replace=True)
    try:
        with pytest.raises(CheckpointInvalid, match="same depth"):
            check_manifest(manifest(backbones={"general": "demo-vit-general",
                                               "medical": "other-depth"}))
    finally:
        catalog.unregister_backbone("other-depth")


def test_header_round_trip_and_corruptions() -> None:
    blob = save_numpy({"a": np.zeros((2, 3), np.float16), "b": np.ones(4, np.float32)})
    assert read_safetensors_header(blob) == {"a": ("F16", (2, 3)), "b": ("F32", (4,))}
    with pytest.raises(CheckpointInvalid, match="dtype I32"):
        read_safetensors_header(save_numpy({"a": np.zeros(2, np.int32)}),
                                allowed_dtypes=("F32",))
    with pytest.raises(CheckpointInvalid, match="exceeds the limit"):
        read_safetensors_header(struct.pack("<Q", 10**12) + b"{}")
    with pytest.raises(CheckpointInvalid, match="does not match its header"):
        read_safetensors_header(blob[:-4])
    with pytest.raises(CheckpointInvalid, match="truncated"):
        read_safetensors_header(blob[:12])
    bad = json.dumps({"a": {"dtype": "F32", "shape": [10], "data_offsets": [0, 8]}}).encode()
    with pytest.raises(CheckpointInvalid, match="byte range"):
        read_safetensors_header(struct.pack("<Q", len(bad)) + bad + b"\0" * 8)
    with pytest.raises(CheckpointInvalid, match="not JSON"):
        read_safetensors_header(struct.pack("<Q", 4) + b"\x80abc")


def test_registry_file_registers_backbones(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "registry.json"
    path.write_text(json.dumps({"backbones": [{
        "id": "vit-b16-in21k-test", "arch": "vit_base_patch16_224",
        "kwargs": {"img_size": 224}, "weights": "/weights/vit_b16_in21k.safetensors",
        "sha256": "0" * 64, "domain": "general", "licence": "Apache-2.0", "source": "local file",
    }]}))
    monkeypatch.setenv("MEDVTAB_BACKBONE_REGISTRY", str(path))
    try:
        spec = catalog.get_backbone_spec("vit-b16-in21k-test")
        assert (spec.embed_dim, spec.depth, spec.num_tokens) == (768, 12, 197)
        assert "vit-b16-in21k-test" in catalog.backbone_ids()
    finally:
        catalog.unregister_backbone("vit-b16-in21k-test")


def test_methods_doc_lists_the_computed_vit_b16_counts() -> None:
    from reference_models.formulas import tunable_params

    vit_b = catalog.BackboneSpec("vit-b16", "vit_base_patch16_224", {"img_size": 224}, "x", "general")
    doc = (REPO / "docs/methods.md").read_text()
    for name, spec in catalog.METHOD_SPECS.items():
        count = tunable_params(name, {}, [vit_b] * len(spec.roles), 10)
        assert f"| `{name}` | {spec.family} | {count:,} |" in doc, name
