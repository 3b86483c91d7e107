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


def test_queries_while_the_replica_reads_the_file_borrow_its_connection(root: Path) -> None:
    """The build holds the catalog's turn while it reads the file (~0.4 s at 100k runs);
    a query meanwhile must neither wait for it nor miss what was logged since."""
    import threading

    store = Store(root)
    reading, release = threading.Event(), threading.Event()

    def hold_reading() -> None:  # called by the build between the tables it reads
        reading.set()
        assert release.wait(30)

    store.mirror._check_stop = hold_reading  # type: ignore[method-assign]
    names(store)
    names(store)  # the second query starts the build after itself
    assert reading.wait(30)
    log_run(root, "second")  # another process, while the build holds the turn
    got: list[set[str]] = []
    query = threading.Thread(target=lambda: got.append(names(store)))
    query.start()
    query.join(10)
    done = not query.is_alive()
    release.set()
    query.join()
    assert done, "the query waited for the replica's build"
    assert got == [{"first", "second"}]
    wait_for_replica(store)
    assert names(store) == {"first", "second"}  # the replica caught up from its snapshot
    with store.connect() as con:
        (n,) = con.execute("SELECT count(*) FROM runs").fetchone()  # type: ignore[misc]
    assert n == 2
    store.mirror.close()


def test_the_copy_waits_for_a_pause_in_the_queries(root: Path) -> None:
    """A fresh kernel's burst of queries (first page, first sorts) runs on the file at full
    speed; the copy starts once they pause for BUILD_AFTER_IDLE_SECONDS."""
    from trackbook.store import mirror as mirror_mod

    store = Store(root)
    gap = mirror_mod.BUILD_AFTER_IDLE_SECONDS / 10
    deadline = time.monotonic() + mirror_mod.BUILD_AT_LATEST_SECONDS * 0.5
    while time.monotonic() < deadline:
        assert names(store) == {"first"}
        assert not store.mirror._reading
        assert store.mirror._con is None
        time.sleep(gap)
    assert store.mirror._building is not None  # waiting for the pause
    wait_for_replica(store)
    store.mirror.close()


def test_queries_that_never_pause_get_the_copy_too(root: Path) -> None:
    from trackbook.store import mirror as mirror_mod

    store = Store(root)
    names(store)
    t0 = time.monotonic()
    while store.mirror._con is None:
        assert time.monotonic() - t0 < mirror_mod.BUILD_AT_LATEST_SECONDS + 20
        assert names(store) == {"first"}
        time.sleep(mirror_mod.BUILD_AFTER_IDLE_SECONDS / 10)
    assert time.monotonic() - t0 >= mirror_mod.BUILD_AT_LATEST_SECONDS * 0.9
    store.mirror.close()


def test_a_query_inside_a_turn_on_the_catalog_does_not_wait_for_the_build(root: Path) -> None:
    """A thread holding a catalog turn (``store.catalog.connect()``) that queries the store
    must not wait for a build that is waiting for that very turn."""
    import threading

    store = Store(root)
    names(store)
    names(store)  # the build starts, then waits for a pause in the queries
    got: list[set[str]] = []

    def query_inside_a_turn() -> None:
        with store.catalog.connect():
            deadline = time.monotonic() + 30
            while not store.mirror._reading:  # the build now waits for our turn
                assert time.monotonic() < deadline, "the build never started reading"
                time.sleep(0.01)
            got.append(names(store))

    worker = threading.Thread(target=query_inside_a_turn, daemon=True)
    worker.start()
    worker.join(20)
    assert not worker.is_alive(), "deadlock: the query waited for the build, the build for it"
    assert got == [{"first"}]
    wait_for_replica(store)
    assert names(store) == {"first"}
    store.mirror.close()
