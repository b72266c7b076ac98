"""Worker hosts failing: lost with their processes, cut off from db, or with a wrong clock."""

from __future__ import annotations

import time

import pytest

from tests.cluster.client import Bed, scored_once
from tests.cluster.services import skewed_clock, wait_for

pytestmark = pytest.mark.cluster
PARTITION_S = 30
SKEW = "-10m"  # the skewed host's clock runs ten minutes behind the database's


def running_on_gpu_host(bed: Bed, pk: int) -> str:
    """Wait until a gpu host has claimed it; the host's name."""
    wait_for(lambda: bed.row(pk)["status"] == "running", 60, f"submission {pk} running")
    worker = bed.row(pk)["worker"]
    assert worker in ("cpu@gpu1", "cpu@gpu2"), worker
    return worker.split("@")[1]


def heartbeat(bed: Bed, node: str) -> tuple[str, float]:
    """(incarnation, age in s on the database's clock) of a worker's heartbeat."""
    rows = bed.sql("SELECT incarnation, extract(epoch FROM now() - last_seen) "
                   "FROM leaderboard_workerheartbeat WHERE hostname = %s", node)
    assert rows, f"no heartbeat row for {node}"
    return str(rows[0][0]), float(rows[0][1])


def test_a_worker_host_lost_mid_evaluation_is_completed_once_by_another(healthy: Bed) -> None:
    bed = healthy
    pk = bed.submit_ok(bed.stage.checkpoint.read_bytes(), track="checkpoint")
    lost = running_on_gpu_host(bed, pk)
    started = time.monotonic()
    bed.cluster.kill_host(lost)  # link cut, every process of the host killed
    row = bed.wait_final([pk], 120)[pk]
    took = time.monotonic() - started
    survivor = "gpu2" if lost == "gpu1" else "gpu1"
    assert scored_once(row), (row["status"], row["error"], row["staff_log"][-1500:])
    assert row["worker"] == f"cpu@{survivor}" and row["attempts"] == 2
    assert "reaped from worker" in row["staff_log"]
    print(f"\nhost {lost} lost: submission {pk} completed on {survivor} {took:.1f} s later")


def test_a_partition_between_a_worker_host_and_db_loses_and_duplicates_nothing(
    healthy: Bed,
) -> None:
    bed = healthy
    pk = bed.submit_ok(bed.stage.checkpoint.read_bytes(), track="checkpoint")
    cut = running_on_gpu_host(bed, pk)
    node = f"cpu@{cut}"
    service = bed.cluster.services[f"{cut}/celery"]
    pid, (incarnation, _) = service.main_pid(), heartbeat(bed, node)
    bed.cluster.net.link(cut, up=False)
    time.sleep(PARTITION_S)
    bed.cluster.net.link(cut, up=True)
    row = bed.wait_final([pk], 180)[pk]
    assert scored_once(row), (row["status"], row["user_log"][-1500:], row["staff_log"][-1500:])
    # the cut-off worker recovers by itself: same process, same incarnation, beating again
    wait_for(lambda: heartbeat(bed, node)[1] < 3, 90, f"{node} to beat again")
    assert service.running() and service.main_pid() == pid
    assert heartbeat(bed, node)[0] == incarnation
    # ... and takes work again: two checkpoints at once go one to each gpu host
    pair = [bed.submit_ok(bed.stage.checkpoint.read_bytes(), track="checkpoint") for _ in "ab"]
    rows = bed.wait_final(pair, 180)
    assert all(scored_once(r) for r in rows.values())
    assert {r["worker"] for r in rows.values()} == {"cpu@gpu1", "cpu@gpu2"}
    # once all has settled, the cut-off worker's late outcome has not overwritten the result
    late = bed.row(pk)
    assert scored_once(late) and not late["error"], (late["status"], late["user_log"][-1500:])


def test_a_worker_host_with_a_skewed_clock_keeps_its_live_submission(healthy: Bed) -> None:
    bed = healthy
    cluster = bed.cluster
    clock = skewed_clock(SKEW, bed.stage.root)
    if not clock:
        pytest.skip("libfaketime or a C compiler missing: apt-get install faketime gcc "
                    "(.ci/run installs faketime)")
    skewed = {**clock, "MEDVTAB_EVALUATION_DELAY_S": "12"}
    host_clock = cluster.run("gpu1", ["date", "+%s"], env={"PATH": "/usr/bin:/bin", **skewed})
    db_clock = bed.sql("SELECT extract(epoch FROM now())")[0][0]
    assert float(db_clock) - int(host_clock) > 540  # gpu1 really is ten minutes behind
    cluster.services["gpu1/celery"].stop()
    cluster.services["gpu2/celery"].stop()  # gpu1 alone takes the next checkpoint
    cluster.start_worker("gpu1", **skewed)
    wait_for(lambda: heartbeat(bed, "cpu@gpu1")[1] < 3, 60, "the skewed worker's heartbeat")
    pk = bed.submit_ok(bed.stage.checkpoint.read_bytes(), track="checkpoint")
    assert running_on_gpu_host(bed, pk) == "gpu1"
    cluster.start_worker("gpu2")  # a taker, if the reaper wrongly declared gpu1's claim dead
    row = bed.wait_final([pk], 120)[pk]
    assert scored_once(row), (row["status"], row["staff_log"][-1500:])
    assert row["worker"] == "cpu@gpu1" and row["attempts"] == 1
    assert "reaped" not in row["staff_log"]
    cluster.services["gpu1/celery"].stop()
    cluster.start_worker("gpu1")  # back to the host's true clock for the tests after this one
