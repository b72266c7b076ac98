"""Checkpoint-track throughput: the worker's path against a bare forward loop, and the overhead of
the Celery task around inference + scoring on a warm worker.

Workload (pinned): a ``gmoe_adapter`` checkpoint on the two demo backbones (64 px), one grayscale
task with 20,000 test images (10,000 test_id + 10,000 test_ood), CPU, float32, batch 256.

    python benchmarks/bench_checkpoint_eval.py [--images 20000] [--repeats 3] [--device cpu]
    python benchmarks/bench_checkpoint_eval.py --vit-b16 --device cuda   # GPU: ViT-B/16 at 224 px, bf16

(a) images/s from opening the archive to every probability in memory, divided by images/s of a
    loop that only runs the same model's forward over tensors already in memory (same batch size,
    dtype and device);
(b) for a warm second submission, the evaluation task's total time (claim → results written)
    minus (inference + scoring), as a fraction of inference + scoring.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

BENCH = "bench-ckpt"


def make_task(root: Path, n_test: int, size: int, seed: int = 0) -> object:
    from datasets.bundle import SplitData, TaskMeta, write_task

    rng = np.random.default_rng(seed)

    def split(n: int, prefix: str, patients: int, offset: int) -> SplitData:
        return SplitData(
            images=rng.integers(0, 256, (n, size, size, 1), dtype=np.uint8),
            image_ids=np.array([f"{prefix}{i:06d}" for i in range(n)]),
            labels=rng.integers(0, 4, n).astype(np.int64),
            patient_ids=np.array([f"P{offset + i % patients:05d}" for i in range(n)]),
        )

    half = n_test // 2
    meta = TaskMeta(
        slug="bench-gray",
        name="bench",
        benchmark=BENCH,
        modality="xray",
        organ="chest",
        label_type="multiclass",
        classes=("a", "b", "c", "d"),
        image_size=size,
        channels=1,
        primary_metric="accuracy",
        version="1",
        source="benchmark",
        license="CC0-1.0",
        citation="",
        test_images_public=True,
        ood_level="patient",
        synthetic=True,
    )
    splits = {
        "train": split(200, "tr", 20, 0),
        "val": split(50, "va", 20, 0),
        "test_id": split(half, "ti", max(half // 10, 1), 0),
        "test_ood": split(n_test - half, "to", max(half // 10, 1), 100_000),
    }
    return write_task(root, meta, splits)


def make_checkpoint(path: Path, roles: dict[str, str], device: str) -> None:
    import torch

    from reference_models.backbones import load_backbone
    from reference_models.checkpoint import write_checkpoint
    from reference_models.inference import normalisation_for
    from reference_models.methods import build, trainable_state_dict

    torch.manual_seed(0)
    modules = {r: load_backbone(b, device=device) for r, b in roles.items()}
    model = build("gmoe_adapter", {}, modules, 4, normalisation=normalisation_for(roles))
    write_checkpoint(
        path,
        benchmark=BENCH,
        method="gmoe_adapter",
        method_config={},
        backbones=roles,
        tasks={"bench-gray": ("1", trainable_state_dict(model))},
    )


def bare_loop(archive: Path, root: Path, device: str, batch: int, repeats: int) -> float:
    """images/s of the model's forward alone over tensors already in memory."""
    import torch

    from datasets.bundle import TEST_SPLITS, load_split, read_meta
    from evaluator.checkpoints import BackboneCache
    from reference_models.archive import check_checkpoint_archive
    from reference_models.inference import load_task_model, to_model_input

    meta = read_meta(root, BENCH, "bench-gray")
    manifest = check_checkpoint_archive(archive)
    dev = torch.device(device)
    model = load_task_model(
        archive,
        manifest,
        meta,
        device=dev,
        backbones=BackboneCache(1 << 34).roles(manifest.backbones, dev),
    )
    images = np.concatenate(
        [np.asarray(load_split(root, meta, s, hidden=True).images) for s in TEST_SPLITS]
    )
    cuda = dev.type == "cuda"
    tensors = [
        to_model_input(
            torch.from_numpy(images[i : i + batch]).to(dev), model.input_size, channels_last=cuda
        )
        for i in range(0, len(images), batch)
    ]
    rates = []
    for _ in range(repeats):
        if cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        with torch.inference_mode(), torch.autocast(dev.type, dtype=torch.bfloat16, enabled=cuda):
            for x in tensors:
                model(x)
        if cuda:
            torch.cuda.synchronize()
        rates.append(len(images) / (time.perf_counter() - start))
    return statistics.median(rates)


def worker_path(archive: Path, root: Path, device: str, batch: int, repeats: int) -> float:
    import torch

    from evaluator.checkpoints import BackboneCache, infer_checkpoint

    cache = BackboneCache(1 << 34)
    dev = torch.device(device)
    infer_checkpoint(root, BENCH, archive, device=dev, cache=cache, batch_size=batch)  # warm
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        _, report = infer_checkpoint(
            root, BENCH, archive, device=dev, cache=cache, batch_size=batch
        )
        rates.append(report.stats.images / (time.perf_counter() - start))
    return statistics.median(rates)


def task_overhead(archive: Path, root: Path, var: Path, device: str) -> dict[str, float]:
    """Run the real Celery task body in process (Django on SQLite) twice; time the second."""
    os.environ.update(
        {
            "DEBUG": "1",
            "MEDVTAB_VAR_DIR": str(var),
            "MEDVTAB_DATA_ROOT": str(root),
            "MEDVTAB_DEVICE": device,
            "DJANGO_SETTINGS_MODULE": "medvtab.settings",
        }
    )
    import django

    django.setup()
    from django.core.files import File
    from django.core.management import call_command

    import evaluator.checkpoints as ec
    from leaderboard.models import Benchmark, Submission, Track
    from leaderboard.services.registration import sync_benchmark
    from leaderboard.tasks.evaluation import evaluate_checkpoint

    call_command("migrate", verbosity=0)
    sync_benchmark(root, BENCH)
    from django.contrib.auth import get_user_model

    user, _ = get_user_model().objects.get_or_create(username="bench", is_staff=True)
    timings: dict[str, float] = {}
    original_infer, original_score = ec.infer_checkpoint, ec.score_probabilities

    def timed_infer(*a: object, **k: object) -> object:
        start = time.perf_counter()
        out = original_infer(*a, **k)
        timings["inference"] = time.perf_counter() - start
        return out

    def timed_score(*a: object, **k: object) -> object:
        start = time.perf_counter()
        out = original_score(*a, **k)
        timings["scoring"] = time.perf_counter() - start
        return out

    ec.infer_checkpoint, ec.score_probabilities = timed_infer, timed_score
    results = {}
    for attempt in ("cold", "warm"):
        sub = Submission(
            owner=user,
            benchmark=Benchmark.objects.get(slug=BENCH),
            track=Track.CHECKPOINT,
            method_name="bench",
            status="queued",
        )
        with archive.open("rb") as fh:
            sub.file.save("bench.zip", File(fh), save=False)
        sub.save()
        start = time.perf_counter()
        outcome = evaluate_checkpoint.run(submission_id=sub.pk)
        total = time.perf_counter() - start
        sub.refresh_from_db()
        assert outcome == "succeeded", sub.error + sub.staff_log
        core = timings["inference"] + timings["scoring"]
        results[attempt] = total
        results[f"{attempt}_core"] = core
    results["warm_overhead_fraction"] = (results["warm"] - results["warm_core"]) / results[
        "warm_core"
    ]
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--vit-b16",
        action="store_true",
        help="ViT-B/16 backbones at 224 px (random init) instead of the demo ones",
    )
    parser.add_argument("--skip-task", action="store_true", help="skip (b)")
    args = parser.parse_args()
    import torch

    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cpus, "
        f"torch {torch.__version__}, device {args.device}"
        + (f" ({torch.cuda.get_device_name()})" if args.device.startswith("cuda") else "")
    )
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        roles = {"general": "demo-vit-general", "medical": "demo-vit-medical"}
        size = 64
        if args.vit_b16:
            roles, size = register_vit_b16(tmpdir), 224
        root = tmpdir / "data"
        make_task(root, args.images, size)
        archive = tmpdir / "gmoe.zip"
        make_checkpoint(archive, roles, args.device)
        bare = bare_loop(archive, root, args.device, args.batch, args.repeats)
        path = worker_path(archive, root, args.device, args.batch, args.repeats)
        print(
            f"(a) bare forward loop: {bare:,.0f} images/s; worker path: {path:,.0f} images/s; "
            f"ratio {path / bare:.3f} (target >= 0.90)"
        )
        if not args.skip_task:
            res = task_overhead(archive, root, tmpdir / "var", args.device)
            print(
                f"(b) task total cold {res['cold']:.2f} s (inference+scoring "
                f"{res['cold_core']:.2f} s); warm {res['warm']:.2f} s (inference+scoring "
                f"{res['warm_core']:.2f} s); warm overhead {res['warm_overhead_fraction']:.1%} "
                "of inference+scoring (target <= 20%)"
            )


def register_vit_b16(folder: Path) -> dict[str, str]:
    """Randomly initialised ViT-B/16 stand-ins (throughput only), registered at run time."""
    import torch

    from reference_models.backbones import create_backbone, save_backbone
    from reference_models.specs import BackboneSpec, register_backbone

    kwargs = {"img_size": 224, "patch_size": 16, "embed_dim": 768, "depth": 12, "num_heads": 12}
    roles = {}
    for role in ("general", "medical"):
        spec = BackboneSpec(
            f"bench-vitb16-{role}",
            "vit_base_patch16_224",
            kwargs,
            str(folder / f"{role}.safetensors"),
            role,
            mean=(0.5,) * 3,
            std=(0.5,) * 3,
        )
        torch.manual_seed(len(role))
        sha = save_backbone(create_backbone(spec), spec.weights_path())
        register_backbone(BackboneSpec(**{**spec.__dict__, "sha256": sha}), replace=True)
        roles[role] = spec.id
    return roles


if __name__ == "__main__":
    main()
