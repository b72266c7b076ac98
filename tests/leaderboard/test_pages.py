from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

from leaderboard.services.registration import sync_benchmark
from tests.procs import REPO

pytestmark = pytest.mark.django_db


def test_home_lists_modalities_tasks_and_split_sizes(tiny_bundles: Path, client: Client) -> None:
    sync_benchmark(tiny_bundles, "tiny-bench")
    html = client.get("/").content.decode()
    for text in ("X-ray", "Colour images", "CT / OCT / MRI", "tiny-cxr", "tiny-derm", "tiny-oct"):
        assert text in html
    assert 'data-split="test_ood">12' in html
    assert "synthetic" in html


def test_home_without_benchmarks_says_how_to_create_one(client: Client) -> None:
    assert "create_demo_benchmark" in client.get("/").content.decode()


def test_task_page_explains_ood_level(tiny_bundles: Path, client: Client) -> None:
    sync_benchmark(tiny_bundles, "tiny-bench")
    html = client.get("/tasks/tiny-derm/").content.decode()
    assert "never appear in train" in html
    assert "CC0-1.0" in html
    assert client.get("/tasks/nope/").status_code == 404


WEB_TIER = """
import sys, django
django.setup()
from django.test import Client
from django.urls import get_resolver
get_resolver().url_patterns
client = Client()
for url in ("/", "/tasks/none/"):
    client.get(url)
print("torch" in sys.modules)
"""


def test_web_tier_never_imports_torch(tmp_path: Path) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "DEBUG": "1",
        "DJANGO_SETTINGS_MODULE": "medvtab.settings",
        "MEDVTAB_VAR_DIR": str(tmp_path),
        "ALLOWED_HOSTS": "testserver",
    }
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"], cwd=REPO, env=env, check=True, timeout=120
    )
    done = subprocess.run(
        [sys.executable, "-c", WEB_TIER],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
