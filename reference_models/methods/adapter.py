"""``adapter``: AdaptFormer's parallel bottleneck next to each block's MLP.

``x <- x + mlp(norm2(x)) + s * up(relu(down(norm2(x))))``; ``up`` starts at exactly zero (as in
AdaptFormer), so an untrained adapter reproduces the frozen backbone. The backbone is not modified:
the block's own submodules are called from here.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from reference_models.methods.base import (
    AdaptedModel,
    embed,
    feature_dim,
    frozen_view,
    pool,
    token_dim,
)
from reference_models.methods.registry import register_method


class Bottleneck(nn.Module):
    def __init__(self, dim: int, width: int) -> None:
        super().__init__()
        self.down = nn.Linear(dim, width)
        self.up = nn.Linear(width, dim)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.up(torch.relu(self.down(x)))


def attention_half(blk: Any, x: torch.Tensor) -> torch.Tensor:
    return x + blk.drop_path1(blk.ls1(blk.attn(blk.norm1(x))))


class AdapterModel(AdaptedModel):
    def __init__(self, vit: Any, k: int, width: int, scale: float) -> None:
        super().__init__({"backbone": vit}, feature_dim(vit), k)
        for blk in vit.blocks:
            if not all(hasattr(blk, a) for a in ("norm1", "attn", "ls1", "norm2", "mlp", "ls2")):
                raise ValueError("adapter needs timm pre-norm ViT blocks")
        self.scale = scale
        self.adapters = nn.ModuleList(Bottleneck(token_dim(vit), width) for _ in vit.blocks)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        vit = self.backbone_of("backbone")
        x = embed(vit, self.inputs(x)["backbone"])
        for blk, adapter in zip(vit.blocks, self.adapters, strict=True):
            x = attention_half(blk, x)
            h = blk.norm2(x)
            x = x + blk.drop_path2(blk.ls2(blk.mlp(h))) + self.scale * adapter(h)
        return pool(vit, x)


@register_method("adapter")
def build_adapter(config: dict[str, Any], backbones: dict[str, nn.Module], k: int) -> AdaptedModel:
    vit = frozen_view(backbones["backbone"])
    return AdapterModel(vit, k, config["bottleneck"], config["scale"])
