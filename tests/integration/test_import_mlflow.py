"""``trackbook import-mlflow`` against stores made by MLflow itself.

The stores under ``tests/fixtures/mlflow`` were built by MLflow 3.17 (its own server,
SQLite and file stores; ``make_stores.py`` there regenerates them), each in a ``base`` state
and a ``grown`` one (the same store after more logging), with what MLflow's client read
back from each (``<backend>-<phase>.json``). MLflow is not needed to run these tests.
"""

from __future__ import annotations

import gzip
import json
import math
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import trackbook as tb
from trackbook.importers import MlflowImportError, UnknownSchemaError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "mlflow"
BACKENDS = ("sqlite", "local", "file")
DBL_MAX = 1.7976931348623157e308


def _materialize(backend: str, phase: str, dest: Path) -> tuple[Path, Path | None]:
    """Copy a fixture store to ``dest``; return (what to import, --artifacts or None)."""
    src = FIXTURES / f"{backend}-{phase}"
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns("*.gz"))
    if backend == "file":
        return dest / "mlruns", None
    with gzip.open(src / "mlflow.db.gz", "rb") as f, open(dest / "mlflow.db", "wb") as g:
        shutil.copyfileobj(f, g)
    return dest / "mlflow.db", (dest / "mlartifacts" if backend == "sqlite" else None)


def _truth(backend: str, phase: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{backend}-{phase}.json").read_text())


def _value(v: float, backend: str) -> str:
    """A comparable spelling of a metric value. MLflow's SQLite store returns +-inf as
    +-DBL_MAX (SQL has no infinity); the import restores the infinities."""
    if backend != "file" and abs(v) == DBL_MAX:
        v = math.copysign(math.inf, v)
    return repr(v)


def _artifact_files(root: Path) -> list[list[Any]]:
    return sorted([p.relative_to(root).as_posix(), p.stat().st_size]
                  for p in root.rglob("*") if p.is_file())


def _check_against(truth: dict[str, Any], backend: str, summary: Any,
                   dead_importer: bool = False) -> None:
    """Every experiment, run, param, tag, metric point, artifact and registry entry that
    MLflow's client reported is in trackbook, value for value.

    ``dead_importer``: some runs were imported by a process that has exited since, so a run
    RUNNING in MLflow may show KILLED at that process's end (nobody logs to it any more).
    """
    client = tb.Client()
    exp_ids = summary.experiment_ids
    for e in truth["experiments"]:
        ours = client.get_experiment(exp_ids[e["id"]])
        assert ours.name == e["name"]
        assert ours.lifecycle_stage == e["lifecycle_stage"]
        for k, v in e["tags"].items():
            assert ours.tags[k] == v
    assert len(truth["runs"]) >= 9
    for r in truth["runs"]:
        run = client.get_run(r["run_id"])
        info = run.info
        assert info.experiment_id == exp_ids[r["experiment_id"]]
        assert info.run_name == r["run_name"]
        killed = (dead_importer and r["status"] == "RUNNING" and info.status == "KILLED"
                  and info.end_time is not None and info.end_time >= info.start_time)
        if not killed:
            assert (info.start_time, info.end_time) == (r["start_time"], r["end_time"])
            assert info.status == r["status"]
        assert info.start_time == r["start_time"]
        assert info.lifecycle_stage == r["lifecycle_stage"]
        assert info.user_id == r["user_id"]
        assert run.data.params == r["params"]
        assert run.data.tags == r["tags"]
        assert set(run.data.metrics) == set(r["metrics"])
        for key, points in r["metrics"].items():
            ours = sorted([m.step, m.timestamp, _value(m.value, "file")]
                          for m in client.get_metric_history(r["run_id"], key))
            assert ours == sorted([s, t, _value(v, backend)] for s, t, v in points), key
        parent = r["tags"].get("mlflow.parentRunId")
        row = tb.sql(f"SELECT parent_run_id FROM runs WHERE run_id = '{r['run_id']}'")
        assert row["parent_run_id"].iloc[0] == parent or (parent is None and
                                                          row["parent_run_id"].isna().all())
        ours = _artifact_files(client.store.artifact_root(r["run_id"]))
        theirs = r["artifacts"]
        assert [f for f in ours if not f[0].startswith("model/")] == theirs
    by_name = {m["name"]: m for m in truth["models"]}
    assert set(by_name) == {"imp-model", "empty-model"}
    for name, m in by_name.items():
        ours = client.get_registered_model(name)
        assert ours.description == m["description"]
        assert ours.tags == m["tags"]
        assert {a: str(v) for a, v in ours.aliases.items()} == {a: str(v) for a, v in
                                                                 m["aliases"].items()}
        versions = {int(v.version): v for v in client.search_model_versions(f"name = '{name}'")}
        assert sorted(versions) == [v["version"] for v in m["versions"]]
        for v in m["versions"]:
            mine = versions[v["version"]]
            assert (mine.current_stage, mine.description, mine.tags, mine.run_id,
                    mine.creation_timestamp) == (v["stage"], v["description"], v["tags"],
                                                 v["run_id"], v["creation_timestamp"])
    # models:/ URIs resolve to the same model: load it and predict
    probe = np.array(truth["probe"])
    expected = np.array(truth["predictions"])
    for alias in by_name["imp-model"]["aliases"]:
        model = tb.pyfunc.load_model(f"models:/imp-model@{alias}")
        assert model.predict(probe).tolist() == (expected > 0.5).astype(int).tolist()
        proba = tb.sklearn.load_model(f"models:/imp-model@{alias}").predict_proba(probe)[:, 1]
        assert proba.tolist() == pytest.approx(expected.tolist(), rel=1e-12)
    assert tb.pyfunc.load_model("models:/imp-model/Production") is not None


@pytest.mark.parametrize("backend", BACKENDS)
def test_import_is_lossless_and_idempotent(backend: str, store: Path, tmp_path: Path) -> None:
    path, artifacts = _materialize(backend, "base", tmp_path / "mlflow")
    summary = tb.import_mlflow(path, artifacts, progress=False)
    truth = _truth(backend, "base")
    assert summary.skipped == []
    assert summary.imported["runs"] == len(truth["runs"])
    assert summary.imported["metric points"] == sum(
        len(p) for r in truth["runs"] for p in r["metrics"].values())
    assert summary.imported["model versions"] == 2  # version 3 was deleted in MLflow
    _check_against(truth, backend, summary)

    events: list[Any] = []
    again = tb.import_mlflow(path, artifacts, progress=events.append)
    assert sum(again.imported.values()) == 0, again
    assert events[-1].finished
    assert (events[-1].done, events[-1].total) == (len(truth["runs"]),) * 2
    for kind in ("runs", "params", "tags", "metric points", "artifact files", "model versions",
                 "aliases", "stages"):
        assert again.existing[kind] == summary.imported[kind], kind
    _check_against(truth, backend, summary)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_grown_store_adds_only_the_new_data(backend: str, store: Path,
                                              tmp_path: Path) -> None:
    path, artifacts = _materialize(backend, "base", tmp_path / "mlflow")
    first = tb.import_mlflow(path, artifacts, progress=False)
    path, artifacts = _materialize(backend, "grown", tmp_path / "mlflow")
    grown = tb.import_mlflow(path, artifacts, progress=False)
    assert grown.skipped == []
    assert grown.imported["runs"] == 1
    # 50 more loss + 20 acc points of child-1, 1 of the ended run, 100 of the new run
    assert grown.imported["metric points"] == 171
    assert grown.existing["metric points"] == first.imported["metric points"]
    assert grown.imported["params"] == 2  # added_later on the parent, lr of the new run
    assert (grown.imported["model versions"], grown.imported["aliases"]) == (1, 1)
    assert grown.imported["experiments"] == 0
    _check_against(_truth(backend, "grown"), backend, grown)
    points = tb.sql("SELECT count(*) AS n FROM metrics")["n"].iloc[0]
    assert points == first.imported["metric points"] + 171


def test_unknown_schema_version_is_refused(store: Path, tmp_path: Path) -> None:
    path, artifacts = _materialize("sqlite", "base", tmp_path / "mlflow")
    with sqlite3.connect(path) as con:
        con.execute("UPDATE alembic_version SET version_num = 'ffff00001234'")
    with pytest.raises(UnknownSchemaError, match="ffff00001234"):
        tb.import_mlflow(path, artifacts, progress=False)
    assert not (store / "log").exists() or not any((store / "log").iterdir())


def test_not_an_mlflow_store_is_a_clear_error(store: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as con:
        con.execute("CREATE TABLE t (x)")
    with pytest.raises(MlflowImportError, match="not MLflow's"):
        tb.import_mlflow(other, progress=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(MlflowImportError, match="not an MLflow file store"):
        tb.import_mlflow(tmp_path / "empty", progress=False)
    with pytest.raises(MlflowImportError, match="does not exist"):
        tb.import_mlflow(tmp_path / "nope.db", progress=False)


def test_an_import_never_overwrites_trackbook_data(store: Path, tmp_path: Path) -> None:
    client = tb.Client()
    tb.set_experiment("imp-a")
    with tb.start_run(run_name="native") as native:
        tb.log_metric("loss", 0.25, step=0)
    path, artifacts = _materialize("sqlite", "base", tmp_path / "mlflow")
    tb.import_mlflow(path, artifacts, progress=False)
    truth = _truth("sqlite", "grown")
    parent = next(r for r in truth["runs"] if r["run_name"] == "parent")["run_id"]
    client.set_tag(parent, "stage", "changed in trackbook")
    client.set_registered_model_alias("imp-model", "next", 1)
    path, artifacts = _materialize("sqlite", "grown", tmp_path / "mlflow")
    grown = tb.import_mlflow(path, artifacts, progress=False)
    assert client.get_run(parent).data.tags["stage"] == "changed in trackbook"
    assert client.get_registered_model("imp-model").aliases["next"] in (1, "1")
    reasons = {(s.kind, s.what) for s in grown.skipped}
    assert ("tags", f"{parent} stage") in reasons
    assert ("aliases", "imp-model@next") in reasons
    # the experiment of the same name was reused, and the native run is untouched
    exp = client.get_experiment_by_name("imp-a")
    assert grown.experiment_ids[
        next(e["id"] for e in truth["experiments"] if e["name"] == "imp-a")] == exp.experiment_id
    assert [m.value for m in client.get_metric_history(native.info.run_id, "loss")] == [0.25]


def test_an_import_killed_midway_loses_and_duplicates_nothing(store: Path,
                                                              tmp_path: Path) -> None:
    path, artifacts = _materialize("sqlite", "base", tmp_path / "mlflow")
    proc = subprocess.run([sys.executable, "-m", "trackbook", "import-mlflow", str(path),
                           "--artifacts", str(artifacts), "--store", str(store), "--quiet"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    # As if that process had been killed with records still buffered: its chunk files
    # and artifact copies are on disk, the last two thirds of its log records are not.
    (log,) = (store / "log").glob("*.jsonl")
    lines = log.read_bytes().splitlines(keepends=True)
    assert any(b'"op":"metrics"' in line for line in lines[len(lines) // 3:])
    log.write_bytes(b"".join(lines[:len(lines) // 3]))
    tb.Client().store.catalog.rebuild()

    summary = tb.import_mlflow(path, artifacts, progress=False)
    truth = _truth("sqlite", "base")
    # histories read from the files: no duplicate
    _check_against(truth, "sqlite", summary, dead_importer=True)
    total = sum(len(p) for r in truth["runs"] for p in r["metrics"].values())
    assert tb.sql("SELECT count(*) AS n FROM metrics")["n"].iloc[0] == total
    counted = tb.sql("SELECT sum(count) AS n FROM latest_metrics")["n"].iloc[0]
    assert counted == total
    assert summary.imported["metric points"] < total  # most were on disk already


def test_two_imports_into_one_store_take_turns(store: Path, tmp_path: Path) -> None:
    import fcntl
    import threading

    path, artifacts = _materialize("file", "base", tmp_path / "mlflow")
    store.mkdir(parents=True, exist_ok=True)
    with open(store / "import.lock", "a+") as held:  # another import is running
        fcntl.flock(held, fcntl.LOCK_EX)
        events: list[Any] = []
        done: list[Any] = []
        t = threading.Thread(target=lambda: done.append(
            tb.import_mlflow(path, artifacts, progress=events.append)))
        t.start()
        t.join(1.0)
        assert t.is_alive()
        assert not done
        assert any("waiting for another import" in e.message for e in events)
        fcntl.flock(held, fcntl.LOCK_UN)
    t.join(120)
    assert done[0].imported["runs"] == len(_truth("file", "base")["runs"])


def test_cli_imports_and_reports(store: Path, tmp_path: Path) -> None:
    path, artifacts = _materialize("sqlite", "base", tmp_path / "mlflow")
    cmd = [sys.executable, "-m", "trackbook", "import-mlflow", str(path), "--artifacts",
           str(artifacts), "--store", str(store), "--quiet"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "metric points" in proc.stdout
    assert "skipped: nothing" in proc.stdout
    proc = subprocess.run([*cmd[:4], str(tmp_path / "missing.db"), "--store", str(store)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    assert "missing.db does not exist" in proc.stderr


def test_import_trackbook_stays_light() -> None:
    code = ("import sys, trackbook; trackbook.import_mlflow; "
            "heavy = {'sqlite3', 'pandas', 'pyarrow', 'duckdb', 'yaml', 'numpy'} & "
            "set(sys.modules); assert not heavy, heavy")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
