"""A full disk: every public write lands whole or raises ``DiskWriteError``.

(a) a real small tmpfs store filled until writes fail, (b) an ``OSError(ENOSPC)``
injected at every write step of a run's life (the k-th ``os.write``, ``os.replace``,
``os.link``, ``open`` for writing, ... for k = 1..N). After each: no record is torn, no
temp file is left, everything that was logged without an error is readable (in a fresh
process for (a)), and a record logged once space is back is not swallowed. Each test
prints its table of (fault point x outcome).
"""

from __future__ import annotations

import builtins
import errno
import json
import os
import subprocess
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import trackbook as tb
from trackbook._errors import TrackbookError, TrackbookWarning
from trackbook.store import events
from trackbook.store.durable import DiskWriteError

SRC = Path(tb.__file__).resolve().parent


@pytest.fixture(autouse=True)
def _no_background_flush(monkeypatch: pytest.MonkeyPatch) -> None:
    # Only the calls under test write: no flusher wake-up in the middle of a fault.
    from trackbook.store import session

    monkeypatch.setattr(session, "FLUSH_SECONDS", 3600.0)


# -- the scenario: every public write once -----------------------------------------------------

@dataclass
class Ledger:
    """What each step wrote, when it returned normally (to check it is readable later)."""

    n: int
    source: Path
    experiments: list[str] = field(default_factory=list)
    params: list[tuple[str, str, str]] = field(default_factory=list)
    tags: list[tuple[str, str, str]] = field(default_factory=list)
    failed_records: list[tuple[str, str, str, str]] = field(default_factory=list)
    points: list[tuple[str, str, int]] = field(default_factory=list)
    artifacts: list[tuple[str, str, bytes]] = field(default_factory=list)
    versions: list[tuple[str, str]] = field(default_factory=list)
    runs: set[str] = field(default_factory=set)

    def run_id(self) -> str:
        active = tb.active_run()
        if active is None:
            active = tb.start_run()
        self.runs.add(active.info.run_id)
        return active.info.run_id


def steps(led: Ledger, payload: int = 200, reader: bool = True
          ) -> list[tuple[str, Callable[[], Any]]]:
    """The public writes of one round, each a (name, call) whose effects go in ``led``
    (and a catalog read, unless not ``reader``)."""
    n = led.n

    def set_experiment() -> None:
        name = f"exp-{n}"
        tb.set_experiment(name)
        led.experiments.append(name)

    def start_run() -> None:
        if tb.active_run() is not None:  # a failed end_run is retried first
            tb.end_run()
        led.runs.add(tb.start_run().info.run_id)

    def record(kind: str, log: Callable[[str, str], Any], key: str, value: str,
               kept: list[tuple[str, str, str]]) -> None:
        """Log one param or tag; note it as kept, or as failed when the disk refused it."""
        rid = led.run_id()
        try:
            log(key, value)
        except DiskWriteError:
            led.failed_records.append((kind, rid, key, value))
            raise
        kept.append((rid, key, value))

    def log_param() -> None:
        record("param", tb.log_param, f"p{n}", "v" * payload, led.params)

    def set_tag() -> None:
        record("tag", tb.set_tag, f"t{n}", "w" * payload, led.tags)

    def log_metric_flush() -> None:
        rid = led.run_id()
        tb.log_metric("loss", float(n), step=n)
        # a point whose flush fails stays buffered: it lands with a later flush
        led.points.append((rid, "loss", n))
        tb.flush()

    def log_dict() -> None:
        rid, name = led.run_id(), f"d{n}.json"
        data = {"n": n, "pad": "x" * payload * 10}
        tb.log_dict(data, name)
        led.artifacts.append((rid, name, json.dumps(data, indent=2).encode()))

    def log_artifact() -> None:
        rid = led.run_id()
        tb.log_artifact(str(led.source), f"a{n}")
        led.artifacts.append((rid, f"a{n}/{led.source.name}", led.source.read_bytes()))

    def register() -> None:
        rid = led.run_id()
        mv = tb.register_model(f"runs:/{rid}", "model")
        led.versions.append(("model", str(mv.version)))

    def search() -> None:  # a reader: works, or names the full disk
        tb.search_runs(search_all_experiments=True)

    def end_run() -> None:
        led.run_id()
        tb.end_run()

    return [("set_experiment", set_experiment), ("start_run", start_run),
            ("log_param", log_param), ("set_tag", set_tag),
            ("log_metric+flush", log_metric_flush), ("log_dict", log_dict),
            ("log_artifact", log_artifact), ("register_model", register),
            *([("search_runs", search)] if reader else []), ("end_run", end_run)]


def attempt(call: Callable[[], Any]) -> str:
    """Run one step: "ok", or "DiskWriteError"; any other exception fails the test."""
    with warnings.catch_warnings(record=True) as caught:
        # A read flushes first, and a flush that fails only warns (the points stay
        # buffered): that is the one warning a full disk may cause.
        warnings.simplefilter("always", TrackbookWarning)
        try:
            call()
        except DiskWriteError as exc:
            error = exc
        else:
            error = None
        finally:
            for w in caught:
                assert "they stay buffered and are retried" in str(w.message), w
    if error is None:
        return "ok"
    assert str(error).count("could not write") == 1, error
    assert ".tmp" not in error.path, error  # names the file asked for, not a temp file
    return "DiskWriteError"



def finish(led: Ledger) -> str:
    """After the faults: end what is open, then one more record that must be read back."""
    if tb.active_run() is not None:
        tb.end_run()  # retried: the buffered points and the status land now
    with tb.start_run() as run:
        tb.set_tag("after", "space is back")
    led.tags.append((run.info.run_id, "after", "space is back"))
    led.runs.add(run.info.run_id)
    return run.info.run_id


# -- the checks ----------------------------------------------------------------------------------

def temp_files(root: Path) -> list[str]:
    return sorted(str(p) for p in root.rglob("*") if ".tmp" in p.name)


def check_logs_whole(root: Path) -> int:
    """Every line of every log is a whole record with a valid checksum; return the count."""
    count = 0
    for _, path in events.iter_logs(_layout(root)):
        data = path.read_bytes()
        assert not data or data.endswith(b"\n"), f"{path} ends in a torn record"
        with warnings.catch_warnings():
            warnings.simplefilter("error", TrackbookWarning)
            count += len(events.parse_lines(data, path))
    return count


def _layout(root: Path) -> Any:
    from trackbook.store.layout import Layout

    return Layout.at(root)


VERIFY = r"""
import json, sys, warnings
warnings.simplefilter("error")  # a damaged record would warn
import trackbook as tb
led = json.load(sys.stdin)
c = tb.Client()
out = {"missing": []}
for rid, key, value in led["params"]:
    if c.get_run(rid).data.params.get(key) != value:
        out["missing"].append(["param", rid, key])
for rid, key, value in led["tags"]:
    if c.get_run(rid).data.tags.get(key) != value:
        out["missing"].append(["tag", rid, key])
for kind, rid, key, value in led["failed_records"]:
    data = c.get_run(rid).data
    if (data.params if kind == "param" else data.tags).get(key) == value:
        out["missing"].append(["a failed write landed", rid, key])
steps = {}
for rid, key, step in led["points"]:
    steps.setdefault((rid, key), []).append(step)
for (rid, key), want in steps.items():
    got = sorted(m.step for m in c.get_metric_history(rid, key))
    if got != sorted(want):
        out["missing"].append(["points", rid, key, got, want])
for rid, name, data in led["artifacts"]:
    path = c.download_artifacts(rid, name)
    if open(path, "rb").read().decode("latin-1") != data:
        out["missing"].append(["artifact", rid, name])
for name in led["experiments"]:
    if tb.get_experiment_by_name(name) is None:
        out["missing"].append(["experiment", name])
versions = {str(v.version) for v in c.search_model_versions("name = 'model'")}
for name, version in led["versions"]:
    if version not in versions:
        out["missing"].append(["version", name, version])
status = {rid: c.get_run(rid).info.status for rid in led["runs"]}
out["not_finished"] = [rid for rid, s in status.items() if s != "FINISHED"]
print(json.dumps(out))
"""


def verify_in_fresh_process(root: Path, led: Ledger) -> dict[str, Any]:
    payload = {"params": led.params, "tags": led.tags, "points": led.points,
               "failed_records": led.failed_records,
               "artifacts": [(r, n, d.decode("latin-1")) for r, n, d in led.artifacts],
               "experiments": led.experiments, "versions": led.versions,
               "runs": sorted(led.runs)}
    env = dict(os.environ, TRACKBOOK_STORE=str(root), PYTHONPATH=str(SRC.parent))
    proc = subprocess.run([sys.executable, "-c", VERIFY], input=json.dumps(payload),
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def print_table(capsys: pytest.CaptureFixture[str], title: str,
                rows: list[tuple[str, str]]) -> None:
    width = max(len(a) for a, _ in rows)
    with capsys.disabled():
        print(f"\n{title}")
        print(f"  {'fault point'.ljust(width)}  outcome")
        for a, b in rows:
            print(f"  {a.ljust(width)}  {b}")


# -- (a) a real full disk ------------------------------------------------------------------------

@pytest.fixture
def small_disk(tmp_path: Path, tmpfs: Callable[[Path, str], Path]) -> Path:
    return tmpfs(tmp_path / "disk", "2m")


def fill(disk: Path, leave: int) -> Path:
    """Fill the disk until ``leave`` bytes are free; return the filler file."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        block = b"\0" * 4096
        while os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize > leave:
            try:
                os.write(fd, block)
            except OSError:
                break
    finally:
        os.close(fd)
    return filler


def test_a_full_tmpfs_refuses_writes_cleanly_and_loses_nothing(
        small_disk: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    root = small_disk / "store"
    monkeypatch.setenv("TRACKBOOK_STORE", str(root))
    tb.set_tracking_uri(root)
    source = tmp_path / "weights.bin"
    source.write_bytes(os.urandom(6000))
    led = Ledger(0, source)
    for name, call in steps(led):  # a healthy first round (the catalog exists after it)
        assert attempt(call) == "ok", name
    filler = fill(small_disk, leave=96 * 1024)
    rows: list[tuple[str, str]] = []
    failed_rounds = 0
    for n in range(1, 40):
        led.n = n
        outcomes = [(name, attempt(call)) for name, call in steps(led, payload=2000)]
        rows += [(f"round {n}: {name}", outcome) for name, outcome in outcomes]
        if all(o != "ok" for name, o in outcomes if name != "search_runs"):
            failed_rounds += 1
            if failed_rounds == 2:
                break
    print_table(capsys, "full tmpfs (2 MiB): each public write, round after round", rows)
    refused = {name for name, o in rows if o == "DiskWriteError"}
    assert failed_rounds == 2, "the disk never filled up"
    for step in ("set_tag", "log_param", "log_dict", "log_artifact", "end_run",
                 "set_experiment", "register_model", "log_metric+flush"):
        assert any(name.endswith(step) for name in refused), f"{step} never hit the full disk"
    assert temp_files(root) == []
    check_logs_whole(root)
    filler.unlink()  # space is back
    finish(led)
    tb.Client().store.session.flush_all(strict=True)
    check_logs_whole(root)
    result = verify_in_fresh_process(root, led)
    assert result == {"missing": [], "not_finished": []}


def test_a_reader_on_a_full_disk_sees_the_full_disk(
        small_disk: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The catalog refresh commits into catalog.duckdb: on a full disk the reader gets a
    DiskWriteError naming the catalog (not DuckDB's "cannot rollback - no transaction is
    active"), both when the refresh commits and when the catalog is first created; once
    space is back the catalog works (no empty file left that DuckDB would refuse)."""
    root = small_disk / "store"
    monkeypatch.setenv("TRACKBOOK_STORE", str(root))
    tb.set_tracking_uri(root)
    with tb.start_run():
        tb.set_tag("k", "v")
    assert len(tb.search_runs(search_all_experiments=True)) == 1  # the catalog exists
    for _ in range(40):  # plenty for the next refresh to commit
        with tb.start_run():
            tb.log_params({f"p{j}": "x" * 200 for j in range(20)})
    filler = fill(small_disk, leave=0)
    with pytest.raises(DiskWriteError, match=r"catalog.*No space left on device"):
        tb.search_runs(search_all_experiments=True)
    filler.unlink()
    assert len(tb.search_runs(search_all_experiments=True)) == 41

    other = small_disk / "other"  # no catalog yet: its creation fails
    tb.set_tracking_uri(other)
    with tb.start_run():
        tb.set_tag("k", "w")
    filler = fill(small_disk, leave=0)
    with pytest.raises(DiskWriteError, match=r"catalog.*No space left on device"):
        tb.search_runs(search_all_experiments=True)
    filler.unlink()
    assert list(tb.search_runs(search_all_experiments=True)["tags.k"]) == ["w"]


# -- (b) ENOSPC injected at every write step -----------------------------------------------------

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC


class Injector:
    """Counts the write calls of this thread and fails the ``fail_at``-th with ENOSPC."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.fail_at = fail_at
        self.calls = 0
        self.fired: str | None = None
        self.active = False

    def _hit(self, name: str) -> None:
        if not self.active:
            return
        self.calls += 1
        if self.calls == self.fail_at:
            self.fired = f"{name} in {where()}"
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def install(self, mp: pytest.MonkeyPatch) -> None:
        real = {n: getattr(os, n) for n in ("write", "replace", "rename", "link", "open",
                                              "mkdir", "fsync", "fdatasync", "sendfile",
                                              "symlink")}
        real_open = builtins.open

        def wrap(n: str) -> Callable[..., Any]:
            def call(*args: Any, **kwargs: Any) -> Any:
                if n == "open" and not (len(args) > 1 and args[1] & _WRITE_FLAGS):
                    pass  # a read
                elif n == "mkdir" and os.path.lexists(args[0]):
                    pass  # EEXIST comes before any allocation
                else:
                    self._hit(f"os.{n}")
                return real[n](*args, **kwargs)
            return call

        def opener(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
            if any(c in mode for c in "wax+"):
                self._hit("open(w)")
            return real_open(file, mode, *args, **kwargs)

        for n in real:
            mp.setattr(os, n, wrap(n))
        mp.setattr(builtins, "open", opener)


def where() -> str:
    """The trackbook functions on the stack at a fault (innermost first, 3 of them)."""
    frames = []
    f = sys._getframe(2)
    while f is not None and len(frames) < 3:
        path = Path(f.f_code.co_filename)
        if SRC in path.parents:
            frames.append(f"{path.stem}.{f.f_code.co_name}")
        f = f.f_back  # type: ignore[assignment]
    return " < ".join(frames) or "?"


def run_scenario(root: Path, source: Path, inj: Injector,
                 mp: pytest.MonkeyPatch) -> tuple[Ledger, list[tuple[str, str]]]:
    from trackbook.tracking import fluent

    fluent._experiment_id = None  # the previous scenario's store had it
    tb.set_tracking_uri(root)
    mp.setenv("TRACKBOOK_STORE", str(root))
    led = Ledger(0, source)
    outcomes = []
    # Readers on a full disk: test_a_reader_on_a_full_disk_sees_the_full_disk.
    for name, call in steps(led, reader=False):
        inj.active = True
        try:
            outcomes.append((name, attempt(call)))
        finally:
            inj.active = False
    return led, outcomes


@pytest.mark.slow
def test_b_enospc_at_every_write_step(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "weights.bin"
    source.write_bytes(os.urandom(3000))
    # A first store makes the per-process things (package list, pyarrow, DuckDB) warm.
    run_scenario(tmp_path / "warm", source, Injector(), monkeypatch)
    counter = Injector()
    with monkeypatch.context() as mp:
        counter.install(mp)
        run_scenario(tmp_path / "count", source, counter, monkeypatch)
    total = counter.calls
    assert total > 20
    rows = []
    for k in range(1, total + 1):
        root = tmp_path / f"k{k}"
        inj = Injector(k)
        with monkeypatch.context() as mp:
            inj.install(mp)
            led, outcomes = run_scenario(root, source, inj, monkeypatch)
        refused = [name for name, o in outcomes if o != "ok"]
        assert len(refused) <= 1, (k, inj.fired, outcomes)  # only the faulted step
        assert temp_files(root) == [], (k, inj.fired)
        check_logs_whole(root)
        finish(led)
        check_logs_whole(root)
        problems = quick_verify(led)
        assert problems == [], (k, inj.fired, outcomes, problems)
        rows.append((f"{k:3d} {inj.fired or '(not reached)'}",
                     f"{refused[0]} raised DiskWriteError" if refused else "all writes ok"))
        tb.Client().store.session.log.close()
    print_table(capsys, f"ENOSPC injected at write call k of {total} (one scenario each)", rows)
    assert any("DiskWriteError" in o for _, o in rows)


def quick_verify(led: Ledger) -> list[Any]:
    """The in-process version of the fresh process's check (every logged thing is read)."""
    c = tb.Client()
    out: list[Any] = []
    for rid, key, value in led.params:
        if c.get_run(rid).data.params.get(key) != value:
            out.append(("param", key))
    for rid, key, value in led.tags:
        if c.get_run(rid).data.tags.get(key) != value:
            out.append(("tag", key))
    for kind, rid, key, value in led.failed_records:
        data = c.get_run(rid).data
        if (data.params if kind == "param" else data.tags).get(key) == value:
            out.append(("a failed write landed", kind, key))
    for rid, key, step in led.points:
        if [m.step for m in c.get_metric_history(rid, key)].count(step) != 1:
            out.append(("point", key, step))
    for rid, name, data in led.artifacts:
        if Path(c.download_artifacts(rid, name)).read_bytes() != data:
            out.append(("artifact", name))
    for rid in led.runs:
        if c.get_run(rid).info.status != "FINISHED":
            out.append(("status", rid))
    return out


def test_every_failed_append_is_a_trackbook_error(tmp_path: Path, store: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The regression of issue 13 item 2: a short write used to tear the record, return
    normally, and merge the next record into the torn one."""
    with tb.start_run() as run:
        tb.set_tag("first", "1")
        real_write = os.write
        calls = {"n": 0}

        def short_then_full(fd: int, data: Any) -> int:
            calls["n"] += 1
            if calls["n"] == 1:
                return real_write(fd, bytes(data)[:7])  # a short write ...
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # ... then a full disk

        monkeypatch.setattr(os, "write", short_then_full)
        with pytest.raises(DiskWriteError, match=r"the tag 'x' of run \w+ .*No space left"):
            tb.set_tag("x", "lost")
        monkeypatch.setattr(os, "write", real_write)
        tb.set_tag("next", "kept")
    assert isinstance(DiskWriteError("p", "w", OSError(errno.ENOSPC, "x")), TrackbookError)
    tags = tb.Client().get_run(run.info.run_id).data.tags
    assert tags["first"] == "1"
    assert tags["next"] == "kept"
    assert "x" not in tags
    check_logs_whole(store)
