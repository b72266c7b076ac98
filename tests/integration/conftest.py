from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from medvtab.celery import app
from tests.procs import database_url_for_subprocess, private_redis, subprocess_env


def _reset_pools() -> None:
    if app._pool is not None:  # connections made for another broker
        app._pool.force_close_all()
        app._pool = None
    app.amqp._producer_pool = None


@contextlib.contextmanager
def use_broker(url: str, visibility_timeout: int, options: dict[str, Any] | None = None
               ) -> Iterator[None]:
    old_url, old_options = app.conf.broker_url, app.conf.broker_transport_options
    _reset_pools()
    app.conf.broker_url = url
    app.conf.broker_transport_options = options or {"visibility_timeout": visibility_timeout}
    try:
        yield
    finally:
        _reset_pools()
        app.conf.broker_url, app.conf.broker_transport_options = old_url, old_options


class Stack:
    """A private broker (Redis, or the filesystem one of the demo), the test's database and the
    environment workers get."""

    def __init__(self, url: str, restart: Callable[[], None], env: dict[str, str], tmp: Path):
        self.url, self.restart, self.env, self.tmp = url, restart, env, tmp

    def worker_env(self, **extra: str) -> dict[str, str]:
        return {**self.env, **extra}


@pytest.fixture
def stack(tmp_path: Path, settings: Any, tiny_bundles: Path, transactional_db: None) -> Iterator[Stack]:
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.MEDVTAB_BOOTSTRAP_REPLICATES = 50
    settings.MEDVTAB_HEARTBEAT_INTERVAL_S = 1
    visibility = 4
    with private_redis(tmp_path) as (url, restart), use_broker(url, visibility):
        settings.CELERY_BROKER_URL = url
        env = subprocess_env(
            DATABASE_URL=database_url_for_subprocess(), CELERY_BROKER_URL=url,
            MEDVTAB_VISIBILITY_TIMEOUT=str(visibility), MEDVTAB_HEARTBEAT_INTERVAL_S="1",
            MEDVTAB_BOOTSTRAP_REPLICATES="50", MEDIA_ROOT=str(settings.MEDIA_ROOT),
            MEDVTAB_DATA_ROOT=str(tiny_bundles),
        )
        yield Stack(url, restart, env, tmp_path)


def _no_restart() -> None:
    raise AssertionError("the filesystem broker has no server to restart")


@pytest.fixture
def fs_stack(tmp_path: Path, settings: Any, tiny_bundles: Path, transactional_db: None
             ) -> Iterator[Stack]:
    """The embedded broker (kombu's filesystem transport) in a private folder."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.MEDVTAB_BOOTSTRAP_REPLICATES = 50
    settings.MEDVTAB_HEARTBEAT_INTERVAL_S = 1
    var = tmp_path / "var"
    folders = {name: var / "broker" / name for name in ("queue", "processed", "control")}
    for folder in folders.values():
        folder.mkdir(parents=True)
    options = {
        "data_folder_in": str(folders["queue"]), "data_folder_out": str(folders["queue"]),
        "processed_folder": str(folders["processed"]), "control_folder": str(folders["control"]),
        "store_processed": False,
    }
    settings.CELERY_BROKER_URL = "filesystem://"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = options
    with use_broker("filesystem://", 0, options):
        env = subprocess_env(
            DATABASE_URL=database_url_for_subprocess(), MEDVTAB_VAR_DIR=str(var),
            MEDVTAB_HEARTBEAT_INTERVAL_S="1", MEDVTAB_BOOTSTRAP_REPLICATES="50",
            MEDIA_ROOT=str(settings.MEDIA_ROOT), MEDVTAB_DATA_ROOT=str(tiny_bundles),
        )
        env.pop("CELERY_BROKER_URL", None)
        yield Stack("filesystem://", _no_restart, env, tmp_path)


@pytest.fixture(params=["filesystem", "redis"])
def any_stack(request: pytest.FixtureRequest) -> Stack:
    """Each broker in turn: the demo's filesystem transport and production's Redis."""
    return request.getfixturevalue("fs_stack" if request.param == "filesystem" else "stack")


def submit(user: Any, root: Path, *, seed: int = 0) -> Any:
    from django.core.files.uploadedfile import SimpleUploadedFile

    from leaderboard.models import Benchmark
    from leaderboard.services.submissions import SubmissionRequest, create_submission
    from tests.leaderboard.conftest import predictions_zip

    upload = SimpleUploadedFile("p.zip", predictions_zip(root, seed=seed))
    return create_submission(SubmissionRequest(
        owner=user, benchmark=Benchmark.objects.get(slug="tiny-bench"), track="predictions",
        upload=upload, method_name=f"method-{seed}",
    ))
