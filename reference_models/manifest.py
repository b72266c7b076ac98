"""The checkpoint manifest: its JSON Schema, a torch-free check and the parsed :class:`Manifest`."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

import jsonschema

from reference_models.specs import (
    METHOD_SPECS,
    CheckpointInvalid,
    get_backbone_spec,
    get_method_spec,
    normalise_config,
)

FORMAT = "medvtab-checkpoint/1"
ALLOWED_DTYPES = ("F32", "F16", "BF16")
SLUG_PATTERN = "^[a-z0-9][a-z0-9-]{0,99}$"
FILE_PATTERN = "^[A-Za-z0-9][A-Za-z0-9._-]{0,99}\\.safetensors$"
MAX_TASKS = 200

TensorHeader = dict[str, tuple[str, tuple[int, ...]]]


@dataclass(frozen=True)
class Limits:
    """Size limits for uploaded archives; every check happens before anything large is read."""

    max_archive_bytes: int = 2 << 30
    max_members: int = MAX_TASKS + 1
    max_manifest_bytes: int = 64 << 10
    max_header_bytes: int = 4 << 20
    max_tensors_per_file: int = 10_000
    max_file_bytes: int = 1 << 30
    max_total_bytes: int = 4 << 30
    max_compression_ratio: float = 200.0
    allowed_dtypes: tuple[str, ...] = ALLOWED_DTYPES


@dataclass(frozen=True)
class TaskEntry:
    file: str
    task_version: str


@dataclass(frozen=True)
class Manifest:
    format: str
    benchmark: str
    method: str
    method_config: dict[str, Any]
    backbones: dict[str, str]
    tasks: dict[str, TaskEntry]
    protocol: str | None = None
    description: str = ""
    # Filled by check_checkpoint_archive: the safetensors header of each task's file.
    headers: dict[str, TensorHeader] = field(default_factory=dict)

    @property
    def family(self) -> str:
        return METHOD_SPECS[self.method].family

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "format": self.format, "benchmark": self.benchmark, "method": self.method,
            "method_config": dict(self.method_config), "backbones": dict(self.backbones),
            "tasks": {s: {"file": t.file, "task_version": t.task_version}
                      for s, t in self.tasks.items()},
        }
        if self.protocol:
            data["protocol"] = self.protocol
        if self.description:
            data["description"] = self.description
        return data


def build_manifest_schema() -> dict[str, Any]:
    """The schema shipped as ``schemas/manifest.schema.json`` (a test keeps the two identical)."""
    per_method = [
        {
            "if": {"properties": {"method": {"const": spec.name}}},
            "then": {
                "properties": {
                    "method_config": spec.config_schema(),
                    "backbones": {
                        "required": list(spec.roles),
                        "propertyNames": {"enum": list(spec.roles)},
                    },
                }
            },
        }
        for spec in METHOD_SPECS.values()
    ]
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://med-vtab.example/schemas/manifest.schema.json",
        "title": "Med-VTAB checkpoint manifest",
        "type": "object",
        "additionalProperties": False,
        "required": ["format", "benchmark", "method", "backbones", "tasks"],
        "properties": {
            "format": {"const": FORMAT},
            "benchmark": {"type": "string", "pattern": SLUG_PATTERN},
            "method": {"enum": list(METHOD_SPECS)},
            "method_config": {"type": "object", "maxProperties": 16},
            "backbones": {
                "type": "object", "minProperties": 1, "maxProperties": 4,
                "additionalProperties": {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,100}$"},
            },
            "tasks": {
                "type": "object", "minProperties": 1, "maxProperties": MAX_TASKS,
                "propertyNames": {"pattern": SLUG_PATTERN},
                "additionalProperties": {
                    "type": "object", "additionalProperties": False,
                    "required": ["file", "task_version"],
                    "properties": {
                        "file": {"type": "string", "pattern": FILE_PATTERN},
                        "task_version": {"type": "string", "minLength": 1, "maxLength": 64},
                    },
                },
            },
            "protocol": {"enum": ["full", "1k"]},
            "description": {"type": "string", "maxLength": 2000},
        },
        "allOf": per_method,
        "x-allowed-dtypes": list(ALLOWED_DTYPES),
        "x-limits": {k: v for k, v in Limits().__dict__.items() if k != "allowed_dtypes"},
    }


@lru_cache(maxsize=1)
def manifest_schema() -> dict[str, Any]:
    text = resources.files("reference_models").joinpath("schemas/manifest.schema.json").read_text(
        encoding="utf-8"
    )
    return json.loads(text)


def _schema_error(exc: jsonschema.ValidationError) -> str:
    where = "/".join(str(p) for p in exc.absolute_path) or "(top level)"
    message = exc.message if len(exc.message) <= 300 else exc.message[:300] + "..."
    return f"manifest.json does not match the schema at {where}: {message}"


def parse_manifest_bytes(raw: bytes, *, limits: Limits | None = None) -> dict[str, Any]:
    limits = limits or Limits()
    if len(raw) > limits.max_manifest_bytes:
        raise CheckpointInvalid(
            f"manifest.json is larger than {limits.max_manifest_bytes} bytes"
        )
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointInvalid(f"manifest.json is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise CheckpointInvalid("manifest.json must hold a JSON object")
    return data


def check_manifest(
    data: dict[str, Any], *, known_tasks: dict[str, str] | None = None
) -> Manifest:
    """Validate a parsed manifest (schema, registries, config bounds, task versions); torch-free.

    ``known_tasks`` maps the benchmark's task slugs to their current version; when given, every task
    must be known and its ``task_version`` must match.
    """
    if not isinstance(data, dict):
        raise CheckpointInvalid("manifest.json must hold a JSON object")
    validator = jsonschema.Draft202012Validator(manifest_schema())
    errors = sorted(validator.iter_errors(data), key=lambda e: (len(e.absolute_path), e.message))
    if errors:
        # Give the precise leaf error rather than the if/then wrapper.
        raise CheckpointInvalid(_schema_error(max(errors, key=lambda e: len(e.absolute_path))))
    spec = get_method_spec(data["method"])
    config = normalise_config(spec.name, data.get("method_config"))
    backbones = {role: str(data["backbones"][role]) for role in spec.roles}
    specs = {role: get_backbone_spec(bid) for role, bid in backbones.items()}
    if len(specs) > 1:
        shapes = {(s.depth, s.num_tokens) for s in specs.values()}
        if len(shapes) != 1:
            raise CheckpointInvalid(
                f"backbones of {spec.name!r} must have the same depth and token count; got "
                + ", ".join(f"{r}={s.id} (depth {s.depth}, {s.num_tokens} tokens)"
                            for r, s in specs.items())
            )
    tasks = {
        slug: TaskEntry(file=str(t["file"]), task_version=str(t["task_version"]))
        for slug, t in data["tasks"].items()
    }
    files = [t.file for t in tasks.values()]
    if len(set(files)) != len(files):
        raise CheckpointInvalid("two tasks in manifest.json name the same file")
    if known_tasks is not None:
        for slug, entry in tasks.items():
            if slug not in known_tasks:
                raise CheckpointInvalid(
                    f"task {slug!r} is not in benchmark {data['benchmark']!r}"
                )
            if entry.task_version != known_tasks[slug]:
                raise CheckpointInvalid(
                    f"task {slug!r}: checkpoint trained on version {entry.task_version!r}, "
                    f"the benchmark has version {known_tasks[slug]!r}"
                )
    return Manifest(
        format=data["format"], benchmark=data["benchmark"], method=spec.name,
        method_config=config, backbones=backbones, tasks=tasks,
        protocol=data.get("protocol"), description=str(data.get("description", "")),
    )
