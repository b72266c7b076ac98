"""seed_baselines trains with the starter kit and submits through the real pipeline."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch")

from django.core.management import call_command

from leaderboard.models import Status, Submission
from leaderboard.services.registration import sync_benchmark
from medvtab.celery import app
from tests.reference_models.conftest import BENCH, make_task, tiny_backbones  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def demo_ids(tiny_backbones: dict) -> Iterator[None]:
    """Stand the tiny backbones in for the demo backbones."""
    from reference_models.specs import BackboneSpec, get_backbone_spec, register_backbone

    saved = {i: get_backbone_spec(i) for i in ("demo-vit-general", "demo-vit-medical")}
    for role, demo_id in (("general", "demo-vit-general"), ("medical", "demo-vit-medical")):
        register_backbone(
            BackboneSpec(**{**tiny_backbones[role].__dict__, "id": demo_id}), replace=True
        )
    yield
    for spec in saved.values():
        register_backbone(spec, replace=True)


def test_seed_baselines_submits_every_configuration_once(
    demo_ids: None, data_root: Path, settings: Any, tmp_path: Path
) -> None:
    make_task(data_root, "tiny-gray", channels=1, size=24)
    sync_benchmark(data_root, BENCH)
    settings.VAR_DIR = tmp_path / "var"
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.MEDVTAB_BOOTSTRAP_REPLICATES = 20
    settings.MEDVTAB_DEVICE = "cpu"
    app.conf.task_always_eager = True
    try:
        args = [
            "seed_baselines",
            "--benchmark",
            BENCH,
            "--methods",
            "linear,gmoe_adapter",
            "--epochs",
            "1",
            "--skip-pretrain",
        ]
        call_command(*args, stdout=io.StringIO())
        subs = list(Submission.objects.filter(is_baseline=True))
        # linear on each demo backbone, gmoe_adapter on both
        assert sorted(s.pretraining for s in subs) == ["both", "general", "medical"]
        assert all(s.status == Status.SUCCEEDED for s in subs), [s.error for s in subs]
        assert all(s.track == "checkpoint" and s.verified_tunable_params for s in subs)
        gmoe = next(s for s in subs if s.method_family == "moe")
        linear = next(s for s in subs if s.pretraining == "general")
        assert gmoe.verified_tunable_params > linear.verified_tunable_params
        out = io.StringIO()
        call_command(*args, stdout=out)  # cached: no training, no new submission
        assert out.getvalue().count("cached") == 3
        assert Submission.objects.filter(is_baseline=True).count() == 3
        table = io.StringIO()
        call_command("baseline_table", "--benchmark", BENCH, stdout=table)
        lines = table.getvalue().splitlines()
        assert len(lines) == 2 + 3 and all(s.method_name in table.getvalue() for s in subs)
        assert f"{gmoe.verified_tunable_params:,}" in table.getvalue()
    finally:
        app.conf.task_always_eager = False


@pytest.mark.django_db
def test_home_shows_the_seeding_stage(client: Any, settings: Any, tmp_path: Path) -> None:
    from leaderboard.services.baselines import write_progress

    settings.VAR_DIR = tmp_path
    assert "seeding-stage" not in client.get("/").content.decode()
    write_progress(stage="training lora (medical, 1k)", done=6, total=17)
    html = client.get("/").content.decode()
    assert "training lora (medical, 1k)" in html and "6 of 17 trained" in html
