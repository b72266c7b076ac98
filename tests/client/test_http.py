"""The client against a scripted stdlib HTTP server: retries, backoff, exit codes, uploads."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from medvtab_client.cli import main

SUB = {"id": 7, "status": "succeeded", "error": None, "track": "predictions", "protocol": "full",
       "method_name": "m", "verified_tunable_params": None, "queue_position": None,
       "estimated_wait_s": None, "results": {"overall": {"test_id": 0.5, "test_ood": 0.4}}}  # fmt: skip


class Script:
    """Answers, in order, for each request; the last one repeats."""

    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []

    def next(self) -> Any:
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


def _handler(script: Script) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            script.requests.append((self.command, self.path, dict(self.headers), body))
            answer = script.next()
            if answer == "drop":
                self.close_connection = True
                self.connection.shutdown(2)
                return
            status, payload, headers = answer
            data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            self.send_response(status)
            for key, value in {"Content-Type": "application/json", **headers}.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _serve

    return Handler


@pytest.fixture
def serve(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    servers: list[ThreadingHTTPServer] = []

    def start(script: Script) -> Script:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(script))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        monkeypatch.setenv("MEDVTAB_URL", f"http://127.0.0.1:{server.server_port}")
        monkeypatch.setenv("MEDVTAB_TOKEN", "mvt_test")
        monkeypatch.setenv("MEDVTAB_BACKOFF_S", "0.01")
        return script

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_network_errors_and_5xx_are_retried(serve: Any, capsys: Any) -> None:
    script = serve(Script("drop", (503, b"busy", {}), (200, SUB, {})))
    assert main(["status", "7", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == SUB
    assert len(script.requests) == 3
    assert script.requests[-1][2]["Authorization"] == "Bearer mvt_test"


def test_short_throttling_is_waited_out(serve: Any) -> None:
    throttled = (429, {"code": "throttled", "detail": "slow down"}, {"Retry-After": "0"})
    script = serve(Script(throttled, (200, SUB, {})))
    assert main(["status", "7"]) == 0 and len(script.requests) == 2


def test_exit_codes(serve: Any, capsys: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    serve(Script((503, b"down", {})))
    assert main(["--retries", "2", "status", "7"]) == 4
    serve(Script((404, {"code": "not_found", "detail": "no submission 7"}, {})))
    assert main(["status", "7"]) == 2
    assert "no submission 7" in capsys.readouterr().err
    serve(Script((200, {**SUB, "status": "failed", "error": "bad"}, {})))
    assert main(["status", "7"]) == 1
    serve(Script((200, {**SUB, "status": "running"}, {})))
    assert main(["status", "7", "--wait", "--timeout", "0.2", "--poll", "0.05"]) == 3
    monkeypatch.delenv("MEDVTAB_URL")
    assert main(["status", "7"]) == 2
    assert main(["no-such-command"]) == 2


def _fields(body: bytes, content_type: str) -> dict[str, bytes]:
    boundary = content_type.split("boundary=")[1].encode()
    out = {}
    for part in body.split(b"--" + boundary)[1:-1]:
        head, _, value = part.partition(b"\r\n\r\n")
        name = head.split(b'name="')[1].split(b'"')[0].decode()
        out[name] = value[:-2]
    return out


def test_upload_retried_with_the_same_idempotency_key(
    serve: Any, tmp_path: Path, capsys: Any
) -> None:
    archive = tmp_path / "preds.zip"
    archive.write_bytes(b"PK\x05\x06" + b"\x00" * 18)
    meta = tmp_path / "meta.json"
    meta.write_text(json.dumps(
        {"backbones": {"backbone": "vit"}, "is_public": False, "seed": 3, "team": "lab-b"}
    ))
    script = serve(Script("drop", (500, b"oops", {}), (201, {**SUB, "status": "queued"}, {})))
    code = main(["submit", str(archive), "--benchmark", "b", "--track", "predictions",
                 "--meta", str(meta), "--method-name", "mine", "--team", "lab-a",
                 "--json"])  # fmt: skip
    assert code == 0 and json.loads(capsys.readouterr().out)["status"] == "queued"
    posts = [_fields(body, headers["Content-Type"]) for _, _, headers, body in script.requests]
    assert len(posts) == 3
    assert len({p["idempotency_key"] for p in posts}) == 1
    first = posts[0]
    assert first["file"] == archive.read_bytes()
    assert first["sha256"].decode() == hashlib.sha256(archive.read_bytes()).hexdigest()
    assert (first["backbones"], first["is_public"], first["seed"]) == (
        b'{"backbone": "vit"}',
        b"false",
        b"3",
    )
    assert first["method_name"] == b"mine"
    assert first["team"] == b"lab-a"  # the flag over --meta, as --method-name


def test_quota_refusal_is_not_retried(serve: Any, tmp_path: Path) -> None:
    archive = tmp_path / "preds.zip"
    archive.write_bytes(b"zip")
    quota = (429, {"code": "quota_exceeded", "detail": "limit"}, {"Retry-After": "3600"})
    script = serve(Script(quota))
    assert main(["submit", str(archive), "--benchmark", "b", "--track", "predictions"]) == 2
    assert len(script.requests) == 1


TASK = (200, {"slug": "t", "license": "CC BY 4.0"}, {})


def test_download_checks_the_sha256(serve: Any, tmp_path: Path) -> None:
    data = b"npz bytes"
    good = (200, data, {"X-Content-SHA256": hashlib.sha256(data).hexdigest()})
    script = serve(Script(TASK, (200, data, {"X-Content-SHA256": "0" * 64}), good))
    out = tmp_path / "task.npz"
    assert main(["download", "t", "--out", str(out), "--accept-license"]) == 0
    assert out.read_bytes() == data and len(script.requests) == 3
    serve(Script(TASK, (200, data, {"X-Content-SHA256": "0" * 64})))
    bad = tmp_path / "bad.npz"
    assert main(["--retries", "1", "download", "t", "--out", str(bad), "--accept-license"]) == 4
    assert not bad.exists() and not bad.with_name("bad.npz.part").exists()


def test_download_sends_the_accepted_licence(serve: Any, tmp_path: Path, capsys: Any) -> None:
    data = b"npz bytes"
    script = serve(Script(TASK, (200, data, {})))
    assert main(["download", "t", "--out", str(tmp_path / "t.npz"), "--accept-license"]) == 0
    (_, task_path, _, _), (_, path, _, _) = script.requests
    assert task_path == "/api/v1/tasks/t/"
    assert path == "/api/v1/tasks/t/download?accept_license=CC+BY+4.0"
    assert "CC BY 4.0" in capsys.readouterr().err


def test_download_without_accepting_the_licence_is_a_usage_error(
    serve: Any, tmp_path: Path, capsys: Any
) -> None:
    script = serve(Script(TASK))
    out = tmp_path / "t.npz"
    assert main(["download", "t", "--out", str(out)]) == 2
    assert len(script.requests) == 1 and not out.exists()
    err = capsys.readouterr().err
    assert "'CC BY 4.0'" in err and "--accept-license" in err
