"""Celery's prefork pool, made to survive a pool process killed by a signal (``worker_pool``).

With a transport that cannot wake an event loop (kombu's filesystem transport, the demo's broker)
Celery runs billiard's blocking pool, whose processes share one in-queue guarded by a read lock,
a semaphore. Stock, an idle process waits for its next job *inside* that lock; SIGKILL there (the
kernel's OOM killer, ``kill -9``) leaves it held for ever, the replacement process blocks on it
while the main process keeps handing it jobs, and the worker "receives" tasks and never starts
them; with a prefetch of one it receives nothing more (docs/operations.md, "When a pool process
is killed"). Here a process waits for a job outside the lock and holds it only to read a job that
has arrived. (With Redis Celery runs its asynchronous pool, whose per-process queues have no
lock: it needs no repair.)
"""

from __future__ import annotations

import os
from typing import Any

from billiard.pool import Pool as BlockingPool
from billiard.queues import SimpleQueue
from celery.concurrency import prefork


class IdleUnlockedQueue(SimpleQueue):
    """Waits for a job without the read lock; takes it only to read a job that is there."""

    def get_payload(self) -> bytes:
        while True:
            self._reader.poll(None)
            with self._rlock:
                if self._reader.poll(0):  # a sibling may have taken it meanwhile: wait again
                    return bytes(self._reader.recv_bytes())


class KillSafeBlockingPool(BlockingPool):
    def _setup_queues(self) -> None:
        super()._setup_queues()
        self._inqueue = IdleUnlockedQueue(ctx=self._ctx.get_context())
        self._quick_put = self._inqueue._writer.send


class TaskPool(prefork.TaskPool):
    BlockingPool = KillSafeBlockingPool


def task_process_ids(pool: Any) -> list[int]:
    """The pids of the processes that run tasks: the pool's children, or this process for the
    solo and thread pools."""
    processes = getattr(getattr(pool, "_pool", None), "_pool", None)
    if not isinstance(processes, list):
        return [os.getpid()]
    return [p.pid for p in list(processes) if p.pid]
