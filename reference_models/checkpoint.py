"""Write and read checkpoint archives (``manifest.json`` + one safetensors file per task).

Reading always runs the torch-free :func:`check_checkpoint_archive` first (zip safety, schema,
registries, headers, dtypes, sizes), and tensors are decoded with safetensors -- never ``torch.load``.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load as load_safetensors_bytes
from safetensors.torch import save as save_safetensors_bytes

from reference_models.archive import check_checkpoint_archive
from reference_models.manifest import FORMAT, Limits, Manifest, check_manifest
from reference_models.specs import CheckpointInvalid

TaskTensors = dict[str, torch.Tensor]


def task_file_name(slug: str) -> str:
    return f"{slug}.safetensors"


def write_checkpoint(
    path: Path | str,
    *,
    benchmark: str,
    method: str,
    method_config: Mapping[str, Any],
    backbones: Mapping[str, str],
    tasks: Mapping[str, tuple[str, Mapping[str, torch.Tensor]]],
    protocol: str | None = None,
    description: str = "",
) -> Manifest:
    """Write ``tasks: {slug: (task_version, trainable tensors)}`` as one archive; returns its manifest."""
    data: dict[str, Any] = {
        "format": FORMAT, "benchmark": benchmark, "method": method,
        "method_config": dict(method_config), "backbones": dict(backbones),
        "tasks": {slug: {"file": task_file_name(slug), "task_version": version}
                  for slug, (version, _) in tasks.items()},
    }
    if protocol:
        data["protocol"] = protocol
    if description:
        data["description"] = description
    manifest = check_manifest(data)  # never write an archive the server would refuse
    data["method_config"] = manifest.method_config  # record the defaults actually used
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("manifest.json", json.dumps(data, indent=2, sort_keys=True) + "\n")
        for slug, (_, tensors) in tasks.items():
            state = {n: t.detach().cpu().contiguous() for n, t in tensors.items()}
            zf.writestr(task_file_name(slug), save_safetensors_bytes(state))
    tmp.replace(path)
    return manifest


def read_task_tensors(path: Path | str, manifest: Manifest, slug: str) -> TaskTensors:
    """One task's tensors; call only with a manifest from :func:`check_checkpoint_archive`."""
    if slug not in manifest.headers:
        raise CheckpointInvalid(f"task {slug!r} is not in this checkpoint")
    with zipfile.ZipFile(path) as zf:
        raw = zf.read(manifest.tasks[slug].file)
    try:
        tensors = load_safetensors_bytes(raw)
    except Exception as exc:  # safetensors raises its own error types
        raise CheckpointInvalid(f"{manifest.tasks[slug].file}: unreadable tensors ({exc})") from None
    if set(tensors) != set(manifest.headers[slug]):
        raise CheckpointInvalid(f"{manifest.tasks[slug].file}: tensors differ from the header")
    return tensors


def read_checkpoint(
    path: Path | str,
    *,
    limits: Limits | None = None,
    known_tasks: dict[str, str] | None = None,
) -> tuple[Manifest, dict[str, TaskTensors]]:
    """Check the archive, then decode every task's tensors (bounded by ``limits``)."""
    manifest = check_checkpoint_archive(path, limits=limits, known_tasks=known_tasks)
    return manifest, {slug: read_task_tensors(path, manifest, slug) for slug in manifest.tasks}
