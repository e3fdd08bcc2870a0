"""A study joins a Ray cluster of two nodes started with ``ray start`` (the way a cluster is
started by hand or by a job script), through the CLI's ``--backend`` option and an explicit
address, and its evaluations run on both nodes. The nodes are two ``ray start --block``
processes on this machine (one CPU each), stopped at the end of the test."""

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
from pathlib import Path

import pytest
import yaml

pytest.importorskip("ray")

from paretoforge.search.results import load_results  # noqa: E402

RAY = Path(sys.executable).with_name("ray")
TESTS = Path(__file__).resolve().parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for(log: Path, text: str, proc: subprocess.Popen, seconds: float = 120.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if log.exists() and text in log.read_text(errors="replace"):
            return
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    pytest.fail(f"'ray start' did not report {text!r}:\n{log.read_text(errors='replace')[-3000:]}")


def _ancestor(pid: int, among: list[int]) -> int | None:
    """The first of ``among`` on the way from ``pid`` up its parents (Linux's ``/proc``), or None."""
    while pid > 1:
        if pid in among:
            return pid
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            return None
    return None


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM to ``ray start --block`` (it stops the node's processes), then to what is left of its group."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=20)
            return
        except subprocess.TimeoutExpired:
            continue


@pytest.fixture()
def two_node_cluster() -> Iterator[tuple[str, dict[str, str], list[int]]]:
    """``(address, env, pids of the 'ray start' commands)`` of a head node and a worker node, one CPU each, whose
    processes (the ``ray start`` commands' sessions) can import the tests' helpers. Token
    authentication is switched off explicitly (Ray 2.5x turns it on where ``~/.ray/auth_token``
    exists, and a client with an explicit address then needs ``RAY_AUTH_MODE=token``)."""
    if not RAY.exists():
        pytest.skip(f"no 'ray' command next to {sys.executable}")
    if not Path("/proc/self/stat").exists():
        pytest.skip("the test finds each actor's node through Linux's /proc")
    temp = Path(tempfile.mkdtemp(prefix="pfray", dir="/tmp"))  # Ray's socket paths must stay short
    path = os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env = {**os.environ, "PYTHONPATH": path, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
    address = f"127.0.0.1:{_free_port()}"
    common = ["--node-ip-address", "127.0.0.1", "--num-cpus", "1", "--disable-usage-stats", "--block"]
    procs: list[subprocess.Popen] = []
    try:
        for name, args in (("head", ["--head", "--port", address.split(":")[1], "--include-dashboard", "false",
                                     "--temp-dir", str(temp)]),
                           ("node", ["--address", address])):
            log = temp / f"{name}.log"
            with open(log, "w") as out:
                procs.append(subprocess.Popen([str(RAY), "start", *args, *common], stdout=out, stderr=subprocess.STDOUT,
                                              env=env, start_new_session=True))
            _wait_for(log, "Ray runtime started", procs[-1])
        yield address, env, [p.pid for p in procs]
    finally:
        for proc in reversed(procs):
            _stop(proc)
        shutil.rmtree(temp, ignore_errors=True)


def test_a_cli_study_runs_on_both_nodes_of_a_cluster_started_with_ray_start(tmp_path: Path, two_node_cluster) -> None:
    address, env, nodes = two_node_cluster
    spec = {"name": "joined", "seed": 0, "output": str(tmp_path / "out"), "optimizer": {"name": "random"},
            "space": {"variables": [{"name": "x", "kind": "real", "low": 0, "high": 1},
                                    {"name": "y", "kind": "ordinal", "choices": [0.0, 0.1, 0.2]}]},
            "evaluator": {"factory": "_cli_helpers:make_where"}, "objectives": [{"name": "f1"}, {"name": "f2"}],
            "budget": {"evaluations": 6}}
    path = tmp_path / "joined.yaml"
    path.write_text(yaml.safe_dump(spec))
    backend = yaml.safe_dump({"name": "ray", "address": address, "workers": 2, "init": {"log_to_driver": False}},
                             default_flow_style=True)
    run = subprocess.run([sys.executable, "-m", "paretoforge.search.cli", "run", str(path), "--no-progress",
                          "--backend", backend], env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    res = load_results(f"sqlite:///{tmp_path / 'out' / 'joined.db'}")
    assert res.counts()["complete"] == 6
    assert len({t.worker for t in res.trials}) == 2 and all(t.worker.startswith("ray:") for t in res.trials)
    # one actor on each node (one CPU each): the actors' raylets descend from the two 'ray start' commands
    assert sorted({_ancestor(t.info["parent"], nodes) for t in res.trials}) == sorted(nodes)
    # the cluster outlives the study: a second study joins it again
    spec["name"] = "again"
    path.write_text(yaml.safe_dump(spec))
    again = subprocess.run([sys.executable, "-m", "paretoforge.search.cli", "run", str(path), "--no-progress",
                            "--backend", backend], env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert load_results(f"sqlite:///{tmp_path / 'out' / 'again.db'}").counts()["complete"] == 6
