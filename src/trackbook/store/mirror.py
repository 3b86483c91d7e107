"""An in-memory replica of the catalog inside each querying process.

Opening ``catalog.duckdb`` costs 15-25 ms and locks it against every other process. A
querying process instead copies the catalog once into an in-memory DuckDB and from then
on folds new log records into that copy itself (the same ``refresh`` that maintains the
file), so a warm query touches no shared file at all: it stats the logs, reads what is
new, and runs. The file catalog stays the shared, rebuildable index that new readers
copy from; it is refreshed whenever a replica is built.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import threading
import time
import weakref
from collections.abc import Iterator
from typing import TYPE_CHECKING

from .catalog import Catalog, holds_a_turn

log = logging.getLogger(__name__)

BUILD_AFTER_IDLE_SECONDS = 0.5
"""The replica is copied once this process's queries on the file pause this long..."""
BUILD_AT_LATEST_SECONDS = 2.0
"""...or, if they never pause, this long after the second query."""

if TYPE_CHECKING:
    import duckdb


class Mirror:
    """This process's replica of one store's catalog.

    The first query of a process runs on the shared file as before, and starts building
    the replica in a background thread (a copy takes seconds at 100k runs); queries use
    the replica once it is ready. While the build reads the file, queries share its
    connection (the build holds the catalog's turn then).
    """

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self._con: duckdb.DuckDBPyConnection | None = None
        self._pid = 0
        self._file_id: str | None = None
        self._lock = threading.RLock()
        self._building: threading.Thread | None = None
        self._queries = 0
        self._stop = False
        self._busy: duckdb.DuckDBPyConnection | None = None  # the builder's connection
        # While the build reads the shared file it holds the catalog's turn; queries of
        # this process meanwhile borrow its connection instead of waiting (~0.4 s at 100k
        # runs): they take turns refreshing, and the build waits for them before closing.
        self._disk: duckdb.DuckDBPyConnection | None = None
        self._reading = False  # from the build's start until it has read the file
        self._borrowers = 0
        self._returned = threading.Condition(self._lock)
        self._borrowing = threading.RLock()
        self._local = threading.local()
        self._last_query = 0.0
        _mirrors.add(self)

    def _current_file_id(self) -> str | None:
        """Changes whenever the file catalog is created anew (``trackbook reindex``)."""
        try:
            return self.catalog.layout.catalog_id_file.read_text()
        except FileNotFoundError:
            return None

    @contextlib.contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """An up-to-date catalog: the replica when ready, else the shared file."""
        with self._lock:
            ready = (self._con is not None and self._pid == os.getpid()  # not across fork
                     and self._file_id == self._current_file_id())  # not after a reindex
            if ready:
                try:
                    self.catalog.refresh_into(self._con)  # type: ignore[arg-type]
                except BaseException:
                    self.close()
                    raise
                yield self._con  # type: ignore[misc]
                return
            disk = self._borrowable()
            if disk is None:
                self.close()
                self._queries += 1
            else:
                self._borrowers += 1
        if disk is not None:
            try:
                with self._borrowing:
                    cur = self.catalog.share(disk)
                    try:
                        self.catalog.refresh_into(cur)
                        yield cur
                    finally:
                        cur.close()
            finally:
                with self._lock:
                    self._borrowers -= 1
                    self._returned.notify_all()
            return
        self._local.on_file = getattr(self._local, "on_file", 0) + 1
        try:
            with self.catalog.connect() as con:
                yield con
        finally:
            self._local.on_file -= 1
            self._last_query = time.monotonic()
            # After this query, not before: the copy takes the catalog's turn to read it,
            # and then the CPU; the query that asked should not wait for either.
            if self._queries >= 2:  # a one-query process (a CLI call) needs no replica
                self._start_build()

    def _borrowable(self) -> duckdb.DuckDBPyConnection | None:
        """The build's connection to the file while it reads it (waiting for the build to
        open it first); None outside that time, or in a forked child."""
        if getattr(self._local, "on_file", 0) or holds_a_turn():
            return None  # this thread holds a turn the build would wait for: use the file
        build = self._building
        while self._reading and self._disk is None and build is not None and build.is_alive():
            self._returned.wait(0.05)
        return self._disk if build is not None and build.is_alive() else None

    def _start_build(self) -> None:
        with self._lock:
            if self._building is not None and self._building.is_alive():
                return
            self._building = threading.Thread(target=self._build_quietly,
                                              name="trackbook-catalog-replica", daemon=True)
            self._building.start()

    def _build_quietly(self) -> None:
        # A fresh kernel's first queries come in a burst (a table's first page, its column
        # list, the first sorts): they run on the file at full speed, and the copy starts
        # once they pause, or after BUILD_AT_LATEST_SECONDS of queries without a pause
        # (a script querying in a loop gains more from the copy than it loses).
        latest = time.monotonic() + BUILD_AT_LATEST_SECONDS
        while (wait := min(self._last_query + BUILD_AFTER_IDLE_SECONDS, latest)
               - time.monotonic()) > 0:
            if self._stop:
                return
            time.sleep(min(wait, 0.05))
        with self._lock:
            self._reading = True
        try:
            con, file_id = self._build()
        except Exception as exc:  # the shared file keeps serving; try again next query
            log.debug("catalog replica not built: %s", exc)
            return
        finally:
            self._done_reading()
        with self._lock:
            self.close()
            self._con, self._file_id, self._pid = con, file_id, os.getpid()

    def _build(self) -> tuple[duckdb.DuckDBPyConnection, str | None]:
        import duckdb

        with self.catalog.connect() as disk:
            self._busy = disk
            file_id = self._current_file_id()
            disk.execute("BEGIN TRANSACTION")  # one snapshot: borrowers may refresh meanwhile
            with self._lock:
                self._disk = disk
            try:
                names = [r[0] for r in disk.execute(
                    "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main' "
                    "AND database_name = current_database() AND NOT temporary").fetchall()]
                data = {}
                for name in names:
                    self._check_stop()
                    data[name] = disk.sql(f'SELECT * FROM "{name}"').to_arrow_table()  # noqa: S608
            finally:
                with self._lock:
                    self._disk = None
                    while self._borrowers:
                        self._returned.wait()
                disk.execute("ROLLBACK")  # it only read
        self._done_reading()
        con = duckdb.connect()  # the shared file is released: the copy holds no lock
        self._busy = con
        con.execute("SET enable_progress_bar = false")
        self.catalog.migrate_into(con)
        for name, table in data.items():  # names are the catalog's own tables
            if name == "meta":
                continue  # written by migrate_into
            self._check_stop()
            con.register("_copy", table)
            con.execute(f'INSERT INTO "{name}" SELECT * FROM _copy')  # noqa: S608
            con.unregister("_copy")
        self._busy = None
        return con, file_id

    def _done_reading(self) -> None:
        with self._lock:
            self._reading = False
            self._returned.notify_all()

    def _check_stop(self) -> None:
        if self._stop:
            raise RuntimeError("interpreter exiting")

    def stop_building(self) -> None:
        """Interrupt a replica build (at exit: a daemon thread inside DuckDB aborts the
        interpreter if it is still running when the process ends)."""
        self._stop = True
        busy = self._busy
        if busy is not None:
            with contextlib.suppress(Exception):
                busy.interrupt()
        if self._building is not None:
            self._building.join(timeout=10)

    def close(self) -> None:
        with self._lock:
            if self._con is not None and self._pid == os.getpid():
                with contextlib.suppress(Exception):
                    self._con.close()
            self._con = None


_mirrors: weakref.WeakSet[Mirror] = weakref.WeakSet()


@atexit.register
def _stop_builds() -> None:
    for mirror in list(_mirrors):
        mirror.stop_building()
