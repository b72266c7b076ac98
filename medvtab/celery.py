"""The Celery application ``medvtab``: ``celery -A medvtab worker -Q cpu,gpu``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "medvtab.settings")

app = Celery("medvtab")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

_BROKER_FOLDERS = ("data_folder_in", "data_folder_out", "processed_folder", "control_folder")


@app.on_after_configure.connect
def make_broker_folders(sender: Celery, source: Any, **kwargs: Any) -> None:
    """kombu's filesystem transport (the embedded default) needs its folders to exist; every
    process that talks to the broker configures the app first, and loading the settings makes
    nothing."""
    if not str(source.broker_url or "").startswith("filesystem://"):
        return
    options = source.broker_transport_options or {}
    for key in _BROKER_FOLDERS:
        if options.get(key):
            Path(options[key]).mkdir(parents=True, exist_ok=True)


@app.on_after_configure.connect
def schedule_phase_freezes(sender: Celery, source: Any, **kwargs: Any) -> None:
    """Beat freezes the boards of closed phases on the reaper's interval, next to the reaper's
    own entry in settings.CELERY_BEAT_SCHEDULE (leaderboard.tasks.maintenance)."""
    from django.conf import settings

    sender.add_periodic_task(
        float(settings.MEDVTAB_REAPER_INTERVAL_S),
        sender.signature("medvtab.freeze_closed_phases"),
        name="freeze-closed-phases",
        queue="cpu",
    )
