"""A phase's page in headless Chromium under the site's strict CSP: the times are shown in the
viewer's time zone by static/js/localtime.js (UTC stays as the title), with no console error."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.browser.conftest import Console, browser, shot  # noqa: F401 - fixture
from tests.factories import make_phase

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

OPENS = datetime(2031, 3, 1, 12, 0, tzinfo=UTC)
CLOSES = datetime(2031, 3, 5, 23, 30, tzinfo=UTC)


@pytest.fixture
def tokyo(browser: Any) -> Iterator[tuple[Any, Console]]:
    context = browser.new_context(timezone_id="Asia/Tokyo", locale="en-GB")
    tab = context.new_page()
    yield tab, Console(tab)
    context.close()


def test_phase_times_are_shown_in_the_viewers_time_zone(
    live_server: Any, benchmark: Any, tokyo: tuple[Any, Console]
) -> None:
    make_phase(benchmark, "final", OPENS, CLOSES, name="Final", tracks=["checkpoint"],
               checkpoints_required=True)  # fmt: skip
    tab, console = tokyo
    response = tab.goto(f"{live_server.url}/b/tiny-bench/phases/final/")
    assert response.status == 200
    assert "script-src 'self'" in (response.headers.get("content-security-policy") or "")
    closes = tab.locator("#phase-closes time")
    tab.wait_for_selector("#phase-closes time[data-localised='1']")
    # 23:30 UTC on 5 March is 08:30 on 6 March in Tokyo (UTC+9, no daylight saving)
    shown = closes.inner_text()
    assert "6 Mar 2031" in shown and "08:30" in shown, shown
    assert closes.get_attribute("title") == "2031-03-05 23:30 UTC"
    assert closes.get_attribute("datetime") == CLOSES.isoformat()
    shot(tab, "phase-local-time")
    assert console.errors == [], "\n".join(console.errors)
