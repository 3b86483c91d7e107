"""Many real processes logging into one store while others query it (design rule 3)."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import trackbook as tb

Spawn = Callable[..., subprocess.Popen]  # the ``spawn`` fixture of conftest.py

WRITERS = 4
RUNS_PER_WRITER = 3
STEPS = 2000

WRITER = """
import json, sys
import trackbook as tb
w = int(sys.argv[1])
tb.set_experiment("conc")
ids = []
for r in range(int(sys.argv[2])):
    with tb.start_run(run_name=f"w{w}-r{r}") as run:
        tb.log_params({"writer": w, "run": r})
        for step in range(int(sys.argv[3])):
            tb.log_metric("a", float(step), step=step)
            tb.log_metrics({"b": w * 1e6 + step}, step=step)
            # The first run flushes often: >100 chunks, so it also compacts while live.
            if step % (15 if r == 0 else 300) == 14:
                tb.flush()
    ids.append(run.info.run_id)
print(json.dumps(ids))
"""

READER = """
import sys, time
from pathlib import Path
import trackbook as tb
stop = Path(sys.argv[1])
loops = 0
while not stop.exists():
    df = tb.search_runs(experiment_names=["conc"])
    if len(df):
        bad = set(df["status"]) - {"RUNNING", "FINISHED"}
        assert not bad, f"a live writer's run showed as {bad}"
        tb.sql("SELECT run_id, count(*) FROM metrics GROUP BY run_id")
    loops += 1
    time.sleep(0.05)
print(loops)
"""


def test_parallel_writers_with_readers_lose_nothing(spawn: Spawn, tb_store: Path,
                                                    tmp_path: Path) -> None:
    tb.set_experiment("conc")  # the store exists before anyone polls it
    stop = tmp_path / "stop-reader"
    reader = spawn(READER, str(stop))
    writers = [spawn(WRITER, str(w), str(RUNS_PER_WRITER), str(STEPS)) for w in range(WRITERS)]

    seen_history: dict[str, int] = {}
    seen_sql: dict[str, int] = {}
    loops = overlapping = 0
    while any(p.poll() is None for p in writers) or loops < 2:
        overlapping += any(p.poll() is None for p in writers)
        loops += 1
        df = tb.search_runs(search_all_experiments=True)
        assert set(df["status"]) <= {"RUNNING", "FINISHED"} if len(df) else True
        counts = tb.sql("SELECT run_id, count(*) AS n, count(DISTINCT (key, step)) AS d "
                        "FROM metrics GROUP BY run_id")
        for rid, n, d in zip(counts["run_id"], counts["n"], counts["d"], strict=True):
            assert n == d, f"run {rid}: {n - d} points counted twice by tb.sql"
            assert n <= 2 * STEPS
            assert n >= seen_sql.get(rid, 0), f"run {rid}: tb.sql lost points"
            seen_sql[rid] = n
        for rid in list(df["run_id"])[:4] if len(df) else []:
            steps = [m.step for m in tb.Client().get_metric_history(rid, "a")]
            assert steps == list(range(len(steps))), f"run {rid}: history has holes/duplicates"
            assert len(steps) >= seen_history.get(rid, 0), f"run {rid}: history lost points"
            seen_history[rid] = len(steps)
        time.sleep(0.05)
    stop.write_text("")

    run_ids: list[str] = []
    for p in writers:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        assert err == "", err
        run_ids += json.loads(out.strip().splitlines()[-1])
    r_out, r_err = reader.communicate(timeout=120)
    assert reader.returncode == 0, r_err
    assert r_err == "", r_err
    assert int(r_out) > 0
    assert overlapping >= 1, "the writers finished before this process read anything"

    assert len(set(run_ids)) == WRITERS * RUNS_PER_WRITER
    client = tb.Client()
    df = tb.search_runs(experiment_names=["conc"])
    assert sorted(df["run_id"]) == sorted(run_ids)
    assert set(df["status"]) == {"FINISHED"}
    assert set(df["metrics.a"]) == {STEPS - 1.0}
    for rid in run_ids:
        run = client.get_run(rid)
        w = int(run.data.params["writer"])
        a = client.get_metric_history(rid, "a")
        assert [(m.step, m.value) for m in a] == [(s, float(s)) for s in range(STEPS)]
        b = client.get_metric_history(rid, "b")
        assert [m.value for m in b] == [w * 1e6 + s for s in range(STEPS)]
        assert run.data.metrics == {"a": STEPS - 1.0, "b": w * 1e6 + STEPS - 1}
    per_run = tb.sql("SELECT run_id, count(*) AS n FROM metrics GROUP BY run_id")
    counted = dict(zip(per_run["run_id"], per_run["n"], strict=True))
    assert counted == dict.fromkeys(run_ids, 2 * STEPS)
    summary = tb.sql("SELECT key, min(count) AS lo, max(count) AS hi FROM latest_metrics "
                     "GROUP BY key ORDER BY key")
    assert list(summary["lo"]) == [STEPS, STEPS]
    assert list(summary["hi"]) == [STEPS, STEPS]


SAME_NAME = """
import sys, time
from pathlib import Path
import trackbook as tb
go = Path(sys.argv[1])
while not go.exists():
    time.sleep(0.001)
exp = tb.set_experiment("same-name")
with tb.start_run() as run:
    tb.log_metric("m", 1.0)
print(exp.experiment_id, run.info.experiment_id)
"""


def test_set_experiment_same_name_from_many_processes(spawn: Spawn, tmp_path: Path) -> None:
    go = tmp_path / "go"
    procs = [spawn(SAME_NAME, str(go)) for _ in range(4)]
    time.sleep(1.0)  # let every process import trackbook and wait at the line
    go.write_text("")
    ids = []
    for p in procs:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
        ids += out.split()
    assert len(ids) == 8
    assert len(set(ids)) == 1
    exps = [e for e in tb.search_experiments() if e.name == "same-name"]
    assert [e.experiment_id for e in exps] == [ids[0]]
    assert len(tb.search_runs(experiment_ids=[ids[0]])) == 4


LATE_PARAM = """
import sys, time
from pathlib import Path
import trackbook as tb
run_id, go = sys.argv[1], Path(sys.argv[2])
client = tb.Client()
client.set_tag(run_id, "helper", "yes")  # this process now knows the run (no params yet)
print("ready", flush=True)
while not go.exists():
    time.sleep(0.005)
try:
    client.log_param(run_id, "lr", "0.2")
    print("accepted")
except Exception as exc:
    print(type(exc).__name__)
"""


def test_param_first_value_is_kept_across_processes(spawn: Spawn, tmp_path: Path) -> None:
    """Params are immutable, and a run has one writing process at a time: another live
    process logging a param to the run is refused (RunInUseError), never silently dropped,
    and the first value stays."""
    tb.set_experiment("params")
    with tb.start_run() as run:
        go = tmp_path / "go"
        helper = spawn(LATE_PARAM, run.info.run_id, str(go))
        assert helper.stdout.readline().strip() == "ready", helper.stderr.read()
        tb.log_param("lr", "0.1")  # first
        first_seen = tb.get_run(run.info.run_id).data.params["lr"]
        time.sleep(0.01)
        go.write_text("")
        out, err = helper.communicate(timeout=60)
        assert helper.returncode == 0, err
    assert first_seen == "0.1"
    assert out.strip() == "RunInUseError"
    assert tb.get_run(run.info.run_id).data.params["lr"] == "0.1"
    assert len(tb.search_runs(filter_string="params.lr = '0.1'")) == 1
