"""Ray executor: every job a Ray task on a cluster, behind the interface of executors.py.

    ray start --head --port=6379                       # on the head node
    ray start --address=HEAD:6379                      # on every other node
    featuretransfer run STUDY.toml --executor ray --address HEAD:6379 --out /shared/runs/x

Without an address a local Ray starts on this machine. The output folder (and a relative --data)
must be on storage that every node mounts at the driver's path: a task writes its job folder
there and returns only the folder's path, never weights. The runner submits a job only when its
needs are DONE on disk, so tasks carry no Ray-level dependencies. A task whose worker or node dies
is retried (`max_retries`); a Python error in the job is not, so a bug fails once, not forever.

This is the only module that imports ray, and nothing imports it at package import time: the
local executors work without Ray installed.
"""

from __future__ import annotations

import concurrent.futures
import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import ray
import torch
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from featuretransfer import store
from featuretransfer.run import interrupt

log = logging.getLogger(__name__)

NODE_FILE = "ray_node.json"  # written into each job folder: which node and process trained it

# ray.init(address) waits without a bound (over 15 min measured) where no Ray head answers, so
# a child process that can be stopped tries the connection first.
_PROBE = (
    "import sys, ray; "
    "ray.init(address=sys.argv[1], logging_level='ERROR', log_to_driver=False); ray.shutdown()"
)


class ClusterError(ValueError):
    """No Ray cluster answered at the given address."""


def check_cluster(address: str, timeout_s: float = 30) -> None:
    """Raise ClusterError unless a Ray head answers at `address` (HOST:PORT) within `timeout_s`."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ClusterError(
            f"--address {address}: give the Ray head as HOST:PORT, e.g. 10.0.0.1:6379"
        )
    silent = (
        f"no Ray cluster answered at {address} within {timeout_s:g} s: start one with "
        f"'ray start --head --port={port}' on {host} (and 'ray start --address={address}' on "
        "the other nodes), or leave out --address to run on a local Ray"
    )
    deadline = time.monotonic() + timeout_s
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
    except OSError:
        raise ClusterError(silent) from None
    try:
        probe = subprocess.run(
            [sys.executable, "-c", _PROBE, address],
            check=False,
            capture_output=True,
            text=True,
            timeout=max(1.0, deadline - time.monotonic()),
        )
    except subprocess.TimeoutExpired:
        raise ClusterError(silent) from None
    if probe.returncode != 0:
        lines = [line for line in probe.stderr.splitlines() if line.strip()]
        reason = lines[-1].strip() if lines else f"exit code {probe.returncode}"
        raise ClusterError(f"cannot join the Ray cluster at {address}: {reason}")


class SharedStorageError(RuntimeError):
    """A job folder that a task wrote is not visible to the driver."""


@ray.remote
def _run_task(fn: Callable, cwd: str, threads: int, *args):
    """Run fn(*args) in a Ray worker; a Path result comes back as an absolute str path."""
    torch.set_num_threads(threads)  # tasks share a node's cores: no oversubscription
    if os.path.isdir(cwd):  # relative paths (--data, --out) mean the driver's folder
        os.chdir(cwd)
    with interrupt.stop_on_sigint():  # ray.cancel: stop at the next step, checkpoint saved
        result = fn(*args)
    if isinstance(result, Path):
        if result.is_dir():
            store.write_json(
                result / NODE_FILE,
                {
                    "node_id": ray.get_runtime_context().get_node_id(),
                    "hostname": socket.gethostname(),
                    "pid": os.getpid(),
                    "gpu_ids": [str(g) for g in ray.get_gpu_ids()],
                    "threads": threads,
                },
            )
        return str(result.absolute())
    return result


@ray.remote(num_cpus=0)  # takes no CPU from the jobs
class _ProgressInbox:
    """Collects progress events from tasks until the driver drains them."""

    def __init__(self):
        self.events: list[tuple] = []

    def put(self, event: tuple) -> None:
        self.events.append(event)

    def drain(self) -> list[tuple]:
        events, self.events = self.events, []
        return events


class RayReporter:
    """A picklable progress callback for a job in a Ray task.

    Sends (job_id, step, total, metrics) to the driver's inbox."""

    def __init__(self, inbox, job_id: str):
        self.inbox, self.job_id = inbox, job_id

    def __call__(self, step: int, total: int, metrics: dict) -> None:
        self.inbox.put.remote((self.job_id, step, total, metrics))  # fire and forget: never waits


def _copy_outcome(ray_future: concurrent.futures.Future, future: concurrent.futures.Future) -> None:
    """Give `future` the task's result, or the job's own exception rather than Ray's wrapper."""
    try:
        error = ray_future.exception()
        result = None if error else ray_future.result()
        if isinstance(error, ray.exceptions.RayTaskError) and error.cause is not None:
            log.debug("Ray task failed: %s", error)  # with the remote traceback
            error = error.cause  # the same one-line reason as with the local executors
        elif isinstance(result, str) and not os.path.exists(result):
            # the task wrote the job folder on a disk this machine does not see: its weights
            # are lost to the jobs that need them and to the results table
            error = SharedStorageError(
                f"a Ray task wrote {result}, which does not exist here: "
                "put --out on storage that every node mounts"
            )
    except Exception as e:  # noqa: BLE001 - the runner waits on `future`: always resolve it
        error = e
    if error is None:
        future.set_result(result)
    else:  # also a worker or node lost more than max_retries times
        future.set_exception(error)


class RayExecutor:
    """Jobs as Ray tasks with `num_cpus` CPUs and `num_gpus` GPUs each, on a local or remote Ray."""

    def __init__(
        self,
        address: str | None = None,
        num_cpus: float = 1,
        num_gpus: float = 0,
        max_retries: int = 3,
        connect_timeout_s: float = 30,
    ):
        if num_cpus <= 0 or num_gpus < 0:
            raise ValueError(
                f"num_cpus={num_cpus}, num_gpus={num_gpus}: a task needs CPUs > 0 and GPUs >= 0"
            )
        self.num_cpus, self.num_gpus, self.max_retries = num_cpus, num_gpus, max_retries
        self.owns_ray = not ray.is_initialized()  # a second executor shares the connection
        if self.owns_ray:
            if address is not None:
                check_cluster(address, connect_timeout_s)
            # workers on other nodes do not inherit the driver's environment
            env = {k: v for k, v in os.environ.items() if k.startswith("FEATURETRANSFER_")}
            context = ray.init(
                address=address,
                logging_level=logging.WARNING,
                runtime_env={"env_vars": env} if env else None,
            )
            if context.dashboard_url:
                log.info("Ray dashboard: http://%s", context.dashboard_url)
        resources = ray.cluster_resources()
        slots = resources.get("CPU", 0) // num_cpus
        if num_gpus:
            slots = min(slots, resources.get("GPU", 0) // num_gpus)
            if not resources.get("GPU"):
                log.warning("num_gpus=%g but the Ray cluster has no GPU: jobs will wait", num_gpus)
        self.max_workers = max(1, int(slots))  # tasks in flight; more would only queue in Ray
        log.info(
            "Ray: %d nodes, %g CPUs, %g GPUs; %d jobs at a time",
            len([n for n in ray.nodes() if n["Alive"]]),
            resources.get("CPU", 0),
            resources.get("GPU", 0),
            self.max_workers,
        )
        # on the driver's node, so that progress outlives the loss of any other node
        here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=True)
        self.inbox = _ProgressInbox.options(scheduling_strategy=here).remote()
        self.inbox_lost = False
        self.threads = max(1, int(num_cpus))  # each task's torch threads
        self.refs: dict = {}  # task -> its future, until cancel
        self.callback: Callable | None = None  # (job_id, step, total, metrics), set by the runner

    def progress_for(self, job_id: str) -> RayReporter:
        return RayReporter(self.inbox, job_id)

    def submit(self, fn: Callable, *args) -> concurrent.futures.Future:
        task = _run_task.options(
            num_cpus=self.num_cpus,
            num_gpus=self.num_gpus,
            max_retries=self.max_retries,
            retry_exceptions=False,
        )
        ref = task.remote(fn, os.getcwd(), self.threads, *args)
        future: concurrent.futures.Future = concurrent.futures.Future()
        ref.future().add_done_callback(lambda done: _copy_outcome(done, future))
        self.refs = {r: f for r, f in self.refs.items() if not f.done()} | {ref: future}
        return future

    def cancel(self) -> None:
        """Tasks not started never start; running ones stop at their next training step (Ray
        raises SIGINT's handler in the task, which `interrupt.stop_on_sigint` turns into a
        stop; not force=True, which would kill the worker and lose the steps since the last
        checkpoint)."""
        for ref, future in list(self.refs.items()):
            if not future.done():
                try:
                    ray.cancel(ref, force=False)
                except ray.exceptions.RayError as e:  # a task already gone: nothing to stop
                    log.debug("cancel of a Ray task: %s", e)
        self.refs.clear()

    def poll(self) -> None:
        """Hand every progress event that tasks sent to the callback."""
        if self.inbox_lost:
            return
        try:
            events = ray.get(self.inbox.drain.remote(), timeout=10)
        except (ray.exceptions.RayError, TimeoutError) as e:  # progress is never worth a failed run
            log.warning("progress from Ray tasks lost (%s); the jobs go on", type(e).__name__)
            self.inbox_lost = True
            return
        for event in events:
            if self.callback:
                self.callback(*event)

    def shutdown(self, at_once: bool = False) -> None:
        """Disconnect; tasks still running die with their driver and stay INCOMPLETE on disk."""
        if not ray.is_initialized():  # another executor that shared the connection ended it
            return
        try:
            ray.kill(self.inbox)
        except ray.exceptions.RayError:
            pass
        if self.owns_ray:
            ray.shutdown()
