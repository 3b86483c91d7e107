"""Append-only metadata logs: one JSON-lines file per writer process.

Each process that changes a store appends records (run started, params, tags,
status, metric chunk written, ...) to its *own* log file, so writers never
contend for a lock. A record is one line, framed with its checksum::

    {"op":"tags","t":1700000000000,...}<TAB><crc32 of the JSON, 8 hex digits><LF>

A line is only trusted once its newline is on disk, so a process killed mid-write
leaves at most one torn tail, which is held back until it ends. A line whose checksum
does not match (a damaged byte, a torn write cut short by a full disk) is skipped with a
:class:`~trackbook.DamagedFileWarning` naming the log and the byte offset; the records
around it are read as usual. Lines without a checksum (stores written before framing)
are read as plain JSON. Readers remember a byte offset per log and read only what is new.

An append either lands whole or raises :class:`~trackbook.store.durable.DiskWriteError`
(a full disk): the bytes of a failed append are cut back, and the next append starts on
a new line, so no later record is ever merged into a torn one.

Record shape: ``{"op": <str>, "t": <ms since epoch>, ...op fields}``.
"""

from __future__ import annotations

import array
import json
import os
import sys
import threading
import time
import warnings
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from .._errors import DamagedFileWarning
from . import durable
from .layout import Layout

HEARTBEAT_SECONDS = float(os.environ.get("TRACKBOOK_HEARTBEAT_SECONDS", "15"))
# A writer on another host (or whose pid we cannot check) counts as dead after this.
STALE_AFTER_SECONDS = float(os.environ.get("TRACKBOOK_STALE_SECONDS", "120"))


def host_name() -> str:
    """This machine's name in writer identities; ``$TRACKBOOK_HOST`` overrides it (for
    containers that share a host name but not a pid namespace, and for tests that play
    several machines). Writers on another host are judged by heartbeat age, not by pid."""
    if os.environ.get("TRACKBOOK_HOST"):
        return os.environ["TRACKBOOK_HOST"]
    if hasattr(os, "uname"):  # gethostname's answer, without importing socket (~4 ms)
        return os.uname().nodename
    import socket  # pragma: no cover - Windows

    return socket.gethostname()


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def new_writer_id() -> str:
    return f"{time.time_ns() // 1_000_000:x}-{os.getpid()}-{os.urandom(3).hex()}"


def _process_start_ticks(pid: int) -> int | None:
    """Start time of a live ``pid`` in clock ticks since boot (Linux), to detect pid reuse.

    None when there is no such process, or it is a zombie (dead, not yet reaped).
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    # The command name may contain spaces; fields resume after the last ')'.
    fields = stat[stat.rfind(b")") + 2 :].split()
    if fields[0] in (b"Z", b"X"):
        return None
    return int(fields[19])


class EventLog:
    """The append-only log of one writer process, plus its heartbeat file."""

    def __init__(self, layout: Layout, writer_id: str | None = None) -> None:
        self.layout = layout
        self.writer_id = writer_id or new_writer_id()
        self.path = layout.log_file(self.writer_id)
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._torn = False
        self._dir_synced = False
        self._identity = {
            "writer_id": self.writer_id,
            "pid": os.getpid(),
            "host": host_name(),
            "pid_start": _process_start_ticks(os.getpid()),
            "started": now_ms(),
        }
        self._last_beat = 0.0

    def _open(self) -> int:
        if self._fd is None:
            self.layout.ensure()
            self.beat(force=True)
            try:
                self._fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
            except OSError as exc:
                raise durable.DiskWriteError(self.path, "the metadata log", exc) from exc
        return self._fd

    def append(self, records: Iterable[dict[str, Any]], *, level: str = durable.FLUSH,
               what: str | None = None) -> None:
        """Append records atomically with respect to other threads of this process.

        The records land whole or :class:`~trackbook.store.durable.DiskWriteError` is
        raised (naming the log and ``what``, by default a description of the first
        record). ``level`` is the durability point (``durable.COMMIT`` at a run's end):
        the log is fsynced when the policy asks for it at that level.
        """
        records = list(records)
        data = b"".join(map(frame, records))
        if not data:
            return
        with self._lock:
            fd = self._open()
            if self._torn:
                data = self._resync(fd) + data
            sync = durable.wants_sync(level)
            try:
                durable.append_all(fd, data, path=self.path,
                                   what=what or describe(records), level=level)
            except durable.DiskWriteError:
                self._torn = True  # if cutting back failed too, the next append starts anew
                raise
            if sync and not self._dir_synced:  # the log's own name, once
                durable.sync_dir(self.path.parent)
                self._dir_synced = True

    def _resync(self, fd: int) -> bytes:
        """A newline to put before the next record when a failed append left a tail."""
        self._torn = False
        size = os.fstat(fd).st_size
        return b"\n" if size and os.pread(fd, 1, size - 1) != b"\n" else b""

    @property
    def opened(self) -> bool:
        """Whether this process appended to its log."""
        return self._fd is not None

    def beat(self, force: bool = False) -> None:
        """Refresh the heartbeat file (cheap; rate-limited unless ``force``). A heartbeat
        is never fsynced: a stale one after a power cut only makes the writer look dead,
        which it is."""
        t = time.monotonic()
        if not force and t - self._last_beat < HEARTBEAT_SECONDS:
            return
        self._last_beat = t
        record = dict(self._identity, heartbeat=now_ms())
        durable.write_atomic(self.layout.writer_file(self.writer_id),
                             json.dumps(record).encode(), level=durable.FLUSH,
                             what=f"the heartbeat of writer {self.writer_id}")

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


def frame(record: dict[str, Any]) -> bytes:
    """One log line: the record's JSON, a tab, its CRC-32 as 8 hex digits, a newline.

    ``json.dumps`` escapes every control character, so a tab never occurs in the JSON.
    """
    body = json.dumps(record, separators=(",", ":"), default=str).encode("utf-8")
    return b"%s\t%08x\n" % (body, zlib.crc32(body))


def describe(records: list[dict[str, Any]]) -> str:
    """What a batch of records is, for an error message: "the tag 'x' of run abc"."""
    r = records[0]
    op = r.get("op", "?")
    owner = (f" of run {r['run']}" if "run" in r
             else f" of experiment {r['exp']}" if "exp" in r else "")
    data = r.get("data")
    if op in ("tags", "params", "experiment_tags") and isinstance(data, dict) and data:
        kind = {"tags": "tag", "params": "param", "experiment_tags": "tag"}[op]
        keys = list(data)
        names = ", ".join(repr(k) for k in keys[:3]) + (", ..." if len(keys) > 3 else "")
        return f"the {kind}{'s' if len(keys) > 1 else ''} {names}{owner}"
    if op == "status":
        return f"the status {r.get('status')}{owner}"
    if op == "metrics":
        return f"the record of metric chunk {r.get('file')}{owner}"
    if op == "del_tag":
        return f"the deletion of tag {r.get('key')!r}{owner}"
    more = f" (and {len(records) - 1} more)" if len(records) > 1 else ""
    return f"the {op} record{owner}{more}"


def read_records(path: Path, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """Read complete records from ``offset``; return them and the offset after the last one.

    A damaged line is skipped with a :class:`~trackbook.DamagedFileWarning` naming ``path``
    and its byte offset.
    """
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read()
    except FileNotFoundError:
        return [], offset
    end = data.rfind(b"\n")
    if end < 0:
        return [], offset
    return parse_lines(data[: end + 1], path, offset), offset + end + 1


# An array type of 4-byte items, for the CRC-32s (None: check line by line).
_CRC_ARRAY = next((t for t in ("I", "L") if array.array(t).itemsize == 4), None)


def parse_lines(body: bytes, where: str | os.PathLike[str] = "a log",
                offset: int = 0, *, warn: bool = True) -> list[dict[str, Any]]:
    """The records in ``body`` (complete lines, framed or not) read from ``where`` at byte
    ``offset``; damaged lines are skipped, with a warning unless ``warn`` is false."""
    records: Any = None
    try:
        # One parse for the whole batch is ~3x faster than a json.loads per line, and the
        # checksums are compared as one binary string: no Python loop over the lines.
        if b"\t" not in body:  # a store written before framing
            records = json.loads(b"[" + body.rstrip(b"\n").replace(b"\n", b",") + b"]")
        elif _CRC_ARRAY:
            parts = body.replace(b"\t", b"\n").split(b"\n")  # json, crc, json, crc, ..., ""
            parts.pop()
            texts = parts[0::2]
            got = array.array(_CRC_ARRAY, map(zlib.crc32, texts))
            if sys.byteorder == "little":
                got.byteswap()  # hex digits are big-endian
            # (a line without its tab shifts every later pair: the sums then differ)
            if got.tobytes() == bytes.fromhex(b"".join(parts[1::2]).decode("ascii")):
                records = json.loads(b"[" + b",".join(texts) + b"]")
    except (ValueError, UnicodeDecodeError):
        records = None
    if records is not None and all(type(r) is dict for r in records):
        return list(records)
    return _parse_slowly(body, where, offset, warn)


def parse_line(line: bytes) -> dict[str, Any] | None:
    """The record of one log line (without its newline): a framed line whose checksum
    matches, or an unframed one, holding a JSON object; None for a damaged line."""
    body, tab, crc = line.rpartition(b"\t")
    if tab and crc != b"%08x" % zlib.crc32(body):
        return None
    try:
        record = json.loads(body if tab else line)
    except ValueError:
        return None
    return record if type(record) is dict else None


def _parse_slowly(body: bytes, where: str | os.PathLike[str], offset: int, warn: bool
                  ) -> list[dict[str, Any]]:
    records = []
    pos = offset
    for line in body.split(b"\n"):
        start, pos = pos, pos + len(line) + 1
        if not line.strip():
            continue
        record = parse_line(line)
        if record is not None:
            records.append(record)
            continue
        # The damage stays on its line: the records before and after it are read.
        if warn:
            warnings.warn(f"trackbook skipped a damaged record in {where} at byte {start} "
                          f"({len(line)} bytes): {line[:60]!r}; `trackbook doctor --repair` "
                          "quarantines it", DamagedFileWarning, stacklevel=2)
    return records


def iter_logs(layout: Layout) -> Iterator[tuple[str, Path]]:
    """Yield (writer_id, path) for every log file in the store."""
    try:
        entries = list(os.scandir(layout.log_dir))
    except FileNotFoundError:
        return
    for e in entries:
        if e.name.endswith(".jsonl"):
            yield e.name[: -len(".jsonl")], Path(e.path)


def writer_alive(layout: Layout, writer_id: str, now: float | None = None) -> bool:
    """Whether the writer process is still alive (pid check on this host, else heartbeat)."""
    try:
        info = json.loads(layout.writer_file(writer_id).read_text())
    except (FileNotFoundError, ValueError):
        return False
    if info.get("closed"):  # an object-store writer that said goodbye (store/push.py)
        return False
    if info.get("host") == host_name():
        pid = int(info["pid"])
        if not os.path.isdir("/proc"):  # no start times to compare: trust the pid
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return False
            except PermissionError:
                return True
            return True
        start = _process_start_ticks(pid)
        if start is None:
            return False
        expected = info.get("pid_start")
        return expected is None or start == expected  # a reused pid has another start time
    now = time.time() if now is None else now
    return now - info.get("heartbeat", 0) / 1000.0 < STALE_AFTER_SECONDS


def writer_last_seen(layout: Layout, writer_id: str) -> int | None:
    """Last heartbeat of a writer in ms, or None."""
    try:
        return int(json.loads(layout.writer_file(writer_id).read_text())["heartbeat"])
    except (FileNotFoundError, ValueError, KeyError):
        return None
