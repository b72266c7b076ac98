"""The checkpoint track inside a GPU worker process: a warm backbone cache and the submission
glue around ``evaluator.checkpoints``. Imported lazily by the ``gpu`` task only (it imports torch)."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings

from evaluator.checkpoints import (
    BackboneCache,
    evaluate_checkpoint_archive,
    resolve_device,
    use_worker_cores,
)
from evaluator.scoring import ScoreResult
from leaderboard.models import Submission
from leaderboard.services.results import save_running_log_line
from leaderboard.services.storage import local_copy

log = logging.getLogger(__name__)
_cache: BackboneCache | None = None


def backbone_cache() -> BackboneCache:
    global _cache
    if _cache is None:
        _cache = BackboneCache(settings.MEDVTAB_BACKBONE_CACHE_MB * 1024**2)
    return _cache


def preload() -> list[str]:
    """Load the configured backbones before the first submission arrives."""
    device = resolve_device(settings.MEDVTAB_DEVICE)
    if device.type == "cpu":
        use_worker_cores()
    loaded = []
    for backbone_id in settings.MEDVTAB_PRELOAD_BACKBONES:
        try:
            backbone_cache().get(backbone_id, device)
            loaded.append(backbone_id)
        except Exception as exc:  # a missing weights file must not stop the worker
            log.warning("could not pre-load backbone %s: %s", backbone_id, exc)
    return loaded


def evaluate_checkpoint_submission(sub: Submission) -> tuple[ScoreResult, dict[str, Any]]:
    device = resolve_device(settings.MEDVTAB_DEVICE)
    if device.type == "cpu":
        use_worker_cores()
    with local_copy(sub.file) as path:
        score, report = evaluate_checkpoint_archive(
            settings.MEDVTAB_DATA_ROOT,
            sub.benchmark.slug,
            path,
            device=device,
            cache=backbone_cache(),
            bootstrap=settings.MEDVTAB_BOOTSTRAP_REPLICATES,
            seed=settings.MEDVTAB_BOOTSTRAP_SEED,
            batch_size=settings.MEDVTAB_INFERENCE_BATCH_SIZE or None,
            compile_model=settings.MEDVTAB_TORCH_COMPILE,
        )
    manifest = report.manifest
    save_running_log_line(
        sub,
        f"inference on {report.device}: {report.stats.images} images at "
        f"{report.stats.images_per_second:.0f} images/s",
    )
    extra = {
        "verified_tunable_params": report.verified_tunable_params,
        "device": report.device[:64],
        "images_per_second": report.stats.images_per_second,
        "backbones": dict(manifest.backbones),
        "method_family": sub.method_family or manifest.family,
    }
    return score, extra
