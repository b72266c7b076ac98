"""Torch-free descriptions of the adaptation methods and of the registered backbones.

The method list here is the single source of truth for names, roles, families and ``method_config``
fields (defaults and bounds); the torch builders in :mod:`reference_models.methods` register against
it. Backbones are registered by id: built-in demo entries, entries from a JSON registry file
(``MEDVTAB_BACKBONE_REGISTRY``) and entries added at run time (tests, operators' scripts).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from datasets.registry import Registry, RegistryError

DOMAINS = ("general", "medical")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class CheckpointInvalid(ValueError):
    """A checkpoint archive, manifest or tensor file is refused; ``str()`` is shown to the user."""


@dataclass(frozen=True)
class ConfigField:
    name: str
    kind: str  # "integer" or "number"
    default: int | float
    minimum: int | float
    maximum: int | float
    doc: str

    def schema(self) -> dict[str, Any]:
        return {
            "type": self.kind, "minimum": self.minimum, "maximum": self.maximum,
            "default": self.default, "description": self.doc,
        }


@dataclass(frozen=True)
class MethodSpec:
    name: str
    family: str
    roles: tuple[str, ...]
    summary: str
    fields: tuple[ConfigField, ...] = ()
    modifies_backbone: bool = False  # True: the builder deep-copies the backbone it is given

    def config_schema(self) -> dict[str, Any]:
        return {
            "type": "object",
            "additionalProperties": False,
            "properties": {f.name: f.schema() for f in self.fields},
        }

    def defaults(self) -> dict[str, int | float]:
        return {f.name: f.default for f in self.fields}


def _moe_fields(default_experts: int) -> tuple[ConfigField, ...]:
    return (
        ConfigField("num_experts", "integer", default_experts, 1, 32, "number of bottleneck experts E"),
        ConfigField("bottleneck", "integer", 16, 1, 1024, "hidden width r of each expert"),
        ConfigField("top_k", "integer", 2, 0, 32,
                    "experts kept per token (0 = dense softmax over all E; at most E)"),
        ConfigField("residual_init", "number", 0.01, 0.0, 1.0,
                    "initial value of the per-channel residual gate that adds the mixture back"),
    )


METHOD_SPECS: dict[str, MethodSpec] = {
    spec.name: spec
    for spec in (
        MethodSpec("linear", "linear-probe", ("backbone",), "linear head on the frozen class token"),
        MethodSpec("full", "full-finetune", ("backbone",), "every backbone tensor and the head",
                   modifies_backbone=True),
        MethodSpec("bitfit", "bitfit", ("backbone",), "every bias of the backbone and the head",
                   modifies_backbone=True),
        MethodSpec("vpt_shallow", "prompt", ("backbone",), "learned prompt tokens at the input",
                   (ConfigField("num_prompts", "integer", 10, 1, 200, "prompt tokens P"),)),
        MethodSpec("vpt_deep", "prompt", ("backbone",), "learned prompt tokens at every block",
                   (ConfigField("num_prompts", "integer", 10, 1, 200, "prompt tokens P per block"),)),
        MethodSpec("adapter", "adapter", ("backbone",),
                   "AdaptFormer parallel bottleneck next to every MLP",
                   (ConfigField("bottleneck", "integer", 16, 1, 1024, "bottleneck width r"),
                    ConfigField("scale", "number", 0.1, 0.0, 10.0, "fixed scale s of the branch"))),
        MethodSpec("lora", "lora", ("backbone",), "peft LoRA on every attention qkv projection",
                   (ConfigField("rank", "integer", 8, 1, 256, "LoRA rank r"),
                    ConfigField("alpha", "number", 8.0, 0.0, 1024.0, "LoRA alpha (scale alpha/r)"),
                    ConfigField("dropout", "number", 0.0, 0.0, 0.9, "dropout on the LoRA input")),
                   modifies_backbone=True),
        MethodSpec("gmoe_adapter", "moe", ("general", "medical"),
                   "gated mixture of bottleneck experts over a general and a medical backbone",
                   _moe_fields(4)),
        MethodSpec("moe_adapter", "moe", ("backbone",),
                   "the same gated mixture of experts on one backbone", _moe_fields(4)),
    )
}
METHOD_NAMES = tuple(METHOD_SPECS)


def get_method_spec(name: str) -> MethodSpec:
    if name not in METHOD_SPECS:
        registry: Registry[MethodSpec] = Registry("method")
        for key, spec in METHOD_SPECS.items():
            registry.register(key, spec)
        raise CheckpointInvalid(registry.unknown_message(name))
    return METHOD_SPECS[name]


def normalise_config(method: str, config: dict[str, Any] | None) -> dict[str, Any]:
    """Defaults filled in, every field type- and bound-checked; raises CheckpointInvalid."""
    spec = get_method_spec(method)
    config = dict(config or {})
    known = {f.name: f for f in spec.fields}
    unknown = sorted(set(config) - set(known))
    if unknown:
        allowed = ", ".join(known) or "none"
        raise CheckpointInvalid(
            f"method_config for {method!r} has unknown field(s) {', '.join(unknown)} "
            f"(allowed: {allowed})"
        )
    out: dict[str, Any] = {}
    for name, fld in known.items():
        value = config.get(name, fld.default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise CheckpointInvalid(f"method_config.{name} must be a number, not {value!r}")
        if fld.kind == "integer":
            if value != int(value):
                raise CheckpointInvalid(f"method_config.{name} must be an integer, not {value!r}")
            value = int(value)
        else:
            value = float(value)
        if not fld.minimum <= value <= fld.maximum:
            raise CheckpointInvalid(
                f"method_config.{name}={value!r} is out of range [{fld.minimum}, {fld.maximum}]"
            )
        out[name] = value
    if "top_k" in out and out["top_k"] > out["num_experts"]:
        raise CheckpointInvalid(
            f"method_config.top_k={out['top_k']} exceeds num_experts={out['num_experts']}"
        )
    return out


POOLS = ("token", "token+avg")
# The module attribute that carries a built backbone's pooling to reference_models.methods.base.pool.
POOL_ATTRIBUTE = "medvtab_pool"


def _pool_name(value: object, backbone_id: str) -> str:
    if value not in POOLS:
        raise ValueError(f"backbone {backbone_id!r}: pool must be one of {', '.join(POOLS)}")
    return str(value)


@dataclass(frozen=True)
class BackboneSpec:
    """A registered backbone: a timm architecture plus keyword arguments and a local weights file.

    ``weights`` is absolute or relative to the backbone root (``MEDVTAB_BACKBONE_ROOT``). ``sha256``
    of ``None`` means "as written in the provenance file next to the weights" (demo backbones are
    trained locally, so their hash is only known after pre-training).
    """

    id: str
    arch: str
    kwargs: dict[str, Any]
    weights: str
    domain: str
    sha256: str | None = None
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    licence: str = ""
    source: str = ""
    # "token" (timm's pooling: the class token) or "token+avg" (the class token next to the mean
    # patch token, twice the width; linear probes on small ViTs read much more from both).
    pool: str = "token"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def img_size(self) -> int:
        return int(self.kwargs.get("img_size", 224))

    @property
    def patch_size(self) -> int:
        return int(self.kwargs.get("patch_size", 16))

    @property
    def depth(self) -> int:
        return int(self.kwargs.get("depth", 12))

    @property
    def embed_dim(self) -> int:
        return int(self.kwargs.get("embed_dim", 768))

    @property
    def num_tokens(self) -> int:
        return (self.img_size // self.patch_size) ** 2 + 1

    def weights_path(self) -> Path:
        path = Path(self.weights)
        return path if path.is_absolute() else backbone_root() / path

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BackboneSpec:
        required = ("id", "arch", "weights", "domain")
        missing = [k for k in required if k not in data]
        if missing:
            raise ValueError(f"backbone entry {data.get('id', '?')!r}: missing {', '.join(missing)}")
        if data["domain"] not in DOMAINS:
            raise ValueError(f"backbone {data['id']!r}: domain must be one of {', '.join(DOMAINS)}")
        return cls(
            id=str(data["id"]), arch=str(data["arch"]), kwargs=dict(data.get("kwargs", {})),
            weights=str(data["weights"]), domain=str(data["domain"]),
            sha256=data.get("sha256"),
            mean=tuple(data.get("mean", IMAGENET_MEAN)),
            std=tuple(data.get("std", IMAGENET_STD)),
            licence=str(data.get("licence", "")), source=str(data.get("source", "")),
            pool=_pool_name(data.get("pool", "token"), str(data["id"])),
        )


# Small ViTs the demo pre-trains itself (python -m reference_models.pretrain_demo): 64 px inputs,
# 8 px patches (65 tokens), 4 blocks of width 96, pooled as class token + mean patch token.
DEMO_KWARGS = {"img_size": 64, "patch_size": 8, "embed_dim": 96, "depth": 4, "num_heads": 3}
DEMO_BACKBONES = (
    BackboneSpec("demo-vit-general", "vit_tiny_patch16_224", DEMO_KWARGS,
                 "demo-vit-general.safetensors", "general", mean=(0.5,) * 3, std=(0.25,) * 3,
                 licence="generated by this project", pool="token+avg",
                 source="synthetic natural-image-like colour scenes (reference_models.synthetic_pretrain)"),
    BackboneSpec("demo-vit-medical", "vit_tiny_patch16_224", DEMO_KWARGS,
                 "demo-vit-medical.safetensors", "medical", mean=(0.5,) * 3, std=(0.25,) * 3,
                 licence="generated by this project", pool="token+avg",
                 source="synthetic grey-level scanner-like scenes (reference_models.synthetic_pretrain)"),
)


class _BackboneRegistry(Registry[BackboneSpec]):
    def unregister(self, name: str) -> None:
        self._items.pop(name, None)


BACKBONES: _BackboneRegistry = _BackboneRegistry("backbone")
_loaded_files: set[str] = set()


# The demo backbones' weights are committed here (python -m reference_models.pretrain_demo --force).
DEMO_WEIGHTS = Path(__file__).resolve().parent / "demo_weights"


def backbone_root() -> Path:
    return Path(os.environ.get("MEDVTAB_BACKBONE_ROOT") or DEMO_WEIGHTS)


def register_backbone(spec: BackboneSpec, *, replace: bool = False) -> BackboneSpec:
    if replace:
        BACKBONES.unregister(spec.id)
    return BACKBONES.register(spec.id, spec)


def unregister_backbone(backbone_id: str) -> None:
    BACKBONES.unregister(backbone_id)


def load_registry_file(path: Path | str, *, replace: bool = True) -> list[BackboneSpec]:
    """Register every entry of a JSON registry file: ``{"backbones": [{...}, ...]}``."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    entries = data.get("backbones") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise ValueError(f"{path}: expected an object with a 'backbones' list")
    return [register_backbone(BackboneSpec.from_json(e), replace=replace) for e in entries]


def _ensure_loaded() -> None:
    path = os.environ.get("MEDVTAB_BACKBONE_REGISTRY", "")
    if path and path not in _loaded_files:
        _loaded_files.add(path)
        load_registry_file(path)


def get_backbone_spec(backbone_id: str) -> BackboneSpec:
    _ensure_loaded()
    try:
        return BACKBONES.get(backbone_id)
    except RegistryError as exc:
        raise CheckpointInvalid(str(exc)) from None


def backbone_ids() -> list[str]:
    _ensure_loaded()
    return BACKBONES.names()


for _spec in DEMO_BACKBONES:
    register_backbone(_spec)
