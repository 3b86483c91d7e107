"""The DuckDB catalog: an index over the store's files, refreshed incrementally.

Only readers open DuckDB, each time through a short-lived connection with retry
(DuckDB locks the whole file to one process). ``refresh`` folds the new lines of
every writer log into the tables; the catalog can be deleted and rebuilt any time.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Iterator
from operator import itemgetter

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]
from typing import TYPE_CHECKING, Any

from .. import _gc
from .._errors import StoreError
from . import events
from .layout import Layout, write_atomic
from .metrics import merge_summary
from .schema import DDL, SCHEMA_VERSION

if TYPE_CHECKING:
    import duckdb

log = logging.getLogger(__name__)

LOCK_TIMEOUT_SECONDS = 60.0
_process_turn = threading.RLock()
_held: dict[str, int] = {}
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


class Catalog:
    """Short-lived access to ``catalog.duckdb`` of one store."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        digest = hashlib.sha1(str(layout.catalog_file).encode()).hexdigest()[:16]
        self.alias = f"tb_catalog_{digest}"  # its name where it is attached

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
            con = self._open(read_only=False)
            try:
                self._migrate(con)
                if refresh:
                    self._refresh(con)
                yield con
            finally:
                self._close(con)

    @contextlib.contextmanager
    def _turn(self) -> Iterator[None]:
        """Take turns on the catalog with other trackbook processes.

        A file lock polled every 2 ms replaces backing off on DuckDB's lock error (up to
        250 ms): a reader in a tight loop no longer starves the others. Re-entrant within
        a process (threads of one process share DuckDB's instance anyway).
        """
        if fcntl is None:  # pragma: no cover - Windows: DuckDB's own lock and retry only
            yield
            return
        path = str(self.layout.root / "catalog.lock")
        with _process_turn:
            if _held.get(path):
                _held[path] += 1
                try:
                    yield
                finally:
                    _held[path] -= 1
                return
            self.layout.ensure()
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                deadline = time.monotonic() + LOCK_TIMEOUT_SECONDS
                while True:
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        break
                    except BlockingIOError:
                        if time.monotonic() > deadline:
                            raise StoreError(
                                f"waited {LOCK_TIMEOUT_SECONDS:.0f} s for the catalog of "
                                f"{self.layout.root}: another process keeps it busy") from None
                        time.sleep(0.002)
                _held[path] = 1
                try:
                    yield
                finally:
                    _held[path] = 0
                    fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)

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
                        return self.share(host)
                    except BaseException:
                        self._release()
                        raise
            except duckdb.Error as exc:
                if not _is_lock_error(exc) or time.monotonic() > deadline:
                    raise StoreError(
                        f"cannot open the catalog {self.layout.catalog_file}: {exc}. "
                        "Another process may hold it open for a long time; close it, or run "
                        "`trackbook reindex` if the file is damaged (it is rebuilt from the logs)."
                    ) from exc
                import random

                time.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, 0.25)

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
            _host().execute(f"DETACH {self.alias}")

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
            host.execute(f"ATTACH ? AS {self.alias} (BLOCK_SIZE 16384)",
                         [str(self.layout.catalog_file)])
            try:
                con = host.cursor()
                try:
                    con.execute(f"USE {self.alias}")
                    self._migrate(con)
                finally:
                    con.close()
            finally:
                host.execute(f"DETACH {self.alias}")
        # Replicas in other processes compare this to notice a rebuilt catalog.
        write_atomic(self.layout.catalog_id_file, os.urandom(8).hex().encode())

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

    def _refresh_now(self, con: duckdb.DuckDBPyConnection) -> None:
        t0 = time.perf_counter()
        offsets = dict(con.execute("SELECT writer_id, byte_offset FROM log_offsets").fetchall())
        batch, new_offsets = self._read_logs(offsets)
        known_exps = {r[0] for r in con.execute("SELECT experiment_id FROM experiments").fetchall()}
        new_exps = self._new_experiments(known_exps)
        con.execute("BEGIN")
        try:
            _bulk_upsert(con, "experiments", ["experiment_id", "name", "artifact_location",
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
                self._mark_killed(con, dead)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
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
        _Applier(con).apply([(w, r) for _, _, w, r in batch])
        _bulk_upsert(con, "log_offsets", ["writer_id", "byte_offset"],
                     list(new_offsets.items()))

    def _new_experiments(self, known: set[str]) -> list[dict[str, Any]]:
        out = []
        try:
            names = os.listdir(self.layout.experiments_dir)
        except FileNotFoundError:
            return out
        for n in names:
            if n.endswith(".json") and n[:-5] not in known:
                with contextlib.suppress(FileNotFoundError, ValueError):
                    out.append(json.loads((self.layout.experiments_dir / n).read_text()))
        return out

    def _dead_writers(self, con: duckdb.DuckDBPyConnection) -> set[str]:
        """Writers of RUNNING runs whose process is gone (design rule 5)."""
        writers = {r[0] for r in con.execute(
            "SELECT DISTINCT writer_id FROM runs WHERE status = 'RUNNING'").fetchall()}
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


class _Applier:
    """Folds a time-ordered batch of log records into the catalog tables."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        self.runs: dict[str, dict[str, Any]] = {}
        self.params: dict[tuple[str, str], str] = {}
        self.tags: dict[tuple[str, str], tuple[str | None, int]] = {}
        self.metrics: dict[tuple[str, str], list[Any]] = {}
        self.files_add: set[tuple[str, str]] = set()
        self.files_del: set[tuple[str, str]] = set()
        self.exp_updates: list[tuple[str, dict[str, Any]]] = []
        self.exp_tags: dict[tuple[str, str], str | None] = {}
        self.purged: set[str] = set()

    def _run(self, run_id: str) -> dict[str, Any]:
        run = self.runs.get(run_id)
        if run is None:
            run = self.runs[run_id] = {"run_id": run_id}
        return run

    def _prefetch(self, batch: list[tuple[str, dict[str, Any]]]) -> None:
        """Load the existing rows the batch touches with two queries, not one per record."""
        import pyarrow as pa

        from .arrow import strings

        run_ids = sorted({r["run"] for _, r in batch if "run" in r})
        if not run_ids:
            return
        touched = pa.table({"run_id": strings(run_ids)})  # noqa: F841
        # Records that arrive after a run was purged (gc) must not bring it back.
        self.purged.update(r[0] for r in self.con.execute(
            "SELECT run_id FROM purged_runs JOIN touched USING (run_id)").fetchall())
        cur = self.con.execute("SELECT r.* FROM runs r JOIN touched USING (run_id)")
        cols = [d[0] for d in cur.description]
        for row in cur.fetchall():
            self.runs[row[0]] = dict(zip(cols, row, strict=True))
        if any(r.get("op") == "metrics" for _, r in batch):
            for row in self.con.execute(
                "SELECT m.run_id, m.key, m.count, m.min, m.max, m.step, m.timestamp, m.value "
                "FROM latest_metrics m JOIN touched USING (run_id)"
            ).fetchall():
                self.metrics[(row[0], row[1])] = list(row[2:])

    def apply(self, batch: list[tuple[str, dict[str, Any]]]) -> None:
        self._prefetch(batch)
        for writer_id, r in batch:
            if r.get("run") in self.purged:
                continue
            handler = getattr(self, "_op_" + str(r.get("op")), None)
            if handler is None:
                log.debug("skipping unknown log op %r", r.get("op"))
                continue
            handler(writer_id, r)
        self._flush()

    def _op_run_start(self, writer_id: str, r: dict[str, Any]) -> None:
        run = self._run(r["run"])
        run.update(experiment_id=r["exp"], run_name=r.get("name"), status="RUNNING",
                   start_time=r.get("start", r["t"]), end_time=None,
                   lifecycle_stage="active", user_id=r.get("user"),
                   parent_run_id=r.get("parent"), artifact_uri=r.get("artifact_uri"),
                   writer_id=writer_id, last_update=r["t"])

    def _op_resume(self, writer_id: str, r: dict[str, Any]) -> None:
        run = self._run(r["run"])
        if "experiment_id" in run:
            run.update(status="RUNNING", end_time=None, writer_id=writer_id, last_update=r["t"])

    def _op_status(self, writer_id: str, r: dict[str, Any]) -> None:
        run = self._run(r["run"])
        if "experiment_id" not in run or r["t"] < (run.get("last_update") or 0):
            return
        run.update(status=r["status"], last_update=r["t"])
        if r["status"] != "RUNNING":
            run["end_time"] = r.get("end", r["t"])

    def _op_rename(self, writer_id: str, r: dict[str, Any]) -> None:
        self._run(r["run"])["run_name"] = r["name"]

    def _op_lifecycle(self, writer_id: str, r: dict[str, Any]) -> None:
        self._run(r["run"])["lifecycle_stage"] = r["stage"]

    def _op_purge(self, writer_id: str, r: dict[str, Any]) -> None:
        """``trackbook gc`` removed the run's files: forget it everywhere."""
        run_id = r["run"]
        self.purged.add(run_id)
        self.runs.pop(run_id, None)
        for d in (self.params, self.tags, self.metrics):
            for k in [k for k in d if k[0] == run_id]:
                del d[k]
        self.files_add = {k for k in self.files_add if k[0] != run_id}

    def _op_params(self, writer_id: str, r: dict[str, Any]) -> None:
        # Params are immutable: the first value logged wins, even across processes.
        run_id = r["run"]
        for k, v in r["data"].items():
            self.params.setdefault((run_id, k), v)

    def _op_tags(self, writer_id: str, r: dict[str, Any]) -> None:
        run_id = r["run"]
        for k, v in r["data"].items():
            self.tags[(run_id, k)] = (v, r["t"])
            if k == "mlflow.runName" and v:
                self._run(run_id)["run_name"] = v

    def _op_del_tag(self, writer_id: str, r: dict[str, Any]) -> None:
        self.tags[(r["run"], r["key"])] = (None, r["t"])

    def _op_metrics(self, writer_id: str, r: dict[str, Any]) -> None:
        run_id = r["run"]
        self.files_add.add((run_id, r["file"]))
        for key, summary in r["sum"].items():
            k = (run_id, key)
            self.metrics[k] = merge_summary(self.metrics.get(k), summary)

    def _op_compact(self, writer_id: str, r: dict[str, Any]) -> None:
        run_id = r["run"]
        for old in r["replaces"]:
            self.files_add.discard((run_id, old))
            self.files_del.add((run_id, old))
        self.files_add.add((run_id, r["file"]))
        self.files_del.discard((run_id, r["file"]))

    def _op_experiment_update(self, writer_id: str, r: dict[str, Any]) -> None:
        self.exp_updates.append((r["exp"], r["fields"]))

    def _op_experiment_tags(self, writer_id: str, r: dict[str, Any]) -> None:
        for k, v in r["data"].items():
            self.exp_tags[(r["exp"], k)] = v

    def _flush(self) -> None:
        con = self.con
        for run_id in self.purged:
            for table in ("runs", "params", "tags", "latest_metrics", "metric_files"):
                con.execute(f"DELETE FROM {table} WHERE run_id = ?", [run_id])  # noqa: S608
        _bulk_upsert(con, "purged_runs", ["run_id"], [(r,) for r in self.purged])
        run_cols = ["run_id", "experiment_id", "run_name", "status", "start_time", "end_time",
                    "lifecycle_stage", "user_id", "parent_run_id", "artifact_uri", "writer_id",
                    "last_update"]
        rows = [tuple(run.get(c) for c in run_cols) for run in self.runs.values()
                if run.get("experiment_id") is not None]
        _bulk_upsert(con, "runs", run_cols, rows)
        _bulk_upsert(con, "params", ["run_id", "key", "value"],
                     [(k[0], k[1], v) for k, v in self.params.items()], keep_existing=True)
        deleted_tags = [k for k, (v, _) in self.tags.items() if v is None]
        for run_id, key in deleted_tags:
            con.execute("DELETE FROM tags WHERE run_id = ? AND key = ?", [run_id, key])
        _bulk_upsert(con, "tags", ["run_id", "key", "value", "ts"],
                     [(k[0], k[1], v, ts) for k, (v, ts) in self.tags.items() if v is not None])
        _bulk_upsert(con, "latest_metrics",
                     ["run_id", "key", "value", "step", "timestamp", "min", "max", "count"],
                     [(k[0], k[1], s[5], s[3], s[4], s[1], s[2], s[0])
                      for k, s in self.metrics.items()])
        if self.files_del:
            import pyarrow as pa

            gone = pa.table({"run_id": [r for r, _ in self.files_del],  # noqa: F841
                             "file": [f for _, f in self.files_del]})
            con.execute("DELETE FROM metric_files m USING gone g "
                        "WHERE m.run_id = g.run_id AND m.file = g.file")
        _bulk_upsert(con, "metric_files", ["run_id", "file"], sorted(self.files_add))
        allowed = {"name", "lifecycle_stage", "last_update_time"}
        for exp_id, fields in self.exp_updates:
            for col, value in fields.items():
                if col in allowed:  # column names come from this whitelist only
                    con.execute(f"UPDATE experiments SET {col} = ? WHERE experiment_id = ?",  # noqa: S608
                                [value, exp_id])
        for (exp_id, key), value in self.exp_tags.items():
            if value is None:
                con.execute("DELETE FROM experiment_tags WHERE experiment_id = ? AND key = ?",
                            [exp_id, key])
            else:
                con.execute("INSERT OR REPLACE INTO experiment_tags VALUES (?, ?, ?)",
                            [exp_id, key, value])


# Non-string columns of the tables written in bulk; every other column is a string.
_INT, _FLOAT = "int64", "float64"
_COLUMN_TYPES: dict[str, dict[str, str]] = {
    "experiments": {"creation_time": _INT, "last_update_time": _INT},
    "log_offsets": {"byte_offset": _INT},
    "runs": {"start_time": _INT, "end_time": _INT, "last_update": _INT},
    "tags": {"ts": _INT},
    "latest_metrics": {"value": _FLOAT, "step": _INT, "timestamp": _INT, "min": _FLOAT,
                       "max": _FLOAT, "count": _INT},
}


def _bulk_upsert(con: duckdb.DuckDBPyConnection, table: str, cols: list[str],
                 rows: list[tuple[Any, ...]], keep_existing: bool = False) -> None:
    """INSERT OR REPLACE many rows at once through an Arrow table.

    Even for a handful of rows this beats ``executemany`` (~9 ms per row on DuckDB 2.0).
    ``table`` and ``cols`` are constants of this module, never user input.
    """
    if not rows:
        return
    import pyarrow as pa

    from .arrow import column

    types = _COLUMN_TYPES.get(table, {})
    columns = list(zip(*rows, strict=True))
    arrays = [column(c, pa.type_for_alias(types.get(n, "string")))
              for n, c in zip(cols, columns, strict=True)]
    staged = pa.Table.from_arrays(arrays, names=cols)  # noqa: F841 - read by DuckDB below
    verb = "INSERT OR IGNORE" if keep_existing else "INSERT OR REPLACE"
    con.execute(f"{verb} INTO {table} ({', '.join(cols)}) "  # noqa: S608
                f"SELECT {', '.join(cols)} FROM staged")
