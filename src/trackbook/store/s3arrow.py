"""Metric objects read in place, through pyarrow's S3 filesystem.

The duckdb wheel cannot reach S3 offline (no httpfs), so SQL over the points of runs this
replica has not downloaded scans them as an Arrow dataset on ``pyarrow.fs.S3FileSystem``,
configured like :mod:`trackbook.store.s3http` (``AWS_ENDPOINT_URL``, the AWS credential
chain, ``AWS_REGION``).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from . import metrics as _metrics
from .objects import S3Objects
from .pull import remote_metric_names

if TYPE_CHECKING:
    import pyarrow.dataset as ds
    import pyarrow.fs as pafs

_PARALLEL = 8


def filesystem(objects: S3Objects) -> pafs.S3FileSystem:
    """A pyarrow S3 filesystem that reaches ``objects``' bucket as our own client does."""
    import pyarrow.fs as pafs

    from .s3http import CredentialSource, _env

    source = CredentialSource()
    http = objects._http
    kwargs: dict[str, Any] = {
        "region": http.region if http is not None else source.region,
        "retry_strategy": pafs.AwsStandardS3RetryStrategy(max_attempts=5),
        "check_directory_existence_before_creation": False,
    }
    try:
        creds = source.get()
    except Exception:  # no credentials here: let the AWS SDK's own chain look
        creds = None
    if creds is not None:
        kwargs.update(access_key=creds.access_key, secret_key=creds.secret_key,
                      session_token=creds.token)
    endpoint = objects._endpoint_url or _env("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")
    if endpoint:
        parts = urlsplit(endpoint)
        kwargs.update(endpoint_override=parts.netloc + parts.path.rstrip("/"),
                      scheme=parts.scheme or "https")
    return pafs.S3FileSystem(**kwargs)


def _path(objects: S3Objects, key: str) -> str:
    return f"{objects.bucket}/{objects.prefix}/{key}" if objects.prefix \
        else f"{objects.bucket}/{key}"


def run_metric_paths(objects: S3Objects, fs: pafs.S3FileSystem, run_id: str) -> list[str]:
    """The bucket paths of what the reading rule of ``store/metrics.py`` shows of a run:
    its newest compacted file and the chunks that file does not cover."""
    names = remote_metric_names(objects, run_id)
    newest, chunks, _ = _metrics.pick_visible(
        names, lambda n: _metrics._covers(_path(objects, f"runs/{run_id}/{n}"), fs))
    return [_path(objects, f"runs/{run_id}/{n}") for n in ([newest] if newest else []) + chunks]


def metric_dataset(objects: S3Objects, run_ids: list[str],
                   listed: dict[str, list[str]] | None = None) -> ds.Dataset:
    """The points of ``run_ids``, read in place from the bucket.

    ``listed`` (run id -> file names) are the files the catalog lists: those are read, so
    that the points agree with the catalog's summaries (a chunk whose record has not
    reached the bucket, of a writer not yet found dead, is not counted here either). When
    one of them is gone (a live writer's compaction replaced it since), the reading rule
    over the bucket is used.
    """
    import pyarrow.dataset as ds

    fs = filesystem(objects)
    if listed and set(listed) == set(run_ids):
        import pyarrow.fs as pafs

        named = [_path(objects, f"runs/{r}/{n}") for r in run_ids for n in sorted(listed[r])]
        # (a dataset of named files with a schema reads nothing until it is scanned: a gone
        # file would fail the query, not this call)
        with ThreadPoolExecutor(min(_PARALLEL, max(1, len(named)))) as pool:
            kinds = [i.type for i in pool.map(fs.get_file_info, named)]
        if all(k == pafs.FileType.File for k in kinds):
            return ds.dataset(named, schema=_metrics._schema(), format="parquet",
                              filesystem=fs)
    with ThreadPoolExecutor(min(_PARALLEL, max(1, len(run_ids)))) as pool:
        paths = [p for found in pool.map(lambda r: run_metric_paths(objects, fs, r), run_ids)
                 for p in found]
    return ds.dataset(paths, schema=_metrics._schema(), format="parquet", filesystem=fs)
