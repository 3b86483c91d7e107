"""File durability: the one place that writes files so they appear whole or not at all.

Every writer in trackbook goes through these helpers:

- :func:`write_atomic` / :func:`atomic_path` — a temp file in the same folder, then a rename:
  readers see the old file or the whole new one, never a torn one. A failed write (a full
  disk, say) raises :class:`DiskWriteError` naming the file and leaves no temp file behind.
- :func:`create_exclusive` — create a file only if it does not exist yet (a hard link of a
  complete temp file), so exactly one of several racing creators wins.
- :func:`append_all` — append bytes to an open file descriptor or raise; a short write
  (ENOSPC mid-record) is cut back so the next record starts on a clean line.
- :func:`sync_file` / :func:`sync_dir` — ``fsync`` according to the durability policy.
- :func:`file_lock` — an exclusive inter-process lock (the ``filelock`` library), and
  :func:`fast_lock`, a bare ``flock`` for the lock taken on every catalog query.

The durability policy (``TRACKBOOK_DURABILITY``) decides when data is forced to the disk:

``commit`` (default)
    fsync the file and its folder when a run ends, when metrics are compacted, and for
    registry and experiment claims. A power cut loses at most what was logged since the
    last such point; a process crash (kill -9) loses only its unflushed buffer.
``flush``
    also fsync every metric chunk and every log append. Slowest, loses nothing flushed.
``off``
    never fsync: the operating system writes back when it likes (tests, throwaway stores).
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from .._errors import StoreError

POLICIES = ("off", "commit", "flush")
# What a write asks for: COMMIT points (run end, compaction, claims) and FLUSH points
# (every chunk and log append).
COMMIT = "commit"
FLUSH = "flush"

_policy_cache: tuple[str, str] | None = None


class DiskWriteError(StoreError):
    """A file could not be written whole (a full disk, a read-only folder, ...).

    ``path`` is the file, ``what`` says what was being written.
    """

    def __init__(self, path: str | os.PathLike[str], what: str, exc: OSError) -> None:
        self.path = str(path)
        self.what = what
        code = exc.errno or errno_in(str(exc))  # pyarrow's OSError has it in its text
        reason = os.strerror(code) if code else str(exc)
        hint = ""
        if code in (errno.ENOSPC, errno.EDQUOT):
            folder = os.path.dirname(self.path) or "."
            hint = f" The disk holding {folder} is full; free space and retry."
        super().__init__(f"could not write {what} to {self.path}: {reason}.{hint}")
        self.errno = code  # OSError.__init__ with one argument resets it to None


def errno_in(text: str) -> int | None:
    """The ``[Errno N]`` an error message quotes (pyarrow's and DuckDB's I/O errors carry
    the OS error only in their text), or None."""
    import re

    m = re.search(r"\[errno (\d+)\]", text, re.IGNORECASE)
    return int(m.group(1)) if m else None


def policy() -> str:
    """The durability policy in force: ``TRACKBOOK_DURABILITY`` (``off``, ``commit`` or
    ``flush``; default ``commit``)."""
    global _policy_cache
    raw = os.environ.get("TRACKBOOK_DURABILITY", "")
    if _policy_cache is not None and _policy_cache[0] == raw:
        return _policy_cache[1]
    value = raw.strip().lower() or COMMIT
    if value not in POLICIES:
        raise StoreError(f"TRACKBOOK_DURABILITY={raw!r} is not one of {', '.join(POLICIES)}")
    _policy_cache = (raw, value)
    return value


def wants_sync(level: str) -> bool:
    """Whether a write at ``level`` (:data:`COMMIT` or :data:`FLUSH`) is fsynced."""
    p = policy()
    return p == FLUSH or (p == COMMIT and level == COMMIT)


def sync_fd(fd: int) -> None:
    """fsync an open file descriptor (fdatasync where it exists: the size is data too)."""
    (getattr(os, "fdatasync", None) or os.fsync)(fd)


def sync_file(path: str | os.PathLike[str]) -> None:
    """fsync the file at ``path``."""
    fd = os.open(path, os.O_RDONLY)
    try:
        sync_fd(fd)
    finally:
        os.close(fd)


def sync_dir(path: str | os.PathLike[str]) -> None:
    """fsync a folder, so the names created or renamed in it survive a power cut."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:  # pragma: no cover - platforms whose folders cannot be opened
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - some file systems refuse fsync on folders
        pass
    finally:
        os.close(fd)


def temp_name(path: str | os.PathLike[str]) -> Path:
    """A unique temp file name beside ``path`` (hidden; ends in ``.tmp``)."""
    p = Path(path)
    return p.with_name(f".{p.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")


def _write_fd(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        if n <= 0:  # pragma: no cover - os.write raises rather than return 0
            raise OSError(errno.EIO, "write returned 0")
        view = view[n:]


def make_dirs(path: str | os.PathLike[str], *, what: str = "a folder") -> None:
    """``mkdir -p path``; a refusal (a full disk has no room for a folder either) raises
    :class:`DiskWriteError` naming ``what`` was being written."""
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise DiskWriteError(path, what, exc) from exc


def write_file(path: str | os.PathLike[str], data: bytes, *, what: str = "a file",
               level: str = COMMIT) -> None:
    """Write ``data`` to a new file ``path`` (whole, or raise :class:`DiskWriteError`)."""
    _write_new(path, data, what, wants_sync(level))


def _write_new(path: str | os.PathLike[str], data: bytes, what: str, sync: bool) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    except OSError as exc:
        raise DiskWriteError(path, what, exc) from exc
    try:
        _write_fd(fd, data)
        if sync:
            sync_fd(fd)
    except OSError as exc:
        raise DiskWriteError(path, what, exc) from exc
    finally:
        os.close(fd)


def write_atomic(path: str | os.PathLike[str], data: bytes, *, what: str = "a file",
                 level: str = COMMIT) -> None:
    """Replace ``path`` with ``data`` so that readers see the old file or the whole new one.

    Raises :class:`DiskWriteError` (and leaves no temp file) when the disk refuses.
    """
    with atomic_path(path, what=what, level=level) as tmp:
        _write_new(tmp, data, what, sync=False)  # atomic_path fsyncs it before the rename


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], *, what: str = "a file",
                level: str = COMMIT) -> Iterator[Path]:
    """Yield a temp path to write (by any means: pyarrow, shutil, ...); on success it is
    renamed onto ``path``, on any error it is removed and an ``OSError`` becomes
    :class:`DiskWriteError`.

    With the policy's sync at ``level`` the temp file is fsynced before the rename and the
    folder after it.
    """
    target = Path(path)
    tmp = temp_name(target)
    try:
        yield tmp
        if wants_sync(level):
            sync_file(tmp)
        os.replace(tmp, target)
    except DiskWriteError as exc:  # name the file the caller asked for, not our temp file
        _remove(tmp)
        if exc.path != str(tmp):
            raise
        raise DiskWriteError(target, what, _os_error(exc)) from exc.__cause__
    except OSError as exc:
        _remove(tmp)
        raise DiskWriteError(target, what, exc) from exc
    except BaseException:
        _remove(tmp)
        raise
    if wants_sync(level):
        sync_dir(target.parent)


def create_exclusive(path: str | os.PathLike[str], data: bytes, *, what: str = "a claim",
                     level: str = COMMIT) -> bool:
    """Create ``path`` holding ``data`` only if it does not exist yet; return whether we did.

    The content goes to a complete temp file first, which is then hard-linked into place:
    a reader never sees a half-written claim, and exactly one of several creators wins.
    """
    target = Path(path)
    tmp = temp_name(target)
    try:
        try:
            write_file(tmp, data, what=what, level=level)
        except DiskWriteError as exc:
            raise DiskWriteError(target, what, _os_error(exc)) from exc.__cause__
        try:
            os.link(tmp, target)
        except FileExistsError:
            return False
        except OSError as exc:
            raise DiskWriteError(target, what, exc) from exc
    finally:
        _remove(tmp)
    if wants_sync(level):
        sync_dir(target.parent)
    return True


def move_into(src: str | os.PathLike[str], dest: str | os.PathLike[str], *,
              what: str = "a file", level: str = COMMIT) -> None:
    """Rename a complete file ``src`` (a temp file kept elsewhere on the same disk) onto
    ``dest``; ``src`` is fsynced first and ``dest``'s folder after, when the policy asks
    at ``level``. On failure ``src`` is removed and :class:`DiskWriteError` raised."""
    try:
        if wants_sync(level):
            sync_file(src)
        os.replace(src, dest)
    except OSError as exc:
        _remove(Path(src))
        raise DiskWriteError(dest, what, exc) from exc
    if wants_sync(level):
        sync_dir(Path(dest).parent)


def link_exclusive(src: str | os.PathLike[str], dest: str | os.PathLike[str], *,
                   what: str = "a file", level: str = COMMIT) -> bool:
    """Hard-link a complete file ``src`` to ``dest`` unless ``dest`` exists; return whether
    we did. ``src`` is fsynced first when the policy asks at ``level``."""
    try:
        if wants_sync(level):
            sync_file(src)
        os.link(src, dest)
    except FileExistsError:
        return False
    except OSError as exc:
        raise DiskWriteError(dest, what, exc) from exc
    if wants_sync(level):
        sync_dir(Path(dest).parent)
    return True


def append_all(fd: int, data: bytes, *, path: str | os.PathLike[str], what: str,
               level: str = FLUSH) -> None:
    """Append ``data`` to the end of the file open as ``fd`` (``O_APPEND``), whole or not
    at all: a write that fails part way is cut back to where it began, so no torn bytes
    merge with the next record, and :class:`DiskWriteError` is raised."""
    start = os.lseek(fd, 0, os.SEEK_END)
    try:
        _write_fd(fd, data)
        if wants_sync(level):
            sync_fd(fd)
    except OSError as exc:
        with contextlib.suppress(OSError):  # truncating frees space; it works on a full disk
            os.ftruncate(fd, start)
        raise DiskWriteError(path, what, exc) from exc


def copy_file(src: str | os.PathLike[str], dest: str | os.PathLike[str], *,
              what: str = "a file", level: str = COMMIT) -> None:
    """Copy ``src`` onto ``dest`` atomically (temp file, then rename)."""
    with atomic_path(dest, what=what, level=level) as tmp:
        shutil.copyfile(src, tmp)


def _os_error(exc: DiskWriteError) -> OSError:
    cause = exc.__cause__
    return cause if isinstance(cause, OSError) else OSError(exc.errno, str(exc))


def _remove(path: Path) -> None:
    with contextlib.suppress(OSError):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink()


@contextlib.contextmanager
def file_lock(path: str | os.PathLike[str], timeout: float = -1,
              poll: float = 0.002) -> Iterator[None]:
    """Hold an exclusive inter-process lock on ``path`` (created if missing).

    ``timeout`` seconds to wait (-1: forever); raises :class:`StoreError` when it runs out.
    The lock is released when the block ends or the process dies.
    """
    import filelock

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    lock = filelock.FileLock(str(path), thread_local=False, is_singleton=False)
    try:
        lock.acquire(timeout=timeout, poll_interval=poll)
    except filelock.Timeout:
        raise StoreError(f"waited {timeout:.0f} s for the lock {path}: another process "
                         "keeps it busy") from None
    try:
        yield
    finally:
        lock.release()


def try_lock(path: str | os.PathLike[str], note: bytes = b"") -> int | None:
    """Take an exclusive lock on ``path`` without waiting; return its open descriptor (the
    lock lasts until it is closed or the process dies, kill -9 included), or None when
    another process holds it. ``note`` (who holds it) replaces the file's content; a
    process that finds the lock held reads the note with :func:`lock_note`.

    A plain ``flock``: ~30 us where :func:`file_lock`'s library takes ~1 ms, for a lock
    taken at every run start.
    """
    import fcntl

    fd = _open_lock_file(path)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    except BaseException:
        os.close(fd)
        raise
    if note:
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, note, 0)
        except OSError as exc:
            os.close(fd)
            raise DiskWriteError(path, "a lock file's note", exc) from exc
    return fd


def _open_lock_file(path: str | os.PathLike[str]) -> int:
    """Open (creating it and its folder if missing) a lock file for ``flock``; no O_TRUNC,
    so a holder's note stays. A refusal (a full disk has no room for the lock file either)
    raises :class:`DiskWriteError`."""
    try:
        try:
            return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except FileNotFoundError:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise DiskWriteError(path, "a lock file", exc) from exc


def lock_note(path: str | os.PathLike[str]) -> bytes:
    """The note the holder of a :func:`try_lock` lock left in it (empty if none)."""
    try:
        return Path(path).read_bytes()
    except OSError:
        return b""


@contextlib.contextmanager
def fast_lock(path: str | os.PathLike[str], timeout: float, poll: float = 0.002,
              busy: str = "") -> Iterator[None]:
    """:func:`file_lock` for a lock taken on every query (the catalog's turns): a bare
    ``flock`` polled every ``poll`` seconds, ~6 µs a turn where ``filelock`` takes
    ~350 µs (measured: its fork and path bookkeeping). Falls back to :func:`file_lock`
    where there is no ``fcntl``. ``busy`` is the error message when ``timeout`` runs out.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        with file_lock(path, timeout, poll):
            yield
        return
    import time

    fd = _open_lock_file(path)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise StoreError(busy or f"waited {timeout:.0f} s for the lock {path}: "
                                     "another process keeps it busy") from None
                time.sleep(poll)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
