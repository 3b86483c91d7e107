"""An in-memory replica of the catalog inside each querying process.

Opening ``catalog.duckdb`` costs 15-25 ms and locks it against every other process. A
querying process instead copies the catalog once into an in-memory DuckDB and from then
on folds new log records into that copy itself (the same ``refresh`` that maintains the
file), so a warm query touches no shared file at all: it stats the logs, reads what is
new, and runs. The file catalog stays the shared, rebuildable index that new readers
copy from; it is refreshed whenever a replica is built.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

from .catalog import Catalog

if TYPE_CHECKING:
    import duckdb


class Mirror:
    """This process's replica of one store's catalog."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self._con: duckdb.DuckDBPyConnection | None = None
        self._pid = 0
        self._file_id: str | None = None
        self._lock = threading.RLock()

    def _current_file_id(self) -> str | None:
        """Changes whenever the file catalog is created anew (``trackbook reindex``)."""
        try:
            return self.catalog.layout.catalog_id_file.read_text()
        except FileNotFoundError:
            return None

    @contextlib.contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """The replica, brought up to date with the logs; one thread at a time."""
        with self._lock:
            if (self._con is None or self._pid != os.getpid()  # never reuse across fork
                    or self._file_id != self._current_file_id()):  # reindexed meanwhile
                self.close()
                self._con = self._build()
                self._pid = os.getpid()
            else:
                try:
                    self.catalog.refresh_into(self._con)
                except BaseException:
                    self.close()
                    raise
            yield self._con

    def _build(self) -> duckdb.DuckDBPyConnection:
        import duckdb

        with self.catalog.connect() as disk:
            self._file_id = self._current_file_id()
            names = [r[0] for r in disk.execute(
                "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main' "
                "AND NOT temporary").fetchall()]
            data = {name: disk.sql(f'SELECT * FROM "{name}"').to_arrow_table()  # noqa: S608
                    for name in names}
        con = duckdb.connect()
        con.execute("SET enable_progress_bar = false")
        self.catalog.migrate_into(con)
        for name, table in data.items():  # names are the catalog's own tables
            if name == "meta":
                continue  # written by migrate_into
            con.register("_copy", table)
            con.execute(f'INSERT INTO "{name}" SELECT * FROM _copy')  # noqa: S608
            con.unregister("_copy")
        return con

    def close(self) -> None:
        with self._lock:
            if self._con is not None and self._pid == os.getpid():
                with contextlib.suppress(Exception):
                    self._con.close()
            self._con = None
