"""An s3:// store refuses a storage service that ignores conditional writes."""

from __future__ import annotations

import pytest

from trackbook._errors import StoreError
from trackbook.store.objects import S3Objects
from trackbook.store.s3store import S3Store, check_conditional_writes


class IgnoresIfNoneMatch(S3Objects):
    """The real server, reached like a service that drops the If-None-Match header."""

    def put_if_absent(self, key: str, data: bytes) -> bool:
        self.put(key, data)
        return True


def test_the_real_server_passes_the_probe_and_leaves_nothing(s3_url: str) -> None:
    objects = S3Objects(s3_url)
    check_conditional_writes(objects, s3_url)
    assert [o.key for o in objects.list("sync/")] == []


def test_a_service_ignoring_if_none_match_is_refused(s3_url: str) -> None:
    with pytest.raises(StoreError, match="ignores If-None-Match"):
        check_conditional_writes(IgnoresIfNoneMatch(s3_url), s3_url)


def test_a_store_checks_once_per_replica(s3_url: str, tmp_path) -> None:
    store = S3Store(s3_url, replica=tmp_path / "replica")
    assert (store.root / "sync" / "conditional-writes-ok").exists()
