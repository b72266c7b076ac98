"""The method registry: ``@register_method`` builders looked up by name.

A builder takes ``(method_config, backbones_by_role, num_classes)`` and returns an
:class:`~reference_models.methods.base.AdaptedModel`. Every registered name must already have a
catalog entry in :mod:`reference_models.specs` (roles, config fields, family), so the catalog and
the registry can never disagree. Unknown names get a "did you mean" message.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from datasets.registry import Registry, RegistryError
from reference_models.methods.base import AdaptedModel
from reference_models.specs import CheckpointInvalid, get_method_spec

Builder = Callable[[dict[str, Any], dict[str, nn.Module], int], AdaptedModel]
METHODS: Registry[Builder] = Registry("method")

__all__ = ["METHODS", "Builder", "get_builder", "register_method"]


def register_method(name: str) -> Callable[[Builder], Builder]:
    """Decorator registering a builder under ``name``; refuses names outside the catalog."""
    get_method_spec(name)
    return METHODS.decorator(name)


def get_builder(name: str) -> Builder:
    try:
        return METHODS.get(name)
    except RegistryError as exc:
        raise CheckpointInvalid(str(exc)) from None
