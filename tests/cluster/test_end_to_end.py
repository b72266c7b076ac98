"""Both tracks through the web host's API, scored on worker hosts, equal to the scoring CLI."""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from tests.cluster.bed import REPO
from tests.cluster.client import Bed, scored_once
from tests.cluster.services import BUCKET, PYTHON, S3_URL
from tests.cluster.stage import BENCH, TASK

pytestmark = pytest.mark.cluster


def cli_score(bed: Bed) -> dict:
    done = subprocess.run(
        [PYTHON, "-m", "evaluator", "score", "--data-root", str(bed.stage.data), "--benchmark",
         BENCH, "--predictions", str(bed.stage.predictions), "--bootstrap", "50", "--json"],
        cwd=REPO, capture_output=True, text=True, check=True, env={"OMP_NUM_THREADS": "1"},
    )
    return dict(json.loads(done.stdout))


def metrics(score: dict) -> dict:
    """Every metric's value and CI, per split, of the one task."""
    return {
        (split, name): (m["value"], m.get("ci_low"), m.get("ci_high"))
        for split, block in score["tasks"][TASK].items() if isinstance(block, dict)
        for name, m in block.items() if isinstance(m, dict) and "value" in m
    }


def bucket_keys() -> list[str]:
    import boto3

    s3 = boto3.client("s3", endpoint_url=S3_URL, aws_access_key_id="bed",
                      aws_secret_access_key="bed-secret", region_name="us-east-1")
    return [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]


def test_both_tracks_are_scored_on_worker_hosts_like_the_cli(healthy: Bed) -> None:
    bed = healthy
    preds = bed.submit_ok(bed.stage.predictions.read_bytes(), method="bed-e2e-preds")
    ckpt = bed.submit_ok(bed.stage.checkpoint.read_bytes(), track="checkpoint")
    rows = bed.wait_final([preds, ckpt], 240)
    for pk, row in rows.items():
        assert scored_once(row), (pk, row["status"], row["error"], row["staff_log"][-2000:])
    assert rows[preds]["worker"] == "cpu@cpu1"
    assert rows[ckpt]["worker"] in ("cpu@gpu1", "cpu@gpu2")
    reference = metrics(cli_score(bed))
    assert reference and metrics(rows[preds]["score_json"]) == reference
    # the checkpoint's own inference on the gpu host gives the same numbers as its predictions
    assert metrics(rows[ckpt]["score_json"]) == reference

    board = bed.http("GET", f"/api/v1/leaderboards/{BENCH}/?all=1")
    assert board.status == 200
    on_board = {int(n) for n in re.findall(rb'"submission_id":\s*(\d+)', board.body)}
    assert {preds, ckpt} <= on_board, (preds, ckpt, board.body[:600])
    page = bed.http("GET", f"/b/{BENCH}/")
    assert page.status == 200 and b"bed-e2e-preds" in page.body

    with bed.cluster.net.inside("client"):
        keys = bucket_keys()
    assert len(keys) >= 2  # the uploads went to the object store ...
    web_files = bed.cluster.run("web", ["bash", "-c", "ls -A var; ls -A var/data; ls -A /tmp"])
    assert "media" not in web_files.split()  # ... and not to a disk of the web host


def test_only_worker_hosts_see_the_hidden_tree(healthy: Bed) -> None:
    cluster = healthy.cluster
    hidden = f"var/data/hidden/{BENCH}/{TASK}"
    probe = ["bash", "-c", f"test -d {hidden} && echo visible || echo absent"]
    assert cluster.run("web", probe).strip() == "absent"
    for worker in ("cpu1", "gpu1", "gpu2"):
        assert cluster.run(worker, probe).strip() == "visible"
    # the web host cannot reach the staging copy either: its /tmp is its own tmpfs
    staged = str(healthy.stage.data / "hidden")
    assert cluster.run("web", ["bash", "-c", f"test -e {staged} && echo yes || echo no"]) == "no\n"
    # and it cannot write the public tree
    assert "Read-only" in cluster.run(
        "web", ["bash", "-c", "touch var/data/public/x 2>&1 || true"]
    )
