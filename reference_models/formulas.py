"""Tunable-parameter formulas per method for timm pre-norm ViTs (torch-free).

``D`` embedding width, ``L`` depth, ``p`` patch size, ``T`` tokens (patches + class token), ``K``
classes; MLP ratio 4. The verified count of a checkpoint always comes from the built model
(:func:`reference_models.methods.count_tunable`); these formulas document it and the tests hold the
two equal.
"""

from __future__ import annotations

from typing import Any

from reference_models.specs import BackboneSpec, get_method_spec, normalise_config


def vit_params(d: int, depth: int, patch: int, tokens: int) -> int:
    block = 12 * d * d + 13 * d  # qkv, proj, fc1, fc2 (ratio 4) and two LayerNorms
    return 3 * patch * patch * d + d + d + tokens * d + depth * block + 2 * d


def head(d: int, k: int) -> int:
    return k * (d + 1)


def moe_block(d: int, experts: int, width: int) -> int:
    return 2 * d + experts * (d + 1) + experts * (2 * d * width + width + d) + d


def tunable_params(
    method: str, config: dict[str, Any] | None, backbones: list[BackboneSpec], num_classes: int
) -> int:
    cfg = normalise_config(method, config)
    get_method_spec(method)
    d, depth = backbones[0].embed_dim, backbones[0].depth
    k = num_classes
    # The head reads the pooled features: twice the width with class token + mean token pooling.
    pooled = sum(b.embed_dim * (2 if b.pool == "token+avg" else 1) for b in backbones)
    if method == "linear":
        return head(pooled, k)
    if method == "full":
        return vit_params(d, depth, backbones[0].patch_size, backbones[0].num_tokens) + head(pooled, k)
    if method == "bitfit":
        return d + 11 * d * depth + d + head(pooled, k)
    if method == "vpt_shallow":
        return cfg["num_prompts"] * d + head(pooled, k)
    if method == "vpt_deep":
        return depth * cfg["num_prompts"] * d + head(pooled, k)
    if method == "adapter":
        r = cfg["bottleneck"]
        return depth * (2 * d * r + r + d) + head(pooled, k)
    if method == "lora":
        return depth * 4 * d * cfg["rank"] + head(pooled, k)
    total = sum(b.embed_dim for b in backbones)  # moe_adapter, gmoe_adapter
    return depth * moe_block(total, cfg["num_experts"], cfg["bottleneck"]) + head(pooled, k)


FORMULAS = {
    "linear": "K(D+1)",
    "full": "3p²D + 2D + TD + L(12D² + 13D) + 2D + K(D+1)",
    "bitfit": "2D + 11DL + K(D+1)",
    "vpt_shallow": "PD + K(D+1)",
    "vpt_deep": "LPD + K(D+1)",
    "adapter": "L(2Dr + r + D) + K(D+1)",
    "lora": "4DrL + K(D+1)",
    "moe_adapter": "L[3D + E(D+1) + E(2Dr + r + D)] + K(D+1)",
    "gmoe_adapter": "as moe_adapter with D = D_general + D_medical",
}
# With class token + mean token pooling (the demo backbones), every K(D+1) head term is K(2D+1).
