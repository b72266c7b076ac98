"""Control characters (NUL above all, which PostgreSQL cannot store in text or JSON) are refused
with a 400 naming the field, in every free-text field of an upload; the schema says so."""

from __future__ import annotations

from typing import Any

import pytest

from leaderboard.models import Submission
from tests.api.conftest import token_client

pytestmark = pytest.mark.django_db
URL = "/api/v1/submissions/"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"backbones": '{"backbone": "vit\\u0000s"}'}, "backbones"),
        ({"backbones": '{"backbone": "vit\\u001bs"}'}, "backbones"),  # ESC
        ({"backbones": '{"backbone": "vit\\u0089s"}'}, "backbones"),  # a C1 control
        ({"backbones": '{"backbone": "vit\\ns"}'}, "backbones"),
        ({"backbones": '{"backbone": "vit\\ud800"}'}, "backbones"),  # an unpaired surrogate
        ({"method_name": "lora\x01"}, "method_name"),
        ({"method_name": "lora\nr=4"}, "method_name"),
        ({"method_family": "lo\x1bra"}, "method_family"),
        ({"description": "a\x07b"}, "description"),
        ({"description": "a\x7fb"}, "description"),
        ({"idempotency_key": "key\x02"}, "idempotency_key"),
        ({"paper_url": "https://example.org/a\x01b"}, "paper_url"),
    ],
)
def test_control_characters_are_refused_naming_the_field(
    alice: Any, benchmark: Any, submit_file: Any, change: dict[str, str], field: str
) -> None:
    response = token_client(alice).post(URL, submit_file(**change), format="multipart")
    data = response.json()
    assert response.status_code == 400, data
    assert (data["code"], data["field"]) == ("invalid", field)
    assert "control character" in data["detail"], data
    assert not Submission.objects.exists()


def test_role_names_lose_their_control_characters(
    alice: Any, benchmark: Any, submit_file: Any
) -> None:
    """The schema cannot state a rule on keys (OpenAPI 3.0): the API cleans them instead."""
    client = token_client(alice)
    sent = '{"back\\u0000bone": "vit-s", "\\u0089medical\\ud800": "vit-m"}'
    response = client.post(URL, submit_file(backbones=sent), format="multipart")
    assert response.status_code == 201, response.json()
    assert Submission.objects.get().backbones == {"backbone": "vit-s", "medical": "vit-m"}
    # two names that become one stay two roles (a 400 here would refuse what the schema allows)
    twice = '{"backbone": "vit-s", "back\\u0000bone": "vit-m"}'
    response = client.post(URL, submit_file(variant=1, backbones=twice), format="multipart")
    assert response.status_code == 201, response.json()
    second = Submission.objects.get(pk=response.json()["id"])
    assert second.backbones == {"backbone": "vit-s", "backbone (2)": "vit-m"}


def test_tabs_and_line_breaks_stay_allowed_in_the_description(
    alice: Any, benchmark: Any, submit_file: Any
) -> None:
    text = "rank 4\tbottleneck 8\r\nsecond line"
    response = token_client(alice).post(
        URL,
        submit_file(description=text, backbones='{"backbone": "vit-s \\u00e9"}'),
        format="multipart",
    )
    assert response.status_code == 201, response.json()
    sub = Submission.objects.get()
    assert sub.description == text and sub.backbones == {"backbone": "vit-s \u00e9"}


def test_the_schema_carries_the_character_rules(api: Any) -> None:
    schema = api.get("/api/schema/?format=json").json()
    fields = schema["components"]["schemas"]["SubmissionCreateRequest"]["properties"]
    assert "\\u0000-\\u001f" in fields["backbones"]["additionalProperties"]["pattern"]
    for name in ("method_name", "method_family", "idempotency_key", "description"):
        # a field that may be blank is "oneOf" its rules and the empty string
        rules = fields[name].get("oneOf", [fields[name]])[0]
        assert "\\u0000-" in rules["pattern"], fields[name]


@pytest.mark.parametrize("field", ["benchmark", "track", "protocol", "pretraining", "sha256"])
def test_nul_in_any_other_field_is_a_400(
    alice: Any, benchmark: Any, submit_file: Any, field: str
) -> None:
    response = token_client(alice).post(
        URL, submit_file(**{field: "tiny\x00bench"}), format="multipart"
    )
    assert response.status_code == 400, response.json()
    assert response.json()["field"] == field
