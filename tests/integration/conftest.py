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
def use_broker(url: str, visibility_timeout: int) -> Iterator[None]:
    old_url, old_options = app.conf.broker_url, app.conf.broker_transport_options
    _reset_pools()
    app.conf.broker_url = url
    app.conf.broker_transport_options = {"visibility_timeout": visibility_timeout}
    try:
        yield
    finally:
        _reset_pools()
        app.conf.broker_url, app.conf.broker_transport_options = old_url, old_options


class Stack:
    """A private Redis, the test's PostgreSQL database and the environment workers get."""

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
