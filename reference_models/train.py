"""Starter kit: adapt a registered method to benchmark tasks and write a checkpoint archive.

    python -m reference_models.train --npz TASK.npz [--npz TASK.npz ...] \
        --method NAME [--backbone ROLE=ID ...] [--config KEY=VALUE ...] [--protocol full|1k] \
        [--epochs N] [--seed S] --out checkpoint.zip
    python -m reference_models.train --data-root DIR --benchmark SLUG --task SLUG|all ...

``--npz`` trains from the task downloads a participant has (one task each); ``--data-root`` from a
bundle's public tree. Both give the same training data. Only train and val are read. Training
early-stops on val loss and keeps the best epoch; CUDA with bf16 autocast is used when present,
the CPU otherwise.
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

import torch

from datasets.bundle import BundleError
from datasets.export import PublicTask
from reference_models.backbones import load_backbone
from reference_models.checkpoint import write_checkpoint
from reference_models.inference import normalisation_for
from reference_models.manifest import Manifest
from reference_models.methods import build, count_tunable, trainable_state_dict
from reference_models.recipes import Recipe, recipe_for
from reference_models.specs import METHOD_SPECS, CheckpointInvalid, get_method_spec
from reference_models.taskdata import bundle_tasks, npz_tasks, training_arrays
from reference_models.training import (
    FitConfig,
    fit_head_on_features,
    fit_probe_then_tune,
    pick_device,
    seed_everything,
)

DEFAULT_BACKBONES = {"backbone": "demo-vit-general", "general": "demo-vit-general",
                     "medical": "demo-vit-medical"}
# Epochs, learning rate, warm-up and batch size per method come from reference_models/recipes.py.


@dataclass
class TaskReport:
    task: str
    epochs_run: int
    best_epoch: int
    best_val_loss: float
    tunable_params: int
    seconds: float


def fit_config(recipe: Recipe, *, seed: int, progress: bool, desc: str) -> FitConfig:
    """The trainer's settings from a recipe."""
    return FitConfig(epochs=recipe.epochs, lr=recipe.lr, batch_size=recipe.batch_size, seed=seed,
                     progress=progress, desc=desc, warmup_fraction=recipe.warmup_fraction)


def default_backbones(method: str, given: Mapping[str, str] | None = None) -> dict[str, str]:
    spec = get_method_spec(method)
    given = dict(given or {})
    unknown = sorted(set(given) - set(spec.roles))
    if unknown:
        raise CheckpointInvalid(
            f"method {method!r} has role(s) {', '.join(spec.roles)}; not {', '.join(unknown)}"
        )
    return {role: given.get(role, DEFAULT_BACKBONES[role]) for role in spec.roles}


def train_task(
    task: PublicTask, method: str, method_config: Mapping[str, Any],
    backbones: Mapping[str, str], *, protocol: str = "full", epochs: int | None = None,
    lr: float | None = None, batch_size: int | None = None, seed: int = 0,
    device: torch.device | None = None, progress: bool = True,
) -> tuple[dict[str, torch.Tensor], TaskReport]:
    """Train one task; returns the trainable tensors (the checkpoint content) and a report."""
    started, meta = time.time(), task.meta
    device = device or pick_device()
    recipe = recipe_for(method).overridden(epochs=epochs, lr=lr, batch_size=batch_size)
    modules = {role: load_backbone(bid, device=device) for role, bid in backbones.items()}
    # Seeded after loading: building an uncached backbone draws from the RNG, a cached one does
    # not, and the trained tensors must not depend on what an earlier task left in the cache.
    seed_everything(seed)
    model = build(method, method_config, modules, meta.num_classes,
                  normalisation=normalisation_for(backbones)).to(device)
    train, val = training_arrays(task, protocol)
    config = fit_config(recipe, seed=seed, progress=progress, desc=f"{meta.slug} {method}")
    if method == "linear":
        result = fit_head_on_features(model, model.input_size, meta.label_type, train, val,
                                      config, device)
    else:
        probe = fit_config(recipe_for("linear"), seed=seed, progress=False, desc=f"{meta.slug} probe")
        result = fit_probe_then_tune(model, model.input_size, meta.label_type, train, val, config,
                                     device, probe=probe)
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
    epochs: int | None = None, lr: float | None = None, batch_size: int | None = None, seed: int = 0,
    device: str | None = None, progress: bool = True,
) -> tuple[Manifest, list[TaskReport]]:
    """Train every requested task (``"all"`` for the whole benchmark) of a bundle's public tree
    into one archive."""
    found = bundle_tasks(data_root, benchmark, tasks)
    if not found:
        raise SystemExit(f"no tasks found for benchmark {benchmark!r} under {data_root}")
    return train_tasks(found, method, out=out, method_config=method_config, backbones=backbones,
                       protocol=protocol, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed,
                       device=device, progress=progress)


def train_tasks(
    tasks: Sequence[PublicTask], method: str, *, out: Path | str,
    method_config: Mapping[str, Any] | None = None, backbones: Mapping[str, str] | None = None,
    protocol: str = "full", epochs: int | None = None, lr: float | None = None,
    batch_size: int | None = None, seed: int = 0, device: str | None = None, progress: bool = True,
) -> tuple[Manifest, list[TaskReport]]:
    """Train each task (all of one benchmark, e.g. from :func:`npz_tasks`) into one archive."""
    if not tasks:
        raise BundleError("no tasks to train")
    roles = default_backbones(method, backbones)
    for task in tasks:  # a missing protocol fails here, before any task has trained for minutes
        task.protocol(protocol)
    trained: dict[str, tuple[str, dict[str, torch.Tensor]]] = {}
    reports = []
    for task in tasks:
        state, report = train_task(
            task, method, method_config or {}, roles, protocol=protocol, epochs=epochs,
            lr=lr, batch_size=batch_size, seed=seed, device=pick_device(device), progress=progress,
        )
        trained[task.meta.slug] = (task.meta.version, state)
        reports.append(report)
    manifest = write_checkpoint(out, benchmark=tasks[0].meta.benchmark, method=method,
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
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--npz", action="append", metavar="FILE",
                        help="a task's download (.npz); repeat for several tasks")
    source.add_argument("--data-root", help="data root holding public/<benchmark>/")
    parser.add_argument("--benchmark", help="with --data-root")
    parser.add_argument("--task", help="with --data-root: task slug, or 'all'")
    parser.add_argument("--method", required=True, choices=list(METHOD_SPECS))
    parser.add_argument("--backbone", action="append", default=[], metavar="ROLE=ID")
    parser.add_argument("--config", action="append", default=[], metavar="KEY=VALUE",
                        help="method_config field, e.g. num_experts=4")
    parser.add_argument("--protocol", choices=["full", "1k"], default="full")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--lr", type=float)
    parser.add_argument("--batch-size", type=int, help="default: the method's recipe")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--out", required=True, help="checkpoint archive to write (.zip)")
    args = parser.parse_args(argv)
    if args.data_root and not (args.benchmark and args.task):
        parser.error("--data-root needs --benchmark and --task")
    if args.npz and (args.benchmark or args.task):
        parser.error("--npz files name their own task and benchmark; drop --benchmark and --task")
    try:
        tasks = (npz_tasks(args.npz) if args.npz
                 else bundle_tasks(args.data_root, args.benchmark, args.task))
        if not tasks:
            raise BundleError(f"no tasks found for benchmark {args.benchmark!r} under {args.data_root}")
        manifest, reports = train_tasks(
            tasks, args.method, out=args.out, method_config=parse_config(args.config),
            backbones=_pairs(args.backbone, "--backbone"), protocol=args.protocol,
            epochs=args.epochs, lr=args.lr, batch_size=args.batch_size, seed=args.seed,
            device=args.device, progress=not args.quiet,
        )
    except (BundleError, CheckpointInvalid) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for r in reports:
        print(f"{r.task}: {r.epochs_run} epochs (best {r.best_epoch}), val loss {r.best_val_loss}, "
              f"{r.tunable_params} tunable parameters, {r.seconds} s", file=sys.stderr)
    print(f"wrote {args.out} ({manifest.method}, {len(manifest.tasks)} task(s))")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
