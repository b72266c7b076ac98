"""The reference baselines: every method on each demo backbone, and sizes swept per method.

Torch-free, so that the server, the seeding command and ``make_baselines`` share one list. A name
carries the configuration (``lora r=4 (general, 1k)``), never a parameter count: counts depend on
the backbones' width and depth and are computed by the server from the rebuilt model.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from reference_models.specs import (
    METHOD_SPECS,
    get_backbone_spec,
    get_method_spec,
    normalise_config,
)

DEMO_BACKBONES: dict[str, str] = {"general": "demo-vit-general", "medical": "demo-vit-medical"}
PROTOCOLS = ("1k", "full")

# How each swept field appears in a name; a method's tag lists its fields in this order.
FIELD_TAGS = {"num_prompts": "p", "num_experts": "E", "rank": "r", "bottleneck": "r"}

# Sizes chosen to span about 1.5 orders of magnitude of tunable parameters on the demo backbones
# (the largest about 30 times the smallest, tested with the formulas at the registered demo sizes);
# each list holds the method's catalog default, so the default configuration is on the board.
SWEEPS: dict[str, tuple[dict[str, int | float], ...]] = {
    "vpt_shallow": ({"num_prompts": 10},),
    "vpt_deep": ({"num_prompts": 1}, {"num_prompts": 10}, {"num_prompts": 64}),
    # alpha follows the rank (alpha / r = 1, as the default 8 / 8), so only the capacity changes
    "lora": tuple({"rank": r, "alpha": float(r)} for r in (1, 8, 64)),
    "adapter": ({"bottleneck": 1}, {"bottleneck": 16}, {"bottleneck": 64}),
    "gmoe_adapter": (
        {"num_experts": 2, "bottleneck": 2},
        {"num_experts": 4, "bottleneck": 16},
        {"num_experts": 8, "bottleneck": 32},
    ),
    "moe_adapter": ({"num_experts": 4, "bottleneck": 16},),
}


@dataclass(frozen=True)
class SweepEntry:
    """One baseline: a method, its (validated) config, its backbones by role and a protocol."""

    method: str
    config: Mapping[str, Any] = field(default_factory=dict)
    backbones: Mapping[str, str] = field(default_factory=dict)
    protocol: str = "1k"

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"protocol must be one of {', '.join(PROTOCOLS)}, not {self.protocol!r}")
        roles = get_method_spec(self.method).roles
        if tuple(self.backbones) != roles:
            raise ValueError(f"{self.method} needs backbone role(s) {', '.join(roles)}")
        # a private copy, so that the caller's dict (e.g. a SWEEPS row) cannot change the entry
        object.__setattr__(self, "config", dict(self.config))
        object.__setattr__(self, "backbones", dict(self.backbones))
        normalise_config(self.method, dict(self.config))  # raises CheckpointInvalid

    @property
    def family(self) -> str:
        return METHOD_SPECS[self.method].family

    @property
    def method_config(self) -> dict[str, Any]:
        """The full config, defaults filled in: what the archive's manifest records."""
        return normalise_config(self.method, dict(self.config))

    @property
    def pretraining(self) -> str:
        domains = {get_backbone_spec(b).domain for b in self.backbones.values()}
        return "both" if len(domains) > 1 else domains.pop()

    @property
    def tag(self) -> str:
        """``E=4 r=16``: the swept fields of the full config; empty for methods without fields."""
        config = self.method_config
        shown = [k for k in FIELD_TAGS if k in config]
        return " ".join(f"{FIELD_TAGS[k]}={_number(config[k])}" for k in shown)

    @property
    def name(self) -> str:
        head = f"{self.method} {self.tag}" if self.tag else self.method
        return f"{head} ({self.pretraining}, {self.protocol})"

    @property
    def slug(self) -> str:
        """A file-name stem from the name: ``lora r=4 (general, 1k)`` -> ``lora-r4-general-1k``."""
        return re.sub(r"[^a-z0-9_]+", "-", self.name.lower().replace("=", "")).strip("-")

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name, "method": self.method, "method_config": self.method_config,
            "backbones": dict(self.backbones), "protocol": self.protocol,
        }


def _number(value: int | float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _backbone_choices(method: str, demo: Mapping[str, str]) -> list[dict[str, str]]:
    roles = get_method_spec(method).roles
    if set(roles) == set(demo):  # two-backbone methods get both, in their role order
        return [{role: demo[role] for role in roles}]
    return [{roles[0]: backbone} for backbone in demo.values()]


def sweep(
    protocols: Iterable[str] = ("1k",), methods: Iterable[str] | None = None,
    demo: Mapping[str, str] = DEMO_BACKBONES,
) -> list[SweepEntry]:
    """The baselines of each protocol, protocol by protocol, in catalog then size order."""
    wanted = set(methods) if methods is not None else None
    unknown = sorted((wanted or set()) - set(METHOD_SPECS))
    if unknown:
        raise ValueError(f"unknown method(s) {', '.join(unknown)}")
    entries = []
    for protocol in protocols:
        for method in METHOD_SPECS:
            if wanted is not None and method not in wanted:
                continue
            for backbones in _backbone_choices(method, demo):
                for config in SWEEPS.get(method, ({},)):
                    entries.append(SweepEntry(method, config, backbones, protocol))
    return entries
