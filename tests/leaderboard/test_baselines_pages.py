"""The seeding progress on the home page and the baseline table, both read from the database."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from leaderboard.models import Aggregate, Benchmark, Modality, Status, Submission
from leaderboard.services.baselines import baseline_owner, protocol_progress, write_progress
from reference_models.sweeps import sweep

pytestmark = pytest.mark.django_db

ONE_K = ["linear (general, 1k)", "linear (medical, 1k)", "lora r=8 (general, 1k)"]
FULL = ["linear (general, full)", "linear (medical, full)"]


def _baseline(benchmark: Benchmark, name: str, status: str, protocol: str = "1k",
              **fields: Any) -> Submission:
    return Submission.objects.create(
        owner=baseline_owner(), benchmark=benchmark, track="checkpoint", protocol=protocol,
        method_name=name, status=status, is_baseline=not fields.get("is_reference"), **fields,
    )


def _plan(done: int = 3) -> None:
    write_progress({"stage": "training lora r=8 (general, 1k)", "done": done, "total": 5,
                    "protocols": [{"protocol": "1k", "names": ONE_K},
                                  {"protocol": "full", "names": FULL}]})


def test_home_shows_scored_counts_per_protocol_from_the_database(
    benchmark: Benchmark, client: Client, settings: Any, tmp_path: Any
) -> None:
    settings.VAR_DIR = tmp_path
    assert "seeding-stage" not in client.get("/").content.decode()
    _plan(done=3)  # the file says three submitted; only the database says what is scored
    _baseline(benchmark, ONE_K[0], Status.SUCCEEDED)
    _baseline(benchmark, ONE_K[1], Status.RUNNING)
    _baseline(benchmark, "linear (general, 1k) old name", Status.SUCCEEDED)  # not in the plan
    html = client.get("/").content.decode()
    assert ("Seeding baselines: 1 of 3 scored (1k), 1 running or queued; full protocol queued"
            in html)
    assert "Seeding: training lora r=8 (general, 1k) (3 of 5 submitted)" in html
    Submission.objects.filter(method_name=ONE_K[1]).update(status=Status.SUCCEEDED)
    _baseline(benchmark, ONE_K[2], Status.FAILED, error="boom")
    _baseline(benchmark, FULL[0], Status.QUEUED, protocol="full")
    html = client.get("/").content.decode()
    assert ("Seeding baselines: 2 of 3 scored (1k), 1 failed; 0 of 2 scored (full), "
            "1 running or queued") in html


def test_a_rerun_counts_each_name_once_by_its_latest_submission(
    benchmark: Benchmark, settings: Any, tmp_path: Any
) -> None:
    settings.VAR_DIR = tmp_path
    _plan()
    _baseline(benchmark, ONE_K[0], Status.FAILED)
    _baseline(benchmark, ONE_K[0], Status.SUCCEEDED)  # the retrained archive's submission
    from leaderboard.services.baselines import read_progress

    one_k = protocol_progress(read_progress())[0]
    assert (one_k["submitted"], one_k["scored"], one_k["failed"]) == (1, 1, 0)
    assert protocol_progress(None) == []


def _aggregates(sub: Submission, benchmark: Benchmark, base: float) -> None:
    for i, modality in enumerate(Modality.objects.filter(benchmark=benchmark)):
        Aggregate.objects.create(submission=sub, scope="modality", modality=modality,
                                 test_id=base + i / 100, test_ood=base, ood_gap=i / 100)
    Aggregate.objects.create(submission=sub, scope="overall", test_id=base, test_ood=base - 0.1,
                             ood_gap=0.1)


def test_baseline_table_prints_both_protocols_sweep_rows_and_the_reference(
    benchmark: Benchmark,
) -> None:
    lora = _baseline(benchmark, "lora r=8 (general, 1k)", Status.SUCCEEDED,
                     verified_tunable_params=12_773)
    linear = _baseline(benchmark, "linear (general, 1k)", Status.SUCCEEDED,
                       verified_tunable_params=485)
    full = _baseline(benchmark, "linear (general, full)", Status.SUCCEEDED, protocol="full",
                     verified_tunable_params=485)
    ref = _baseline(benchmark, "pixel logistic regression (16×16, 1k)", Status.SUCCEEDED,
                    is_reference=True)
    _baseline(benchmark, "linear (medical, 1k)", Status.FAILED)
    for sub, base in ((lora, 0.6), (linear, 0.5), (full, 0.55), (ref, 0.7)):
        _aggregates(sub, benchmark, base)
    out = io.StringIO()
    call_command("baseline_table", "--benchmark", benchmark.slug, stdout=out)
    text = out.getvalue()
    one_k, rest = text.split("### `full` protocol")
    rows = [line for line in one_k.splitlines() if line.startswith("| ") and "baseline" not in line]
    assert [r.split(" | ")[0] for r in rows] == [
        "| linear (general, 1k)", "| lora r=8 (general, 1k)",
        "| pixel logistic regression (16×16, 1k) (reference)"]  # sweep order, reference last
    assert "| 12,773 | " in rows[1] and " | 0.600 / 0.500 / 0.100 |" in rows[1]
    assert rows[2].split(" | ")[1] == "n/a"
    assert "Not scored yet: linear (medical, 1k)," in one_k  # the failed one is not scored
    assert "| linear (general, full) | 485 |" in rest
    head = one_k.splitlines()[2]
    assert "X-ray ID / OOD / gap" in head and head.endswith("overall ID / OOD / gap |")


def test_baseline_table_json_for_machines(benchmark: Benchmark) -> None:
    sub = _baseline(benchmark, "linear (general, 1k)", Status.SUCCEEDED, verified_tunable_params=485)
    _aggregates(sub, benchmark, 0.5)
    out = io.StringIO()
    call_command("baseline_table", "--benchmark", benchmark.slug, "--json", stdout=out)
    data = json.loads(out.getvalue())
    assert [p["protocol"] for p in data["protocols"]] == ["1k", "full"]
    (row,) = data["protocols"][0]["rows"]
    assert row["name"] == "linear (general, 1k)" and row["tunable_params"] == 485
    assert row["scopes"]["overall"] == {"test_id": 0.5, "test_ood": 0.4, "gap": 0.1}
    assert set(row["modalities"]) == set(data["modalities"]) == {"xray", "colour", "ct-oct"}
    planned = [e.name for e in sweep(["full"])]
    assert data["protocols"][1]["not_scored"] == planned and data["protocols"][1]["rows"] == []
    with pytest.raises(CommandError, match="no benchmark"):
        call_command("baseline_table", "--benchmark", "nope")
