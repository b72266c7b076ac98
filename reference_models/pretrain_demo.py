"""Pre-train the two demo backbones (offline stand-ins for ViT-B/16 general and medical).

``python -m reference_models.pretrain_demo [--root DIR] [--force]`` writes
``<root>/<id>.safetensors`` and ``<root>/<id>.json`` (provenance: generator, classes, seed, epochs,
accuracy, sha256, versions) for ``demo-vit-general`` and ``demo-vit-medical``. A second call reuses
weights whose hash matches their provenance file.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import timm
import torch

from reference_models.backbones import create_backbone, file_sha256, save_backbone
from reference_models.inference import prepare_batch
from reference_models.specs import BackboneSpec, get_backbone_spec
from reference_models.synthetic_pretrain import make_dataset
from reference_models.training import FitConfig, fit, pick_device, seed_everything

DEMO = {"demo-vit-general": ("general", 20250101), "demo-vit-medical": ("medical", 20250202)}
N_IMAGES = 4000
# The colour-scene task is harder to learn from scratch than the grey-level one.
EPOCHS = {"general": 5, "medical": 3}


def is_current(spec: BackboneSpec) -> bool:
    weights, sidecar = spec.weights_path(), spec.weights_path().with_suffix(".json")
    if not (weights.is_file() and sidecar.is_file()):
        return False
    try:
        return json.loads(sidecar.read_text(encoding="utf-8"))["sha256"] == file_sha256(weights)
    except (KeyError, ValueError):
        return False


class _Normalised(torch.nn.Module):
    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, vit: torch.nn.Module, spec: BackboneSpec) -> None:
        super().__init__()
        self.vit = vit
        self.register_buffer("mean", torch.tensor(spec.mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(spec.std).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.vit((x - self.mean) / self.std)


def accuracy(model: torch.nn.Module, images: np.ndarray, labels: np.ndarray, device: torch.device) -> float:
    predicted = []
    model.eval()
    with torch.inference_mode():
        for start in range(0, len(images), 256):
            x = prepare_batch(images[start:start + 256], images.shape[1], device)
            predicted.append(model(x).argmax(-1).cpu().numpy())
    return float((np.concatenate(predicted) == labels).mean())


def pretrain(spec: BackboneSpec, *, n_images: int, epochs: int, progress: bool) -> dict[str, Any]:
    domain, seed = DEMO[spec.id]
    seed_everything(seed)
    images, labels, classes = make_dataset(domain, n_images + 500, spec.img_size, seed)
    vit = timm.create_model(spec.arch, pretrained=False, num_classes=len(classes), **spec.kwargs)
    device = pick_device()
    model = _Normalised(vit, spec).to(device)
    started = time.time()
    fit(model, spec.img_size, "multiclass", (images[:n_images], labels[:n_images]), None,
        FitConfig(epochs=epochs, lr=2e-3, batch_size=64, seed=seed, progress=progress,
                  desc=f"pre-train {spec.id}"), device)
    acc = accuracy(model, images[n_images:], labels[n_images:], device)
    backbone = create_backbone(spec)
    backbone.load_state_dict({k: v for k, v in vit.state_dict().items() if not k.startswith("head.")})
    sha = save_backbone(backbone, spec.weights_path())
    return {
        "id": spec.id, "arch": spec.arch, "kwargs": spec.kwargs, "domain": spec.domain,
        "mean": list(spec.mean), "std": list(spec.std), "sha256": sha,
        "generator": f"reference_models.synthetic_pretrain ({domain})", "classes": classes,
        "n_images": n_images, "epochs": epochs, "seed": seed, "held_out_accuracy": round(acc, 4),
        "seconds": round(time.time() - started, 1), "device": str(device),
        "torch": torch.__version__, "timm": timm.__version__, "python": platform.python_version(),
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
            info = pretrain(spec, n_images=n_images, epochs=epochs or EPOCHS[spec.domain],
                            progress=progress)
            spec.weights_path().with_suffix(".json").write_text(
                json.dumps(info, indent=2) + "\n", encoding="utf-8"
            )
            print(f"{backbone_id}: held-out accuracy {info['held_out_accuracy']:.3f} "
                  f"in {info['seconds']} s -> {spec.weights_path()}", file=sys.stderr)
        written.append(spec.weights_path())
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", help="backbone folder (default: $MEDVTAB_BACKBONE_ROOT or var/backbones)")
    parser.add_argument("--force", action="store_true", help="pre-train again even if weights exist")
    parser.add_argument("--images", type=int, default=N_IMAGES, help="training images per backbone")
    parser.add_argument("--epochs", type=int, help="epochs (default: 5 general, 3 medical)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    if args.root:
        os.environ["MEDVTAB_BACKBONE_ROOT"] = args.root
    ensure_demo_backbones(force=args.force, n_images=args.images, epochs=args.epochs,
                          progress=not args.quiet)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
