"""Under the Ladder, the submission JSON (API, ``submit --wait``, the client's ``--json``) carries
a submission's scores only once the ladder let it onto the boards."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from leaderboard.models import Benchmark
from leaderboard.serializers import submission_json
from leaderboard.services.boards import recompute
from tests.api.conftest import token_client
from tests.leaderboard.conftest import make_user
from tests.leaderboard.test_ladder_boards import _add, _media, laddered  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db


def test_the_json_withholds_what_the_ladder_did_not_show(
    laddered: Benchmark, tiny_bundles: Path, settings: Any
) -> None:
    settings.MEDVTAB_API_RATES = {"anon": "10000/min", "user": "10000/min", "upload": "10000/min"}
    ann = make_user("ann")
    first = _add(ann, laddered, tiny_bundles, 0.80, paired=True, seed=0, offset=0)
    assert submission_json(first)["results"] is None  # not judged until the boards recompute
    probe = _add(ann, laddered, tiny_bundles, 0.805, paired=False, seed=9, offset=10)
    recompute(laddered)
    assert submission_json(first)["results"] == first.score_json
    api = token_client(ann).get(f"/api/v1/submissions/{probe.pk}/").json()
    assert api["status"] == "succeeded" and api["results"] is None
    Benchmark.objects.filter(pk=laddered.pk).update(ladder=False)
    probe.refresh_from_db()
    assert submission_json(probe)["results"] == probe.score_json  # no Ladder: all shown


def test_the_page_withholds_what_the_ladder_did_not_show(
    laddered: Benchmark, tiny_bundles: Path, settings: Any
) -> None:
    settings.MEDVTAB_API_RATES = {"anon": "10000/min", "user": "10000/min", "upload": "10000/min"}
    ann = make_user("ann")
    first = _add(ann, laddered, tiny_bundles, 0.80, paired=True, seed=0, offset=0)
    probe = _add(ann, laddered, tiny_bundles, 0.805, paired=False, seed=9, offset=10)
    recompute(laddered)
    client = Client()
    client.force_login(ann)  # even its owner sees only what the boards show
    shown = client.get(f"/submissions/{first.pk}/").content.decode()
    kept = client.get(f"/submissions/{probe.pk}/").content.decode()
    assert 'id="results"' in shown and 'id="ladder-withheld"' not in shown
    assert 'id="results"' not in kept and 'id="aggregates"' not in kept
    assert 'id="ladder-withheld"' in kept
    status = client.get(f"/submissions/{probe.pk}/status.json").json()
    assert 'id="results"' not in status["body_html"]
