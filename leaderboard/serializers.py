"""The one submission JSON shape (docs/api.md, "The submission JSON"): the API, ``manage.py submit --wait`` and the
client's ``--json`` all print exactly this."""

from __future__ import annotations

from typing import Any

from leaderboard.models import Submission
from leaderboard.services.ladder import withheld
from leaderboard.services.queueinfo import estimated_wait_s, queue_position

SUBMISSION_JSON_KEYS = (
    "id",
    "status",
    "error",
    "track",
    "protocol",
    "method_name",
    "verified_tunable_params",
    "queue_position",
    "estimated_wait_s",
    "results",
)


def submission_json(sub: Submission) -> dict[str, Any]:
    position = queue_position(sub)
    return {
        "id": sub.pk,
        "status": sub.status,
        "error": sub.error or None,
        "track": sub.track,
        "protocol": sub.protocol,
        "method_name": sub.method_name,
        "verified_tunable_params": sub.verified_tunable_params,
        "queue_position": position,
        "estimated_wait_s": estimated_wait_s(sub, position),
        # under the Ladder, only the scores it let onto the boards (leaderboard.services.ladder)
        "results": sub.score_json if sub.status == "succeeded" and not withheld(sub) else None,
    }


EXIT_CODES = {"succeeded": 0, "failed": 1, "cancelled": 1}
EXIT_REFUSED = 2
EXIT_TIMEOUT = 3
EXIT_NETWORK = 4
