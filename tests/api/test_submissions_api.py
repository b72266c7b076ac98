"""POST/GET submissions, cancel, re-run and log: every permission and error code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client as DjangoClient
from rest_framework.test import APIClient

from leaderboard.api.tokens import revoke
from leaderboard.models import ApiToken, Profile, Status, Submission
from leaderboard.serializers import SUBMISSION_JSON_KEYS, submission_json
from tests.api.conftest import make_submission, token_client
from tests.leaderboard.conftest import make_user

pytestmark = pytest.mark.django_db
URL = "/api/v1/submissions/"


def test_valid_upload_creates_a_pending_submission(
    alice: Any, benchmark: Any, submit_file: Any
) -> None:
    response = token_client(alice).post(
        URL,
        submit_file(backbones='{"backbone": "vit-s"}', seed=7, is_public="false"),
        format="multipart",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert tuple(body) == SUBMISSION_JSON_KEYS
    sub = Submission.objects.get(pk=body["id"])
    assert body == submission_json(sub)
    assert (sub.owner, sub.method_name, sub.seed, sub.is_public) == (alice, "api-method", 7, False)
    assert sub.backbones == {"backbone": "vit-s"} and sub.status in ("pending", "queued")


def test_anonymous_upload_is_401_with_a_bearer_challenge(
    api: APIClient, benchmark: Any, submit_file: Any
) -> None:
    response = api.post(URL, submit_file(), format="multipart")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["code"] == "not_authenticated"
    assert not Submission.objects.exists()


def test_read_scope_cannot_submit_but_can_read(
    alice: Any, benchmark: Any, submit_file: Any
) -> None:
    client = token_client(alice, "read")
    response = client.post(URL, submit_file(), format="multipart")
    assert response.status_code == 403 and response.json()["code"] == "insufficient_scope"
    assert client.get(URL).status_code == 200
    assert not Submission.objects.exists()


def test_unverified_account_cannot_submit(db: None, benchmark: Any, submit_file: Any) -> None:
    carol = make_user("carol", verified=False)
    response = token_client(carol).post(URL, submit_file(), format="multipart")
    assert response.status_code == 403 and response.json()["code"] == "unverified"


def test_revoked_and_unknown_tokens_are_401(alice: Any, benchmark: Any) -> None:
    client = token_client(alice)
    assert client.get(URL).status_code == 200
    revoke(ApiToken.objects.get(user=alice))
    response = client.get(URL)
    assert response.status_code == 401 and response.json()["code"] == "token_revoked"
    stranger = APIClient()
    stranger.credentials(HTTP_AUTHORIZATION="Bearer mvt_not-a-real-token")
    response = stranger.get("/api/v1/benchmarks/")
    assert response.status_code == 401 and response.json()["code"] == "invalid_token"
    stranger.credentials(HTTP_AUTHORIZATION="Bearer two words")
    assert stranger.get("/api/v1/benchmarks/").json()["code"] == "invalid_token"


def test_token_keyword_and_disabled_accounts(alice: Any, benchmark: Any) -> None:
    client = token_client(alice)
    clear = client._credentials["HTTP_AUTHORIZATION"].split()[1]
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Token {clear}")
    assert other.get(URL).status_code == 200
    assert ApiToken.objects.get(user=alice).last_used is not None
    alice.is_active = False
    alice.save()
    assert other.get(URL).status_code == 401


@pytest.mark.parametrize(
    ("change", "status", "code", "field"),
    [
        ({"sha256": "0" * 64}, 400, "sha256_mismatch", "sha256"),
        ({"sha256": "xyz"}, 400, "invalid", "sha256"),
        ({"track": "guess"}, 400, "invalid", "track"),
        ({"benchmark": "no-such-bench"}, 400, "invalid", "benchmark"),
        ({"seed": "seven"}, 400, "invalid", "seed"),
        ({"tunable_params": "-3"}, 400, "invalid", "tunable_params"),
        ({"backbones": "[1, 2]"}, 400, "invalid", "backbones"),
        ({"paper_url": "javascript:alert(1)"}, 400, "invalid", "paper_url"),
        ({"file": None}, 400, "invalid", "file"),
    ],
)
def test_validation_errors_name_the_field(
    alice: Any,
    benchmark: Any,
    submit_file: Any,
    change: dict[str, Any],
    status: int,
    code: str,
    field: str,
) -> None:
    body = submit_file(**change)
    body = {k: v for k, v in body.items() if v is not None}
    response = token_client(alice).post(URL, body, format="multipart")
    data = response.json()
    assert response.status_code == status, data
    assert (data["code"], data["field"]) == (code, field)
    assert data["detail"]
    assert not Submission.objects.exists()


def test_a_corrupt_archive_is_refused_on_the_file_field(
    alice: Any, benchmark: Any, submit_file: Any
) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    body = submit_file()
    body.pop("sha256")
    body["file"] = SimpleUploadedFile("p.zip", b"not a zip at all")
    response = token_client(alice).post(URL, body, format="multipart")
    assert response.status_code == 400
    assert response.json()["field"] == "file" and "zip" in response.json()["detail"]


def test_same_idempotency_key_yields_one_submission(
    alice: Any, benchmark: Any, submit_file: Any
) -> None:
    client = token_client(alice)
    first = client.post(URL, submit_file(idempotency_key="ci-run-42"), format="multipart")
    again = client.post(URL, submit_file(idempotency_key="ci-run-42"), format="multipart")
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    assert Submission.objects.count() == 1
    other_file = client.post(
        URL, submit_file(variant=5, idempotency_key="ci-run-42"), format="multipart"
    )
    assert other_file.status_code == 409 and other_file.json()["code"] == "idempotency_conflict"
    assert Submission.objects.count() == 1


def test_quota_is_429_with_retry_after(
    alice: Any, benchmark: Any, submit_file: Any, settings: Any
) -> None:
    settings.MEDVTAB_QUOTA_IN_FLIGHT = 1
    client = token_client(alice)
    assert client.post(URL, submit_file(), format="multipart").status_code == 201
    response = client.post(URL, submit_file(variant=1), format="multipart")
    assert response.status_code == 429
    assert response.json()["code"] == "quota_exceeded"
    assert int(response["Retry-After"]) > 0


def test_throttles_are_429_with_retry_after(alice: Any, benchmark: Any, settings: Any) -> None:
    settings.MEDVTAB_API_RATES = {"anon": "2/min", "user": "3/min", "upload": "1/min"}
    cache.clear()
    anonymous = APIClient()
    codes = [anonymous.get("/api/v1/benchmarks/").status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    limited = anonymous.get("/api/v1/benchmarks/")
    assert limited.json()["code"] == "throttled" and 0 < int(limited["Retry-After"]) <= 60
    client = token_client(alice)
    assert [client.get(URL).status_code for _ in range(4)] == [200, 200, 200, 429]


def test_session_writes_need_csrf(alice: Any, benchmark: Any, submit_file: Any) -> None:
    browser = APIClient(enforce_csrf_checks=True)
    browser.force_login(alice)
    assert browser.get(URL).status_code == 200  # reads need no CSRF token
    refused = browser.post(URL, submit_file(), format="multipart")
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    page = DjangoClient()
    page.force_login(alice)
    page.get("/accounts/tokens/")
    browser.cookies["csrftoken"] = page.cookies["csrftoken"].value
    ok = browser.post(
        URL, submit_file(), format="multipart", HTTP_X_CSRFTOKEN=page.cookies["csrftoken"].value
    )
    assert ok.status_code == 201, ok.json()


def test_list_shows_only_own_submissions(
    alice: Any, bob: Any, benchmark: Any, tiny_bundles: Path
) -> None:
    mine = make_submission(alice, benchmark, tiny_bundles, score=False)
    make_submission(bob, benchmark, tiny_bundles, score=False)
    page = token_client(alice).get(URL).json()
    assert page["count"] == 1 and [s["id"] for s in page["results"]] == [mine.pk]
    assert page["results"][0]["benchmark"] == "tiny-bench"
    assert APIClient().get(URL).status_code == 401


def test_detail_visibility(
    alice: Any, bob: Any, staff_user: Any, benchmark: Any, tiny_bundles: Path
) -> None:
    private = make_submission(alice, benchmark, tiny_bundles, is_public=False)
    public = make_submission(alice, benchmark, tiny_bundles, seed=1)
    assert public.status == Status.SUCCEEDED
    for client, sub, status in [
        (token_client(alice), private, 200),
        (token_client(staff_user), private, 200),
        (token_client(bob), private, 404),
        (APIClient(), private, 404),
        (APIClient(), public, 200),
        (token_client(bob), public, 200),
    ]:
        response = client.get(f"{URL}{sub.pk}/")
        assert response.status_code == status
        if status == 200:
            assert response.json() == submission_json(sub)
        else:
            assert response.json()["code"] == "not_found"
    for bad in ("0", "-1", "abc", str(2**70)):
        assert token_client(alice).get(f"{URL}{bad}/").status_code == 404


def test_cancel(alice: Any, bob: Any, benchmark: Any, tiny_bundles: Path) -> None:
    sub = make_submission(alice, benchmark, tiny_bundles, score=False)
    assert token_client(bob).post(f"{URL}{sub.pk}/cancel").status_code == 404
    assert token_client(alice, "read").post(f"{URL}{sub.pk}/cancel").status_code == 403
    assert APIClient().post(f"{URL}{sub.pk}/cancel").status_code == 401
    response = token_client(alice).post(f"{URL}{sub.pk}/cancel")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    again = token_client(alice).post(f"{URL}{sub.pk}/cancel")
    assert again.status_code == 409 and again.json()["code"] == "not_cancellable"


def test_rerun(alice: Any, bob: Any, staff_user: Any, benchmark: Any, tiny_bundles: Path) -> None:
    done = make_submission(alice, benchmark, tiny_bundles)
    response = token_client(alice).post(f"{URL}{done.pk}/rerun")
    assert response.status_code == 409 and response.json()["code"] == "not_rerunnable"
    assert token_client(bob).post(f"{URL}{done.pk}/rerun").status_code == 403  # public: visible
    Submission.objects.filter(pk=done.pk).update(status=Status.FAILED, error="boom")
    response = token_client(alice).post(f"{URL}{done.pk}/rerun")
    assert response.status_code == 200 and response.json()["status"] in ("pending", "queued")
    Submission.objects.filter(pk=done.pk).update(status=Status.SUCCEEDED)
    assert token_client(staff_user).post(f"{URL}{done.pk}/rerun").status_code == 200


def test_log(alice: Any, bob: Any, staff_user: Any, benchmark: Any, tiny_bundles: Path) -> None:
    sub = make_submission(alice, benchmark, tiny_bundles)
    Submission.objects.filter(pk=sub.pk).update(staff_log="Traceback: secret internals")
    own = token_client(alice).get(f"{URL}{sub.pk}/log").json()
    assert "received" in own["log"] and own["staff_log"] is None
    staff = token_client(staff_user).get(f"{URL}{sub.pk}/log").json()
    assert staff["staff_log"] == "Traceback: secret internals"
    assert token_client(bob).get(f"{URL}{sub.pk}/log").status_code == 403
    assert APIClient().get(f"{URL}{sub.pk}/log").status_code == 401


def test_unknown_paths_and_methods_answer_json(api: APIClient, db: None) -> None:
    response = api.get("/api/v1/nothing-here")
    assert response.status_code == 404 and response.json()["code"] == "not_found"
    response = api.delete("/api/v1/benchmarks/")
    assert response.status_code == 405 and response.json()["code"] == "method_not_allowed"


def test_profile_fixture_sanity(alice: Any) -> None:
    assert Profile.objects.get(user=alice).email_verified
