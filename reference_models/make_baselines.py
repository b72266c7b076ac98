"""Train every sweep entry with the starter kit and keep the checkpoints, with their provenance.

    python -m reference_models.make_baselines [--protocols 1k,full] [--force] [--out DIR] \
        [--data-root var/data] [--benchmark med-vtab-mini] [--methods NAME,...] [--seed 0]

Writes ``<out>/<benchmark>/<protocol>/<entry slug>.zip`` (tensors stored as F16) and an
``index.json`` beside them recording, per entry: the sweep entry, the recipe, the seed, the task
versions and the backbones' sha256 it was trained on (together, the cache key), the archive's
sha256, the torch/timm versions and the per-task training reports. ``out`` defaults to the
committed folder ``reference_models/baselines``. An entry whose key matches the index is kept
unless ``--force``. The server never trusts these files for scores: ``manage.py seed_baselines``
submits the archive as a checkpoint, and the server scores it on the hidden splits.

This module imports torch only inside the training functions, so the web tier may read indexes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypedDict

from datasets.bundle import BundleError, list_tasks
from reference_models.recipes import TRAINING_VERSION, Recipe, recipe_for
from reference_models.specs import CheckpointInvalid
from reference_models.sweeps import PROTOCOLS, SweepEntry, sweep

INDEX_FORMAT = "medvtab-baselines/1"
COMMITTED_ROOT = Path(__file__).resolve().parent / "baselines"
COMMAND = "python -m reference_models.make_baselines"


class CacheKey(TypedDict):
    """Everything a trained archive depends on; equal keys mean the archive can be reused."""

    method: str
    method_config: dict[str, Any]
    backbones: dict[str, str]
    protocol: str
    recipe: dict[str, int | float]
    training_version: str
    seed: int
    task_versions: dict[str, str]
    backbone_sha256: dict[str, str]


class TaskTraining(TypedDict):
    task: str
    epochs_run: int
    best_epoch: int
    best_val_loss: float
    tunable_params: int
    seconds: float


class IndexRecord(TypedDict):
    name: str
    file: str
    sha256: str
    key: CacheKey
    dtype: str
    torch: str
    timm: str
    python: str
    trained_at: str
    training: list[TaskTraining]


class IndexJSON(TypedDict):
    format: str
    benchmark: str
    protocol: str
    command: str
    entries: dict[str, IndexRecord]


def task_versions(data_root: Path | str, benchmark: str, tasks: Sequence[str] | None) -> dict[str, str]:
    """``{slug: version}`` of the tasks a baseline trains on (all of the benchmark by default)."""
    metas = {m.slug: m.version for m in list_tasks(data_root, benchmark)}
    if not metas:
        raise BundleError(f"no tasks found for benchmark {benchmark!r} under {data_root}")
    missing = sorted(set(tasks or ()) - set(metas))
    if missing:
        raise BundleError(f"benchmark {benchmark!r} has no task(s) {', '.join(missing)}")
    return {slug: metas[slug] for slug in sorted(tasks or metas)}


def backbone_hashes(backbones: Mapping[str, str]) -> dict[str, str]:
    """The weights' sha256 per backbone id (registered, or from the demo provenance file)."""
    from reference_models.backbones import expected_sha256  # imports torch
    from reference_models.specs import get_backbone_spec

    return {bid: expected_sha256(get_backbone_spec(bid)) for bid in sorted(set(backbones.values()))}


def cache_key(
    entry: SweepEntry, recipe: Recipe, seed: int, versions: Mapping[str, str],
    hashes: Mapping[str, str],
) -> CacheKey:
    return CacheKey(
        method=entry.method, method_config=entry.method_config, backbones=dict(entry.backbones),
        protocol=entry.protocol, recipe=recipe.to_json(), training_version=TRAINING_VERSION,
        seed=seed,
        task_versions=dict(versions), backbone_sha256=dict(hashes),
    )


def index_path(root: Path, benchmark: str, protocol: str) -> Path:
    return root / benchmark / protocol / "index.json"


def read_index(root: Path, benchmark: str, protocol: str) -> IndexJSON:
    """The index under ``root`` (empty when there is none or it cannot be read)."""
    empty = IndexJSON(format=INDEX_FORMAT, benchmark=benchmark, protocol=protocol,
                      command=COMMAND, entries={})
    try:
        data = json.loads(index_path(root, benchmark, protocol).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return empty
    if not isinstance(data, dict) or data.get("format") != INDEX_FORMAT:
        return empty
    return data  # type: ignore[return-value]  # written by write_record below


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fp:
        for chunk in iter(lambda: fp.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def find_cached(roots: Iterable[Path], benchmark: str, entry: SweepEntry, key: CacheKey) -> Path | None:
    """The first archive under ``roots`` whose recorded key equals ``key`` and whose bytes still
    have the recorded sha256; None when every root lacks one (then the entry is trained)."""
    for root in roots:
        record = read_index(root, benchmark, entry.protocol)["entries"].get(entry.name)
        if record is None or record.get("key") != key:
            continue
        path = index_path(root, benchmark, entry.protocol).parent / record["file"]
        if path.is_file() and file_sha256(path) == record["sha256"]:
            return path
    return None


def write_record(root: Path, benchmark: str, protocol: str, record: IndexRecord) -> None:
    """Add or replace one entry of the index (written whole to a temporary file, then renamed)."""
    index = read_index(root, benchmark, protocol)
    index["entries"][record["name"]] = record
    index["entries"] = dict(sorted(index["entries"].items()))
    path = index_path(root, benchmark, protocol)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(index, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(path)


def _store_fp16(src: Path, dst: Path, description: str) -> None:
    """Rewrite an archive with F16 tensors: half the bytes, and the server loads any float dtype."""
    import torch

    from reference_models.checkpoint import read_checkpoint, write_checkpoint

    manifest, tensors = read_checkpoint(src)
    tasks = {slug: (manifest.tasks[slug].task_version,
                    {name: t.to(torch.float16) for name, t in tensors[slug].items()})
             for slug in manifest.tasks}
    write_checkpoint(dst, benchmark=manifest.benchmark, method=manifest.method,
                     method_config=manifest.method_config, backbones=manifest.backbones,
                     tasks=tasks, protocol=manifest.protocol, description=description)


def train_entry(
    entry: SweepEntry, key: CacheKey, *, data_root: Path | str, benchmark: str, root: Path,
    device: str | None = None,
) -> Path:
    """Train one entry with the starter kit, store it under ``root`` and record it in the index."""
    import timm
    import torch

    from reference_models.train import train_checkpoint

    folder = index_path(root, benchmark, entry.protocol).parent
    target, partial = folder / f"{entry.slug}.zip", folder / f"{entry.slug}.partial.zip"
    recipe = key["recipe"]
    _, reports = train_checkpoint(
        data_root, benchmark, list(key["task_versions"]), entry.method, out=partial,
        method_config=entry.method_config, backbones=entry.backbones, protocol=entry.protocol,
        epochs=int(recipe["epochs"]), lr=float(recipe["lr"]), batch_size=int(recipe["batch_size"]),
        seed=key["seed"], device=device, progress=False,
    )
    _store_fp16(partial, target, f"{entry.name}: reference baseline trained by {COMMAND}")
    partial.unlink()
    record = IndexRecord(
        name=entry.name, file=target.name, sha256=file_sha256(target), key=key, dtype="F16",
        torch=torch.__version__, timm=timm.__version__, python=platform.python_version(),
        trained_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        training=[TaskTraining(**vars(r)) for r in reports],  # type: ignore[typeddict-item]
    )
    write_record(root, benchmark, entry.protocol, record)
    return target


def ensure_archive(
    entry: SweepEntry, *, data_root: Path | str, benchmark: str, roots: Sequence[Path],
    write_root: Path, tasks: Sequence[str] | None = None, seed: int = 0,
    recipe: Recipe | None = None, force: bool = False, device: str | None = None,
) -> tuple[Path, bool]:
    """``(archive, reused)``: a matching cached archive from ``roots``, else one trained now into
    ``write_root``."""
    recipe = recipe or recipe_for(entry.method)
    key = cache_key(entry, recipe, seed, task_versions(data_root, benchmark, tasks),
                    backbone_hashes(entry.backbones))
    found = None if force else find_cached(roots, benchmark, entry, key)
    if found is not None:
        return found, True
    return train_entry(entry, key, data_root=data_root, benchmark=benchmark, root=write_root,
                       device=device), False


def _csv(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Train the sweep's baselines; keep F16 archives.")
    parser.add_argument("--protocols", default="1k,full", help="comma-separated: 1k, full")
    parser.add_argument("--force", action="store_true", help="retrain entries the index matches")
    parser.add_argument("--out", type=Path, default=COMMITTED_ROOT, help="folder of the archives")
    parser.add_argument("--data-root", type=Path, default=Path("var/data"))
    parser.add_argument("--benchmark", default="med-vtab-mini")
    parser.add_argument("--methods", help="comma-separated method names (default: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", help="cpu, cuda, ... (default: cuda if available)")
    return parser


def main(argv: list[str] | None = None, log: Callable[[str], None] = print) -> int:
    from reference_models.backbones import BackboneUnavailable  # imports torch

    args = _parser().parse_args(argv)
    protocols = _csv(args.protocols) or []
    try:
        bad = sorted(set(protocols) - set(PROTOCOLS))
        if bad or not protocols:
            raise ValueError(f"--protocols takes {', '.join(PROTOCOLS)}, not {args.protocols!r}")
        entries = sweep(protocols, _csv(args.methods))
        started = time.monotonic()
        for i, entry in enumerate(entries, 1):
            path, reused = ensure_archive(
                entry, data_root=args.data_root, benchmark=args.benchmark, roots=[args.out],
                write_root=args.out, seed=args.seed, force=args.force, device=args.device,
            )
            how = "up to date" if reused else "trained"
            log(f"[{time.monotonic() - started:5.0f} s] {i}/{len(entries)} {entry.name}: "
                f"{how} {path}")
            sys.stdout.flush()
    except (BundleError, CheckpointInvalid, BackboneUnavailable, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
