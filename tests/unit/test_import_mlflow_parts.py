"""The MLflow importer's parts: artifact locations, registry sources, string columns, old
SQLite schemas, old file-store metric lines, the summary. (Whole imports of stores made by
MLflow itself: tests/integration/test_import_mlflow.py.)"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest

import trackbook as tb
from trackbook.importers._locations import MISSING_ROOT, resolve
from trackbook.importers._models import map_source
from trackbook.importers._source import SourceVersion
from trackbook.importers._summary import ImportSummary
from trackbook.store.imports import string_column

RUN = "0123456789abcdef0123456789abcdef"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "mlflow"


def _artifacts(root: Path) -> Path:
    folder = root / "1" / RUN / "artifacts"
    folder.mkdir(parents=True)
    (folder / "f.txt").write_text("x")
    return folder


def test_mlflow_artifacts_uris_need_the_server_folder(tmp_path: Path) -> None:
    uri = f"mlflow-artifacts:/1/{RUN}/artifacts"
    tail = ("1", RUN, "artifacts")
    assert resolve(uri, tail, [], tmp_path) == (None, MISSING_ROOT)
    folder = _artifacts(tmp_path / "mlartifacts")
    assert resolve(uri, tail, [tmp_path / "mlartifacts"], tmp_path) == (folder, None)
    # a run that logged nothing has no folder under a readable root: nothing to report
    assert resolve(f"mlflow-artifacts:/1/{'f' * 32}/artifacts", ("1", "f" * 32, "artifacts"),
                   [tmp_path / "mlartifacts"], tmp_path) == (None, None)


def test_a_moved_store_is_found_by_its_tail(tmp_path: Path) -> None:
    folder = _artifacts(tmp_path / "moved" / "mlruns")
    uri = f"file:///gone/away/mlruns/1/{RUN}/artifacts"
    tail = ("1", RUN, "artifacts")
    assert resolve(uri, tail, [tmp_path / "moved" / "mlruns"], tmp_path) == (folder, None)
    found, why = resolve(uri, tail, [], tmp_path)
    assert found is None
    assert "not found" in why
    assert "--artifacts" in why
    assert resolve(str(folder), tail, [], tmp_path) == (folder, None)  # a bare path
    assert resolve(f"mlruns/1/{RUN}/artifacts", tail, [], tmp_path / "moved") == (folder, None)


def test_remote_artifact_stores_are_reported_not_guessed(tmp_path: Path) -> None:
    found, why = resolve(f"s3://bucket/1/{RUN}/artifacts", ("1", RUN, "artifacts"), [],
                         tmp_path)
    assert found is None
    assert "s3://" in why


def _version(source: str, run_id: str | None = RUN) -> SourceVersion:
    return SourceVersion(1, source, run_id, "None", None, None, 1, None)


@pytest.mark.parametrize(("source", "expected"), [
    ("models:/m-abc", "models:/m-abc"),  # the logged model keeps its id
    (f"runs:/{RUN}/model", f"runs:/{RUN}/model"),
    (f"mlflow-artifacts:/1/{RUN}/artifacts/model", f"runs:/{RUN}/model"),
    (f"file:///old/mlruns/1/{RUN}/artifacts/sub/model", f"runs:/{RUN}/sub/model"),
    ("models:/other-model/3", "models:/other-model/3"),
    ("/somewhere/else/model", "/somewhere/else/model"),
])
def test_version_sources_point_into_this_store(source: str, expected: str) -> None:
    assert map_source(_version(source), {"m-abc"}) == (expected, None)


def test_a_version_of_a_logged_model_not_imported_says_so() -> None:
    src, why = map_source(_version("models:/m-zzz"), set())
    assert src == "models:/m-zzz"
    assert "m-zzz" in why
    assert "not imported" in why


def test_string_columns_from_codes() -> None:
    words = ["loss", "train/ä€", "", "x" * 300]
    codes = np.array([1, 0, 3, 2, 1, 1])
    assert string_column(words, codes).to_pylist() == [words[c] for c in codes]
    assert string_column([RUN], np.zeros(3, np.int32)).to_pylist() == [RUN] * 3
    assert string_column(words, np.zeros(0, np.int64)).to_pylist() == []


def test_an_old_mlflow_schema_without_newer_tables_and_columns(store: Path,
                                                              tmp_path: Path) -> None:
    """MLflow 1.x's first revision: no is_nan (NaN as NULL), no experiment tags, no
    registry, no run names."""
    db = tmp_path / "old.db"
    with sqlite3.connect(db) as con:
        con.executescript(f"""
            CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL);
            INSERT INTO alembic_version VALUES ('451aebb31d03');
            CREATE TABLE experiments (experiment_id INTEGER, name VARCHAR(256),
                artifact_location VARCHAR(256), lifecycle_stage VARCHAR(32));
            INSERT INTO experiments VALUES (0, 'Default', '/gone/mlruns/0', 'active');
            INSERT INTO experiments VALUES (7, 'old-exp', '/gone/mlruns/7', 'active');
            CREATE TABLE runs (run_uuid VARCHAR(32), source_type VARCHAR(20),
                source_name VARCHAR(500), entry_point_name VARCHAR(50), user_id VARCHAR(256),
                status VARCHAR(9), start_time BIGINT, end_time BIGINT,
                source_version VARCHAR(50), lifecycle_stage VARCHAR(20),
                artifact_uri VARCHAR(200), experiment_id INTEGER);
            INSERT INTO runs VALUES ('{RUN}', 'LOCAL', 's.py', '', 'ann', 'FINISHED', 1000,
                2000, '', 'active', '/gone/mlruns/7/{RUN}/artifacts', 7);
            CREATE TABLE metrics (key VARCHAR(250), value FLOAT, timestamp BIGINT,
                run_uuid VARCHAR(32), step BIGINT DEFAULT '0');
            INSERT INTO metrics VALUES ('loss', 0.5, 1001, '{RUN}', 0);
            INSERT INTO metrics VALUES ('loss', NULL, 1002, '{RUN}', 1);
            CREATE TABLE params (key VARCHAR(250), value VARCHAR(250), run_uuid VARCHAR(32));
            INSERT INTO params VALUES ('alpha', '0.1', '{RUN}');
            CREATE TABLE tags (key VARCHAR(250), value VARCHAR(250), run_uuid VARCHAR(32));
            INSERT INTO tags VALUES ('mlflow.runName', 'oldie', '{RUN}');
        """)
    summary = tb.import_mlflow(db, progress=False)
    assert summary.schema_version == "451aebb31d03"
    run = tb.Client().get_run(RUN)
    assert (run.info.run_name, run.info.user_id, run.info.status) == ("oldie", "ann",
                                                                       "FINISHED")
    assert run.info.experiment_id == summary.experiment_ids["7"]
    assert run.data.params == {"alpha": "0.1"}
    history = tb.Client().get_metric_history(RUN, "loss")
    assert next(m.value for m in history) == 0.5
    assert np.isnan(history[1].value)
    assert summary.imported["registered models"] == 0
    # its artifact folder is gone, and no root to look in: said, not silently dropped
    assert [(s.kind, s.what) for s in summary.skipped] == [("artifact files", RUN)]


def test_old_file_store_metric_lines_without_step(store: Path, tmp_path: Path) -> None:
    mlruns = tmp_path / "mlruns"
    shutil.copytree(FIXTURES / "file-base" / "mlruns", mlruns)
    (metric,) = list(mlruns.glob("*/*/metrics/dup"))
    metric.write_text(metric.read_text() + "1700000009999 2.5\n")  # MLflow < 1.0: no step
    run_id = metric.parent.parent.name
    tb.import_mlflow(mlruns, progress=False)
    dup = [(m.step, m.timestamp, m.value) for m in tb.Client().get_metric_history(run_id, "dup")]
    assert (0, 1700000009999, 2.5) in dup
    assert len(dup) == 5


def test_summary_groups_skips_by_reason() -> None:
    s = ImportSummary("x.db", "sqlite", "abc")
    s.add("runs", 3)
    s.had("runs", 2)
    for i in range(5):
        s.skip("artifact files", f"run{i}", "gone")
    text = str(s)
    assert [line.split() for line in text.splitlines() if line.strip().startswith("runs")] \
        == [["runs", "3", "2"]]
    assert "artifact files (5: run0, run1, run2 and 2 more): gone" in text
    assert "gone" in s._repr_html_()
