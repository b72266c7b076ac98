"""Adaptation methods and the one ``build`` contract for all of them.

``build(method, method_config, backbones_by_role, num_classes)`` returns an :class:`AdaptedModel`;
its trainable tensors (``trainable_parameters``) are what a checkpoint stores and what the verified
tunable-parameter count sums. The backbones passed in are never changed: methods that train or
rewrite backbone tensors (full, bitfit, lora) deep-copy them first. Builders register themselves
with ``@register_method`` from :mod:`reference_models.methods.registry` when their module is
imported; importing this package imports them all.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

from reference_models.methods import adapter, linear, lora, moe, vpt
from reference_models.methods.base import (
    AdaptedModel,
    Norm,
    check_tensor_header,
    count_tunable,
    load_trainable,
    trainable_parameters,
    trainable_state_dict,
)
from reference_models.methods.registry import METHODS, get_builder, register_method
from reference_models.specs import CheckpointInvalid, get_method_spec, normalise_config

__all__ = [
    "METHODS", "AdaptedModel", "Norm", "adapter", "build", "check_tensor_header", "count_tunable",
    "get_builder", "linear", "load_trainable", "lora", "moe", "register_method",
    "trainable_parameters", "trainable_state_dict", "vpt",
]


def build(
    method: str,
    method_config: Mapping[str, Any] | None,
    backbones_by_role: Mapping[str, nn.Module],
    num_classes: int,
    *,
    normalisation: Mapping[str, Norm] | None = None,
) -> AdaptedModel:
    """Build ``method`` on the given backbones (never modified; pass them on the target device,
    since ``model.to(device)`` would move a shared module in place)."""
    spec = get_method_spec(method)
    config = normalise_config(method, dict(method_config or {}))
    if set(backbones_by_role) != set(spec.roles):
        raise CheckpointInvalid(
            f"method {method!r} takes backbone role(s) {', '.join(spec.roles)}; "
            f"got {', '.join(sorted(backbones_by_role)) or 'none'}"
        )
    if not 1 <= num_classes <= 10_000:
        raise CheckpointInvalid(f"num_classes={num_classes} is out of range")
    builder = get_builder(method)
    ordered = {role: backbones_by_role[role] for role in spec.roles}
    model = builder(config, ordered, num_classes)
    model.method = method
    model.method_config = config
    if normalisation:
        model.set_normalisation(normalisation)
    return model
