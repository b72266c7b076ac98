#!/usr/bin/env bash
# The demo's Celery worker (`make run` starts it; restart it the same way after stopping it).
#
# It consumes both queues with one pool process, and runs the periodic tasks (the reaper) in an
# embedded beat (-B), since the demo has no separate beat process. The filesystem broker never
# redelivers a message whose consumer died: a restarted worker re-queues what its dead
# predecessor had claimed as soon as its first heartbeat is written (docs/operations.md).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
VAR_DIR=${MEDVTAB_VAR_DIR:-var}
mkdir -p "$VAR_DIR"
exec "$PY" -m celery -A medvtab worker -Q cpu,gpu --concurrency 1 --hostname "demo@%h" \
  -B --schedule "$VAR_DIR/celerybeat-schedule" --loglevel "${LOG_LEVEL:-INFO}"
