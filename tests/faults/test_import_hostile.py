"""``import-mlflow`` against hostile and damaged MLflow stores (issue 13, item 6).

The MLflow store is untrusted input: ids that are paths (``../../../X``, absolute, NUL,
very long, non-ASCII), keys and artifact paths that escape, symlinks, damaged SQLite
files and truncated ``mlruns`` trees. Nothing may be written outside the trackbook store,
every skipped item is listed with its reason, and a failure part way leaves no half run
visible (a second import completes it). Stores are built by hand (the file store is YAML
and text) or derived from the fixtures MLflow itself made (tests/fixtures/mlflow).
"""

from __future__ import annotations

import errno
import gzip
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import trackbook as tb
from trackbook._errors import TrackbookError
from trackbook.importers import MlflowImportError
from trackbook.store.durable import DiskWriteError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "mlflow"
GOOD = "0123456789abcdef0123456789abcdef"
HOSTILE = ["../../../X", "ABS", "nul\x00id", "L" * 300, "rün-ünïcode", "ok\n"]


@pytest.fixture
def deep(tmp_path: Path) -> Path:
    """A store three folders down, so ``runs/../../../X`` still lands inside tmp_path."""
    root = tmp_path / "d1" / "d2" / "store"
    root.mkdir(parents=True)
    tb.set_tracking_uri(root)
    return root


def _files(top: Path, skip: Path) -> set[str]:
    out = set()
    for dirpath, dirs, files in os.walk(top):
        if Path(dirpath) == skip:
            dirs.clear()
            continue
        out.update(os.path.join(dirpath, n) for n in files + dirs)
    return out


def _import(path: Path, store: Path, **kw: Any) -> Any:
    return tb.import_mlflow(path, tracking_uri=str(store), progress=False, **kw)


def _hostile(run_id: str, tmp_path: Path) -> str:
    return str(tmp_path / "abs-X") if run_id == "ABS" else run_id


def _yaml_str(text: str) -> str:
    return '"' + text.encode("unicode_escape").decode().replace('"', '\\"') + '"'


def _file_run(exp: Path, folder: str, run_id: str, *, artifacts: bool = True) -> Path:
    run = exp / folder
    (run / "params").mkdir(parents=True)
    (run / "metrics").mkdir()
    (run / "meta.yaml").write_text(
        f"run_id: {_yaml_str(run_id)}\nexperiment_id: '1'\nstatus: 3\nstart_time: 1000\n"
        f"end_time: 2000\nlifecycle_stage: active\nuser_id: u\nartifact_uri: "
        f"{_yaml_str(str(run / 'artifacts'))}\n")
    (run / "params" / "alpha").write_text("0.1")
    (run / "metrics" / "loss").write_text("1000 0.5 0\n1001 0.25 1\n")
    if artifacts:
        (run / "artifacts").mkdir()
        (run / "artifacts" / "f.txt").write_text("payload")
    return run


def _file_store(tmp_path: Path, run_ids: list[str]) -> Path:
    mlruns = tmp_path / "mlruns"
    exp = mlruns / "1"
    exp.mkdir(parents=True)
    (exp / "meta.yaml").write_text("experiment_id: '1'\nname: hostile\nlifecycle_stage: "
                                   "active\ncreation_time: 1\n")
    _file_run(exp, GOOD, GOOD)
    for i, run_id in enumerate(run_ids):
        _file_run(exp, f"r{i}", run_id)
    return mlruns


def _sqlite_copy(tmp_path: Path) -> tuple[Path, Path]:
    src = FIXTURES / "sqlite-base"
    dest = tmp_path / "mlflow"
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns("*.gz"))
    with gzip.open(src / "mlflow.db.gz", "rb") as f, open(dest / "mlflow.db", "wb") as g:
        shutil.copyfileobj(f, g)
    return dest / "mlflow.db", dest / "mlartifacts"


def _run_ids(con: sqlite3.Connection) -> list[str]:
    return [r[0] for r in con.execute("SELECT run_uuid FROM runs ORDER BY run_uuid")]


def _rename_run(con: sqlite3.Connection, old: str, new: str) -> None:
    for table in ("runs", "params", "tags", "metrics", "latest_metrics"):
        con.execute(f"UPDATE {table} SET run_uuid = ? WHERE run_uuid = ?", (new, old))
    con.execute("UPDATE runs SET artifact_uri = ? WHERE run_uuid = ?",
                (f"mlflow-artifacts:/1/{new}/artifacts", new))


def _visible_runs() -> set[str]:
    return set(tb.sql("SELECT run_id FROM runs")["run_id"])


def _skips(summary: Any, kind: str) -> dict[str, str]:
    return {s.what: s.why for s in summary.skipped if s.kind == kind}


def test_hostile_run_ids_in_a_file_store_write_nothing_outside(tmp_path: Path,
                                                               deep: Path) -> None:
    ids = [_hostile(r, tmp_path) for r in HOSTILE]
    mlruns = _file_store(tmp_path, ids)
    for i in range(len(ids)):  # each hostile run also has a nested artifact folder
        (mlruns / "1" / f"r{i}" / "artifacts" / "sub").mkdir()
        (mlruns / "1" / f"r{i}" / "artifacts" / "sub" / "g.txt").write_text("x")
    before = _files(tmp_path, deep)
    summary = _import(mlruns, deep)
    assert _files(tmp_path, deep) == before  # nothing created outside the store
    assert not (tmp_path / "d1" / "X").exists()
    assert _visible_runs() == {GOOD}
    skipped = _skips(summary, "runs")
    assert len(skipped) == len(ids), summary
    assert all("is not an MLflow run id" in why for why in skipped.values())
    assert summary.imported["runs"] == 1
    assert not summary.nothing_imported


def test_hostile_run_ids_in_an_sqlite_store_write_nothing_outside(tmp_path: Path,
                                                                  deep: Path) -> None:
    db, artifacts = _sqlite_copy(tmp_path)
    with sqlite3.connect(db) as con:
        ids = _run_ids(con)
        hostile = [_hostile(r, tmp_path) for r in HOSTILE]
        for old, new in zip(ids, hostile, strict=False):
            _rename_run(con, old, new)
            folder = artifacts / "1" / old
            if folder.is_dir() and "\x00" not in new and len(new) < 200:
                target = artifacts / "1" / new
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.move(folder, target)  # where MLflow would have put them
    before = _files(tmp_path, deep)
    summary = _import(db, deep, artifacts=artifacts)
    assert _files(tmp_path, deep) == before
    assert not (tmp_path / "d1" / "X").exists()
    visible = _visible_runs()
    assert visible == set(ids[len(hostile):])
    assert len(_skips(summary, "runs")) == len(hostile), summary
    # a version whose run id is hostile is skipped too, never recorded
    for v in tb.Client().search_model_versions("name = 'imp-model'"):
        assert v.run_id in visible


def test_hostile_keys_experiment_ids_and_model_names(tmp_path: Path, deep: Path) -> None:
    db, artifacts = _sqlite_copy(tmp_path)
    with sqlite3.connect(db) as con:
        run = _run_ids(con)[0]
        con.execute("INSERT INTO params VALUES ('../../evil', 'v', ?)", (run,))
        con.execute("INSERT INTO tags VALUES ('/abs', 'v', ?)", (run,))
        con.execute("INSERT INTO tags VALUES ('nul' || char(0) || 'key', 'v', ?)", (run,))
        con.execute("INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan) "
                    "VALUES ('../m', 1.0, 1, ?, 0, 0)", (run,))
        con.execute("UPDATE logged_models SET name = '../../escaped'")
    before = _files(tmp_path, deep)
    summary = _import(db, deep, artifacts=artifacts)
    assert _files(tmp_path, deep) == before
    whats = " ".join(s.what for s in summary.skipped)
    for key in ("../../evil", "/abs", "nul\\x00key", "../m"):
        assert key in whats, summary
    data = tb.Client().get_run(run).data
    assert "../../evil" not in data.params
    assert "/abs" not in data.tags
    assert _skips(summary, "logged models"), summary
    assert not list(deep.rglob("escaped"))


def test_an_experiment_id_that_is_a_path_gets_a_fresh_id(tmp_path: Path, deep: Path) -> None:
    mlruns = _file_store(tmp_path, [])
    meta = mlruns / "1" / "meta.yaml"
    meta.write_text(meta.read_text().replace("experiment_id: '1'", "experiment_id: ../../e"))
    (mlruns / "1" / GOOD / "meta.yaml").write_text(
        (mlruns / "1" / GOOD / "meta.yaml").read_text().replace("experiment_id: '1'",
                                                                "experiment_id: ../../e"))
    before = _files(tmp_path, deep)
    summary = _import(mlruns, deep)
    assert _files(tmp_path, deep) == before
    new_id = summary.experiment_ids["../../e"]
    assert new_id != "../../e"
    assert "/" not in new_id
    assert tb.Client().get_run(GOOD).info.experiment_id == new_id


def test_artifact_symlinks_and_special_files(tmp_path: Path, deep: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("do not copy")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "s.txt").write_text("do not copy")
    mlruns = _file_store(tmp_path, [])
    art = mlruns / "1" / GOOD / "artifacts"
    (art / "in.txt").symlink_to(art / "f.txt")
    (art / "out.txt").symlink_to(secret)
    (art / "outdir").symlink_to(tmp_path / "outside")
    (art / "sub").mkdir()
    (art / "sub" / "loop").symlink_to(art)
    (art / "dangling").symlink_to(tmp_path / "nope")
    os.mkfifo(art / "fifo")  # copying it would block forever
    summary = _import(mlruns, deep)
    root = tb.Client().store.artifact_root(GOOD)
    assert (root / "f.txt").read_text() == "payload"
    assert (root / "in.txt").read_text() == "payload"
    assert not (root / "in.txt").is_symlink()
    for name in ("out.txt", "outdir", "sub/loop", "dangling", "fifo"):
        assert not (root / name).exists(), name
    assert not [p for p in deep.rglob("*") if p.is_file() and p.read_bytes() == b"do not copy"]
    skipped = _skips(summary, "artifact files")
    assert {f"{GOOD}/{n}" for n in ("out.txt", "outdir", "sub/loop", "dangling",
                                     "fifo")} <= set(skipped), summary
    assert "outside" in skipped[f"{GOOD}/out.txt"]


@pytest.mark.parametrize("uri", ["mlflow-artifacts:/../../outside", "OUTSIDE"])
def test_an_artifact_location_outside_is_not_read(uri: str, tmp_path: Path,
                                                 deep: Path) -> None:
    db, artifacts = _sqlite_copy(tmp_path)
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "s.txt").write_text("do not copy")
    with sqlite3.connect(db) as con:
        run = _run_ids(con)[0]
        uri = str(tmp_path / "outside") if uri == "OUTSIDE" else uri
        con.execute("UPDATE runs SET artifact_uri = ? WHERE run_uuid = ?", (uri, run))
    shutil.rmtree(artifacts / "1" / run, ignore_errors=True)
    summary = _import(db, deep, artifacts=artifacts)
    assert not list(deep.rglob("s.txt"))
    assert run in _skips(summary, "artifact files")


def _truth_points() -> dict[str, int]:
    import json

    truth = json.loads((FIXTURES / "sqlite-base.json").read_text())
    return {r["run_id"]: sum(len(p) for p in r["metrics"].values()) for r in truth["runs"]}


def _assert_visible_runs_whole() -> None:
    """Every run the store shows has all its metric points (no half run)."""
    want = _truth_points()
    got = dict(tb.sql("SELECT run_id, count(*) AS n FROM metrics GROUP BY run_id").values)
    for run_id in _visible_runs():
        assert got.get(run_id, 0) == want[run_id], run_id


def _cli(path: Path, store: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "trackbook", "import-mlflow", str(path),
                           "--store", str(store), "--quiet", *extra],
                          capture_output=True, text=True, timeout=300)


# Pages 62, 128 and 236 of the fixture database: damage that only a read part way through
# the import meets (on the code before this test, a raw sqlite3.DatabaseError).
@pytest.mark.parametrize("damage", ["random", "truncated", "page62", "page128", "page236"])
def test_a_damaged_sqlite_file_is_a_clear_error(damage: str, tmp_path: Path,
                                               deep: Path) -> None:
    import random

    db, artifacts = _sqlite_copy(tmp_path)
    data = db.read_bytes()
    if damage == "random":
        db.write_bytes(os.urandom(len(data)))
    elif damage == "truncated":
        db.write_bytes(data[:len(data) // 2])
    else:
        page = int(damage[4:])
        noise = random.Random(page).randbytes(4096)
        db.write_bytes(data[:page * 4096] + noise + data[(page + 1) * 4096:])
    with pytest.raises(MlflowImportError, match=f"{db.name} is (damaged|not an SQLite)"):
        _import(db, deep, artifacts=artifacts)
    _assert_visible_runs_whole()
    proc = _cli(db, deep, "--artifacts", str(artifacts))
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 2, proc.stderr
    assert db.name in proc.stderr


def _file_fixture(tmp_path: Path) -> Path:
    mlruns = tmp_path / "mlruns"
    shutil.copytree(FIXTURES / "file-base" / "mlruns", mlruns)
    return mlruns


def _experiment_dir(mlruns: Path) -> Path:
    return max((p for p in mlruns.iterdir() if (p / "meta.yaml").is_file()),
               key=lambda p: len(list(p.iterdir())))


def test_a_missing_experiment_meta_yaml_lists_its_runs(tmp_path: Path, deep: Path) -> None:
    mlruns = _file_fixture(tmp_path)
    exp = _experiment_dir(mlruns)
    runs = {r.name for r in exp.iterdir() if (r / "meta.yaml").is_file() and r.name != "models"}
    (exp / "meta.yaml").unlink()
    summary = _import(mlruns, deep)
    assert exp.name in _skips(summary, "experiments")
    skipped = _skips(summary, "runs")
    assert runs <= set(skipped), summary
    assert all("meta.yaml is missing" in skipped[r] for r in runs)
    assert f"runs ({len(runs)}" in str(summary)
    # only Default's run is left: the CLI says so and succeeds; with nothing left, exit 1
    assert _cli(mlruns, tmp_path / "s2").returncode == 0
    for other in ("0", ".trash", "models"):
        shutil.rmtree(mlruns / other)  # the registry would be imported on its own
    proc = _cli(mlruns, tmp_path / "s3")
    assert proc.returncode == 1, proc.stderr
    assert "meta.yaml is missing" in proc.stdout


def test_a_truncated_mlruns_tree_skips_what_is_damaged(tmp_path: Path, deep: Path) -> None:
    mlruns = _file_fixture(tmp_path)
    exp = _experiment_dir(mlruns)
    runs = sorted(r for r in exp.iterdir() if (r / "meta.yaml").is_file() and r.name != "models")
    torn, garbage = [r for r in runs if (r / "metrics").is_dir()][:2]
    bad_yaml, empty_yaml, no_meta = [r for r in runs if r not in (torn, garbage)][:3]
    (bad_yaml / "meta.yaml").write_text("run_id: [unclosed\n  status: 3")
    (empty_yaml / "meta.yaml").write_bytes(b"")
    metric = sorted((torn / "metrics").iterdir())[0]
    metric.write_bytes(metric.read_bytes() + b"1700000099999 0.")  # cut mid-line
    other = sorted((garbage / "metrics").iterdir())[0]
    other.write_bytes(b"not a metric line at all\n" + other.read_bytes())
    (no_meta / "meta.yaml").unlink()
    summary = _import(mlruns, deep)
    skipped = _skips(summary, "runs")
    assert "not valid YAML" in skipped[bad_yaml.name]
    assert "YAML mapping" in skipped[empty_yaml.name]
    assert "meta.yaml is missing" in skipped[no_meta.name]
    points = _skips(summary, "metric points")
    assert any("no newline" in why for why in points.values()), summary
    assert any("not 'timestamp value step'" in why for why in points.values()), summary
    visible = _visible_runs()
    assert torn.name in visible
    assert garbage.name in visible
    history = tb.Client().get_metric_history(torn.name, metric.name)
    assert 1700000099999 not in [m.timestamp for m in history]
    assert metric.name not in tb.Client().get_run(garbage.name).data.metrics
    again = _import(mlruns, deep)
    assert sum(again.imported.values()) == 0, again


def test_a_failed_artifact_copy_hides_the_run_until_a_second_import(
        tmp_path: Path, deep: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from trackbook.importers import _copy

    db, artifacts = _sqlite_copy(tmp_path)
    victim = next(p for p in artifacts.rglob("data.json"))
    run_id = victim.relative_to(artifacts).parts[1]
    real = _copy.durable.copy_file

    def failing(src: Any, dest: Any, **kw: Any) -> None:
        if Path(src).name == "data.json":
            raise OSError(errno.EIO, "injected read error", str(src))
        real(src, dest, **kw)

    monkeypatch.setattr(_copy.durable, "copy_file", failing)
    first = _import(db, deep, artifacts=artifacts)
    assert run_id in _skips(first, "runs"), first
    assert run_id not in _visible_runs()
    _assert_visible_runs_whole()
    monkeypatch.setattr(_copy.durable, "copy_file", real)
    second = _import(db, deep, artifacts=artifacts)
    assert second.imported["runs"] == 1
    assert second.skipped == []
    assert run_id in _visible_runs()
    _assert_visible_runs_whole()
    assert (tb.Client().store.artifact_root(run_id) / victim.relative_to(
        artifacts / "1" / run_id / "artifacts")).read_bytes() == victim.read_bytes()
    third = _import(db, deep, artifacts=artifacts)
    assert sum(third.imported.values()) == 0, third


def test_a_failed_chunk_write_shows_no_run_of_its_batch(
        tmp_path: Path, deep: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from trackbook.store import metrics

    db, artifacts = _sqlite_copy(tmp_path)
    real = metrics.write_chunk
    calls = []

    def full(directory: Any, name: str, table: Any) -> Any:
        calls.append(name)
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(directory, name, table)

    monkeypatch.setattr(metrics, "write_chunk", full)
    with pytest.raises(DiskWriteError, match="No space left"):
        _import(db, deep, artifacts=artifacts)
    assert _visible_runs() == set()
    assert not list(deep.rglob("*.parquet"))  # the batch's chunks were removed
    monkeypatch.setattr(metrics, "write_chunk", real)
    summary = _import(db, deep, artifacts=artifacts)
    assert summary.imported["runs"] == len(_truth_points())
    _assert_visible_runs_whole()
    total = sum(_truth_points().values())
    assert tb.sql("SELECT count(*) AS n FROM metrics")["n"].iloc[0] == total


def test_a_full_disk_mid_import_leaves_no_half_run(tmp_path: Path, tmpfs: Any) -> None:
    """A real full disk (a tmpfs): the artifact copy fails, the import stops with a
    DiskWriteError, no run of the batch shows and no temp file is left; with space back,
    the same import completes."""
    mnt = tmpfs(tmp_path / "mnt", "24m")
    mlruns = _file_fixture(tmp_path)
    run = next(p for p in mlruns.rglob("artifacts") if p.parent.parent.name != "models"
               and (p.parent / "meta.yaml").is_file())
    (run / "big.bin").write_bytes(os.urandom(6 << 20))
    store = mnt / "store"
    tb.set_tracking_uri(store)
    tb.search_runs()  # the store and its catalog exist
    free = shutil.disk_usage(mnt).free
    filler = mnt / "filler"
    filler.write_bytes(b"\0" * (free - (3 << 20)))
    with pytest.raises(TrackbookError) as info:
        _import(mlruns, store)
    assert isinstance(info.value, DiskWriteError), info.value
    filler.unlink()
    assert _visible_runs() == set()
    assert not list(store.rglob("*.tmp"))
    summary = _import(mlruns, store)
    assert summary.skipped == []
    assert (tb.Client().store.artifact_root(run.parent.name) / "big.bin").stat().st_size \
        == 6 << 20
    assert len(_visible_runs()) == summary.imported["runs"] > 0
