"""What the web tier needs to know about methods, backbones and checkpoints -- without torch.

A test runs this module in a fresh interpreter and asserts that ``torch`` is never imported.
"""

from __future__ import annotations

from reference_models.archive import check_checkpoint_archive, read_safetensors_header
from reference_models.manifest import (
    ALLOWED_DTYPES,
    FORMAT,
    Limits,
    Manifest,
    TaskEntry,
    TensorHeader,
    build_manifest_schema,
    check_manifest,
    manifest_schema,
    parse_manifest_bytes,
)
from reference_models.specs import (
    BACKBONES,
    DOMAINS,
    METHOD_NAMES,
    METHOD_SPECS,
    BackboneSpec,
    CheckpointInvalid,
    ConfigField,
    MethodSpec,
    backbone_ids,
    backbone_root,
    get_backbone_spec,
    get_method_spec,
    load_registry_file,
    normalise_config,
    register_backbone,
    unregister_backbone,
)

__all__ = [
    "ALLOWED_DTYPES", "BACKBONES", "DOMAINS", "FORMAT", "METHOD_NAMES", "METHOD_SPECS",
    "BackboneSpec", "CheckpointInvalid", "ConfigField", "Limits", "Manifest", "MethodSpec",
    "TaskEntry", "TensorHeader", "backbone_ids", "backbone_root", "build_manifest_schema",
    "check_checkpoint_archive", "check_manifest", "get_backbone_spec", "get_method_spec",
    "load_registry_file", "manifest_schema", "normalise_config", "parse_manifest_bytes",
    "read_safetensors_header", "register_backbone", "unregister_backbone",
]
