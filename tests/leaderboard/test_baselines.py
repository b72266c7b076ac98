"""seed_baselines submits the sweep through the real pipeline, from cached archives when their
key matches; progress lines are flushed one by one; the table and the home page read the DB."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch")

from django.core.management import call_command

from leaderboard.models import Status, Submission
from leaderboard.services.registration import sync_benchmark
from medvtab.celery import app
from reference_models.recipes import recipe_for
from reference_models.sweeps import sweep
from tests.reference_models.conftest import BENCH, make_task, tiny_backbones  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)

LINE = re.compile(r"^\[\s*\d+ s\] .+$")
SUBMITTED = re.compile(
    r"^\[\s*\d+ s\] (\d+)/(\d+) (.+): (already )?submitted #\d+ "
    r"\((cached checkpoint|trained in \d+ s)\)$"
)


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


class Recorder(io.StringIO):
    """Records each write and flush, to check that every line is flushed as it is written."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[str] = []

    def write(self, s: str) -> int:
        self.events.append(s)
        return super().write(s)

    def flush(self) -> None:
        self.events.append("<flush>")
        super().flush()


@pytest.fixture
def seeded(demo_ids: None, data_root: Path, settings: Any, tmp_path: Path) -> Iterator[Path]:
    make_task(data_root, "tiny-gray", channels=1, size=24)
    sync_benchmark(data_root, BENCH)
    settings.VAR_DIR = tmp_path / "var"
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.MEDVTAB_BOOTSTRAP_REPLICATES = 20
    settings.MEDVTAB_DEVICE = "cpu"
    app.conf.task_always_eager = True
    try:
        yield tmp_path
    finally:
        app.conf.task_always_eager = False


def _seed(tmp_path: Path, *extra: str, methods: str = "linear,gmoe_adapter") -> str:
    out = io.StringIO()
    call_command(
        "seed_baselines", "--benchmark", BENCH, "--methods", methods, "--protocols", "1k",
        "--epochs", "1", "--skip-pretrain", "--archives", str(tmp_path / "committed"), *extra,
        stdout=out,
    )
    return out.getvalue()


def test_seed_baselines_submits_every_sweep_entry_once(seeded: Path) -> None:
    log = _seed(seeded)
    planned = [e.name for e in sweep(["1k"], ["linear", "gmoe_adapter"])]
    subs = list(Submission.objects.filter(is_baseline=True))
    assert sorted(s.method_name for s in subs) == sorted(planned)  # 2 linear + 3 gmoe sizes
    assert all(s.status == Status.SUCCEEDED for s in subs), [s.error for s in subs]
    assert all(s.track == "checkpoint" and s.protocol == "1k" for s in subs)
    params = {s.method_name: s.verified_tunable_params for s in subs}
    gmoe = [params[n] for n in planned if n.startswith("gmoe_adapter")]
    assert gmoe == sorted(gmoe) and len(set(gmoe)) == 3 and gmoe[0] > params["linear (general, 1k)"]
    assert log.count("(trained in") == 5 and all(f"{n}: scored #" in log for n in planned)
    assert "pixel reference (1k): #" in log and "pixel reference (1k): scored #" in log
    again = _seed(seeded)  # cached: no training, no new submission
    assert again.count("already submitted") == 5 and again.count("(cached checkpoint)") == 5
    assert "training" not in again
    assert Submission.objects.filter(is_baseline=True).count() == 5


def test_a_committed_archive_is_used_when_its_key_matches_and_not_otherwise(
    seeded: Path, data_root: Path
) -> None:
    from reference_models import make_baselines as mb

    committed = seeded / "committed"
    argv = ["--protocols", "1k", "--methods", "linear", "--out", str(committed),
            "--data-root", str(data_root), "--benchmark", BENCH]
    assert mb.main(argv, log=lambda line: None) == 0
    own_epochs = str(recipe_for("linear").epochs)  # the same recipe: the key still matches
    log = _seed(seeded, "--epochs", own_epochs, methods="linear")
    assert log.count("(cached checkpoint)") == 2 and "training" not in log
    assert not list((seeded / "var" / "baselines").glob("*/1k/*.zip"))
    # an index recorded for an older task version no longer matches: that entry is retrained
    index_file = committed / BENCH / "1k" / "index.json"
    index = json.loads(index_file.read_text())
    index["entries"]["linear (medical, 1k)"]["key"]["task_versions"]["tiny-gray"] = "0"
    index_file.write_text(json.dumps(index))
    log = _seed(seeded, "--epochs", own_epochs, methods="linear")
    assert "linear (general, 1k): already submitted" in log
    assert re.search(r"linear \(medical, 1k\): submitted #\d+ \(trained in", log)
    assert list((seeded / "var" / "baselines").glob("*/1k/linear-medical-1k.zip"))


def test_progress_lines_are_written_and_flushed_one_by_one(seeded: Path) -> None:
    out = Recorder()
    call_command(
        "seed_baselines", "--benchmark", BENCH, "--methods", "linear", "--protocols", "1k",
        "--epochs", "1", "--skip-pretrain", "--archives", str(seeded / "committed"), stdout=out,
    )
    lines = [(i, e) for i, e in enumerate(out.events) if e != "<flush>"]
    assert lines and all(LINE.match(e.rstrip("\n")) for _, e in lines)
    assert all(out.events[i + 1] == "<flush>" for i, _ in lines)
    submitted = [m for _, e in lines if (m := SUBMITTED.match(e.rstrip("\n")))]
    assert [(m[1], m[2], m[3]) for m in submitted] == [
        ("1", "2", "linear (general, 1k)"), ("2", "2", "linear (medical, 1k)")]
    text = out.getvalue()
    assert text.index("linear (general, 1k): scored #") > text.index("1/2 linear (general, 1k)")
    assert text.index("1k protocol: all 2 baselines final") > text.index("2/2 linear (medical")
    progress = json.loads((seeded / "var" / "baselines" / "progress.json").read_text())
    assert progress["done"] == progress["total"] == 2 and progress["stage"] == "done"
    assert progress["protocols"] == [
        {"protocol": "1k", "names": ["linear (general, 1k)", "linear (medical, 1k)"]}]


def test_bad_arguments_are_refused_with_a_message(seeded: Path) -> None:
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="--protocols"):
        call_command("seed_baselines", "--benchmark", BENCH, "--protocols", "2k", "--skip-pretrain")
    with pytest.raises(CommandError, match="unknown method"):
        call_command("seed_baselines", "--benchmark", BENCH, "--methods", "lorax", "--skip-pretrain")
    with pytest.raises(CommandError, match="no benchmark"):
        call_command("seed_baselines", "--benchmark", "nope", "--skip-pretrain")
