"""Rebuild a checkpoint's model for one task and predict probabilities (used by the GPU worker).

Images arrive as uint8 N x H x W x C (C = 1 or 3). Grayscale images are replicated to three
channels, every image is resized (bilinear) to the backbone's input size, scaled to [0, 1] and
normalised per backbone inside the model. All of this happens on the device, batch by batch.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from datasets.bundle import TaskMeta
from reference_models.backbones import load_backbone
from reference_models.checkpoint import read_task_tensors
from reference_models.manifest import Manifest
from reference_models.methods import (
    AdaptedModel,
    Norm,
    build,
    check_tensor_header,
    count_tunable,
    load_trainable,
)
from reference_models.specs import get_backbone_spec

__all__ = [
    "build_model_for_task", "count_tunable", "load_task_model", "predict_probs", "prepare_batch",
    "to_model_input",
]


def normalisation_for(backbones: Mapping[str, str]) -> dict[str, Norm]:
    return {
        role: (get_backbone_spec(bid).mean, get_backbone_spec(bid).std)
        for role, bid in backbones.items()
    }


def model_for_manifest(
    manifest: Manifest, num_classes: int, *, device: str | torch.device = "cpu",
    backbones: Mapping[str, nn.Module] | None = None,
) -> AdaptedModel:
    """An untrained model for the manifest's method; ``backbones`` may be cached frozen modules."""
    if backbones is None:
        backbones = {role: load_backbone(bid, device=device) for role, bid in manifest.backbones.items()}
    model = build(manifest.method, manifest.method_config, dict(backbones), num_classes,
                  normalisation=normalisation_for(manifest.backbones))
    return model.to(device)


def build_model_for_task(
    manifest: Manifest, task_meta: TaskMeta, tensors: Mapping[str, torch.Tensor], *,
    device: str | torch.device = "cpu", backbones: Mapping[str, nn.Module] | None = None,
) -> AdaptedModel:
    """Model with the task's tensors loaded strictly, in eval mode."""
    model = model_for_manifest(manifest, task_meta.num_classes, device=device, backbones=backbones)
    load_trainable(model, tensors, what=f"task {task_meta.slug}")
    return model.eval()


def load_task_model(
    archive: Path | str, manifest: Manifest, task_meta: TaskMeta, *,
    device: str | torch.device = "cpu", backbones: Mapping[str, nn.Module] | None = None,
) -> AdaptedModel:
    """Like :func:`build_model_for_task`, but names/shapes/dtypes are checked against the model
    from the archive's header before the task's tensor data is decoded."""
    model = model_for_manifest(manifest, task_meta.num_classes, device=device, backbones=backbones)
    check_tensor_header(model, manifest.headers[task_meta.slug], what=f"task {task_meta.slug}")
    load_trainable(model, read_task_tensors(archive, manifest, task_meta.slug),
                   what=f"task {task_meta.slug}")
    return model.eval()


def to_model_input(x: torch.Tensor, size: int, *, channels_last: bool = False) -> torch.Tensor:
    """uint8 N x H x W (x C) on the device -> float N x 3 x size x size in [0, 1]."""
    if x.ndim == 3:
        x = x.unsqueeze(-1)
    x = x.permute(0, 3, 1, 2).float().div_(255.0)
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    if x.shape[-1] != size or x.shape[-2] != size:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    return x.contiguous(memory_format=fmt)


def prepare_batch(images: np.ndarray, size: int, device: str | torch.device) -> torch.Tensor:
    """uint8 N x H x W x C -> float N x 3 x size x size in [0, 1] on ``device``."""
    x = torch.from_numpy(np.require(images, requirements=["C", "W"])).to(device)
    return to_model_input(x, size)


def autocast(device: str | torch.device) -> torch.autocast:
    kind = torch.device(device).type
    return torch.autocast(kind, dtype=torch.bfloat16, enabled=kind == "cuda")


def predict_probs(
    model: AdaptedModel, images: np.ndarray, *, label_type: str, batch_size: int = 128,
    device: str | torch.device = "cpu",
) -> np.ndarray:
    """Softmax probabilities (binary, multiclass, ordinal) or sigmoids (multilabel), float64 N x K."""
    model.eval()
    out: list[np.ndarray] = []
    with torch.inference_mode(), autocast(device):
        for start in range(0, len(images), batch_size):
            x = prepare_batch(images[start:start + batch_size], model.input_size, device)
            logits = model(x).float()
            probs = torch.sigmoid(logits) if label_type == "multilabel" else logits.softmax(-1)
            out.append(probs.cpu().double().numpy())
    k = model.head.out_features
    return np.concatenate(out) if out else np.zeros((0, k))
