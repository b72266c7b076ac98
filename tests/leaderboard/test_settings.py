"""Settings read the environment strictly; a bad value fails start-up naming the variable."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.procs import REPO

SETUP = "import django; django.setup(); from django.conf import settings; print(settings.DEBUG)"


def _start(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "medvtab.settings",
        "MEDVTAB_VAR_DIR": "/tmp/medvtab-settings-test",
    }
    return subprocess.run(
        [sys.executable, "-c", SETUP],
        cwd=REPO,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_secret_key_required_when_debug_off() -> None:
    done = _start({"DEBUG": "0"})
    assert done.returncode != 0
    assert "SECRET_KEY must be set" in done.stderr


def test_debug_on_needs_no_secret() -> None:
    done = _start({"DEBUG": "1"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DEBUG": "maybe"}, "DEBUG='maybe' is not a boolean"),
        (
            {"DEBUG": "1", "MEDVTAB_TASK_TIME_LIMIT": "soon"},
            "MEDVTAB_TASK_TIME_LIMIT='soon' is not an integer",
        ),
        ({"DEBUG": "1", "MEDVTAB_TASK_TIME_LIMIT": "3"}, "must be at least 10"),
        (
            {"DEBUG": "1", "DATABASE_URL": "nonsense://x"},
            "DATABASE_URL='nonsense://x' is not a database URL",
        ),
        ({"DEBUG": "1", "LOG_LEVEL": "LOUD"}, "LOG_LEVEL='LOUD' must be one of"),
    ],
)
def test_bad_values_fail_clearly(env: dict[str, str], message: str) -> None:
    done = _start(env)
    assert done.returncode != 0
    assert message in done.stderr


def test_allowed_hosts_parsed_as_list() -> None:
    code = SETUP.replace("settings.DEBUG", "settings.ALLOWED_HOSTS")
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        env={
            "PATH": "/usr/bin:/bin",
            "DEBUG": "1",
            "ALLOWED_HOSTS": "a.org, b.org",
            "DJANGO_SETTINGS_MODULE": "medvtab.settings",
            "MEDVTAB_VAR_DIR": "/tmp/medvtab-settings-test",
        },
    )
    assert done.stdout.strip() == "['a.org', 'b.org']"


PATH_SETTINGS = (
    "MEDVTAB_VAR_DIR",
    "MEDIA_ROOT",
    "STATIC_ROOT",
    "MEDVTAB_DATA_ROOT",
    "EMAIL_FILE_PATH",
)


@pytest.mark.parametrize("name", PATH_SETTINGS)
def test_an_empty_path_is_refused(name: str) -> None:
    # Path("") is ".": uploads would land in whatever directory the process started in.
    done = _start({"DEBUG": "1", name: ""})
    assert done.returncode != 0
    assert f"{name} is set but empty" in done.stderr


@pytest.mark.parametrize("name", PATH_SETTINGS)
def test_a_relative_path_is_refused(name: str) -> None:
    # web and workers start in different directories, so they would not share the folder
    done = _start({"DEBUG": "1", name: "var/somewhere"})
    assert done.returncode != 0
    assert f"{name}='var/somewhere' must be an absolute path" in done.stderr


def _embedded(var: Path, code: str) -> subprocess.CompletedProcess[str]:
    """Python in a fresh process on the embedded default (SQLite, filesystem broker) under var."""
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env={
            "PATH": "/usr/bin:/bin",
            "DJANGO_SETTINGS_MODULE": "medvtab.settings",
            "DEBUG": "1",
            "MEDVTAB_VAR_DIR": str(var),
        },
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_loading_the_settings_creates_nothing(tmp_path: Path) -> None:
    var = tmp_path / "var"
    code = SETUP.replace("print(settings.DEBUG)", "print(settings.DATABASES, settings.MEDIA_ROOT)")
    done = _embedded(var, code)
    assert done.returncode == 0, done.stderr
    assert str(var / "db.sqlite3") in done.stdout
    assert not var.exists()


def test_migrate_makes_the_folder_of_the_sqlite_database(tmp_path: Path) -> None:
    var = tmp_path / "var"
    code = "import sys; from django.core.management import execute_from_command_line as run; "
    done = _embedded(var, code + "run([sys.argv[0], 'migrate', '--noinput', '-v0'])")
    assert done.returncode == 0, done.stderr
    assert (var / "db.sqlite3").is_file()


def test_the_filesystem_broker_makes_its_folders_when_used(tmp_path: Path) -> None:
    var = tmp_path / "var"
    code = (
        "import django; django.setup(); from leaderboard.tasks import ping; ping.delay(token='t')"
    )
    done = _embedded(var, code)
    assert done.returncode == 0, done.stderr
    assert len(list((var / "broker" / "queue").iterdir())) == 1  # the message, waiting
    assert not (var / "db.sqlite3").exists()  # nothing else was made on the way
