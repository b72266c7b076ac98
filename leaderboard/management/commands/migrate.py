"""``migrate``, which first makes the folder of a SQLite database: the embedded default lives
under var/, and the settings create nothing when they are loaded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.commands.migrate import Command as DjangoMigrate
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper


def make_sqlite_folder(connection: BaseDatabaseWrapper) -> None:
    if connection.vendor != "sqlite":
        return
    name = str(connection.settings_dict["NAME"])
    if not connection.creation.is_in_memory_db(name):
        Path(name).parent.mkdir(parents=True, exist_ok=True)


class Command(DjangoMigrate):
    def execute(self, *args: Any, **options: Any) -> str | None:
        # before the system checks, which already open the database
        make_sqlite_folder(connections[options.get("database") or "default"])
        return super().execute(*args, **options)
