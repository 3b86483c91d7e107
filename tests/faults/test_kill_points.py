"""SIGKILL at every write step of a run's life, and what the store shows afterwards.

A fork server (``_kill_child.py``) runs a scripted run life in a child process and kills it
with SIGKILL just before (or just after) its k-th write step under the store root, for every
k until the child completes. After each kill: the store opens; the live catalog and one
rebuilt from the files (``trackbook reindex``) agree exactly; both agree with the files
(``get_metric_history``, ``tb.sql``'s ``metrics`` view, ``latest_metrics`` and the file list
all count every point whose chunk was renamed exactly once, and no other); and the run is
not RUNNING (its writer is dead: KILLED), FINISHED only if its status record was written.
The second pass (kill just after step k) runs where the files differ from those of a kill
just before step k + 1: before a chunk's or a compacted file's temp write, and at the end.
Each test prints its table of (fault point x outcome); see it with ``pytest -rA``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from trackbook.store import metrics as _metrics
from trackbook.store.store import Store
from trackbook.tracking import query

CHILD = Path(__file__).with_name("_kill_child.py")
LIFE_POINTS, RESUME_POINTS = 14, 6
_SIGKILL_STATUS = 9  # os.waitpid status of a child killed by signal 9


class Server:
    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, str(CHILD)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, env=os.environ.copy())

    def run(self, root: Path, phase: str, kill_at: int, when: str) -> dict[str, Any] | None:
        """Run ``phase`` in ``root``; None when killed, else the child's result."""
        result = root.parent / f"result-{phase}-{kill_at}-{when}.json"
        result.unlink(missing_ok=True)
        assert self.proc.stdin
        assert self.proc.stdout
        self.proc.stdin.write(f"{root} {phase} {kill_at} {when} {result}\n")
        self.proc.stdin.flush()
        status = int(self.proc.stdout.readline())
        if status == _SIGKILL_STATUS:
            return None
        out = json.loads(result.read_text())
        assert status == 0, f"{phase} child failed: {out}"
        return out

    def close(self) -> None:
        assert self.proc.stdin
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    s = Server()
    yield s
    s.close()


def snapshot(store: Store) -> dict[str, Any]:
    """What the catalog says about every run (refreshed first)."""
    with store.catalog.connect() as con:
        def q(sql: str) -> list[tuple[Any, ...]]:
            return sorted(con.execute(sql).fetchall())
        snap = {
            "runs": q("SELECT run_id, status, lifecycle_stage FROM runs"),
            "params": q("SELECT run_id, key, value FROM params"),
            "tags": q("SELECT run_id, key, value FROM tags WHERE key NOT LIKE 'mlflow.%' "
                      "AND key NOT LIKE 'trackbook.%'"),
            "latest": q("SELECT run_id, key, count, value, step, min, max FROM latest_metrics"),
            "files": q("SELECT run_id, file FROM metric_files"),
        }
    snap["sql_points"] = int(query.sql(store, "SELECT count(*) AS n FROM metrics")["n"].iloc[0])
    return snap


def check(root: Path, expect_points: int, expect_finished: bool) -> str:
    """Every agreement the module docstring lists; returns the outcome's short text."""
    store = Store(root)
    live = snapshot(store)
    copy = root.with_name(root.name + "-reindexed")
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(root, copy)
    rebuilt_store = Store(copy)
    rebuilt_store.catalog.rebuild()
    rebuilt = snapshot(rebuilt_store)
    assert live == rebuilt, f"live catalog {live} != reindexed {rebuilt}"
    runs = live["runs"]
    if not runs:
        assert expect_points == 0
        assert live["sql_points"] == 0
        return "no run"
    (run_id, status, _), = runs
    history = store.metric_history(run_id)
    steps = history["step"].to_pylist()
    assert len(steps) == len(set(steps)), f"doubled points: {sorted(steps)}"
    newest, chunks, _ = _metrics.visible_files(store.layout.metrics_dir(run_id))
    visible = sorted(p.name for p in ([newest] if newest else []) + chunks)
    assert [f for _, f in live["files"]] == visible, (live["files"], visible)
    counted = sum(row[2] for row in live["latest"])
    assert len(steps) == counted == live["sql_points"] == expect_points, (
        f"history {len(steps)}, latest_metrics {counted}, tb.sql {live['sql_points']}, "
        f"flushed {expect_points}")
    assert status == ("FINISHED" if expect_finished else "KILLED"), status
    return f"{status} {expect_points} pts, {len(visible)} file(s)"


def flushed(steps: list[str], done: int) -> int:
    """Points in chunks renamed within the first ``done`` steps."""
    n = 0
    for s in steps[:done]:
        m = re.match(r"replace c-.*\[(\d+) pts\]$", s)
        if m:
            n = int(m.group(1))
    return n


def status_written(steps: list[str], done: int) -> bool:
    return any(s == "append status" for s in steps[:done])


def clean_steps(server: Server, base: Path, phase: str, prepared: Path | None = None
                ) -> tuple[list[str], Path]:
    root = base / f"clean-{phase}" / "store"
    if prepared is not None:
        shutil.copytree(prepared.parent, root.parent)
    else:
        root.mkdir(parents=True)
    out = server.run(root, phase, 0, "before")
    assert out is not None
    return out["steps"], root


def report(request: pytest.FixtureRequest, title: str, rows: list[tuple[str, ...]]) -> None:
    lines = [title, f"{'k':>3} {'when':6} {'write step':58} outcome"]
    lines += [f"{k:>3} {when:6} {step[:58]:58} {outcome}" for k, when, step, outcome in rows]
    text = "\n".join(lines)
    print(text)
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line("")
        for line in lines:
            reporter.write_line(line)


def _attempt(rows: list[tuple[str, ...]], failures: list[str], k: int, when: str, step: str,
             root: Path, points: int, finished: bool) -> None:
    try:
        rows.append((str(k), when, step, check(root, points, finished)))
    except AssertionError as exc:
        rows.append((str(k), when, step, "FAIL"))
        failures.append(f"k={k} {when} ({step}): {exc}")


@pytest.mark.parametrize("when", ["before", "after"])
def test_kill_during_run_life_then_resume(server: Server, tmp_path: Path, when: str,
                                          request: pytest.FixtureRequest) -> None:
    """Kill the first process at each step; check; a second process resumes the run and
    ends it; check again (the live catalog saw the kill before the resume)."""
    steps, _ = clean_steps(server, tmp_path, "life")
    rows: list[tuple[str, ...]] = []
    failures: list[str] = []
    for k in range(1, len(steps) + 1):
        if when == "after" and k < len(steps) and not steps[k].startswith(("replace c-",
                                                                          "link m-")):
            # Killed just after step k, the files are those of a kill just before step
            # k + 1, unless a temp file is written between them (a chunk's, a compaction's)
            continue
        root = tmp_path / f"k{k}" / "store"
        root.mkdir(parents=True)
        assert server.run(root, "life", k, when) is None, f"step {k} did not kill"
        done = k - 1 if when == "before" else k
        points = flushed(steps, done)
        _attempt(rows, failures, k, when, steps[k - 1], root, points,
                 status_written(steps, done))
        store = Store(root)
        with store.catalog.connect() as con:
            ids = [r for (r,) in con.execute("SELECT run_id FROM runs").fetchall()]
        if not ids or when == "after":  # one resume pass is enough
            continue
        (root.parent / "run_id").write_text(ids[0])
        assert server.run(root, "resume", 0, "before") is not None
        _attempt(rows, failures, k, "resume", "(resumed, logged, ended)", root,
                 points + RESUME_POINTS, True)
    report(request, f"SIGKILL {when} write step k of a run's life", rows)
    assert not failures, "\n".join(failures)


def test_kill_during_resume(server: Server, tmp_path: Path,
                            request: pytest.FixtureRequest) -> None:
    """A finished run is resumed by another process, killed at each of its write steps."""
    _, life_root = clean_steps(server, tmp_path, "life")
    steps, _ = clean_steps(server, tmp_path, "resume", prepared=life_root)
    rows: list[tuple[str, ...]] = []
    failures: list[str] = []
    for k in range(1, len(steps) + 1):
        root = tmp_path / f"k{k}" / "store"
        shutil.copytree(life_root.parent, root.parent)
        assert server.run(root, "resume", k, "before") is None, f"step {k} did not kill"
        points = LIFE_POINTS + flushed(steps, k - 1)
        # Killed after its resume record and before its status record, the run ends KILLED.
        resumed = any(s == "append resume" for s in steps[:k - 1])
        _attempt(rows, failures, k, "before", steps[k - 1], root, points,
                 status_written(steps, k - 1) or not resumed)
    report(request, "SIGKILL before write step k of a resume", rows)
    assert not failures, "\n".join(failures)
