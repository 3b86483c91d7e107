"""The DuckDB catalog: an index over the store's files, refreshed incrementally.

Only readers open DuckDB, each time through a short-lived connection with retry
(DuckDB locks the whole file to one process). ``refresh`` folds the new lines of
every writer log into the tables; the catalog can be deleted and rebuilt any time.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import hashlib
import json
import logging
import os
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from .. import _gc
from .._errors import StoreError, TrackbookWarning
from .._text import is_storable, storable_record
from . import durable, events, reconcile
from .fold import Applier, bulk_upsert
from .layout import Layout
from .schema import DDL, SCHEMA_VERSION

if TYPE_CHECKING:
    import duckdb

log = logging.getLogger(__name__)

LOCK_TIMEOUT_SECONDS = 60.0
_process_turn = threading.RLock()
_held: dict[str, int] = {}
_turn_here = threading.local()  # how deep this thread is in catalog turns
SLOW_QUERY_SECONDS = 0.5


def _is_lock_error(exc: Exception) -> bool:
    text = str(exc)
    return "lock" in text.lower() or "Conflicting lock" in text


# Catalog files are attached to one in-memory DuckDB per process for the length of a turn:
# ATTACH + DETACH take ~1.5 ms, where a connection to the file costs ~15-20 ms (most of it
# DuckDB's start-up, which even ``duckdb.connect(":memory:")`` pays). DETACH checkpoints
# and releases the file's lock, as closing a connection did.
_attach_lock = threading.RLock()
_host_con: duckdb.DuckDBPyConnection | None = None
_host_pid = 0
_attached: dict[str, int] = {}  # alias -> connections handed out
_probed: set[tuple[str, bytes]] = set()  # (catalog file, its id) read whole once
_PROBE_MAX_BYTES = 8 << 20


@atexit.register
def _close_host() -> None:
    """Close the host before the interpreter tears down (after the replicas' builds
    stopped: their exit hook was registered later, so it runs first)."""
    global _host_con
    if not _attach_lock.acquire(timeout=5):
        return
    try:
        if _host_con is not None and _host_pid == os.getpid():
            with contextlib.suppress(Exception):
                _host_con.close()
        _host_con = None
    finally:
        _attach_lock.release()


def _host() -> duckdb.DuckDBPyConnection:
    global _host_con, _host_pid
    if _host_con is None or _host_pid != os.getpid():  # not across fork
        import duckdb

        _host_con, _host_pid = duckdb.connect(), os.getpid()
        _attached.clear()
    return _host_con


def holds_a_turn() -> bool:
    """Whether this thread is inside a catalog's turn (which blocks every other thread of
    the process from taking one, on any catalog)."""
    return getattr(_turn_here, "depth", 0) > 0


def _is_damage_error(exc: Exception) -> bool:
    """DuckDB's words for a catalog file that is not a whole database (garbage, truncated,
    zero-length, a bad block checksum), as opposed to a lock or a newer storage version."""
    text = str(exc)
    return any(m in text for m in ("not a valid DuckDB database file", "Corrupt database file",
                                   "Could not read enough bytes", "does not match stored checksum"))


class Catalog:
    """Short-lived access to ``catalog.duckdb`` of one store."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        digest = hashlib.sha1(str(layout.catalog_file).encode()).hexdigest()[:16]
        self.alias = f"tb_catalog_{digest}"  # its name where it is attached
        # Brings runs' metric files into this layout's folders before a dead writer's runs
        # are checked against them (set by a replica's store; see reconcile.settle).
        self.fetch_runs: Callable[[list[str]], None] | None = None

    @contextlib.contextmanager
    def connect(self, refresh: bool = True,
                read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """Open the catalog (waiting out other processes' locks), refresh, yield, close.

        ``read_only`` refreshes first, then hands out a connection that cannot change the
        index (for users' own SQL).
        """
        with self._turn():
            if read_only:
                if refresh:
                    with self.connect():
                        pass
                con = self._open(read_only=True)
                try:
                    yield con
                finally:
                    self._close(con)
                return
            con = self._open_current(refresh)
            try:
                yield con
            finally:
                self._close(con)

    def _open_current(self, refresh: bool) -> duckdb.DuckDBPyConnection:
        """The catalog opened read-write, migrated and (with ``refresh``) up to date. A
        damaged block only shows when read: then the file is set aside and rebuilt once."""
        for rebuilt in (False, True):
            con = self._open(read_only=False)
            try:
                self._migrate(con)
                if refresh:
                    self._refresh(con)
                return con
            except Exception as exc:
                self._close(con)
                if rebuilt or not _is_damage_error(exc) or not self._set_aside(exc):
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    @contextlib.contextmanager
    def _turn(self) -> Iterator[None]:
        """Take turns on the catalog with other trackbook processes.

        A file lock polled every 2 ms replaces backing off on DuckDB's lock error (up to
        250 ms): a reader in a tight loop no longer starves the others. Re-entrant within
        a process (threads of one process share DuckDB's instance anyway).
        """
        path = str(self.layout.root / "catalog.lock")
        with _process_turn:
            _turn_here.depth = getattr(_turn_here, "depth", 0) + 1
            try:
                with self._file_turn(path):
                    yield
            finally:
                _turn_here.depth -= 1

    @contextlib.contextmanager
    def _file_turn(self, path: str) -> Iterator[None]:
        """The other processes' side of the turn (the caller holds the process's)."""
        if _held.get(path):
            _held[path] += 1
            try:
                yield
            finally:
                _held[path] -= 1
            return
        self.layout.ensure()
        with durable.fast_lock(path, LOCK_TIMEOUT_SECONDS, poll=0.002, busy=(
                f"waited {LOCK_TIMEOUT_SECONDS:.0f} s for the catalog of "
                f"{self.layout.root}: another process keeps it busy")):
            _held[path] = 1
            try:
                yield
            finally:
                _held[path] = 0

    def _open(self, read_only: bool) -> duckdb.DuckDBPyConnection:
        import duckdb

        self.layout.ensure()  # like MLflow's URIs: pointing at a new folder makes a store
        deadline = time.monotonic() + LOCK_TIMEOUT_SECONDS
        delay = 0.005
        while True:
            try:
                if not self.layout.catalog_file.exists():
                    self._create()
                with _attach_lock:
                    host = _host()
                    if self.alias not in _attached:  # else nested in this process's turn
                        host.execute(f"ATTACH ? AS {self.alias}"
                                     + (" (READ_ONLY)" if read_only else ""),
                                     [str(self.layout.catalog_file)])
                        _attached[self.alias] = 0
                    _attached[self.alias] += 1
                    try:
                        self._probe_once(host)
                        return self.share(host)
                    except BaseException:
                        self._release()
                        raise
            except duckdb.Error as exc:
                err = self._write_error(exc)
                if isinstance(err, durable.DiskWriteError):
                    raise err from exc
                # (a full disk is not damage: the catalog is kept)
                if _is_damage_error(exc) and self._set_aside(exc):
                    continue  # the index is disposable: rebuilt from the files next round
                if not _is_lock_error(exc) or time.monotonic() > deadline:
                    raise StoreError(
                        f"cannot open the catalog {self.layout.catalog_file}: {exc}. "
                        "Another process may hold it open for a long time; close it, or run "
                        "`trackbook reindex` if the file is damaged (it is rebuilt from the logs)."
                    ) from exc
                import random

                time.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, 0.25)

    def _probe_once(self, host: duckdb.DuckDBPyConnection) -> None:
        """Read every column of every table once per process and catalog (its id changes
        when it is rebuilt): a damaged block then fails here, where it is set aside and
        rebuilt, rather than in a user's query. ~30 ms for a 1 MB catalog (500 runs);
        bigger catalogs skip it (a damaged block there fails the query that reads it, and
        `trackbook doctor --repair` or `trackbook reindex` rebuilds it)."""
        try:
            if self.layout.catalog_file.stat().st_size > _PROBE_MAX_BYTES:
                return
        except FileNotFoundError:
            return
        try:
            ident = self.layout.catalog_id_file.read_bytes()
        except FileNotFoundError:
            ident = b""
        key = (str(self.layout.catalog_file), ident)
        if key in _probed:
            return
        tables = [r[0] for r in host.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = ?",
            [self.alias]).fetchall()]
        for table in tables:
            host.execute(f'SELECT max(COLUMNS(*)) FROM {self.alias}."{table}"').fetchall()  # noqa: S608
        _probed.add(key)

    def _set_aside(self, exc: Exception) -> bool:
        """Move a damaged catalog file (and its WAL) into the store's quarantine and warn;
        False when it is attached in this process (it cannot be swapped under a reader)."""
        import warnings

        from .._errors import DamagedFileWarning
        from .doctor import quarantine

        with _attach_lock:
            if self.alias in _attached:
                return False
        moved = quarantine(self.layout, [self.layout.catalog_file,
                                         self.layout.catalog_file.with_name("catalog.duckdb.wal")])
        if not moved:
            return False
        text = (f"the catalog {self.layout.catalog_file} is damaged ({exc}); moved to "
                f"{moved[0]} and rebuilt from the logs")
        log.warning(text)
        warnings.warn(text, DamagedFileWarning, stacklevel=4)
        return True

    def share(self, con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
        """A new connection on the database instance of ``con`` (one this catalog handed
        out, say), reading and writing the attached catalog; ``con`` may be busy in
        another thread."""
        cur = con.cursor()
        cur.execute(f"USE {self.alias}")
        cur.execute("SET enable_progress_bar = false")  # it would print into cells
        return cur

    def _close(self, con: duckdb.DuckDBPyConnection) -> None:
        try:
            con.close()
        finally:
            with _attach_lock:
                self._release()

    def _release(self) -> None:
        _attached[self.alias] -= 1
        if not _attached[self.alias]:
            del _attached[self.alias]
            try:
                _host().execute(f"DETACH {self.alias}")
            except Exception as exc:  # its checkpoint failed (a full disk): the WAL keeps it
                err = self._write_error(exc)
                if err is exc:
                    raise
                raise err from exc

    def refresh_into(self, con: duckdb.DuckDBPyConnection) -> None:
        """Fold new log records into ``con``, a catalog copy (see ``mirror.Mirror``)."""
        self._refresh(con)

    def migrate_into(self, con: duckdb.DuckDBPyConnection) -> None:
        """Create the catalog's tables in ``con`` (an empty database)."""
        self._migrate(con)

    def _create(self) -> None:
        """Create the catalog with 16 kB blocks: DuckDB's default 256 kB blocks make an
        empty 10-table index weigh ~4 MB, more than many stores' metrics."""
        with _attach_lock:
            host = _host()
            try:
                host.execute(f"ATTACH ? AS {self.alias} (BLOCK_SIZE 16384)",
                             [str(self.layout.catalog_file)])
            except Exception as exc:
                # A full disk leaves an empty file that DuckDB would refuse from then on.
                if isinstance(self._write_error(exc), durable.DiskWriteError):
                    with contextlib.suppress(OSError):
                        if self.layout.catalog_file.stat().st_size == 0:
                            self.layout.catalog_file.unlink()
                            self.layout.catalog_file.with_name("catalog.duckdb.wal").unlink(
                                missing_ok=True)
                raise
            try:
                con = self.share(host)
                try:
                    self._migrate(con)
                finally:
                    con.close()
            finally:
                host.execute(f"DETACH {self.alias}")
        # Replicas in other processes compare this to notice a rebuilt catalog.
        durable.write_atomic(self.layout.catalog_id_file, os.urandom(8).hex().encode(),
                             what="the catalog's id", level=durable.FLUSH)

    def _migrate(self, con: duckdb.DuckDBPyConnection) -> None:
        row = None
        with contextlib.suppress(Exception):
            row = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if row is not None:
            version = int(row[0])
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"catalog schema version {version} is newer than this trackbook "
                    f"understands ({SCHEMA_VERSION}); upgrade trackbook"
                )
            if version == SCHEMA_VERSION:
                return
        con.execute(DDL)
        con.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)",
                    [str(SCHEMA_VERSION)])

    # -- refresh ---------------------------------------------------------------------------

    def _refresh(self, con: duckdb.DuckDBPyConnection) -> None:
        with _gc.paused():
            self._refresh_now(con)

    def _write_error(self, exc: BaseException) -> BaseException:
        """``exc`` as the user should see it: DuckDB's I/O errors (a full disk) become a
        :class:`~trackbook.store.durable.DiskWriteError` naming the catalog file."""
        import duckdb

        if not isinstance(exc, duckdb.Error):
            return exc
        text = str(exc)
        code = durable.errno_in(text)
        if code is None and "no space left" in text.lower():
            code = errno.ENOSPC
        if code is None:
            return StoreError(f"could not update the catalog {self.layout.catalog_file}: {text}")
        return durable.DiskWriteError(self.layout.catalog_file, "the catalog index",
                                      OSError(code, text))

    def _refresh_now(self, con: duckdb.DuckDBPyConnection) -> None:
        t0 = time.perf_counter()
        offsets = dict(con.execute("SELECT writer_id, byte_offset FROM log_offsets").fetchall())
        batch, new_offsets = self._read_logs(offsets)
        known_exps = {r[0] for r in con.execute("SELECT experiment_id FROM experiments").fetchall()}
        new_exps = self._new_experiments(known_exps)
        con.execute("BEGIN")
        try:
            bulk_upsert(con, "experiments", ["experiment_id", "name", "artifact_location",
                                              "lifecycle_stage", "creation_time",
                                              "last_update_time"],
                         [(e["experiment_id"], e["name"], e.get("artifact_location"), "active",
                           e.get("creation_time"), e.get("creation_time")) for e in new_exps],
                         keep_existing=True)
            self._apply(con, batch, new_offsets)
            dead = self._dead_writers(con)
            if dead:
                # A dead writer's log is final: fold in what it appended after we read it
                # (its last FINISHED, say) before judging its runs, or a run that ended
                # cleanly just before its process exited would flash KILLED.
                more, more_offsets = self._read_logs({**offsets, **new_offsets}, only=dead)
                self._apply(con, more, more_offsets)
                settled = {w for (w,) in con.execute(
                    "SELECT writer_id FROM writers "
                    "WHERE settled = 1 AND list_contains(?, writer_id)", [sorted(dead)]).fetchall()}
                reconcile.settle(con, self.layout, dead - settled, self.fetch_runs)
                self._mark_killed(con, dead)
            con.execute("COMMIT")
        except BaseException as exc:
            # A COMMIT that failed (a full disk) has already ended the transaction: its
            # ROLLBACK would fail too and hide the real error behind "no transaction".
            with contextlib.suppress(Exception):
                con.execute("ROLLBACK")
            err = self._write_error(exc)
            if err is exc:
                raise
            raise err from exc
        dt = time.perf_counter() - t0
        if dt > SLOW_QUERY_SECONDS:
            log.info("catalog refresh took %.3fs for %d records", dt, len(batch))

    def _read_logs(self, offsets: dict[str, int], only: set[str] | None = None
                   ) -> tuple[list[tuple[int, int, str, dict[str, Any]]], dict[str, int]]:
        """New complete records of every writer log (or only ``only``'s) past ``offsets``."""
        batch: list[tuple[int, int, str, dict[str, Any]]] = []
        new_offsets: dict[str, int] = {}
        for writer_id, path in events.iter_logs(self.layout):
            if only is not None and writer_id not in only:
                continue
            start = offsets.get(writer_id, 0)
            try:
                size = os.stat(path).st_size
            except FileNotFoundError:
                continue
            if size <= start:
                continue
            records, end = events.read_records(path, start)
            if end != start:
                new_offsets[writer_id] = end
            batch.extend((r.get("t", 0), i, writer_id, r) for i, r in enumerate(records))
        return batch, new_offsets

    def _apply(self, con: duckdb.DuckDBPyConnection,
               batch: list[tuple[int, int, str, dict[str, Any]]],
               new_offsets: dict[str, int]) -> None:
        if not batch:
            return
        batch.sort(key=itemgetter(0, 2, 1))  # time, writer, line
        Applier(con).apply([(w, r) for _, _, w, r in batch])
        bulk_upsert(con, "log_offsets", ["writer_id", "byte_offset"],
                     list(new_offsets.items()))

    def _new_experiments(self, known: set[str]) -> list[dict[str, Any]]:
        out = []
        try:
            names = os.listdir(self.layout.experiments_dir)
        except FileNotFoundError:
            return out
        for n in names:
            if n.endswith(".json") and n[:-5] not in known:
                with contextlib.suppress(FileNotFoundError):
                    try:
                        out.append(json.loads((self.layout.experiments_dir / n).read_bytes()))
                    except ValueError:
                        from .._errors import DamagedFileWarning

                        warnings.warn(f"skipping damaged experiment file "
                                      f"{self.layout.experiments_dir / n}; see `trackbook "
                                      "doctor`", DamagedFileWarning, stacklevel=2)
                        continue
                    if not is_storable(out[-1]):
                        out[-1] = storable_record(out[-1])[0]
                        warnings.warn(f"experiment file {n} holds text that is not valid "
                                      "Unicode (a lone surrogate); indexed with U+FFFD in "
                                      "place of the bad characters", TrackbookWarning,
                                      stacklevel=2)
        return out

    def _dead_writers(self, con: duckdb.DuckDBPyConnection) -> set[str]:
        """Writers whose process is gone, of RUNNING runs (design rule 5) or not yet
        checked against their runs' files (:mod:`~trackbook.store.reconcile`); each is
        looked up once."""
        writers = {r[0] for r in con.execute(
            "SELECT DISTINCT writer_id FROM runs WHERE status = 'RUNNING'").fetchall()}
        writers |= reconcile.unsettled(con)
        return {w for w in writers if not events.writer_alive(self.layout, w)}

    def _mark_killed(self, con: duckdb.DuckDBPyConnection, dead: set[str]) -> None:
        """Runs still RUNNING under a dead writer become KILLED, ended at its last sign."""
        rows = con.execute(
            "SELECT run_id, writer_id, last_update FROM runs WHERE status = 'RUNNING'"
        ).fetchall()
        for run_id, writer_id, last_update in rows:
            if writer_id in dead:
                seen = events.writer_last_seen(self.layout, writer_id) or last_update
                end = max(seen or 0, last_update or 0)
                con.execute(
                    "UPDATE runs SET status = 'KILLED', end_time = ?, last_update = ? "
                    "WHERE run_id = ?", [end, end, run_id])

    def rebuild(self) -> None:
        """Delete the catalog and rebuild it from the store's files."""
        for suffix in ("", ".wal"):
            p = self.layout.catalog_file.with_name(self.layout.catalog_file.name + suffix)
            p.unlink(missing_ok=True)
        with self.connect():
            pass
