"""Bounded load test of the production stack on loopback (see docs/performance.md).

Builds its own stack on this machine and tears it down afterwards, even on error:

- a fresh PostgreSQL database (``psql -h 127.0.0.1 -U postgres``), dropped at the end;
- a private ``redis-server`` on a free loopback port without persistence (broker on db 0,
  the shared cache for throttles and boards on db 1);
- a data root with the synthetic benchmark (``create_demo_benchmark --scale 0.2 --image-size 32``),
  migrations, quota-exempt verified load-test accounts with ``submit`` tokens;
- gunicorn and a Celery worker started through ``docker/entrypoint.sh`` (``web``, ``worker-cpu``),
  ``DEBUG=0``, bound to 127.0.0.1;
- a few seeded, scored submissions so that the boards have rows.

Then, for ``--duration`` seconds, ``--readers`` threads read pages and the API with 0.2-1 s think
time and ``--submitters`` threads post predictions archives (sha256 + idempotency key) with
2-5 s think time. Afterwards it waits (bounded) until every accepted submission is final and
prints a JSON summary (also written to ``--json``).

    python benchmarks/load_test.py [--duration 60] [--readers 50] [--submitters 10] [--json F]

With two or more CPUs, gunicorn runs under ``taskset -c <last CPU>`` and the load generator's
threads on the first CPU (``--web-cpus``, ``--generator-cpus``, ``--no-pin``), so that the clients
do not take CPU from the server they measure.

Targets (hardening issue, item 6): 0 5xx, 0 unexpected 4xx, read p95 <= 250 ms, every accepted
submission final. The API throttles are raised for the run (see RATES) so that the 50 readers,
who share one client address, are not counted as throttled; a 429 would still be reported.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import http.client
import io
import json
import os
import platform
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from datasets.bundle import list_tasks  # noqa: E402
from datasets.export import public_test_image_ids  # noqa: E402

BENCHMARK = "med-vtab-mini"
HOST = "127.0.0.1"
REQUEST_TIMEOUT_S = 10.0
RATES = {  # far above what the test can send: throttling is not what is measured here
    "MEDVTAB_API_ANON_RATE": "1000000/min",
    "MEDVTAB_API_USER_RATE": "1000000/min",
    "MEDVTAB_API_UPLOAD_RATE": "1000000/hour",
}
MODALITIES = ("colour", "xray", "ct-oct")
FINAL = ("succeeded", "failed", "cancelled")


# --- processes -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def port_open(port: int) -> bool:
    with socket.create_connection((HOST, port), timeout=1):
        return True


class Processes:
    """Long-running children, each in its own process group so that teardown kills all of it."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.procs: list[subprocess.Popen[bytes]] = []
        self.named: dict[str, subprocess.Popen[bytes]] = {}

    def spawn(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        with open(self.logs / f"{name}.log", "ab") as out:
            proc = subprocess.Popen(
                argv, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.procs.append(proc)
        self.named[name] = proc
        return proc

    def stop(self) -> None:
        for proc in self.procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for proc in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # the group, in case a child outlived it
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)


def group_cpu(pgid: int) -> tuple[float, float]:
    """(CPU seconds used, seconds spent runnable but waiting for a CPU) so far by a process
    group; the CPU time includes reaped children, the run-queue wait only live threads."""
    tick = os.sysconf("SC_CLK_TCK")
    used, waited = 0, 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) != pgid:  # fields[2] is the pgrp; utime.. cstime are 11-14
                continue
            used += sum(int(x) for x in fields[11:15])
            for task in (entry / "task").iterdir():  # schedstat: run ns, run-queue wait ns, n
                waited += int((task / "schedstat").read_text().split()[1])
    return used / tick, waited / 1e9


def psql(sql: str, db: str = "postgres") -> str:
    argv = ["psql", "-h", HOST, "-U", "postgres", "-d", db, "-v", "ON_ERROR_STOP=1", "-At", "-c", sql]
    return subprocess.run(argv, check=True, capture_output=True, text=True, timeout=60).stdout


def manage(env: dict[str, str], *args: str, timeout: float = 600) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=REPO, env=env, capture_output=True, text=True,
        timeout=timeout,
    )
    if done.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return done.stdout


def wait_until(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, http.client.HTTPException):
            if predicate():
                return
        time.sleep(0.5)
    raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")


ACCOUNTS_SCRIPT = """
import io, json
from django.contrib.auth import get_user_model
from django.core.management import call_command
from leaderboard.models import Profile
tokens = []
for i in range({n}):
    name = f"loadtest-{{i}}"
    user = get_user_model().objects.create_user(name, f"{{name}}@example.org", password=None)
    Profile.objects.filter(user=user).update(email_verified=True, quota_exempt=True)
    out = io.StringIO()
    call_command("create_api_token", name, name="load test", stdout=out, stderr=io.StringIO())
    tokens.append(out.getvalue().strip())
print("TOKENS=" + json.dumps(tokens))
"""


def create_accounts(env: dict[str, str], n: int) -> list[str]:
    out = manage(env, "shell", "-c", ACCOUNTS_SCRIPT.format(n=n))
    line = next(x for x in out.splitlines() if x.startswith("TOKENS="))
    return list(json.loads(line.removeprefix("TOKENS=")))


# --- HTTP ------------------------------------------------------------------------------------


@dataclass
class Sample:
    kind: str  # read | submit
    name: str  # endpoint label
    status: int  # 0: no response (connection error or timeout)
    ms: float
    detail: str = ""


@dataclass
class Recorder:
    samples: list[Sample] = field(default_factory=list)
    accepted: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, sample: Sample, accepted: int | None = None) -> None:
        with self.lock:
            self.samples.append(sample)
            if accepted is not None:
                self.accepted.append(accepted)


def request(
    port: int, method: str, path: str, body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, bytes, float]:
    conn = http.client.HTTPConnection(HOST, port, timeout=REQUEST_TIMEOUT_S)
    start = time.perf_counter()
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, data, (time.perf_counter() - start) * 1000
    finally:
        conn.close()


def multipart(fields: dict[str, str], filename: str, payload: bytes) -> tuple[bytes, str]:
    boundary = f"----medvtab{uuid.uuid4().hex}"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        "Content-Type: application/zip\r\n\r\n".encode() + payload + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def submit(port: int, token: str, payload: bytes, method: str) -> tuple[int, bytes, float]:
    fields = {
        "benchmark": BENCHMARK, "track": "predictions", "method_name": method,
        "method_family": "load-test", "sha256": hashlib.sha256(payload).hexdigest(),
        "idempotency_key": f"load-{uuid.uuid4().hex}",
    }
    body, ctype = multipart(fields, "predictions.zip", payload)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": ctype}
    return request(port, "POST", "/api/v1/submissions/", body, headers)


# --- predictions -----------------------------------------------------------------------------


def _rows(rng: np.random.Generator, label_type: str, n: int, k: int) -> np.ndarray:
    if label_type == "multilabel":
        return np.round(rng.uniform(0.01, 0.99, size=(n, k)), 6)
    probs = np.round(rng.dirichlet(np.ones(k), size=n), 6)
    probs[:, -1] = np.clip(np.round(1.0 - probs[:, :-1].sum(axis=1), 6), 0.0, 1.0)
    return probs


def prediction_zips(data_root: Path, count: int, seed: int) -> list[bytes]:
    """Distinct valid predictions archives: random probabilities for every public test id."""
    metas = [m for m in list_tasks(data_root, BENCHMARK) if m.test_images_public]
    ids = {m.slug: public_test_image_ids(data_root, m) for m in metas}
    zips = []
    for i in range(count):
        rng = np.random.default_rng(seed + i)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for meta in metas:
                probs = _rows(rng, meta.label_type, len(ids[meta.slug]), meta.num_classes)
                lines = [",".join(["image_id", *meta.classes])]
                lines += [
                    ",".join([image_id, *(f"{p:.6f}" for p in row)])
                    for image_id, row in zip(ids[meta.slug], probs, strict=True)
                ]
                archive.writestr(f"{meta.slug}.csv", "\n".join(lines) + "\n")
        zips.append(buffer.getvalue())
    return zips


# --- load ------------------------------------------------------------------------------------


def read_paths(task_slugs: list[str]) -> list[tuple[str, Any]]:
    board = f"/b/{BENCHMARK}/"
    return [
        ("home", lambda r: "/"),
        ("board", lambda r: board),
        ("modality board", lambda r: f"{board}{r.choice(MODALITIES)}/"),
        ("board export.json", lambda r: f"{board}export.json"),
        ("api leaderboard", lambda r: f"/api/v1/leaderboards/{BENCHMARK}/"),
        ("api tasks", lambda r: "/api/v1/tasks/"),
        ("task page", lambda r: f"/tasks/{r.choice(task_slugs)}/"),
        ("healthz", lambda r: "/healthz"),
    ]


def reader(port: int, stop_at: float, paths: list[tuple[str, Any]], rec: Recorder, seed: int) -> None:
    rng = random.Random(seed)
    time.sleep(rng.uniform(0, 1.0))  # spread the start
    while time.monotonic() < stop_at:
        name, make = rng.choice(paths)
        path = make(rng)
        try:
            status, body, ms = request(port, "GET", path)
            detail = "" if status < 400 else f"{path}: {body[:200]!r}"
            rec.add(Sample("read", name, status, ms, detail))
        except (OSError, http.client.HTTPException) as exc:
            rec.add(Sample("read", name, 0, REQUEST_TIMEOUT_S * 1000, f"{path}: {exc!r}"))
        time.sleep(min(rng.uniform(0.2, 1.0), max(0.0, stop_at - time.monotonic())))


def submitter(
    port: int, stop_at: float, token: str, zips: list[bytes], rec: Recorder, seed: int,
    think: tuple[float, float],
) -> None:
    rng = random.Random(seed)
    time.sleep(rng.uniform(0, think[0]))
    while time.monotonic() < stop_at:
        try:
            status, body, ms = submit(port, token, rng.choice(zips), f"load-{seed}")
            pk = json.loads(body)["id"] if status == 201 else None
            rec.add(Sample("submit", "api submit", status, ms, "" if pk else body[:300].decode()), pk)
        except (OSError, http.client.HTTPException, ValueError, KeyError) as exc:
            rec.add(Sample("submit", "api submit", 0, REQUEST_TIMEOUT_S * 1000, repr(exc)))
        time.sleep(min(rng.uniform(*think), max(0.0, stop_at - time.monotonic())))


def run_load(
    port: int, args: argparse.Namespace, tokens: list[str], zips: list[bytes], tasks: list[str]
) -> tuple[Recorder, float]:
    rec = Recorder()
    if args.generator_cpus:
        # this thread only (Linux): the reader and submitter threads started below inherit it
        os.sched_setaffinity(0, cpu_list(args.generator_cpus))
    start = time.monotonic()
    stop_at = start + args.duration
    paths = read_paths(tasks)
    threads = [
        threading.Thread(target=reader, args=(port, stop_at, paths, rec, i), daemon=True)
        for i in range(args.readers)
    ] + [
        threading.Thread(
            target=submitter,
            args=(port, stop_at, tokens[i % len(tokens)], zips, rec, 1000 + i, (2.0, 5.0)),
            daemon=True,
        )
        for i in range(args.submitters)
    ]
    for t in threads:
        t.start()
    hard_stop = stop_at + REQUEST_TIMEOUT_S + 5
    for t in threads:
        t.join(timeout=max(0.1, hard_stop - time.monotonic()))
    return rec, time.monotonic() - start


def unloaded(port: int, paths: list[tuple[str, Any]], repeats: int) -> dict[str, Any]:
    """Service time with one client and nothing else running: what each endpoint costs."""
    rng = random.Random(0)
    out = {}
    for name, make in paths:
        ms = []
        for _ in range(repeats):
            status, _, elapsed = request(port, "GET", make(rng))
            if status == 200:
                ms.append(elapsed)
        out[name] = {"requests": len(ms), **percentiles(ms)}
    return out


def statuses(db: str, ids: list[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = psql(
        f"SELECT id, status FROM leaderboard_submission WHERE id IN ({','.join(map(str, ids))})", db
    )
    return {int(a): b for a, b in (line.split("|") for line in rows.splitlines() if line)}


def wait_final(db: str, ids: list[int], timeout: float) -> tuple[dict[int, str], float]:
    start = time.monotonic()
    while True:
        current = statuses(db, ids)
        if all(s in FINAL for s in current.values()) or time.monotonic() - start > timeout:
            return current, time.monotonic() - start
        time.sleep(2)


# --- report ----------------------------------------------------------------------------------


def percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None, "p99": None, "max": None}
    arr = np.asarray(values)
    q = np.percentile(arr, [50, 95, 99])
    return {"p50": round(float(q[0]), 1), "p95": round(float(q[1]), 1),
            "p99": round(float(q[2]), 1), "max": round(float(arr.max()), 1)}


def summarise(rec: Recorder, elapsed: float) -> dict[str, Any]:
    got = [s for s in rec.samples if s.status]
    reads = [s for s in got if s.kind == "read"]
    subs = [s for s in got if s.kind == "submit"]
    unexpected_4xx = [s for s in got if 400 <= s.status < 500]
    server_errors = [s for s in got if s.status >= 500]
    failed = [s for s in rec.samples if not s.status]
    by_endpoint = {}
    for name in sorted({s.name for s in got}):
        ms = [s.ms for s in got if s.name == name]
        by_endpoint[name] = {"requests": len(ms), **percentiles(ms)}
    return {
        "requests": len(rec.samples),
        "elapsed_s": round(elapsed, 1),
        "requests_per_s": round(len(rec.samples) / elapsed, 1),
        "read_latency_ms": {"requests": len(reads), **percentiles([s.ms for s in reads])},
        "submit_latency_ms": {"requests": len(subs), **percentiles([s.ms for s in subs])},
        "by_endpoint_ms": by_endpoint,
        "status_5xx": len(server_errors),
        "unexpected_4xx": len(unexpected_4xx),
        "no_response": len(failed),
        "problems": [f"{s.status} {s.name} {s.detail}" for s in
                     (server_errors + unexpected_4xx + failed)[:20]],
    }


# --- main ------------------------------------------------------------------------------------


def base_env(tmp: Path, db: str, redis_port: int, args: argparse.Namespace) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MEDVTAB_", "CELERY_"))}
    env.update(RATES)
    env.update({
        "DJANGO_SETTINGS_MODULE": "medvtab.settings", "PYTHONUNBUFFERED": "1",
        "DEBUG": "0", "SECRET_KEY": secrets.token_urlsafe(48),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DATABASE_URL": f"postgres://postgres@{HOST}:5432/{db}",
        "CELERY_BROKER_URL": f"redis://{HOST}:{redis_port}/0",
        "CACHE_URL": f"redis://{HOST}:{redis_port}/1",
        "MEDVTAB_DATA_ROOT": str(tmp / "data"), "MEDIA_ROOT": str(tmp / "media"),
        "MEDVTAB_VAR_DIR": str(tmp / "var"), "STATIC_ROOT": str(tmp / "static"),
        "EMAIL_FILE_PATH": str(tmp / "mail"), "MEDVTAB_READY_QUEUES": "cpu",
        "MEDVTAB_PYTHON": sys.executable, "OMP_NUM_THREADS": "1", "LOG_LEVEL": "INFO",
        "GUNICORN_BIND": HOST, "GUNICORN_WORKERS": str(args.gunicorn_workers),
        "MEDVTAB_WORKER_QUEUES": "cpu,gpu", "CELERY_CONCURRENCY": str(args.celery_concurrency),
    })
    return env


def start_stack(procs: Processes, tmp: Path, env: dict[str, str], args: argparse.Namespace,
                redis_port: int, port: int) -> list[str]:
    procs.spawn("redis", ["redis-server", "--port", str(redis_port), "--bind", HOST, "--save", "",
                          "--appendonly", "no", "--dir", str(tmp)], env)
    wait_until(lambda: port_open(redis_port), 20, "redis")
    manage(env, "migrate", "--noinput")
    log(manage(env, "create_demo_benchmark", "--scale", str(args.scale), "--image-size", "32")
        .strip().splitlines()[-1])
    tokens = create_accounts(env, max(args.submitters, 1))
    entry = ["bash", str(REPO / "docker" / "entrypoint.sh")]
    # The Celery worker scores the submitters' uploads (tens of CPU seconds a run): on the web
    # core it would be measured as web latency, so it shares the load generator's core.
    worker_pin = ["taskset", "-c", args.worker_cpus] if args.worker_cpus else []
    procs.spawn("worker", [*worker_pin, *entry, "worker-cpu"], env)
    pin = ["taskset", "-c", args.web_cpus] if args.web_cpus else []
    procs.spawn("gunicorn", [*pin, *entry, "web"], {**env, "PORT": str(port)})
    last: list[bytes] = [b""]

    def ready() -> bool:
        status, last[0], _ = request(port, "GET", "/readyz")
        return status == 200

    try:
        wait_until(ready, 120, "/readyz (web + worker)")
    except RuntimeError as exc:
        raise RuntimeError(f"{exc}; last answer: {last[0][:500]!r}") from None
    return tokens


def seed(port: int, db: str, tokens: list[str], zips: list[bytes], n: int) -> None:
    ids = []
    for i in range(n):
        status, body, _ = submit(port, tokens[i % len(tokens)], zips[i % len(zips)], f"seed-{i}")
        if status != 201:
            raise RuntimeError(f"seeding submission refused: {status} {body[:300]!r}")
        ids.append(int(json.loads(body)["id"]))
    final, waited = wait_final(db, ids, 300)
    if any(s != "succeeded" for s in final.values()):
        raise RuntimeError(f"seeding submissions did not all succeed: {final}")
    log(f"seeded {n} scored submissions in {waited:.0f} s")
    time.sleep(3)  # the board recompute runs after the last result on the same worker


def cpu_list(text: str) -> set[int]:
    """``taskset -c`` syntax: ``0``, ``0,2`` or ``0-3``."""
    cpus: set[int] = set()
    for part in text.split(","):
        low, _, high = part.partition("-")
        cpus.update(range(int(low), int(high or low) + 1))
    return cpus


def default_pinning() -> tuple[str, str]:
    """Web tier on the last core, the load generator on the first, when there are two or more:
    the generator must not take CPU from what it measures. The worker, PostgreSQL and Redis are
    left to the scheduler."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2 or shutil.which("taskset") is None:
        return "", ""
    return str(cpus[-1]), str(cpus[0])


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--readers", type=int, default=50)
    parser.add_argument("--submitters", type=int, default=10)
    parser.add_argument("--seed-submissions", type=int, default=6)
    parser.add_argument("--settle", type=float, default=180.0, help="max wait for final states")
    parser.add_argument("--gunicorn-workers", type=int, default=2 * (os.cpu_count() or 1) + 1)
    parser.add_argument("--celery-concurrency", type=int, default=1)
    parser.add_argument("--scale", type=float, default=0.2)
    parser.add_argument("--baseline-repeats", type=int, default=20, help="serial, before the load")
    parser.add_argument("--database", default="medvtab_loadtest")
    web_cpus, generator_cpus = default_pinning()
    parser.add_argument("--web-cpus", default=web_cpus, help="taskset -c list for gunicorn")
    parser.add_argument("--generator-cpus", default=generator_cpus, help="CPUs of the clients")
    parser.add_argument("--worker-cpus", default=generator_cpus,
                        help="taskset -c list for the Celery worker (default: the clients' CPUs)")
    parser.add_argument("--no-pin", action="store_true", help="pin nothing")
    parser.add_argument("--json", type=Path, help="also write the summary here")
    parser.add_argument("--keep-logs", type=Path, help="copy the server logs here")
    args = parser.parse_args()
    if args.duration > 600 or args.readers > 200 or args.submitters > 50:
        parser.error("bounded test: at most --duration 600, --readers 200, --submitters 50")
    if args.no_pin:
        args.web_cpus = args.generator_cpus = args.worker_cpus = ""
    for cpus in filter(None, (args.web_cpus, args.generator_cpus, args.worker_cpus)):
        try:
            if not cpu_list(cpus) <= os.sched_getaffinity(0):
                parser.error(f"CPU list {cpus!r} names CPUs this process may not use")
        except ValueError:
            parser.error(f"CPU list {cpus!r} is not like 0, 0,2 or 0-3")
    return args


def cpu_during(procs: Processes, action: Any) -> tuple[Any, dict[str, float]]:
    """Run ``action()``; also return the CPU and run-queue wait of every child group meanwhile."""
    groups = {name: proc.pid for name, proc in procs.named.items()}
    before = {name: group_cpu(pid) for name, pid in groups.items()}
    own = time.process_time()
    result = action()
    cpu: dict[str, float] = {}
    for name, pid in groups.items():
        used, waited = group_cpu(pid)
        cpu[f"{name}_cpu_s"] = round(used - before[name][0], 1)
        cpu[f"{name}_runqueue_wait_s"] = round(waited - before[name][1], 1)
    cpu["load_generator_cpu_s"] = round(time.process_time() - own, 1)
    return result, cpu


def submissions_report(db: str, accepted: list[int], settle: float) -> dict[str, Any]:
    final, waited = wait_final(db, accepted, settle)
    counts: dict[str, int] = {}
    for status in final.values():
        counts[status] = counts.get(status, 0) + 1
    return {
        "accepted": len(accepted), "final": sum(counts.get(s, 0) for s in FINAL),
        "succeeded": counts.get("succeeded", 0), "by_status": counts, "settle_s": round(waited, 1),
    }


def measure(args: argparse.Namespace, procs: Processes, tmp: Path, env: dict[str, str],
            redis_port: int, port: int) -> dict[str, Any]:
    load_start = os.getloadavg()
    tokens = start_stack(procs, tmp, env, args, redis_port, port)
    zips = prediction_zips(tmp / "data", 16, seed=7)
    seed(port, args.database, tokens, zips, args.seed_submissions)
    tasks = [m.slug for m in list_tasks(tmp / "data", BENCHMARK)]
    baseline = unloaded(port, read_paths(tasks), args.baseline_repeats)
    log(f"load: {args.readers} readers, {args.submitters} submitters, {args.duration:.0f} s")
    load_before = os.getloadavg()
    (rec, elapsed), cpu = cpu_during(procs, lambda: run_load(port, args, tokens, zips, tasks))
    load_after = os.getloadavg()
    return {
        **summarise(rec, elapsed),
        "unloaded_ms": baseline,
        "submissions": submissions_report(args.database, rec.accepted, args.settle),
        "setup": {
            "readers": args.readers, "submitters": args.submitters, "duration_s": args.duration,
            "gunicorn_workers": args.gunicorn_workers, "scale": args.scale,
            "celery_concurrency": args.celery_concurrency,
            "seed_submissions": args.seed_submissions, "throttle_rates": RATES,
            "gunicorn_cpus": args.web_cpus or "any", "load_generator_cpus": args.generator_cpus or "any",
            "worker_cpus": args.worker_cpus or "any",
        },
        "machine": {
            "cpus": os.cpu_count(), "platform": platform.platform(),
            "python": platform.python_version(), "loadavg_at_start": load_start,
            "loadavg_before_load": load_before, "loadavg_after_load": load_after,
            "cpu_during_load": cpu,
        },
    }


def main() -> int:
    args = parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="medvtab-load-"))
    (tmp / "logs").mkdir()
    procs = Processes(tmp / "logs")
    redis_port, port = free_port(), free_port()
    env = base_env(tmp, args.database, redis_port, args)
    psql(f"DROP DATABASE IF EXISTS {args.database} WITH (FORCE)")
    psql(f"CREATE DATABASE {args.database}")
    try:
        summary = measure(args, procs, tmp, env, redis_port, port)
    finally:
        procs.stop()
        if args.keep_logs:
            shutil.copytree(tmp / "logs", args.keep_logs, dirs_exist_ok=True)
        with contextlib.suppress(subprocess.SubprocessError):
            psql(f"DROP DATABASE IF EXISTS {args.database} WITH (FORCE)")
        shutil.rmtree(tmp, ignore_errors=True)
    text = json.dumps(summary, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    subs = summary["submissions"]
    clean = not (summary["status_5xx"] or summary["unexpected_4xx"] or summary["no_response"])
    return 0 if clean and subs["final"] == subs["accepted"] else 1


if __name__ == "__main__":
    sys.exit(main())
