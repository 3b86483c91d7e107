"""Fixtures for object-storage tests: one real SeaweedFS S3 server per test session
(started only when a test here asks for it), and ``objects``: the same test against a
local folder and against a fresh prefix of that server's bucket."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from s3server import SeaweedS3
from trackbook.store.objects import LocalObjects, Objects, S3Objects


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedS3]:
    """A SeaweedFS S3 server on 127.0.0.1 with an empty bucket ``s3_server.bucket``."""
    server = SeaweedS3(tmp_path_factory.mktemp("seaweedfs")).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def s3_env(s3_server: SeaweedS3, monkeypatch: pytest.MonkeyPatch) -> SeaweedS3:
    """The AWS_* variables point at the test server (this process and its children)."""
    for name, value in s3_server.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return s3_server


@pytest.fixture
def s3_url(s3_env: SeaweedS3) -> str:
    """A fresh ``s3://bucket/<unique prefix>`` on the test server."""
    return f"s3://{s3_env.bucket}/t-{uuid.uuid4().hex[:12]}"


@pytest.fixture(params=["local", "s3"])
def objects(request: pytest.FixtureRequest, tmp_path: Path) -> Objects:
    """An empty object store: a temp folder, then a fresh prefix on SeaweedFS."""
    if request.param == "local":
        return LocalObjects(tmp_path / "objects")
    return S3Objects(request.getfixturevalue("s3_url"))
