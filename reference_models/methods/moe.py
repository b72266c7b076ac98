"""``gmoe_adapter`` and ``moe_adapter``: a gated mixture of bottleneck experts between blocks.

After block ``l`` of every stream (one frozen backbone per role), the streams' tokens are
concatenated per token, ``z = LN([x_general, x_medical])`` (width ``D = sum of widths``). Expert
``e`` is ``up_e(gelu(down_e(z)))``; a per-token softmax gate over ``W_g z + b_g`` (optionally only
the top-k logits, renormalised) mixes them into ``m``; ``m`` is split back per stream and added as
``x_s <- x_s + a_s * m_s`` where ``a_s`` is a learnable per-channel residual gate initialised to
``residual_init``. The head reads the concatenated class tokens. With ``residual_init = 0`` the
features equal the frozen backbones' exactly. ``moe_adapter`` is the same with one stream.

Tunable parameters per block: ``2D`` (norm) + ``E(D + 1)`` (gate) + ``E(2Dr + r + D)`` (experts)
+ ``D`` (residual gates); plus the head ``K(D + 1)``.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
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


class ExpertMixture(nn.Module):
    def __init__(self, dims: list[int], experts: int, width: int, top_k: int, init: float) -> None:
        super().__init__()
        total = sum(dims)
        self.dims = dims
        self.top_k = top_k
        self.norm = nn.LayerNorm(total)
        self.gate = nn.Linear(total, experts)
        self.down = nn.Parameter(torch.empty(experts, total, width))
        self.down_bias = nn.Parameter(torch.zeros(experts, width))
        self.up = nn.Parameter(torch.empty(experts, width, total))
        self.up_bias = nn.Parameter(torch.zeros(experts, total))
        nn.init.normal_(self.down, std=total**-0.5)
        nn.init.normal_(self.up, std=width**-0.5)
        nn.init.zeros_(self.gate.weight)  # uniform routing at the start
        nn.init.zeros_(self.gate.bias)
        self.residual = nn.Parameter(torch.full((total,), float(init)))

    def gate_weights(self, z: torch.Tensor) -> torch.Tensor:
        logits = self.gate(z)
        if 0 < self.top_k < logits.shape[-1]:
            kept, index = logits.topk(self.top_k, dim=-1)
            sparse = torch.full_like(logits, float("-inf")).scatter(-1, index, kept)
            return F.softmax(sparse, dim=-1)
        return F.softmax(logits, dim=-1)

    def forward(self, streams: list[torch.Tensor]) -> list[torch.Tensor]:
        z = self.norm(torch.cat(streams, dim=-1))
        weights = self.gate_weights(z)  # (B, N, E)
        experts, total, width = self.down.shape
        # sum_e g_e (h_e U_e + c_e) == [g_e h_e]_e U + g C: two matmuls, no (B, N, E, D) tensor
        down = self.down.permute(1, 0, 2).reshape(total, experts * width)
        hidden = F.gelu(z @ down + self.down_bias.reshape(-1)).unflatten(-1, (experts, width))
        scaled = (hidden * weights.unsqueeze(-1)).flatten(-2)
        mixture = scaled @ self.up.reshape(experts * width, total) + weights @ self.up_bias
        mixture = mixture * self.residual
        return [x + m for x, m in zip(streams, mixture.split(self.dims, dim=-1), strict=True)]


class MoEModel(AdaptedModel):
    def __init__(self, backbones: dict[str, nn.Module], k: int, config: dict[str, Any]) -> None:
        vits: dict[str, Any] = {role: frozen_view(vit) for role, vit in backbones.items()}
        dims = [token_dim(v) for v in vits.values()]
        depths = {len(v.blocks) for v in vits.values()}
        tokens = {int(v.patch_embed.num_patches) + int(v.num_prefix_tokens) for v in vits.values()}
        if len(depths) != 1 or len(tokens) != 1:
            raise ValueError("the backbones of a mixture-of-experts adapter need the same depth "
                             "and token count")
        super().__init__(vits, sum(feature_dim(v) for v in vits.values()), k)
        self.mixtures = nn.ModuleList(
            ExpertMixture(dims, config["num_experts"], config["bottleneck"], config["top_k"],
                          config["residual_init"])
            for _ in range(depths.pop())
        )

    def features(self, x: torch.Tensor) -> torch.Tensor:
        inputs = self.inputs(x)
        vits = [self.backbone_of(role) for role in self.roles]
        streams = [embed(v, inputs[role]) for v, role in zip(vits, self.roles, strict=True)]
        for depth, mixture in enumerate(self.mixtures):
            streams = [v.blocks[depth](s) for v, s in zip(vits, streams, strict=True)]
            streams = mixture(streams)
        return torch.cat([pool(v, s) for v, s in zip(vits, streams, strict=True)], dim=-1)


@register_method("gmoe_adapter")
def build_gmoe(config: dict[str, Any], backbones: dict[str, nn.Module], k: int) -> AdaptedModel:
    return MoEModel({"general": backbones["general"], "medical": backbones["medical"]}, k, config)


@register_method("moe_adapter")
def build_moe(config: dict[str, Any], backbones: dict[str, nn.Module], k: int) -> AdaptedModel:
    return MoEModel({"backbone": backbones["backbone"]}, k, config)
