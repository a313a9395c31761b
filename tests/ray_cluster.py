"""A real multi-node Ray cluster on this machine: a head and worker nodes, each a separate
`ray start --block` process in a session of its own, every node pinned to 127.0.0.1 and given
its own ports. Stopping it ends every process of those sessions, and only those: `ray stop
--force` would also end Ray processes that other users of the machine started."""

from __future__ import annotations

import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RAY = str(Path(sys.executable).parent / "ray")


TOKEN_AUTH = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def processes_in_sessions(sessions: set[int]) -> list[int]:
    """The live (not zombie) processes whose session is one of `sessions`."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
            if state != "Z" and os.getsid(int(entry)) in sessions:
                found.append(int(entry))
        except (OSError, IndexError):
            continue
    return found


def descendants(pid: int) -> set[int]:
    """`pid` and every live process below it (by parent pid), now."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z":
            children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = set(), [pid]
    while todo:
        current = todo.pop()
        if current not in found:
            found.add(current)
            todo += children.get(current, [])
    return found


def alive(pids: set[int]) -> set[int]:
    """Those of `pids` still running (zombies waiting to be reaped count as ended)."""
    running = set()
    for pid in pids:
        try:
            if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
                running.add(pid)
        except (OSError, IndexError):
            continue
    return running


class RayCluster:
    def __init__(self, workers: int = 1, cpus_per_node: int = 1):
        self.temp_dir = tempfile.mkdtemp(prefix="hb-ray-", dir="/tmp")  # socket paths stay short
        self.nodes: list[subprocess.Popen] = []
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        # Token authentication (Ray's default for new clusters) with a token held in the
        # environment, which every node and driver started from here inherits: nothing is
        # written to ~/.ray, which other Ray users of this machine read.
        # Worker processes (the replicas) at nice 0, not Ray's default 15 (docs/cluster.md).
        self.env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_worker_niceness": "0",
                    **TOKEN_AUTH}
        self.env.pop("PYTHONPATH", None)  # nodes have no copy of the project: code travels
        self._start(["--head", f"--port={self.port}", f"--ray-client-server-port={free_port()}",
                     "--include-dashboard=false", f"--temp-dir={self.temp_dir}"], cpus_per_node)
        for _ in range(workers):
            self._start([f"--address={self.address}"], cpus_per_node)

    def _start(self, role: list[str], cpus: int) -> None:
        low = random.randrange(20_000, 60_000, 100)  # worker processes' ports
        log = Path(self.temp_dir) / f"node-{len(self.nodes)}.log"
        node = subprocess.Popen(
            [RAY, "start", *role, "--node-ip-address=127.0.0.1", f"--num-cpus={cpus}",
             "--num-gpus=0", "--object-store-memory=100000000", "--disable-usage-stats",
             f"--object-manager-port={free_port()}", f"--node-manager-port={free_port()}",
             f"--min-worker-port={low}", f"--max-worker-port={low + 99}",
             f"--dashboard-agent-listen-port={free_port()}",
             f"--dashboard-agent-grpc-port={free_port()}",
             f"--runtime-env-agent-port={free_port()}", f"--metrics-export-port={free_port()}",
             "--block"],
            stdout=log.open("w"), stderr=subprocess.STDOUT, env=self.env, cwd=self.temp_dir,
            start_new_session=True)
        self.nodes.append(node)
        deadline = time.monotonic() + 180
        while "Ray runtime started" not in log.read_text():
            if node.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"ray start failed: {log.read_text()[-2000:]}")
            time.sleep(0.2)

    def sessions(self) -> set[int]:
        return {node.pid for node in self.nodes}  # each node leads its own session

    def shipped_packages(self) -> list[Path]:
        """The copies of humpback that Ray's runtime environment unpacked on the nodes."""
        return sorted(Path(self.temp_dir).glob(
            "session_*/runtime_resources/py_modules_files/*/humpback"))

    def stop(self) -> list[int]:
        """End every process of the cluster's sessions; return any still alive after it."""
        sessions = self.sessions()
        for sig, grace in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
            for session in sessions:  # each node's process group, then any process of its
                try:                  # session that left the group
                    os.killpg(session, sig)
                except ProcessLookupError:
                    pass
            for pid in processes_in_sessions(sessions):
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + grace
            while processes_in_sessions(sessions) and time.monotonic() < deadline:
                time.sleep(0.2)
            if not processes_in_sessions(sessions):
                break
        for node in self.nodes:
            node.wait(timeout=10)
        left = processes_in_sessions(sessions)
        if not left:
            shutil.rmtree(self.temp_dir, ignore_errors=True)
        return left
