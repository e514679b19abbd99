"""A small Ray cluster on this machine for the tests: a head and more nodes, each `ray start`.

On Linux Ray swaps 127.0.0.1 for the machine's own address, so the cluster and its driver run in
a network namespace that holds only loopback: `in_network_namespace(argv)` runs a command there,
in a PID namespace of its own too, so that the kernel ends every process of the cluster when the
command ends, whatever happens to it. Give the command RAY_TMPDIR to keep Ray's session files
out of /tmp/ray. Inside, `RayCluster` starts each node with `ray start --block` on fixed ports
and stops it by its PID; a blocking `ray start` takes its node's processes with it.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

log = logging.getLogger(__name__)

RAY = str(Path(sys.executable).with_name("ray"))
BASE_PORT = 46000  # node i uses BASE_PORT + 100 * i + 0..99; nothing else listens in the namespace
STOP_TIMEOUT_S = 20
# --kill-child: if unshare dies, so does the namespace's first process, and with it all others;
# --mount-proc: /proc shows the namespace's PIDs, the ones that Ray and the tests see
UNSHARE = ["unshare", "--net", "--pid", "--fork", "--kill-child", "--mount-proc"]


def network_namespace_available() -> bool:
    """Whether this process may make network namespaces (root, or user namespaces allowed)."""
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return False
    try:
        return (
            subprocess.run(
                [*UNSHARE, "ip", "link", "set", "lo", "up"],
                check=False,
                capture_output=True,
                timeout=10,
            ).returncode
            == 0
        )
    except (OSError, subprocess.SubprocessError):
        return False


def in_network_namespace(
    argv: list[str], timeout_s: float, env: dict | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess:
    """Run argv with loopback as the only network and its own PIDs; stdout and stderr merged."""
    command = [*UNSHARE, "bash", "-c", 'ip link set lo up && "$@"', "bash", *argv]
    return subprocess.run(
        command,
        check=False,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout_s,
        env=env,
        cwd=cwd,
    )


def node_ports(index: int) -> dict[str, int]:
    """Every port one node listens on, fixed so that two nodes on one address never clash."""
    base = BASE_PORT + 100 * index
    return {
        "node-manager-port": base + 1,
        "object-manager-port": base + 2,
        "dashboard-agent-listen-port": base + 3,
        "dashboard-agent-grpc-port": base + 4,
        "runtime-env-agent-port": base + 5,
        "metrics-export-port": base + 6,
        "min-worker-port": base + 50,
        "max-worker-port": base + 99,
    }


def use_token_auth() -> None:
    """Give this process, and the nodes and workers it starts, one auth token (Ray >= 2.59).

    Call it before `import ray`, which reads the mode once. From the environment, not
    ~/.ray/auth_token: a test writes nothing in the home folder.
    """
    os.environ.setdefault("RAY_AUTH_TOKEN", secrets.token_hex(32))
    os.environ.update(RAY_AUTH_MODE="token", RAY_USAGE_STATS_ENABLED="0")


class RayCluster:
    """Nodes started with `ray start --block`, the first the head; `with` starts and stops them."""

    def __init__(self, folder: Path, cpus_per_node: list[int], gpus_per_node: list[int]):
        self.folder = Path(folder)
        self.cpus, self.gpus = cpus_per_node, gpus_per_node
        self.address = f"127.0.0.1:{BASE_PORT}"
        self.processes: list[subprocess.Popen] = []
        use_token_auth()

    def __enter__(self) -> RayCluster:  # noqa: PYI034 - typing.Self needs Python 3.11
        self.folder.mkdir(parents=True, exist_ok=True)
        try:
            for i, (cpus, gpus) in enumerate(zip(self.cpus, self.gpus)):
                self.start_node(i, cpus, gpus)
                if i == 0:
                    self.wait_for_port(BASE_PORT, timeout_s=60)
            self.wait_for_nodes(timeout_s=60)
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start_node(self, index: int, cpus: int, gpus: int) -> None:
        # a declared GPU need not exist: Ray only counts it; 100 MB of object store is plenty
        # for tasks that return paths, not tensors
        args = [
            RAY,
            "start",
            "--block",
            "--node-ip-address=127.0.0.1",
            f"--num-cpus={cpus}",
            f"--num-gpus={gpus}",
            "--object-store-memory=100000000",
        ]
        args += [f"--{name}={port}" for name, port in node_ports(index).items()]
        if index == 0:
            args += [
                "--head",
                f"--port={BASE_PORT}",
                f"--ray-client-server-port={BASE_PORT + 7}",
                "--include-dashboard=false",
            ]
        else:
            args += [f"--address={self.address}"]
        with open(self.folder / f"node{index}.log", "w") as logfile:  # the child keeps its copy
            self.processes.append(subprocess.Popen(args, stdout=logfile, stderr=subprocess.STDOUT))

    def wait_for_port(self, port: int, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if any(p.poll() is not None for p in self.processes):
                raise RuntimeError(f"a Ray node exited at start; see {self.folder}/node*.log")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.25)
        raise TimeoutError(f"the Ray head did not listen on {port} within {timeout_s} s")

    def wait_for_nodes(self, timeout_s: float) -> None:
        """Return once every node has joined, so that drivers see the whole cluster."""
        import ray

        ray.init(address=self.address, logging_level=logging.WARNING)
        try:
            deadline = time.monotonic() + timeout_s
            while len(alive := [n for n in ray.nodes() if n["Alive"]]) < len(self.cpus):
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"{len(alive)} of {len(self.cpus)} Ray nodes joined "
                        f"within {timeout_s} s; see {self.folder}/node*.log"
                    )
                time.sleep(0.25)
        finally:
            ray.shutdown()

    def stop(self) -> None:
        """SIGTERM each node, the head last; SIGKILL any that outlives STOP_TIMEOUT_S (its
        processes then die with it: Ray ties them to their `ray start` on Linux)."""
        for process in reversed(self.processes):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                log.warning("Ray node %d ignored SIGTERM; killing it", process.pid)
                process.kill()
                process.wait(timeout=STOP_TIMEOUT_S)
        self.processes = []
