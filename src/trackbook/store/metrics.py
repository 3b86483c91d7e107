"""Metric points as Parquet files: chunk writer, summaries, reader and compaction.

Each writer flushes its buffer for a run as a chunk ``c-<writer>-<seq>.parquet``
(written to a temp name, then renamed: readers never see a torn file). Compaction
rewrites everything visible into ``m-<gen>.parquet`` whose Parquet metadata lists the
chunks it covers as ``{writer: highest seq}``; the covered chunks are then deleted.

Reading rule (never double-counts, never misses): the newest ``m-*`` file plus every
chunk it does not cover. A file vanishing mid-read means a compaction ran: list again.

Columns: run_id (string), key (string), value (float64), step (int64), timestamp (int64 ms).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import durable

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

COVERS_KEY = b"trackbook.covers"
# Steps and timestamps mostly grow by small steps (delta encoding: ~1 byte each) and
# float bytes compress better split by significance: ~5-7 bytes per point in all.
_COMPACT_ENCODING: dict[str, Any] = {
    "compression": "zstd",
    "use_dictionary": ["run_id", "key"],
    "column_encoding": {"step": "DELTA_BINARY_PACKED", "timestamp": "DELTA_BINARY_PACKED",
                        "value": "BYTE_STREAM_SPLIT"},
    "write_page_checksum": True,
}
_READ_ATTEMPTS = 20


def _pa() -> Any:
    import pyarrow

    return pyarrow


def _schema() -> pa.Schema:
    pa = _pa()
    return pa.schema([
        ("run_id", pa.string()), ("key", pa.string()), ("value", pa.float64()),
        ("step", pa.int64()), ("timestamp", pa.int64()),
    ])


def points_relation(con: duckdb.DuckDBPyConnection, paths: Sequence[str],
                    *datasets: Any) -> duckdb.DuckDBPyRelation:
    """The points of metric files ``paths`` (read by DuckDB) and of Arrow ``datasets``
    (objects read in place, say), as one relation on ``con``."""
    from .damaged import usable

    columns = ", ".join(_schema().names)
    paths = usable(paths, con)  # DuckDB fails a whole read over one damaged file
    parts = [con.read_parquet(list(paths)).project(columns)] if paths else []
    parts += [con.from_arrow(d).project(columns) for d in datasets]
    if not parts:
        parts = [con.from_arrow(_schema().empty_table())]
    out = parts[0]
    for part in parts[1:]:
        out = out.union(part)  # UNION ALL
    return out


def chunk_name(writer_id: str, seq: int) -> str:
    return f"c-{writer_id}-{seq:06d}.parquet"


def _parse_chunk(name: str) -> tuple[str, int] | None:
    if not (name.startswith("c-") and name.endswith(".parquet")):
        return None
    writer, _, seq = name[2 : -len(".parquet")].rpartition("-")
    return (writer, int(seq)) if writer and seq.isdigit() else None


def parse_compact(name: str) -> int | None:
    if name.startswith("m-") and name.endswith(".parquet"):
        gen = name[2 : -len(".parquet")]
        return int(gen) if gen.isdigit() else None
    return None




def build_table(run_id: str, items: Sequence[tuple[str, float, int, int]]) -> pa.Table:
    """Columnar table from buffered (key, value, step, timestamp) tuples.

    Built from numpy buffers (see :mod:`trackbook.store.arrow`): a training script's first
    flush should not import pandas.
    """
    import numpy as np

    from .arrow import from_numpy, repeated, strings

    pa = _pa()
    keys, values, steps, stamps = zip(*items, strict=True)
    n = len(keys)

    def column(seq: Sequence[Any], arrow_type: Any, np_type: Any) -> Any:
        return from_numpy(arrow_type, np.fromiter(seq, np_type, n))

    # Plain string columns: a dictionary array's cast would import pyarrow.compute (~45 ms
    # of a training script's first flush).
    return pa.Table.from_arrays(
        [repeated(run_id, n), strings(keys),
         column(values, pa.float64(), np.float64), column(steps, pa.int64(), np.int64),
         column(stamps, pa.int64(), np.int64)],
        schema=_schema(),
    )


def storable(point: tuple[str, float, int, int]) -> bool:
    """Whether one buffered point fits the Parquet schema."""
    key, value, step, ts = point
    return (isinstance(key, str) and isinstance(value, float)
            and all(isinstance(x, int) and -(2**63) <= x < 2**63 for x in (step, ts)))


def summarize(table: pa.Table) -> dict[str, list[Any]]:
    """Per key: [count, min, max, last_step, last_timestamp, last_value].

    "Last" follows MLflow's latest-metric rule: highest step, then highest timestamp
    (then the later point). min/max ignore NaN (None when every value is NaN).
    """
    if table.num_rows <= 64:
        return _summarize_small(table)
    import numpy as np

    from .arrow import to_numpy

    encoded = table["key"].combine_chunks().dictionary_encode()
    codes = to_numpy(encoded.indices)
    names = encoded.dictionary.to_pylist()
    values = to_numpy(table["value"])
    steps = to_numpy(table["step"])
    stamps = to_numpy(table["timestamp"])
    order = np.lexsort((np.arange(len(codes)), stamps, steps, codes))
    codes_s = codes[order]
    starts = np.flatnonzero(np.r_[True, codes_s[1:] != codes_s[:-1]])
    ends = np.r_[starts[1:], len(codes_s)] - 1
    vals_s = values[order]
    with np.errstate(invalid="ignore"):
        mins = np.fmin.reduceat(vals_s, starts)
        maxs = np.fmax.reduceat(vals_s, starts)
    out: dict[str, list[Any]] = {}
    for g, (start, end) in enumerate(zip(starts, ends, strict=True)):
        last = order[end]
        lo, hi = float(mins[g]), float(maxs[g])
        out[names[codes_s[start]]] = [
            int(end - start + 1), None if math.isnan(lo) else lo, None if math.isnan(hi) else hi,
            int(steps[last]), int(stamps[last]), float(values[last])]
    return out


def _summarize_small(table: pa.Table) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    rows = zip(*(table[c].to_pylist() for c in ("key", "value", "step", "timestamp")),
               strict=True)
    for key, value, step, ts in rows:
        finite = None if math.isnan(value) else value
        s = out.get(key)
        if s is None:
            out[key] = [1, finite, finite, step, ts, value]
            continue
        s[0] += 1
        if finite is not None:
            s[1] = finite if s[1] is None else min(s[1], finite)
            s[2] = finite if s[2] is None else max(s[2], finite)
        if (step, ts) >= (s[3], s[4]):
            s[3], s[4], s[5] = step, ts, value
    return out


def merge_summary(old: list[Any] | None, new: list[Any]) -> list[Any]:
    """Combine two summaries of the same key (used when a run is flushed many times)."""
    if old is None:
        return list(new)
    count = old[0] + new[0]
    mins = [v for v in (old[1], new[1]) if v is not None]
    maxs = [v for v in (old[2], new[2]) if v is not None]
    latest = old if (old[3], old[4]) > (new[3], new[4]) else new
    return [count, min(mins) if mins else None, max(maxs) if maxs else None, *latest[3:6]]


def write_chunk(directory: Path, name: str, table: pa.Table, *,
                level: str = durable.FLUSH) -> Path:
    """Write ``table`` as ``directory/name`` via a temp file and an atomic rename
    (:func:`trackbook.store.durable.atomic_path`; fsynced when the policy asks at
    ``level``). Raises :class:`~trackbook.store.durable.DiskWriteError` on a full disk,
    leaving no temp file."""
    import pyarrow.parquet as pq

    path = os.path.join(directory, name)
    if not os.path.isdir(directory):
        durable.make_dirs(directory, what=f"the metric chunk {name}")
    with (durable.atomic_path(path, what=f"the metric chunk {name}", level=level) as tmp,
          _pa().OSFile(str(tmp), "wb") as sink):
        # Small chunks: encoding and compression cost more than they save.
        if table.num_rows < 2000:
            pq.write_table(table, sink, compression="none", use_dictionary=False,
                           write_page_checksum=True)
        else:
            pq.write_table(table, sink, **_COMPACT_ENCODING)
    from .damaged import vouch

    vouch(path)
    return Path(path)


def _covers(path: Path | str, filesystem: Any = None) -> dict[str, int]:
    import pyarrow.parquet as pq

    meta = pq.read_schema(path, filesystem=filesystem).metadata or {}
    return json.loads(meta.get(COVERS_KEY, b"{}"))


def _sound_covers(path: Path) -> dict[str, int]:
    """``_covers``, or {} (with a warning) when the file is damaged: its reader skips it."""
    from . import damaged

    try:
        return _covers(path)
    except Exception as exc:
        if not damaged.is_read_error(exc):
            raise
        damaged.mark(path, f"{type(exc).__name__}: {exc}")
        return {}


def pick_visible(names: Sequence[str], covers_of: Callable[[str], dict[str, int]]
                 ) -> tuple[str | None, list[str], dict[str, int]]:
    """The reading rule over one run's file ``names``: (newest compacted file, the chunks it
    does not cover, its covers); ``covers_of(name)`` reads a compacted file's covers."""
    compacts = sorted((g, n) for n in names if (g := parse_compact(n)) is not None)
    newest = compacts[-1][1] if compacts else None
    covers = covers_of(newest) if newest is not None else {}
    chunks = [n for n in sorted(names)
              if (parsed := _parse_chunk(n)) is not None and parsed[1] > covers.get(parsed[0], -1)]
    return newest, chunks, covers


def covered_by(names: Sequence[str], gen: int, covers: dict[str, int]) -> list[str]:
    """The ``names`` that a compacted file of generation ``gen`` with ``covers`` makes
    invisible: older compacted files and the chunks at or below its covers."""
    out = []
    for n in sorted(names):
        g = parse_compact(n)
        if g is not None:
            if g < gen:
                out.append(n)
        elif (parsed := _parse_chunk(n)) is not None and parsed[1] <= covers.get(parsed[0], -1):
            out.append(n)
    return out


def visible_files(directory: Path) -> tuple[Path | None, list[Path], dict[str, int]]:
    """Apply the reading rule to a run's folder: (newest compacted file, uncovered chunks,
    covers)."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return None, [], {}
    newest, chunks, covers = pick_visible(names, lambda n: _sound_covers(directory / n))
    return (directory / newest if newest else None), [directory / n for n in chunks], covers


def read_metrics(directory: Path, keys: Sequence[str] | None = None) -> pa.Table:
    """All points of one run (optionally only ``keys``), sorted by key, step, timestamp."""
    for _ in range(_READ_ATTEMPTS):
        try:
            newest, chunks, _ = visible_files(directory)
            tables = [t for f in ([newest] if newest else []) + chunks
                      if (t := _read_sound(f, keys)) is not None]
            break
        except FileNotFoundError:
            continue  # a compaction replaced files under us; list again
    else:  # pragma: no cover - would need 20 compactions during one read
        raise OSError(f"metric files under {directory} kept changing while reading")
    if not tables:
        return _schema().empty_table()
    if len(tables) == 1 and not chunks:
        return tables[0]  # a compacted file is already in order
    table = _pa().concat_tables(tables)
    return table.sort_by([("key", "ascending"), ("step", "ascending"),
                          ("timestamp", "ascending")])


def _read_sound(path: Path, keys: Sequence[str] | None) -> pa.Table | None:
    """``_read_file``, or None (with a warning) when the file is damaged."""
    from . import damaged

    if damaged.is_damaged(path):
        return None
    try:
        return _read_file(path, keys)
    except Exception as exc:
        if not damaged.is_read_error(exc):
            raise
        damaged.mark(path, f"{type(exc).__name__}: {exc}")
        return None


def _read_file(path: Path, keys: Sequence[str] | None) -> pa.Table:
    """Read one file, skipping row groups whose key statistics exclude ``keys``.

    Compacted files hold one key per row group, so a history read touches only its rows.
    """
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path, page_checksum_verification=True)
    if not keys:
        return pf.read().cast(_schema())
    wanted = set(keys)
    meta = pf.metadata
    key_col = meta.schema.names.index("key")
    groups, mixed = [], False
    for i in range(meta.num_row_groups):
        stats = meta.row_group(i).column(key_col).statistics
        if stats is None or not stats.has_min_max:
            groups.append(i)
            mixed = True
            continue
        lo, hi = stats.min, stats.max
        if lo == hi:
            if lo in wanted:
                groups.append(i)
        elif any(lo <= k <= hi for k in wanted):
            groups.append(i)
            mixed = True
    if not groups:
        return _schema().empty_table()
    table = pf.read_row_groups(groups).cast(_schema())
    if mixed:
        pc = _pa().compute
        table = table.filter(pc.is_in(table["key"], _pa().array(sorted(wanted), _pa().string())))
    return table


def compact(directory: Path,
            before_delete: Callable[[dict[str, Any]], None] | None = None
            ) -> dict[str, Any] | None:
    """Rewrite the visible files of a run into one; return what was done, or None.

    Safe against concurrent writers (their new chunks are not covered) and against a
    concurrent compaction (the new file is created exclusively; the loser gives up).
    ``before_delete`` is called with the result once the new file is in place and before
    the replaced files are deleted, so a log can record the swap first.
    """

    for _ in range(_READ_ATTEMPTS):
        try:
            newest, chunks, covers = visible_files(directory)
            if not chunks or (newest is None and len(chunks) == 1):
                return None  # already a single file: rewriting it would gain nothing
            table = _read_files(([newest] if newest else []) + chunks)
            if table is None:
                return None  # a damaged file (warned): `trackbook doctor --repair` first
        except FileNotFoundError:
            continue  # another compaction replaced the files we listed
        break
    else:  # pragma: no cover
        return None
    new_covers = dict(covers)
    for c in chunks:
        writer, seq = _parse_chunk(c.name)  # type: ignore[misc]
        new_covers[writer] = max(seq, new_covers.get(writer, -1))
    gen = (parse_compact(newest.name) if newest else 0) or 0
    name = f"m-{gen + 1:08d}.parquet"
    table = table.sort_by([("key", "ascending"), ("step", "ascending"),
                           ("timestamp", "ascending")])
    table = table.replace_schema_metadata({COVERS_KEY: json.dumps(new_covers).encode()})
    tmp = durable.temp_name(directory / name)
    try:
        _write_by_key(table, tmp)
        # Created exclusively, and on disk with its name (COMMIT) before the record that
        # makes the chunks it replaces deletable.
        if not durable.link_exclusive(tmp, directory / name, level=durable.COMMIT,
                                      what=f"the compacted metrics {name}"):
            return None  # another process compacted first; its file covers ours
    finally:
        tmp.unlink(missing_ok=True)
    # Every file the new covers cover goes, not only those read: a compacted file whose
    # process died before it could delete what it covered left those behind.
    replaced = covered_by(os.listdir(directory), gen + 1, new_covers)
    result = {"file": name, "replaces": replaced, "points": table.num_rows,
              "covers": new_covers, "sum": summarize(table)}
    if before_delete is not None:
        before_delete(result)
    for old in replaced:
        (directory / old).unlink(missing_ok=True)
    return result


def _read_files(files: list[Path]) -> pa.Table | None:
    if not files:
        return _schema().empty_table()
    tables = [_read_sound(f, None) for f in files]
    if any(t is None for t in tables):
        return None
    return _pa().concat_tables(tables) if len(tables) > 1 else tables[0]


def _write_by_key(table: pa.Table, path: Path) -> None:
    """Write a key-sorted table with one row group per key (at most 1M rows each)."""
    import numpy as np
    import pyarrow.parquet as pq

    from .arrow import to_numpy

    codes = to_numpy(table["key"].combine_chunks().dictionary_encode().indices)
    bounds = [*np.flatnonzero(codes[1:] != codes[:-1]) + 1, len(codes)]
    with pq.ParquetWriter(path, table.schema, **_COMPACT_ENCODING) as writer:
        start = 0
        for end in bounds:
            writer.write_table(table.slice(start, end - start), row_group_size=1 << 20)
            start = end


def to_float(value: Any) -> float:
    """Coerce a metric value to float or raise ``TypeError`` (bools and strings are refused)."""
    if isinstance(value, (bool, str | bytes)):
        raise TypeError(type(value).__name__)
    f = float(value)
    return f if not math.isnan(f) else math.nan
