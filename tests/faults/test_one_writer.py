"""One run, one writer: real processes resume a run another process writes or wrote.

The owner of a run holds its lock (``store/owner.py``) while the run is active; a second
live process resuming it, or writing to it through ``MlflowClient``, gets ``RunInUseError``
naming the owner; a kill -9 frees the run, whose resumer sees the earlier params (a
changed value raises ``ParamConflictError``) and whose status follows its new owner.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import trackbook as tb
from trackbook._errors import ParamConflictError, RunInUseError
from trackbook.store.store import Store

OWNER = textwrap.dedent("""
    import sys, trackbook as tb
    tb.set_tracking_uri(sys.argv[1])
    run = tb.start_run()
    tb.log_param("lr", "0.1")
    tb.log_metric("loss", 1.0, step=0)
    tb.flush()  # durable before the kill -9 below
    if sys.argv[2] == "end":
        tb.end_run()
    print(run.info.run_id, flush=True)
    sys.stdin.readline()  # alive until told (or killed)
""")

SECOND = textwrap.dedent("""
    import os, sys, trackbook as tb
    from trackbook import MlflowClient
    tb.set_tracking_uri(sys.argv[1])
    how = sys.argv[2]
    try:
        if how == "env":
            tb.start_run()  # resumes $TRACKBOOK_RUN_ID
        elif how == "client":
            MlflowClient().log_metric(os.environ["TRACKBOOK_RUN_ID"], "loss", 2.0, step=1)
        else:
            tb.start_run(run_id=os.environ["TRACKBOOK_RUN_ID"])
    except Exception as exc:
        print(type(exc).__name__, exc)
        sys.exit(0)
    print("resumed")
    tb.log_metric("loss", 2.0, step=1)
    try:
        tb.log_param("lr", "0.2")
    except Exception as exc:
        print(type(exc).__name__)
    if how != "hold":
        tb.end_run()
    else:
        sys.stdin.readline()
""")


def _status(root: Path, run_id: str) -> str:
    with Store(root).catalog.connect() as con:
        return con.execute("SELECT status FROM runs WHERE run_id = ?", [run_id]).fetchone()[0]


def _owner(root: Path, end: bool) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, "-c", OWNER, str(root), "end" if end else "hold"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def _second(root: Path, run_id: str, how: str) -> str:
    env = dict(os.environ, TRACKBOOK_RUN_ID=run_id)
    out = subprocess.run([sys.executable, "-c", SECOND, str(root), how], env=env,
                         capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    return out.stdout


@pytest.mark.parametrize("how", ["env", "client", "run_id"])
def test_a_live_owner_keeps_its_run(tmp_path: Path, how: str) -> None:
    """While the owner lives, a resume (env var, start_run(run_id=), MlflowClient write)
    fails naming the owner's pid, and changes nothing; after its kill -9 the run is KILLED,
    then a resumer owns it: RUNNING again, the old param holds, FINISHED at its end."""
    owner, run_id = _owner(tmp_path, end=False)
    try:
        out = _second(tmp_path, run_id, how)
        assert out.startswith("RunInUseError"), out
        assert f"process {owner.pid} " in out, out
        assert _status(tmp_path, run_id) == "RUNNING"
    finally:
        owner.send_signal(signal.SIGKILL)
        owner.wait()
    assert _status(tmp_path, run_id) == "KILLED"
    out = _second(tmp_path, run_id, "run_id")
    assert out.split() == ["resumed", "ParamConflictError"], out
    assert _status(tmp_path, run_id) == "FINISHED"
    tb.set_tracking_uri(str(tmp_path))
    run = tb.get_run(run_id)
    assert run.data.params == {"lr": "0.1"}
    assert [m.value for m in tb.MlflowClient().get_metric_history(run_id, "loss")] == [1.0, 2.0]


def test_ended_run_is_free_and_its_resumer_owns_the_status(tmp_path: Path) -> None:
    """An owner that ended its run (and still lives) lets another process resume it; that
    process's kill -9 makes the run KILLED even though the first process still lives."""
    owner, run_id = _owner(tmp_path, end=True)
    try:
        assert _status(tmp_path, run_id) == "FINISHED"
        env = dict(os.environ, TRACKBOOK_RUN_ID=run_id)
        second = subprocess.Popen([sys.executable, "-c", SECOND, str(tmp_path), "hold"],
                                  env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  text=True)
        assert second.stdout is not None
        assert second.stdout.readline().strip() == "resumed"
        assert second.stdout.readline().strip() == "ParamConflictError"
        assert _status(tmp_path, run_id) == "RUNNING"
        with pytest.raises(RunInUseError, match=f"process {second.pid} "):
            tb.MlflowClient(str(tmp_path)).set_terminated(run_id)
        second.send_signal(signal.SIGKILL)
        second.wait()
        assert _status(tmp_path, run_id) == "KILLED"
    finally:
        owner.send_signal(signal.SIGKILL)
        owner.wait()


def test_param_conflict_raises_in_process(tmp_path: Path) -> None:
    tb.set_tracking_uri(str(tmp_path))
    with tb.start_run() as run:
        tb.log_param("lr", "0.1")
    tb.start_run(run_id=run.info.run_id)
    with pytest.raises(ParamConflictError):
        tb.log_param("lr", "0.2")
    tb.end_run()
