"""Tasks that accept checkpoints only form their own board: a complete predictions entry ranks on
the overall and modality boards, which average the tasks open to both tracks and say so, and an
entry's mean over every task it entered stays visible in its row and on its page."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.core.management import call_command
from django.test import Client

from evaluator import EVALUATOR_VERSION
from leaderboard.models import Benchmark, BoardEntry, Submission
from leaderboard.services.boards import recompute
from leaderboard.services.registration import sync_benchmark
from tests.browser.seed import make_score, scored_submission
from tests.factories import write_tiny_task
from tests.leaderboard.conftest import make_user

pytestmark = pytest.mark.django_db
BOTH = ("tiny-cxr", "tiny-derm", "tiny-oct")
ONLY = "tiny-ct"  # ct-oct, like tiny-oct, but its test images are hidden
BOARD = "/b/tiny-bench/~checkpoint-only/"


@pytest.fixture(autouse=True)
def _media(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def bench(tiny_bundles: Path) -> Benchmark:
    write_tiny_task(tiny_bundles, ONLY, modality="ct-oct", test_images_public=False)
    sync_benchmark(tiny_bundles, "tiny-bench")
    return Benchmark.objects.get(slug="tiny-bench")


def _add(bench: Benchmark, root: Path, name: str, values: dict[str, float], **kw: Any) -> Any:
    score = make_score(root, {s: (v, v - 0.1) for s, v in values.items()}, seed=len(name))
    return scored_submission(make_user(name), bench, score, method_name=name, **kw)


@pytest.fixture
def entries(bench: Benchmark, tiny_bundles: Path) -> dict[str, Any]:
    preds = _add(bench, tiny_bundles, "preds", dict.fromkeys(BOTH, 0.7))
    ckpt = _add(
        bench, tiny_bundles, "ckpt", dict.fromkeys(BOTH, 0.6) | {ONLY: 0.9}, track="checkpoint"
    )
    recompute(bench)
    return {"preds": preds, "ckpt": ckpt}


def _ranked(client: Client, url: str) -> list[tuple[str, str]]:
    html = client.get(url).content.decode()
    table = html.split('id="board-table"', 1)[1].split("</table>", 1)[0]
    return re.findall(r'data-submission="(\d+)".*?data-col="rank">([^<\s]+)', table, flags=re.S)


def test_a_complete_predictions_entry_ranks_overall_and_on_its_modalities(
    entries: dict[str, Any], client: Client
) -> None:
    preds, ckpt = entries["preds"], entries["ckpt"]
    assert preds.complete and preds.score_json["all_tasks"]["complete"] is False
    for url in ("/b/tiny-bench/", "/b/tiny-bench/ct-oct/", "/b/tiny-bench/xray/"):
        assert _ranked(client, url) == [(str(preds.pk), "1"), (str(ckpt.pk), "2")], url
    html = client.get("/b/tiny-bench/").content.decode()
    assert "incomplete-table" not in html
    scope = html.split('id="board-scope"', 1)[1].split("</p>", 1)[0]
    assert "3 tasks open to both tracks" in scope and ONLY in scope
    assert f'href="{BOARD}"' in scope
    assert f'data-sort-key="task:{ONLY}"' not in html  # not a column of a board it is not in
    # the checkpoint-only board: its task only, the checkpoint entry only
    only = client.get(BOARD).content.decode()
    assert _ranked(client, BOARD) == [(str(ckpt.pk), "1")]
    assert f'data-sort-key="task:{ONLY}"' in only and 'data-sort-key="task:tiny-cxr"' not in only
    assert "accepts checkpoints only" in only.split('id="board-scope"', 1)[1].split("</p>")[0]
    assert client.get(BOARD + "charts/").status_code == 200


def test_every_task_entered_stays_visible_in_the_row_and_on_the_submission_page(
    entries: dict[str, Any], client: Client
) -> None:
    preds, ckpt = entries["preds"], entries["ckpt"]
    mean = ckpt.score_json["all_tasks"]["test_id"]
    assert mean == pytest.approx(np.mean([0.6, 0.6, 0.6, 0.9]))
    assert ckpt.score_json["overall"]["test_id"] == pytest.approx(0.6)
    html = client.get("/b/tiny-bench/").content.decode()
    row = re.search(rf'<tr data-submission="{ckpt.pk}".*?</tr>', html, flags=re.S)
    assert row is not None and f"all entered: {mean:.4f}" in row.group(0)
    other = re.search(rf'<tr data-submission="{preds.pk}".*?</tr>', html, flags=re.S)
    assert other is not None and "all entered" not in other.group(0)  # it entered no more
    exported = client.get("/b/tiny-bench/export.json").json()
    by_sub = {r["submission_id"]: r for r in exported["rows"]}
    assert by_sub[ckpt.pk]["all_tasks.test_id"] == pytest.approx(mean)
    assert by_sub[preds.pk]["all_tasks.test_id"] is None
    page = client.get(f"/submissions/{ckpt.pk}/").content.decode()
    table = page.split('id="aggregates"', 1)[1].split("</table>", 1)[0]
    assert "Every task entered" in table and "Checkpoint-only tasks" in table
    assert f"{mean:.4f}" in table and "0.9000" in table


def test_checkpoint_only_exports_api_and_task_pages(
    entries: dict[str, Any], client: Client
) -> None:
    preds, ckpt = entries["preds"], entries["ckpt"]
    rows = list(csv.DictReader(io.StringIO(client.get(BOARD + "export.csv").content.decode())))
    assert [r["submission_id"] for r in rows] == [str(ckpt.pk)]
    assert float(rows[0][f"{ONLY}.test_id.accuracy"]) == pytest.approx(0.9)
    assert client.get(BOARD + "export.json").json()["board"] == "~checkpoint-only"
    api = client.get("/api/v1/leaderboards/tiny-bench/?board=checkpoint-only").json()
    assert api["board"] == "~checkpoint-only" and api["tasks"] == [ONLY]
    assert [r["submission_id"] for r in api["results"]] == [ckpt.pk]
    overall = client.get("/api/v1/leaderboards/tiny-bench/").json()
    assert [r["submission_id"] for r in overall["results"]] == [preds.pk, ckpt.pk]
    for bad in ("board=checkpoint-only&modality=xray", "board=bogus"):
        response = client.get(f"/api/v1/leaderboards/tiny-bench/?{bad}")
        assert response.status_code == 400 and "board" in response.content.decode(), bad
    # each task page ranks from the board that averages the task, one row per entry
    ct_page = client.get(f"/tasks/{ONLY}/").content.decode()
    assert ct_page.count(">ckpt</a>") == 1 and ">preds</a>" not in ct_page
    cxr_page = client.get("/tasks/tiny-cxr/").content.decode()
    assert cxr_page.count(">ckpt</a>") == 1 and cxr_page.count(">preds</a>") == 1
    assert client.get("/methods/lora/").content.decode().count(">ckpt</a>") == 1
    assert BoardEntry.objects.filter(submission=ckpt).count() == 5  # overall, 3 modalities, ckpt


def test_a_modality_named_like_the_board_keeps_its_own_board(
    bench: Benchmark, tiny_bundles: Path, client: Client
) -> None:
    write_tiny_task(tiny_bundles, "tiny-odd", modality="checkpoint-only")
    sync_benchmark(tiny_bundles, "tiny-bench")
    sub = _add(bench, tiny_bundles, "odd", dict.fromkeys((*BOTH, "tiny-odd", ONLY), 0.5))
    recompute(bench)
    modality = client.get("/b/tiny-bench/checkpoint-only/").content.decode()
    assert 'data-sort-key="task:tiny-odd"' in modality and f"task:{ONLY}" not in modality
    board = client.get(BOARD).content.decode()
    assert f'data-sort-key="task:{ONLY}"' in board and "task:tiny-odd" not in board
    assert _ranked(client, BOARD) == [(str(sub.pk), "1")]


def test_no_checkpoint_only_board_without_such_tasks(benchmark: Benchmark, client: Client) -> None:
    assert client.get(BOARD).status_code == 404
    assert client.get("/api/v1/leaderboards/tiny-bench/?board=checkpoint-only").status_code == 404
    assert "board-scope" in client.get("/b/tiny-bench/").content.decode()
    assert "checkpoint-only-link" not in client.get("/b/tiny-bench/").content.decode()


def test_rescore_picks_up_scores_of_the_earlier_aggregate_rule(
    entries: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    old, current = entries["preds"], entries["ckpt"]
    Submission.objects.filter(pk=old.pk).update(evaluator_version="1.0.0")
    versions = {t.slug: t.version for t in old.benchmark.tasks.all()}
    Submission.objects.filter(pk=current.pk).update(
        evaluator_version=EVALUATOR_VERSION, task_versions=versions
    )
    call_command("rescore", "--dry-run")
    assert f"would re-score 1 submission(s): [{old.pk}]" in capsys.readouterr().out
