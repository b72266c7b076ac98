from __future__ import annotations

from leaderboard.models.benchmark import Benchmark, Modality, Task
from leaderboard.models.workers import WorkerHeartbeat

__all__ = ["Benchmark", "Modality", "Task", "WorkerHeartbeat"]
