"""Real processes for integration tests: Celery workers, private redis-servers, manage.py."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from django.conf import settings
from django.db import connection

REPO = Path(__file__).resolve().parent.parent


def database_url_for_subprocess() -> str:
    """The URL of the database the test is using right now (pytest-django's test database)."""
    db = connection.settings_dict
    if "sqlite" in db["ENGINE"]:
        return f"sqlite:///{db['NAME']}"
    user = db.get("USER") or ""
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    return f"postgres://{user}@{host}:{port}/{db['NAME']}"


def subprocess_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "PYTHONUNBUFFERED": "1",
            "DJANGO_SETTINGS_MODULE": "medvtab.settings",
            "SECRET_KEY": env.get("SECRET_KEY", "test-only-secret"),
            "MEDVTAB_DATA_ROOT": str(settings.MEDVTAB_DATA_ROOT),
            # boards follow a result at once in the tests that wait for them
            "MEDVTAB_BOARD_RECOMPUTE_DELAY_S": env.get("MEDVTAB_BOARD_RECOMPUTE_DELAY_S", "0"),
            "MEDIA_ROOT": str(settings.MEDIA_ROOT),
            "OMP_NUM_THREADS": "1",
        }
    )
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(
    predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.2
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


@contextlib.contextmanager
def celery_worker(
    env: dict[str, str],
    *,
    queues: str = "cpu,gpu",
    name: str = "w1",
    log: Path | None = None,
    concurrency: int = 1,
) -> Iterator[subprocess.Popen[bytes]]:
    """A real `celery -A medvtab worker` process; killed (whole group) when the block ends."""
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "medvtab",
            "worker",
            "-Q",
            queues,
            "--concurrency",
            str(concurrency),
            "--pool",
            "prefork",
            "--hostname",
            f"{name}@%h",
            "--loglevel",
            "INFO",
            "--without-gossip",
            "--without-mingle",
        ],
        cwd=REPO,
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        yield proc
    finally:
        kill_group(proc)
        if log:
            out.close()  # type: ignore[union-attr]


@contextlib.contextmanager
def demo_worker(env: dict[str, str], *, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """The demo's worker exactly as `make run` starts it (scripts/demo-worker.sh)."""
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [str(REPO / "scripts" / "demo-worker.sh")],
            cwd=REPO,
            env={**env, "PY": sys.executable},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield proc
        finally:
            kill_group(proc)


def kill_group(proc: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)


@contextlib.contextmanager
def private_redis(tmp: Path, port: int | None = None) -> Iterator[tuple[str, Callable[[], None]]]:
    """A private redis-server on a free port without persistence; yields (url, restart)."""
    exe = shutil.which("redis-server")
    if exe is None:
        raise RuntimeError("redis-server is not installed; the integration tests need it")
    port = port or free_port()
    state: dict[str, subprocess.Popen[bytes]] = {}

    def start() -> None:
        state["proc"] = subprocess.Popen(
            [
                exe,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(tmp),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        wait_for(lambda: _redis_up(port), 10, f"redis on port {port}")

    def restart() -> None:
        kill_group(state["proc"])
        start()

    start()
    try:
        yield f"redis://127.0.0.1:{port}/0", restart
    finally:
        kill_group(state["proc"])


def _redis_up(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False
