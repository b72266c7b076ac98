"""The contract every adaptation method follows, and the helpers they share.

A method builds an :class:`AdaptedModel` from frozen timm ViTs (one per role). Models take images as
float tensors in [0, 1] (N, 3, H, W) at the backbone's input size and normalise per role inside, so
two backbones with different normalisation can share one input. The model's *trainable tensors* --
named by :meth:`AdaptedModel.tensor_name` -- are exactly what a checkpoint stores.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from reference_models.specs import POOL_ATTRIBUTE, CheckpointInvalid

DTYPE_NAMES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16"}
Norm = tuple[Sequence[float], Sequence[float]]


class Normalise(nn.Module):
    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        # Not persistent: normalisation comes from the backbone registry, never from a checkpoint.
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)


def frozen_view(module: nn.Module) -> nn.Module:
    """The module itself when already frozen (shared, never changed), else a frozen copy."""
    if any(p.requires_grad for p in module.parameters()):
        module = copy.deepcopy(module)
        for p in module.parameters():
            p.requires_grad_(False)
    return module


def private_copy(module: nn.Module, *, trainable: bool = False) -> nn.Module:
    """A deep copy the method may change (full, bitfit, lora), so cached backbones stay intact."""
    module = copy.deepcopy(module)
    for p in module.parameters():
        p.requires_grad_(trainable)
    return module


def embed(vit: Any, x: torch.Tensor) -> torch.Tensor:
    """timm ViT tokens before the first block (patch embedding, class token, position embedding)."""
    x = vit.patch_embed(x)
    x = vit._pos_embed(x)
    x = vit.patch_drop(x)
    return vit.norm_pre(x)




def pool(vit: Any, x: torch.Tensor) -> torch.Tensor:
    """Final norm and the backbone's pooling: timm's own (the class token for registered ViTs), or
    the class token next to the mean patch token (``token+avg``, the demo backbones' choice)."""
    if getattr(vit, POOL_ATTRIBUTE, "token") == "token+avg":
        x = vit.norm(x)
        return torch.cat([x[:, 0], x[:, int(vit.num_prefix_tokens):].mean(dim=1)], dim=-1)
    return vit.forward_head(vit.norm(x), pre_logits=True)


def token_dim(vit: Any) -> int:
    """Width of the tokens between blocks (prompts and adapters live at this width)."""
    return int(vit.num_features)


def feature_dim(vit: Any) -> int:
    """Width of what :func:`pool` returns (the head's input)."""
    width = int(vit.num_features)
    return 2 * width if getattr(vit, POOL_ATTRIBUTE, "token") == "token+avg" else width


class AdaptedModel(nn.Module):
    """Frozen or partly trainable backbones (attributes named by role) plus a linear ``head``."""

    method: str = ""
    method_config: dict[str, Any]

    def __init__(
        self, backbones: dict[str, nn.Module], head_in: int, num_classes: int,
        *, frozen: bool = True,
    ) -> None:
        super().__init__()
        self.roles = tuple(backbones)
        self.frozen = frozen
        self.method_config = {}
        for role, module in backbones.items():
            self.add_module(role, module)
        self.norms = nn.ModuleDict({r: Normalise((0.0,) * 3, (1.0,) * 3) for r in self.roles})
        self.head = nn.Linear(head_in, num_classes)

    def backbone_of(self, role: str) -> Any:  # a timm ViT (dynamic attributes)
        return getattr(self, role)

    @property
    def input_size(self) -> int:
        size = self.backbone_of(self.roles[0]).patch_embed.img_size
        return int(size[0] if isinstance(size, tuple | list) else size)

    def set_normalisation(self, normalisation: Mapping[str, Norm]) -> None:
        for role, (mean, std) in normalisation.items():
            self.norms[role] = Normalise(mean, std).to(self.head.weight.device)

    def train(self, mode: bool = True) -> AdaptedModel:
        super().train(mode)
        if self.frozen:  # frozen backbones stay in eval mode (no dropout, shared modules unchanged)
            for role in self.roles:
                self.backbone_of(role).eval()
        return self

    def inputs(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        norms: Any = self.norms
        return {role: norms[role](x) for role in self.roles}

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Features the head reads; subclasses with a non-standard forward override this."""
        role = self.roles[0]
        vit = self.backbone_of(role)
        return pool(vit, vit.blocks(embed(vit, self.inputs(x)[role])))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    def tensor_name(self, parameter_name: str) -> str:
        """The documented checkpoint name of a trainable parameter (identity unless overridden)."""
        return parameter_name


def trainable_parameters(model: AdaptedModel) -> dict[str, nn.Parameter]:
    return {model.tensor_name(n): p for n, p in model.named_parameters() if p.requires_grad}


def trainable_state_dict(model: AdaptedModel) -> dict[str, torch.Tensor]:
    return {n: p.detach().float().cpu().contiguous() for n, p in trainable_parameters(model).items()}


def count_tunable(model: AdaptedModel) -> int:
    return sum(p.numel() for p in trainable_parameters(model).values())


def _listing(names: list[str]) -> str:
    shown = ", ".join(names[:5])
    return shown + (f" and {len(names) - 5} more" if len(names) > 5 else "")


def check_tensor_header(
    model: AdaptedModel, header: Mapping[str, tuple[str, tuple[int, ...]]], *, what: str = "checkpoint"
) -> None:
    """Names, shapes and dtypes against the model's trainable tensors, before reading any data."""
    expected = trainable_parameters(model)
    missing = sorted(set(expected) - set(header))
    if missing:
        raise CheckpointInvalid(f"{what}: missing tensor(s) {_listing(missing)}")
    unexpected = sorted(set(header) - set(expected))
    if unexpected:
        raise CheckpointInvalid(
            f"{what}: unexpected tensor(s) {_listing(unexpected)} for method {model.method!r}"
        )
    allowed = set(DTYPE_NAMES.values())
    for name, (dtype, shape) in header.items():
        if dtype not in allowed:
            raise CheckpointInvalid(
                f"{what}: tensor {name!r} has dtype {dtype}; allowed: {', '.join(sorted(allowed))}"
            )
        want = tuple(expected[name].shape)
        if tuple(shape) != want:
            raise CheckpointInvalid(
                f"{what}: tensor {name!r} has shape {list(shape)}, expected {list(want)}"
            )


def load_trainable(
    model: AdaptedModel, tensors: Mapping[str, torch.Tensor], *, what: str = "checkpoint"
) -> None:
    """Strict load: every trainable tensor present, nothing else, right shape and float dtype."""
    header = {}
    for name, t in tensors.items():
        if not isinstance(t, torch.Tensor):
            raise CheckpointInvalid(f"{what}: {name!r} is not a tensor")
        header[name] = (DTYPE_NAMES.get(t.dtype, str(t.dtype)), tuple(t.shape))
    check_tensor_header(model, header, what=what)
    params = trainable_parameters(model)
    with torch.no_grad():
        for name, t in tensors.items():
            params[name].copy_(t.to(device=params[name].device, dtype=params[name].dtype))
