from __future__ import annotations

from leaderboard.models.accounts import Profile
from leaderboard.models.benchmark import Benchmark, Modality, Task
from leaderboard.models.boards import BoardEntry, BoardState
from leaderboard.models.licences import AcceptedVia, LicenceAcceptance
from leaderboard.models.phases import Phase
from leaderboard.models.snapshots import BoardSnapshot, SnapshotImmutable, SnapshotRow
from leaderboard.models.submission import (
    FINAL,
    IN_FLIGHT,
    Aggregate,
    Pretraining,
    Protocol,
    ReplicateVector,
    Result,
    Status,
    Submission,
    Track,
)
from leaderboard.models.teams import Invitation, InvitationStatus, Membership, Participation, Team
from leaderboard.models.tokens import ApiToken, TokenScope
from leaderboard.models.workers import WorkerHeartbeat

__all__ = [
    "FINAL",
    "IN_FLIGHT",
    "AcceptedVia",
    "Aggregate",
    "ApiToken",
    "Benchmark",
    "BoardEntry",
    "BoardSnapshot",
    "BoardState",
    "Invitation",
    "InvitationStatus",
    "LicenceAcceptance",
    "Membership",
    "Modality",
    "Participation",
    "Phase",
    "Pretraining",
    "Profile",
    "Protocol",
    "ReplicateVector",
    "Result",
    "SnapshotImmutable",
    "SnapshotRow",
    "Status",
    "Submission",
    "Task",
    "Team",
    "TokenScope",
    "Track",
    "WorkerHeartbeat",
]
