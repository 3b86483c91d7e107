"""Fixtures of the fault-injection suite."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest


@pytest.fixture
def tmpfs(forget_store: Callable[[Path], None]) -> Iterator[Callable[[Path, str], Path]]:
    """``tmpfs(folder, size)`` mounts a real tmpfs of ``size`` (``"2m"``) on a new
    ``folder``: a small disk to fill. The test is skipped, saying why, where mounting is
    refused (not root, no mount namespace). At teardown each store's writer session under
    a mount stops without flushing (the disk may still be full) and the mounts go."""
    mounts: list[Path] = []

    def mount(folder: Path, size: str) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs",
                               str(folder)], capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here ({proc.stderr.strip() or proc.returncode})")
        mounts.append(folder)
        return folder

    yield mount
    from trackbook.store import session

    for mnt in mounts:
        for root in [r for r in session._sessions if r == mnt or mnt in r.parents]:
            s = session._sessions.pop(root)  # no flusher left beating on a gone disk
            s._stop.set()
            s._wake.set()
            s.log.close()
            forget_store(root)  # and the cached Store objects (their catalog copies)
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True, check=False)
