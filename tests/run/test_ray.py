"""The Ray executor: a local Ray, a real two-node cluster on this machine, a killed worker.

The cluster tests share one run of this file as a script inside a network namespace
(ray_cluster.py says why): `python tests/test_ray.py JOBS.pkl OUT STUDY.toml` runs the tiny study
on a local Ray, then on a head and a second node (1 CPU each; the second declares a GPU), once
more while a worker is killed in the middle of a job, and then STUDY.toml through the command
line, undisturbed and stopped by SIGINT and resumed; it writes OUT/summary.json, which the tests
read.
Skipped where Ray is not installed or network namespaces are not allowed.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import pickle
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
import ray_cluster

RAY_MISSING = importlib.util.find_spec("ray") is None
needs_ray = pytest.mark.skipif(RAY_MISSING, reason="Ray is not installed (pip install ray)")
needs_namespace = pytest.mark.skipif(
    not ray_cluster.network_namespace_available(),
    reason="cannot make a network namespace (unshare --net needs root or user namespaces), "
    "and Ray binds the machine's own address outside one",
)
SCRIPT_TIMEOUT_S = 400  # the whole script takes 60-90 s on 2 busy cores
KILL_WAIT_S = 60  # how long the victim job waits to be killed; a missed kill fails the test


@needs_ray
def test_unreachable_address_is_a_cluster_error():
    from featuretransfer.run.ray_executor import ClusterError, RayExecutor

    started = time.monotonic()
    with pytest.raises(ClusterError, match="no Ray cluster answered at 127.0.0.1:1 ") as error:
        RayExecutor(address="127.0.0.1:1")  # nothing listens: refused at once
    assert time.monotonic() - started < 10
    assert "ray start --head --port=1" in str(error.value) and "\n" not in str(error.value)
    assert isinstance(error.value, ValueError)
    with pytest.raises(ClusterError, match="HOST:PORT"):
        RayExecutor(address="no-port-here")


@needs_ray
def test_address_that_is_not_ray_fails_in_bounded_time():
    from featuretransfer.run.ray_executor import ClusterError, RayExecutor

    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts, never answers
        address = f"127.0.0.1:{silent.getsockname()[1]}"
        started = time.monotonic()
        with pytest.raises(ClusterError, match=f"no Ray cluster answered at {address} within 3 s"):
            RayExecutor(address=address, connect_timeout_s=3)
    assert time.monotonic() - started < 8


def test_package_runs_without_ray():
    code = (
        "import sys, featuretransfer.cli, featuretransfer.run.runner, "
        "featuretransfer.run.executors; "
        "sys.exit('ray' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False, timeout=120).returncode == 0


# --- the script part: runs inside the network namespace ------------------------------------


def load_results(out: Path) -> dict[str, float]:
    with open(out / "results.csv") as f:
        return {row["job_id"]: float(row["top1"]) for row in csv.DictReader(f)}


def nodes_of(out: Path) -> dict[str, dict]:
    from featuretransfer.run.ray_executor import NODE_FILE

    return {p.parent.name: json.loads(p.read_text()) for p in out.glob(f"jobs/*/{NODE_FILE}")}


class StallOnce:
    """Progress callback of the victim job: its first call writes the worker's PID and waits to be
    killed, so the kill lands in the middle of the job; the retry then runs straight through."""

    def __init__(self, inner, pid_file: Path):
        self.inner, self.pid_file = inner, pid_file

    def __call__(self, step: int, total: int, metrics: dict) -> None:
        if not self.pid_file.exists():
            self.pid_file.write_text(str(os.getpid()))
            time.sleep(KILL_WAIT_S)
        self.inner(step, total, metrics)


def run_with_killed_worker(jobs, out: Path, address: str) -> dict:
    """Run the study while the worker of its first base net is killed mid-job."""
    from featuretransfer import store
    from featuretransfer.run.ray_executor import RayExecutor
    from featuretransfer.run.runner import run_jobs

    victim = next(job for job in jobs if job.treatment == "base")
    pid_file = out.parent / "victim.pid"
    seen: dict = {}

    class StallingExecutor(RayExecutor):
        def progress_for(self, job_id: str):
            reporter = super().progress_for(job_id)
            return StallOnce(reporter, pid_file) if job_id == victim.id else reporter

    def kill_victim() -> None:
        for _ in range(KILL_WAIT_S * 10):
            if pid_file.exists() and pid_file.read_text():
                seen["pid"] = int(pid_file.read_text())
                seen["state"] = store.states(out, store.plan_entries([victim]))[victim.id]
                os.kill(seen["pid"], signal.SIGKILL)
                return
            time.sleep(0.1)

    executor = StallingExecutor(address, num_cpus=1)
    killer = threading.Thread(target=kill_victim, daemon=True)
    killer.start()
    try:
        summary = run_jobs(jobs, out, executor, show_progress=False)
    finally:
        executor.shutdown()
    killer.join(timeout=5)
    return {
        "victim": victim.id,
        "killed_pid": seen.get("pid"),
        "state_at_kill": seen.get("state"),
        "trained": len(summary.trained),
        "failed": summary.failed,
    }


def interrupt_and_resume(study: Path, out: Path, address: str) -> dict:
    """`run --executor ray` undisturbed, then stopped by SIGINT while a net trains, then again."""
    command = [sys.executable, "-m", "featuretransfer", "run", str(study), "--quiet"]
    command += ["--executor", "ray", "--address", address]
    calm = subprocess.run([*command, "--out", str(out / "calm")], timeout=150, check=False)
    stopped = out / "stopped"
    process = subprocess.Popen([*command, "--out", str(stopped)], stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not any(stopped.glob("jobs/*/checkpoint.pt")) and time.monotonic() < deadline:
            if process.poll() is not None:
                break
            time.sleep(0.01)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=90)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
    import torch

    checkpoints = [torch.load(p, weights_only=True) for p in stopped.glob("jobs/*/checkpoint.pt")]
    report_after_stop = (stopped / "report").exists()
    resumed = subprocess.run(
        [*command, "--out", str(stopped)], capture_output=True, text=True, timeout=150
    )
    return {
        "calm_rc": calm.returncode,
        "stopped_rc": process.returncode,
        "stopped_stderr": stderr,
        "mid_epoch_checkpoints": sum("epoch_step" in c for c in checkpoints),
        "report_after_stop": report_after_stop,
        "resumed_rc": resumed.returncode,
        "resumed_stderr": resumed.stderr[-3000:],
    }


def run_scenarios(jobs_file: Path, out: Path, study: Path) -> None:
    """The body of the script: every Ray run the cluster tests check, recorded in summary.json."""
    ray_cluster.use_token_auth()  # before Ray is imported: it reads the mode once
    import ray

    from featuretransfer.run.job import run_job
    from featuretransfer.run.ray_executor import RayExecutor
    from featuretransfer.run.runner import run_jobs

    jobs = pickle.loads(jobs_file.read_bytes())
    summary: dict = {}

    local = RayExecutor(None, num_cpus=1)  # a Ray of its own, started by the executor
    try:
        result = run_jobs(jobs, out / "local", local, show_progress=False)
    finally:
        local.shutdown()
    summary["local"] = {"trained": len(result.trained), "failed": result.failed}

    with ray_cluster.RayCluster(out / "cluster", cpus_per_node=[1, 1], gpus_per_node=[0, 1]) as c:
        executor = RayExecutor(c.address, num_cpus=1)
        try:
            result = run_jobs(jobs, out / "spread", executor, show_progress=False)
            summary["nodes"] = {n["NodeID"]: n["Resources"] for n in ray.nodes() if n["Alive"]}
            summary["spread"] = {
                "trained": len(result.trained),
                "failed": result.failed,
                "max_workers": executor.max_workers,
            }

            gpu = RayExecutor(c.address, num_cpus=1, num_gpus=1)  # shares the connection
            events: list = []
            gpu.callback = lambda *event: events.append(event)
            base = next(job for job in jobs if job.treatment == "base")
            future = gpu.submit(run_job, base, out / "gpu", gpu.progress_for(base.id), "cpu")
            folder = future.result(timeout=120)
            for _ in range(50):  # progress is sent without waiting: the last may come late
                gpu.poll()
                if events and events[-1][1] == events[-1][2]:
                    break
                time.sleep(0.1)
            gpu.shutdown()
            summary["gpu"] = {"folder": folder, "max_workers": gpu.max_workers, "events": events}
        finally:
            executor.shutdown()
        assert not ray.is_initialized()
        summary["killed"] = run_with_killed_worker(jobs, out / "killed", c.address)
        summary["interrupt"] = interrupt_and_resume(study, out / "interrupt", c.address)
    (out / "summary.json").write_text(json.dumps(summary, indent=2))


_RUN: dict = {}  # one script run serves every cluster test: a cluster takes ~20 s to start


@pytest.fixture
def cluster_run(tiny_study, fake_data) -> tuple[dict, Path]:
    """(summary.json, output folder) of the script run on the tiny study."""
    from conftest import tiny_study_text  # here: the script run below imports none of tests/

    from featuretransfer.study.plan import plan_study

    if "result" not in _RUN:
        out = Path(tempfile.mkdtemp(prefix="ray"))  # short: Ray's socket paths have a limit
        try:
            jobs_file = out / "jobs.pkl"
            jobs_file.write_bytes(pickle.dumps(plan_study(tiny_study)))
            study = out / "study.toml"  # a study file for the script's `estimate` and `report`
            study.write_text(
                tiny_study_text(
                    "interrupt",
                    fake_data,
                    epochs=20,
                    batch_size=8,
                    treatments=("BnB", "AnB+"),
                    cuts=(3,),
                )
            )
            script = ray_cluster.in_network_namespace(
                [sys.executable, __file__, str(jobs_file), str(out), str(study)],
                SCRIPT_TIMEOUT_S,
                env=os.environ | {"RAY_TMPDIR": str(out)},
            )
            ok = script.returncode == 0
            summary = json.loads((out / "summary.json").read_text()) if ok else None
            _RUN["result"] = (summary, out, script.stdout[-6000:])
        except subprocess.TimeoutExpired as e:  # the namespace and its cluster died with it
            output = e.output.decode() if isinstance(e.output, bytes) else e.output or ""
            _RUN["result"] = (None, out, f"timed out after {e.timeout} s\n{output[-6000:]}")
        except BaseException:
            shutil.rmtree(out, ignore_errors=True)
            raise
    summary, out, log = _RUN["result"]
    if summary is None:
        pytest.fail(f"the Ray script failed:\n{log}")
    return summary, out


@pytest.fixture(scope="module", autouse=True)
def remove_cluster_run():
    yield
    if "result" in _RUN:
        shutil.rmtree(_RUN.pop("result")[1], ignore_errors=True)


@needs_ray
@needs_namespace
@pytest.mark.slow  # a 2-node Ray cluster: CI runs it in its own step
def test_local_ray_runs_the_study(cluster_run):
    summary, out = cluster_run
    assert summary["local"] == {"trained": 12, "failed": {}}
    # one thread per task in both: the same numbers, whichever node trained a net
    assert load_results(out / "local") == pytest.approx(load_results(out / "spread"), abs=1e-6)


@needs_ray
@needs_namespace
@pytest.mark.slow  # a 2-node Ray cluster: CI runs it in its own step
def test_study_runs_on_both_nodes(cluster_run):
    summary, out = cluster_run
    assert summary["spread"] == {"trained": 12, "failed": {}, "max_workers": 2}
    where = nodes_of(out / "spread")
    assert len(where) == 12 and all(w["threads"] == 1 for w in where.values())
    assert {w["node_id"] for w in where.values()} == set(summary["nodes"])


@needs_ray
@needs_namespace
@pytest.mark.slow  # a 2-node Ray cluster: CI runs it in its own step
def test_gpu_job_runs_on_the_node_with_a_gpu(cluster_run):
    summary, out = cluster_run
    (gpu_node,) = [node for node, resources in summary["nodes"].items() if resources.get("GPU")]
    assert summary["gpu"]["max_workers"] == 1
    (where,) = nodes_of(out / "gpu").values()
    assert where["node_id"] == gpu_node and where["gpu_ids"] == ["0"]
    assert Path(summary["gpu"]["folder"]).parent.parent == out / "gpu"
    events = summary["gpu"]["events"]  # (job_id, step, total, metrics) from the task
    assert events and {e[0] for e in events} == {Path(summary["gpu"]["folder"]).name}
    assert events[-1][1] == events[-1][2] and events[-1][3]["epoch"] == 2


@needs_ray
@needs_namespace
@pytest.mark.slow  # a 2-node Ray cluster: CI runs it in its own step
def test_killed_worker_is_retried_with_the_same_scores(cluster_run):
    summary, out = cluster_run
    killed = summary["killed"]
    assert killed["killed_pid"] is not None, "the victim job never reached its first step"
    assert killed["state_at_kill"] == "incomplete"  # killed in the middle of the job
    assert killed["trained"] == 12 and killed["failed"] == {}
    assert nodes_of(out / "killed")[killed["victim"]]["pid"] != killed["killed_pid"]
    expected = load_results(out / "spread")
    assert load_results(out / "killed") == pytest.approx(expected, abs=1e-6)


@needs_ray
@needs_namespace
@pytest.mark.slow  # a 2-node Ray cluster: CI runs it in its own step
def test_a_sigint_stops_ray_tasks_and_the_rerun_gives_the_calm_numbers(cluster_run):
    summary, out = cluster_run
    stopped = summary["interrupt"]
    assert stopped["calm_rc"] == 0
    assert stopped["stopped_rc"] == 130, stopped["stopped_stderr"]
    assert re.search(
        r"^interrupted: \d+ nets done, [1-9]\d* to go; run the same command to resume$",
        stopped["stopped_stderr"],
        re.M,
    ), stopped["stopped_stderr"]
    assert "failed" not in stopped["stopped_stderr"]
    assert not stopped["report_after_stop"]  # no report of a partial study
    # the running task was cancelled into a stop at a step boundary, not killed
    assert stopped["mid_epoch_checkpoints"] >= 1
    assert stopped["resumed_rc"] == 0, stopped["resumed_stderr"]
    assert "failed 0" in stopped["resumed_stderr"]
    calm = load_results(out / "interrupt" / "calm")
    assert len(calm) == 4
    assert load_results(out / "interrupt" / "stopped") == calm  # exactly: one thread each


if __name__ == "__main__":
    run_scenarios(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]))
