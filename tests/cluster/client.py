"""The tests' view of the bed, from the ``client`` host: HTTP to the web host, SQL to the db host.

Every socket is opened inside the client host's network namespace, so the tests' traffic stays
inside the bed like everything else's.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from tests.cluster.services import DATABASE_URL, WEB, WEB_PORT, Cluster, wait_for
from tests.cluster.stage import BENCH, Stage

FINAL = ("succeeded", "failed", "cancelled")
ACCOUNTS = """
import io, json
from django.contrib.auth import get_user_model
from django.core.management import call_command
from leaderboard.models import Profile
tokens = []
for name in {names!r}:
    user = get_user_model().objects.create_user(name, f"{{name}}@example.org", password=None)
    user.is_staff = True
    user.save()
    Profile.objects.filter(user=user).update(email_verified=True, quota_exempt=True)
    out = io.StringIO()
    call_command("create_api_token", name, name="bed", stdout=out, stderr=io.StringIO())
    tokens.append(out.getvalue().strip())
print("TOKENS=" + json.dumps(tokens))
"""


@dataclass
class Reply:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        return json.loads(self.body)


def multipart(fields: dict[str, str], payload: bytes, filename: str) -> tuple[bytes, str]:
    from benchmarks.load_test import multipart as encode

    return encode(fields, filename, payload)


@dataclass
class Bed:
    cluster: Cluster
    stage: Stage
    tokens: list[str]
    _db: Any = None

    # --- HTTP -------------------------------------------------------------------------------
    def http(self, method: str, path: str, body: bytes | None = None,
             headers: dict[str, str] | None = None, timeout: float = 30) -> Reply:
        with self.cluster.net.inside("client"):
            conn = http.client.HTTPConnection(WEB, WEB_PORT, timeout=timeout)
            conn.connect()
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            return Reply(resp.status, resp.read(), {k.lower(): v for k, v in resp.getheaders()})
        finally:
            conn.close()

    def submit(self, payload: bytes, *, track: str = "predictions", key: str | None = None,
               method: str = "bed", token: int = 0, filename: str = "upload.zip") -> Reply:
        fields = {
            "benchmark": BENCH, "track": track, "method_name": method,
            "sha256": hashlib.sha256(payload).hexdigest(),
            "idempotency_key": key or f"bed-{uuid.uuid4().hex}",
        }
        if track == "checkpoint":
            fields.pop("method_name")
        body, ctype = multipart(fields, payload, filename)
        headers = {"Authorization": f"Bearer {self.tokens[token]}", "Content-Type": ctype}
        return self.http("POST", "/api/v1/submissions/", body, headers, timeout=120)

    def submit_ok(self, payload: bytes, **kwargs: Any) -> int:
        reply = self.submit(payload, **kwargs)
        assert reply.status == 201, (reply.status, reply.body[:500])
        return int(reply.json()["id"])

    # --- database (assertions only) -----------------------------------------------------------
    def sql(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        import psycopg

        for attempt in range(30):
            try:
                if self._db is None or self._db.closed:
                    with self.cluster.net.inside("client"):
                        self._db = psycopg.connect(DATABASE_URL, autocommit=True, connect_timeout=3)
                with self._db.cursor() as cur:
                    cur.execute(query, params)
                    return list(cur.fetchall()) if cur.description else []
            except psycopg.OperationalError:
                if self._db is not None:
                    self._db.close()
                if attempt == 29:
                    raise
                time.sleep(1)  # the db host may be restarting or cut off on purpose
        return []

    def close(self) -> None:
        if self._db is not None:
            self._db.close()

    def row(self, pk: int) -> dict[str, Any]:
        cols = ("status", "attempts", "worker", "user_log", "staff_log", "error", "score_json")
        found = self.sql(f"SELECT {', '.join(cols)} FROM leaderboard_submission WHERE id = %s", pk)
        assert found, f"submission {pk} is missing from the database"
        return dict(zip(cols, found[0], strict=True))

    def wait_final(self, pks: list[int], timeout: float) -> dict[int, dict[str, Any]]:
        def done() -> bool:
            rows = self.sql("SELECT count(*) FROM leaderboard_submission WHERE id = ANY(%s) "
                            "AND status IN ('succeeded', 'failed', 'cancelled')", list(pks))
            return int(rows[0][0]) == len(set(pks))

        try:
            wait_for(done, timeout, f"submissions {pks} to be final", interval=0.5)
        except AssertionError as exc:
            states = {pk: self.row(pk)["status"] for pk in pks}
            raise AssertionError(f"{exc}: {states}") from None
        return {pk: self.row(pk) for pk in pks}

    def wait_status(self, pk: int, status: str, timeout: float) -> dict[str, Any]:
        wait_for(lambda: self.row(pk)["status"] == status, timeout, f"submission {pk} {status}")
        return self.row(pk)


def create_tokens(cluster: Cluster, names: list[str]) -> list[str]:
    from tests.cluster.services import entrypoint

    out = cluster.run("web", entrypoint("manage", "shell", "-c", ACCOUNTS.format(names=names)))
    line = next(x for x in out.splitlines() if x.startswith("TOKENS="))
    return list(json.loads(line.removeprefix("TOKENS=")))


def scored_once(row: dict[str, Any]) -> bool:
    """Succeeded, and its results were recorded exactly once (one 'scored' line in its log)."""
    return row["status"] == "succeeded" and row["user_log"].count(" scored: ") == 1
