"""Operators' submission command. Exit codes (docs/ci.md): 0 succeeded, 1 failed or cancelled,
2 refused before queueing, 3 timed out waiting."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.files import File
from django.core.management.base import BaseCommand, CommandParser

from leaderboard.models import Benchmark, Protocol, Submission, Track
from leaderboard.serializers import EXIT_CODES, EXIT_REFUSED, EXIT_TIMEOUT, submission_json
from leaderboard.services.submissions import (
    StorageUnavailable,
    SubmissionRequest,
    create_submission,
)
from leaderboard.services.uploads import UploadRefused

META_FIELDS = {
    "method_name": str,
    "method_family": str,
    "backbones": dict,
    "pretraining": str,
    "tunable_params": int,
    "seed": int,
    "description": str,
    "paper_url": str,
    "code_url": str,
    "is_public": bool,
    "idempotency_key": str,
    "team": str,
}


class Refused(Exception):
    pass


def read_meta(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise Refused(f"--meta {path}: not a readable JSON file ({exc})") from None
    if not isinstance(data, dict):
        raise Refused(f"--meta {path}: must hold a JSON object")
    unknown = sorted(set(data) - set(META_FIELDS))
    if unknown:
        raise Refused(
            f"--meta {path}: unknown field(s) {', '.join(unknown)}; known: "
            f"{', '.join(sorted(META_FIELDS))}"
        )
    for key, kind in META_FIELDS.items():
        if (key in data and not isinstance(data[key], kind)) or (
            kind is int and isinstance(data.get(key), bool)
        ):
            raise Refused(f"--meta {path}: {key} must be a {kind.__name__}")
    return data


class Command(BaseCommand):
    help = "Submit a predictions or checkpoint archive for a user; --wait blocks until it ends."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--user", required=True)
        parser.add_argument("--benchmark", required=True)
        parser.add_argument("--track", required=True, choices=Track.values)
        parser.add_argument("--file", required=True, type=Path)
        parser.add_argument("--protocol", choices=Protocol.values, default=Protocol.FULL)
        parser.add_argument("--method-name")
        parser.add_argument("--team", help="the team's slug (default: the user's team here)")
        parser.add_argument("--meta", type=Path, help="JSON file with the submission's metadata")
        parser.add_argument("--baseline", action="store_true", help="mark as a reference baseline")
        parser.add_argument("--private", action="store_true")
        parser.add_argument("--wait", action="store_true")
        parser.add_argument("--timeout", type=float, default=3600.0)
        parser.add_argument("--poll", type=float, default=1.0, help=argparse_suppress())

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            sub = self._create(options)
        except (Refused, UploadRefused) as exc:
            self.stderr.write(f"refused: {exc}")
            sys.exit(EXIT_REFUSED)
        except StorageUnavailable as exc:
            self.stderr.write(f"not stored: {exc}")
            sys.exit(EXIT_REFUSED)
        if not options["wait"]:
            self.stdout.write(json.dumps(submission_json(sub), indent=2))
            return
        deadline = time.monotonic() + options["timeout"]
        while True:
            sub.refresh_from_db()
            if sub.is_final:
                break
            if time.monotonic() > deadline:
                self.stdout.write(json.dumps(submission_json(sub), indent=2))
                self.stderr.write(
                    f"timed out after {options['timeout']:.0f} s; submission "
                    f"{sub.pk} is {sub.status}"
                )
                sys.exit(EXIT_TIMEOUT)
            time.sleep(options["poll"])
        self.stdout.write(json.dumps(submission_json(sub), indent=2))
        if sub.status != "succeeded":
            self.stderr.write(f"submission {sub.pk} {sub.status}: {sub.error}")
        sys.exit(EXIT_CODES[sub.status])

    def _create(self, options: dict[str, Any]) -> Submission:
        user = get_user_model().objects.filter(username=options["user"]).first()
        if user is None:
            raise Refused(f"no user {options['user']!r}")
        benchmark = Benchmark.objects.filter(slug=options["benchmark"]).first()
        if benchmark is None:
            raise Refused(f"no benchmark {options['benchmark']!r}")
        path: Path = options["file"]
        if not path.is_file():
            raise Refused(f"no file {path}")
        meta = read_meta(options["meta"])
        with path.open("rb") as handle:
            return create_submission(
                SubmissionRequest(
                    owner=user,
                    benchmark=benchmark,
                    track=options["track"],
                    upload=File(handle, name=path.name),
                    protocol=options["protocol"],
                    method_name=options["method_name"] or meta.get("method_name", ""),
                    method_family=meta.get("method_family", ""),
                    backbones=meta.get("backbones", {}),
                    pretraining=meta.get("pretraining", "unknown"),
                    reported_tunable_params=meta.get("tunable_params"),
                    seed=meta.get("seed"),
                    description=meta.get("description", ""),
                    paper_url=meta.get("paper_url", ""),
                    code_url=meta.get("code_url", ""),
                    is_public=meta.get("is_public", not options["private"]),
                    is_baseline=options["baseline"],
                    idempotency_key=meta.get("idempotency_key"),
                    team=options["team"] or meta.get("team"),
                )
            )


def argparse_suppress() -> str:
    import argparse

    return argparse.SUPPRESS
