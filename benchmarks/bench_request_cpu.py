"""CPU time per request for every read URL of the load test (see docs/performance.md).

Builds, in a fresh test database, a 6-task benchmark named like the load test's
(``med-vtab-mini``, 3 modalities) with N public scored submissions and its boards, then measures
for each read URL of ``benchmarks/load_test.py`` the CPU time one request costs:

- ``wsgi`` (always): in this process, through ``medvtab.wsgi.application`` and the whole
  middleware stack exactly as gunicorn calls it, with the production settings (``DEBUG`` must be
  off); CPU per request is ``time.process_time()`` around one call, median over ``--repeats``
  requests after ``--warmup``; ``cProfile`` of the most expensive URL is printed (and written to
  ``--profile-out`` when given);
- ``http`` (``--http``): a real gunicorn started through ``docker/entrypoint.sh web`` with one
  worker, serving the same database; CPU per request is the gunicorn process group's CPU
  (``/proc``) over ``--repeats`` sequential requests on new connections, divided by their number.
  It includes what gunicorn itself spends: parsing, the access log, the worker loop.

Every figure is also given as a ratio to ``/healthz`` measured in the same run (the floor: a
view that does nothing), which is far less sensitive to the machine than milliseconds.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench CACHE_URL=redis://127.0.0.1:6379/7 \\
        SECRET_KEY=x DEBUG=0 python benchmarks/bench_request_cpu.py [--http] [--repeats 200]

The cache named by ``CACHE_URL`` is flushed at the start (use a Redis database of your own).
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import os
import platform
import pstats
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "medvtab.settings")
# As in the load test: the throttle code runs, but one client must not be refused.
for _scope in ("ANON", "USER"):
    os.environ.setdefault(f"MEDVTAB_API_{_scope}_RATE", "1000000/min")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.cache import cache  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import setup_databases, teardown_databases  # noqa: E402

from benchmarks.bench_leaderboard import make_benchmark, populate  # noqa: E402
from leaderboard.models import Task  # noqa: E402
from leaderboard.services.boards import recompute  # noqa: E402
from medvtab.wsgi import application  # noqa: E402

BENCHMARK = "med-vtab-mini"
HOST = "127.0.0.1"
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Any]


def read_urls(task_slug: str) -> list[tuple[str, str]]:
    """The load test's read paths (``benchmarks/load_test.py``, ``read_paths``), one of each."""
    board = f"/b/{BENCHMARK}/"
    return [
        ("healthz", "/healthz"),
        ("home", "/"),
        ("board", board),
        ("modality board", f"{board}xray/"),
        ("board export.json", f"{board}export.json"),
        ("api leaderboard", f"/api/v1/leaderboards/{BENCHMARK}/"),
        ("api tasks", "/api/v1/tasks/"),
        ("task page", f"/tasks/{task_slug}/"),
    ]


# --- in-process WSGI ---------------------------------------------------------------------------


def environ(path: str) -> dict[str, Any]:
    """What gunicorn's sync worker hands to the application for ``GET path`` on loopback."""
    return {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": HOST,
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": HOST,
        "HTTP_HOST": HOST,
        "HTTP_USER_AGENT": "Python-urllib/3.11",
        "HTTP_ACCEPT_ENCODING": "identity",
        "HTTP_CONNECTION": "close",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }


def call(app: WSGIApp, path: str) -> int:
    status: list[str] = []
    body = app(environ(path), lambda s, h, exc_info=None: status.append(s))
    try:
        for _ in body:
            pass
    finally:
        close = getattr(body, "close", None)
        if close is not None:
            close()  # fires request_finished, as gunicorn does
    return int(status[0].split()[0])


def cpu_ms(app: WSGIApp, path: str, warmup: int, repeats: int) -> list[float]:
    for _ in range(warmup):
        if call(app, path) != 200:
            raise RuntimeError(f"GET {path} did not answer 200")
    out = []
    for _ in range(repeats):
        start = time.process_time()
        status = call(app, path)
        out.append((time.process_time() - start) * 1000)
        if status != 200:
            raise RuntimeError(f"GET {path} answered {status}")
    return out


def profile(app: WSGIApp, path: str, repeats: int, out: Path | None) -> str:
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(repeats):
        call(app, path)
    prof.disable()
    if out is not None:
        prof.dump_stats(str(out))
    text = io.StringIO()
    stats = pstats.Stats(prof, stream=text).strip_dirs()
    stats.sort_stats("cumulative").print_stats(30)
    stats.sort_stats("tottime").print_stats(20)
    return text.getvalue()


COMPONENTS = (  # first match wins: where a function's own time is counted
    ("django/template", "templates"),
    ("django/db", "ORM"),
    ("psycopg", "database driver"),
    ("sqlite3", "database driver"),
    ("redis", "cache (Redis)"),
    ("django/core/cache", "cache (Redis)"),
    ("rest_framework", "DRF"),
    ("json", "JSON"),
    ("django/middleware", "middleware"),
    ("django/contrib", "middleware"),
    ("whitenoise", "middleware"),
    ("leaderboard/", "project code"),
    ("django/urls", "URL resolve/reverse"),
    ("django/", "Django core"),
)


def breakdown(app: WSGIApp, path: str, repeats: int) -> dict[str, float]:
    """Share of a URL's profiled own time per component (cProfile inflates, shares hold)."""
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(repeats):
        call(app, path)
    prof.disable()
    stats = pstats.Stats(prof).stats  # type: ignore[attr-defined]
    totals: dict[str, float] = {}
    for (filename, _, func), (_, _, tottime, _, _) in stats.items():
        if func.endswith("wait") and "psycopg" in filename:
            continue  # waiting for the server's answer: wall time, not this process's CPU
        name = next((label for part, label in COMPONENTS if part in filename), "other")
        totals[name] = totals.get(name, 0.0) + tottime
    whole = sum(totals.values()) or 1.0
    return {k: round(100 * v / whole) for k, v in sorted(totals.items(), key=lambda kv: -kv[1])}


# --- gunicorn over HTTP ------------------------------------------------------------------------


def group_cpu_s(pgid: int) -> float:
    """CPU seconds used so far by a process group, reaped children included."""
    tick = os.sysconf("SC_CLK_TCK")
    used = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid:
                used += sum(int(x) for x in fields[11:15])
    return used / tick


def http_get(port: int, path: str) -> int:
    import http.client

    conn = http.client.HTTPConnection(HOST, port, timeout=10)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        resp.read()
        return resp.status
    finally:
        conn.close()


@contextlib.contextmanager
def gunicorn(port: int) -> Iterator[subprocess.Popen[bytes]]:
    db = connection.settings_dict
    if "sqlite" in db["ENGINE"]:
        url = f"sqlite:///{db['NAME']}"
    else:
        url = f"postgres://{db.get('USER') or ''}@{db.get('HOST') or HOST}:{db.get('PORT') or 5432}/{db['NAME']}"
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "PORT": str(port),
        "GUNICORN_BIND": HOST,
        "GUNICORN_WORKERS": "1",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "MEDVTAB_PYTHON": sys.executable,
    }
    proc = subprocess.Popen(
        ["bash", str(REPO / "docker" / "entrypoint.sh"), "web"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(OSError):
                if http_get(port, "/healthz") == 200:
                    break
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("gunicorn did not start")
            time.sleep(0.3)
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=20)


def http_cpu_ms(proc: subprocess.Popen[bytes], port: int, path: str, warmup: int, n: int) -> float:
    for _ in range(warmup):
        http_get(port, path)
    before = group_cpu_s(proc.pid)
    for _ in range(n):
        if http_get(port, path) != 200:
            raise RuntimeError(f"GET {path} did not answer 200 over HTTP")
    return (group_cpu_s(proc.pid) - before) * 1000 / n


# --- main ------------------------------------------------------------------------------------


def seed(n: int) -> str:
    bench = make_benchmark(BENCHMARK)
    populate(bench, n)
    recompute(bench)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE" if connection.vendor == "postgresql" else "ANALYZE main")
    return str(
        Task.objects.filter(benchmark=bench).order_by("slug").values_list("slug", flat=True)[0]
    )


def measure(args: argparse.Namespace, urls: list[tuple[str, str]]) -> dict[str, dict[str, float]]:
    report: dict[str, dict[str, float]] = {}
    for name, path in urls:
        ms = cpu_ms(application, path, args.warmup, args.repeats)
        report[name] = {
            "median": statistics.median(ms),
            "mean": statistics.fmean(ms),
            "p90": sorted(ms)[int(0.9 * len(ms))],
        }
    if args.http:
        with gunicorn(args.port) as proc:
            # master and worker start-up plus the first /healthz: what each worker restart costs
            # (gunicorn --max-requests), unless the master preloads the application
            print(f"gunicorn start-up to the first answer: {group_cpu_s(proc.pid):.2f} s CPU")
            for name, path in urls:
                report[name]["http"] = http_cpu_ms(proc, args.port, path, 5, args.http_repeats)
    return report


def print_table(report: dict[str, dict[str, float]], http: bool) -> None:
    floor = report["healthz"]
    head = "| URL | WSGI CPU median | mean | p90 | × healthz |"
    line = "|---|---|---|---|---|"
    if http:
        head += " gunicorn CPU / request | × healthz |"
        line += "---|---|"
    print(head)
    print(line)
    for name, r in report.items():
        row = (
            f"| {name} | {r['median']:.2f} ms | {r['mean']:.2f} ms | {r['p90']:.2f} ms "
            f"| {r['median'] / floor['median']:.1f} |"
        )
        if http:
            row += f" {r['http']:.2f} ms | {r['http'] / floor['http']:.1f} |"
        print(row)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--submissions", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--http", action="store_true", help="also measure through gunicorn")
    parser.add_argument("--http-repeats", type=int, default=100)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--profile-repeats", type=int, default=100)
    parser.add_argument("--profile-out", type=Path, help="write the cProfile stats here")
    args = parser.parse_args()
    if settings.DEBUG:
        sys.exit("run with DEBUG=0: DEBUG keeps every query in memory and is not what is served")
    old = setup_databases(verbosity=0, interactive=False, aliases={"default"})
    try:
        cache.clear()
        urls = read_urls(seed(args.submissions))
        print(
            f"machine: {platform.platform()}, {os.cpu_count()} CPUs, "
            f"Python {platform.python_version()}, load average {os.getloadavg()[0]:.1f}, "
            f"database {connection.vendor}, cache {settings.CACHES['default']['BACKEND']}"
        )
        report = measure(args, urls)
        print_table(report, args.http)
        print("\nown time per component (cProfile, % of the URL's total):")
        for name, path in urls:
            shares = breakdown(application, path, 50)
            print(f"- {name}: " + ", ".join(f"{k} {v}%" for k, v in shares.items() if v >= 3))
        worst = max((n for n, _ in urls if n != "healthz"), key=lambda n: report[n]["median"])
        print(f"\ncProfile of {worst}, {args.profile_repeats} requests:")
        print(profile(application, dict(urls)[worst], args.profile_repeats, args.profile_out))
    finally:
        teardown_databases(old, verbosity=0)


if __name__ == "__main__":
    main()
