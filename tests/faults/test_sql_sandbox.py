"""``tb.sql`` as a hostile user would call it: it only reads, and only the store.

Every refused statement raises ``SqlNotAllowedError`` naming what was refused and the
opt-in (``unsafe=True``); afterwards the next ``tb.sql`` and ``search_runs`` see the same
store with the same settings, and nothing was written. A slow query in one process never
holds the catalog against another process's ``search_runs``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import trackbook as tb
from trackbook import SqlNotAllowedError

RUNS = 3
STEPS = 5


@pytest.fixture
def logged(store: Path) -> Path:
    for i in range(RUNS):
        with tb.start_run(run_name=f"r{i}"):
            tb.log_param("p", str(i))
            for step in range(STEPS):
                tb.log_metric("loss", 1.0 / (step + 1), step=step)
    return store


def _outside(tmp_path: Path) -> Path:
    """A Parquet file next to the store, not in it."""
    path = tmp_path / "outside.parquet"
    pq.write_table(pa.table({"secret": [42]}), path)
    return path


def _settings() -> dict[str, str]:
    frame = tb.sql("SELECT name, value FROM duckdb_settings()")
    return dict(zip(frame["name"], frame["value"], strict=True))


def _host_state() -> tuple[list[str], dict[str, str]]:
    """Databases attached to, and the settings of, the DuckDB trackbook itself uses (but
    the catalogs, which it attaches while it reads them)."""
    from trackbook.store import catalog

    host = catalog._host().cursor()  # the host may be busy in a replica's build
    return ([r[0] for r in host.execute("SELECT database_name FROM duckdb_databases() "
                                        "WHERE database_name NOT LIKE 'tb_catalog_%'").fetchall()],
            dict(host.execute("SELECT name, value FROM duckdb_settings()").fetchall()))


def _written(tmp_path: Path, store: Path) -> list[Path]:
    """Files a query could write: outside the store, and among the runs' files."""
    return sorted(p for p in tmp_path.rglob("*") if p.is_file() and (
        store not in p.parents or (store / "runs") in p.parents))


def _assert_unaffected(before: dict[str, str]) -> None:
    assert tb.sql("SELECT count(*) AS n FROM runs")["n"][0] == RUNS
    assert tb.sql("SELECT count(*) AS n FROM metrics")["n"][0] == RUNS * STEPS
    assert len(tb.search_runs()) == RUNS
    assert _settings() == before


HOSTILE = {
    "read_csv outside": "SELECT * FROM read_csv('/etc/passwd')",
    "read_text outside": "SELECT * FROM read_text('/etc/hostname')",
    "read_parquet outside": "SELECT * FROM read_parquet('{outside}')",
    "read_parquet escaping": "SELECT * FROM read_parquet('{store}/runs/../../outside.parquet')",
    "read_blob catalog": "SELECT * FROM read_blob('{store}/catalog.duckdb')",
    "glob": "SELECT * FROM glob('/etc/*')",
    "copy to": "COPY runs TO '{tmp}/copied.csv'",
    "copy into store": "COPY runs TO '{store}/runs/copied.csv'",
    "copy from": "COPY runs FROM '{outside}'",
    "explain analyze copy": "EXPLAIN ANALYZE COPY runs TO '{store}/runs/copied.csv'",
    "explain (analyze) copy": "EXPLAIN (ANALYZE) COPY (SELECT 1) TO '{store}/runs/copied.csv'",
    "export": "EXPORT DATABASE '{tmp}/exported'",
    "attach file": "ATTACH '{tmp}/attached.duckdb' AS a",
    "attach memory": "ATTACH ':memory:' AS a",
    "detach": "DETACH memory",
    "install": "INSTALL httpfs",
    "load": "LOAD httpfs",
    "set": "SET threads = 1",
    "set global": "SET GLOBAL disabled_optimizers = ''",
    "pragma": "PRAGMA threads = 1",
    "set variable": "SET VARIABLE x = 1",
    "reset": "RESET threads",
    "re-enable external access": "SET enable_external_access = true",
    "reset external access": "RESET enable_external_access",
    "unlock": "SET lock_configuration = false",
    "pragma external access": "PRAGMA enable_external_access = true",
    "use": "USE system",
    "create table": "CREATE TABLE runs2 AS SELECT * FROM runs",
    "create temp table": "CREATE TEMP TABLE t AS SELECT 1",
    "create macro": "CREATE MACRO m(a) AS a",
    "insert into catalog": "INSERT INTO runs (run_id) VALUES ('x')",
    "delete from catalog": "DELETE FROM runs",
    "update catalog": "UPDATE params SET value = 'x'",
    "drop catalog view": "DROP VIEW runs",
    "second statement": "SELECT 1; SET threads = 1",
    "transaction": "BEGIN TRANSACTION",
    "checkpoint": "CHECKPOINT",
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_refused_with_clear_error_and_nothing_changes(name: str, logged: Path,
                                                      tmp_path: Path) -> None:
    outside = _outside(tmp_path)
    text = HOSTILE[name].format(store=logged, tmp=tmp_path, outside=outside)
    before, host_before = _settings(), _host_state()
    before_files = _written(tmp_path, logged)
    with pytest.raises(SqlNotAllowedError, match="unsafe=True") as caught:
        tb.sql(text)
    assert "tb.sql refused" in str(caught.value)
    assert isinstance(caught.value, tb.TrackbookError)
    _assert_unaffected(before)
    assert _host_state() == host_before
    assert _written(tmp_path, logged) == before_files


def test_sandbox_settings_are_locked(logged: Path) -> None:
    settings = _settings()
    assert settings["enable_external_access"] == "false"
    assert settings["lock_configuration"] == "true"
    assert settings["autoload_known_extensions"] == "false"
    assert settings["autoinstall_known_extensions"] == "false"
    # DuckDB adds its own spill folder (temp_directory) to the list.
    allowed = settings["allowed_directories"].strip("[]").split(", ")
    assert f"{logged / 'runs'}{os.sep}" in allowed


READS = [
    "SELECT r.run_name, min(m.value) AS best FROM metrics m JOIN runs r USING (run_id) "
    "GROUP BY ALL ORDER BY ALL",
    "WITH x AS (SELECT * FROM params) SELECT count(*) FROM x",
    "FROM latest_metrics",
    "DESCRIBE runs",
    "SUMMARIZE params",
    "EXPLAIN SELECT * FROM metrics",
    "EXPLAIN ANALYZE SELECT count(*) FROM metrics",
    "PIVOT params ON key USING first(value)",
    "SELECT 1; SELECT count(*) FROM runs",
]


@pytest.mark.parametrize("text", READS)
def test_reading_statements_still_run(text: str, logged: Path) -> None:
    tb.sql(text)


def test_reads_the_stores_own_metric_files(logged: Path) -> None:
    files = tb.sql("SELECT run_id, file FROM metric_files")
    paths = [str(logged / "runs" / r / f) for r, f in zip(files["run_id"], files["file"],
                                                          strict=True)]
    n = tb.sql("SELECT count(*) AS n FROM read_parquet(?)", [paths])["n"][0]
    assert n == RUNS * STEPS


def test_unsafe_opts_in_to_full_duckdb_on_a_connection_of_its_own(logged: Path,
                                                                   tmp_path: Path) -> None:
    outside = _outside(tmp_path)
    before, host_before = _settings(), _host_state()
    assert tb.sql(f"SELECT secret FROM read_parquet('{outside}')", unsafe=True)["secret"][0] == 42
    target = tmp_path / "copied.csv"
    tb.sql(f"COPY (SELECT run_name FROM runs ORDER BY 1) TO '{target}'", unsafe=True)
    assert target.read_text().split() == ["run_name", "r0", "r1", "r2"]
    default = tb.sql("SELECT current_setting('threads') AS t", unsafe=True)["t"][0]
    frame = tb.sql(f"ATTACH ':memory:' AS scratch; SET threads = {default + 1}; "
                   "CREATE TABLE scratch.t AS SELECT * FROM metrics; "
                   "SELECT current_setting('threads') AS t, count(*) AS n FROM scratch.t",
                   unsafe=True)
    assert (frame["t"][0], frame["n"][0]) == (default + 1, RUNS * STEPS)
    # Nothing of it outlives the call: not in the next unsafe call, the sandbox or trackbook's.
    again = tb.sql("SELECT current_setting('threads') AS t, "
                   "(SELECT count(*) FROM duckdb_databases() WHERE database_name = 'scratch') AS d",
                   unsafe=True)
    assert again["d"][0] == 0
    assert again["t"][0] == default
    _assert_unaffected(before)
    assert _host_state() == host_before


def test_unsafe_sees_the_catalog_as_read_only_copies(logged: Path) -> None:
    import duckdb

    with pytest.raises(duckdb.Error):
        tb.sql("DELETE FROM runs", unsafe=True)
    assert len(tb.search_runs()) == RUNS


SLOW_SQL = """
import json, sys, time
import trackbook as tb
q = "SELECT count(*) AS n FROM range(?) t(i), runs WHERE hash(i) % 7 = 3"
tb.sql(q, [1])  # the first call opens the catalog and the sandbox
n = 1_000_000
while True:  # calibrate on this machine: the query must take several seconds
    t0 = time.perf_counter()
    tb.sql(q, [n])
    took = time.perf_counter() - t0
    if took > 1.0:
        break
    n *= 4
n = int(n * 8.0 / took)
print(json.dumps({"start": time.time()}), flush=True)
t0 = time.perf_counter()
tb.sql(q, [n])
print(json.dumps({"end": time.time(), "took": time.perf_counter() - t0}), flush=True)
"""

SEARCH = """
import json, time
import duckdb, pandas, pyarrow  # imported before the clock: 2-3 s on a busy machine
import trackbook as tb
t0 = time.perf_counter()
n = len(tb.search_runs())
print(json.dumps({"n": n, "took": time.perf_counter() - t0, "end": time.time()}))
"""


def _python(code: str, store: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, TRACKBOOK_STORE=str(store)))


@pytest.mark.slow
def test_slow_sql_never_blocks_another_process(logged: Path) -> None:
    tb.flush()
    slow = _python(SLOW_SQL, logged)
    try:
        assert slow.stdout is not None
        line = slow.stdout.readline()
        assert line, slow.communicate(timeout=60)[1]
        time.sleep(0.5)  # the slow query has taken its snapshot and runs
        search = _python(SEARCH, logged)
        out, err = search.communicate(timeout=120)
        assert search.returncode == 0, err
        found = json.loads(out)
        done = json.loads(slow.stdout.readline() or "{}")
        assert slow.wait(timeout=120) == 0, slow.stderr.read() if slow.stderr else ""
    finally:
        if slow.poll() is None:
            slow.kill()
            slow.wait()
    assert found["n"] == RUNS
    assert done["took"] > 4, done  # it was slow...
    # ...and the other process's search finished well before it, without waiting for it.
    assert found["end"] < done["end"] - 2, (found, done)
