"""The catalog file is attached to one in-memory DuckDB per process for the length of a
turn (store/catalog.py): nested turns share the attachment, the file's lock is held
during a turn and released after it, and the read-only connection cannot write."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from trackbook.store import catalog as catalog_mod
from trackbook.store.store import Store

OPEN_ELSEWHERE = """
import sys, duckdb
try:
    con = duckdb.connect(sys.argv[1])
    print(con.execute("SELECT count(*) FROM runs").fetchone()[0])
except duckdb.Error as exc:
    print("locked" if "lock" in str(exc).lower() else f"error: {exc}")
"""


def open_elsewhere(path: Path) -> str:
    return subprocess.run([sys.executable, "-c", OPEN_ELSEWHERE, str(path)], check=True,
                          capture_output=True, text=True).stdout.strip()


WRITE = """
import sys, trackbook as tb
tb.set_tracking_uri(sys.argv[1]); tb.set_experiment("attach")
for i in range(3):
    with tb.start_run(run_name=f"r{i}"):
        tb.log_metric("m", i)
"""


@pytest.fixture
def store(tmp_path: Path) -> Store:
    subprocess.run([sys.executable, "-c", WRITE, str(tmp_path / "store")], check=True)
    return Store(tmp_path / "store")


def test_nested_turns_share_one_attachment_and_the_file_is_free_after(store: Store) -> None:
    catalog = store.catalog
    with catalog.connect() as outer:
        with catalog.connect() as inner:
            assert inner.execute("SELECT count(*) FROM runs").fetchone() == (3,)
            assert catalog_mod._attached == {catalog.alias: 2}
        assert outer.execute("SELECT count(*) FROM runs").fetchone() == (3,)
        assert open_elsewhere(store.layout.catalog_file) == "locked"  # our turn
    assert catalog.alias not in catalog_mod._attached
    assert open_elsewhere(store.layout.catalog_file) == "3"  # detached: lock released


def test_read_only_connection_cannot_write(store: Store) -> None:
    with store.catalog.connect(read_only=True) as con:
        assert con.execute("SELECT count(*) FROM runs").fetchone() == (3,)
        with pytest.raises(duckdb.Error, match=r"read-only|read only"):
            con.execute("DELETE FROM runs")
    with store.catalog.connect() as con:
        assert con.execute("SELECT count(*) FROM runs").fetchone() == (3,)


def test_a_shared_connection_reads_the_catalog(store: Store) -> None:
    with store.catalog.connect() as con:
        other = store.catalog.share(con)
        try:
            assert other.execute("SELECT count(*) FROM runs").fetchone() == (3,)
        finally:
            other.close()
