"""The OpenAPI schema: generated without warnings, fuzzed with schemathesis (bounded), and no
response of any endpoint carries hidden labels or hidden patient ids."""

from __future__ import annotations

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
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from datasets.bundle import TEST_SPLITS, load_split, read_meta, task_dir
from leaderboard.services.boards import recompute
from leaderboard.services.registration import sync_benchmark
from medvtab.wsgi import application
from tests.api.conftest import make_submission, token_client
from tests.factories import write_tiny_task

pytestmark = pytest.mark.django_db
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


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


def _fuzz(operation: Any, headers: dict[str, str], examples: int, seen: list[int]) -> None:
    @given(case=operation.as_strategy())
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

    run()


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
    """Anonymous and with a submit token: no 500, every response as the schema says."""
    settings.MEDVTAB_QUOTA_ATTEMPTS = 10_000
    settings.MEDVTAB_QUOTA_IN_FLIGHT = 10_000
    settings.MEDVTAB_QUOTA_SCORED = 10_000
    make_submission(alice, benchmark, tiny_bundles)  # something to read
    schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)
    client = token_client(alice)
    bearer = {"Authorization": client._credentials["HTTP_AUTHORIZATION"]}
    operations = _operations(schema)
    assert len(operations) >= 12
    seen: list[int] = []
    for operation in operations:
        _fuzz(operation, {}, 6, seen)
        _fuzz(operation, bearer, 6, seen)
    assert len(seen) >= 6 * len(operations)
    assert {200, 400, 401, 404} <= set(seen), sorted(set(seen))


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
            response = client.get(path)
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
    assert any(p.endswith("/download") for p in bodies) and any(
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
