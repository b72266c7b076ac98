"""Hostile form/API fields around a valid predictions file: sizes, URLs, NUL bytes, bodies."""

from __future__ import annotations

import json

from tests.leaderboard.conftest import predictions_zip
from tests.security.corpus import UPLOAD, Case, Ctx, Upload


def valid(ctx: Ctx, **fields: str) -> Upload:
    return Upload(predictions_zip(ctx.root), name="preds.zip", fields=fields)


def long_name(ctx: Ctx) -> Upload:
    return valid(ctx, method_name="m" * 101)


def long_description(ctx: Ctx) -> Upload:
    return valid(ctx, description="<b>d</b>" * 700)


def huge_backbones(ctx: Ctx) -> Upload:
    return valid(ctx, backbones=json.dumps({f"role{i}": "x" * 90 for i in range(5000)}))


def nested_backbones(ctx: Ctx) -> Upload:
    return valid(ctx, backbones=json.dumps({"backbone": {"a": ["b"] * 1000}}))


def family_with_slash(ctx: Ctx) -> Upload:
    return valid(ctx, method_family="+cmd|' /C calc'!A0")


def javascript_url(ctx: Ctx) -> Upload:
    return valid(ctx, paper_url="javascript:alert(document.cookie)")


def nul_name(ctx: Ctx) -> Upload:
    return valid(ctx, method_name="evil\x00name")


def seed_overflow(ctx: Ctx) -> Upload:
    return valid(ctx, seed=str(2**70))


def negative_params(ctx: Ctx) -> Upload:
    return valid(ctx, tunable_params="-5")


def unknown_track(ctx: Ctx) -> Upload:
    return valid(ctx, track="<script>")


def json_body(ctx: Ctx) -> Upload:
    return Upload(b"", json_body=True, fields={"method_name": "json", "file": "UEsDBA=="})


def many_fields(ctx: Ctx) -> Upload:
    return valid(ctx, **{f"f{i}": "x" for i in range(1200)})


def field_over_request_limit(ctx: Ctx) -> Upload:
    return valid(ctx, description="x" * (11 << 20))


P = "predictions"
FIELD_CASES = [
    Case("method-name-101-chars", P, long_name, UPLOAD, r"100", field="method_name"),
    Case("description-5600-chars", P, long_description, UPLOAD, r"5000", field="description"),
    Case(
        "huge-backbones-json",
        P,
        huge_backbones,
        UPLOAD,
        r"backbone",
        field="backbones",
        entries=("api",),
    ),
    Case(
        "nested-backbones-json",
        P,
        nested_backbones,
        UPLOAD,
        r"backbone",
        field="backbones",
        entries=("api",),
    ),
    Case(
        "family-with-slash",
        P,
        family_with_slash,
        UPLOAD,
        r"may not contain '/'",
        field="method_family",
    ),
    Case("javascript-url", P, javascript_url, UPLOAD, r"URL", field="paper_url"),
    Case("nul-in-method-name", P, nul_name, UPLOAD, r"null characters", field="method_name"),
    Case("seed-2e70", P, seed_overflow, UPLOAD, r"seed|2\^63|less than", field="seed"),
    Case(
        "negative-tunable-params",
        P,
        negative_params,
        UPLOAD,
        r"greater than or equal|0",
        field="tunable_params",
    ),
    Case("unknown-track", P, unknown_track, UPLOAD, r"valid choice", field="track"),
    Case("json-body", P, json_body, UPLOAD, r"required|media type", status=0),
    Case("1200-fields", P, many_fields, UPLOAD, r"too many (form )?fields|bad request", status=0),
    Case(
        "field-over-10MB",
        P,
        field_over_request_limit,
        UPLOAD,
        r"larger than 10 MB",
        status=413,
        entries=("api",),
    ),
]
