"""A bounded mixed load from the client host while a worker host is killed: no 5xx, and every
accepted submission ends final (and succeeded, scored once)."""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from tests.cluster.bed import ROOT
from tests.cluster.client import Bed, scored_once
from tests.cluster.services import PYTHON, app_env

pytestmark = pytest.mark.cluster
DURATION_S = 60
KILL_AT_S = 20


def test_mixed_load_while_a_worker_host_is_killed(healthy: Bed) -> None:
    bed = healthy
    cluster = bed.cluster
    argv = [PYTHON, "-m", "tests.cluster.load_client", "--payloads", str(ROOT / "var" / "payloads"),
            "--token", bed.tokens[1], "--duration", str(DURATION_S)]
    load = subprocess.Popen([*cluster.net.hosts["client"].enter(), *argv], env=app_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(KILL_AT_S)
    cluster.kill_host("gpu1")
    out, err = load.communicate(timeout=DURATION_S + 60)
    assert load.returncode == 0, err[-3000:]
    summary = json.loads(out.strip().splitlines()[-1])
    accepted = [int(pk) for pk in summary["accepted"]]
    assert summary["status_5xx"] == 0, summary["problems"]
    assert summary["no_response"] == 0, summary["problems"]
    assert accepted, summary
    started = time.monotonic()
    rows = bed.wait_final(accepted, 300)
    drained = time.monotonic() - started
    bad = {pk: (r["status"], r["error"][:200]) for pk, r in rows.items() if not scored_once(r)}
    assert not bad, bad
    reads = summary["read_latency_ms"]
    print(f"\nload: {summary['requests']} requests in {summary['elapsed_s']} s, "
          f"{len(accepted)} submissions accepted, read p50 {reads.get('p50')} ms "
          f"p95 {reads.get('p95')} ms, 5xx {summary['status_5xx']}, 4xx "
          f"{summary['unexpected_4xx']}; all final {drained:.1f} s after the load ended")
