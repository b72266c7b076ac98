"""The shared services failing: Redis restarted empty, PostgreSQL restarted, the store cut off."""

from __future__ import annotations

import signal
import time
import uuid

import pytest

from tests.cluster.client import Bed, Reply, scored_once
from tests.cluster.services import DB, wait_for
from tests.cluster.stage import BENCH

pytestmark = pytest.mark.cluster
QUEUED = 20
DB_DOWN_S = 10


def test_redis_restarted_empty_with_20_queued_all_succeed_after_the_reaper(healthy: Bed) -> None:
    bed = healthy
    cluster = bed.cluster
    cluster.services["cpu1/celery"].stop()  # nothing consumes the cpu queue: they stay queued
    pks = [bed.submit_ok(bed.stage.random_predictions(seed), method=f"queued-{seed}")
           for seed in range(QUEUED)]
    wait_for(lambda: all(bed.row(pk)["status"] == "queued" for pk in pks), 30, "all queued")
    redis = ["redis-cli", "-h", DB, "llen", "cpu"]
    assert int(cluster.run("db", redis, env={"PATH": "/usr/bin:/bin"})) >= QUEUED
    cluster.restart("db/redis")  # SIGKILL, then a new server with nothing on disk to load
    wait_for(lambda: "PONG" in cluster.run("db", ["redis-cli", "-h", DB, "ping"],
                                           env={"PATH": "/usr/bin:/bin"}), 20, "Redis back")
    assert int(cluster.run("db", redis, env={"PATH": "/usr/bin:/bin"})) == 0  # messages lost
    started = time.monotonic()
    cluster.start_worker("cpu1")
    rows = bed.wait_final(pks, 240)
    took = time.monotonic() - started
    bad = {pk: (r["status"], r["error"]) for pk, r in rows.items() if not scored_once(r)}
    assert not bad, bad
    assert all(r["attempts"] == 1 for r in rows.values())
    print(f"\n{QUEUED} lost messages re-sent and scored {took:.1f} s after the worker returned")


def _probe(bed: Bed, pk: int) -> dict[str, Reply | None]:
    auth = {"Authorization": f"Bearer {bed.tokens[0]}"}
    paths = {"readyz": ("/readyz", {}), "healthz": ("/healthz", {}),
             "status": (f"/api/v1/submissions/{pk}/", auth), "board": (f"/b/{BENCH}/", {}),
             "api board": (f"/api/v1/leaderboards/{BENCH}/", {})}
    replies: dict[str, Reply | None] = {}
    for name, (path, headers) in paths.items():
        try:
            replies[name] = bed.http("GET", path, headers=headers, timeout=15)
        except OSError:
            replies[name] = None  # no answer at all would be a failure too (asserted below)
    return replies


def test_postgres_restart_gives_503s_not_500s_and_in_flight_work_completes(healthy: Bed) -> None:
    bed = healthy
    cluster = bed.cluster
    ckpt = bed.submit_ok(bed.stage.checkpoint.read_bytes(), track="checkpoint")
    preds = bed.submit_ok(bed.stage.random_predictions(99), method="during-db-restart")
    wait_for(lambda: bed.row(ckpt)["status"] == "running", 60, "the checkpoint running")
    bed.close()
    postgres = cluster.services["db/postgres"]
    postgres.stop(signal.SIGINT)  # fast shutdown: sessions end, as in a real restart
    seen: list[tuple[str, int]] = []
    unavailable = []
    deadline = time.monotonic() + DB_DOWN_S
    while time.monotonic() < deadline:
        for name, reply in _probe(bed, ckpt).items():
            assert reply is not None, f"{name}: no answer while the database was down"
            seen.append((name, reply.status))
            if name == "readyz" and reply.status == 503:
                unavailable.append(reply.json())
        time.sleep(0.5)
    postgres.start()
    assert unavailable, "readyz never said 503 while the database was down"
    assert all(body["checks"]["database"] == {"ok": False, "error": "database unreachable"}
               for body in unavailable)
    server_errors = [(n, s) for n, s in seen if s >= 500 and s != 503]
    assert not server_errors, server_errors
    assert ("status", 503) in seen and ("healthz", 200) in seen
    rows = bed.wait_final([ckpt, preds], 180)
    assert all(scored_once(r) for r in rows.values()), {k: r["status"] for k, r in rows.items()}
    wait_for(lambda: bed.http("GET", "/readyz").status == 200, 60, "readyz 200 again")


def test_store_unreachable_gives_a_clear_503_and_a_retry_with_the_key_succeeds_once(
    healthy: Bed,
) -> None:
    bed = healthy
    payload = bed.stage.random_predictions(7)
    key = f"store-{uuid.uuid4().hex}"
    bed.cluster.net.link("store", up=False)
    try:
        started = time.monotonic()
        refused = bed.submit(payload, key=key, method="store-cut")
        took = time.monotonic() - started
    finally:
        bed.cluster.net.link("store", up=True)
    assert refused.status == 503, (refused.status, refused.body[:300])
    body = refused.json()
    assert body["code"] == "storage_unavailable" and "try again" in body["detail"]
    assert "retry-after" in refused.headers
    assert not bed.sql("SELECT id FROM leaderboard_submission WHERE idempotency_key = %s", key)
    first = bed.submit(payload, key=key, method="store-cut")
    again = bed.submit(payload, key=key, method="store-cut")
    assert (first.status, again.status) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    rows = bed.sql("SELECT id FROM leaderboard_submission WHERE idempotency_key = %s", key)
    assert len(rows) == 1
    assert scored_once(bed.wait_final([rows[0][0]], 60)[rows[0][0]])
    print(f"\nupload with the store cut off: 503 after {took:.1f} s")
