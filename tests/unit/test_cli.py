"""The ``trackbook`` command line, run for real in subprocesses against a temp store."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from trackbook import Client
from trackbook._version import __version__

ENTRY_POINT = Path(sys.executable).with_name("trackbook")
RUNS = {  # name: (experiment, params, metric history of "loss", final "acc")
    "alpha": ("mnist", {"lr": 0.1, "model": "cnn"}, [1.0, 0.5, 0.25], 0.91),
    "beta": ("mnist", {"lr": 0.01, "model": "mlp"}, [2.0, 1.5], 0.82),
    "gamma": ("cifar", {"lr": 0.001, "model": "cnn"}, [3.0], 0.55),
}


def trackbook(*args: str, columns: int | None = 250, cwd: Path | None = None,
              env: dict[str, str] | None = None, entry_point: bool = False
              ) -> subprocess.CompletedProcess[str]:
    """Run the CLI in a fresh process (``python -m trackbook`` or the installed script)."""
    full_env = {k: v for k, v in os.environ.items()
                if k not in ("TRACKBOOK_STORE", "COLUMNS", "LINES")}
    if columns is not None:
        full_env["COLUMNS"] = str(columns)
    full_env.update(env or {})
    cmd = [str(ENTRY_POINT)] if entry_point else [sys.executable, "-m", "trackbook"]
    return subprocess.run([*cmd, *args], capture_output=True, text=True, cwd=cwd,
                          env=full_env, timeout=120, check=False)


def log_runs(store: Path, runs: dict[str, tuple[str, dict[str, object], list[float], float]]
             ) -> dict[str, str]:
    """Log finished runs through the real API; return {run name: run id}."""
    client = Client(str(store))
    exps: dict[str, str] = {}
    ids = {}
    for name, (exp, params, losses, acc) in runs.items():
        if exp not in exps:
            found = client.get_experiment_by_name(exp)
            exps[exp] = found.experiment_id if found else client.create_experiment(exp)
        run = client.create_run(exps[exp], run_name=name)
        run_id = run.info.run_id
        for key, value in params.items():
            client.log_param(run_id, key, value)
        for step, loss in enumerate(losses):
            client.log_metric(run_id, "loss", loss, step=step)
        client.log_metric(run_id, "acc", acc)
        client.log_text(run_id, "x" * 5000, "notes/big.txt")
        client.set_terminated(run_id)
        ids[name] = run_id
    return ids


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A read-only store shared by the listing tests."""
    path = tmp_path_factory.mktemp("cli") / "store"
    return path, log_runs(path, RUNS)


@pytest.fixture
def gc_store(tmp_path: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    """A store with two active runs, one deleted finished run and one deleted RUNNING run."""
    path = tmp_path / "store"
    ids = log_runs(path, RUNS)
    client = Client(str(path))
    client.delete_run(ids["beta"])
    exp = client.get_experiment_by_name("mnist")
    assert exp is not None
    live = client.create_run(exp.experiment_id, run_name="live").info.run_id
    client.log_metric(live, "loss", 1.0)
    client.store.session.flush_all()  # its folder exists once something is on disk
    client.delete_run(live)
    ids["live"] = live
    yield path, ids
    client.set_terminated(live)


def table_rows(stdout: str) -> list[str]:
    """The data lines of a runs table (after the group and header lines)."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("RUN")) + 1
    return [line for line in lines[start:] if not line.startswith("…")]


def runs_json(store: Path, *args: str) -> list[dict[str, object]]:
    out = trackbook("runs", "--store", str(store), "--format", "json", *args)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


# -- version and entry points --------------------------------------------------------------

def test_version_from_module_and_entry_point() -> None:
    out = trackbook("--version")
    assert (out.returncode, out.stdout, out.stderr) == (0, f"trackbook {__version__}\n", "")
    if not ENTRY_POINT.exists():
        pytest.skip(f"no installed entry point next to {sys.executable}")
    script = trackbook("--version", entry_point=True)
    assert (script.returncode, script.stdout) == (0, out.stdout)


def test_version_does_not_import_heavy_modules() -> None:
    code = ("import sys; from trackbook.cli import main\n"
            "try:\n    main(['--version'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('pandas', 'duckdb', 'pyarrow') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip().endswith("[]")


def test_entry_point_lists_runs(store: tuple[Path, dict[str, str]]) -> None:
    if not ENTRY_POINT.exists():
        pytest.skip(f"no installed entry point next to {sys.executable}")
    path, _ = store
    script = trackbook("runs", "--store", str(path), entry_point=True)
    module = trackbook("runs", "--store", str(path))
    assert script.returncode == 0, script.stderr
    assert table_rows(script.stdout)[0].split()[1] == table_rows(module.stdout)[0].split()[1]


# -- runs ----------------------------------------------------------------------------------

def test_runs_table_shows_names_metrics_and_params(store: tuple[Path, dict[str, str]]) -> None:
    path, ids = store
    out = trackbook("runs", "--store", str(path))
    assert out.returncode == 0, out.stderr
    rows = table_rows(out.stdout)
    assert [r.split()[1] for r in rows] == ["gamma", "beta", "alpha"]  # newest first
    alpha = rows[2]
    assert alpha.split()[0] == ids["alpha"][:8]
    for text in ("mnist", "FINISHED", "0.91", "0.25", "cnn", "0.1"):
        assert text in alpha.split()
    header = out.stdout.splitlines()
    assert "metrics" in header[0]
    assert "params" in header[0]
    assert header[1].split()[:3] == ["RUN", "NAME", "EXPERIMENT"]


@pytest.mark.slow
def test_runs_filter_experiment_and_order(store: tuple[Path, dict[str, str]]) -> None:
    path, _ = store
    out = trackbook("runs", "--store", str(path), "-f", "metrics.acc > 0.8 and "
                    "params.model = 'cnn'")
    assert [r.split()[1] for r in table_rows(out.stdout)] == ["alpha"]
    out = trackbook("runs", "--store", str(path), "-e", "mnist", "-o", "metrics.acc", "ASC")
    assert [r.split()[1] for r in table_rows(out.stdout)] == ["beta", "alpha"]
    out = trackbook("runs", "--store", str(path), "-f", "metrics.acc > 5")
    assert (out.returncode, out.stdout.strip()) == (0, "No runs match.")


def test_bad_filter_exits_2_with_caret(store: tuple[Path, dict[str, str]]) -> None:
    path, _ = store
    out = trackbook("runs", "--store", str(path), "-f", "metrics.acc >> 1")
    assert out.returncode == 2
    assert out.stdout == ""
    assert out.stderr.startswith("trackbook: error: ")
    assert "Traceback" not in out.stderr
    text_line, caret_line = out.stderr.rstrip("\n").splitlines()[-2:]
    assert text_line.strip() == "metrics.acc >> 1"
    assert caret_line.strip() == "^"
    assert text_line[caret_line.index("^")] == ">"  # points into the filter text


@pytest.mark.parametrize(("args", "message"), [
    (["-e", "no-such-experiment"], "no experiment named"),
    (["--columns", "bogus"], "unknown column 'bogus'"),
    (["-o", "metrics.acc", "sideways"], "unknown attribute"),
])
def test_usage_errors_exit_2(store: tuple[Path, dict[str, str]], args: list[str],
                             message: str) -> None:
    out = trackbook("runs", "--store", str(store[0]), *args)
    assert out.returncode == 2
    assert message in out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.slow
def test_csv_and_json_parse(store: tuple[Path, dict[str, str]]) -> None:
    path, ids = store
    records = runs_json(path)
    assert {r["run_name"]: r["run_id"] for r in records} == ids
    alpha = next(r for r in records if r["run_name"] == "alpha")
    assert (alpha["metrics.acc"], alpha["metrics.loss"], alpha["params.lr"]) == (0.91, 0.25,
                                                                                 "0.1")
    out = trackbook("runs", "--store", str(path), "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    assert [r["run_id"] for r in rows] == [r["run_id"] for r in records]
    assert {r["run_name"]: float(r["metrics.acc"]) for r in rows} == {
        n: RUNS[n][3] for n in RUNS}
    picked = runs_json(path, "--columns", "name,acc", "params.model", "duration")
    assert list(picked[0]) == ["run_name", "metrics.acc", "params.model", "duration"]


def test_max_rows_footer(store: tuple[Path, dict[str, str]]) -> None:
    path, _ = store
    out = trackbook("runs", "--store", str(path), "-n", "1")
    assert len(table_rows(out.stdout)) == 1
    assert "… 2 more runs not shown" in out.stdout
    out = trackbook("runs", "--store", str(path), "-n", "2", "--format", "json")
    assert len(json.loads(out.stdout)) == 2
    assert "1 more run not shown" in out.stderr


def test_table_fits_terminal_width(store: tuple[Path, dict[str, str]]) -> None:
    out = trackbook("runs", "--store", str(store[0]), columns=60)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert all(len(line) <= 60 for line in lines if not line.startswith("…"))
    assert "columns did not fit" in out.stdout


# -- experiments, store resolution ---------------------------------------------------------

def test_experiments_table(store: tuple[Path, dict[str, str]]) -> None:
    out = trackbook("experiments", "--store", str(store[0]))
    assert out.returncode == 0, out.stderr
    rows = {line.split()[1]: line.split() for line in out.stdout.splitlines()[1:]}
    assert rows["mnist"][2:5] == ["2", "0", "active"]
    assert rows["cifar"][2:5] == ["1", "0", "active"]


def test_store_from_environment(store: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    out = trackbook("experiments", cwd=tmp_path, env={"TRACKBOOK_STORE": str(store[0])})
    assert out.returncode == 0
    assert "mnist" in out.stdout


@pytest.mark.parametrize("command", ["runs", "experiments", "reindex", "gc"])
def test_missing_store_is_an_error_not_a_new_store(tmp_path: Path, command: str) -> None:
    out = trackbook(command, cwd=tmp_path)  # default: ./trackbook-store
    assert out.returncode == 1
    assert out.stderr.startswith("trackbook: error: store ")
    assert "does not exist" in out.stderr
    assert "Traceback" not in out.stderr
    assert not (tmp_path / "trackbook-store").exists()


# -- reindex -------------------------------------------------------------------------------

def test_reindex_after_deleting_catalog_gives_identical_results(tmp_path: Path) -> None:
    path = tmp_path / "store"
    log_runs(path, RUNS)
    Client(str(path)).delete_run(log_runs(path, {"delta": ("cifar", {}, [1.0], 0.1)})["delta"])
    before = runs_json(path, "--view", "all", "-n", "0")
    (path / "catalog.duckdb").unlink()
    out = trackbook("reindex", "--store", str(path))
    assert out.returncode == 0, out.stderr
    assert "2 experiments, 4 runs (1 deleted), 2 metric keys" in out.stdout
    assert re.search(r" in \d+\.\d\ds: ", out.stdout), out.stdout
    assert runs_json(path, "--view", "all", "-n", "0") == before


# -- gc ------------------------------------------------------------------------------------

def test_gc_dry_run_deletes_nothing(gc_store: tuple[Path, dict[str, str]]) -> None:
    path, ids = gc_store
    logs = sorted((path / "log").iterdir())
    # A run folder appears with the run's first files (the live run's metrics are flushed
    # in the background), so compare the folders before and after rather than expect all.
    folders = sorted(p.name for p in (path / "runs").iterdir())
    assert ids["beta"] in folders
    out = trackbook("gc", "--store", str(path), "--dry-run")
    assert out.returncode == 0, out.stderr
    assert f"would delete run {ids['beta']}" in out.stdout
    assert "nothing was changed" in out.stdout
    assert set(folders) <= {p.name for p in (path / "runs").iterdir()}
    assert sorted((path / "log").iterdir()) == logs  # the gc process wrote no log
    assert not any('"purge"' in f.read_text() for f in logs)
    deleted = {r["run_name"] for r in runs_json(path, "--view", "deleted")}
    assert deleted == {"beta", "live"}


@pytest.mark.slow
def test_gc_removes_deleted_run_for_good(gc_store: tuple[Path, dict[str, str]]) -> None:
    path, ids = gc_store
    out = trackbook("gc", "--store", str(path))
    assert out.returncode == 0, out.stderr
    assert f"deleted run {ids['beta']} 'beta' (FINISHED): " in out.stdout
    assert "Deleted 1 run, freed " in out.stdout
    assert " kB" in out.stdout
    assert not (path / "runs" / ids["beta"]).exists()
    # Nothing else goes: active runs and the RUNNING deleted run keep their files.
    for name in ("alpha", "gamma", "live"):
        assert (path / "runs" / ids[name]).is_dir()
    assert f"not deleting run {ids['live']} 'live': it is still RUNNING" in out.stderr
    purges = [json.loads(line.rpartition("\t")[0] or line) for f in (path / "log").iterdir()
              for line in f.read_text().splitlines() if '"purge"' in line]
    assert [(p["op"], p["run"]) for p in purges] == [("purge", ids["beta"])]
    assert isinstance(purges[0]["t"], int)

    def names() -> set[object]:
        return {r["run_name"] for r in runs_json(path, "--view", "all", "-n", "0")}

    assert names() == {"alpha", "gamma", "live"}
    assert trackbook("reindex", "--store", str(path)).returncode == 0
    assert names() == {"alpha", "gamma", "live"}  # the purge survives a rebuild
    (path / "catalog.duckdb").unlink()
    assert names() == {"alpha", "gamma", "live"}  # and a lazy rebuild by any reader
    again = trackbook("gc", "--store", str(path))
    assert again.returncode == 0
    assert "deleted run" not in again.stdout
    assert not (path / "runs" / ids["beta"]).exists()
    out = trackbook("experiments", "--store", str(path))
    mnist = next(line.split() for line in out.stdout.splitlines() if " mnist " in line)
    assert mnist[2:4] == ["1", "1"]  # alpha active; live still deleted (kept)


def test_gc_older_than_keeps_recent_deletions(gc_store: tuple[Path, dict[str, str]]) -> None:
    path, ids = gc_store
    out = trackbook("gc", "--store", str(path), "--older-than", "1")
    assert out.returncode == 0, out.stderr
    assert f"kept run {ids['beta']} 'beta': it was deleted less than 1 days ago" in out.stdout
    assert (path / "runs" / ids["beta"]).is_dir()
    out = trackbook("gc", "--store", str(path), "--older-than", "0")
    assert f"deleted run {ids['beta']}" in out.stdout
    assert not (path / "runs" / ids["beta"]).exists()


def test_gc_with_nothing_deleted(store: tuple[Path, dict[str, str]]) -> None:
    out = trackbook("gc", "--store", str(store[0]), "--dry-run")
    assert out.returncode == 0
    assert "0 runs" in out.stdout
