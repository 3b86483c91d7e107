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


@pytest.mark.parametrize("client", ["lean", "boto3"])
def test_both_s3_clients_keep_the_contract_with_awkward_keys(
        s3_url: str, client: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The signed-HTTP client (default) and boto3 (``TRACKBOOK_S3_CLIENT=boto3``, or any
    ``client_kwargs``) read each other's objects; keys with characters that URL encoding
    and request signing must agree on."""
    lean, boto = S3Objects(s3_url), S3Objects(s3_url, client_kwargs={"region_name": "us-east-1"})
    writer, reader = (lean, boto) if client == "lean" else (boto, lean)
    assert boto._http is None
    assert lean._http is not None
    keys = ["a b/c+d=e&f.txt", "ünï/cödé~x", "q?x#y/%41", "runs/r1/m-0001.parquet"]
    for i, key in enumerate(keys):
        writer.put(key, f"v{i}".encode())
    for i, key in enumerate(keys):
        assert reader.get(key) == f"v{i}".encode()
        assert reader.exists(key)
    assert sorted(o.key for o in reader.list()) == sorted(keys)
    assert [o.key for o in reader.list("a b/")] == ["a b/c+d=e&f.txt"]
    assert writer.put_if_absent("claim", b"mine")
    assert not reader.put_if_absent("claim", b"x")
    assert reader.get_range("claim", 1, 2) == b"in"
    assert reader.get_range("claim", 9) == b""
    with pytest.raises(ObjectNotFoundError):
        reader.get("missing")
    reader.delete(keys[0])
    reader.delete("missing")  # nothing happens
    assert not writer.exists(keys[0])
    monkeypatch.setenv("TRACKBOOK_S3_CLIENT", "boto3")
    assert S3Objects(s3_url)._http is None


def test_lean_client_addresses_aws_like_boto3(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without an endpoint: virtual-hosted AWS addresses in the configured region,
    path-style for bucket names with dots; a region AWS names in a reply is followed."""
    from trackbook.store import s3http

    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKID")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    plain, dotted = s3http.S3Http("team-bucket"), s3http.S3Http("team.bucket")
    assert plain.endpoint == "https://team-bucket.s3.eu-west-1.amazonaws.com"
    assert plain._base == ""
    assert dotted.endpoint == "https://s3.eu-west-1.amazonaws.com"
    assert dotted._base == "/team.bucket"

    sent: list[tuple[str, str, dict[str, str]]] = []

    def send(method: str, target: str, headers: dict[str, str], body: bytes) -> s3http.Reply:
        sent.append((plain._host, target, headers))
        if len(sent) == 1:
            return s3http.Reply(301, {"x-amz-bucket-region": "us-west-2"}, b"")
        return s3http.Reply(200, {}, b"ok")

    monkeypatch.setattr(plain, "_send", send)
    assert plain.request("GET", "runs/a b.json").body == b"ok"
    assert [s[0] for s in sent] == ["team-bucket.s3.eu-west-1.amazonaws.com",
                                    "team-bucket.s3.us-west-2.amazonaws.com"]
    assert sent[1][1] == "/runs/a%20b.json"
    assert "/us-west-2/s3/aws4_request" in sent[1][2]["authorization"]


def test_lean_client_signs_like_the_aws_documentation() -> None:
    """SigV4 against AWS's published example (GET Object with a Range header,
    https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html)."""
    from unittest import mock

    from trackbook.store import s3http

    env = {"AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE", "AWS_REGION": "us-east-1",
           "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}
    with mock.patch.dict(os.environ, env, clear=True):
        client = s3http.S3Http("examplebucket")
    client._host = "examplebucket.s3.amazonaws.com"  # the example's (global) host name
    headers = {"range": "bytes=0-9"}
    with mock.patch.object(s3http.time, "gmtime", return_value=time.struct_time(
            (2013, 5, 24, 0, 0, 0, 4, 144, 0))):
        client._sign("GET", "/test.txt", "", headers, s3http._EMPTY_SHA256)
    assert headers["authorization"].endswith(
        "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
        "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")


def test_lean_client_reads_chunked_replies_and_survives_idle_closed_connections(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A server that answers with a chunked body and then closes the kept-alive
    connection (as servers do with idle ones): the next request goes out on a new
    connection, without an error or a retry delay."""
    import socket
    import threading

    from trackbook.store import s3http

    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    connections = []

    def serve() -> None:
        for _ in range(2):
            con, _ = server.accept()
            connections.append(con)
            request = b""
            while b"\r\n\r\n" not in request:
                request += con.recv(65536)
            con.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                        b"5\r\nhello\r\n6;x=1\r\n world\r\n0\r\n\r\n")
            con.close()  # idle keep-alive connection closed by the server

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKID")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    client = s3http.S3Http("bucket", endpoint=f"http://127.0.0.1:{port}", max_attempts=1)
    assert client.request("GET", "a").body == b"hello world"
    assert client.request("GET", "b").body == b"hello world"  # max_attempts=1: no retry
    thread.join(timeout=10)
    server.close()
    assert len(connections) == 2
