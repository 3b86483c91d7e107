"""Append-only metadata logs: one JSON-lines file per writer process.

Each process that changes a store appends records (run started, params, tags,
status, metric chunk written, ...) to its *own* log file, so writers never
contend for a lock. A record is one line; a line is only trusted once its
newline is on disk, so a process killed mid-write leaves at most one torn tail
that readers skip. Readers remember a byte offset per log and read only what is new.

Record shape: ``{"op": <str>, "t": <ms since epoch>, ...op fields}``.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from .layout import Layout, write_atomic

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
        self._file: Any = None
        self._identity = {
            "writer_id": self.writer_id,
            "pid": os.getpid(),
            "host": host_name(),
            "pid_start": _process_start_ticks(os.getpid()),
            "started": now_ms(),
        }
        self._last_beat = 0.0

    def _open(self) -> Any:
        if self._file is None:
            self.layout.ensure()
            self.beat(force=True)
            self._file = open(self.path, "ab", buffering=0)  # noqa: SIM115 - kept open for appends
        return self._file

    def append(self, records: Iterable[dict[str, Any]]) -> None:
        """Append records atomically with respect to other threads of this process."""
        data = b"".join(
            json.dumps(r, separators=(",", ":"), default=str).encode("utf-8") + b"\n"
            for r in records
        )
        if not data:
            return
        with self._lock:
            f = self._open()
            f.write(data)

    @property
    def opened(self) -> bool:
        """Whether this process appended to its log."""
        return self._file is not None

    def beat(self, force: bool = False) -> None:
        """Refresh the heartbeat file (cheap; rate-limited unless ``force``)."""
        t = time.monotonic()
        if not force and t - self._last_beat < HEARTBEAT_SECONDS:
            return
        self._last_beat = t
        record = dict(self._identity, heartbeat=now_ms())
        write_atomic(self.layout.writer_file(self.writer_id), json.dumps(record).encode())

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


def read_records(path: Path, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """Read complete records from ``offset``; return them and the offset after the last one."""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read()
    except FileNotFoundError:
        return [], offset
    end = data.rfind(b"\n")
    if end < 0:
        return [], offset
    body = data[: end + 1]
    try:
        # One parse for the whole batch is ~3x faster than a json.loads per line.
        records = json.loads(b"[" + body.rstrip(b"\n").replace(b"\n", b",") + b"]")
    except ValueError:
        records = []
        for line in body.splitlines():
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except ValueError:
                # Only a killed writer's torn tail lacks its newline, so a bad line here
                # is a damaged byte: skip that record, keep the rest.
                continue
    return records, offset + end + 1


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
