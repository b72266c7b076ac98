"""The character rules of the submission's free-text fields: the validators themselves, and the
web form refusing control characters with a 400 that names the field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from leaderboard.models import Benchmark, Submission
from leaderboard.models.validators import (
    validate_backbones,
    validate_method_family,
    validate_single_line,
    validate_text,
)
from tests.leaderboard.conftest import predictions_zip


@pytest.mark.parametrize(
    "value",
    [
        {"backbone": "vit\x00"},
        {"back\x00bone": "vit"},
        {"backbone": "vit\x1b[31m"},
        {"role\x85": "vit"},  # NEL, a C1 control
        {"backbone": "vit\n"},
    ],
)
def test_backbones_refuse_control_characters_in_roles_and_ids(value: dict[str, str]) -> None:
    with pytest.raises(ValidationError, match="control characters") as info:
        validate_backbones(value)
    assert info.value.code == "control_characters"


def test_backbones_keep_their_other_limits() -> None:
    validate_backbones({"backbone": "vit-b16 (in21k) \u00e9\u4e2d"})  # printable: fine
    with pytest.raises(ValidationError, match="up to 8") as info:
        validate_backbones({f"r{i}": "vit" for i in range(9)})
    assert info.value.code == "invalid_backbones"
    with pytest.raises(ValidationError, match="up to 8"):
        validate_backbones(["vit"])


@pytest.mark.parametrize("char", ["\x00", "\x01", "\t", "\n", "\x1f", "\x7f", "\x9f"])
def test_single_line_fields_refuse_every_control_character(char: str) -> None:
    with pytest.raises(ValidationError, match="control characters"):
        validate_single_line(f"lora{char}r=4")
    with pytest.raises(ValidationError):
        validate_method_family(f"lora{char}")


def test_text_allows_tabs_and_line_breaks_only() -> None:
    validate_text("line one\r\nline two\tand a tab, \u00e9")
    validate_single_line("lora r=4 (general, 1k) \u00e9")
    for char in ("\x00", "\x08", "\x0b", "\x0c", "\x1b", "\x7f", "\x85"):
        with pytest.raises(ValidationError, match="control characters"):
            validate_text(f"a{char}b")


def _post(client: Client, bench: Benchmark, root: Path, **fields: str) -> Any:
    data = {
        "benchmark": bench.pk, "track": "predictions", "protocol": "full",
        "method_name": "lora", "pretraining": "unknown", "is_public": "on",
        "file": SimpleUploadedFile("p.zip", predictions_zip(root)),
    } | fields  # fmt: skip
    return client.post("/submit/", data)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("method_name", "lora\x00"),
        ("method_name", "lora\x1b[2J"),
        ("method_family", "lo\x07ra"),
        ("description", "a\x00b"),
        ("description", "a\x0cb"),
        ("paper_url", "https://example.org/a\x01b"),
    ],
)
def test_the_form_refuses_control_characters(
    alice: Any, benchmark: Benchmark, tiny_bundles: Path, field: str, value: str
) -> None:
    client = Client()
    client.force_login(alice)
    response = _post(client, benchmark, tiny_bundles, **{field: value})
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert list(errors) == [field], errors
    assert "haracter" in errors[field][0]  # NUL: Django's own "Null characters are not allowed."
    assert not Submission.objects.exists()


@pytest.mark.django_db
def test_the_form_keeps_line_breaks_in_the_description(
    alice: Any, benchmark: Benchmark, tiny_bundles: Path, settings: Any, tmp_path: Path
) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"
    client = Client()
    client.force_login(alice)
    response = _post(client, benchmark, tiny_bundles, description="first\r\nsecond\tthird")
    assert response.status_code == 302
    assert Submission.objects.get().description == "first\r\nsecond\tthird"
