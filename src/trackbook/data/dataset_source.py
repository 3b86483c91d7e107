"""Where a dataset came from: MLflow's ``DatasetSource`` kinds, stored as
``(source_type, source JSON)`` exactly as MLflow stores them.

========================  ===============  ==================================
source given as           ``source_type``  ``source`` JSON
========================  ===============  ==================================
a path or ``file:`` URI   ``local``        ``{"uri": "<as given>"}``
``http(s)://`` URL        ``http``         ``{"url": "<as given>"}``
``s3://``, ``gs://``...   the scheme       ``{"uri": "<as given>"}``
nothing (the code)        ``code``         ``{"tags": {<run context tags>}}``
========================  ===============  ==================================

Any other scheme (``dbfs:``, ``runs:``, ``models:``, ``hf://``...) and MLflow's Delta,
Unity Catalog, Spark and Hugging Face sources raise
:class:`~trackbook.data.UnsupportedDatasetSourceError`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlparse

from ._errors import DatasetError, UnsupportedDatasetSourceError

# Object-store schemes MLflow makes artifact dataset sources for (its artifact repository
# schemes, less http(s), runs, models, mlflow-artifacts and dbfs).
ARTIFACT_SCHEMES = ("s3", "gs", "abfss", "wasbs", "hdfs", "viewfs", "ftp", "sftp", "b2", "r2")


class DatasetSource:
    """A dataset's origin. Subclasses define ``_get_source_type``, ``to_dict`` and
    ``from_dict``."""

    source_type: ClassVar[str] = ""

    @classmethod
    def _get_source_type(cls) -> str:
        return cls.source_type

    def to_dict(self) -> dict[str, Any]:
        raise NotImplementedError

    @classmethod
    def from_dict(cls, source_dict: dict[str, Any]) -> DatasetSource:
        raise NotImplementedError

    def to_json(self) -> str:
        """The source as MLflow stores it (``json.dumps`` of :meth:`to_dict`)."""
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, source_json: str) -> DatasetSource:
        return cls.from_dict(json.loads(source_json))

    def load(self, dst_path: str | None = None) -> str:
        raise NotImplementedError(f"a {self._get_source_type()!r} dataset source cannot be "
                                  "loaded")

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.to_dict() == self.to_dict()

    def __hash__(self) -> int:
        return hash((type(self), self.to_json()))

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {self.to_json()}>"


class _UriSource(DatasetSource):
    def __init__(self, uri: str) -> None:
        self._uri = str(uri)

    @property
    def uri(self) -> str:
        return self._uri

    def to_dict(self) -> dict[str, Any]:
        return {"uri": self._uri}

    @classmethod
    def from_dict(cls, source_dict: dict[str, Any]) -> DatasetSource:
        uri = source_dict.get("uri")
        if uri is None:
            raise DatasetError(f"a {cls.source_type!r} dataset source needs a 'uri' key; got "
                               f"{source_dict!r}")
        return cls(uri)


class LocalArtifactDatasetSource(_UriSource):
    """A local file or folder (a path or a ``file:`` URI)."""

    source_type = "local"

    def load(self, dst_path: str | None = None) -> str:
        """The local path; copied into the folder ``dst_path`` when given."""
        parsed = urlparse(self._uri)
        local = Path(parsed.path if parsed.scheme == "file" else self._uri)
        if dst_path is None:
            return str(local)
        import shutil

        from ..store import durable

        dest = Path(dst_path) / local.name
        if local.is_dir():
            shutil.copytree(local, dest, dirs_exist_ok=True)
        else:
            durable.make_dirs(dest.parent, what="the dataset download folder")
            durable.copy_file(local, dest, what=f"the dataset file {dest}")
        return str(dest)


class HTTPDatasetSource(DatasetSource):
    """A file at an ``http(s)://`` URL."""

    source_type = "http"

    def __init__(self, url: str) -> None:
        self._url = str(url)

    @property
    def url(self) -> str:
        return self._url

    def to_dict(self) -> dict[str, Any]:
        return {"url": self._url}

    @classmethod
    def from_dict(cls, source_dict: dict[str, Any]) -> DatasetSource:
        url = source_dict.get("url")
        if url is None:
            raise DatasetError(f"an 'http' dataset source needs a 'url' key; got {source_dict!r}")
        return cls(url)

    def load(self, dst_path: str | None = None) -> str:
        """Download the file into ``dst_path`` (default: a new temporary folder)."""
        import tempfile
        import urllib.request

        from ..store import durable

        name = os.path.basename(urlparse(self._url).path) or "dataset_source"
        folder = Path(dst_path) if dst_path is not None else Path(tempfile.mkdtemp())
        durable.make_dirs(folder, what="the dataset download folder")
        dest = folder / name
        with urllib.request.urlopen(self._url) as response:  # (http(s) only)
            durable.write_atomic(dest, response.read(), what=f"the dataset file {dest}")
        return str(dest)


class CodeDatasetSource(DatasetSource):
    """The code that built the dataset in memory: its run context tags (user, source)."""

    source_type = "code"

    def __init__(self, tags: dict[str, Any]) -> None:
        self._tags = dict(tags or {})

    def to_dict(self) -> dict[str, Any]:
        return {"tags": self._tags}

    @classmethod
    def from_dict(cls, source_dict: dict[str, Any]) -> DatasetSource:
        return cls(source_dict.get("tags") or {})


def _artifact_source_class(scheme: str) -> type[_UriSource]:
    name = "".join(p.capitalize() for p in scheme.replace("-", "_").split("_"))
    cls = type(f"{name}ArtifactDatasetSource", (_UriSource,), {
        "source_type": scheme, "__doc__": f"A dataset at a ``{scheme}://`` URI (never loaded "
        "by trackbook: read it with your own client)."})
    cls.__module__ = __name__
    return cls


ARTIFACT_SOURCES: dict[str, type[_UriSource]] = {s: _artifact_source_class(s)
                                                 for s in ARTIFACT_SCHEMES}
S3ArtifactDatasetSource = ARTIFACT_SOURCES["s3"]
GCSArtifactDatasetSource = ARTIFACT_SOURCES["gs"]

_BY_TYPE: dict[str, type[DatasetSource]] = {
    "local": LocalArtifactDatasetSource, "http": HTTPDatasetSource, "code": CodeDatasetSource,
    **ARTIFACT_SOURCES}


def _unsupported(what: str) -> UnsupportedDatasetSourceError:
    return UnsupportedDatasetSourceError(
        f"trackbook cannot use the dataset source {what}: allowed are a local path or "
        f"file: URI, an http(s):// URL, a {', '.join(s + '://' for s in ARTIFACT_SCHEMES)} "
        "URI, or a DatasetSource object (Delta tables, Unity Catalog, Spark, dbfs:, runs:, "
        "models: and Hugging Face sources are not supported)")


def resolve_dataset_source(source: Any) -> DatasetSource:
    """The :class:`DatasetSource` for ``source``: a DatasetSource (kept), a path, or a URI."""
    if isinstance(source, DatasetSource):
        return source
    if isinstance(source, os.PathLike):
        return LocalArtifactDatasetSource(os.fspath(source))
    if not isinstance(source, str):
        raise _unsupported(f"{source!r} (a {type(source).__name__})")
    scheme = urlparse(source).scheme
    if scheme in ("http", "https"):
        return HTTPDatasetSource(source)
    if scheme in ARTIFACT_SOURCES:
        return ARTIFACT_SOURCES[scheme](source)
    if scheme in ("", "file"):
        return LocalArtifactDatasetSource(source)
    raise _unsupported(repr(source))


def get_dataset_source_from_json(source_json: str, source_type: str) -> DatasetSource:
    """Rebuild a source from what a run stored (``Dataset.source``, ``.source_type``)."""
    cls = _BY_TYPE.get(source_type)
    if cls is None:
        raise UnsupportedDatasetSourceError(
            f"trackbook cannot rebuild a dataset source of type {source_type!r} (source "
            f"{source_json[:200]!r}); known types: {', '.join(sorted(_BY_TYPE))}")
    return cls.from_json(source_json)


def code_source() -> CodeDatasetSource:
    """The source of a dataset built in code: MLflow records the run context tags."""
    from ..tracking import context

    tags = {k: v for k, v in context.system_tags().items() if k.startswith("mlflow.")}
    return CodeDatasetSource(tags)
