"""The OpenAPI schema: generated without warnings, fuzzed with schemathesis (bounded), and no
response of any endpoint carries hidden labels or hidden patient ids."""

from __future__ import annotations

import hashlib
import io
import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import schemathesis
from django.core import signals
from django.core.management import call_command
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.hooks import HookDispatcher, HookScope
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    positive_data_acceptance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.transport.serialization import Binary

from datasets.bundle import TEST_SPLITS, load_split, read_meta, task_dir
from leaderboard.services.boards import recompute
from leaderboard.services.registration import sync_benchmark
from medvtab.wsgi import application
from tests.api.conftest import make_submission, token_client
from tests.factories import write_tiny_task
from tests.leaderboard.conftest import predictions_zip

pytestmark = pytest.mark.django_db
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    # The schema says what the API does: anonymous reads are declared optional-auth, data the
    # schema allows is accepted and data it forbids is refused.
    ignored_auth,
    positive_data_acceptance,
    negative_data_rejection,
]
SUBMIT = ("POST", "/api/v1/submissions/")


def test_schema_generates_without_warnings_and_validates(tmp_path: Path) -> None:
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    text = out.read_text()
    for path in ("/api/v1/submissions/{id}/cancel", "/api/v1/leaderboards/{benchmark}/"):
        assert path in text


def test_schema_and_docs_are_served(api: Any) -> None:
    schema = api.get("/api/schema/?format=json")
    assert schema.status_code == 200 and schema.json()["openapi"].startswith("3.")
    assert "tokenAuth" in schema.json()["components"]["securitySchemes"]
    assert api.get("/api/docs/").status_code == 200


def _operations(schema: Any) -> list[Any]:
    return [result.ok() for result in schema.get_all_operations()]


def _valid_upload(root: Path) -> HookDispatcher:
    """Pin what no schema can describe (a real archive of a known benchmark, its sha256) and let
    the fuzzer generate every other field of a positive upload."""
    payload = Binary(predictions_zip(root))
    pinned = {
        "file": payload,
        "sha256": hashlib.sha256(payload.data).hexdigest(),
        "benchmark": "tiny-bench",
        "track": "predictions",
    }

    def map_body(ctx: Any, body: Any) -> Any:
        upload = (ctx.operation.method.upper(), ctx.operation.path) == SUBMIT
        return {**body, **pinned} if upload and isinstance(body, dict) else body

    hooks = HookDispatcher(scope=HookScope.TEST)
    hooks.register_hook_with_name(map_body, "map_body")
    return hooks


def _fuzz(
    operation: Any, headers: dict[str, str], examples: int, mode: GenerationMode, pin: Any
) -> tuple[list[int], str | None]:
    seen: list[int] = []
    strategy = operation.as_strategy(generation_mode=mode, hooks=pin if mode.is_positive else None)

    @given(case=strategy)
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        response = case.call_and_validate(headers=headers, checks=CHECKS)
        seen.append(response.status_code)

    try:
        run()
    except Unsatisfiable:
        return seen, None  # nothing of this operation can be made schema-invalid
    except BaseExceptionGroup as group:  # every operation's failures are reported together
        found = str(group)  # the report: each failure with its request and response
    except Exception as exc:
        found = str(exc)
    else:
        return seen, None
    return seen, f"{operation.label} [{mode.value}, {'token' if headers else 'anonymous'}]: {found}"


@pytest.fixture
def keep_connection() -> Any:
    """Calling the WSGI app directly would close the test's database connection at the end of
    each request; Django's own test client detaches the same handlers."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.mark.usefixtures("keep_connection")
def test_fuzz_every_operation(
    alice: Any, benchmark: Any, tiny_bundles: Path, settings: Any
) -> None:
    """Anonymous and with a submit token, positive and negative data: no 500, every response as
    the schema says, declared auth enforced, allowed data accepted and forbidden data refused."""
    settings.MEDVTAB_QUOTA_ATTEMPTS = 10_000
    settings.MEDVTAB_QUOTA_IN_FLIGHT = 10_000
    settings.MEDVTAB_QUOTA_SCORED = 10_000
    make_submission(alice, benchmark, tiny_bundles)  # something to read
    schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)
    client = token_client(alice)
    bearer = {"Authorization": client._credentials["HTTP_AUTHORIZATION"]}
    operations = _operations(schema)
    assert len(operations) >= 12
    pin = _valid_upload(tiny_bundles)
    seen: list[int] = []
    failures: list[str] = []
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            for headers in ({}, bearer):
                statuses, failure = _fuzz(operation, headers, 5, mode, pin)
                seen += statuses
                failures += [failure] if failure else []
    assert not failures, "\n\n".join(failures)
    assert len(seen) >= 4 * 4 * len(operations)
    assert {200, 201, 400, 401, 404} <= set(seen), sorted(set(seen))


def _distinctive_hidden(root: Path) -> None:
    """A task whose hidden patient ids are unmistakable strings, and one with hidden test images."""
    write_tiny_task(root, "tiny-hidden", modality="xray", test_images_public=False)
    meta = read_meta(root, "tiny-bench", "tiny-cxr")
    for split in TEST_SPLITS:
        folder = task_dir(root, "hidden", "tiny-bench", "tiny-cxr") / split
        patients = np.load(folder / "patient_ids.npy")
        secret = np.array([f"SECRETPATIENT{split}{p}" for p in patients])
        np.save(folder / "patient_ids.npy", secret)
    assert meta.slug == "tiny-cxr"


def _walk(client: Any, schema: dict[str, Any], values: dict[str, str]) -> dict[str, bytes]:
    """GET every path of the schema with known path values; returns path → body."""
    bodies: dict[str, bytes] = {}
    for template, item in schema["paths"].items():
        if "get" not in item:
            continue
        names = re.findall(r"{(\w+)}", template)
        options = [values[n].split("|") for n in names] or [[]]
        combos = [[o] for o in options[0]] if names else [[]]
        for combo in combos:
            path = template
            for name, value in zip(names, combo, strict=True):
                path = path.replace("{" + name + "}", value)
            query = {}
            if path.endswith("/download"):  # accept the licence, as a participant does
                task = client.get(path.removesuffix("download")).json()
                query["accept_license"] = task.get("license", "")
            response = client.get(path, query)
            assert response.status_code < 500, path
            bodies[path] = (
                b"".join(response.streaming_content) if response.streaming else response.content
            )
    return bodies


def _npz_keys(body: bytes) -> set[str]:
    with zipfile.ZipFile(io.BytesIO(body)) as zf:
        return {n.removesuffix(".npy") for n in zf.namelist()}


def test_hidden_labels_and_patients_appear_in_no_response(
    alice: Any, staff_user: Any, benchmark: Any, tiny_bundles: Path
) -> None:
    _distinctive_hidden(tiny_bundles)
    sync_benchmark(tiny_bundles, "tiny-bench")
    subs = [make_submission(alice, benchmark, tiny_bundles, seed=s) for s in range(2)]
    recompute(benchmark)
    client = token_client(staff_user)  # staff sees the most (staff log included)
    schema = client.get("/api/schema/?format=json").json()
    slugs = "tiny-cxr|tiny-derm|tiny-oct|tiny-hidden"
    values = {"slug": f"tiny-bench|{slugs}", "benchmark": "tiny-bench", "id": str(subs[0].pk)}
    bodies = _walk(client, schema, values)
    assert any(p.endswith("/download") and b.startswith(b"PK") for p, b in bodies.items()) and any(
        "/leaderboards/" in p for p in bodies
    )

    everything = b"\n".join(bodies.values())
    assert b"SECRETPATIENT" not in everything
    hidden_ids = load_split(
        tiny_bundles,
        read_meta(tiny_bundles, "tiny-bench", "tiny-hidden"),
        "test_id",
        hidden=True,
        images=False,
    ).image_ids
    assert not any(str(i).encode() in everything for i in hidden_ids)
    for path, body in bodies.items():
        if path.endswith("/download") and body.startswith(b"PK"):
            keys = _npz_keys(body)
            assert not any(
                k.endswith(("labels", "patient_ids")) and k.startswith("test") for k in keys
            )
            with np.load(io.BytesIO(body), allow_pickle=False) as npz:
                for key in npz.files:
                    assert "SECRETPATIENT" not in " ".join(map(str, npz[key].ravel()[:10000]))

    # Changing the hidden labels changes no response: nothing served depends on them.
    for slug in ("tiny-cxr", "tiny-derm", "tiny-oct", "tiny-hidden"):
        for split in TEST_SPLITS:
            path = task_dir(tiny_bundles, "hidden", "tiny-bench", slug) / split / "labels.npy"
            labels = np.load(path)
            np.save(path, 1 - labels if labels.ndim == 2 else (labels + 1) % labels.max(initial=1))
    assert _walk(client, schema, values) == bodies
