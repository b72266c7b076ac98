"""Archive round trip and hostile archives."""

from __future__ import annotations

import json
import os
import stat
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save as save_tensors

from datasets.bundle import read_meta
from reference_models.archive import check_checkpoint_archive
from reference_models.checkpoint import read_checkpoint, write_checkpoint
from reference_models.inference import build_model_for_task, load_task_model, model_for_manifest
from reference_models.manifest import Limits
from reference_models.methods import trainable_state_dict
from reference_models.specs import METHOD_NAMES, CheckpointInvalid
from tests.reference_models.conftest import BENCH, ids_for

SMALL = {"vpt_deep": {"num_prompts": 2}, "lora": {"rank": 2},
         "gmoe_adapter": {"num_experts": 2, "bottleneck": 4, "top_k": 1},
         "moe_adapter": {"num_experts": 2, "bottleneck": 4}}


def trained_state(manifest_kwargs: dict, meta, steps: int = 3) -> dict[str, torch.Tensor]:
    from reference_models.manifest import check_manifest

    manifest = check_manifest({"format": "medvtab-checkpoint/1", "benchmark": BENCH,
                               "tasks": {meta.slug: {"file": "x.safetensors", "task_version": "1"}},
                               **manifest_kwargs})
    torch.manual_seed(0)
    model = model_for_manifest(manifest, meta.num_classes)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    x, y = torch.rand(8, 3, 32, 32), torch.arange(8) % meta.num_classes
    for _ in range(steps):
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return trainable_state_dict(model)


@pytest.mark.parametrize("method", METHOD_NAMES)
def test_round_trip_gives_the_same_logits(
    method: str, tiny_backbones: dict, data_root: Path, tmp_path: Path
) -> None:
    meta = read_meta(data_root, BENCH, "tiny-gray")
    kwargs = {"method": method, "method_config": SMALL.get(method, {}),
              "backbones": ids_for(method, tiny_backbones)}
    state = trained_state(kwargs, meta)
    path = tmp_path / "ckpt.zip"
    write_checkpoint(path, benchmark=BENCH, method=method, method_config=kwargs["method_config"],
                     backbones=kwargs["backbones"], tasks={meta.slug: ("1", state)})
    manifest, tensors = read_checkpoint(path, limits=Limits())
    model = build_model_for_task(manifest, meta, tensors[meta.slug])
    x = torch.rand(5, 3, 32, 32)
    reference = model_for_manifest(manifest, meta.num_classes)
    with torch.no_grad():
        for name, p in reference.named_parameters():
            if p.requires_grad:
                p.copy_(state[reference.tensor_name(name)])
        expected = reference.eval()(x)
        assert torch.allclose(model(x), expected, atol=1e-6)
        lazy = load_task_model(path, manifest, meta)
        assert torch.allclose(lazy(x), expected, atol=1e-6)


# --- hostile archives ---------------------------------------------------------------------------


def adapter_archive(tmp_path: Path, tiny_backbones: dict, data_root: Path,
                    mutate_state=None, mutate_manifest=None, extra_members=None) -> Path:
    meta = read_meta(data_root, BENCH, "tiny-gray")
    kwargs = {"method": "adapter", "method_config": {"bottleneck": 4},
              "backbones": ids_for("adapter", tiny_backbones)}
    state = trained_state(kwargs, meta, steps=0)
    if mutate_state:
        state = mutate_state(state)
    manifest = {"format": "medvtab-checkpoint/1", "benchmark": BENCH,
                "tasks": {meta.slug: {"file": "tiny-gray.safetensors", "task_version": "1"}},
                **kwargs}
    raw = json.dumps(manifest).encode()
    if mutate_manifest:
        raw = mutate_manifest(manifest)
    path = tmp_path / "hostile.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("manifest.json", raw)
        zf.writestr("tiny-gray.safetensors", save_tensors(state))
        for name, data in (extra_members or {}).items():
            zf.writestr(name, data)
    return path


def load_strictly(path: Path, data_root: Path) -> None:
    manifest = check_checkpoint_archive(path)
    meta = read_meta(data_root, BENCH, "tiny-gray")
    load_task_model(path, manifest, meta)


class Boom:
    marker = ""

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_pickle_is_refused_and_never_executed(tiny_backbones: dict, data_root: Path,
                                              tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    Boom.marker = str(marker)
    payload_path = tmp_path / "evil.pt"
    torch.save({"head.weight": Boom()}, payload_path)
    payload = payload_path.read_bytes()
    as_member = adapter_archive(tmp_path, tiny_backbones, data_root,
                                extra_members={"weights.pt": payload})
    with pytest.raises(CheckpointInvalid, match="pickle"):
        read_checkpoint(as_member)
    # the same bytes under the task file's name: refused as "not a safetensors file"
    disguised = tmp_path / "disguised.zip"
    with zipfile.ZipFile(as_member) as src, zipfile.ZipFile(disguised, "w") as dst:
        dst.writestr("manifest.json", src.read("manifest.json"))
        dst.writestr("tiny-gray.safetensors", payload)
    with pytest.raises(CheckpointInvalid, match="safetensors"):
        read_checkpoint(disguised)
    assert not marker.exists()


def _retype(state: dict) -> dict:
    return {**state, "head.bias": state["head.bias"].to(torch.int32)}


def _reshape(state: dict) -> dict:
    return {**state, "head.weight": torch.zeros(5, 7)}


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (_reshape, "head.weight.*shape"),
        (lambda s: {**s, "head.bias": s["head.bias"].double()}, "head.bias.*F64"),
        (_retype, "head.bias.*I32"),
        (lambda s: {("head.b" if k == "head.bias" else k): v for k, v in s.items()},
         "missing tensor.*head.bias"),
        (lambda s: {**s, "secret": torch.zeros(3)}, "unexpected tensor.*secret"),
        (lambda s: {k: v for k, v in s.items() if k != "adapters.0.up.weight"},
         "missing tensor.*adapters.0.up.weight"),
    ],
)
def test_bad_tensors_are_refused(mutate, needle: str, tiny_backbones: dict, data_root: Path,
                                 tmp_path: Path) -> None:
    path = adapter_archive(tmp_path, tiny_backbones, data_root, mutate_state=mutate)
    with pytest.raises(CheckpointInvalid, match=needle):
        load_strictly(path, data_root)


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (lambda m: b"not json at all", "not valid JSON"),
        (lambda m: json.dumps({**m, "format": 3}).encode(), "schema"),
        (lambda m: json.dumps({**m, "backbones": {"backbone": "nope-vit"}}).encode(), "nope-vit"),
        (lambda m: json.dumps({**m, "backbones": {"medical": "tiny-general"}}).encode(),
         "backbones"),
        (lambda m: json.dumps({**m, "method_config": {"bottleneck": 10**9}}).encode(),
         "bottleneck"),
        (lambda m: json.dumps({**m, "method": "unknown_method"}).encode(), "method"),
        (lambda m: json.dumps({**m, "description": "x" * 100_000}).encode(), "larger than"),
    ],
)
def test_bad_manifests_in_archives_are_refused(mutate, needle: str, tiny_backbones: dict,
                                               data_root: Path, tmp_path: Path) -> None:
    path = adapter_archive(tmp_path, tiny_backbones, data_root, mutate_manifest=mutate)
    with pytest.raises(CheckpointInvalid, match=needle):
        check_checkpoint_archive(path)


@pytest.mark.parametrize(
    ("member", "needle"),
    [("notes.txt", "unexpected member"), ("../evil.safetensors", "path tricks"),
     ("sub/x.safetensors", "path tricks")],
)
def test_extra_or_escaping_members_are_refused(member: str, needle: str, tiny_backbones: dict,
                                               data_root: Path, tmp_path: Path) -> None:
    path = adapter_archive(tmp_path, tiny_backbones, data_root, extra_members={member: b"x"})
    with pytest.raises(CheckpointInvalid, match=needle):
        check_checkpoint_archive(path)


def test_links_bombs_and_non_zips_are_refused(tiny_backbones: dict, data_root: Path,
                                              tmp_path: Path) -> None:
    path = adapter_archive(tmp_path, tiny_backbones, data_root)
    with zipfile.ZipFile(path, "a") as zf:
        info = zipfile.ZipInfo("link.safetensors")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(CheckpointInvalid, match="link"):
        check_checkpoint_archive(path)
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("manifest.json", b"{}")
        zf.writestr("a.safetensors", b"\0" * (8 << 20))
    with pytest.raises(CheckpointInvalid, match="compression ratio"):
        check_checkpoint_archive(bomb)
    not_zip = tmp_path / "x.zip"
    not_zip.write_bytes(np.arange(100, dtype=np.uint8).tobytes())
    with pytest.raises(CheckpointInvalid, match="not a valid zip"):
        check_checkpoint_archive(not_zip)
    small = adapter_archive(tmp_path, tiny_backbones, data_root)
    with pytest.raises(CheckpointInvalid, match="larger than"):
        check_checkpoint_archive(small, limits=Limits(max_file_bytes=100))
