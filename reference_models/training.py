"""A small, deterministic training loop shared by the starter kit and demo pre-training."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from reference_models.inference import autocast, prepare_batch
from reference_models.probe import fit_probe


def pick_device(requested: str | None = None) -> torch.device:
    if requested:
        return torch.device(requested)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def loss_fn(label_type: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    if label_type == "multilabel":
        return lambda logits, y: F.binary_cross_entropy_with_logits(logits, y.float())
    return lambda logits, y: F.cross_entropy(logits, y.long())


@dataclass
class FitResult:
    train_losses: list[float] = field(default_factory=list)
    val_losses: list[float] = field(default_factory=list)
    best_epoch: int = -1
    best_val_loss: float = float("inf")


@dataclass
class FitConfig:
    epochs: int
    lr: float
    batch_size: int = 64
    weight_decay: float = 1e-4
    patience: int = 2
    seed: int = 0
    warmup_fraction: float = 0.05
    progress: bool = True
    desc: str = "train"


Inputs = Callable[[np.ndarray], torch.Tensor]


def evaluate_loss(
    model: nn.Module, images: np.ndarray, labels: np.ndarray, label_type: str, to_input: Inputs,
    device: torch.device, batch_size: int = 256,
) -> float:
    criterion = loss_fn(label_type)
    model.eval()
    total, count = 0.0, 0
    with torch.inference_mode(), autocast(device):
        for start in range(0, len(images), batch_size):
            x = to_input(images[start:start + batch_size])
            y = torch.as_tensor(labels[start:start + batch_size], device=device)
            total += float(criterion(model(x).float(), y)) * len(x)
            count += len(x)
    return total / max(count, 1)


def fit(
    model: nn.Module, size: int, label_type: str,
    train: tuple[np.ndarray, np.ndarray], val: tuple[np.ndarray, np.ndarray] | None,
    config: FitConfig, device: torch.device, to_input: Inputs | None = None,
    *, keep_start: bool = False,
) -> FitResult:
    """AdamW with a warm-up and cosine decay; early stopping on validation loss (the best epoch is
    restored; with ``keep_start``, the starting weights count as a candidate too)."""
    if to_input is None:
        to_input = lambda batch: prepare_batch(batch, size, device)  # noqa: E731
    params = [p for p in model.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    images, labels = train
    steps = config.epochs * max(1, -(-len(images) // config.batch_size))
    warmup = max(1, round(steps * config.warmup_fraction))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser,
        lambda step: min(1.0, (step + 1) / warmup)
        * 0.5 * (1 + math.cos(math.pi * min(step, steps) / max(steps, 1))),
    )
    criterion = loss_fn(label_type)
    generator = np.random.default_rng(config.seed)
    result, best_state, stale = FitResult(), None, 0
    if val is not None and keep_start:
        # The starting point competes with every epoch: training that never beats it on val
        # leaves the model as it came (best_epoch -1).
        result.best_val_loss = evaluate_loss(model, val[0], val[1], label_type, to_input, device)
        best_state = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    bar = tqdm(total=steps, desc=config.desc, disable=not config.progress, leave=False, unit="step")
    for epoch in range(config.epochs):
        model.train()
        order = generator.permutation(len(images))
        running = 0.0
        for start in range(0, len(order), config.batch_size):
            idx = np.sort(order[start:start + config.batch_size])  # sorted reads are mmap-friendly
            x = to_input(images[idx])
            y = torch.as_tensor(labels[idx], device=device)
            with autocast(device):
                loss = criterion(model(x).float(), y)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            schedule.step()
            running += loss.item() * len(idx)
            bar.update(1)
            bar.set_postfix(epoch=epoch + 1, loss=f"{loss.item():.3f}")
        result.train_losses.append(running / len(images))
        if val is None:
            continue
        val_loss = evaluate_loss(model, val[0], val[1], label_type, to_input, device)
        result.val_losses.append(val_loss)
        if val_loss < result.best_val_loss:
            result.best_val_loss, result.best_epoch, stale = val_loss, epoch, 0
            best_state = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
        else:
            stale += 1
            if stale >= config.patience:
                break
    bar.close()
    if best_state is not None:
        with torch.no_grad():
            named = dict(model.named_parameters())
            for name, value in best_state.items():
                named[name].copy_(value)
    model.eval()
    return result


def extract_features(
    model: Any, images: np.ndarray, size: int, device: torch.device, batch_size: int = 256
) -> np.ndarray:
    """Pre-head features of a frozen model (``model.features``), float32 N x D on the CPU."""
    model.eval()
    out = []
    with torch.inference_mode(), autocast(device):
        for start in range(0, len(images), batch_size):
            x = prepare_batch(images[start:start + batch_size], size, device)
            out.append(model.features(x).float().cpu().numpy())
    return np.concatenate(out)


def fit_head_on_features(
    model: Any, size: int, label_type: str,
    train: tuple[np.ndarray, np.ndarray], val: tuple[np.ndarray, np.ndarray] | None,
    config: FitConfig, device: torch.device,
) -> FitResult:
    """Linear probing: the frozen features are computed once, then only ``model.head`` is fitted
    (:mod:`reference_models.probe`; ``config`` is kept for the trainer's signature)."""
    train_f = (extract_features(model, train[0], size, device), train[1])
    val_f = None if val is None else (extract_features(model, val[0], size, device), val[1])
    criterion = loss_fn(label_type)

    def typed(batch: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        labels = batch[1].astype(np.float64 if label_type == "multilabel" else np.int64)
        return batch[0], labels

    best, losses = fit_probe(model.head, typed(train_f), None if val_f is None else typed(val_f),
                             lambda logits, y: criterion(logits.float(), y))
    model.eval()
    return FitResult(val_losses=losses, best_epoch=0, best_val_loss=best)


def fit_probe_then_tune(
    model: Any, size: int, label_type: str,
    train: tuple[np.ndarray, np.ndarray], val: tuple[np.ndarray, np.ndarray] | None,
    config: FitConfig, device: torch.device, *, probe: FitConfig,
) -> FitResult:
    """LP-FT (Kumar et al., ICLR 2022): fit the head on the frozen starting features first, then
    train every trainable tensor from there. A random head would otherwise spend the short
    fine-tuning budget undoing its own noise, and distort the pre-trained features doing so."""
    fit_head_on_features(model, size, label_type, train, val, probe, device)
    return fit(model, size, label_type, train, val, config, device, keep_start=True)
