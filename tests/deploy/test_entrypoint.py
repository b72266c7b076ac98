"""docker/entrypoint.sh: the deploy check, the commands it runs, GPU supervision, health checks."""

from __future__ import annotations

import http.client
import os
import secrets
import shlex
import signal
import socket
import subprocess
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from leaderboard.models import WorkerHeartbeat
from tests.deploy.helpers import ENTRYPOINT, REPO, closed_port, entrypoint
from tests.procs import database_url_for_subprocess

DRY = {"MEDVTAB_ENTRYPOINT_DRY_RUN": "1"}


def production_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "ALLOWED_HOSTS": "leaderboard.example.org",
        "MEDVTAB_HTTPS": "1",
        "MEDVTAB_VAR_DIR": str(tmp_path / "var"),
        **extra,
    }


def commands(ran: subprocess.CompletedProcess[str]) -> list[list[str]]:
    assert ran.returncode == 0, ran.stderr
    return [shlex.split(line) for line in ran.stdout.splitlines() if line.strip()]


# --- manage.py check --deploy ----------------------------------------------------------------


def test_deploy_check_passes_with_production_settings(tmp_path: Path) -> None:
    ran = entrypoint("check", env=production_env(tmp_path))
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "no issues" in ran.stdout


def test_deploy_check_fails_on_a_warning(tmp_path: Path) -> None:
    # Without HTTPS settings Django warns (no SSL redirect, no HSTS): the check must fail.
    ran = entrypoint("check", env=production_env(tmp_path, MEDVTAB_HTTPS="0"))
    assert ran.returncode != 0
    assert "security.W008" in ran.stdout + ran.stderr


# --- what each subcommand runs -----------------------------------------------------------------


def test_web_runs_gunicorn_with_workers_from_env() -> None:
    (cmd,) = commands(entrypoint("web", env={**DRY, "GUNICORN_WORKERS": "5", "PORT": "9000"}))
    assert cmd[1:4] == ["-m", "gunicorn", "medvtab.wsgi:application"]
    assert cmd[cmd.index("--workers") + 1] == "5"
    assert cmd[cmd.index("--bind") + 1] == "0.0.0.0:9000"


def test_web_migrates_first_only_when_asked() -> None:
    (plain,) = commands(entrypoint("web", env=DRY))
    assert "gunicorn" in plain
    first, serve = commands(entrypoint("web", env={**DRY, "MEDVTAB_MIGRATE": "1"}))
    assert first[1:] == ["manage.py", "migrate", "--noinput"]
    assert "gunicorn" in serve


def test_worker_cpu_consumes_the_cpu_queue() -> None:
    (cmd,) = commands(entrypoint("worker-cpu", env={**DRY, "CELERY_CONCURRENCY": "3"}))
    assert cmd[1:6] == ["-m", "celery", "-A", "medvtab", "worker"]
    assert cmd[cmd.index("-Q") + 1] == "cpu"
    assert cmd[cmd.index("--concurrency") + 1] == "3"
    assert cmd[cmd.index("--hostname") + 1] == "cpu@%h"


def test_worker_gpu_starts_one_pinned_process_per_gpu() -> None:
    cmds = commands(entrypoint("worker-gpu", env={**DRY, "MEDVTAB_GPUS": "0, 2"}))
    assert len(cmds) == 2
    for cmd, gpu in zip(cmds, ("0", "2"), strict=True):
        assert cmd[0] == "env"
        assert f"CUDA_VISIBLE_DEVICES={gpu}" in cmd
        assert "MEDVTAB_DEVICE=cuda:0" in cmd
        assert cmd[cmd.index("-Q") + 1] == "gpu"
        assert cmd[cmd.index("--concurrency") + 1] == "1"
        assert cmd[cmd.index("--hostname") + 1] == f"gpu{gpu}@%h"


def test_worker_gpu_counts_gpus_with_nvidia_smi(tmp_path: Path) -> None:
    fake = tmp_path / "bin" / "nvidia-smi"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\nprintf '0\\n1\\n2\\n'\n")
    fake.chmod(0o755)
    path = f"{fake.parent}:{os.environ['PATH']}"
    cmds = commands(entrypoint("worker-gpu", env={**DRY, "PATH": path}))
    assert [c[c.index("--hostname") + 1] for c in cmds] == ["gpu0@%h", "gpu1@%h", "gpu2@%h"]


def test_worker_gpu_refuses_without_gpus(tmp_path: Path) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    # PATH without nvidia-smi; bash and coreutils still reachable through /usr/bin and /bin.
    ran = entrypoint("worker-gpu", env={**DRY, "PATH": f"{empty}:/usr/bin:/bin"})
    assert ran.returncode != 0
    assert "no GPU visible" in ran.stderr
    bad = entrypoint("worker-gpu", env={**DRY, "MEDVTAB_GPUS": "0,x"})
    assert bad.returncode != 0
    assert "'x' is not a number" in bad.stderr


def test_beat_and_migrate_and_demo() -> None:
    (beat,) = commands(entrypoint("beat", env={**DRY, "MEDVTAB_VAR_DIR": "/srv/var"}))
    assert beat[1:6] == ["-m", "celery", "-A", "medvtab", "beat"]
    assert beat[beat.index("--schedule") + 1] == "/srv/var/celerybeat-schedule"
    (migrate,) = commands(entrypoint("migrate", env=DRY))
    assert migrate[1:] == ["manage.py", "migrate", "--noinput"]
    (demo,) = commands(entrypoint("demo", env=DRY))
    assert demo == [str(REPO / "scripts" / "run-demo.sh")]  # the script `make run` uses


def test_the_checkout_venv_is_used_outside_the_image() -> None:
    (cmd,) = commands(entrypoint("migrate", env=DRY))
    expected = REPO / ".venv" / "bin" / "python"
    assert cmd[0] == (str(expected) if expected.exists() else "python")
    (override,) = commands(entrypoint("migrate", env={**DRY, "MEDVTAB_PYTHON": "/opt/py"}))
    assert override[0] == "/opt/py"


def test_unknown_command_prints_usage() -> None:
    ran = entrypoint("no-such-thing")
    assert ran.returncode == 2
    assert "worker-gpu" in ran.stderr and "unknown command" in ran.stderr
    assert entrypoint().returncode == 2


# --- GPU supervision with stand-in Celery processes ----------------------------------------------

FAKE_PYTHON = """#!/usr/bin/env bash
# Stands in for `python -m celery …`: records its GPU, fails when told to, stops on TERM.
echo "start $CUDA_VISIBLE_DEVICES" >> "$FAKE_LOG"
trap 'echo "term $CUDA_VISIBLE_DEVICES" >> "$FAKE_LOG"; exit 0' TERM
if [[ "$CUDA_VISIBLE_DEVICES" == "${FAKE_FAIL:-none}" ]]; then sleep 0.5; exit 3; fi
while true; do sleep 0.05; done
"""


def _start_gpu_supervisor(tmp_path: Path, **env: str) -> tuple[subprocess.Popen[str], Path]:
    fake = tmp_path / "python"
    fake.write_text(FAKE_PYTHON)
    fake.chmod(0o755)
    log = tmp_path / "log"
    full = {
        "PATH": os.environ["PATH"],
        "MEDVTAB_PYTHON": str(fake),
        "MEDVTAB_GPUS": "0,1,2",
        "FAKE_LOG": str(log),
        **env,
    }
    proc = subprocess.Popen(
        [str(ENTRYPOINT), "worker-gpu"], cwd=REPO, env=full, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if log.exists() and log.read_text().count("start") == 3:
            break
        time.sleep(0.05)
    return proc, log


def test_worker_gpu_stops_all_processes_on_sigterm(tmp_path: Path) -> None:
    proc, log = _start_gpu_supervisor(tmp_path)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=10)
    assert proc.returncode == 0, stderr
    lines = log.read_text().split("\n")
    assert sorted(line for line in lines if line.startswith("term")) == [
        "term 0",
        "term 1",
        "term 2",
    ]


def test_worker_gpu_ends_when_one_process_dies(tmp_path: Path) -> None:
    proc, log = _start_gpu_supervisor(tmp_path, FAKE_FAIL="1")
    _, stderr = proc.communicate(timeout=10)
    assert proc.returncode == 3  # the failed process's status, so the restart policy acts
    assert "a worker process ended" in stderr
    terms = sorted(line for line in log.read_text().split("\n") if line.startswith("term"))
    assert terms == ["term 0", "term 2"]  # the survivors were stopped, not left behind


# --- container health checks -------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_web_serves_through_gunicorn_and_passes_its_healthcheck(tmp_path: Path) -> None:
    port = str(_free_port())
    env = production_env(tmp_path, PORT=port, GUNICORN_WORKERS="1", GUNICORN_BIND="127.0.0.1")
    full = {"PATH": os.environ["PATH"], "DJANGO_SETTINGS_MODULE": "medvtab.settings", **env}
    server = subprocess.Popen(
        [str(ENTRYPOINT), "web"],
        cwd=REPO,
        env=full,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        check = entrypoint("healthcheck", "web", env=env)
        while check.returncode != 0 and time.monotonic() < deadline:
            assert server.poll() is None, "gunicorn exited"
            time.sleep(0.3)
            check = entrypoint("healthcheck", "web", env=env)
        assert check.returncode == 0, check.stdout + check.stderr
        assert "GET /healthz: 200" in check.stdout
        # The check has to name an allowed host: an internal address alone is refused.
        conn = http.client.HTTPConnection("127.0.0.1", int(port), timeout=5)
        conn.request("GET", "/healthz", headers={"X-Forwarded-Proto": "https"})
        assert conn.getresponse().status == 400
        conn.close()
        # Readiness fails here (no workers, no data root): the health check reports it.
        ready = entrypoint("healthcheck", "web", "/readyz", env=env)
        assert ready.returncode == 1
        assert "GET /readyz: 503" in ready.stdout
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=15)


def _worker_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "DEBUG": "1",
        "DATABASE_URL": database_url_for_subprocess(),
        "MEDVTAB_VAR_DIR": str(tmp_path / "var"),
        **extra,
    }


@pytest.mark.django_db(transaction=True)
def test_worker_healthchecks_read_this_hosts_heartbeats(tmp_path: Path, settings: Any) -> None:
    host = socket.gethostname()
    now = timezone.now()
    stale = now - timedelta(seconds=3 * settings.MEDVTAB_HEARTBEAT_INTERVAL_S + 5)
    WorkerHeartbeat.objects.create(hostname=f"cpu@{host}", queues="cpu", last_seen=now)
    WorkerHeartbeat.objects.create(hostname=f"gpu0@{host}", queues="gpu", last_seen=now)
    WorkerHeartbeat.objects.create(hostname=f"gpu1@{host}", queues="gpu", last_seen=stale)
    WorkerHeartbeat.objects.create(hostname="gpu1@elsewhere", queues="gpu", last_seen=now)

    cpu = entrypoint("healthcheck", "worker-cpu", env=_worker_env(tmp_path))
    assert cpu.returncode == 0, cpu.stderr
    one_gpu = entrypoint("healthcheck", "worker-gpu", env=_worker_env(tmp_path, MEDVTAB_GPUS="0"))
    assert one_gpu.returncode == 0, one_gpu.stderr
    two = entrypoint("healthcheck", "worker-gpu", env=_worker_env(tmp_path, MEDVTAB_GPUS="0,1"))
    assert two.returncode == 1
    assert f"no fresh heartbeat from gpu1@{host}" in two.stderr


def test_beat_healthcheck_probes_the_broker(tmp_path: Path, redis_url: str) -> None:
    env = {"DEBUG": "1", "MEDVTAB_VAR_DIR": str(tmp_path / "var")}
    up = entrypoint("healthcheck", "beat", env={**env, "CELERY_BROKER_URL": redis_url})
    assert up.returncode == 0, up.stdout + up.stderr
    down_url = f"redis://127.0.0.1:{closed_port()}/0"
    down = entrypoint("healthcheck", "beat", env={**env, "CELERY_BROKER_URL": down_url})
    assert down.returncode == 1
    assert "broker unreachable" in down.stdout
