"""Pre-train the two demo backbones (offline stand-ins for ViT-B/16 general and medical).

``python -m reference_models.pretrain_demo [--root DIR] [--force]`` writes
``<root>/<id>.safetensors`` and ``<root>/<id>.json`` (provenance: corpus, objective, seed, steps,
held-out scores, sha256, versions) for ``demo-vit-general`` and ``demo-vit-medical``. A second call
reuses weights whose hash matches their provenance file.

Objective: from the pooled features (class token + mean patch token), one linear layer predicts the
corpus's class and every standardised factor that drew the scene (cross-entropy + mean squared
error; see :mod:`reference_models.synthetic_pretrain`). Predicting many generative factors at once
keeps size, count, colour and texture information linearly readable, which is what a linear probe
on a downstream task needs; a single-label objective collapses the features onto its few classes.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import timm
import torch
import torch.nn.functional as F

from reference_models.backbones import create_backbone, file_sha256, save_backbone
from reference_models.methods.base import feature_dim, pool
from reference_models.specs import BackboneSpec, get_backbone_spec
from reference_models.synthetic_pretrain import Corpus, draw_chunks
from reference_models.training import pick_device, seed_everything

DEMO = {"demo-vit-general": ("general", 20250101), "demo-vit-medical": ("medical", 20250202)}
N_IMAGES = 16384
HELD_OUT = 1024
EPOCHS = 4
BATCH = 128
LR = 1e-3
WEIGHT_DECAY = 0.05


def is_current(spec: BackboneSpec) -> bool:
    weights, sidecar = spec.weights_path(), spec.weights_path().with_suffix(".json")
    if not (weights.is_file() and sidecar.is_file()):
        return False
    try:
        return json.loads(sidecar.read_text(encoding="utf-8"))["sha256"] == file_sha256(weights)
    except (KeyError, ValueError):
        return False


class _Pretrainer(torch.nn.Module):
    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, vit: torch.nn.Module, spec: BackboneSpec, outputs: int) -> None:
        super().__init__()
        self.vit = vit
        self.head = torch.nn.Linear(feature_dim(vit), outputs)
        self.register_buffer("mean", torch.tensor(spec.mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(spec.std).view(1, 3, 1, 1), persistent=False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = (images.permute(0, 3, 1, 2).float() / 255.0 - self.mean) / self.std
        vit: Any = self.vit
        tokens = vit.norm_pre(vit._pos_embed(vit.patch_embed(x)))
        return self.head(pool(vit, vit.blocks(tokens)))


def _losses(model: _Pretrainer, corpus: Corpus, targets: torch.Tensor, idx: torch.Tensor,
            device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    k = len(corpus.class_names)
    images = torch.from_numpy(corpus.images[idx.numpy()]).to(device)
    out = model(images)
    ce = F.cross_entropy(out[:, :k], torch.from_numpy(corpus.classes[idx.numpy()]).to(device))
    return ce, F.mse_loss(out[:, k:], targets[idx].to(device))


def _held_out(model: _Pretrainer, corpus: Corpus, targets: torch.Tensor,
              device: torch.device) -> dict[str, float]:
    model.eval()
    k = len(corpus.class_names)
    with torch.inference_mode():
        out = model(torch.from_numpy(corpus.images).to(device)).cpu()
    accuracy = float((out[:, :k].argmax(-1).numpy() == corpus.classes).mean())
    residual = float(((out[:, k:] - targets) ** 2).mean())
    return {"class_accuracy": round(accuracy, 4), "factor_r2": round(1.0 - residual, 4)}


def pretrain(spec: BackboneSpec, *, n_images: int, epochs: int, progress: bool) -> dict[str, Any]:
    domain, seed = DEMO[spec.id]
    seed_everything(seed)
    train = draw_chunks(domain, n_images, spec.img_size, seed)
    held = draw_chunks(domain, min(HELD_OUT, max(32, n_images // 16)), spec.img_size, seed + 1)
    mean, std = train.factors.mean(0), train.factors.std(0) + 1e-6
    targets = torch.from_numpy((train.factors - mean) / std)
    held_targets = torch.from_numpy((held.factors - mean) / std)
    device = pick_device()
    vit = create_backbone(spec)
    model = _Pretrainer(vit, spec, len(train.class_names) + train.factors.shape[1]).to(device)
    optimiser = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)
    per_epoch = n_images // BATCH
    steps = max(1, epochs * per_epoch)
    warmup = max(1, steps // 20)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps))
    )
    generator = torch.Generator().manual_seed(seed)
    started = time.time()
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(n_images, generator=generator)
        for step in range(per_epoch):
            idx = order[step * BATCH:(step + 1) * BATCH].sort().values
            ce, mse = _losses(model, train, targets, idx, device)
            optimiser.zero_grad(set_to_none=True)
            (ce + mse).backward()
            optimiser.step()
            schedule.step()
            if progress and step % 50 == 0:
                print(f"{spec.id}: epoch {epoch + 1}/{epochs} step {step}/{per_epoch} "
                      f"ce {ce.item():.3f} mse {mse.item():.3f}", file=sys.stderr, flush=True)
    scores = _held_out(model, held, held_targets, device)
    sha = save_backbone(vit, spec.weights_path())
    return {
        "id": spec.id, "arch": spec.arch, "kwargs": spec.kwargs, "domain": spec.domain,
        "pool": spec.pool, "mean": list(spec.mean), "std": list(spec.std), "sha256": sha,
        "script": "python -m reference_models.pretrain_demo --force",
        "corpus": f"reference_models.synthetic_pretrain.draw_chunks({domain!r}, {n_images}, "
                  f"{spec.img_size}, seed={seed})",
        "objective": "cross-entropy on the scene class + MSE on standardised generative factors",
        "classes": list(train.class_names), "factors": list(train.factor_names),
        "n_images": n_images, "epochs": epochs, "steps": steps, "batch_size": BATCH, "lr": LR,
        "weight_decay": WEIGHT_DECAY, "seed": seed, "held_out": scores,
        "seconds": round(time.time() - started, 1), "device": str(device),
        "torch": torch.__version__, "timm": timm.__version__, "numpy": np.__version__,
        "python": platform.python_version(),
        "note": "synthetic stand-in for a pre-trained ViT; not a real pre-trained model",
    }


def ensure_demo_backbones(
    *, force: bool = False, n_images: int = N_IMAGES, epochs: int | None = None,
    progress: bool = True,
) -> list[Path]:
    written = []
    for backbone_id in DEMO:
        spec = get_backbone_spec(backbone_id)
        if not force and is_current(spec):
            print(f"{backbone_id}: reusing {spec.weights_path()}", file=sys.stderr)
        else:
            info = pretrain(spec, n_images=n_images, epochs=epochs or EPOCHS, progress=progress)
            spec.weights_path().with_suffix(".json").write_text(
                json.dumps(info, indent=2) + "\n", encoding="utf-8"
            )
            print(f"{backbone_id}: held-out {info['held_out']} in {info['seconds']} s "
                  f"-> {spec.weights_path()}", file=sys.stderr)
        written.append(spec.weights_path())
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", help="backbone folder (default: $MEDVTAB_BACKBONE_ROOT or reference_models/demo_weights)")
    parser.add_argument("--force", action="store_true", help="pre-train again even if weights exist")
    parser.add_argument("--images", type=int, default=N_IMAGES, help="training images per backbone")
    parser.add_argument("--epochs", type=int, help=f"epochs (default {EPOCHS})")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    args = parser.parse_args(argv)
    if args.root:
        os.environ["MEDVTAB_BACKBONE_ROOT"] = args.root
    ensure_demo_backbones(force=args.force, n_images=args.images, epochs=args.epochs,
                          progress=not args.quiet)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
