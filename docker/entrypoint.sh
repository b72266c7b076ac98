#!/usr/bin/env bash
# The one entrypoint of the images and of docker-compose.yml; the tests run it too.
#
#   web          gunicorn medvtab.wsgi (runs migrations first when MEDVTAB_MIGRATE=1)
#   worker-cpu   one Celery worker on the cpu queue (MEDVTAB_WORKER_QUEUES to change)
#   worker-gpu   one Celery process per visible GPU on the gpu queue, each pinned to its GPU
#   beat         the Celery beat scheduler (the reaper); run exactly one
#   migrate      manage.py migrate
#   demo         scripts/run-demo.sh, the same script as `make run`
#   check        manage.py check --deploy --fail-level WARNING
#   healthcheck  web [PATH] | worker-cpu | worker-gpu | beat  (exit 0 when healthy)
#   manage ARGS  manage.py ARGS
#   anything else that is a command is run as is (e.g. bash)
#
# MEDVTAB_ENTRYPOINT_DRY_RUN=1 prints the commands instead of running them.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# The image puts its virtualenv on PATH; a checkout uses its .venv.
if [[ -n "${MEDVTAB_PYTHON:-}" ]]; then
  PY="$MEDVTAB_PYTHON"
elif [[ -x "$ROOT/.venv/bin/python" ]]; then
  PY="$ROOT/.venv/bin/python"
else
  PY="python"
fi
LOG_LEVEL="${LOG_LEVEL:-INFO}"

usage() {
  sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

truthy() {
  case "${1,,}" in
    1 | true | yes | on) return 0 ;;
    *) return 1 ;;
  esac
}

dry_run() {
  truthy "${MEDVTAB_ENTRYPOINT_DRY_RUN:-0}"
}

# Replace this shell with the command (signals reach it directly), or print it in a dry run.
run() {
  if dry_run; then
    printf '%q ' "$@"
    printf '\n'
    exit 0
  fi
  exec "$@"
}

manage() {
  if dry_run; then
    printf '%q ' "$PY" manage.py "$@"
    printf '\n'
  else
    "$PY" manage.py "$@"
  fi
}

# GPU indices: MEDVTAB_GPUS ("0,1") when set, else what nvidia-smi lists (PCI bus order).
gpu_ids() {
  local ids="${MEDVTAB_GPUS:-}"
  if [[ -z "$ids" ]] && command -v nvidia-smi >/dev/null 2>&1; then
    ids="$(nvidia-smi --query-gpu=index --format=csv,noheader 2>/dev/null || true)"
  fi
  ids="$(tr ',' ' ' <<<"$ids" | xargs)" # one line, single spaces
  if [[ -z "$ids" ]]; then
    echo "worker-gpu: no GPU visible (no nvidia-smi output and MEDVTAB_GPUS unset)." >&2
    echo "Give the container GPUs (docker-compose.yml reserves them) or set MEDVTAB_GPUS." >&2
    return 1
  fi
  local id
  for id in $ids; do
    if [[ ! "$id" =~ ^[0-9]+$ ]]; then
      echo "worker-gpu: GPU index '$id' is not a number (MEDVTAB_GPUS=${MEDVTAB_GPUS:-})" >&2
      return 1
    fi
  done
  echo "$ids"
}

cmd_web() {
  if truthy "${MEDVTAB_MIGRATE:-0}"; then
    manage migrate --noinput
  fi
  local tmp_dir=/tmp
  [[ -d /dev/shm && -w /dev/shm ]] && tmp_dir=/dev/shm # heartbeat files off the overlay disk
  # --preload: the master imports Django once and every worker is forked from it, so a restart
  # after --max-requests costs a fork, not the ~1.2 s of CPU of a fresh import (docs/performance.md).
  run "$PY" -m gunicorn medvtab.wsgi:application \
    --chdir "$ROOT" \
    --bind "${GUNICORN_BIND:-0.0.0.0}:${PORT:-8000}" \
    --workers "${GUNICORN_WORKERS:-3}" \
    --timeout "${GUNICORN_TIMEOUT:-120}" \
    --graceful-timeout 30 \
    --preload --max-requests 1000 --max-requests-jitter 100 \
    --worker-tmp-dir "$tmp_dir" \
    --access-logfile - --error-logfile - --log-level "${LOG_LEVEL,,}"
}

cmd_worker_cpu() {
  run "$PY" -m celery -A medvtab worker \
    -Q "${MEDVTAB_WORKER_QUEUES:-cpu}" \
    --concurrency "${CELERY_CONCURRENCY:-$(nproc)}" \
    --max-tasks-per-child "${CELERY_MAX_TASKS_PER_CHILD:-100}" \
    --hostname "cpu@%h" --loglevel "$LOG_LEVEL"
}

cmd_worker_gpu() {
  local ids id
  ids="$(gpu_ids)"
  local -a pids=()
  for id in $ids; do
    # Each process sees exactly one GPU, so inside it the device is always cuda:0.
    local -a child=(env CUDA_DEVICE_ORDER=PCI_BUS_ID CUDA_VISIBLE_DEVICES="$id" MEDVTAB_DEVICE=cuda:0
      "$PY" -m celery -A medvtab worker -Q "${MEDVTAB_GPU_QUEUES:-gpu}" --concurrency 1
      --max-tasks-per-child "${CELERY_MAX_TASKS_PER_CHILD:-100}"
      --hostname "gpu${id}@%h" --loglevel "$LOG_LEVEL")
    if dry_run; then
      printf '%q ' "${child[@]}"
      printf '\n'
      continue
    fi
    "${child[@]}" &
    pids+=("$!")
  done
  dry_run && exit 0

  local stopping=0 rc=0
  trap 'stopping=1; kill -TERM "${pids[@]}" 2>/dev/null || true' TERM INT
  # The first process to end (a crash, or a signal) ends the container, so the restart policy
  # brings back all of them together.
  wait -n "${pids[@]}" || rc=$?
  kill -TERM "${pids[@]}" 2>/dev/null || true
  local pid
  for pid in "${pids[@]}"; do
    # `wait` returns early when a signal arrives; keep waiting through the warm shutdown.
    while kill -0 "$pid" 2>/dev/null; do wait "$pid" 2>/dev/null || true; done
  done
  if [[ "$stopping" == 1 ]]; then
    exit 0
  fi
  echo "worker-gpu: a worker process ended (status $rc); stopping the others." >&2
  exit $((rc == 0 ? 1 : rc))
}

cmd_beat() {
  local var_dir="${MEDVTAB_VAR_DIR:-$ROOT/var}"
  dry_run || mkdir -p "$var_dir"
  run "$PY" -m celery -A medvtab beat --loglevel "$LOG_LEVEL" \
    --schedule "$var_dir/celerybeat-schedule"
}

cmd_healthcheck() {
  local role="${1:-}"
  shift || true
  case "$role" in
    web) run "$PY" docker/healthcheck.py http "${1:-/healthz}" ;;
    worker-cpu) run "$PY" docker/healthcheck.py workers cpu ;;
    worker-gpu)
      local ids id
      local -a nodes=()
      ids="$(gpu_ids)"
      for id in $ids; do nodes+=("gpu$id"); done
      run "$PY" docker/healthcheck.py workers "${nodes[@]}"
      ;;
    beat) run "$PY" docker/healthcheck.py broker ;;
    *)
      echo "healthcheck: expected web [PATH], worker-cpu, worker-gpu or beat" >&2
      exit 2
      ;;
  esac
}

main() {
  local sub="${1:-}"
  [[ -n "$sub" ]] || usage
  shift
  case "$sub" in
    web) cmd_web ;;
    worker-cpu) cmd_worker_cpu ;;
    worker-gpu) cmd_worker_gpu ;;
    beat) cmd_beat ;;
    migrate) run "$PY" manage.py migrate --noinput ;;
    demo)
      export PY # run-demo.sh uses the same interpreter
      run "$ROOT/scripts/run-demo.sh"
      ;;
    check) run "$PY" manage.py check --deploy --fail-level WARNING "$@" ;;
    healthcheck) cmd_healthcheck "$@" ;;
    manage) run "$PY" manage.py "$@" ;;
    -h | --help | help) usage ;;
    *)
      if command -v "$sub" >/dev/null 2>&1; then
        run "$sub" "$@"
      fi
      echo "entrypoint: unknown command '$sub'" >&2
      usage
      ;;
  esac
}

main "$@"
