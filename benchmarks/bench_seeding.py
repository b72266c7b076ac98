"""Time `make run`'s baseline seeding from a fresh clone, to the complete `1k` board.

    python benchmarks/bench_seeding.py [--clone DIR] [--timeout 1800] [--full]

Clones this repository (committed state) into DIR, links the already-installed virtual environment
(the figure is "with the virtual environment already installed"), runs ``scripts/run-demo.sh`` as
``make run`` does, and reads ``var/log/seeding.log`` until the ``1k`` board is final (every sweep
entry scored, and the pixel reference row scored), then, with ``--full``, until the ``full`` board
is too. Prints one JSON object: seconds from the start of ``run-demo.sh`` to each milestone, the
load average before and after, and the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def clone(target: Path) -> None:
    if target.exists():
        shutil.rmtree(target)
    subprocess.run(["git", "clone", "-q", "--local", str(REPO), str(target)], check=True)
    (target / ".venv").symlink_to(REPO / ".venv")


def milestones(log: str) -> dict[str, float]:
    found: dict[str, float] = {}
    for line in log.splitlines():
        stamp = re.match(r"\[\s*(\d+) s\] (.*)", line)
        if not stamp:
            continue
        seconds, text = float(stamp.group(1)), stamp.group(2)
        board = re.match(r"(\S+) protocol: all \d+ baselines final", text)
        if board:
            found[f"{board.group(1)}_baselines_final"] = seconds
        ref = re.match(r"pixel reference \((\S+)\): scored", text)
        if ref:
            found[f"{ref.group(1)}_reference_scored"] = seconds
        if text.startswith("demo backbones: ready"):
            found["backbones_ready"] = seconds
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clone", default="/tmp/medvtab-seeding-bench")
    parser.add_argument("--timeout", type=float, default=1800.0)
    parser.add_argument("--full", action="store_true", help="wait for the full board too")
    args = parser.parse_args()
    target = Path(args.clone)
    clone(target)
    env = {**os.environ, "PORT": str(free_port()), "PY": ".venv/bin/python"}
    env.pop("MEDVTAB_BACKBONE_ROOT", None)
    load_before = os.getloadavg()
    started = time.monotonic()
    proc = subprocess.Popen(["scripts/run-demo.sh"], cwd=target, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wanted = {"1k_baselines_final", "1k_reference_scored"}
    if args.full:
        wanted |= {"full_baselines_final", "full_reference_scored"}
    found: dict[str, float] = {}
    seeding_log = target / "var" / "log" / "seeding.log"
    try:
        while time.monotonic() - started < args.timeout and not wanted <= set(found):
            time.sleep(5)
            if seeding_log.exists():
                found = milestones(seeding_log.read_text(encoding="utf-8", errors="replace"))
            if proc.poll() is not None:
                break
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)
    # The seeding log's clock starts with seed_baselines; the wall clock (polled every 5 s) also
    # covers migrate and the benchmark build before it.
    result = {
        "wall_s_to_1k_board": round(time.monotonic() - started, 1) if wanted <= set(found) else None,
        "seeding_log_milestones_s": found,
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in os.getloadavg()],
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, "
                   f"Python {platform.python_version()}",
        "complete": wanted <= set(found),
    }
    print(json.dumps(result, indent=2))
    return 0 if result["complete"] else 1


if __name__ == "__main__":
    sys.exit(main())
