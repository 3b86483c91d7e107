"""Damaged metric files: find them, warn once, and keep every reader away from them.

Metric files never change once renamed into place, so a file is judged once per process
by ``(path, size, mtime)``: readers skip what was found damaged, with one
:class:`~trackbook._errors.DamagedFileWarning` naming the file, and every other run
answers as before. ``trackbook doctor`` (:mod:`trackbook.store.doctor`) lists the damage
and quarantines it.

Probes: :func:`structure_error` checks the magic bytes and the footer's length (a few
bytes read; catches zero-length and truncated files); :func:`full_error` reads every page
with its CRC checked (pyarrow). SQL over the points (:func:`usable`, DuckDB: which checks
no page CRC) fully probes each new chunk up to ``VERIFY_FULL_BYTES`` once per process,
and only the structure and footer of other files; :func:`recover` finds the damaged file after
DuckDB failed on it.
"""

from __future__ import annotations

import logging
import os
import threading
import warnings
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from .._errors import DamagedFileWarning

if TYPE_CHECKING:
    import duckdb

log = logging.getLogger(__name__)

_MAGIC = b"PAR1"
# Chunks up to this size get their page CRCs checked (pyarrow) before SQL reads them: a
# chunk under 2,000 points is stored uncompressed, where a flipped byte decodes to a wrong
# value without any error. Compacted files (compressed, possibly millions of points) get
# the structure and footer check only.
VERIFY_FULL_BYTES = 256 * 1024
_lock = threading.Lock()
_damaged: dict[tuple[str, int, int], str] = {}  # (path, size, mtime_ns) -> why
_sound: set[tuple[str, int, int]] = set()  # passed the structure probe


def _key(path: str) -> tuple[str, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (path, st.st_size, st.st_mtime_ns)


def structure_error(path: str) -> str | None:
    """Why ``path`` is not a whole Parquet file (magic bytes, footer length), or None."""
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size < 12:
                return f"{size} bytes: too small to be a Parquet file"
            head = f.read(4)
            f.seek(size - 8)
            tail = f.read(8)
    except FileNotFoundError:
        raise
    except OSError as exc:
        return f"unreadable: {exc}"
    if head != _MAGIC or tail[4:] != _MAGIC:
        return "no Parquet magic bytes at its start or end (truncated or overwritten)"
    footer = int.from_bytes(tail[:4], "little")
    if footer + 12 > size:
        return f"its footer claims {footer} bytes of a {size}-byte file (truncated)"
    return None


def full_error(path: str) -> str | None:
    """Why ``path`` cannot be read whole with its page checksums verified, or None."""
    import pyarrow.parquet as pq

    why = structure_error(path)
    if why is not None:
        return why
    try:
        pq.ParquetFile(path, page_checksum_verification=True).read()
    except FileNotFoundError:
        raise
    except Exception as exc:  # pyarrow raises OSError, ArrowInvalid, ... alike
        return f"{type(exc).__name__}: {exc}"
    return None


def mark(path: str | os.PathLike[str], why: str) -> None:
    """Remember ``path`` as damaged (for this process) and warn once, naming it."""
    path = os.fspath(path)
    key = _key(path)
    if key is None:
        return
    with _lock:
        if key in _damaged:
            return
        _damaged[key] = why
        _sound.discard(key)
    text = f"skipping damaged metric file {path}: {why}. Run `trackbook doctor` to list " \
           "damaged files and `trackbook doctor --repair` to quarantine them."
    log.warning(text)
    warnings.warn(text, DamagedFileWarning, stacklevel=3)


def is_damaged(path: str | os.PathLike[str]) -> bool:
    key = _key(os.fspath(path))
    return key is not None and key in _damaged


def vouch(path: str | os.PathLike[str]) -> None:
    """``path`` was just written whole by this process: no need to probe it."""
    key = _key(os.fspath(path))
    if key is not None:
        with _lock:
            _sound.add(key)


def usable(paths: Sequence[str], con: duckdb.DuckDBPyConnection | None = None) -> list[str]:
    """``paths`` without the damaged ones, each new file version probed once per process:
    its magic bytes and footer length, and with ``con`` its footer parsed by DuckDB (all
    new files in one call: ~60 us each).

    A path that cannot be stat'ed is kept: a compaction replaced it, and the reader's
    "list again" retry sees that.
    """
    keys = [_key(p) for p in paths]
    fresh = []
    for path, key in zip(paths, keys, strict=True):
        if key is None or key in _sound or key in _damaged:
            continue
        try:
            # DuckDB checks no page CRC: small files (chunks) are read whole once here.
            full = key[1] <= VERIFY_FULL_BYTES and os.path.basename(path).startswith("c-")
            why = full_error(path) if full else structure_error(path)
        except FileNotFoundError:
            continue
        if why is None:
            fresh.append((path, key))
        else:
            mark(path, why)
    if fresh and con is not None:
        try:
            con.execute("SELECT count(*) FROM parquet_file_metadata(?::VARCHAR[])",
                        [[p for p, _ in fresh]]).fetchall()
        except Exception:  # only footers were read: find which one fails, if any
            for path, _ in fresh:
                try:
                    con.execute("SELECT count(*) FROM parquet_file_metadata(?)",
                                [path]).fetchall()
                except Exception as exc:  # as DuckDB fails on it, so would the query
                    if os.path.exists(path):
                        mark(path, f"its footer cannot be read: {exc}")
    with _lock:
        _sound.update(k for _, k in fresh if k not in _damaged)
    return [p for p, k in zip(paths, keys, strict=True) if k is None or k not in _damaged]


def footer_error(path: str) -> str | None:
    """Why the footer of ``path`` cannot be parsed, or None."""
    import pyarrow.parquet as pq

    try:
        why = structure_error(path)
        if why is None:
            pq.read_metadata(path)
    except FileNotFoundError:
        return None
    except Exception as exc:  # pyarrow raises OSError, ArrowInvalid, ... alike
        return f"its footer cannot be read: {type(exc).__name__}: {exc}"
    return why


def recover(exc: BaseException, paths: Iterable[str]) -> bool:
    """After a read of ``paths`` failed with ``exc``: whether damaged files among them were
    found now (probed page by page, marked, warned about), so a retry without them can
    succeed."""
    if not is_read_error(exc):
        return False
    return bool(probe_all(p for p in paths if not is_damaged(p)))


def probe_all(paths: Iterable[str]) -> list[tuple[str, str]]:
    """Probe ``paths`` fully (every page's CRC); mark and return the damaged ones."""
    found = []
    for path in paths:
        try:
            why = full_error(path)
        except FileNotFoundError:
            continue
        if why is not None:
            mark(path, why)
            found.append((path, why))
    return found


def is_read_error(exc: BaseException) -> bool:
    """Whether ``exc`` (from pyarrow or DuckDB) says a Parquet file is damaged, as opposed
    to gone (a compaction replaced it) or a mistake in a query."""
    if isinstance(exc, FileNotFoundError):
        return False
    text = str(exc)
    if any(m in text for m in ("No such file", "No files found", "does not exist")):
        return False
    return isinstance(exc, OSError | ValueError) or any(m in text.lower() for m in (
        "parquet", "magic bytes", "thrift", "corrupt", "checksum", "decompress",
        "invalid input error: file"))


def forget() -> None:
    """Forget every judgement (tests; after ``doctor --repair``)."""
    with _lock:
        _damaged.clear()
        _sound.clear()


def damaged_now() -> dict[str, str]:
    """The damaged files this process found: path -> why."""
    with _lock:
        return {k[0]: why for k, why in _damaged.items()}
