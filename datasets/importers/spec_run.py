"""Import what a benchmark spec describes, task by task, skipping tasks already imported from the
same source.

A task's *source key* is the SHA-256 of its kind, its importer options and the SHA-256 of each
source file. After a task is written, its key is kept in the hidden tree as
``hidden/<benchmark>/<task>/import_source.json`` (an additive file; readers ignore it), so a rerun
skips the task when the key still matches and an interrupted spec import resumes where it stopped
(each task is written atomically by its importer). Re-hashing large files on every rerun is avoided
by reusing the recorded hash when a file's size and modification time are unchanged
(``verify=True`` re-hashes everything).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from datasets.bundle import BundleError, TaskMeta, read_meta, task_dir
from datasets.importers.common import DatasetImportError, ImportSummary
from datasets.importers.spec import BenchmarkSpec, SpecError, SpecTask

RECORD_NAME = "import_source.json"
RECORD_FORMAT = "medvtab-import-source/1"
PENDING_DIR = ".spec-pending"
HASH_BLOCK = 8 << 20

# progress(task, done, total): images copied so far in the task being imported.
TaskProgress = Callable[[SpecTask, int, int], None]
# on_hash(path, size): a source file is about to be hashed (large files take a while).
OnHash = Callable[[Path, int], None]


@dataclass
class TaskOutcome:
    """What happened to one task of a spec: ``imported`` now or ``skipped`` (already current)."""

    task: SpecTask
    status: str
    meta: TaskMeta
    seconds: float
    duplicates: dict[str, int] = field(default_factory=dict)

    @property
    def duplicates_dropped(self) -> int:
        return sum(self.duplicates.values())


@dataclass(frozen=True)
class _Plan:
    task: SpecTask
    record: dict[str, Any]
    state: str  # "current", "absent", "adopt" (written, record not yet moved) or "changed"


def source_paths(spec: BenchmarkSpec, task: SpecTask, from_dir: Path) -> dict[str, Path]:
    return {key: Path(from_dir) / rel for key, rel in task.files().items()}


def check_sources(spec: BenchmarkSpec, from_dir: Path | str) -> None:
    """Every file a spec names must exist before anything is imported."""
    problems = []
    for task in spec.tasks:
        for key, path in source_paths(spec, task, Path(from_dir)).items():
            ok = path.is_dir() if key == "base_dir" else path.is_file()
            if not ok:
                what = "folder" if key == "base_dir" else "file"
                problems.append(f"{spec.path}: {task.where}.{key}: no such {what} {path}")
    if problems:
        raise SpecError(problems)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def _file_entry(
    path: Path, previous: dict[str, Any] | None, verify: bool, on_hash: OnHash | None
) -> dict[str, Any]:
    stat = path.stat()
    entry = {"path": str(path.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    if not verify and previous and all(previous.get(k) == v for k, v in entry.items()):
        entry["sha256"] = previous["sha256"]
    else:
        if on_hash is not None:
            on_hash(path, stat.st_size)
        entry["sha256"] = file_sha256(path)
    return entry


def source_record(
    spec: BenchmarkSpec, task: SpecTask, from_dir: Path, *,
    previous: dict[str, Any] | None = None, verify: bool = False, on_hash: OnHash | None = None,
) -> dict[str, Any]:
    """The record kept next to an imported task; ``key`` covers the options and file contents."""
    old_files = (previous or {}).get("files", {})
    files = {
        key: _file_entry(path, old_files.get(key), verify, on_hash)
        for key, path in source_paths(spec, task, from_dir).items()
    }
    keyed = {"kind": task.kind, "options": task.options,
             "sha256": {k: v["sha256"] for k, v in files.items()}}
    key = hashlib.sha256(json.dumps(keyed, sort_keys=True).encode()).hexdigest()
    return {"format": RECORD_FORMAT, "key": key, "kind": task.kind, "options": task.options,
            "files": files}


def _record_path(root: Path, benchmark: str, slug: str) -> Path:
    return task_dir(root, "hidden", benchmark, slug) / RECORD_NAME


def _pending_path(root: Path, benchmark: str, slug: str) -> Path:
    return Path(root) / "hidden" / benchmark / PENDING_DIR / f"{slug}.json"


def read_record(path: Path) -> dict[str, Any] | None:
    """A record on disk, or None when absent or unreadable (then the task counts as changed)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) and data.get("format") == RECORD_FORMAT else None


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _exists(root: Path, benchmark: str, slug: str) -> bool:
    return ((task_dir(root, "public", benchmark, slug) / "task.json").is_file()
            and task_dir(root, "hidden", benchmark, slug).is_dir())


def _plan(
    spec: BenchmarkSpec, task: SpecTask, from_dir: Path, root: Path, verify: bool,
    on_hash: OnHash | None,
) -> _Plan:
    recorded = read_record(_record_path(root, spec.slug, task.slug))
    pending = read_record(_pending_path(root, spec.slug, task.slug))
    record = source_record(spec, task, from_dir, previous=recorded or pending, verify=verify,
                           on_hash=on_hash)
    # The generator itself decides whether a synthetic task on disk is what it would write.
    if task.kind == "synthetic" or not _exists(root, spec.slug, task.slug):
        return _Plan(task, record, "absent")
    if recorded is not None and recorded["key"] == record["key"]:
        return _Plan(task, {**recorded, "files": record["files"]}, "current")
    if recorded is None and pending is not None and pending["key"] == record["key"]:
        # The importer finished (tasks are swapped in atomically) but the record was not moved.
        return _Plan(task, record, "adopt")
    return _Plan(task, record, "changed")


def plan_spec(
    spec: BenchmarkSpec, from_dir: Path | str, root: Path | str, *, replace: bool = False,
    verify: bool = False, on_hash: OnHash | None = None,
) -> list[_Plan]:
    """Hash every source and decide per task; a changed task is refused unless ``replace``."""
    check_sources(spec, from_dir)
    plans = [_plan(spec, t, Path(from_dir), Path(root), verify, on_hash) for t in spec.tasks]
    changed = [p.task for p in plans if p.state == "changed"]
    if changed and not replace:
        raise SpecError([
            f"{spec.path}: {t.where} ({t.slug}): task {spec.slug}/{t.slug} already exists but was "
            "not imported from this source with these options; pass --replace to re-import it"
            for t in changed
        ])
    return plans


def import_spec(
    spec: BenchmarkSpec, from_dir: Path | str, root: Path | str, *, replace: bool = False,
    verify: bool = False, progress: TaskProgress | None = None,
    on_task: Callable[[TaskOutcome], None] | None = None,
    on_start: Callable[[SpecTask, str], None] | None = None, on_hash: OnHash | None = None,
) -> list[TaskOutcome]:
    """Import every task of ``spec`` whose source is new or changed; return one outcome per task.

    ``on_start(task, state)`` is called before each task, ``on_task(outcome)`` after it; a failure
    raises ``DatasetImportError`` naming the task, and the tasks before it stay imported.
    """
    root = Path(root)
    outcomes = []
    plans = plan_spec(spec, from_dir, root, replace=replace, verify=verify, on_hash=on_hash)
    for plan in plans:
        if on_start is not None:
            on_start(plan.task, plan.state)
        outcome = _run(spec, plan, Path(from_dir), root, progress)
        outcomes.append(outcome)
        if on_task is not None:
            on_task(outcome)
    return outcomes


def _run(
    spec: BenchmarkSpec, plan: _Plan, from_dir: Path, root: Path, progress: TaskProgress | None
) -> TaskOutcome:
    task, final = plan.task, _record_path(root, spec.slug, plan.task.slug)
    if plan.state == "current":
        meta = read_meta(root, spec.slug, task.slug)
        _write_json(final, plan.record)  # refreshed file times keep the next rerun cheap
        return TaskOutcome(task, "skipped", meta, 0.0, dict(plan.record.get("duplicates", {})))
    pending = _pending_path(root, spec.slug, task.slug)
    start = time.perf_counter()
    duplicates: dict[str, int] = {}
    if plan.state == "adopt":
        meta = read_meta(root, spec.slug, task.slug)
    else:
        _write_json(pending, plan.record)
        meta, duplicates = _import_task(spec, task, from_dir, root, progress,
                                        overwrite=plan.state == "changed")
    seconds = time.perf_counter() - start
    _write_json(final, {**plan.record, "duplicates": duplicates, "seconds": round(seconds, 3)})
    pending.unlink(missing_ok=True)
    return TaskOutcome(task, "imported", meta, seconds, duplicates)


def _import_task(
    spec: BenchmarkSpec, task: SpecTask, from_dir: Path, root: Path,
    progress: TaskProgress | None, *, overwrite: bool,
) -> tuple[TaskMeta, dict[str, int]]:
    from datasets.importers.spec_sources import run_importer

    summaries: list[ImportSummary] = []

    def report(done: int, total: int) -> None:
        if progress is not None:
            progress(task, done, total)

    try:
        meta = run_importer(spec, task, source_paths(spec, task, from_dir), root,
                            overwrite=overwrite, progress=report, on_summary=summaries.append)
    except (DatasetImportError, BundleError) as exc:
        raise DatasetImportError(f"{spec.path}: {task.where} ({task.slug}): {exc}") from None
    pairs = summaries[-1].duplicates if summaries else {}
    return meta, {f"{kept}>{dropped}": n for (kept, dropped), n in pairs.items()}

