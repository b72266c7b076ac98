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

# The worker, with the reaper's beat embedded (scripts/demo-worker.sh).
PY="$PY" scripts/demo-worker.sh >>var/log/worker.log 2>&1 &
WORKER_PID=$!
trap 'kill "$WORKER_PID" 2>/dev/null || true; wait "$WORKER_PID" 2>/dev/null || true' EXIT INT TERM

# Baselines: every sweep entry (reference_models/sweeps.py), 1k protocol first, then full,
# submitted as checkpoints through the real pipeline in the background. Archives come from the
# committed cache (reference_models/baselines) or var/baselines, else the starter kit trains them.
# Unbuffered (-u), so var/log/seeding.log gets each progress line as it happens; the home page
# shows the counts.
if [ "${MEDVTAB_SEED_BASELINES:-1}" = "1" ]; then
  "$PY" -u manage.py seed_baselines >var/log/seeding.log 2>&1 &
  SEED_PID=$!
  trap 'kill "$WORKER_PID" "$SEED_PID" 2>/dev/null || true; wait 2>/dev/null || true' EXIT INT TERM
fi

echo
echo "  Med-VTAB Leaderboard is serving at http://$HOST:$PORT/"
echo "  (baselines are being seeded in the background, 1k then full: tail -f var/log/seeding.log)"
echo "  (worker log: var/log/worker.log; restart a stopped worker with scripts/demo-worker.sh)"
echo "  (stop with Ctrl-C)"
echo
"$PY" manage.py runserver "$HOST:$PORT" --noreload
