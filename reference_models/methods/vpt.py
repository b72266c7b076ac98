"""Visual prompt tuning: ``vpt_shallow`` (prompts at the input) and ``vpt_deep`` (at every block).

Prompt tokens sit between the prefix (class) token and the patch tokens; they are dropped before
pooling so the head reads the class token as in the frozen backbone.
"""

from __future__ import annotations

import math
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


class PromptModel(AdaptedModel):
    def __init__(self, vit: Any, k: int, num_prompts: int, deep: bool) -> None:
        super().__init__({"backbone": vit}, feature_dim(vit), k)
        depth = len(vit.blocks)
        dim = token_dim(vit)
        patch = vit.patch_embed.patch_size
        patch_area = patch[0] * patch[1] if isinstance(patch, tuple | list) else patch * patch
        bound = math.sqrt(6.0 / float(3 * patch_area + dim))  # VPT's Xavier-uniform bound
        self.deep = deep
        self.prompts = nn.Parameter(
            torch.empty(depth if deep else 1, num_prompts, dim).uniform_(-bound, bound)
        )

    def features(self, x: torch.Tensor) -> torch.Tensor:
        vit = self.backbone_of("backbone")
        x = embed(vit, self.inputs(x)["backbone"])
        n_prefix = int(vit.num_prefix_tokens)
        n_prompts = self.prompts.shape[1]
        batch = x.shape[0]
        for i, blk in enumerate(vit.blocks):
            if i == 0 or self.deep:
                prompt = self.prompts[i if self.deep else 0].to(x.dtype).expand(batch, -1, -1)
                rest = x[:, n_prefix + (n_prompts if i > 0 else 0):]
                x = torch.cat([x[:, :n_prefix], prompt, rest], dim=1)
            x = blk(x)
        x = torch.cat([x[:, :n_prefix], x[:, n_prefix + n_prompts:]], dim=1)
        return pool(vit, x)


@register_method("vpt_shallow")
def build_shallow(config: dict[str, Any], backbones: dict[str, nn.Module], k: int) -> AdaptedModel:
    return PromptModel(frozen_view(backbones["backbone"]), k, config["num_prompts"], deep=False)


@register_method("vpt_deep")
def build_deep(config: dict[str, Any], backbones: dict[str, nn.Module], k: int) -> AdaptedModel:
    return PromptModel(frozen_view(backbones["backbone"]), k, config["num_prompts"], deep=True)
