"""The two entry points (web form, API) driven the same way: upload, then read back the outcome."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from leaderboard.models import Benchmark, Submission
from tests.security.corpus import Upload

API_URL = "/api/v1/submissions/"


@dataclass
class Outcome:
    status: int  # of the upload request
    message: str  # the refusal (upload) or the submission's error (worker)
    fields_at_fault: list[str]
    submission: Submission | None
    texts: list[str] = field(default_factory=list)  # every body served along the way
    html: list[str] = field(default_factory=list)  # the bodies served as HTML


def _file(upload: Upload) -> SimpleUploadedFile:
    return SimpleUploadedFile(upload.name, upload.content, content_type=upload.content_type)


def _body(resp: Any) -> str:
    return resp.content.decode("utf-8", "replace")


def _record(out: Outcome, resp: Any) -> None:
    text = _body(resp)
    out.texts.append(text)
    if resp.get("Content-Type", "").startswith("text/html"):
        out.html.append(text)


def submit_api(client: Client, upload: Upload, track: str, capture: Any) -> Outcome:
    """``capture`` is pytest-django's ``django_capture_on_commit_callbacks``: leaving it runs the
    callbacks the request registered, i.e. the eager worker."""
    data: dict[str, Any] = {"benchmark": "tiny-bench", "track": track, "method_name": "hostile"}
    data.update(upload.fields)
    with capture(execute=True):
        if upload.json_body:
            resp = client.post(API_URL, json.dumps(data), content_type="application/json")
        else:
            resp = client.post(API_URL, {**data, "file": _file(upload)}, format="multipart")
    out = Outcome(resp.status_code, "", [], None)
    _record(out, resp)
    body = resp.json() if resp.get("Content-Type", "").startswith("application/json") else {}
    if resp.status_code in (200, 201):
        out.submission = Submission.objects.get(pk=body["id"])
        detail = client.get(f"{API_URL}{body['id']}/")
        _record(out, detail)
        out.message = str(detail.json().get("error") or "")
    else:
        out.message = str(body.get("detail", _body(resp)))
        out.fields_at_fault = [body["field"]] if body.get("field") else []
    return out


def submit_form(client: Client, upload: Upload, track: str, capture: Any) -> Outcome:
    bench = Benchmark.objects.get(slug="tiny-bench")
    data: dict[str, Any] = {
        "benchmark": bench.pk, "track": track, "protocol": "full", "method_name": "hostile",
        "pretraining": "unknown", "is_public": "on",
    }  # fmt: skip
    data.update(upload.fields)
    with capture(execute=True):
        if upload.json_body:
            resp = client.post("/submit/", json.dumps(data), content_type="application/json")
        else:
            resp = client.post("/submit/", {**data, "file": _file(upload)})
    out = Outcome(resp.status_code, "", [], None)
    _record(out, resp)
    if resp.status_code == 302:
        pk = int(resp["Location"].rstrip("/").rsplit("/", 1)[1])
        out.submission = Submission.objects.get(pk=pk)
        _record(out, client.get(f"/submissions/{pk}/"))
        _record(out, client.get(f"/submissions/{pk}/status.json"))
        out.submission.refresh_from_db()
        out.message = out.submission.error
        return out
    form = resp.context["form"] if resp.context and "form" in resp.context else None
    if form is not None:
        errors = form.errors.get_json_data()
        out.fields_at_fault = [f for f in errors if f != "__all__"]
        out.message = " ".join(e["message"] for v in errors.values() for e in v)
    else:
        out.message = _body(resp)
    return out


SUBMIT = {"api": submit_api, "form": submit_form}
