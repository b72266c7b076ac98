"""What runs on each host of the bed, started the way production starts it.

db      PostgreSQL (a throwaway cluster made by initdb in the host's tmpfs) and redis-server
store   the moto S3-compatible server (the bucket of uploads)
web     docker/entrypoint.sh migrate, then docker/entrypoint.sh web (gunicorn, 2 workers)
beat    docker/entrypoint.sh beat (the reaper's schedule)
cpu1    docker/entrypoint.sh worker-cpu on the cpu queue (predictions, reaper runs)
gpu1/2  docker/entrypoint.sh worker-cpu on the gpu queue (checkpoints; the CPU stands in for a GPU)
client  nothing: the tests (and the load generator) talk to the bed from here

Settings that make faults show within seconds (heartbeat 1 s, reaper every 2 s, lost messages
re-sent after 4 s) are in TIMING; Redis's own redelivery is pushed out of reach
(visibility timeout 1 h), so what recovers a lost submission in the bed is always the reaper.

MEDVTAB_BED_ENV="KEY=VALUE,KEY=VALUE" overrides settings on every host (e.g. turn the reaper
off with MEDVTAB_REAPER_INTERVAL_S=100000), and MEDVTAB_BED_SOURCE=DIR runs the server code of
another tree (a copy with one mechanism removed): how docs/deploy.md shows that each fault test
fails without the mechanism it tests.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.cluster.bed import REPO, SUBNET, WORK, Host, Mount, Network, sh
from tests.cluster.bed import ROOT as SOURCE

PYTHON = str(REPO / ".venv" / "bin" / "python")
ADDRESSES = {"db": 2, "store": 3, "web": 10, "beat": 11, "cpu1": 21, "gpu1": 22, "gpu2": 23,
             "client": 30}
WORKERS = {"cpu1": "cpu", "gpu1": "gpu", "gpu2": "gpu"}
DB = f"{SUBNET}.{ADDRESSES['db']}"
STORE = f"{SUBNET}.{ADDRESSES['store']}"
WEB = f"{SUBNET}.{ADDRESSES['web']}"
WEB_PORT = 8000
DATABASE_URL = f"postgres://postgres@{DB}:5432/medvtab"
BUCKET = "medvtab-bed-uploads"
S3_URL = f"http://{STORE}:9000"
PG_DATA = "/tmp/pg"  # in the db host's tmpfs
TIMING = {
    "MEDVTAB_HEARTBEAT_INTERVAL_S": "1",
    "MEDVTAB_REAPER_INTERVAL_S": "2",
    "MEDVTAB_REQUEUE_AFTER_S": "4",
    "MEDVTAB_VISIBILITY_TIMEOUT": "3600",
    "MEDVTAB_TASK_TIME_LIMIT": "600",
}
GPU_DELAY_S = "5"
# libfaketime's multi-threaded build (Debian package faketime): the worker's heartbeat is a thread
FAKETIME_LIB = next((str(p) for p in Path("/usr/lib").glob("*/faketime/libfaketimeMT.so.1")), "")


def skewed_clock(offset: str, stage: Path) -> dict[str, str]:
    """The environment that runs a program with its wall clock shifted by ``offset`` ("-10m"),
    its monotonic clock and sleeps untouched; {} when libfaketime or the shim is missing."""
    shim = stage / "lib" / "sleep_passthrough.so"
    if not (FAKETIME_LIB and shim.exists()):
        return {}
    in_host = SOURCE / "var" / "lib" / shim.name
    return {"LD_PRELOAD": f"{in_host}:{FAKETIME_LIB}", "FAKETIME": offset,
            "FAKETIME_DONT_FAKE_MONOTONIC": "1", "FAKETIME_DONT_RESET": "1"}  # every checkpoint evaluation sleeps this long first: time to strike mid-way


def pg_bin(name: str) -> str:
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name))
    if not versions:
        raise RuntimeError("PostgreSQL server binaries missing (/usr/lib/postgresql/*/bin)")
    return str(versions[-1] / name)


def overrides() -> dict[str, str]:
    pairs = [p for p in os.environ.get("MEDVTAB_BED_ENV", "").split(",") if p.strip()]
    return dict(p.strip().split("=", 1) for p in pairs)


def app_env(**extra: str) -> dict[str, str]:
    """What every application host (web, beat, workers) gets: the same settings, like one .env."""
    var = SOURCE / "var"
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": "/tmp",
        "LANG": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
        "OMP_NUM_THREADS": "1",
        "MEDVTAB_PYTHON": PYTHON,
        "DEBUG": "0",
        "SECRET_KEY": "bed-only-secret-not-for-production-0123456789abcdef",
        "ALLOWED_HOSTS": f"{WEB},web",
        "DATABASE_URL": DATABASE_URL,
        "CELERY_BROKER_URL": f"redis://{DB}:6379/0",
        "CACHE_URL": f"redis://{DB}:6379/1",
        "MEDVTAB_S3_BUCKET": BUCKET,
        "MEDVTAB_S3_ENDPOINT_URL": S3_URL,
        "AWS_ACCESS_KEY_ID": "bed",
        "AWS_SECRET_ACCESS_KEY": "bed-secret",
        "AWS_DEFAULT_REGION": "us-east-1",
        "MEDVTAB_VAR_DIR": str(var),
        "MEDVTAB_DATA_ROOT": str(var / "data"),
        "MEDVTAB_BACKBONE_REGISTRY": str(var / "backbones" / "backbones.json"),
        "MEDVTAB_DEVICE": "cpu",
        "MEDVTAB_BOOTSTRAP_REPLICATES": "50",
        "MEDVTAB_BOARD_RECOMPUTE_DELAY_S": "0",
        "MEDVTAB_API_UPLOAD_RATE": "100000/hour",
        "MEDVTAB_API_USER_RATE": "100000/min",
        "MEDVTAB_API_ANON_RATE": "100000/min",
        "LOG_LEVEL": "INFO",
        **TIMING,
    }
    env.update(extra)
    env.update(overrides())
    return env


@dataclass
class Service:
    """One program on one host; its process group is the nsenter that started it."""

    name: str
    host: Host
    argv: list[str]
    env: dict[str, str]
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def log(self) -> Path:
        return WORK / "logs" / f"{self.host.name}-{self.name}.log"

    def start(self) -> Service:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [*self.host.enter(), *self.argv], env=self.env, stdin=subprocess.DEVNULL,
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )
        return self

    def main_pid(self) -> int | None:
        """The program itself (nsenter's child), as the machine numbers it."""
        if self.proc is None:
            return None
        with contextlib.suppress(OSError, ValueError, IndexError):
            pid = self.proc.pid
            return int(Path(f"/proc/{pid}/task/{pid}/children").read_text().split()[0])
        return None

    def send(self, sig: int) -> None:
        pid = self.main_pid()
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)

    def stop(self, sig: int = signal.SIGKILL, timeout: float = 30) -> None:
        if self.proc is None:
            return
        if sig == signal.SIGKILL:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)
        else:
            self.send(sig)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.proc = None

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def tail(self, lines: int = 40) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        return ""


def wait_for(predicate: Callable[[], bool], timeout: float, what: str,
              interval: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if predicate():
                return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def host_mounts(name: str, stage: Path) -> list[Mount]:
    """Read-only: public tree and backbones on web and workers; the hidden tree on workers only."""
    public = [Mount(stage / "data" / "public", "data/public"),
              Mount(stage / "backbones", "backbones")]
    if name in WORKERS:
        return [*public, Mount(stage / "data" / "hidden", "data/hidden"), Mount(stage / "lib", "lib")]
    if name == "client":
        return [Mount(stage / "payloads", "payloads")]
    return public if name == "web" else []


def entrypoint(*args: str) -> list[str]:
    return [str(SOURCE / "docker" / "entrypoint.sh"), *args]


def worker_env(name: str, **extra: str) -> dict[str, str]:
    queue = WORKERS[name]
    delay = {"MEDVTAB_EVALUATION_DELAY_S": GPU_DELAY_S} if queue == "gpu" else {}
    return app_env(MEDVTAB_WORKER_QUEUES=queue, CELERY_CONCURRENCY="1", **{**delay, **extra})


class Cluster:
    """The whole bed: network, hosts and their services."""

    def __init__(self, stage: Path) -> None:
        self.stage = stage
        self.net = Network()
        self.services: dict[str, Service] = {}
        self.netns: set[int] = {self.net.switch.netns}

    def add_host(self, name: str) -> Host:
        host = self.net.add(name, ADDRESSES[name], host_mounts(name, self.stage))
        self.netns.add(host.netns)
        return host

    def run(self, host: str, argv: list[str], env: dict[str, str] | None = None,
            timeout: float = 300) -> str:
        """A one-off command on a host (its output, or an error with it)."""
        done = subprocess.run(
            [*self.net.hosts[host].enter(), *argv], env=env or app_env(), capture_output=True,
            text=True, timeout=timeout, check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{host}: {' '.join(argv[:3])}… failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def start(self, key: str, host: str, argv: list[str], env: dict[str, str]) -> Service:
        service = Service(key, self.net.hosts[host], argv, env).start()
        self.services[f"{host}/{key}"] = service
        return service

    # --- db ---------------------------------------------------------------------------------
    def start_postgres(self) -> Service:
        as_pg = ["setpriv", "--reuid=postgres", "--regid=postgres", "--clear-groups"]
        return self.start("postgres", "db", [
            *as_pg, pg_bin("postgres"), "-D", PG_DATA, "-c", f"listen_addresses={DB}",
            "-c", "unix_socket_directories=/tmp", "-c", "fsync=off", "-c", "max_connections=200",
        ], {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"})

    def init_postgres(self) -> None:
        as_pg = ["setpriv", "--reuid=postgres", "--regid=postgres", "--clear-groups"]
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
        self.run("db", [*as_pg, pg_bin("initdb"), "-D", PG_DATA, "-U", "postgres", "-A", "trust",
                        "--no-sync"], env)
        self.run("db", ["bash", "-c", f"echo 'host all all {SUBNET}.0/24 trust' >> {PG_DATA}/pg_hba.conf"],
                 env)
        self.start_postgres()
        wait_for(lambda: self._pg_ready(), 30, "PostgreSQL on the db host")
        self.run("db", [*as_pg, pg_bin("createdb"), "-h", "/tmp", "-U", "postgres", "medvtab"], env)

    def _pg_ready(self) -> bool:
        done = subprocess.run([*self.net.hosts["db"].enter(), pg_bin("pg_isready"), "-h", DB, "-q"],
                              check=False, capture_output=True)
        return done.returncode == 0

    def start_redis(self) -> Service:
        service = self.start("redis", "db", [
            "redis-server", "--bind", DB, "--port", "6379", "--save", "", "--appendonly", "no",
            "--protected-mode", "no", "--dir", "/tmp",
        ], {"PATH": "/usr/bin:/bin"})
        wait_for(lambda: "PONG" in sh([*self.net.hosts["db"].enter(), "redis-cli", "-h", DB, "ping"],
                                      check=False), 20, "Redis on the db host")
        return service

    def restart(self, key: str, sig: int = signal.SIGKILL) -> Service:
        service = self.services[key]
        service.stop(sig)
        return service.start()

    # --- store ------------------------------------------------------------------------------
    def start_store(self) -> Service:
        return self.start("s3", "store", [PYTHON, "-m", "moto.server", "-H", STORE, "-p", "9000"],
                          {"PATH": os.environ.get("PATH", ""), "HOME": "/tmp"})

    # --- application hosts --------------------------------------------------------------------
    def start_web(self) -> Service:
        env = app_env(GUNICORN_WORKERS="2", GUNICORN_BIND=WEB, PORT=str(WEB_PORT))
        return self.start("gunicorn", "web", entrypoint("web"), env)

    def start_worker(self, name: str, **extra: str) -> Service:
        return self.start("celery", name, entrypoint("worker-cpu"), worker_env(name, **extra))

    def start_beat(self) -> Service:
        return self.start("beat", "beat", entrypoint("beat"), app_env())

    def kill_host(self, name: str) -> None:
        """The host vanishes: link cut and every process in it killed at once."""
        if name in self.net.hosts:
            self.net.kill(name)
        for key in [k for k in self.services if k.startswith(f"{name}/")]:
            service = self.services.pop(key)
            if service.proc is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    service.proc.wait(timeout=10)

    def teardown(self) -> None:
        self.net.teardown()
        for service in self.services.values():
            if service.proc is not None:
                with contextlib.suppress(Exception):
                    service.proc.wait(timeout=10)
        self.services.clear()


def log_tails(cluster: Cluster) -> str:
    return "\n".join(f"--- {key} ---\n{svc.tail()}" for key, svc in cluster.services.items())


if __name__ == "__main__":  # pragma: no cover - a debugging aid: print what a host would get
    print(app_env(), file=sys.stderr)
