"""The platform's own baselines: every registered method trained by the starter kit on the demo
tasks and submitted as a baseline checkpoint through the real pipeline (never typed-in numbers)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files import File

from leaderboard.models import Benchmark, Profile, Submission
from leaderboard.services.submissions import SubmissionRequest, create_submission

BASELINE_USER = "baselines"
DEMO_BACKBONES = {"general": "demo-vit-general", "medical": "demo-vit-medical"}


@dataclass(frozen=True)
class BaselineConfig:
    method: str
    family: str
    backbones: dict[str, str]
    protocol: str

    @property
    def pretraining(self) -> str:
        from reference_models.specs import get_backbone_spec  # torch-free

        domains = {get_backbone_spec(b).domain for b in self.backbones.values()}
        return "both" if len(domains) > 1 else domains.pop()

    @property
    def label(self) -> str:
        return f"{self.method} ({self.pretraining}, {self.protocol})"

    def key(self, benchmark_version: str, epochs: int | None, seed: int) -> str:
        blob = json.dumps(
            {**asdict(self), "benchmark": benchmark_version, "epochs": epochs, "seed": seed},
            sort_keys=True,
        )
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def plan(methods: list[str] | None, protocols: list[str]) -> list[BaselineConfig]:
    """Single-backbone methods on each demo backbone; two-backbone methods on both."""
    from reference_models.specs import METHOD_SPECS

    configs = []
    for name, spec in METHOD_SPECS.items():
        if methods and name not in methods:
            continue
        if set(spec.roles) == {"general", "medical"}:
            choices = [dict(DEMO_BACKBONES)]
        else:
            choices = [{spec.roles[0]: b} for b in DEMO_BACKBONES.values()]
        configs += [BaselineConfig(name, spec.family, c, p) for p in protocols for c in choices]
    return configs


def baseline_owner() -> object:
    user, created = get_user_model().objects.get_or_create(
        username=BASELINE_USER, defaults={"email": "baselines@localhost", "is_staff": True}
    )
    if created:
        user.set_unusable_password()
        user.save()
    Profile.objects.update_or_create(user=user, defaults={"email_verified": True})
    return user


def progress_path() -> Path:
    return Path(settings.VAR_DIR) / "baselines" / "progress.json"


def write_progress(**state: object) -> None:
    path = progress_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state), encoding="utf-8")
    tmp.replace(path)


def read_progress() -> dict[str, object] | None:
    try:
        return json.loads(progress_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def train_cached(
    config: BaselineConfig,
    benchmark: Benchmark,
    tasks: list[str] | None,
    *,
    epochs: int | None,
    seed: int,
    version: str,
    log: Callable[[str], None],
) -> Path:
    """Train (or reuse) the checkpoint for one configuration; the cache makes re-runs instant."""
    from reference_models.train import train_checkpoint

    folder = Path(settings.VAR_DIR) / "baselines"
    folder.mkdir(parents=True, exist_ok=True)
    target = (
        folder / f"{config.method}-{config.pretraining}-{config.protocol}-"
        f"{config.key(version, epochs, seed)}.zip"
    )
    if target.is_file():
        log(f"{config.label}: cached {target.name}")
        return target
    tmp = target.with_suffix(".partial.zip")
    _, reports = train_checkpoint(
        settings.MEDVTAB_DATA_ROOT,
        benchmark.slug,
        tasks or "all",
        config.method,
        out=tmp,
        backbones=config.backbones,
        protocol=config.protocol,
        epochs=epochs,
        seed=seed,
        progress=False,
    )
    tmp.replace(target)
    seconds = sum(r.seconds for r in reports)
    log(f"{config.label}: trained {len(reports)} task(s) in {seconds:.0f} s")
    return target


def submit_baseline(
    config: BaselineConfig, benchmark: Benchmark, archive: Path, owner: object
) -> Submission:
    key = f"baseline-{benchmark.slug}-{archive.stem}"
    with archive.open("rb") as handle:
        return create_submission(
            SubmissionRequest(
                owner=owner,
                benchmark=benchmark,
                track="checkpoint",
                upload=File(handle, name=archive.name),
                protocol=config.protocol,
                method_name=config.label,
                method_family=config.family,
                backbones=config.backbones,
                pretraining=config.pretraining,
                description="Reference baseline trained by the starter kit "
                "(python -m reference_models.train) on the public splits.",
                is_public=True,
                is_baseline=True,
                idempotency_key=key,
            )
        )
