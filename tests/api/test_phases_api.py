"""Phases through the API: the catalogue field, the phases endpoint, the schema, and the 409
``phase_closed`` an upload outside an open phase gets, before anything is stored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.utils import timezone

from leaderboard.models import Submission
from tests.api.conftest import token_client
from tests.factories import make_phase

pytestmark = pytest.mark.django_db
DAY = timedelta(days=1)


@pytest.fixture
def upcoming(benchmark: Any) -> Any:
    opens = (timezone.now() + 2 * DAY).replace(microsecond=0)
    return make_phase(
        benchmark, "dev", opens, opens + 5 * DAY, name="Development", protocols=["1k"],
        quota_attempts=7,
    )  # fmt: skip


def _stored() -> list[Path]:
    folder = Path(settings.MEDIA_ROOT) / "submissions"
    return sorted(folder.iterdir()) if folder.is_dir() else []


def test_an_upload_before_the_phase_is_a_409_with_the_next_opening(
    upcoming: Any, alice: Any, submit_file: Any
) -> None:
    response = token_client(alice).post(
        "/api/v1/submissions/", submit_file(protocol="1k"), format="multipart"
    )
    assert response.status_code == 409
    body = response.json()
    opens = upcoming.opens.astimezone(UTC)
    assert body == {
        "code": "phase_closed",
        "detail": body["detail"],
        "field": "benchmark",
        "next_opens": opens.isoformat(),
        "phase": None,
    }
    assert f"'Development', opens at {opens:%Y-%m-%d %H:%M} UTC" in body["detail"]
    wait = int(response["Retry-After"])
    assert 2 * 24 * 3600 - 60 < wait <= 2 * 24 * 3600 + 1
    assert Submission.objects.count() == 0 and _stored() == []


def test_an_open_phase_refuses_another_protocol_naming_the_field(
    benchmark: Any, alice: Any, submit_file: Any
) -> None:
    now = timezone.now()
    make_phase(benchmark, "dev", now - DAY, now + DAY, protocols=["1k"])
    client = token_client(alice)
    refused = client.post("/api/v1/submissions/", submit_file(), format="multipart")  # full
    assert refused.status_code == 409
    body = refused.json()
    assert (body["code"], body["field"], body["phase"], body["next_opens"]) == (
        "phase_closed", "protocol", "dev", None,
    )  # fmt: skip
    assert "Retry-After" not in refused
    taken = client.post("/api/v1/submissions/", submit_file(protocol="1k"), format="multipart")
    assert taken.status_code == 201, taken.json()
    assert len(_stored()) == 1


def test_phases_are_listed_in_the_catalogue_and_their_endpoint(upcoming: Any, api: Any) -> None:
    listed = api.get("/api/v1/benchmarks/tiny-bench/phases/")
    assert listed.status_code == 200
    (phase,) = listed.json()
    assert phase == {
        "slug": "dev",
        "name": "Development",
        "description": "",
        "opens": upcoming.opens.astimezone(UTC).isoformat(),
        "closes": upcoming.closes.astimezone(UTC).isoformat(),
        "state": "upcoming",
        "tracks": ["predictions", "checkpoint"],
        "protocols": ["1k"],
        "checkpoints_required": False,
        "quotas": {"scored": None, "in_flight": None, "attempts": 7},
    }
    assert datetime.fromisoformat(phase["opens"]) == upcoming.opens
    (bench,) = api.get("/api/v1/benchmarks/").json()
    assert bench["phases"] == [phase]
    assert api.get("/api/v1/benchmarks/tiny-bench/").json()["phases"] == [phase]
    missing = api.get("/api/v1/benchmarks/no-such/phases/")
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"


def test_a_benchmark_without_phases_lists_none_and_takes_uploads(
    benchmark: Any, alice: Any, api: Any, submit_file: Any
) -> None:
    assert api.get("/api/v1/benchmarks/tiny-bench/").json()["phases"] == []
    assert api.get("/api/v1/benchmarks/tiny-bench/phases/").json() == []
    posted = token_client(alice).post("/api/v1/submissions/", submit_file(), format="multipart")
    assert posted.status_code == 201


def test_the_schema_has_the_phases_endpoint_readable_anonymously(api: Any) -> None:
    schema = api.get("/api/schema/?format=json").json()
    operation = schema["paths"]["/api/v1/benchmarks/{slug}/phases/"]["get"]
    assert {} in operation["security"]
    item = operation["responses"]["200"]["content"]["application/json"]["schema"]["items"]
    assert item["$ref"].endswith("/Phase")
    phase = schema["components"]["schemas"]["Phase"]["properties"]
    assert {"opens", "closes", "state", "tracks", "protocols", "checkpoints_required"} <= set(
        phase
    )
    error = schema["components"]["schemas"]["Error"]["properties"]
    assert {"next_opens", "phase"} <= set(error)
    upload = schema["paths"]["/api/v1/submissions/"]["post"]["responses"]
    assert "409" in upload
