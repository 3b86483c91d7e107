"""Processes that die: SIGKILL, uncaught exceptions, normal exit with a run open
(design rules 1 and 5: a kill loses only the unflushed buffer, never the store, and a
dead process's run never stays RUNNING)."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import trackbook as tb
from trackbook.store.layout import Layout

Spawn = Callable[..., subprocess.Popen]  # the ``spawn`` fixture of conftest.py

FLUSHED = 500

KILLED_WRITER = f"""
import time
import trackbook as tb
tb.set_experiment("kill")
run = tb.start_run(run_name="doomed")
tb.log_params({{"lr": 0.1}})
tb.set_tag("phase", "before-kill")
for step in range({FLUSHED}):
    tb.log_metric("x", float(step), step=step)
tb.flush()
print("flushed", run.info.run_id, flush=True)
step = {FLUSHED}
while True:  # keep logging (and flushing) until killed
    tb.log_metric("x", float(step), step=step)
    step += 1
    if step % 50 == 0:
        tb.flush()
    time.sleep(0.0002)
"""


def test_sigkill_keeps_flushed_data_and_marks_run_killed(spawn: Spawn, tb_store: Path) -> None:
    proc = spawn(KILLED_WRITER)
    line = proc.stdout.readline().split()
    assert line[:1] == ["flushed"], proc.stderr.read() if proc.poll() is not None else line
    run_id = line[1]
    time.sleep(0.3)  # killed while it logs and flushes
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    client = tb.Client()
    hist = client.get_metric_history(run_id, "x")
    steps = [m.step for m in hist]
    assert steps[:FLUSHED] == list(range(FLUSHED))
    assert steps == list(range(len(steps))), "points after the flush are torn or duplicated"
    assert all(m.value == float(m.step) for m in hist)

    run = client.get_run(run_id)
    assert run.info.status in ("KILLED", "FAILED")
    assert run.info.end_time is not None
    assert run.info.end_time >= run.info.start_time
    assert run.data.params == {"lr": "0.1"}
    assert run.data.tags["phase"] == "before-kill"
    df = tb.search_runs(experiment_names=["kill"])
    assert list(df["run_id"]) == [run_id]
    assert list(df["status"]) == [run.info.status]
    assert df["end_time"].notna().all()
    n_sql = tb.sql("SELECT count(*) AS n FROM metrics WHERE run_id = ?", [run_id])["n"][0]
    assert FLUSHED <= n_sql <= len(steps)

    # the store still opens and takes new runs, from this process and from another one
    tb.set_experiment("kill")
    with tb.start_run() as after:
        tb.log_metric("y", 1.0)
    other = spawn("""
        import trackbook as tb
        tb.set_experiment("kill")
        with tb.start_run() as run:
            tb.log_metric("z", 2.0)
        print(run.info.run_id)
    """)
    out, err = other.communicate(timeout=60)
    assert other.returncode == 0, err
    statuses = dict(zip(*(tb.search_runs(experiment_names=["kill"])[c]
                          for c in ("run_id", "status")), strict=True))
    assert statuses == {run_id: run.info.status, after.info.run_id: "FINISHED",
                        out.strip(): "FINISHED"}


def run_to_end(spawn: Spawn, code: str) -> tuple[int, str, dict[str, str]]:
    proc = spawn(code)
    out, err = proc.communicate(timeout=60)
    return proc.returncode, err, json.loads(out.strip().splitlines()[-1])


def test_uncaught_exception_fails_the_run(spawn: Spawn) -> None:
    rc, err, ids = run_to_end(spawn, """
        import json
        import trackbook as tb
        run = tb.start_run()
        for step in range(1000):
            tb.log_metric("loss", 1.0 / (step + 1), step=step)
        print(json.dumps({"run": run.info.run_id}), flush=True)
        raise RuntimeError("training diverged")
    """)
    assert rc == 1
    assert "training diverged" in err
    run = tb.get_run(ids["run"])
    assert run.info.status == "FAILED"
    assert run.info.end_time is not None
    assert len(tb.Client().get_metric_history(ids["run"], "loss")) == 1000  # flushed at exit


def test_normal_exit_with_open_runs_finishes_them(spawn: Spawn) -> None:
    rc, err, ids = run_to_end(spawn, """
        import json
        import trackbook as tb
        parent = tb.start_run()
        child = tb.start_run(nested=True)
        for step in range(1000):
            tb.log_metric("acc", step / 1000, step=step)
        print(json.dumps({"parent": parent.info.run_id, "child": child.info.run_id}))
    """)
    assert rc == 0, err
    for key in ("parent", "child"):
        run = tb.get_run(ids[key])
        assert run.info.status == "FINISHED", key
        assert run.info.end_time is not None
    assert len(tb.Client().get_metric_history(ids["child"], "acc")) == 1000


def test_killed_between_experiment_claim_and_record(tb_store: Path) -> None:
    """``Store.create_experiment`` claims the name (O_EXCL link) and then writes
    ``experiments/<id>.json``. A process killed between the two leaves the claim without
    the record; the name must stay usable (and its runs searchable) afterwards."""
    exp_id = tb.create_experiment("half-made")
    Layout.at(tb_store).experiment_file(exp_id).unlink()  # the state such a kill leaves
    tb.set_experiment("half-made")
    with tb.start_run() as run:
        tb.log_metric("m", 1.0)
    assert run.info.experiment_id == exp_id
    assert tb.get_experiment_by_name("half-made").experiment_id == exp_id
    assert list(tb.search_runs(experiment_names=["half-made"])["run_id"]) == [run.info.run_id]


def process_state(pid: int) -> str:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat[stat.rfind(")") + 2:].split()[0]


def test_killed_child_not_yet_reaped_is_not_running(spawn: Spawn) -> None:
    """A notebook that starts training in a subprocess may never ``wait()`` for it: a
    killed child then stays a zombie (state Z) with its pid. It is dead all the same, so
    its run must not show as RUNNING."""
    proc = spawn("""
        import time
        import trackbook as tb
        run = tb.start_run()
        tb.log_metric("x", 1.0)
        tb.flush()
        print(run.info.run_id, flush=True)
        time.sleep(120)
    """)
    run_id = proc.stdout.readline().strip()
    assert run_id, proc.stderr.read() if proc.poll() is not None else "no run id"
    proc.send_signal(signal.SIGKILL)  # and no wait(): the child stays a zombie
    deadline = time.monotonic() + 10
    while process_state(proc.pid) != "Z" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert process_state(proc.pid) == "Z"
    run = tb.get_run(run_id)
    assert run.info.status in ("KILLED", "FAILED")
    assert run.info.end_time is not None
    assert [m.value for m in tb.Client().get_metric_history(run_id, "x")] == [1.0]
