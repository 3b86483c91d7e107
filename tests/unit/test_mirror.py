"""The per-process in-memory replica of the catalog (store/mirror.py): when it is built,
that it follows other processes' writes, deletions and a rebuilt catalog file."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from trackbook.store.store import Store

LOG_RUN = """
import sys, trackbook as tb
tb.set_tracking_uri(sys.argv[1]); tb.set_experiment("mirror")
with tb.start_run(run_name=sys.argv[2]):
    tb.log_param("p", sys.argv[2])
    tb.log_metric("m", float(len(sys.argv[2])))
"""


def log_run(root: Path, name: str) -> None:
    subprocess.run([sys.executable, "-c", LOG_RUN, str(root), name], check=True)


def names(store: Store) -> set[str]:
    with store.connect() as con:
        return {r[0] for r in con.execute(
            "SELECT run_name FROM runs WHERE lifecycle_stage = 'active'").fetchall()}


def wait_for_replica(store: Store, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while store.mirror._con is None:
        if time.monotonic() > deadline:
            pytest.fail("the catalog replica was not built")
        time.sleep(0.05)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "store"
    log_run(root, "first")
    return root


def test_one_query_builds_no_replica_the_second_does(root: Path) -> None:
    store = Store(root)
    assert names(store) == {"first"}
    assert store.mirror._building is None  # a CLI call asks once: no copy
    assert names(store) == {"first"}
    wait_for_replica(store)
    store.mirror.close()


def test_replica_follows_other_processes_writes_and_deletions(root: Path) -> None:
    store = Store(root)
    names(store)
    names(store)
    wait_for_replica(store)
    replica = store.mirror._con
    log_run(root, "second")
    assert names(store) == {"first", "second"}
    assert store.mirror._con is replica  # folded in, not copied again
    with store.connect() as con:
        params = dict(con.execute("SELECT r.run_name, p.value FROM params p "
                                  "JOIN runs r USING (run_id)").fetchall())
    assert params == {"first": "first", "second": "second"}
    delete = ("import sys, trackbook as tb\ntb.set_tracking_uri(sys.argv[1])\n"
              "run = tb.search_runs(filter_string=\"attributes.run_name = 'first'\", "
              "search_all_experiments=True, output_format='list')[0]\n"
              "tb.delete_run(run.info.run_id)")
    subprocess.run([sys.executable, "-c", delete, str(root)], check=True)
    assert names(store) == {"second"}
    store.mirror.close()


def test_replica_is_dropped_when_the_catalog_file_is_rebuilt(root: Path) -> None:
    store = Store(root)
    names(store)
    names(store)
    wait_for_replica(store)
    replica = store.mirror._con
    out = subprocess.run([sys.executable, "-m", "trackbook", "reindex", "--store", str(root)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    log_run(root, "after-reindex")
    assert names(store) == {"first", "after-reindex"}
    assert store.mirror._con is not replica
    store.mirror.close()
