"""Reading points on an ``s3://`` store (real SeaweedFS) whose runs were written on
another machine: ``tb.sql`` (scanning the bucket in place), the curves widget's data
message and ``get_metric_history`` (fetching what they read) are exact at once, with the
replica's background download of metric files turned off."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from s3_store_helpers import Machines, finish, reader

import trackbook as tb
from trackbook.store.objects import S3Objects
from trackbook.tracking.uri import get_store

pytest.importorskip("anywidget")
from trackbook.widgets import curves

STEPS = 2000
WRITER = f"""
import os
import sys
import trackbook as tb
tb.set_tracking_uri(sys.argv[1])
tb.set_experiment("curves")
for i in range(3):
    with tb.start_run(run_name=f"r{{i}}") as run:
        for step in range({STEPS}):
            tb.log_metric("loss", 1000 * i + step + (500 if step == 1234 else 0), step=step)
        print(run.info.run_id)
# a fourth run left as uncompacted chunks: flushed and pushed, then the process dies
run = tb.start_run(run_name="r3")
for step in range({STEPS}):
    tb.log_metric("loss", 3000 + step + (500 if step == 1234 else 0), step=step)
tb.flush()
print(run.info.run_id, flush=True)
os._exit(0)
"""


def _expected(i: int) -> list[tuple[float, float]]:
    return [(s, 1000 * i + s + (500 if s == 1234 else 0)) for s in range(STEPS)]


def sql_reads_every_point(ids: list[str]) -> None:
    frame = tb.sql("SELECT run_id, step, value FROM metrics ORDER BY run_id, step")
    for i, run_id in enumerate(ids):
        mine = frame[frame["run_id"] == run_id]
        assert list(zip(mine["step"], mine["value"], strict=True)) == _expected(i)
    assert len(frame) == len(ids) * STEPS


def _written(s3_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The ids of WRITER's four runs, written on another machine in small chunks (each run
    is several chunk files, compacted at its end, but the fourth); the replica's download
    of metric files turned off."""
    machines = Machines(tmp_path)
    try:
        ids = finish(machines.start("writer", WRITER, s3_url,
                                    TRACKBOOK_FLUSH_POINTS="300")).split()
    finally:
        machines.close()
    monkeypatch.setenv("TRACKBOOK_S3_PREFETCH", "0")
    return ids


def test_points_of_runs_from_another_machine_are_exact_at_once(
        s3_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ids = _written(s3_url, tmp_path, monkeypatch)
    names = [o.key.rsplit("/", 1)[1] for o in S3Objects(s3_url).list(f"runs/{ids[3]}/")]
    assert len(names) > 1
    assert all(n.startswith("c-") for n in names)  # chunks only: no compaction ran
    with reader(s3_url, tmp_path / "notebook", monkeypatch):
        store = get_store()
        assert store.puller.on_metrics is None  # TRACKBOOK_S3_PREFETCH=0
        runs = tb.search_runs(experiment_names=["curves"], output_format="list")
        assert len(runs) == 4  # the catalog knows the runs; the replica has no points yet
        assert not list(store.layout.runs_dir.glob("*/*.parquet"))

        # SQL scans the bucket's files in place (pyarrow's S3 filesystem): nothing downloaded
        sql_reads_every_point(ids)
        assert not list(store.layout.runs_dir.glob("*/*.parquet"))

        widget = curves("loss", runs=[ids[0]], resolution=STEPS)
        meta, (ipc,) = widget._req_data({"x_axis": "step"})
        points = pa.ipc.open_stream(ipc).read_all()
        assert meta["series"] == [{"run_id": ids[0], "key": "loss", "n": STEPS}]
        got = [(x + meta["x0"], v) for x, v in zip(points["x"].to_pylist(),
                                                   points["value"].to_pylist(), strict=True)]
        assert got == _expected(0)

        frame = tb.sql("SELECT step, value FROM metrics WHERE run_id = ? ORDER BY step",
                       [ids[1]])
        assert list(zip(frame["step"], frame["value"], strict=True)) == _expected(1)

        history = tb.Client().get_metric_history(ids[2], "loss")
        assert [(m.step, m.value) for m in history] == _expected(2)

        # now runs 0 and 2 are in the replica and 1 and 3 only in the bucket: SQL reads both
        assert {p.parent.name for p in store.layout.runs_dir.glob("*/*.parquet")} \
            == {ids[0], ids[2]}
        sql_reads_every_point(ids)


def _uncompacted_run(s3_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                     ) -> tuple[str, S3Objects, list[str]]:
    """WRITER's fourth run (chunks only, its writer gone without a goodbye), the bucket,
    and the run's chunk keys."""
    run_id = _written(s3_url, tmp_path, monkeypatch)[3]
    bucket = S3Objects(s3_url)
    return run_id, bucket, sorted(o.key for o in bucket.list(f"runs/{run_id}/c-"))


def test_sql_in_place_counts_what_the_catalog_lists(
        s3_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A writer killed between a chunk's PUT and its log's PUT leaves a chunk no record
    names: until its heartbeat is stale, SQL read in place must count the points the
    catalog summarises (its ``latest_metrics`` count), not that chunk too."""
    run_id, bucket, chunks = _uncompacted_run(s3_url, tmp_path, monkeypatch)
    stem, seq = chunks[-1][:-len(".parquet")].rsplit("-", 1)
    bucket.put(f"{stem}-{int(seq) + 1:06d}.parquet", bucket.get(chunks[-1]))  # no record
    with reader(s3_url, tmp_path / "notebook", monkeypatch):
        run = tb.get_run(run_id)
        (count,) = tb.sql("SELECT count(*) AS n FROM metrics WHERE run_id = ?",
                          [run_id])["n"].tolist()
        assert not list(get_store().layout.runs_dir.glob(f"{run_id}/*.parquet"))
        assert count == STEPS
        assert run.data.metrics["loss"] == 3000 + STEPS - 1


def test_sql_in_place_reads_the_bucket_when_a_listed_file_is_gone(
        s3_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A listed chunk that left the bucket since (a live writer's compaction replaced it)
    makes SQL in place follow the bucket's reading rule instead of failing the query."""
    import pyarrow.parquet as pq

    run_id, bucket, chunks = _uncompacted_run(s3_url, tmp_path, monkeypatch)
    gone = pq.read_table(pa.BufferReader(bucket.get(chunks[0]))).num_rows
    with reader(s3_url, tmp_path / "notebook", monkeypatch):
        tb.get_run(run_id)  # the catalog lists the chunk
        bucket.delete(chunks[0])
        (count,) = tb.sql("SELECT count(*) AS n FROM metrics WHERE run_id = ?",
                          [run_id])["n"].tolist()
        assert 0 < gone < STEPS
        assert count == STEPS - gone
