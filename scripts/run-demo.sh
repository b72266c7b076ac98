#!/usr/bin/env bash
# The demo: embedded database and broker, the synthetic benchmark, a real Celery worker, the web server.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
HOST=${HOST:-127.0.0.1}
PORT=${PORT:-8000}
export DEBUG=${DEBUG:-1}
mkdir -p var/log

"$PY" manage.py migrate --noinput
"$PY" manage.py create_demo_benchmark

"$PY" -m celery -A medvtab worker -Q cpu,gpu --concurrency 1 --hostname "demo@%h" \
  --loglevel INFO >var/log/worker.log 2>&1 &
WORKER_PID=$!
trap 'kill "$WORKER_PID" 2>/dev/null || true; wait "$WORKER_PID" 2>/dev/null || true' EXIT INT TERM

echo
echo "  Med-VTAB Leaderboard is serving at http://$HOST:$PORT/"
echo "  (worker log: var/log/worker.log; stop with Ctrl-C)"
echo
"$PY" manage.py runserver "$HOST:$PORT" --noreload
