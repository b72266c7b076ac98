"""Build registered backbones with timm (never ``pretrained=True``) and load their local weights."""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path

import timm
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from reference_models.specs import POOL_ATTRIBUTE, BackboneSpec, get_backbone_spec

_cache: dict[tuple[str, str], nn.Module] = {}
_lock = threading.Lock()


class BackboneUnavailable(RuntimeError):
    """A registered backbone's weights are missing or do not match their recorded hash."""


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fp:
        for chunk in iter(lambda: fp.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def provenance_path(spec: BackboneSpec) -> Path:
    return spec.weights_path().with_suffix(".json")


def _hint(spec: BackboneSpec) -> str:
    if spec.id.startswith("demo-"):
        return " (run: python -m reference_models.pretrain_demo)"
    return " (point the registry entry at a local weights file)"


def expected_sha256(spec: BackboneSpec) -> str:
    if spec.sha256:
        return spec.sha256
    sidecar = provenance_path(spec)
    if not sidecar.is_file():
        raise BackboneUnavailable(
            f"backbone {spec.id!r}: no sha256 registered and no provenance file {sidecar}"
            + _hint(spec)
        )
    return str(json.loads(sidecar.read_text(encoding="utf-8"))["sha256"])


def create_backbone(spec: BackboneSpec) -> nn.Module:
    """The bare architecture (random weights, no classifier head), carrying its pooling choice."""
    module = timm.create_model(spec.arch, pretrained=False, num_classes=0, **spec.kwargs)
    setattr(module, POOL_ATTRIBUTE, spec.pool)
    return module


def load_backbone_weights(spec: BackboneSpec, module: nn.Module) -> None:
    path = spec.weights_path()
    if not path.is_file():
        raise BackboneUnavailable(f"backbone {spec.id!r}: weights file {path} is missing" + _hint(spec))
    want = expected_sha256(spec)
    got = file_sha256(path)
    if got != want:
        raise BackboneUnavailable(
            f"backbone {spec.id!r}: {path} has sha256 {got}, expected {want}"
        )
    state = load_file(str(path))
    state = {k: v for k, v in state.items() if not k.startswith("head.")}
    module.load_state_dict(state, strict=True)


def freeze(module: nn.Module) -> nn.Module:
    for param in module.parameters():
        param.requires_grad_(False)
    return module.eval()


def load_backbone(
    backbone_id: str | BackboneSpec, *, device: str | torch.device = "cpu", cache: bool = True
) -> nn.Module:
    """A frozen, eval-mode backbone with verified weights; cached per (id, device).

    Cached modules are shared: adaptation methods wrap them and never change them in place.
    """
    spec = backbone_id if isinstance(backbone_id, BackboneSpec) else get_backbone_spec(backbone_id)
    key = (spec.id, str(torch.device(device)))
    with _lock:
        if cache and key in _cache:
            return _cache[key]
        module = create_backbone(spec)
        load_backbone_weights(spec, module)
        module = freeze(module.to(device))
        if cache:
            _cache[key] = module
        return module


def clear_cache() -> None:
    with _lock:
        _cache.clear()


def save_backbone(module: nn.Module, path: Path) -> str:
    """Write a backbone's weights as safetensors; returns the file's sha256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().cpu() for k, v in module.state_dict().items()
             if not k.startswith("head.")}
    tmp = path.with_suffix(".tmp")
    save_file(state, str(tmp))
    tmp.replace(path)
    return file_sha256(path)
