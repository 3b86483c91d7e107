"""Sweeps on a real local Ray (``backend="ray"``): one Ray session for the whole module."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import trackbook as tb
from trackbook._errors import InvalidValueError
from trackbook.projects.ray_backend import BackendUnavailableError
from trackbook.projects.runner import ERROR_TAG

MLPROJECT = """\
name: rayprobe
entry_points:
  train:
    parameters:
      x: int
      seconds: {type: float, default: 0.5}
    command: "python train.py {x} {seconds}"
"""
TRAIN = """\
import os, sys, time
import trackbook as tb
x, seconds = float(sys.argv[1]), float(sys.argv[2])
open(f"pid-{os.getpid()}.txt", "w").close()
with tb.start_run():
    tb.log_metric("square", x * x)
    tb.log_metric("pid", os.getpid())
    tb.set_tag("breakpoint_hook", os.environ.get("PYTHONBREAKPOINT", "-"))
    time.sleep(seconds)
    if x == 3:
        print("diverged at step 3", file=sys.stderr)
        sys.exit(4)
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "rayprobe"
    folder.mkdir()
    (folder / "MLproject").write_text(MLPROJECT)
    (folder / "train.py").write_text(TRAIN)
    return folder


def test_ray_sweep_logs_every_trial_into_the_store_at_most_max_parallel_at_once(
        ray_session: None, tb_store: Path, project: Path) -> None:
    seen = []
    sweep = tb.projects.sweep(project, "train", grid={"x": [1, 2, 3, 4]},
                              parameters={"seconds": 1.0}, max_parallel=2,
                              backend="ray", progress=seen.append)
    assert sweep.wait(timeout=180) is False, repr(sweep)  # x=3 fails, the others finish
    assert [t.status for t in sweep.trials] == ["FINISHED", "FINISHED", "FAILED", "FINISHED"]
    assert [t.run.returncode for t in sweep.trials if t.run] == [0, 0, 4, 0]
    (failed,) = sweep.failures
    assert failed.index == 2
    assert "exited with status 4" in (failed.error or "")
    assert "diverged at step 3" in (failed.error or "")

    runs = tb.search_runs(filter_string=f"tags.sweep_id = '{sweep.id}'", output_format="list")
    assert len(runs) == 4
    by_x = {r.data.params["x"]: r for r in runs}
    assert sorted(by_x) == ["1", "2", "3", "4"]
    for x, run in by_x.items():
        assert run.info.status == ("FAILED" if x == "3" else "FINISHED")
        assert run.data.metrics["square"] == float(x) ** 2  # also what x=3 logged first
        assert run.data.tags["mlflow.parentRunId"] == sweep.id
        assert run.data.tags["mlflow.project.backend"] == "ray"
        assert not run.data.tags["breakpoint_hook"].startswith("ray.")  # Ray's, not for trials
    assert "diverged at step 3" in by_x["3"].data.tags[ERROR_TAG]
    stderr = tb.Client().download_artifacts(failed.run_id, "logs/stderr.txt")
    assert "diverged at step 3" in Path(stderr).read_text()
    # each trial ran in its own process, not in the driver
    assert len({r.data.metrics["pid"] for r in runs} | {os.getpid()}) == 5
    intervals = [(r.info.start_time, r.info.end_time) for r in runs]
    for start, _ in intervals:  # trials running when this one started, itself included
        assert sum(s <= start < e for s, e in intervals) <= 2
    # ... and the limit was actually reached: 4 one-second trials, two at a time
    assert max(sum(s <= start < e for s, e in intervals) for start, _ in intervals) == 2

    parent = tb.get_run(sweep.id)
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["trackbook.sweep.backend"] == "ray"
    assert parent.data.tags["trackbook.sweep.failed"] == "1"
    assert "trial 2 FAILED" in parent.data.tags[ERROR_TAG]
    assert seen[-1].finished
    assert seen[-1].done == 4
    assert seen[-1].failed


def test_cancel_stops_the_ray_tasks_and_their_commands(
        ray_session: None, tb_store: Path, project: Path) -> None:
    sweep = tb.projects.sweep(project, "train", grid={"x": [1, 2, 3]},
                              parameters={"seconds": 120}, max_parallel=2, backend="ray",
                              progress=False)
    deadline = time.monotonic() + 90
    while len(list(project.glob("pid-*.txt"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    pids = [int(p.stem.split("-")[1]) for p in project.glob("pid-*.txt")]
    assert len(pids) == 2
    t0 = time.monotonic()
    sweep.cancel()
    assert time.monotonic() - t0 < 30
    assert sweep.wait(timeout=10) is False
    assert [t.status for t in sweep.trials] == ["KILLED", "KILLED", "SKIPPED"]
    assert sweep.status == "KILLED"
    for trial in sweep.trials[:2]:
        assert tb.get_run(trial.run_id).info.status == "KILLED"
    time.sleep(0.3)
    for pid in pids:  # the trials' python processes are gone
        assert not Path(f"/proc/{pid}").exists() or \
            Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    assert len(list(project.glob("pid-*.txt"))) == 2  # the third never started


def test_the_driver_waits_for_a_cancelled_task_that_still_holds_the_run(tb_store: Path) -> None:
    """Ray reports a cancel before the interrupted task has recorded the run's end: the
    driver waits while the task holds the run and leaves the end it records alone (it used
    to give up at once, and the run read RUNNING until the task got there)."""
    from trackbook.projects.environments import Environment
    from trackbook.projects.ray_backend import RaySubmittedRun

    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""\
        import time
        import trackbook as tb
        client = tb.Client()
        run_id = client.create_run("0").info.run_id  # this process holds the run
        print(run_id, flush=True)
        time.sleep(1.5)
        client.set_tag(run_id, {ERROR_TAG!r}, "stopped by the task")
        client.set_terminated(run_id, "KILLED")
        time.sleep(60)  # a Ray worker lives on after its task
        """)], stdout=subprocess.PIPE, text=True, env={**os.environ,
                                                         "TRACKBOOK_STORE": str(tb_store)})
    try:
        run_id = holder.stdout.readline().strip()
        client = tb.Client(str(tb_store))
        sub = RaySubmittedRun(run_id, client, "true", {}, Environment("local", sys.executable))
        sub._record_end(tb.entities.RunStatus.KILLED, "cancelled")
        assert holder.poll() is None
        run = client.get_run(run_id)
        assert run.info.status == "KILLED"
        assert run.data.tags[ERROR_TAG] == "stopped by the task"
    finally:
        holder.kill()
        holder.wait()


def test_cancel_reaches_trials_still_waiting_for_ray_resources(
        ray_session: None, tb_store: Path, project: Path) -> None:
    sweep = tb.projects.sweep(project, "train", grid={"x": [1, 2]}, max_parallel=2,
                              backend="ray", ray_options={"resources": {"no-such-node": 1}},
                              progress=False)
    deadline = time.monotonic() + 30
    while len(sweep.runs) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    assert [t.status for t in sweep.trials] == ["RUNNING", "RUNNING"]  # queued in Ray
    sweep.cancel()
    assert sweep.wait(timeout=10) is False
    assert [t.status for t in sweep.trials] == ["KILLED", "KILLED"]
    for trial in sweep.trials:  # the driver recorded the end: the task never ran
        run = tb.get_run(trial.run_id)
        assert run.info.status == "KILLED"
        assert run.data.tags[ERROR_TAG] == "cancelled"
    assert list(project.glob("pid-*.txt")) == []


def test_a_sweep_joins_a_running_ray_cluster_by_address(
        ray_session: None, tb_store: Path, project: Path) -> None:
    """Another process joins this module's Ray as a cluster, with ray_address=."""
    import ray

    address = ray.get_runtime_context().gcs_address
    code = textwrap.dedent(f"""\
        import ray, trackbook as tb
        steps = []
        s = tb.projects.sweep({str(project)!r}, "train", grid={{"x": [5]}},
                              parameters={{"seconds": 0.1}}, max_parallel=1, backend="ray",
                              ray_address={address!r}, progress=steps.append)
        print("ok", s.wait(timeout=120), ray.get_runtime_context().gcs_address)
        print("first step:", steps[0].message)
        """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=180, check=False)
    assert proc.returncode == 0, proc.stderr
    assert f"ok True {address}" in proc.stdout
    assert f"first step: joining Ray at {address}" in proc.stdout
    (run,) = tb.search_runs(search_all_experiments=True, output_format="list",
                            filter_string="tags.mlflow.project.backend = 'ray'")
    assert run.info.status == "FINISHED"
    assert run.data.metrics["square"] == 25.0


def test_bad_backend_arguments_fail_before_anything_runs(tb_store: Path,
                                                          project: Path) -> None:
    with pytest.raises(InvalidValueError, match=r"backend must be one of 'local', 'ray', "
                                                r"got 'dask'"):
        tb.projects.sweep(project, "train", grid={"x": [1]}, backend="dask")
    with pytest.raises(InvalidValueError, match="ray_address= and ray_options= need "
                                                "backend='ray'"):
        tb.projects.sweep(project, "train", grid={"x": [1]}, ray_address="auto")
    assert tb.search_runs(search_all_experiments=True).empty


def test_ray_not_installed_says_how_to_install_it(tb_store: Path, project: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails, as if not installed
    seen = []
    with pytest.raises(BackendUnavailableError,
                       match=r"backend='ray' needs Ray, .*pip install 'trackbook\[ray\]'"):
        tb.projects.sweep(project, "train", grid={"x": [1]}, backend="ray",
                          progress=seen.append)
    assert seen[-1].failed
    assert seen[-1].message == "could not connect to Ray"
    assert tb.search_runs(search_all_experiments=True).empty  # nothing was started
