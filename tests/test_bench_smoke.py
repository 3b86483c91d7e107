"""The benchmark harness works: ``benchmarks/run.py --smoke`` runs every workload at tiny
sizes and the counts it reports (runs created, points on disk, points read back, runs
found, the model server's checked answers) are right. Timings are not checked: this
proves the harness, not the speed.

Only trackbook's side runs by default, so ``make test`` never installs MLflow. Set
``TRACKBOOK_BENCH_SMOKE_MLFLOW=1`` to run MLflow's side too (it needs, or creates,
``benchmarks/.mlflow-venv``; a few minutes).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
RUN = ROOT / "benchmarks" / "run.py"
WORKLOADS = {"1", "2", "3", "4", "5", "6", "7", "8", "9"}


def _smoke(tmp_path: Path, only: str, timeout: float) -> dict[str, Any]:
    out = tmp_path / "results" / "smoke.md"
    raw = tmp_path / "smoke.json"
    env = {k: v for k, v in os.environ.items()
           if k not in ("TRACKBOOK_STORE", "TRACKBOOK_EXPERIMENT_NAME", "MLFLOW_TRACKING_URI")}
    proc = subprocess.run(
        [sys.executable, str(RUN), "--smoke", "--only", only, "--out", str(out),
         "--json", str(raw), "--workdir", str(tmp_path / "work")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert out.exists()
    text = out.read_text()
    assert "| # | workload | MLflow (median) | trackbook (median) |" in text
    data = json.loads(raw.read_text())
    data["stdout"] = proc.stdout
    return data


def _facts(data: dict[str, Any], tool: str) -> dict[tuple[str, str], list[dict[str, Any]]]:
    by: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for f in data["facts"]:
        if f["tool"] == tool:
            by.setdefault((f["workload"], f["what"]), []).append(f)
    return by


def _check_tool(data: dict[str, Any], tool: str) -> None:
    facts = _facts(data, tool)
    bad = [f for fs in facts.values() for f in fs if f["strict"] and not f["ok"]]
    assert not bad, bad
    # every workload reported checked counts
    assert {w for w, _ in facts} == WORKLOADS
    got = {key: [f["got"] for f in fs] for key, fs in facts.items()}
    # 1, 2: 2 runs x 20 steps x 3 metrics (MLflow: 1 x 10 x 3), all durable after end_run
    n1 = 120 if tool == "trackbook" else 30
    assert got[("1", "points on disk after end_run")] == [n1]
    assert got[("2", "points on disk after end_run")] == [n1]
    # 3: 30 runs created (MLflow: 10), each with 3 metric points; searches find them all,
    # and the filter finds run 23 only (p0 = 3 and m0 = 23/30 > 0.5)
    n3 = 30 if tool == "trackbook" else 10
    assert got[("3", "runs")] == [n3]
    assert got[("3", "points")] == [3 * n3]
    assert sorted(got[("3", "runs returned")]) == [1, 1, 30, 30]
    assert got[("3", "sorted by metrics.m1 DESC")] == [True]
    # 4 + 8: 2,500 points written, read back in full (twice), counted on disk
    assert got[("4", "points read")] == [2500, 2500]
    assert got[("4", "last step")] == [2499]
    assert got[("8", "points")] == [2500]
    # 5: 3 runs x 50 steps read back (twice); 6: 4 writers x 50 x 3 points, none lost
    assert got[("5", "points read")] == [150, 150]
    if tool == "trackbook":  # what MLflow loses under concurrency is its result, not a bug
        assert got[("6", "points on disk after all end_run")] == [600]
        assert got[("6", "logging errors")] == [0]
    # 7: the first durable point is on disk
    assert got[("7", "points on disk")] == [1]
    if tool == "trackbook":  # a store per TRACKBOOK_DURABILITY setting: 1 + 2 runs x 20
        assert got[("7", "points on disk (durability rows)")] == [41, 41, 41]
    # 9: the model server answered every request of a short load with the right prediction
    assert got[("9", "wrong or failed responses")] == [0]
    assert got[("9", "answered some requests")] == [True]
    # every row has a positive measurement
    for row in data["rows"]:
        values = row["samples"].get(tool)
        assert values, row["label"]
        assert all(v > 0 for v in values), row


@pytest.mark.slow
def test_bench_smoke_trackbook(tmp_path: Path) -> None:
    data = _smoke(tmp_path, "trackbook", timeout=300)
    _check_tool(data, "trackbook")
    assert "count checks passed" in data["stdout"]


# MLflow's side is exercised by `make bench BENCH_ARGS=--smoke` (it needs MLflow in its own
# venv, a minutes-long install that the test suite does not pay on every run).
