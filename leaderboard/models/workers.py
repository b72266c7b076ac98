"""Worker liveness, written by the workers themselves (the broker is never asked).

Every time is the database's clock (``now()`` in the query): heartbeats, claims and the reaper's
comparisons may run on hosts whose clocks disagree, the database is the one clock they share.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, models, transaction
from django.db.models.functions import Now

# A worker is considered gone after this many missed heartbeats.
MISSED_BEATS = 3


def stale_after_s() -> int:
    return MISSED_BEATS * int(settings.MEDVTAB_HEARTBEAT_INTERVAL_S)


def db_now_minus(seconds: float) -> models.Expression:
    """``now() - seconds`` on the database's clock, for filters."""
    return Now() - timedelta(seconds=seconds)


class HeartbeatQuerySet(models.QuerySet["WorkerHeartbeat"]):
    def fresh(self) -> HeartbeatQuerySet:
        return self.filter(last_seen__gte=db_now_minus(stale_after_s()))

    def alive_hostnames(self) -> set[str]:
        return set(self.fresh().values_list("hostname", flat=True))

    def alive_claims(self) -> dict[tuple[str, str], set[int]]:
        """The pool processes of every worker beating now, by (hostname, incarnation)."""
        rows = self.fresh().values_list("hostname", "incarnation", "pool_pids")
        return {(host, inc): set(pids or ()) for host, inc, pids in rows}

    def beat(
        self,
        hostname: str,
        *,
        incarnation: str,
        queues: str,
        pid: int,
        pool_pids: list[int] | None = None,
        token: str = "",
    ) -> None:
        """Record that this worker process is alive now (the database's now)."""
        values: dict[str, object] = {
            "incarnation": incarnation,
            "queues": queues,
            "pid": pid,
            "last_seen": Now(),
        }
        if pool_pids is not None:
            values["pool_pids"] = sorted(pool_pids)
        if token:  # only a ping carries one; the periodic beat must not erase it
            values["last_token"] = token[:64]
        if self.filter(hostname=hostname).update(**values):
            return
        try:
            with transaction.atomic():
                self.create(hostname=hostname, **values)
        except IntegrityError:  # a concurrent first beat of the same name won the insert
            self.filter(hostname=hostname).update(**values)


def claim_is_alive(
    alive: dict[tuple[str, str], set[int]], worker: str, incarnation: str, pid: int | None
) -> bool:
    """A claim is alive while its worker incarnation beats and lists the claiming pool process
    among its own (a pool process killed by the OOM killer leaves its worker beating)."""
    pids = alive.get((worker, incarnation))
    return pids is not None and (pid is None or pid in pids)


class WorkerHeartbeat(models.Model):
    hostname = models.CharField(max_length=255, unique=True)
    # A fresh id per worker process start: a restarted worker (same hostname) has a new one, so
    # the claims of its dead predecessor are told apart from its own.
    incarnation = models.CharField(max_length=32, blank=True)
    queues = models.CharField(max_length=200, blank=True)
    pid = models.PositiveIntegerField(null=True, blank=True)
    pool_pids = models.JSONField(default=list, blank=True)  # the processes that run tasks
    last_seen = models.DateTimeField()
    last_token = models.CharField(max_length=64, blank=True)

    objects = HeartbeatQuerySet.as_manager()

    class Meta:
        ordering = ["hostname"]

    def __str__(self) -> str:
        return f"{self.hostname} ({self.queues})"
