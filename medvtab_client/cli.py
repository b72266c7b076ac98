"""``python -m medvtab_client``: submit, status, validate, leaderboard, download.

Configuration comes from the environment: ``MEDVTAB_URL`` (the server, e.g.
https://medvtab.example.org) and ``MEDVTAB_TOKEN`` (an API token). The client never prompts.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from medvtab_client import EXIT_FAILED, EXIT_NETWORK, EXIT_OK, EXIT_TIMEOUT, EXIT_USAGE
from medvtab_client.http import ApiError, Client, NetworkError, sha256_file
from medvtab_client.validate import validate_archive

FINAL = {"succeeded": EXIT_OK, "failed": EXIT_FAILED, "cancelled": EXIT_FAILED}
META_FIELDS = {
    "method_name": str, "method_family": str, "backbones": dict, "pretraining": str,
    "tunable_params": int, "seed": int, "description": str, "paper_url": str, "code_url": str,
    "is_public": bool, "idempotency_key": str, "protocol": str, "team": str,
}  # fmt: skip


class Usage(Exception):
    """A usage or validation error: exit 2."""


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def client_from_env(args: argparse.Namespace, *, need_token: bool) -> Client:
    url = args.url or os.environ.get("MEDVTAB_URL", "").strip()
    if not url:
        raise Usage("set MEDVTAB_URL to the server's address, e.g. https://medvtab.example.org")
    if not url.startswith(("http://", "https://")):
        raise Usage(f"MEDVTAB_URL={url!r} must start with http:// or https://")
    token = os.environ.get("MEDVTAB_TOKEN", "").strip() or None
    if need_token and token is None:
        raise Usage("set MEDVTAB_TOKEN to an API token (create one on the API tokens page)")
    backoff = float(os.environ.get("MEDVTAB_BACKOFF_S", "1") or 1)
    return Client(url, token, retries=args.retries, backoff_s=backoff, log=say)


def read_meta(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise Usage(f"--meta {path}: not a readable JSON file ({exc})") from None
    if not isinstance(data, dict):
        raise Usage(f"--meta {path}: must hold a JSON object")
    unknown = sorted(set(data) - set(META_FIELDS))
    if unknown:
        raise Usage(f"--meta {path}: unknown field(s) {', '.join(unknown)}")
    for key, kind in META_FIELDS.items():
        value = data.get(key)
        if key in data and (
            not isinstance(value, kind) or (kind is int and isinstance(value, bool))
        ):
            raise Usage(f"--meta {path}: {key} must be a {kind.__name__}")
    return data


def _form(args: argparse.Namespace, meta: dict[str, Any], digest: str, key: str) -> dict[str, str]:
    fields: dict[str, Any] = {
        "sha256": digest,
        "benchmark": args.benchmark,
        "track": args.track,
        "protocol": args.protocol or meta.get("protocol") or "full",
        "idempotency_key": key,
    }
    for name in META_FIELDS:
        if name in meta and name not in ("protocol", "idempotency_key"):
            fields[name] = meta[name]
    if args.method_name:
        fields["method_name"] = args.method_name
    if args.team:
        fields["team"] = args.team
    out = {}
    for name, value in fields.items():
        if isinstance(value, bool):
            out[name] = "true" if value else "false"
        elif isinstance(value, dict):
            out[name] = json.dumps(value)
        else:
            out[name] = str(value)
    return out


def summary(sub: dict[str, Any]) -> str:
    line = f"submission {sub['id']} {sub['status']}"
    if sub.get("queue_position"):
        line += f" (position {sub['queue_position']}, about {sub.get('estimated_wait_s')} s)"
    overall = (sub.get("results") or {}).get("overall") or {}
    if overall:
        parts = [
            f"{k} {overall[k]:.4f}" for k in ("test_id", "test_ood") if overall.get(k) is not None
        ]
        line += ": overall " + ", ".join(parts) if parts else ""
    if sub.get("error"):
        line += f"\n{sub['error']}"
    return line


def emit(sub: dict[str, Any], as_json: bool) -> None:
    print(json.dumps(sub, indent=2) if as_json else summary(sub), flush=True)


def wait_for(
    client: Client, sub: dict[str, Any], timeout_s: float, poll_s: float
) -> tuple[dict[str, Any], bool]:
    """Poll until final or the timeout; (last JSON, finished)."""
    deadline = time.monotonic() + timeout_s
    delay = poll_s
    last_status = None
    while sub["status"] not in FINAL:
        if sub["status"] != last_status:
            say(summary({**sub, "results": None}))
            last_status = sub["status"]
        if time.monotonic() + delay > deadline:
            return sub, False
        time.sleep(delay)
        delay = min(delay * 1.5, 15.0)
        sub = client.get_json(f"submissions/{sub['id']}/")
    return sub, True


def cmd_submit(args: argparse.Namespace) -> int:
    path: Path = args.file
    if not path.is_file():
        raise Usage(f"no file {path}")
    meta = read_meta(args.meta)
    client = client_from_env(args, need_token=True)
    validating = args.validate and args.track == "predictions"
    if validating and validate_with(client, path, args.benchmark) != EXIT_OK:
        return EXIT_USAGE
    key = args.idempotency_key or meta.get("idempotency_key") or str(uuid.uuid4())
    digest = sha256_file(path)
    say(f"uploading {path.name} ({path.stat().st_size} bytes, sha256 {digest[:12]}…)")
    response = client.upload("submissions/", _form(args, meta, digest, key), path)
    sub = response.json()
    say(f"submission {sub['id']} {'received' if response.status == 201 else 'already received'}")
    if not args.wait:
        emit(sub, args.json)
        return EXIT_OK
    sub, finished = wait_for(client, sub, args.timeout, args.poll)
    emit(sub, args.json)
    if not finished:
        say(f"timed out after {args.timeout:.0f} s; submission {sub['id']} is {sub['status']}")
        return EXIT_TIMEOUT
    if sub["status"] != "succeeded":
        say(f"submission {sub['id']} {sub['status']}: {sub.get('error') or ''}")
    return FINAL[sub["status"]]


def cmd_status(args: argparse.Namespace) -> int:
    client = client_from_env(args, need_token=False)
    sub = client.get_json(f"submissions/{args.id}/")
    if args.wait:
        sub, finished = wait_for(client, sub, args.timeout, args.poll)
        if not finished:
            emit(sub, args.json)
            return EXIT_TIMEOUT
    emit(sub, args.json)
    return FINAL.get(sub["status"], EXIT_OK)


def expected_ids_from(client: Client) -> Any:
    cache: dict[str, list[str]] = {}

    def expected(slug: str) -> list[str]:
        if slug not in cache:
            rows = csv.reader(io.StringIO(client.get_text(f"tasks/{slug}/sample")))
            next(rows, None)
            cache[slug] = [row[0] for row in rows if row]
        return cache[slug]

    return expected


def validate_with(client: Client, path: Path, benchmark: str) -> int:
    tasks = {t["slug"]: t for t in client.get_json("tasks/", {"benchmark": benchmark})}
    if not tasks:
        raise Usage(f"benchmark '{benchmark}' has no tasks on this server")
    report = validate_archive(
        path.read_bytes(), tasks, expected_ids_from(client), display=path.name
    )
    for warning in report.warnings:
        say(f"warning: {warning}")
    for problem in report.problems:
        say(f"error: {problem}")
    if report.ok:
        say(
            f"{path.name} is valid: {', '.join(f'{t} ({n} rows)' for t, n in report.checked.items())}"
        )
        return EXIT_OK
    return EXIT_USAGE


def cmd_validate(args: argparse.Namespace) -> int:
    if not args.file.is_file():
        raise Usage(f"no file {args.file}")
    return validate_with(client_from_env(args, need_token=False), args.file, args.benchmark)


def cmd_leaderboard(args: argparse.Namespace) -> int:
    client = client_from_env(args, need_token=False)
    params = {"modality": args.modality, "split": args.split, "protocol": args.protocol}
    board = client.get_json(f"leaderboards/{args.benchmark}/", params)
    if args.json:
        print(json.dumps(board, indent=2))
        return EXIT_OK
    split = board["filters"].get("split", "test_id")
    print(f"{board['benchmark']} · {board['board']} · page {board['page']}/{board['num_pages']}")
    for row in board["results"] + board["incomplete"]:
        cell = row["test_id"] if split == "test_id" else row["test_ood"]
        value = "n/a" if cell["value"] is None else f"{cell['value']:.4f}"
        rank = "-" if row["rank"] is None else str(row["rank"])
        tie = "=" if row["tied_with_leader"] else " "
        print(f"{rank:>4}{tie} {value:>8}  {row['method_name']} ({row['owner']})")
    return EXIT_OK


def cmd_download(args: argparse.Namespace) -> int:
    client = client_from_env(args, need_token=False)
    task = client.get_json(f"tasks/{args.task}/")
    licence = str(task["license"])
    if not args.accept_license:
        raise Usage(
            f"the data of task {args.task} is distributed under '{licence}'; read the licence "
            "and pass --accept-license to accept it (the server records the acceptance)"
        )
    say(f"accepting the data licence of {args.task}: {licence}")
    params = {"accept_license": licence}
    size, digest = client.download(f"tasks/{args.task}/download", args.out, params)
    say(f"saved {args.out} ({size} bytes, sha256 {digest})")
    return EXIT_OK


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m medvtab_client",
        description="Med-VTAB client. Reads MEDVTAB_URL and MEDVTAB_TOKEN. Exit codes: 0 "
        "succeeded, 1 failed or cancelled, 2 usage or validation error, 3 timed out, 4 network "
        "or server error.",
    )
    p.add_argument("--url", help="overrides MEDVTAB_URL")
    p.add_argument("--retries", type=int, default=5, help="retries of a failed request")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("submit", help="upload a predictions or checkpoint archive")
    s.add_argument("file", type=Path)
    s.add_argument("--benchmark", required=True)
    s.add_argument("--track", required=True, choices=["predictions", "checkpoint"])
    s.add_argument("--protocol", choices=["full", "1k"])
    s.add_argument("--method-name")
    s.add_argument("--team", help="the team's slug (default: the team you submit for here)")
    s.add_argument("--meta", type=Path, help="JSON file with the submission's metadata")
    s.add_argument("--idempotency-key", help="default: a new key per invocation")
    s.add_argument("--validate", action="store_true", help="validate predictions first")
    s.set_defaults(func=cmd_submit)

    st = sub.add_parser("status", help="a submission's JSON")
    st.add_argument("id", type=int)
    st.set_defaults(func=cmd_status)
    for command in (s, st):
        command.add_argument("--wait", action="store_true", help="wait until it is final")
        command.add_argument("--timeout", type=float, default=3600.0, help="seconds (--wait)")
        command.add_argument("--poll", type=float, default=2.0, help=argparse.SUPPRESS)
        command.add_argument("--json", action="store_true", help="print the submission JSON")

    v = sub.add_parser("validate", help="check a predictions archive before uploading it")
    v.add_argument("file", type=Path)
    v.add_argument("--benchmark", required=True)
    v.set_defaults(func=cmd_validate)

    lb = sub.add_parser("leaderboard", help="a benchmark's board")
    lb.add_argument("benchmark")
    lb.add_argument("--modality")
    lb.add_argument("--split", choices=["test_id", "test_ood"])
    lb.add_argument("--protocol", choices=["full", "1k"])
    lb.add_argument("--json", action="store_true")
    lb.set_defaults(func=cmd_leaderboard)

    d = sub.add_parser("download", help="a task's public .npz")
    d.add_argument("task")
    d.add_argument("--out", type=Path, required=True)
    d.add_argument(
        "--accept-license",
        action="store_true",
        help="accept the task's data licence (printed; recorded by the server with your token)",
    )
    d.set_defaults(func=cmd_download)
    return p


def main(argv: list[str] | None = None) -> int:
    try:
        args = parser().parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors, 0 on --help
        return int(exc.code or 0)
    try:
        return int(args.func(args))
    except Usage as exc:
        say(f"error: {exc}")
        return EXIT_USAGE
    except ApiError as exc:
        say(f"error: {exc.detail}" + (f" (field {exc.field})" if exc.field else ""))
        if exc.status >= 500:
            return EXIT_NETWORK
        return EXIT_USAGE
    except NetworkError as exc:
        say(f"network error: {exc}")
        return EXIT_NETWORK
    except KeyboardInterrupt:
        return 130
