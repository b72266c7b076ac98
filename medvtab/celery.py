"""The Celery application ``medvtab``: ``celery -A medvtab worker -Q cpu,gpu``."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "medvtab.settings")

app = Celery("medvtab")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
