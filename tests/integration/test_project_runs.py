"""Project runs for real: processes, environments, sweeps and the ``trackbook run`` CLI."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import trackbook as tb
from trackbook.projects import ExecutionError, ParameterError, environments, load_project
from trackbook.projects.runner import ERROR_TAG

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sklearn_elasticnet"

MLPROJECT = """\
name: probe
entry_points:
  main:
    parameters:
      x: {type: float, default: 1}
      label: {type: string, default: "a b"}
    command: "python ok.py --x {x} --label {label}"
  fail:
    command: "python fail.py"
  sleep:
    parameters:
      seconds: float
      fail: {type: int, default: 0}
    command: "python sleep.py {seconds} {fail}"
"""
SCRIPTS = {
    "ok.py": """\
        import argparse, sys
        import trackbook as tb
        p = argparse.ArgumentParser()
        p.add_argument("--x", type=float)
        p.add_argument("--label")
        args = p.parse_args()
        with tb.start_run() as run:
            tb.log_metric("twice_x", 2 * args.x)
            print("run", run.info.run_id, "label", args.label)
            print("a warning", file=sys.stderr)
        """,
    "fail.py": """\
        print("loading data")
        raise SystemExit("boom: the data file is empty")
        """,
    # Writes its pid and a grandchild's to pids-<pid>.txt, sleeps, exits 3 when asked to.
    "sleep.py": """\
        import os, subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        with open(f"pids-{os.getpid()}.tmp", "w") as f:
            f.write(f"{os.getpid()} {child.pid}")
        os.replace(f"pids-{os.getpid()}.tmp", f"pids-{os.getpid()}.txt")
        time.sleep(float(sys.argv[1]))
        child.kill()
        sys.exit(3 if sys.argv[2] == "1" else 0)
        """,
}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "probe"
    folder.mkdir()
    (folder / "MLproject").write_text(MLPROJECT)
    for name, code in SCRIPTS.items():
        (folder / name).write_text(textwrap.dedent(code))
    return folder


def artifact(run_id: str, path: str) -> str:
    return Path(tb.Client().download_artifacts(run_id, path)).read_text()


def test_local_run_is_a_finished_run_with_params_tags_and_logs(
        tb_store: Path, project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sub = tb.projects.run(project, parameters={"x": 2}, run_name="probe-run",
                          env_manager="local")
    assert sub.status == "FINISHED"
    assert sub.returncode == 0
    run = tb.get_run(sub.run_id)
    assert run.info.status == "FINISHED"
    assert run.info.run_name == "probe-run"
    assert run.data.params == {"x": "2.0", "label": "a b"}
    assert run.data.metrics == {"twice_x": 4.0}  # logged by the child into the same run
    tags = run.data.tags
    assert tags["mlflow.project.entryPoint"] == "main"
    assert tags["mlflow.project.env"] == "local"
    assert tags["mlflow.source.name"] == str(project)
    assert tags["mlflow.source.type"] == "PROJECT"
    assert "mlflow.source.git.commit" not in tags  # not a repository: none of the launcher's
    assert ERROR_TAG not in tags
    stdout = artifact(sub.run_id, "logs/stdout.txt")
    assert stdout == f"run {sub.run_id} label a b\n"
    assert artifact(sub.run_id, "logs/stderr.txt") == "a warning\n"
    shown = capsys.readouterr()
    assert stdout in shown.out  # streamed while waiting
    assert "a warning" in shown.err


def test_failing_entry_point_is_failed_with_the_reason(tb_store: Path, project: Path) -> None:
    with pytest.raises(ExecutionError, match="boom: the data file is empty") as info:
        tb.projects.run(project, "fail", env_manager="local")
    run = tb.get_run(info.value.run_id)  # type: ignore[arg-type]
    assert run.info.status == "FAILED"
    assert "command exited with status 1" in run.data.tags[ERROR_TAG]
    assert "boom: the data file is empty" in run.data.tags[ERROR_TAG]
    assert artifact(run.info.run_id, "logs/stdout.txt") == "loading data\n"

    sub = tb.projects.run(project, "fail", synchronous=False, stream_output=False,
                          env_manager="local")
    assert sub.wait() is False
    assert sub.status == "FAILED"
    assert "boom" in (sub.error or "")


def test_bad_parameters_fail_before_anything_runs(tb_store: Path, project: Path) -> None:
    with pytest.raises(ParameterError, match="'x' must be a float, got 'big'"):
        tb.projects.run(project, parameters={"x": "big"}, env_manager="local")
    with pytest.raises(ParameterError, match=r"'seconds' \(float\) is required"):
        tb.projects.run(project, "sleep", env_manager="local")
    with pytest.raises(tb.projects.EntryPointNotFoundError, match="choose one of: main, fail"):
        tb.projects.run(project, "train", env_manager="local")
    assert tb.search_runs(search_all_experiments=True).empty


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(")")[-1].split()[0] == "Z")


def test_cancel_kills_the_process_group_and_ends_killed(tb_store: Path, project: Path) -> None:
    sub = tb.projects.run(project, "sleep", parameters={"seconds": 60}, synchronous=False,
                          env_manager="local",
                          stream_output=False)
    assert tb.get_run(sub.run_id).info.status == "RUNNING"
    deadline = time.monotonic() + 60
    while not list(project.glob("pids-*.txt")) and time.monotonic() < deadline:
        time.sleep(0.05)
    [pid_file] = project.glob("pids-*.txt")
    pids = [int(p) for p in pid_file.read_text().split()]
    assert all(_alive(p) for p in pids)
    start = time.monotonic()
    sub.cancel()
    assert time.monotonic() - start < 10
    assert sub.status == "KILLED"
    assert sub.wait() is False
    assert tb.get_run(sub.run_id).info.status == "KILLED"
    time.sleep(0.2)
    assert not any(_alive(p) for p in pids)  # the script and its own child


def test_sweep_runs_child_runs_under_a_parent_at_most_max_parallel(
        tb_store: Path, project: Path) -> None:
    sweep = tb.projects.sweep(project, "sleep", grid={"seconds": [0.4, 0.2], "fail": [0, 1]},
                              max_parallel=2, progress=False)
    assert sweep.wait(timeout=120) is False  # two trials exit 3
    assert len(sweep.runs) == 4
    assert [t.status for t in sweep.trials] == ["FINISHED", "FAILED", "FINISHED", "FAILED"]
    assert [t.index for t in sweep.failures] == [1, 3]
    assert "exited with status 3" in (sweep.failures[0].error or "")

    runs = tb.search_runs(filter_string=f"tags.sweep_id = '{sweep.id}'",
                          output_format="list")
    assert len(runs) == 4
    assert {r.data.tags["mlflow.parentRunId"] for r in runs} == {sweep.id}
    assert sorted((r.data.params["seconds"], r.data.params["fail"]) for r in runs) == \
        [("0.2", "0"), ("0.2", "1"), ("0.4", "0"), ("0.4", "1")]
    intervals = [(r.info.start_time, r.info.end_time) for r in runs]
    for start, _ in intervals:  # trials running when this one started, itself included
        assert sum(s <= start < e for s, e in intervals) <= 2
    parent = tb.get_run(sweep.id)
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["trackbook.sweep.failed"] == "2"
    assert "trial 1 FAILED" in parent.data.tags[ERROR_TAG]
    assert len(sweep.results()) == 4


def test_cancelled_sweep_kills_running_trials_and_skips_the_rest(
        tb_store: Path, project: Path) -> None:
    sweep = tb.projects.sweep(project, "sleep", grid={"seconds": [60, 60, 60]},
                              max_parallel=2, progress=False)
    deadline = time.monotonic() + 60
    while len(list(project.glob("pids-*.txt"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    sweep.cancel()
    assert sweep.wait(timeout=30) is False
    assert [t.status for t in sweep.trials] == ["KILLED", "KILLED", "SKIPPED"]
    assert sweep.status == "KILLED"
    assert tb.get_run(sweep.id).info.status == "KILLED"
    assert len(list(project.glob("pids-*.txt"))) == 2  # the third never started


def test_random_sweep_checks_every_trial_first(tb_store: Path, project: Path) -> None:
    with pytest.raises(ParameterError, match=r"trial 0 .*'fail' must be an int"):
        tb.projects.sweep(project, "sleep", space={"seconds": [0.1],
                                                   "fail": tb.projects.uniform(0.1, 0.9)},
                          n_trials=2, seed=0)
    assert tb.search_runs(search_all_experiments=True).empty


def trackbook_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "trackbook", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=120, check=False)


def test_cli_run(tb_store: Path, project: Path) -> None:
    ok = trackbook_cli("run", str(project), "-P", "x=3", "-P", "label=cli",
                       "--experiment-name", "cli-runs", cwd=project.parent)
    assert ok.returncode == 0, ok.stderr
    assert "label cli" in ok.stdout
    assert "FINISHED" in ok.stderr
    runs = tb.search_runs(experiment_names=["cli-runs"], output_format="list")
    assert [r.data.params["x"] for r in runs] == ["3.0"]

    bad = trackbook_cli("run", str(project), "-P", "x=three", cwd=project.parent)
    assert bad.returncode == 2
    assert "'x' must be a float, got 'three'" in bad.stderr
    unknown = trackbook_cli("run", str(project), "-e", "nope", cwd=project.parent)
    assert unknown.returncode == 2
    assert "no entry point 'nope'" in unknown.stderr
    failed = trackbook_cli("run", str(project), "-e", "fail", cwd=project.parent)
    assert failed.returncode == 1
    assert "boom: the data file is empty" in failed.stderr


def test_git_source_records_the_commit(tb_store: Path, project: Path, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACKBOOK_CACHE_DIR", str(tmp_path / "cache"))
    git = ["git", "-C", str(project), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run(["git", "init", "--quiet", "-b", "main", str(project)], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "--quiet", "-m", "probe"], check=True)
    commit = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True,
                            check=True).stdout.strip()
    sub = tb.projects.run(str(project), version="main", stream_output=False,
                          env_manager="local")
    tags = tb.get_run(sub.run_id).data.tags
    assert tags["mlflow.source.git.commit"] == commit
    assert tags["mlflow.source.git.repoURL"] == str(project)
    assert tags["mlflow.source.git.branch"] == "main"


@pytest.fixture(scope="session")
def example_virtualenv(tmp_path_factory: pytest.TempPathFactory
                       ) -> tuple[Path, environments.Environment]:
    """The example's virtualenv, built once per test session in a fresh cache: python_env
    deps from the machine's pip config plus this trackbook checkout (``pip install -e``)."""
    cache = tmp_path_factory.mktemp("project-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TRACKBOOK_CACHE_DIR", str(cache))
        # Byte-compiling all of scipy/pandas at install costs more than compiling the
        # few modules a run imports.
        mp.setenv("PIP_NO_COMPILE", "1")
        env = environments.prepare("virtualenv", load_project(EXAMPLE))
    return cache, env


@pytest.mark.slow
def test_virtualenv_run_of_the_example_reuses_the_cached_env(
        tb_store: Path, example_virtualenv: tuple[Path, environments.Environment],
        monkeypatch: pytest.MonkeyPatch) -> None:
    cache, built = example_virtualenv
    assert built.created
    assert built.prefix is not None
    assert built.prefix.is_relative_to(cache)
    assert "scikit-learn==" in (built.packages or "")
    monkeypatch.setenv("TRACKBOOK_CACHE_DIR", str(cache))
    sub = tb.projects.run(EXAMPLE, "train", parameters={"alpha": 0.05, "epochs": 5},
                          env_manager="virtualenv", progress=False)
    assert sub.environment.created is False  # the cache hit
    assert sub.environment.prefix == built.prefix
    run = tb.get_run(sub.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params == {"alpha": "0.05", "l1_ratio": "0.5", "epochs": "5", "seed": "0"}
    assert set(run.data.metrics) == {"val_rmse", "val_mae", "val_r2"}
    assert run.data.tags["mlflow.project.env"] == "virtualenv"
    packages = Path(tb_store, run.data.tags["trackbook.packages"]).read_text()
    assert str(built.prefix) in packages  # the environment's interpreter, not ours
    history = tb.Client().get_metric_history(sub.run_id, "val_rmse")
    assert [p.step for p in history] == [1, 2, 3, 4, 5]


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("uv") is None and not Path(sys.executable).with_name("uv")
                    .exists(), reason="uv not installed")
def test_uv_environment(tb_store: Path, project: Path, tmp_path: Path,
                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACKBOOK_CACHE_DIR", str(tmp_path / "cache"))
    (project / "python_env.yaml").write_text("dependencies: []\n")
    first = tb.projects.run(project, env_manager="uv", progress=False, stream_output=False)
    second = tb.projects.run(project, env_manager="uv", progress=False, stream_output=False)
    assert (first.environment.created, second.environment.created) == (True, False)
    assert tb.get_run(second.run_id).data.metrics == {"twice_x": 2.0}


@pytest.mark.skipif(
    shutil.which("conda") is None,
    reason="conda is not installed, and cannot be here: it is neither on PyPI nor in Debian, "
           "and its package channels are not reachable from this machine")
def test_conda_environment(tb_store: Path, project: Path, tmp_path: Path,
                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACKBOOK_CACHE_DIR", str(tmp_path / "cache"))
    (project / "python_env.yaml").write_text("dependencies: []\n")
    sub = tb.projects.run(project, env_manager="conda", progress=False, stream_output=False)
    assert tb.get_run(sub.run_id).info.status == "FINISHED"
