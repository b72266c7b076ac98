"""A small HTTP client on urllib: JSON, streamed multipart uploads and downloads, retries.

Network errors, 5xx answers and throttling (429 with a short ``Retry-After``) are retried with
exponential backoff and jitter. Every request the client retries is safe to repeat: reads, and
uploads carrying an idempotency key (the server returns the first submission for a repeated key).
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import random
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medvtab_client import __version__

CHUNK = 1 << 20
RETRY_STATUSES = (500, 502, 503, 504)
MAX_RETRY_AFTER_S = 120.0  # a longer wait (e.g. a quota) is reported, not slept through


class ApiError(Exception):
    """The server answered with an error (after any retries)."""

    def __init__(self, status: int, code: str, detail: str, field: str | None = None) -> None:
        super().__init__(f"{detail} (HTTP {status}, {code})")
        self.status, self.code, self.detail, self.field = status, code, detail, field


class NetworkError(Exception):
    """The server could not be reached or kept failing."""


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes = b""

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))


def _error_from(status: int, body: bytes) -> ApiError:
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        data = None
    if isinstance(data, dict) and "detail" in data:
        return ApiError(
            status, str(data.get("code", "error")), str(data["detail"]), data.get("field")
        )
    text = body.decode("utf-8", "replace").strip()[:200]
    return ApiError(status, "http_error", text or http.client.responses.get(status, "error"))


@dataclass
class Multipart:
    """A multipart/form-data body streamed from disk (the file is never read into memory)."""

    fields: dict[str, str]
    file_field: str
    file_path: Path
    boundary: str = field(default_factory=lambda: "medvtab-" + uuid.uuid4().hex)

    def _head(self) -> bytes:
        out = []
        for name, value in self.fields.items():
            out.append(
                f'--{self.boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                f"{value}\r\n"
            )
        filename = self.file_path.name.replace('"', "_")
        out.append(
            f'--{self.boundary}\r\nContent-Disposition: form-data; name="{self.file_field}"; '
            f'filename="{filename}"\r\nContent-Type: application/zip\r\n\r\n'
        )
        return "".join(out).encode("utf-8")

    def _tail(self) -> bytes:
        return f"\r\n--{self.boundary}--\r\n".encode()

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    def length(self) -> int:
        return len(self._head()) + self.file_path.stat().st_size + len(self._tail())

    def chunks(self) -> Iterator[bytes]:
        yield self._head()
        with self.file_path.open("rb") as handle:
            while chunk := handle.read(CHUNK):
                yield chunk
        yield self._tail()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class Client:
    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        retries: int = 5,
        backoff_s: float = 1.0,
        timeout_s: float = 60.0,
        log: Callable[[str], None] = lambda message: None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base = base_url.rstrip("/") + "/api/v1/"
        self.token = token
        self.retries = max(retries, 0)
        self.backoff_s = backoff_s
        self.timeout_s = timeout_s
        self.log = log
        self.sleep = sleep

    def url(self, path: str, params: dict[str, Any] | None = None) -> str:
        url = urllib.parse.urljoin(self.base, path.lstrip("/"))
        clean = {k: str(v) for k, v in (params or {}).items() if v is not None and v != ""}
        return f"{url}?{urllib.parse.urlencode(clean)}" if clean else url

    def _headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": f"medvtab-client/{__version__}"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        headers.update(extra or {})
        return headers

    def _delay(self, attempt: int, retry_after: str | None = None) -> float:
        if retry_after and retry_after.strip().isdigit():
            return float(retry_after)
        return self.backoff_s * (2**attempt) * (0.5 + random.random() / 2)

    def request(
        self,
        method: str,
        url: str,
        *,
        body: Multipart | None = None,
        sink: Callable[[http.client.HTTPResponse], bytes] | None = None,
    ) -> Response:
        """Send with retries; return a 2xx response, raise ApiError (4xx, or 5xx at the end) or
        NetworkError. ``sink`` consumes a successful body (downloads)."""
        last: Exception | None = None
        for attempt in range(self.retries + 1):
            if attempt:
                self.log(f"retrying {method} {url} ({last}); attempt {attempt + 1}")
            try:
                return self._once(method, url, body, sink)
            except ApiError as exc:
                last = exc
                if exc.status == 429 and exc.code != "quota_exceeded":
                    wait = self._delay(attempt, getattr(exc, "retry_after", None))
                    if wait <= MAX_RETRY_AFTER_S and attempt < self.retries:
                        self.sleep(wait)
                        continue
                if exc.status in RETRY_STATUSES and attempt < self.retries:
                    self.sleep(self._delay(attempt))
                    continue
                raise
            except (OSError, http.client.HTTPException) as exc:  # URLError is an OSError
                last = exc
                if attempt < self.retries:
                    self.sleep(self._delay(attempt))
                    continue
                raise NetworkError(f"{method} {url} failed: {_reason(exc)}") from None
        raise NetworkError(f"{method} {url} failed: {last}")  # pragma: no cover

    def _once(
        self,
        method: str,
        url: str,
        body: Multipart | None,
        sink: Callable[[http.client.HTTPResponse], bytes] | None,
    ) -> Response:
        extra: dict[str, str] = {}
        data: Any = None
        if body is not None:
            extra = {"Content-Type": body.content_type, "Content-Length": str(body.length())}
            data = body.chunks()
        req = urllib.request.Request(url, data=data, method=method, headers=self._headers(extra))
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as raw:
                headers = {k.lower(): v for k, v in raw.headers.items()}
                content = sink(raw) if sink is not None else raw.read()
                return Response(raw.status, headers, content)
        except urllib.error.HTTPError as exc:
            error = _error_from(exc.code, exc.read())
            error.retry_after = exc.headers.get("Retry-After")  # type: ignore[attr-defined]
            raise error from None

    # --- conveniences ---------------------------------------------------------------------------
    def get_json(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return self.request("GET", self.url(path, params)).json()

    def get_text(self, path: str) -> str:
        return self.request("GET", self.url(path)).body.decode("utf-8")

    def post_json(self, path: str) -> Any:
        return self.request("POST", self.url(path)).json()

    def upload(self, path: str, fields: dict[str, str], file_path: Path) -> Response:
        return self.request("POST", self.url(path), body=Multipart(fields, "file", file_path))

    def download(
        self, path: str, out: Path, params: dict[str, Any] | None = None
    ) -> tuple[int, str]:
        """Stream to ``out`` atomically; check the length and the server's sha256 if sent."""
        out.parent.mkdir(parents=True, exist_ok=True)
        part = out.with_name(out.name + ".part")

        def sink(raw: http.client.HTTPResponse) -> bytes:
            digest, size = hashlib.sha256(), 0
            with part.open("wb") as handle:
                while chunk := raw.read(CHUNK):
                    digest.update(chunk)
                    handle.write(chunk)
                    size += len(chunk)
            expected = raw.headers.get("Content-Length")
            if expected is not None and int(expected) != size:
                raise http.client.IncompleteRead(b"", int(expected) - size)
            claimed = raw.headers.get("X-Content-SHA256")
            if claimed and claimed.lower() != digest.hexdigest():
                raise http.client.HTTPException(
                    f"sha256 mismatch: received {digest.hexdigest()}, the server says {claimed}"
                )
            return f"{size} {digest.hexdigest()}".encode()

        try:
            response = self.request("GET", self.url(path, params), sink=sink)
        except BaseException:
            part.unlink(missing_ok=True)
            raise
        os.replace(part, out)
        size, digest = response.body.decode().split()
        return int(size), digest


def _reason(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.URLError) and not isinstance(exc, urllib.error.HTTPError):
        return str(exc.reason)
    if isinstance(exc, socket.timeout | TimeoutError):
        return "timed out"
    return str(exc) or exc.__class__.__name__


__all__ = ["ApiError", "Client", "Multipart", "NetworkError", "Response", "sha256_file"]
