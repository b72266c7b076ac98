"""The public ``.npz`` of a task, exported once per task version and bundle state, then served
from a cache with its sha256 (the client checks it)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from django.conf import settings

from datasets.bundle import read_meta, task_dir
from datasets.export import NPZ_FORMAT, export_public_npz, sample_submission_csv
from leaderboard.models import Task


def _cache_dir() -> Path:
    return Path(settings.VAR_DIR) / "exports"


def _bundle_stamp(task: Task) -> str:
    # task.json is rewritten whenever the bundle is; its mtime tells a stale cache apart.
    meta_path = task_dir(settings.MEDVTAB_DATA_ROOT, "public", task.benchmark.slug, task.slug)
    return str((meta_path / "task.json").stat().st_mtime_ns)


def public_npz(task: Task) -> tuple[Path, str]:
    """(path of the cached export, its sha256 hex); exported on first use (atomically)."""
    root = settings.MEDVTAB_DATA_ROOT
    meta = read_meta(root, task.benchmark.slug, task.slug)
    folder = _cache_dir() / task.benchmark.slug
    layout = NPZ_FORMAT.replace("/", "-")  # a new download layout is exported afresh
    path = folder / f"{task.slug}-v{meta.version}-{_bundle_stamp(task)}-{layout}.npz"
    digest_path = path.with_suffix(".sha256")
    if not (path.is_file() and digest_path.is_file()):
        keep = {path.name, digest_path.name}
        for stale in folder.glob(f"{task.slug}-v*"):
            if stale.name not in keep and not stale.name.endswith(".tmp"):
                stale.unlink(missing_ok=True)
        export_public_npz(root, meta, path)
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        tmp = digest_path.with_suffix(".tmp")
        tmp.write_text(digest.hexdigest())
        tmp.replace(digest_path)
    return path, digest_path.read_text().strip()


def sample_csv(task: Task) -> str:
    meta = read_meta(settings.MEDVTAB_DATA_ROOT, task.benchmark.slug, task.slug)
    return sample_submission_csv(settings.MEDVTAB_DATA_ROOT, meta)
