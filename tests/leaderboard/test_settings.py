"""Settings read the environment strictly; a bad value fails start-up naming the variable."""

from __future__ import annotations

import subprocess
import sys

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
