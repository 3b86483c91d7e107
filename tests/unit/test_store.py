"""The store's files: metric reading rule and compaction (also under races between real
processes), the append-only event logs, and the DuckDB catalog as a rebuildable index."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import trackbook as tb
from trackbook._errors import TrackbookWarning
from trackbook.store import events
from trackbook.store import metrics as m
from trackbook.store.catalog import Catalog
from trackbook.store.layout import Layout
from trackbook.tracking.entities import ViewType


class Crash(Exception):
    """Raised from compact's ``before_delete`` hook: the process 'dies' at that point."""


def write_chunks(directory: Path, writer: str, seqs: range, per: int = 10,
                 key: str = "x") -> None:
    """Chunk ``seq`` holds steps seq*per .. seq*per+per-1 with value == step."""
    for seq in seqs:
        items = [(key, float(s), s, 1000 + s) for s in range(seq * per, (seq + 1) * per)]
        m.write_chunk(directory, m.chunk_name(writer, seq), m.build_table("run", items))


def points(directory: Path) -> list[tuple[str, int, float]]:
    t = m.read_metrics(directory)
    return list(zip(t["key"].to_pylist(), t["step"].to_pylist(), t["value"].to_pylist(),
                    strict=True))


def expected(key: str, n: int) -> list[tuple[str, int, float]]:
    return [(key, s, float(s)) for s in range(n)]


# -- reading rule and compaction -------------------------------------------------------------

def test_reading_rule_chunks_and_compacted_files(tmp_path: Path) -> None:
    d = tmp_path / "metrics"
    assert points(d) == []
    write_chunks(d, "wa", range(5))
    assert points(d) == expected("x", 50)
    first = m.compact(d)
    assert first is not None
    assert first["points"] == 50
    assert sorted(os.listdir(d)) == ["m-00000001.parquet"]
    assert points(d) == expected("x", 50)
    write_chunks(d, "wa", range(5, 8))
    write_chunks(d, "wb", range(3), key="y")  # a second writer with its own sequence
    assert points(d) == expected("x", 80) + expected("y", 30)
    second = m.compact(d)
    assert second is not None
    assert second["points"] == 110
    assert sorted(os.listdir(d)) == ["m-00000002.parquet"]
    assert m.compact(d) is None  # nothing new
    write_chunks(d, "wb", range(3, 4), key="y")
    assert points(d) == expected("x", 80) + expected("y", 40)


def test_crash_between_compaction_and_cleanup_never_double_counts(tmp_path: Path) -> None:
    d = tmp_path / "metrics"
    write_chunks(d, "wa", range(4))

    def crash(result: dict[str, Any]) -> None:
        raise Crash(result["file"])

    with pytest.raises(Crash):
        m.compact(d, before_delete=crash)
    # the compacted file and every chunk it covers are both on disk now
    assert len(os.listdir(d)) == 5
    assert points(d) == expected("x", 40)
    write_chunks(d, "wa", range(4, 6))
    with pytest.raises(Crash):
        m.compact(d, before_delete=crash)  # m-1 and m-2 both present, plus old chunks
    assert points(d) == expected("x", 60)
    write_chunks(d, "wa", range(6, 7))
    assert m.compact(d) is not None
    assert points(d) == expected("x", 70)


WRITER = """
import os, sys, time
from pathlib import Path
from trackbook.store import metrics as m
d, seconds, per = Path(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
progress = d.parent / "progress"
m.build_table("run", [("x", 0.0, 0, 0)])  # import pyarrow before the clock starts
seq, end = 0, time.monotonic() + seconds
while time.monotonic() < end:
    time.sleep(0.002)  # a training loop between flushes; leaves CPU for the others
    items = [("x", float(s), s, s) for s in range(seq * per, (seq + 1) * per)]
    m.write_chunk(d, m.chunk_name("w1", seq), m.build_table("run", items))
    seq += 1
    tmp = d.parent / "progress.tmp"
    tmp.write_text(str(seq))
    os.replace(tmp, progress)
"""

COMPACTOR = """
import sys, time
from pathlib import Path
from trackbook.store import metrics as m
d, stop = Path(sys.argv[1]), Path(sys.argv[2])
m.build_table("run", [("x", 0.0, 0, 0)])
done = 0
while not stop.exists():
    if m.compact(d) is not None:  # any exception fails the test
        done += 1
    else:
        time.sleep(0.0005)
print(done)
"""


def race(tmp_path: Path, compactors: int, seconds: float, per: int = 5) -> list[int]:
    """A writer adds chunks while ``compactors`` processes compact in a loop and this
    process reads; every read must hold each point once and every point already written."""
    d = tmp_path / "metrics"
    d.mkdir()
    stop = tmp_path / "stop"
    progress = tmp_path / "progress"
    comp = [subprocess.Popen([sys.executable, "-c", COMPACTOR, str(d), str(stop)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(compactors)]
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(d), str(seconds), str(per)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    reads = 0
    try:
        while True:
            finished = writer.poll() is not None
            written = int(progress.read_text()) if progress.exists() else 0
            table = m.read_metrics(d)
            steps = table["step"].to_pylist()
            assert steps == list(range(len(steps))), "a point is missing or counted twice"
            assert len(steps) >= written * per, "a point written before the read is missing"
            reads += 1
            if finished:
                break
            if any(c.poll() is not None for c in comp):
                writer.kill()  # a compactor died: no need to wait for the writer
                break
            time.sleep(0.01)
    finally:
        stop.write_text("")
        _, w_err = writer.communicate(timeout=60)
        results = [(*c.communicate(timeout=60), c.returncode) for c in comp]
    for _out, err, rc in results:
        assert rc == 0, err
        assert err == "", err
    assert writer.returncode == 0, w_err
    assert reads > 5
    m.compact(d)
    assert points(d) == expected("x", int(progress.read_text()) * per)
    return [int(out) for out, _, _ in results]


def test_compaction_racing_a_reader(tmp_path: Path) -> None:
    # Compactions must really interleave with the reads; a loaded 2-core CI box starts
    # the compactor slowly, so give it time rather than demand a rate.
    done = race(tmp_path, compactors=1, seconds=3.0)
    assert done[0] >= 3


def test_two_compactions_racing(tmp_path: Path) -> None:
    """Compaction is safe against a concurrent compaction: the loser gives up (returns
    None) and never raises, and readers never miss or double-count a point."""
    done = race(tmp_path, compactors=2, seconds=4.0)
    assert sum(done) > 10


# -- event logs ------------------------------------------------------------------------------

def test_read_records_skips_torn_tail_and_resumes(tmp_path: Path) -> None:
    path = tmp_path / "w.jsonl"
    lines = [json.dumps({"op": "tags", "t": i, "data": {"k": str(i)}}) for i in range(3)]
    whole = "\n".join(lines[:2]) + "\n"
    path.write_text(whole + lines[2][:10])  # the writer died (or is) mid-line
    records, offset = events.read_records(path)
    assert [r["t"] for r in records] == [0, 1]
    assert offset == len(whole.encode())
    with open(path, "a") as f:
        f.write(lines[2][10:] + "\n" + "{not json}\n" + lines[0] + "\n")
    with pytest.warns(TrackbookWarning, match=r"w\.jsonl at byte 129"):
        more, end = events.read_records(path, offset)
    assert [r["t"] for r in more] == [2, 0]  # the corrupt middle line alone is skipped
    assert end == path.stat().st_size
    assert events.read_records(path, end) == ([], end)
    assert events.read_records(tmp_path / "missing.jsonl", 5) == ([], 5)


def test_catalog_skips_torn_last_line_of_a_log(tb_store: Path) -> None:
    with tb.start_run() as run:
        tb.log_param("p", "1")
        tb.set_tag("kept", "yes")
    rid = run.info.run_id
    log_path = tb.Client().store.session.log.path
    torn = json.dumps({"op": "tags", "t": events.now_ms(), "run": rid, "data": {"late": "v"}})
    with open(log_path, "ab") as f:
        f.write(torn[:25].encode())  # killed mid-write: no newline
    got = tb.get_run(rid)
    assert got.data.tags["kept"] == "yes"
    assert "late" not in got.data.tags
    assert got.data.params == {"p": "1"}
    assert list(tb.search_runs()["run_id"]) == [rid]
    with open(log_path, "ab") as f:  # a writer that was only slow completes its line
        f.write(torn[25:].encode() + b"\n")
    assert tb.get_run(rid).data.tags["late"] == "v"


# -- catalog ---------------------------------------------------------------------------------

def catalog_view() -> dict[str, Any]:
    """Everything a user can see through queries, in a canonical order."""
    runs = tb.search_runs(search_all_experiments=True, run_view_type=ViewType.ALL,
                          order_by=["attributes.run_id"])
    runs = runs[sorted(runs.columns)]
    exps = sorted((e.experiment_id, e.name, e.lifecycle_stage, tuple(sorted(e.tags.items())))
                  for e in tb.search_experiments(view_type=ViewType.ALL))
    tables = {t: tb.sql(f"SELECT * FROM {t} ORDER BY ALL")
              for t in ("runs", "params", "tags", "latest_metrics", "experiments",
                        "experiment_tags")}
    counts = tb.sql("SELECT run_id, key, count(*) AS n, sum(value) AS s FROM metrics "
                    "GROUP BY ALL ORDER BY ALL")
    return {"runs": runs, "experiments": exps, "tables": tables, "points": counts}


def assert_same_view(a: dict[str, Any], b: dict[str, Any]) -> None:
    pd.testing.assert_frame_equal(a["runs"], b["runs"])
    assert a["experiments"] == b["experiments"]
    for name in a["tables"]:
        pd.testing.assert_frame_equal(a["tables"][name], b["tables"][name], obj=name)
    pd.testing.assert_frame_equal(a["points"], b["points"])


def crash_in_run() -> None:
    with tb.start_run(run_name="bad"):
        tb.log_metric("partial", 1.0)
        raise RuntimeError("boom")


def populate() -> None:
    """A store with most kinds of records: experiments (renamed, deleted, tagged), runs
    (finished, failed, nested, deleted, resumed, still running), params, tags set and
    deleted, metrics over several flushes and compactions."""
    client = tb.Client()
    a = tb.set_experiment("a").experiment_id
    client.set_experiment_tag(a, "owner", "me")
    for i in range(3):
        with tb.start_run(run_name=f"r{i}") as run:
            tb.log_params({"i": i, "model": "rf"})
            tb.set_tag("temp", "x")
            tb.delete_tag("temp")
            for step in range(50):
                tb.log_metric("loss", 1.0 / (step + 1), step=step)
                if step % 20 == 0:
                    tb.flush()
            with tb.start_run(nested=True):
                tb.log_metric("child", float(i))
    client.delete_run(run.info.run_id)
    with pytest.raises(RuntimeError):
        crash_in_run()
    b = client.create_experiment("b")
    client.rename_experiment(b, "b2")
    c = client.create_experiment("c")
    client.delete_experiment(c)
    with tb.start_run(experiment_id=b) as run:
        tb.set_tag("phase", "1")
    with tb.start_run(run_id=run.info.run_id):
        tb.set_tag("phase", "2")
    tb.start_run(run_name="still-running")
    tb.log_metric("live", 3.0)
    tb.flush()


def test_catalog_rebuild_from_files_gives_the_same_results(tb_store: Path) -> None:
    populate()
    before = catalog_view()
    assert len(before["runs"]) == 9
    layout = Layout.at(tb_store)
    layout.catalog_file.unlink()
    Catalog(layout).rebuild()
    assert_same_view(before, catalog_view())
    Catalog(layout).rebuild()  # rebuild with the catalog in place
    assert_same_view(before, catalog_view())


def test_catalog_refresh_is_incremental(tb_store: Path) -> None:
    with tb.start_run() as run:
        tb.log_param("p", "aaaa")
        for step in range(10):
            tb.log_metric("x", float(step), step=step)
    rid = run.info.run_id
    count = "SELECT count FROM latest_metrics WHERE run_id = ? AND key = 'x'"
    for _ in range(3):  # re-applying old log lines would add the summaries again
        assert tb.sql(count, [rid])["count"][0] == 10
    layout = Layout.at(tb_store)
    sizes = {w: p.stat().st_size for w, p in events.iter_logs(layout)}
    offsets = tb.sql("SELECT writer_id, byte_offset FROM log_offsets")
    assert dict(zip(offsets["writer_id"], offsets["byte_offset"], strict=True)) == sizes

    # Change bytes that were already indexed: an incremental refresh never reads them again.
    log_path = tb.Client().store.session.log.path
    data = log_path.read_bytes()
    assert data.count(b'"aaaa"') == 1
    # (re-framed with a valid checksum: a bad one would make readers skip the line)
    log_path.write_bytes(b"".join(
        events.frame(json.loads(line.rpartition(b"\t")[0].replace(b'"aaaa"', b'"bbbb"')))
        if b'"aaaa"' in line else line + b"\n" for line in data.splitlines()))
    with tb.start_run() as later:
        tb.log_param("p", "cccc")
    assert tb.get_run(rid).data.params == {"p": "aaaa"}
    assert tb.get_run(later.info.run_id).data.params == {"p": "cccc"}
    assert tb.sql(count, [rid])["count"][0] == 10
    Catalog(layout).rebuild()  # a rebuild reads every byte again
    assert tb.get_run(rid).data.params == {"p": "bbbb"}
    assert tb.sql(count, [rid])["count"][0] == 10


def test_reader_sees_new_runs_of_another_process_without_restart(tb_store: Path) -> None:
    tb.set_experiment("shared")
    assert len(tb.search_runs()) == 0
    code = textwrap.dedent("""
        import trackbook as tb
        tb.set_experiment("shared")
        with tb.start_run():
            tb.log_metric("m", 7.0)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=False, env=dict(os.environ))
    assert out.returncode == 0, out.stderr
    deadline = time.monotonic() + 5
    df = tb.search_runs()
    while len(df) == 0 and time.monotonic() < deadline:
        df = tb.search_runs()
    assert list(df["metrics.m"]) == [7.0]
    assert list(df["status"]) == ["FINISHED"]
