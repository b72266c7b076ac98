"""Validators of the submission fields: the one source of their limits. The web form
(ModelForm), the API (ModelSerializer) and the submissions service all validate through the model
fields that carry them (the form and the API add ``TEXT_FIELD_VALIDATORS``), and the OpenAPI
schema is built from the same constants."""

from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator, URLValidator
from django.utils.deconstruct import deconstructible

MAX_TUNABLE_PARAMS = 10**13
MAX_BACKBONES = 8
MAX_BACKBONE_ROLE = 50
MAX_BACKBONE_ID = 100
URL_SCHEMES = ("http", "https")


# Unicode's control characters (category Cc: C0, DEL, C1). PostgreSQL cannot store NUL in a text
# or JSON column at all (the insert fails), and none of them belongs in a name, an id or a URL.
# Python's `re` and the schema's ECMA regexes both read these \u escapes.
CONTROL = r"\u0000-\u001f\u007f-\u009f"
# ... less the tab and the line breaks a description may hold
CONTROL_IN_TEXT = r"\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f"
SINGLE_LINE_PATTERN = rf"^[^{CONTROL}]*\Z"  # \Z, not $: a final line break must not slip through
# What a JSON string can smuggle into a JSON column besides: an unpaired surrogate ("\ud800"),
# which PostgreSQL refuses too (a form field's text is decoded UTF-8 and cannot hold one).
_UNSTORABLE = re.compile(f"[{CONTROL}\ud800-\udfff]")

# Regexes, so the OpenAPI schema carries them as patterns (and the fuzzer generates to them).
validate_single_line = RegexValidator(
    SINGLE_LINE_PATTERN,
    message="may not contain control characters (NUL, escapes, tabs or line breaks)",
    code="control_characters",
)
validate_text = RegexValidator(
    rf"^[^{CONTROL_IN_TEXT}]*\Z",
    message="may not contain control characters other than tabs and line breaks",
    code="control_characters",
)
# The family is a URL path segment (/methods/<family>/).
validate_method_family = RegexValidator(
    rf"^[^/{CONTROL}]*\Z", message="may not contain '/' nor control characters", code="bad_family"
)
# The free-text fields whose model fields carry no character rule of their own: the web form and
# the API add these (the submissions service strips control characters from what it is given).
TEXT_FIELD_VALIDATORS: dict[str, RegexValidator] = {
    "method_name": validate_single_line,
    "idempotency_key": validate_single_line,
    "description": validate_text,
}


def schema_pattern(pattern: str) -> str:
    """A Python regex ending in ``\\Z`` as the ECMA regex of a hand-written schema."""
    return pattern.removesuffix(r"\Z") + "$"


def strip_unstorable(text: str) -> str:
    """``text`` without control characters and unpaired surrogates."""
    return _UNSTORABLE.sub("", text)


def validate_backbones(value: Any) -> None:
    _check_backbones_shape(value)
    if any(_UNSTORABLE.search(k) or _UNSTORABLE.search(v) for k, v in value.items()):
        raise ValidationError(
            "role names and backbone ids may not contain control characters (NUL, escapes, "
            "tabs or line breaks) nor unpaired surrogates",
            code="control_characters",
        )


def _check_backbones_shape(value: Any) -> None:
    ok = (
        isinstance(value, dict)
        and len(value) <= MAX_BACKBONES
        and all(
            isinstance(k, str)
            and isinstance(v, str)
            and len(k) <= MAX_BACKBONE_ROLE
            and len(v) <= MAX_BACKBONE_ID
            for k, v in value.items()
        )
    )
    if not ok:
        raise ValidationError(
            f"must map up to {MAX_BACKBONES} role names (at most {MAX_BACKBONE_ROLE} characters) "
            f"to backbone ids (at most {MAX_BACKBONE_ID})",
            code="invalid_backbones",  # not "invalid": JSONField would swap in its own message
        )


@deconstructible
class HttpUrlValidator(RegexValidator):
    """Django's URL validator restricted to http(s). A regex validator for the scheme, so the
    OpenAPI schema carries it, and not a ``URLValidator`` subclass: Django REST framework drops
    those from model fields and would then accept ``ftp://``."""

    regex = r"^[hH][tT][tT][pP][sS]?://"
    message = "Enter a valid http(s) URL."

    def __call__(self, value: str) -> None:
        # first: Django's URL validator lets control characters through in the path
        validate_single_line(value)
        super().__call__(value)
        URLValidator(schemes=list(URL_SCHEMES), message=self.message)(value)
