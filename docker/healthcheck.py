"""Container health checks, called by ``docker/entrypoint.sh healthcheck …``; exit 0 when healthy.

http PATH          GET http://127.0.0.1:$PORT/PATH answers 200 (the web container)
workers NODE...    each Celery node NODE@<this host> has a fresh heartbeat (worker containers)
broker             the broker accepts a connection (the beat container)
"""

from __future__ import annotations

import http.client
import os
import socket
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HTTP_TIMEOUT_S = 5.0


def _host_header() -> str:
    """A name Django accepts: the first usable ALLOWED_HOSTS entry (health checks come from inside)."""
    for entry in os.environ.get("ALLOWED_HOSTS", "localhost").split(","):
        name = entry.strip().lstrip(".")
        if name and name != "*":
            return name
    return "localhost"


def check_http(path: str) -> int:
    conn = http.client.HTTPConnection(
        "127.0.0.1", int(os.environ.get("PORT", "8000")), timeout=HTTP_TIMEOUT_S
    )
    try:
        # TLS ends at the proxy; say so, or SECURE_SSL_REDIRECT would answer 301.
        headers = {"Host": _host_header(), "X-Forwarded-Proto": "https"}
        conn.request("GET", path, headers=headers)
        status = conn.getresponse().status
    except OSError as exc:
        print(f"GET {path}: {exc.__class__.__name__}", file=sys.stderr)
        return 1
    finally:
        conn.close()
    print(f"GET {path}: {status}")
    return 0 if status == 200 else 1


def _setup_django() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "medvtab.settings")
    import django

    django.setup()


def check_workers(nodes: list[str]) -> int:
    _setup_django()
    from leaderboard.models import WorkerHeartbeat

    host = socket.gethostname()  # what Celery puts for %h
    expected = {f"{node}@{host}" for node in nodes}
    missing = sorted(expected - WorkerHeartbeat.objects.alive_hostnames())
    if missing:
        print("no fresh heartbeat from " + ", ".join(missing), file=sys.stderr)
        return 1
    print(f"{len(expected)} worker(s) alive")
    return 0


def check_broker() -> int:
    _setup_django()
    from leaderboard.views.health import check_broker as probe

    result = probe()
    print("broker reachable" if result["ok"] else result["error"])
    return 0 if result["ok"] else 1


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "http":
        return check_http(argv[1])
    if len(argv) >= 2 and argv[0] == "workers":
        return check_workers(argv[1:])
    if argv == ["broker"]:
        return check_broker()
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
