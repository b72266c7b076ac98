"""The interactive API docs in a real browser under the strict content-security policy: served
from this origin only (no CDN, no web fonts), no inline script or style, no console errors."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import pytest

from leaderboard.middleware import DEFAULT_POLICY
from tests.browser.conftest import Console, shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
URL_ATTRS = re.compile(r"""(?:src|href|spec-url)=["']([^"']+)["']""")


def _load(page: Any, url: str, ready: str) -> list[str]:
    """Load a page; return the hosts of every request it made."""
    hosts: list[str] = []
    page.on("request", lambda r: hosts.append(urlsplit(r.url).netloc))
    response = page.goto(url)
    assert response is not None and response.status == 200
    assert response.headers["content-security-policy"] == DEFAULT_POLICY
    page.wait_for_selector(ready, timeout=30_000)
    page.wait_for_load_state("networkidle")
    return hosts


@pytest.mark.parametrize(
    ("path", "ready", "name"),
    [
        ("/api/docs/", ".opblock-tag", "api-docs-swagger"),
        ("/api/redoc/", "[data-section-id^='tag/']", "api-docs-redoc"),
    ],
)
def test_api_docs_render_under_the_strict_policy(
    live_server: Any, page: tuple[Any, Console], path: str, ready: str, name: str
) -> None:
    tab, console = page
    hosts = _load(tab, live_server.url + path, ready)
    shot(tab, name)
    assert console.errors == [], "\n".join(console.errors)
    assert set(hosts) == {urlsplit(live_server.url).netloc}
    assert tab.locator("text=/api/v1/submissions/").count() > 0


@pytest.mark.parametrize("path", ["/api/docs/", "/api/docs/?script", "/api/redoc/"])
def test_api_docs_reference_no_other_origin(client: Any, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    text = response.content.decode()
    assert "http://" not in text and "https://" not in text
    assert all(u.startswith("/") for u in URL_ATTRS.findall(text)), URL_ATTRS.findall(text)
    assert "<style" not in text and not re.search(r"<script(?![^>]*\bsrc=)", text)
