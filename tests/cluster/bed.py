"""Hosts of the multi-host test bed: Linux namespaces joined by veth pairs to one bridge.

Each host is one process tree in its own network, mount, PID and UTS namespace (``unshare``),
with a tmpfs over the checkout's ``var/``, ``/tmp`` and ``/dev/shm``, so that hosts share no files
but what is bind-mounted in on purpose (read-only). A host's first process is ``sleep`` renamed
``medvtab-bed:<name>``: killing it kills everything in the host and frees its namespaces, which
destroys its veth pair (the link goes with it).

The bridge lives in a namespace of its own (the ``switch`` host); addresses are in
``SUBNET``, which exists only inside the bed, so no packet reaches the machine's own network.
What was started is recorded in ``STATE_FILE``; :func:`cleanup` reads it and ends those processes
(by id), and runs before a bed is built as well as after, so a crashed run leaves nothing behind.

    python -m tests.cluster.bed --cleanup   # end a previous bed's processes
    python -m tests.cluster.bed --check     # exit 1 if anything of a bed is left
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# The server code the hosts run: this checkout, or a copy with one mechanism removed
# (docs/deploy.md, "Each fault test without its mechanism").
ROOT = Path(os.environ.get("MEDVTAB_BED_SOURCE") or REPO).resolve()
MARK = "medvtab-bed:"
SUBNET = "10.231.77"  # a /24 that exists only inside the bed's namespaces
STATE_FILE = Path("/run/medvtab-bed.json")
WORK = Path("/tmp/medvtab-bed")  # staging (data, uploads, logs) in the machine's /tmp
CLONE_NEWNET = 0x40000000
TOOLS = ("unshare", "nsenter", "ip", "setsid", "mount")


def missing_capabilities() -> str:
    """Why the bed cannot run here, or '' when it can."""
    if os.geteuid() != 0:
        return "the cluster tests need root (namespaces, mounts, veth links)"
    tools = [t for t in TOOLS if shutil.which(t) is None]
    if tools:
        return "missing tools: " + ", ".join(tools)
    probe = subprocess.run(
        ["unshare", "--net", "--mount", "--pid", "--uts", "--fork", "true"],
        capture_output=True, text=True, check=False,
    )
    if probe.returncode != 0:
        return "cannot create namespaces (unshare --net --mount --pid --uts): " + probe.stderr.strip()
    return ""


@dataclass(frozen=True)
class Mount:
    source: Path  # on the machine
    target: str  # relative to the checkout inside the host (under var/, a tmpfs)


@dataclass
class Host:
    name: str
    address: str  # '' for the switch
    pid: int  # the host's first process, as the machine sees it
    netns: int  # inode of its network namespace (to prove it is gone)
    unshare: subprocess.Popen[bytes] = field(repr=False)

    def enter(self) -> list[str]:
        """A command prefix that runs inside the host (all of its namespaces)."""
        return ["nsenter", "-t", str(self.pid), "-n", "-m", "-p", "-u", "--", "env", f"--chdir={ROOT}"]

    def net(self) -> list[str]:
        """Its network namespace only: ``ip`` then still sees the machine's /proc and PIDs."""
        return ["nsenter", "-t", str(self.pid), "-n", "--"]


def _setup_script(name: str, mounts: list[Mount]) -> str:
    var = ROOT / "var"
    lines = [
        "set -euo pipefail",
        f"hostname {shlex.quote(name)}",
        f"mount -t tmpfs -o mode=0755 bed-var {shlex.quote(str(var))}",
    ]
    for m in mounts:
        target = shlex.quote(str(var / m.target))
        lines += [
            f"mkdir -p {target}",
            f"mount --bind {shlex.quote(str(m.source))} {target}",
            f"mount -o remount,bind,ro {target}",
        ]
    # last: /tmp hides the staging folder the bind mounts came from. A checkout that itself lives
    # under /tmp (a CI clone, say) is held open first and bound back, with its mounts, on top.
    kept = sorted({str(p) for p in (ROOT, REPO) if p.is_relative_to("/tmp")})
    lines += [f"exec {3 + i}<{shlex.quote(p)}" for i, p in enumerate(kept)]
    lines += ["mount -t tmpfs -o mode=1777 bed-tmp /tmp", "mount -t tmpfs -o mode=1777 bed-shm /dev/shm"]
    for i, path in enumerate(kept):
        lines += [f"mkdir -p {shlex.quote(path)}",
                  f"mount --no-canonicalize --rbind /proc/self/fd/{3 + i} {shlex.quote(path)}", f"exec {3 + i}<&-"]
    lines.append(f"exec -a {MARK}{name} sleep infinity")
    return "\n".join(lines)


def _first_child(pid: int, timeout: float = 15.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
            if children and _is_bed_process(int(children[0])):
                return int(children[0])
        time.sleep(0.05)
    raise RuntimeError(f"host process under unshare {pid} did not start")


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
    except OSError:
        return ""


def _is_bed_process(pid: int) -> bool:
    return _cmdline(pid).startswith(MARK)


def _netns_inode(pid: int) -> int:
    return os.stat(f"/proc/{pid}/ns/net").st_ino


def sh(argv: list[str], *, check: bool = True, timeout: float = 60) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    if check and done.returncode != 0:
        raise RuntimeError(f"{shlex.join(argv)} failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


class Network:
    """The hosts of one bed, the bridge that joins them, and the state file."""

    def __init__(self) -> None:
        end_recorded_hosts()  # one bed at a time: a previous one's would drop out of the record
        self.hosts: dict[str, Host] = {}
        self.created_var = False
        self.switch = self._host("switch", "", [])
        sh([*self.switch.net(), "ip", "link", "add", "br0", "type", "bridge"])
        sh([*self.switch.net(), "ip", "link", "set", "br0", "up"])

    def _host(self, name: str, address: str, mounts: list[Mount]) -> Host:
        var = ROOT / "var"
        if not var.exists():
            var.mkdir()
            self.created_var = True
        logs = WORK / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        with (logs / f"{name}-host.log").open("ab") as out:
            proc = subprocess.Popen(
                ["unshare", "--net", "--mount", "--pid", "--uts", "--fork", "--mount-proc",
                 "--propagation", "private", "--", "bash", "-c", _setup_script(name, mounts)],
                stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True,
            )
        pid = _first_child(proc.pid)
        host = Host(name, address, pid, _netns_inode(pid), proc)
        self.hosts[name] = host
        self._save()
        return host

    def add(self, name: str, octet: int, mounts: list[Mount]) -> Host:
        host = self._host(name, f"{SUBNET}.{octet}", mounts)
        port = f"v-{name}"
        sw = self.switch.net()
        sh([*sw, "ip", "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns",
            str(host.pid)])
        sh([*sw, "ip", "link", "set", port, "master", "br0", "up"])
        inside = host.net()
        sh([*inside, "ip", "link", "set", "lo", "up"])
        sh([*inside, "ip", "addr", "add", f"{host.address}/24", "dev", "eth0"])
        sh([*inside, "ip", "link", "set", "eth0", "up"])
        return host

    def link(self, name: str, up: bool) -> None:
        """The host's cable: down drops every packet to and from it, silently."""
        sh([*self.switch.net(), "ip", "link", "set", f"v-{name}", "up" if up else "down"])

    def kill(self, name: str) -> None:
        """The host disappears: link cut, every process in it killed, namespaces freed."""
        host = self.hosts.pop(name)
        with contextlib.suppress(RuntimeError):
            self.link(name, up=False)
        _kill_host(host.pid, host.unshare)
        # the kernel frees a dead namespace's veth end later, in the background: remove the pair
        # now, so the host can be built again under the same name at once
        sh([*self.switch.net(), "ip", "link", "del", f"v-{name}"], check=False)
        self._save()

    def teardown(self) -> None:
        for name in [n for n in self.hosts if n != "switch"] + ["switch"]:
            host = self.hosts.pop(name, None)
            if host is not None:
                _kill_host(host.pid, host.unshare)
        self._save()
        STATE_FILE.unlink(missing_ok=True)
        if self.created_var:
            with contextlib.suppress(OSError):
                (ROOT / "var").rmdir()  # only if still empty: others may have used it meanwhile

    def _save(self) -> None:
        state = {n: {"pid": h.pid, "netns": h.netns} for n, h in self.hosts.items()}
        previous = _read_state()
        gone = {n: v for n, v in previous.get("gone", {}).items()}
        for n, v in previous.get("hosts", {}).items():
            if n not in state:
                gone[f"{n}-{v['pid']}"] = v
        STATE_FILE.write_text(json.dumps({"hosts": state, "gone": gone}))

    @contextlib.contextmanager
    def inside(self, name: str) -> Iterator[None]:
        """This thread's sockets open inside the host's network namespace for the block."""
        with open("/proc/self/ns/net") as home, open(f"/proc/{self.hosts[name].pid}/ns/net") as ns:
            _setns(ns.fileno())
            try:
                yield
            finally:
                _setns(home.fileno())


def _setns(fd: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), "setns failed")


def _kill_host(pid: int, unshare: subprocess.Popen[bytes] | None) -> None:
    if _is_bed_process(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while _is_bed_process(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if unshare is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            unshare.wait(timeout=10)


def _read_state() -> dict[str, dict[str, dict[str, int]]]:
    try:
        return dict(json.loads(STATE_FILE.read_text()))
    except (OSError, ValueError):
        return {}


def end_recorded_hosts() -> None:
    """End the hosts a previous bed recorded (each by its id, after checking it is one)."""
    for info in _read_state().get("hosts", {}).values():
        _kill_host(int(info["pid"]), None)
    STATE_FILE.unlink(missing_ok=True)


def cleanup() -> None:
    """End a previous bed's hosts and remove its staging folder."""
    end_recorded_hosts()
    shutil.rmtree(WORK, ignore_errors=True)


def leftovers(netns: set[int]) -> list[str]:
    """What of a bed still exists: host processes, or any process in one of its namespaces."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        if _is_bed_process(pid):
            found.append(f"process {pid} ({_cmdline(pid)})")
            continue
        with contextlib.suppress(OSError):
            if netns and _netns_inode(pid) in netns:
                found.append(f"process {pid} ({_cmdline(pid)}) in a bed network namespace")
    if STATE_FILE.exists():
        found.append(f"state file {STATE_FILE}")
    if WORK.exists():
        found.append(f"folder {WORK}")
    return found


def recorded_netns() -> set[int]:
    state = _read_state()
    return {int(v["netns"]) for part in ("hosts", "gone") for v in state.get(part, {}).values()}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cleanup", action="store_true")
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    netns = recorded_netns()
    if args.cleanup:
        cleanup()
    if args.check:
        left = leftovers(netns)
        for item in left:
            print("left behind:", item, file=sys.stderr)
        return 1 if left else 0
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
