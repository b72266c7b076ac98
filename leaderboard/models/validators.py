"""Validators of the submission fields: the one source of their limits. The web form
(ModelForm), the API (ModelSerializer) and the submissions service all validate through the model
fields that carry them, and the OpenAPI schema is built from the same constants."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator, URLValidator
from django.utils.deconstruct import deconstructible

MAX_TUNABLE_PARAMS = 10**13
MAX_BACKBONES = 8
MAX_BACKBONE_ROLE = 50
MAX_BACKBONE_ID = 100
URL_SCHEMES = ("http", "https")


# The family is a URL path segment (/methods/<family>/). A regex, so the schema carries it too.
validate_method_family = RegexValidator(
    r"^[^/\x00]*\Z", message="may not contain '/' (nor null characters)", code="bad_family"
)


def validate_backbones(value: Any) -> None:
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
        super().__call__(value)
        URLValidator(schemes=list(URL_SCHEMES), message=self.message)(value)
