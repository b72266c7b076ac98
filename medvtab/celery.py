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
