"""A real Celery worker process consumes real brokers: Redis and the embedded default."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from leaderboard.models import WorkerHeartbeat
from tests.procs import REPO, celery_worker, database_url_for_subprocess, subprocess_env, wait_for

pytestmark = pytest.mark.integration


@pytest.mark.django_db(transaction=True)
def test_redis_round_trip(redis_url: str, tmp_path: Path, data_root: Path) -> None:
    from leaderboard.tasks import ping
    from medvtab.celery import app

    env = subprocess_env(DATABASE_URL=database_url_for_subprocess(), CELERY_BROKER_URL=redis_url)
    token = uuid.uuid4().hex
    with celery_worker(env, name=f"rt{token[:6]}", log=tmp_path / "worker.log"):
        app.conf.broker_url = redis_url
        try:
            with app.connection_for_write() as conn:
                ping.apply_async(kwargs={"token": token}, connection=conn)
            wait_for(
                lambda: WorkerHeartbeat.objects.filter(last_token=token).exists(),
                60,
                "the worker to run the ping task",
            )
        finally:
            app.conf.broker_url = None
    beat = WorkerHeartbeat.objects.get(last_token=token)
    assert beat.hostname.startswith(f"rt{token[:6]}@")


def _manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_embedded_default_round_trip(tmp_path: Path, settings: object) -> None:
    """No DATABASE_URL and no CELERY_BROKER_URL: SQLite and the filesystem broker under var/."""
    var = tmp_path / "var"
    env = subprocess_env(MEDVTAB_VAR_DIR=str(var), MEDVTAB_DATA_ROOT=str(var / "data"))
    env.pop("DATABASE_URL", None)
    env.pop("CELERY_BROKER_URL", None)
    _manage(env, "migrate", "--noinput")
    token = uuid.uuid4().hex
    with celery_worker(env, name="embedded", log=tmp_path / "worker.log"):
        _manage(
            env,
            "shell",
            "--no-imports",
            "-c",
            f"from leaderboard.tasks import ping; ping.delay(token={token!r})",
        )
        check = (
            "from leaderboard.models import WorkerHeartbeat as W; "
            f"print(W.objects.filter(last_token={token!r}).count())"
        )
        wait_for(
            lambda: _manage(env, "shell", "--no-imports", "-c", check).strip() == "1",
            90,
            "the embedded worker to run the ping task",
        )
    assert (var / "db.sqlite3").is_file()
    assert (var / "broker").is_dir()


@pytest.mark.django_db(transaction=True)
def test_worker_heartbeat_names_its_queues(redis_url: str, tmp_path: Path, data_root: Path) -> None:
    env = subprocess_env(
        DATABASE_URL=database_url_for_subprocess(),
        CELERY_BROKER_URL=redis_url,
        MEDVTAB_HEARTBEAT_INTERVAL_S="1",
    )
    with celery_worker(env, queues="gpu", name="hb", log=tmp_path / "worker.log"):
        wait_for(
            lambda: WorkerHeartbeat.objects.filter(hostname__startswith="hb@").exists(),
            60,
            "the worker's first heartbeat",
        )
    beat = WorkerHeartbeat.objects.get(hostname__startswith="hb@")
    assert beat.queues == "gpu"
