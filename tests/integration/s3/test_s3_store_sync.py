"""store/push.py and store/pull.py over a local folder as the "bucket" (the same Objects
contract as S3): a pull that died between appending and saving its state, and a replica
log removed by hand, are both repaired without losing or doubling a record; experiment
renames move the name on the bucket."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from s3_store_helpers import reader

import trackbook as tb
from trackbook._errors import StoreError, TrackbookWarning
from trackbook.store import pull, push
from trackbook.store.layout import Layout
from trackbook.store.objects import LocalObjects, S3Objects
from trackbook.store.session import session_for
from trackbook.store.store import Store


def _writer(root: Path, bucket: LocalObjects) -> Store:
    store = Store(root)
    session = session_for(store.layout)
    session.pusher = push.Pusher(store.layout, bucket, session.writer_id)
    return store


def _log_run(store: Store, name: str, points: int) -> str:
    run_id = store.start_run(store.ensure_default_experiment(), name, 0, None, None)
    store.session.record("params", run=run_id, data={"name": name})
    buf = store.session.buffer(run_id)
    buf.extend([("x", float(i), i, i) for i in range(points)])
    buf.flush()
    store.session.record("status", run=run_id, status="FINISHED")
    store.session.flush_all()  # pushes
    return run_id


def _counts(store: Store) -> dict[str, int]:
    with store.connect() as con:
        return dict(con.execute("SELECT run_id, count FROM latest_metrics").fetchall())


def test_a_pull_repairs_what_a_crashed_pull_left_and_a_removed_log(tmp_path: Path) -> None:
    bucket = LocalObjects(tmp_path / "bucket")
    writer = _writer(tmp_path / "a", bucket)
    first = _log_run(writer, "first", 10)
    reader_store = Store(tmp_path / "b")
    puller = pull.Puller(reader_store.layout, bucket)
    puller.pull(force=True)
    assert _counts(reader_store) == {first: 10}
    state = (tmp_path / "b" / "sync" / "pull.json").read_bytes()

    second = _log_run(writer, "second", 20)
    puller.pull(force=True)
    assert _counts(reader_store) == {first: 10, second: 20}
    log_file = next((tmp_path / "b" / "log").glob("*.jsonl"))
    pulled = log_file.read_bytes()
    segments = b"".join(bucket.get(o.key) for o in bucket.list("log/"))
    assert pulled == segments

    # a pull that died after appending, before saving its state: appended again, same bytes
    (tmp_path / "b" / "sync" / "pull.json").write_bytes(state)
    puller.pull(force=True)
    assert log_file.read_bytes() == segments
    assert _counts(reader_store) == {first: 10, second: 20}

    # the replica's copy removed by hand: pulled again from the first segment
    log_file.unlink()
    third = _log_run(writer, "third", 5)
    puller.pull(force=True)
    assert log_file.read_bytes() == b"".join(bucket.get(o.key) for o in bucket.list("log/"))
    reader_store.catalog.rebuild()
    reader_store.mirror.close()
    assert _counts(reader_store) == {first: 10, second: 20, third: 5}
    session_for(writer.layout).shutdown()


def test_a_writers_own_log_is_never_pulled_into_its_replica(tmp_path: Path) -> None:
    bucket = LocalObjects(tmp_path / "bucket")
    writer = _writer(tmp_path / "a", bucket)
    run_id = _log_run(writer, "mine", 10)
    log_file = writer.layout.log_file(writer.session.writer_id)
    before = log_file.read_bytes()
    pull.Puller(writer.layout, bucket).pull(force=True)
    assert log_file.read_bytes() == before
    assert _counts(writer) == {run_id: 10}
    session_for(writer.layout).shutdown()
    after = Layout.at(tmp_path / "a").log_file(writer.session.writer_id).read_bytes()
    assert after.startswith(before)  # only the writer's own goodbye follows
    tail = [json.loads(line.rpartition(b"\t")[0]) for line in after[len(before):].splitlines()]
    assert [r["op"] for r in tail] == ["bye"]


def test_renamed_experiment_moves_its_name_on_the_bucket(
        s3_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with reader(s3_url, tmp_path / "one", monkeypatch):
        exp_id = tb.create_experiment("before")
        tb.Client().rename_experiment(exp_id, "after")
    with reader(s3_url, tmp_path / "two", monkeypatch):
        assert tb.get_experiment_by_name("before") is None
        assert tb.get_experiment_by_name("after").experiment_id == exp_id
        assert tb.set_experiment("before").experiment_id != exp_id  # the name is free again
    names = [o.key for o in S3Objects(s3_url).list("experiments/names/")]
    assert len(names) == 2  # "after", and "before" for the new experiment


class _FailingBucket(LocalObjects):
    """A bucket whose PUTs under ``victim`` fail (a lost connection mid-push)."""

    victim: str | None = None

    def put(self, key: str, data: bytes) -> None:
        if self.victim is not None and key.startswith(self.victim):
            raise StoreError(f"put {key} failed: connection reset")
        super().put(key, data)


def test_a_push_that_fails_midway_puts_no_segment_and_the_next_one_sends_everything(
        tmp_path: Path) -> None:
    """Metric files go up side by side; when one fails, the segment naming them is not
    put (readers see nothing half-pushed) and the next push sends it all."""
    bucket = _FailingBucket(tmp_path / "bucket")
    store = Store(tmp_path / "a")
    session = session_for(store.layout)
    ids = [_log_run(store, f"r{i}", 10 + i) for i in range(6)]  # no pusher yet
    session.pusher = push.Pusher(store.layout, bucket, session.writer_id)
    bucket.victim = f"runs/{ids[3]}/"
    with pytest.warns(TrackbookWarning, match="could not upload"):
        session.flush_all()  # one push, six chunk files
    assert list(bucket.list("log/")) == []
    assert list(bucket.list("writers/")) == []
    bucket.victim = None
    session.flush_all()
    reader_store = Store(tmp_path / "b")
    pull.Puller(reader_store.layout, bucket).pull(force=True)
    assert _counts(reader_store) == {r: 10 + i for i, r in enumerate(ids)}
    for i, run_id in enumerate(ids):
        pull.fetch_run_metrics(reader_store.layout, bucket, run_id)
        assert reader_store.metric_history(run_id).num_rows == 10 + i
    session.shutdown()
