"""How fast ``trackbook import-mlflow`` reads an MLflow SQLite store (targets: >= 500 runs/s,
>= 100,000 metric points/s).

    .venv/bin/python benchmarks/import_mlflow_bench.py            # 5,000 runs; 20 x 50,000 points
    .venv/bin/python benchmarks/import_mlflow_bench.py --quick    # 1,000 runs; 5 x 40,000 points

Each store is made by MLflow itself (its virtualenv ``benchmarks/.mlflow-venv``, created on
first use): MLflow creates the database (its migrations, MLflow 3's default SQLite schema)
and logs a few template runs through its client. Logging thousands of runs through MLflow
would take most of an hour (~20 runs/s), so the template rows are then copied with fresh
run ids by plain INSERTs into MLflow's own tables; every copied row has the shape MLflow
wrote. Two stores: many small runs (10 params, 5 tags, 3 metrics x 10 steps each), and few
runs with long histories. Each import runs in a fresh trackbook process into an empty
store, then once more (nothing new: the idempotency check's cost).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _harness import child_env, ensure_mlflow  # noqa: E402

MLFLOW_SIDE = r"""
import sys, mlflow
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag
mlflow.set_tracking_uri("sqlite:///" + sys.argv[1])
client = MlflowClient()
exp = client.create_experiment("bench-import")
for i in range(int(sys.argv[2])):
    run = client.create_run(exp, run_name=f"template-{i}", tags={"team": "ml"})
    client.log_batch(run.info.run_id,
                     params=[Param(f"p{j}", str(j * i)) for j in range(10)],
                     tags=[RunTag(f"t{j}", f"v{j}") for j in range(4)],
                     metrics=[Metric(k, 1.0 / (s + 1), 1_700_000_000_000 + s, s)
                              for k in ("loss", "acc", "lr") for s in range(10)])
    client.log_text(run.info.run_id, "notes", "notes.txt")
    client.set_terminated(run.info.run_id)
print(exp)
"""

IMPORT_SIDE = r"""
import json, sys, time
t0 = time.perf_counter()
import trackbook as tb
tb.set_tracking_uri(sys.argv[2])
first = tb.import_mlflow(sys.argv[1], progress=False)
t1 = time.perf_counter()
again = tb.import_mlflow(sys.argv[1], progress=False)
t2 = time.perf_counter()
n = int(tb.sql("SELECT count(*) AS n FROM metrics")["n"].iloc[0])
print("RESULT " + json.dumps({"first": t1 - t0, "inside": first.seconds, "again": t2 - t1,
                              "runs": first.imported["runs"],
                              "points": first.imported["metric points"], "in_store": n,
                              "again_added": sum(again.imported.values()),
                              "skipped": len(first.skipped)}))
"""


def make_store(python: Path, db: Path, runs: int, points_per_run: int | None) -> None:
    """A store made by MLflow: 3 template runs, plus ``runs`` copies of their rows (with
    ``points_per_run`` points of one metric each, or 3 metrics x 10 steps)."""
    templates = 3
    subprocess.run([str(python), "-c", MLFLOW_SIDE, str(db), str(templates)], check=True,
                   env=child_env(), capture_output=True, text=True, cwd=db.parent)
    con = sqlite3.connect(db)
    try:
        rows = con.execute("SELECT * FROM runs").fetchall()
        cols = [d[1] for d in con.execute("PRAGMA table_info(runs)")]
        template = dict(zip(cols, rows[0], strict=True))
        params = con.execute("SELECT key, value FROM params WHERE run_uuid = ?",
                             [template["run_uuid"]]).fetchall()
        tags = con.execute("SELECT key, value FROM tags WHERE run_uuid = ?",
                           [template["run_uuid"]]).fetchall()
        new_runs, new_params, new_tags, new_metrics = [], [], [], []
        for i in range(runs):
            rid = uuid.uuid4().hex
            row = dict(template, run_uuid=rid, name=f"run-{i}",
                       start_time=template["start_time"] + i,
                       artifact_uri=template["artifact_uri"].replace(template["run_uuid"], rid))
            new_runs.append(tuple(row[c] for c in cols))
            new_params += [(k, v, rid) for k, v in params]
            new_tags += [(k, f"run-{i}" if k == "mlflow.runName" else v, rid) for k, v in tags]
            n = points_per_run or 30
            keys = ("loss", "acc", "lr") if points_per_run is None else ("loss",)
            per_key = n // len(keys)
            new_metrics += [(k, 1.0 / (s + 1), 1_700_000_000_000 + s, rid, s, 0)
                            for k in keys for s in range(per_key)]
            if len(new_metrics) > 500_000:
                _flush_metrics(con, new_metrics)
        con.executemany(f"INSERT INTO runs ({', '.join(cols)}) "  # MLflow's own column names
                        f"VALUES ({', '.join('?' * len(cols))})", new_runs)
        con.executemany("INSERT INTO params (key, value, run_uuid) VALUES (?, ?, ?)", new_params)
        con.executemany("INSERT INTO tags (key, value, run_uuid) VALUES (?, ?, ?)", new_tags)
        _flush_metrics(con, new_metrics)
        con.commit()
    finally:
        con.close()


def _flush_metrics(con: sqlite3.Connection, rows: list[tuple]) -> None:
    con.executemany("INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan) "
                    "VALUES (?, ?, ?, ?, ?, ?)", rows)
    rows.clear()


def time_import(db: Path, store: Path) -> dict:
    proc = subprocess.run([sys.executable, "-c", IMPORT_SIDE, str(db), str(store)],
                          capture_output=True, text=True, env=child_env(), check=False)
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not line:
        raise SystemExit(f"import failed:\n{proc.stderr[-3000:]}")
    return json.loads(line[-1][len("RESULT "):])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller stores (~1 minute)")
    ap.add_argument("--runs", type=int, help="runs of the many-runs store (default 5,000)")
    ap.add_argument("--long-runs", type=int, help="runs of the long-history store (default 20)")
    ap.add_argument("--points", type=int, help="points per long run (default 50,000)")
    args = ap.parse_args()
    runs = args.runs or (1_000 if args.quick else 5_000)
    long_runs = args.long_runs or (5 if args.quick else 20)
    points = args.points or (40_000 if args.quick else 50_000)
    python = ensure_mlflow()
    load = os.getloadavg()
    print(f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}, {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory(prefix="tb-import-bench-") as tmp:
        work = Path(tmp)
        for label, n_runs, per_run in (("many runs", runs, None),
                                       ("long histories", long_runs, points)):
            db = work / f"{label.replace(' ', '-')}.db"
            t0 = time.perf_counter()
            make_store(python, db, n_runs, per_run)
            made = time.perf_counter() - t0
            store = work / f"store-{label.replace(' ', '-')}"
            r = time_import(db, store)
            shutil.rmtree(store, ignore_errors=True)
            ok = r["in_store"] == r["points"] and r["again_added"] == 0 and not r["skipped"]
            print(f"\n{label}: {r['runs']:,} runs, {r['points']:,} metric points "
                  f"(store made in {made:.0f} s, {db.stat().st_size / 1e6:.0f} MB)")
            print(f"  import          {r['inside']:7.2f} s   {r['runs'] / r['inside']:10,.0f} "
                  f"runs/s   {r['points'] / r['inside']:12,.0f} points/s")
            print(f"  with startup    {r['first']:7.2f} s   (fresh interpreter, imports "
                  "included)")
            print(f"  again (no-op)   {r['again']:7.2f} s   added {r['again_added']}")
            print(f"  check: points in store = imported, nothing skipped: "
                  f"{'ok' if ok else 'MISMATCH ' + json.dumps(r)}")


if __name__ == "__main__":
    main()
