"""The bed's bounded mixed load, run on the client host: readers and submitters for --duration s.

Reuses the reader, recorder and summary of benchmarks/load_test.py; its submitters alternate
predictions (cpu queue) and checkpoints (gpu queue). Prints one JSON object: the summary plus the
accepted submission ids.

    python -m tests.cluster.load_client --payloads DIR --token T [--duration 60]
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import random
import threading
import time
import uuid
from pathlib import Path

import benchmarks.load_test as lt
from tests.cluster.services import WEB, WEB_PORT
from tests.cluster.stage import BENCH, TASK

PATHS = [
    ("home", lambda r: "/"),
    ("board", lambda r: f"/b/{BENCH}/"),
    ("api leaderboard", lambda r: f"/api/v1/leaderboards/{BENCH}/"),
    ("api tasks", lambda r: "/api/v1/tasks/"),
    ("task page", lambda r: f"/tasks/{TASK}/"),
    ("healthz", lambda r: "/healthz"),
]


def submit(token: str, payload: bytes, track: str, seed: int) -> tuple[int, bytes, float]:
    fields = {"benchmark": BENCH, "track": track, "sha256": hashlib.sha256(payload).hexdigest(),
              "idempotency_key": f"load-{uuid.uuid4().hex}"}
    if track == "predictions":
        fields["method_name"] = f"load-{seed}"
    body, ctype = lt.multipart(fields, f"{track}.zip", payload)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": ctype}
    return lt.request(WEB_PORT, "POST", "/api/v1/submissions/", body, headers)


def submitter(stop_at: float, token: str, payloads: dict[str, bytes], rec: lt.Recorder,
              seed: int) -> None:
    rng = random.Random(seed)
    tracks = ["predictions", "checkpoint"] if seed % 2 else ["checkpoint", "predictions"]
    turn = 0
    while time.monotonic() < stop_at:
        track = tracks[turn % 2]
        turn += 1
        try:
            status, body, ms = submit(token, payloads[track], track, seed)
            pk = json.loads(body)["id"] if status == 201 else None
            detail = "" if pk else body[:300].decode(errors="replace")
            rec.add(lt.Sample("submit", f"api submit {track}", status, ms, detail), pk)
        except (OSError, http.client.HTTPException, ValueError, KeyError) as exc:
            rec.add(lt.Sample("submit", f"api submit {track}", 0, lt.REQUEST_TIMEOUT_S * 1000,
                              repr(exc)))
        time.sleep(min(rng.uniform(2.0, 5.0), max(0.0, stop_at - time.monotonic())))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payloads", type=Path, required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--duration", type=float, default=60)
    parser.add_argument("--readers", type=int, default=4)
    parser.add_argument("--submitters", type=int, default=2)
    args = parser.parse_args()
    lt.HOST = WEB  # the load test's helpers talk to this host
    payloads = {"predictions": (args.payloads / "predictions.zip").read_bytes(),
                "checkpoint": (args.payloads / "adapter.zip").read_bytes()}
    rec = lt.Recorder()
    start = time.monotonic()
    stop_at = start + args.duration
    threads = [threading.Thread(target=lt.reader, args=(WEB_PORT, stop_at, PATHS, rec, i))
               for i in range(args.readers)]
    threads += [threading.Thread(target=submitter, args=(stop_at, args.token, payloads, rec, i))
                for i in range(args.submitters)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=args.duration + lt.REQUEST_TIMEOUT_S + 10)
    summary = lt.summarise(rec, time.monotonic() - start)
    print(json.dumps({**summary, "accepted": rec.accepted}))


if __name__ == "__main__":
    main()
