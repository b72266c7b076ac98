"""Starter kit: adapt a registered method to benchmark tasks and write a checkpoint archive.

    python -m reference_models.train --data-root DIR --benchmark SLUG --task SLUG|all \
        --method NAME [--backbone ROLE=ID ...] [--config KEY=VALUE ...] [--protocol full|1k] \
        [--epochs N] [--seed S] --out checkpoint.zip

Only the public tree is read (train and val). Training early-stops on val loss and keeps the best
epoch; CUDA with bf16 autocast is used when present, the CPU otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from datasets.bundle import TaskMeta, list_tasks, load_protocol, load_split, read_meta
from reference_models.backbones import load_backbone
from reference_models.checkpoint import write_checkpoint
from reference_models.inference import normalisation_for
from reference_models.manifest import Manifest
from reference_models.methods import build, count_tunable, trainable_state_dict
from reference_models.specs import METHOD_SPECS, CheckpointInvalid, get_method_spec
from reference_models.training import (
    FitConfig,
    fit,
    fit_head_on_features,
    pick_device,
    seed_everything,
)

DEFAULT_BACKBONES = {"backbone": "demo-vit-general", "general": "demo-vit-general",
                     "medical": "demo-vit-medical"}
# Learning rates and epochs per family, tuned for the demo backbones. The linear probe trains on
# features computed once, so many epochs cost little.
DEFAULT_LR = {"linear-probe": 1e-2, "full-finetune": 3e-4, "bitfit": 3e-3, "prompt": 3e-3,
              "adapter": 2e-3, "lora": 2e-3, "moe": 2e-3}
DEFAULT_EPOCHS = {"linear-probe": 30}
FALLBACK_EPOCHS = 3


@dataclass
class TaskReport:
    task: str
    epochs_run: int
    best_epoch: int
    best_val_loss: float
    tunable_params: int
    seconds: float


def default_backbones(method: str, given: Mapping[str, str] | None = None) -> dict[str, str]:
    spec = get_method_spec(method)
    given = dict(given or {})
    unknown = sorted(set(given) - set(spec.roles))
    if unknown:
        raise CheckpointInvalid(
            f"method {method!r} has role(s) {', '.join(spec.roles)}; not {', '.join(unknown)}"
        )
    return {role: given.get(role, DEFAULT_BACKBONES[role]) for role in spec.roles}


def public_arrays(
    root: Path, meta: TaskMeta, protocol: str
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    train, val = load_split(root, meta, "train"), load_split(root, meta, "val")
    assert train.images is not None and val.images is not None
    assert train.labels is not None and val.labels is not None
    subsets = load_protocol(root, meta, protocol)
    if subsets is None:
        return (np.asarray(train.images), train.labels), (np.asarray(val.images), val.labels)
    t_idx, v_idx = np.sort(subsets["train800"]), np.sort(subsets["val200"])
    return ((np.asarray(train.images[t_idx]), train.labels[t_idx]),
            (np.asarray(val.images[v_idx]), val.labels[v_idx]))


def train_task(
    root: Path, meta: TaskMeta, method: str, method_config: Mapping[str, Any],
    backbones: Mapping[str, str], *, protocol: str = "full", epochs: int | None = None,
    lr: float | None = None, batch_size: int = 64, seed: int = 0,
    device: torch.device | None = None, progress: bool = True,
) -> tuple[dict[str, torch.Tensor], TaskReport]:
    """Train one task; returns the trainable tensors (the checkpoint content) and a report."""
    started = time.time()
    device = device or pick_device()
    seed_everything(seed)
    family = METHOD_SPECS[method].family
    modules = {role: load_backbone(bid, device=device) for role, bid in backbones.items()}
    model = build(method, method_config, modules, meta.num_classes,
                  normalisation=normalisation_for(backbones)).to(device)
    train, val = public_arrays(root, meta, protocol)
    config = FitConfig(
        epochs=epochs or DEFAULT_EPOCHS.get(family, FALLBACK_EPOCHS), lr=lr or DEFAULT_LR[family],
        batch_size=batch_size, seed=seed, progress=progress, desc=f"{meta.slug} {method}",
    )
    trainer = fit_head_on_features if method == "linear" else fit
    result = trainer(model, model.input_size, meta.label_type, train, val, config, device)
    report = TaskReport(
        task=meta.slug, epochs_run=len(result.train_losses), best_epoch=result.best_epoch + 1,
        best_val_loss=round(result.best_val_loss, 5), tunable_params=count_tunable(model),
        seconds=round(time.time() - started, 2),
    )
    return trainable_state_dict(model), report


def train_checkpoint(
    data_root: Path | str, benchmark: str, tasks: Sequence[str] | str, method: str, *,
    out: Path | str, method_config: Mapping[str, Any] | None = None,
    backbones: Mapping[str, str] | None = None, protocol: str = "full",
    epochs: int | None = None, lr: float | None = None, batch_size: int = 64, seed: int = 0,
    device: str | None = None, progress: bool = True,
) -> tuple[Manifest, list[TaskReport]]:
    """Train every requested task (``"all"`` for the whole benchmark) into one archive."""
    root = Path(data_root)
    metas = (list_tasks(root, benchmark) if tasks == "all"
             else [read_meta(root, benchmark, t) for t in ([tasks] if isinstance(tasks, str) else tasks)])
    if not metas:
        raise SystemExit(f"no tasks found for benchmark {benchmark!r} under {root}")
    roles = default_backbones(method, backbones)
    trained: dict[str, tuple[str, dict[str, torch.Tensor]]] = {}
    reports = []
    for meta in metas:
        state, report = train_task(
            root, meta, method, method_config or {}, roles, protocol=protocol, epochs=epochs,
            lr=lr, batch_size=batch_size, seed=seed, device=pick_device(device), progress=progress,
        )
        trained[meta.slug] = (meta.version, state)
        reports.append(report)
    manifest = write_checkpoint(out, benchmark=benchmark, method=method,
                                method_config=method_config or {}, backbones=roles,
                                tasks=trained, protocol=protocol)
    return manifest, reports


def _pairs(items: list[str], what: str) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise SystemExit(f"{what} must look like KEY=VALUE, not {item!r}")
        out[key] = value
    return out


def parse_config(items: list[str]) -> dict[str, Any]:
    return {k: json.loads(v) for k, v in _pairs(items, "--config").items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Train a reference method; write a checkpoint.")
    parser.add_argument("--data-root", required=True, help="data root holding public/<benchmark>/")
    parser.add_argument("--benchmark", required=True)
    parser.add_argument("--task", required=True, help="task slug, or 'all'")
    parser.add_argument("--method", required=True, choices=list(METHOD_SPECS))
    parser.add_argument("--backbone", action="append", default=[], metavar="ROLE=ID")
    parser.add_argument("--config", action="append", default=[], metavar="KEY=VALUE",
                        help="method_config field, e.g. num_experts=4")
    parser.add_argument("--protocol", choices=["full", "1k"], default="full")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--lr", type=float)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--out", required=True, help="checkpoint archive to write (.zip)")
    args = parser.parse_args(argv)
    try:
        manifest, reports = train_checkpoint(
            args.data_root, args.benchmark, args.task, args.method, out=args.out,
            method_config=parse_config(args.config), backbones=_pairs(args.backbone, "--backbone"),
            protocol=args.protocol, epochs=args.epochs, lr=args.lr, batch_size=args.batch_size,
            seed=args.seed, device=args.device, progress=not args.quiet,
        )
    except CheckpointInvalid as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for r in reports:
        print(f"{r.task}: {r.epochs_run} epochs (best {r.best_epoch}), val loss {r.best_val_loss}, "
              f"{r.tunable_params} tunable parameters, {r.seconds} s", file=sys.stderr)
    print(f"wrote {args.out} ({manifest.method}, {len(manifest.tasks)} task(s))")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
