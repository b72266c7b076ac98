"""``linear`` (frozen backbone), ``full`` (everything trains) and ``bitfit`` (biases only)."""

from __future__ import annotations

from typing import Any

from torch import nn

from reference_models.methods.base import AdaptedModel, feature_dim, frozen_view, private_copy
from reference_models.methods.registry import register_method


@register_method("linear")
def build_linear(config: dict[str, Any], backbones: dict[str, nn.Module], k: int) -> AdaptedModel:
    vit = frozen_view(backbones["backbone"])
    return AdaptedModel({"backbone": vit}, feature_dim(vit), k)


@register_method("full")
def build_full(config: dict[str, Any], backbones: dict[str, nn.Module], k: int) -> AdaptedModel:
    vit = private_copy(backbones["backbone"], trainable=True)
    return AdaptedModel({"backbone": vit}, feature_dim(vit), k, frozen=False)


@register_method("bitfit")
def build_bitfit(config: dict[str, Any], backbones: dict[str, nn.Module], k: int) -> AdaptedModel:
    vit = private_copy(backbones["backbone"])
    for name, param in vit.named_parameters():
        param.requires_grad_(name.endswith("bias"))
    return AdaptedModel({"backbone": vit}, feature_dim(vit), k, frozen=False)
