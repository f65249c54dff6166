"""A real Ray cluster on loopback for tests and `make bench`: a head node and worker nodes, each a
`ray start --block` process in its own session, stopped (the whole process group) when done.

Ray rewrites 127.0.0.1 into the machine's outward address; 127.0.0.2 and up are loopback too and
Ray leaves them alone, so the head listens for its nodes on 127.0.0.2 and worker n on 127.0.0.(2+n):
no traffic leaves the loopback interface. Every port is picked free, and the temp folder is the
cluster's own, so it never meets another Ray on the machine (never run `ray stop`: it stops them all).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

RAY = Path(sys.executable).with_name("ray")
HEAD_IP = "127.0.0.2"
START_TIMEOUT_S = 120.0


def free_ports(n: int, host: str = "127.0.0.1") -> list[int]:
    """n distinct ports free right now (held open together so none is handed out twice)."""
    with ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(n)]
        for s in socks:
            s.bind((host, 0))
        return [s.getsockname()[1] for s in socks]


@dataclass
class RayNode:
    name: str
    ip: str
    process: subprocess.Popen[bytes]
    log: Path
    killed: bool = False

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Signal every process of the node's session: `ray start`, its raylet, agents and workers
        (Ray gives workers process groups of their own, but they stay in the session)."""
        self.killed = True
        for pid in session_pids(self.process.pid):
            with suppress(ProcessLookupError):
                os.kill(pid, sig)

    def stop(self, grace_s: float = 10.0) -> None:
        self.kill(signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        while session_pids(self.process.pid) and time.monotonic() < deadline:
            self.process.poll()  # reap the `ray start` process once it exits
            time.sleep(0.2)
        self.kill(signal.SIGKILL)
        self.process.wait(timeout=30)


def session_pids(sid: int) -> list[int]:
    """Live processes whose session id is `sid` (read from /proc, so Linux only)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid and fields[0] != "Z":  # fields after the name: state, ppid, pgrp, session
            out.append(int(stat.parent.name))
    return out


@dataclass
class LocalRayCluster:
    address: str
    temp_dir: Path
    env: dict[str, str]
    nodes: list[RayNode] = field(default_factory=list)

    @property
    def workers(self) -> list[RayNode]:
        return self.nodes[1:]

    def live_workers(self) -> list[RayNode]:
        return [n for n in self.workers if n.alive]

    def add_worker(self) -> RayNode:
        """Start one more worker node (on the next loopback address) and wait until it has joined."""
        n = len(self.nodes)
        args = ["--address", self.address, *_node_ports(f"127.0.0.{2 + n}")]
        node = _start_node(f"worker{n}", args, self.env, self.temp_dir / f"worker{n}.log")
        self.nodes.append(node)
        _wait_for(self, 1 + len(self.live_workers()))
        return node

    def ensure_workers(self, count: int) -> None:
        while len(self.live_workers()) < count:
            self.add_worker()

    def node_count(self) -> int:
        """Nodes the head reports alive (`ray status` against this cluster only)."""
        out = subprocess.run(
            [str(RAY), "status", "--address", self.address],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=60,
            check=False,
        ).stdout
        active = out.split("Active:", 1)[1].split("Pending:", 1)[0] if "Active:" in out else ""
        return sum(1 for line in active.splitlines() if line.strip().startswith("1 node_"))


def _start_node(name: str, args: list[str], env: dict[str, str], log: Path) -> RayNode:
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(RAY), "start", *args, "--block"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so the node can be killed whole
        )
    return RayNode(name, args[args.index("--node-ip-address") + 1], process, log)


def _node_ports(ip: str) -> list[str]:
    manager, objects, agent, agent_grpc, runtime_env, metrics, *worker_ports = free_ports(6 + 12, ip)
    return [
        "--node-ip-address",
        ip,
        "--node-manager-port",
        str(manager),
        "--object-manager-port",
        str(objects),
        "--dashboard-agent-listen-port",
        str(agent),
        "--dashboard-agent-grpc-port",
        str(agent_grpc),
        "--runtime-env-agent-port",
        str(runtime_env),
        "--metrics-export-port",
        str(metrics),
        "--worker-port-list",
        ",".join(map(str, worker_ports)),
        "--num-cpus",
        "1",
        "--object-store-memory",
        str(100 * 1024 * 1024),
        "--disable-usage-stats",
    ]


@contextmanager
def local_ray_cluster(workers: int = 1) -> Iterator[LocalRayCluster]:
    """A head node and `workers` worker nodes, one CPU each; all stopped on exit, even on failure."""
    temp_dir = Path(tempfile.mkdtemp(prefix="wkray-", dir="/tmp"))  # short: Ray's socket paths are
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    gcs_port, dashboard_port = free_ports(2, HEAD_IP)
    cluster = LocalRayCluster(f"{HEAD_IP}:{gcs_port}", temp_dir, env)
    try:
        head_args = [
            "--head",
            "--port",
            str(gcs_port),
            "--include-dashboard",
            "false",
            "--dashboard-port",
            str(dashboard_port),
            "--temp-dir",
            str(temp_dir),
            *_node_ports(HEAD_IP),
        ]
        cluster.nodes.append(_start_node("head", head_args, env, temp_dir / "head.log"))
        _wait_for(cluster, 1)
        cluster.ensure_workers(workers)
        yield cluster
    finally:
        for node in reversed(cluster.nodes):
            node.stop()
        shutil.rmtree(temp_dir, ignore_errors=True)


def _wait_for(cluster: LocalRayCluster, nodes: int) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        dead = [n for n in cluster.nodes if not n.alive and not n.killed]
        if dead:
            raise RuntimeError(
                f"ray node {dead[0].name} exited: {dead[0].log.read_text(errors='replace')[-2000:]}"
            )
        if cluster.node_count() >= nodes:
            return
        time.sleep(1.0)
    raise RuntimeError(
        f"the Ray cluster at {cluster.address} did not reach {nodes} nodes in {START_TIMEOUT_S:.0f} s"
    )
