"""The object-store contract (trackbook.store.objects), run unchanged against a local
folder and against a real S3-compatible server (SeaweedFS on 127.0.0.1)."""

from __future__ import annotations

import io
import multiprocessing
import os
import time
from collections import Counter
from pathlib import Path

import pytest

from trackbook._errors import InvalidValueError
from trackbook.store.objects import (
    LocalObjects,
    ObjectNotFoundError,
    Objects,
    S3Objects,
    open_objects,
    parse_s3_url,
)


def test_put_get_exists_delete(objects: Objects) -> None:
    data = bytes(range(256)) * 3
    assert not objects.exists("runs/r1/a.bin")
    objects.put("runs/r1/a.bin", data)
    assert objects.exists("runs/r1/a.bin")
    assert objects.get("runs/r1/a.bin") == data
    objects.put("runs/r1/a.bin", b"v2")  # put replaces
    assert objects.get("runs/r1/a.bin") == b"v2"
    objects.put("empty", b"")
    assert objects.get("empty") == b""
    objects.delete("runs/r1/a.bin")
    objects.delete("runs/r1/a.bin")  # deleting what is gone is fine
    assert not objects.exists("runs/r1/a.bin")
    with pytest.raises(ObjectNotFoundError, match=r"no object 'runs/r1/a\.bin'"):
        objects.get("runs/r1/a.bin")
    with pytest.raises(ObjectNotFoundError):
        objects.get_range("runs/r1/a.bin", 0, 1)


def test_put_if_absent_creates_once(objects: Objects) -> None:
    assert objects.put_if_absent("registry/m/versions/1.json", b"writer-a") is True
    assert objects.put_if_absent("registry/m/versions/1.json", b"writer-b") is False
    assert objects.get("registry/m/versions/1.json") == b"writer-a"  # the loser changed nothing
    objects.delete("registry/m/versions/1.json")
    assert objects.put_if_absent("registry/m/versions/1.json", b"writer-b") is True
    assert objects.get("registry/m/versions/1.json") == b"writer-b"


def test_get_range(objects: Objects) -> None:
    objects.put("blob", b"0123456789")
    assert objects.get_range("blob", 2, 3) == b"234"
    assert objects.get_range("blob", 7) == b"789"
    assert objects.get_range("blob", 8, 100) == b"89"
    assert objects.get_range("blob", 10, 5) == b""
    assert objects.get_range("blob", 3, 0) == b""
    with pytest.raises(InvalidValueError, match="start must be an int >= 0"):
        objects.get_range("blob", -1, 2)


def test_list_is_in_key_order_from_start_after(objects: Objects) -> None:
    # keys shaped like the store's: AWS and SeaweedFS order them alike (module docstring)
    keys = ["a/b/c/d", "a0", "b/x/1", "b/x/2", "b/y", "log/w1/000000000002.jsonl",
            "log/w1/000000000010.jsonl", "log/w2/000000000001.jsonl", "runs/ab/1", "runs/abc/2"]
    for key in reversed(keys):
        objects.put(key, key.encode())
    listed = list(objects.list())
    assert [o.key for o in listed] == sorted(keys) == keys
    assert [o.size for o in listed] == [len(k) for k in keys]
    assert all(abs(o.mtime - time.time()) < 120 for o in listed)

    assert [o.key for o in objects.list("b/")] == ["b/x/1", "b/x/2", "b/y"]
    assert [o.key for o in objects.list("runs/ab")] == ["runs/ab/1", "runs/abc/2"]  # a plain prefix
    assert [o.key for o in objects.list("runs/abc")] == ["runs/abc/2"]
    assert [o.key for o in objects.list("log/w1/", start_after="log/w1/000000000002.jsonl")] \
        == ["log/w1/000000000010.jsonl"]
    # start_after is a key seen before, never a folder name (SeaweedFS would skip the folder)
    assert [o.key for o in objects.list(start_after="b/x/2")] == keys[keys.index("b/y"):]
    assert [o.key for o in objects.list(start_after="a0")] == keys[keys.index("b/x/1"):]
    assert list(objects.list("nothing/")) == []
    assert list(objects.list(start_after="z")) == []


def test_list_pages_through_many_keys(objects: Objects) -> None:
    if isinstance(objects, S3Objects):  # make LIST page (continuation tokens) every 5 keys
        objects = S3Objects(objects.url, list_page_size=5)
    keys = [f"log/w{w}/{i:012d}.jsonl" for w in range(3) for i in range(12)]
    for key in keys:
        objects.put(key, b"{}\n")
    assert [o.key for o in objects.list("log/")] == keys  # pages end inside and across folders
    assert [o.key for o in objects.list("log/w1/")] == keys[12:24]
    assert [o.key for o in objects.list("log/", start_after=keys[9])] == keys[10:]
    assert [o.key for o in objects.list("log/", start_after=keys[-1])] == []


@pytest.mark.parametrize("key", ["", "/abs", "a//b", "a/../b", "./a", "a/", "a\\b",
                                 ".trackbook-tmp/x"])
def test_bad_keys_are_refused(objects: Objects, key: str) -> None:
    with pytest.raises(InvalidValueError, match="key"):
        objects.put(key, b"x")


def _claim(objects: Objects, writer: int, keys: int, start: multiprocessing.Event,
           out: multiprocessing.Queue) -> None:
    start.wait(60)
    won = [i for i in range(keys)
           if objects.put_if_absent(f"claims/{i:03d}.json", f"writer-{writer}".encode())]
    out.put((writer, won))


def test_concurrent_put_if_absent_has_exactly_one_winner_per_key(objects: Objects) -> None:
    writers, keys = 4, 25
    ctx = multiprocessing.get_context("spawn")  # as separate machines: nothing shared
    start, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_claim, args=(objects, w, keys, start, out))
             for w in range(writers)]
    for p in procs:
        p.start()
    start.set()
    results = dict(out.get(timeout=120) for _ in procs)
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    winners = Counter(i for won in results.values() for i in won)
    assert sorted(winners) == list(range(keys))  # every key was taken ...
    assert set(winners.values()) == {1}  # ... by exactly one writer
    for writer, won in results.items():
        for i in won:  # and holds that writer's bytes
            assert objects.get(f"claims/{i:03d}.json") == f"writer-{writer}".encode()
    assert len(list(objects.list("claims/"))) == keys


def test_open_objects_and_s3_urls(tmp_path: Path) -> None:
    assert isinstance(open_objects(tmp_path / "a"), LocalObjects)
    assert isinstance(open_objects(f"file://{tmp_path}/b"), LocalObjects)
    assert open_objects("s3://team-bucket/trackbook/").url == "s3://team-bucket/trackbook"
    assert parse_s3_url("s3://team-bucket") == ("team-bucket", "")
    assert parse_s3_url("s3://team-bucket/a/b/") == ("team-bucket", "a/b")
    with pytest.raises(InvalidValueError, match=r"unsupported object store URL 'gs://b/x'"):
        open_objects("gs://b/x")
    with pytest.raises(InvalidValueError, match="invalid bucket name 'Team_Bucket'"):
        open_objects("s3://Team_Bucket/x")
    with pytest.raises(InvalidValueError, match="invalid object key"):
        open_objects("s3://team-bucket/a/../b")


def test_pyarrow_and_duckdb_read_parquet_objects_on_the_server(s3_url: str) -> None:
    """The store's plan for metrics: DuckDB over a pyarrow dataset on pyarrow's S3
    filesystem (the duckdb wheel has no httpfs offline)."""
    import duckdb
    import pyarrow as pa
    import pyarrow.dataset as ds
    import pyarrow.fs as pafs
    import pyarrow.parquet as pq

    objects = S3Objects(s3_url)
    for chunk in range(3):
        buf = io.BytesIO()
        pq.write_table(pa.table({"step": list(range(chunk * 100, chunk * 100 + 100)),
                                 "value": [float(chunk)] * 100}), buf)
        objects.put(f"runs/r1/c-w1-{chunk}.parquet", buf.getvalue())
    endpoint = os.environ["AWS_ENDPOINT_URL"].removeprefix("http://")
    fs = pafs.S3FileSystem(endpoint_override=endpoint, scheme="http")  # keys from AWS_* vars
    paths = [f"{objects.bucket}/{objects.prefix}/{o.key}" for o in objects.list("runs/r1/")]
    chunks = ds.dataset(paths, filesystem=fs, format="parquet")
    rows = duckdb.from_arrow(chunks).aggregate("count(*), max(step), sum(value)").fetchall()
    assert rows == [(300, 299, 300.0)]
