"""The platform's own baselines: every sweep entry (reference_models/sweeps.py) trained by the
starter kit, or taken from the cache of trained archives, and submitted as a baseline checkpoint
through the real pipeline, so every number on a board is scored by the server (never typed in)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files import File

from leaderboard.models import FINAL, IN_FLIGHT, Aggregate, Benchmark, Profile, Status, Submission
from leaderboard.services.submissions import SubmissionRequest, create_submission

if TYPE_CHECKING:
    from reference_models.make_baselines import CacheKey
    from reference_models.recipes import Recipe
    from reference_models.sweeps import SweepEntry

BASELINE_USER = "baselines"


class ProtocolPlan(TypedDict):
    protocol: str
    names: list[str]  # the sweep entries' names, so the page counts only this run's baselines


class ProgressJSON(TypedDict, total=False):
    stage: str
    done: int  # entries submitted so far, over all protocols
    total: int
    protocols: list[ProtocolPlan]


class ProtocolProgress(TypedDict):
    protocol: str
    total: int
    submitted: int
    scored: int
    failed: int
    in_flight: int


def baseline_owner() -> object:
    user, created = get_user_model().objects.get_or_create(
        username=BASELINE_USER, defaults={"email": "baselines@localhost", "is_staff": True}
    )
    if created:
        user.set_unusable_password()
        user.save()
    Profile.objects.update_or_create(user=user, defaults={"email_verified": True})
    return user


def cache_dir() -> Path:
    """Archives trained at seeding time (the committed ones live in reference_models/baselines)."""
    return Path(settings.VAR_DIR) / "baselines"


def progress_path() -> Path:
    return cache_dir() / "progress.json"


def write_progress(state: ProgressJSON) -> None:
    path = progress_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state), encoding="utf-8")
    tmp.replace(path)


def read_progress() -> ProgressJSON | None:
    try:
        data = json.loads(progress_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None  # type: ignore[return-value]


def protocol_progress(state: ProgressJSON | None) -> list[ProtocolProgress]:
    """Per planned protocol: how many of its baselines are submitted, scored, failed, in flight.

    The counts come from the database (one query), the plan from the progress file; a name
    submitted twice (a retrained archive) counts once, by its latest submission."""
    plans = (state or {}).get("protocols") or []
    if not plans:
        return []
    names = {name for plan in plans for name in plan["names"]}
    rows = (
        Submission.objects.filter(is_baseline=True, method_name__in=names)
        .order_by("created", "pk")
        .values_list("protocol", "method_name", "status")
    )
    latest = {(protocol, name): status for protocol, name, status in rows}
    out = []
    for plan in plans:
        keys = [(plan["protocol"], name) for name in plan["names"]]
        statuses = [latest[k] for k in keys if k in latest]
        out.append(ProtocolProgress(
            protocol=plan["protocol"], total=len(plan["names"]), submitted=len(statuses),
            scored=statuses.count(Status.SUCCEEDED), failed=statuses.count(Status.FAILED),
            in_flight=sum(s in IN_FLIGHT for s in statuses),
        ))
    return out


class ProgressLog:
    """Plain progress lines, each stamped with the seconds since the start and flushed at once
    (the seeding log is a file, where output is otherwise written in blocks)."""

    def __init__(self, write: Callable[[str], object], flush: Callable[[], object]) -> None:
        self._write, self._flush = write, flush
        self.started = time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def __call__(self, line: str) -> None:
        self._write(f"[{self.elapsed():4.0f} s] {line}")
        self._flush()


@dataclass
class ScoreWatch:
    """Reports each submitted baseline once, when it reaches a final status, and each protocol's
    board once all of its baselines are final (the line that times a complete board)."""

    log: ProgressLog
    pending: dict[int, tuple[str, str]] = field(default_factory=dict)  # pk -> (protocol, name)
    closed: dict[str, int] = field(default_factory=dict)  # protocol -> baselines submitted

    def add(self, sub: Submission, name: str) -> None:
        self.pending[sub.pk] = (sub.protocol, name)

    def close(self, protocol: str, count: int) -> None:
        """Every baseline of ``protocol`` is submitted; report the board when they are scored."""
        self.closed[protocol] = count
        self._boards()

    def poll(self) -> None:
        done = Submission.objects.filter(pk__in=list(self.pending), status__in=FINAL)
        for sub in done.order_by("finished_at", "pk"):
            self.log(f"{self.pending.pop(sub.pk)[1]}: {_outcome(sub)}")
        self._boards()

    def _boards(self) -> None:
        waiting = {protocol for protocol, _ in self.pending.values()}
        for protocol in [p for p in self.closed if p not in waiting]:
            self.log(f"{protocol} protocol: all {self.closed.pop(protocol)} baselines final")

    def wait(self, timeout_s: float, interval_s: float = 2.0) -> None:
        deadline = time.monotonic() + timeout_s
        self.poll()
        while self.pending and time.monotonic() < deadline:
            time.sleep(interval_s)
            self.poll()
        if self.pending:
            self.log(f"{len(self.pending)} submission(s) not final after {timeout_s:.0f} s; "
                     "the worker scores them when it gets to them")


def _outcome(sub: Submission) -> str:
    if sub.status != Status.SUCCEEDED:
        return f"{sub.status} #{sub.pk}" + (f" ({sub.error.splitlines()[0]})" if sub.error else "")
    overall = Aggregate.objects.filter(submission=sub, scope="overall").first()
    if overall is None or overall.test_id is None:
        return f"scored #{sub.pk}"
    ood = "n/a" if overall.test_ood is None else f"{overall.test_ood:.3f}"
    return f"scored #{sub.pk} (overall ID {overall.test_id:.3f} / OOD {ood})"


@dataclass(frozen=True)
class SeedOptions:
    benchmark: Benchmark
    tasks: list[str] | None
    seed: int
    epochs: int | None  # overrides the recipe's (quick runs); None keeps the recipe
    archives: Sequence[Path]  # where to look for trained archives before training
    log: ProgressLog


def recipe_of(entry: SweepEntry, opts: SeedOptions) -> Recipe:
    from reference_models.recipes import recipe_for

    return recipe_for(entry.method).overridden(epochs=opts.epochs)


def prepare_archive(
    entry: SweepEntry, opts: SeedOptions, on_training: Callable[[], object] = lambda: None
) -> tuple[Path, str]:
    """The entry's archive and how it was obtained: a cached one whose key matches (recipe,
    seed, task versions, backbone weights), else one trained now into the seeding cache."""
    from reference_models.make_baselines import (  # torch only once something is trained
        backbone_hashes,
        cache_key,
        find_cached,
        task_versions,
        train_entry,
    )

    recipe = recipe_of(entry, opts)
    versions = task_versions(settings.MEDVTAB_DATA_ROOT, opts.benchmark.slug, opts.tasks)
    key: CacheKey = cache_key(entry, recipe, opts.seed, versions, backbone_hashes(entry.backbones))
    roots = [*opts.archives, cache_dir()]
    found = find_cached(roots, opts.benchmark.slug, entry, key)
    if found is not None:
        return found, "cached checkpoint"
    on_training()
    started = time.monotonic()
    path = train_entry(entry, key, data_root=settings.MEDVTAB_DATA_ROOT,
                       benchmark=opts.benchmark.slug, root=cache_dir())
    return path, f"trained in {time.monotonic() - started:.0f} s"


def _description(entry: SweepEntry, recipe: Recipe, archive: Path) -> str:
    return (
        "Reference baseline trained by the starter kit on the public splits "
        f"(method_config {json.dumps(entry.method_config, sort_keys=True)}; "
        f"recipe: {recipe.epochs} epochs, lr {recipe.lr:g}, warm-up {recipe.warmup_fraction:g}, "
        f"batch {recipe.batch_size}; archive {archive.name}). "
        "Reproduce with python -m reference_models.make_baselines."
    )


def submit_baseline(
    entry: SweepEntry, archive: Path, owner: object, opts: SeedOptions
) -> tuple[Submission, bool]:
    """``(submission, created)``; an archive already submitted returns its first submission."""
    from reference_models.make_baselines import file_sha256

    key = f"baseline-{file_sha256(archive)[:24]}-{entry.slug}"[:100]
    existing = Submission.objects.filter(owner=owner, idempotency_key=key).first()
    if existing is not None:
        return existing, False
    with archive.open("rb") as handle:
        sub = create_submission(
            SubmissionRequest(
                owner=owner,
                benchmark=opts.benchmark,
                track="checkpoint",
                upload=File(handle, name=archive.name),
                protocol=entry.protocol,
                method_name=entry.name,
                method_family=entry.family,
                backbones=dict(entry.backbones),
                pretraining=entry.pretraining,
                seed=opts.seed,
                description=_description(entry, recipe_of(entry, opts), archive),
                is_public=True,
                is_baseline=True,
                idempotency_key=key,
            )
        )
    return sub, True
