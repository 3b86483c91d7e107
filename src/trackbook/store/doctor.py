"""``trackbook doctor``: find the damaged files of a store and, on request, quarantine them.

What is checked (each finding names the file, and the byte offset of a bad log line):

- every line of every writer log (``log/*.jsonl``): its checksum (when framed) and JSON;
  a torn last line only once its writer is dead (a live writer may be writing it);
- every metric file (``runs/*/c-*.parquet``, ``m-*.parquet``): opened and read whole,
  every page's CRC verified;
- the JSON files: writer heartbeats, experiments and their name claims, the registry's
  model, version and event records; and the ``FORMAT`` marker;
- ``catalog.duckdb``: attached read-only and every table read.

``repair`` moves each damaged file to ``<store>/quarantine/<timestamp>/<its relative
path>``; bad log lines are cut out into ``<quarantine>/log/<writer>.jsonl.bad`` (with their
offsets) and the log is rewritten atomically without them -- only for writers that are
dead, since a live writer appends to its open file. A quarantined metric file is recorded
in the doctor's own log so the catalog stops listing it; experiment records and name claims
are rewritten from their healthy twin when there is one. The catalog is rebuilt last.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from . import damaged, durable, events
from .layout import Layout

QUARANTINE_DIR = "quarantine"
Progress = Callable[[int, int, str], None]  # (done, total, what)


@dataclass(frozen=True)
class Finding:
    """One damaged thing: ``kind`` of file, its ``path``, the ``offset`` of a bad log line
    (else None) and ``reason``."""

    kind: str
    path: Path
    offset: int | None
    reason: str

    def describe(self, root: Path) -> str:
        where = os.path.relpath(self.path, root)
        at = f" at byte {self.offset}" if self.offset is not None else ""
        return f"{self.kind}: {where}{at}: {self.reason}"


def quarantine(layout: Layout, paths: list[Path], stamp: str | None = None) -> list[Path]:
    """Move the existing ``paths`` (under the store root) to
    ``<root>/quarantine/<stamp>/<relative path>``; return where they went."""
    stamp = stamp or _stamp()
    moved = []
    for path in paths:
        dest = layout.root / QUARANTINE_DIR / stamp / path.relative_to(layout.root)
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.rename(path, dest)
        except FileNotFoundError:
            continue
        durable.sync_dir(path.parent)
        moved.append(dest)
    return moved


def _stamp() -> str:
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + f"-{os.getpid()}"


# -- examination ---------------------------------------------------------------------------

def bad_lines(path: Path, final: bool) -> list[tuple[int, bytes, str]]:
    """(offset, line, reason) of the damaged lines of one log; a last line without its
    newline counts only when ``final`` (its writer is dead)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    out = []
    pos = 0
    for line in data.split(b"\n")[:-1]:
        if line.strip() and events.parse_line(line) is None:
            out.append((pos, line, "fails its checksum or is not a JSON record"))
        pos += len(line) + 1
    tail = data[pos:]
    if final and tail:
        out.append((pos, tail, "a torn last line (its writer died writing it)"))
    return out


def _json_error(path: Path, check: Callable[[dict], bool] | None = None) -> str | None:
    try:
        record = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except ValueError as exc:
        return f"not valid JSON ({exc})"
    if type(record) is not dict:
        return "not a JSON object"
    if check is not None and not check(record):
        return "a JSON object without the expected fields"
    return None


def _catalog_error(layout: Layout) -> str | None:
    import duckdb

    path = layout.catalog_file
    if not path.exists():
        return None
    con = duckdb.connect()
    try:
        con.execute("ATTACH ? AS c (READ_ONLY)", [str(path)])
        tables = [r[0] for r in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = 'c'").fetchall()]
        for table in tables:
            con.execute(f'SELECT * FROM c."{table}"').fetchall()  # noqa: S608 - names from DuckDB
    except duckdb.Error as exc:
        if "lock" in str(exc).lower() or "already attached" in str(exc):
            return None  # open in a live process (this one, say): so it is not garbage
        return str(exc)
    finally:
        con.close()
    return None


def _files(layout: Layout) -> Iterator[tuple[str, Path]]:
    """(kind, path) of every file the doctor checks, logs first."""
    root = layout.root
    for _, path in sorted(events.iter_logs(layout)):
        yield "log", path
    for sub, kind in ((layout.writers_dir, "writer"), (layout.experiments_dir, "experiment"),
                      (layout.experiments_dir / "names", "experiment name claim")):
        with contextlib.suppress(FileNotFoundError):
            for name in sorted(os.listdir(sub)):
                if name.endswith(".json"):
                    yield kind, sub / name
    with contextlib.suppress(FileNotFoundError):
        for run in sorted(os.scandir(layout.runs_dir), key=lambda e: e.name):
            if not run.is_dir():
                continue
            for name in sorted(os.listdir(run.path)):
                if name.endswith(".parquet") and name[:2] in ("c-", "m-"):
                    yield "metric file", Path(run.path) / name
    registry = root / "registry"
    if registry.is_dir():
        for dirpath, _dirs, names in sorted(os.walk(registry)):
            for name in sorted(names):
                if name.endswith(".json"):
                    yield "registry file", Path(dirpath) / name
    if layout.format_file.exists():
        yield "FORMAT", layout.format_file
    if layout.catalog_file.exists():
        yield "catalog", layout.catalog_file


def examine(layout: Layout, progress: Progress | None = None) -> list[Finding]:
    """Every damaged thing in the store (see the module docstring)."""
    files = list(_files(layout))
    found: list[Finding] = []
    named: set[tuple[str, str]] = set()  # (run, file) that some log record names
    for i, (kind, path) in enumerate(files):
        if progress is not None:
            progress(i, len(files), os.path.relpath(path, layout.root))
        why: str | None = None
        if kind == "log":
            writer = path.name[: -len(".jsonl")]
            final = not events.writer_alive(layout, writer)
            found += [Finding("log line", path, off, reason)
                      for off, _, reason in bad_lines(path, final)]
            named |= _named_files(path)
            continue
        if kind == "metric file":
            try:
                why = damaged.full_error(str(path))
            except FileNotFoundError:
                continue  # compacted meanwhile
        elif kind == "experiment" or kind == "experiment name claim":
            why = _json_error(path, lambda r: "experiment_id" in r and "name" in r)
        elif kind == "writer":
            why = _json_error(path, lambda r: "pid" in r or "closed" in r)
        elif kind == "registry file":
            why = _json_error(path)
        elif kind == "FORMAT":
            with contextlib.suppress(OSError):
                if not path.read_bytes().startswith(b"trackbook-store "):
                    why = "not a trackbook store marker"
        elif kind == "catalog":
            why = _catalog_error(layout)
        if why is not None:
            found.append(Finding(kind, path, None, why))
    bad = {f.path for f in found}
    found += [Finding("unlogged metric file", p, None,
                      "no readable log record names it (its record was lost or damaged)")
              for p in _unlogged(layout, named) if p not in bad]
    if progress is not None:
        progress(len(files), len(files), "")
    return found


def _named_files(path: Path) -> set[tuple[str, str]]:
    out: set[tuple[str, str]] = set()
    with contextlib.suppress(FileNotFoundError):
        for line in path.read_bytes().split(b"\n"):
            if b'"metrics"' not in line and b'"compact"' not in line \
                    and b'"quarantine"' not in line:
                continue
            body, tab, _ = line.rpartition(b"\t")
            try:
                r = json.loads(body if tab else line)
            except ValueError:
                continue
            if type(r) is dict and isinstance(r.get("run"), str):
                for name in [r.get("file"), *(r.get("replaces") or [])]:
                    if isinstance(name, str):
                        out.add((r["run"], name))
    return out


def _unlogged(layout: Layout, named: set[tuple[str, str]]) -> list[Path]:
    """Visible metric files (the reading rule) of dead writers that no record names."""
    from . import metrics

    out = []
    with contextlib.suppress(FileNotFoundError):
        for run in sorted(os.listdir(layout.runs_dir)):
            try:
                newest, chunks, _ = metrics.visible_files(layout.metrics_dir(run))
            except Exception:  # a damaged compacted file: reported as such
                continue
            for p in ([newest] if newest else []) + chunks:
                if (run, p.name) in named:
                    continue
                writer = p.name[2:-len(".parquet")].rpartition("-")[0] \
                    if p.name.startswith("c-") else None
                if writer and events.writer_alive(layout, writer):
                    continue  # its record may be on its way
                out.append(p)
    return out


# -- repair --------------------------------------------------------------------------------

@dataclass
class Repair:
    """What ``repair`` did: files moved to ``quarantine``, logs rewritten, and findings
    left alone (with the reason)."""

    quarantine: Path
    moved: list[Path]
    rewritten: list[Path]
    left: list[tuple[Finding, str]]


def repair(layout: Layout, findings: list[Finding], rebuild: Callable[[], None]) -> Repair:
    """Quarantine what ``findings`` name, then ``rebuild`` the catalog."""
    stamp = _stamp()
    qdir = layout.root / QUARANTINE_DIR / stamp
    moved: list[Path] = []
    rewritten: list[Path] = []
    left: list[tuple[Finding, str]] = []
    logs: dict[Path, list[Finding]] = {}
    for f in findings:
        if f.kind == "log line":
            logs.setdefault(f.path, []).append(f)
    for path, bad in logs.items():
        writer = path.name[: -len(".jsonl")]
        if events.writer_alive(layout, writer):
            left += [(f, "its writer is alive and may be appending; repair once it exits")
                     for f in bad]
            continue
        _cut_lines(layout, path, {f.offset for f in bad if f.offset is not None}, qdir)
        rewritten.append(path)
    quarantined_metrics: list[Path] = []
    unlogged = [f.path for f in findings if f.kind == "unlogged metric file"]
    for f in findings:
        if f.kind in ("log line", "unlogged metric file"):
            continue
        moved += quarantine(layout, [f.path], stamp)
        if f.kind == "catalog":
            moved += quarantine(layout, [f.path.with_name(f.path.name + ".wal")], stamp)
        elif f.kind == "metric file":
            quarantined_metrics.append(f.path)
        elif f.kind in ("experiment", "experiment name claim"):
            _restore_experiment(layout, f.path)
        elif f.kind == "FORMAT":
            layout.ensure()
    records = [{"op": "quarantine", "t": events.now_ms(), "run": p.parent.name,
                "file": p.name} for p in quarantined_metrics]
    records += _index_records(unlogged, _named_all(layout))
    if records:
        _append_own(layout, records)
    damaged.forget()
    rebuild()
    return Repair(qdir, moved, rewritten, left)


def _cut_lines(layout: Layout, path: Path, offsets: set[int], qdir: Path) -> None:
    data = path.read_bytes()
    keep, cut = [], []
    pos = 0
    for line in data.split(b"\n"):
        if pos >= len(data):
            break
        piece = data[pos: pos + len(line) + 1]
        (cut if pos in offsets else keep).append((pos, piece))
        pos += len(piece)
    dest = qdir / path.relative_to(layout.root)
    dest = dest.with_name(dest.name + ".bad")
    dest.parent.mkdir(parents=True, exist_ok=True)
    listing = b"".join(b"%d\t%s" % (off, piece if piece.endswith(b"\n") else piece + b"\n")
                       for off, piece in cut)
    durable.write_atomic(dest, listing, what="the quarantined log lines")
    body = b"".join(piece for _, piece in keep)
    if body and not body.endswith(b"\n"):
        body += b"\n"
    durable.write_atomic(path, body, what=f"the repaired log {path.name}")


def _restore_experiment(layout: Layout, path: Path) -> None:
    """Rewrite a quarantined experiment record from its twin (by id <-> name claim)."""
    for twin in _experiment_files(layout):
        try:
            record = json.loads(twin.read_bytes())
        except (OSError, ValueError):
            continue
        if type(record) is not dict or "experiment_id" not in record or "name" not in record:
            continue
        by_id = layout.experiment_file(str(record["experiment_id"]))
        claim = layout.experiment_name_claim(str(record["name"]))
        if path in (by_id, claim) and twin != path:
            durable.create_exclusive(path, twin.read_bytes(), what="the restored experiment")
            return


def _experiment_files(layout: Layout) -> Iterator[Path]:
    for sub in (layout.experiments_dir, layout.experiments_dir / "names"):
        with contextlib.suppress(FileNotFoundError):
            for name in os.listdir(sub):
                if name.endswith(".json"):
                    yield sub / name


def _named_all(layout: Layout) -> set[tuple[str, str]]:
    out: set[tuple[str, str]] = set()
    for _, path in events.iter_logs(layout):
        out |= _named_files(path)
    return out


def _index_records(paths: list[Path], named: set[tuple[str, str]]) -> list[dict]:
    """Records for healthy files no record names, so the catalog lists them again: a
    chunk gets its ``metrics`` record; a compacted file the ``compact`` record that
    replaces the files it covers (a run whose ``run_start`` is lost then shows as
    damaged, see ``fold``)."""
    import pyarrow.parquet as pq

    from . import metrics

    out: list[dict] = []
    for p in paths:
        run = p.parent.name
        try:
            table = pq.read_table(p, page_checksum_verification=True).cast(metrics._schema())
            covers = metrics._covers(p) if p.name.startswith("m-") else None
        except Exception:  # damaged too: left for the next doctor run
            continue
        if covers is None:
            out.append({"op": "metrics", "t": events.now_ms(), "run": run, "file": p.name,
                        "n": table.num_rows, "sum": metrics.summarize(table)})
            continue
        replaces = metrics.covered_by([n for r, n in named if r == run and n != p.name],
                                      metrics.parse_compact(p.name) or 0, covers)
        out.append({"op": "compact", "t": events.now_ms(), "run": run, "file": p.name,
                    "replaces": replaces, "points": table.num_rows})
    return out


def _append_own(layout: Layout, records: list[dict]) -> None:
    """Append ``records`` to a log of the doctor's own (it writes no runs)."""
    log = events.EventLog(layout)
    try:
        log.append(records)
    finally:
        log.close()
        # The doctor is no writer of runs: mark its identity closed so nobody waits on it.
        with contextlib.suppress(OSError, ValueError):
            info = json.loads(layout.writer_file(log.writer_id).read_bytes())
            durable.write_atomic(layout.writer_file(log.writer_id),
                                 json.dumps(dict(info, closed=True)).encode(),
                                 what="the doctor's writer record")
