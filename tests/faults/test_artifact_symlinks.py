"""log_artifacts and symlinks (issue 13, fault 8): a symlink loop once copied 5.3 GB into a
hidden ``.tmp`` and left it there.

Rule (MLflow 3.17 copies with ``os.walk``, which does not descend into symlinked folders):
symlinks to folders are not followed, dangling links and special files are skipped, each
with a TrackbookWarning; symlinks to files are copied by content. A failed copy leaves no
``.tmp`` behind.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

import trackbook as tb
from trackbook._errors import StoreError, TrackbookWarning


def artifact_files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def leftovers(root: Path) -> list[str]:
    return [str(p) for p in root.rglob("*") if p.name.endswith(".tmp")]


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder outside the one logged, with 50 files in it."""
    big = tmp_path / "outside"
    big.mkdir()
    for i in range(50):
        (big / f"f{i}.bin").write_bytes(b"x" * 1000)
    return big


@pytest.mark.usefixtures("store")
@pytest.mark.parametrize("artifact_path", [None, "out"])
def test_symlinked_folders_are_not_followed(tmp_path: Path, outside: Path,
                                            artifact_path: str | None) -> None:
    src = tmp_path / "results"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "a.txt").write_text("a")
    (src / "real.txt").write_text("real")
    os.symlink(src, src / "sub" / "loop")  # a loop back to the top
    os.symlink(outside, src / "big")  # a link to a folder elsewhere
    os.symlink(outside / "f0.bin", src / "linked.bin")  # a link to a file: copied
    os.symlink(tmp_path / "missing", src / "dangling")
    os.mkfifo(src / "pipe")  # reading it would block forever
    with tb.start_run() as run, pytest.warns(TrackbookWarning) as caught:
        tb.log_artifacts(str(src), artifact_path)
    root = Path(tb.get_run(run.info.run_id).info.artifact_uri.removeprefix("file://"))
    base = root / artifact_path if artifact_path else root
    assert artifact_files(base) == {"sub", "sub/a.txt", "real.txt", "linked.bin"}
    assert (base / "linked.bin").read_bytes() == b"x" * 1000
    assert not (base / "linked.bin").is_symlink()
    messages = " ".join(str(w.message) for w in caught)
    for name in ("loop", "big", "dangling", "pipe"):
        assert name in messages
    assert not leftovers(root)


@pytest.fixture
def small_disk(tmp_path: Path, tmpfs: Callable[[Path, str], Path]) -> Path:
    """A 3 MB tmpfs where the ``store`` fixture puts its store (so it cleans up as usual)."""
    return tmpfs(tmp_path / "store", "3m")


@pytest.fixture
def disk_store(small_disk: Path, store: Path) -> Path:
    assert store == small_disk
    return store


def test_a_failed_copy_leaves_no_tmp(tmp_path: Path, disk_store: Path) -> None:
    src = tmp_path / "big"  # outside the tmpfs
    src.mkdir()
    for i in range(8):
        (src / f"part{i}.bin").write_bytes(os.urandom(500_000))
    with tb.start_run() as run:
        with pytest.raises(StoreError, match="artifacts copied from"):
            tb.log_artifacts(str(src), "model")
        tb.log_artifact(str(src / "part0.bin"), "ok")  # the disk is usable again
    root = Path(tb.get_run(run.info.run_id).info.artifact_uri.removeprefix("file://"))
    assert not leftovers(disk_store)
    assert not (root / "model").exists()
    assert (root / "ok" / "part0.bin").stat().st_size == 500_000
