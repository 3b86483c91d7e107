"""``trackbook.artifacts``: MLflow's ``mlflow.artifacts`` module (download, list, load).

An artifact is named either by ``run_id`` (+ ``artifact_path``) or by one
``artifact_uri``: ``runs:/<run_id>/<path>``, ``models:/<name>/<version>`` (or ``@alias``),
a ``file://`` URI or a local path.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

from ._errors import ArtifactPathError, InvalidValueError
from .store.artifacts import FileInfo

if TYPE_CHECKING:
    from PIL.Image import Image

__all__ = ["FileInfo", "download_artifacts", "list_artifacts", "load_dict", "load_image",
           "load_text"]


def _client(tracking_uri: str | None) -> Any:
    from .client import Client

    return Client(tracking_uri)


def _which(artifact_uri: str | None, run_id: str | None, artifact_path: str | None,
           tracking_uri: str | None) -> tuple[str | None, str, Path | None]:
    """(run id, path in the run) for a run's artifact, or (None, "", local path)."""
    rid, path, local, _ = _where(artifact_uri, run_id, artifact_path, tracking_uri)
    return rid, path, local


def _where(artifact_uri: str | None, run_id: str | None, artifact_path: str | None,
           tracking_uri: str | None) -> tuple[str | None, str, Path | None, str | None]:
    """:func:`_which`, and where a copy goes under ``dst_path`` as MLflow puts it: None
    for the local file's name, "" for ``dst_path`` itself (a ``models:/`` URI), else a
    path in the run (a ``runs:/`` URI that names a file of the run's logged model)."""
    if (artifact_uri is None) == (run_id is None):
        raise InvalidValueError("give exactly one of run_id or artifact_uri, got "
                                f"run_id={run_id!r}, artifact_uri={artifact_uri!r}")
    if run_id is not None:
        return run_id, (artifact_path or "").strip("/"), None, None
    if artifact_path is not None:
        raise InvalidValueError("artifact_path cannot be given with artifact_uri (put the "
                                f"path in the URI); got artifact_path={artifact_path!r}")
    uri = os.fspath(artifact_uri)  # type: ignore[arg-type]
    under: str | None = None
    if uri.startswith("models:"):
        from .registry.uri import _LOGGED_MODEL_RE, resolve_model_uri
        from .tracking.uri import get_tracking_uri

        under = ""  # MLflow downloads a models:/ URI into dst_path itself
        if not _LOGGED_MODEL_RE.fullmatch(uri):
            uri = resolve_model_uri(uri, tracking_uri or get_tracking_uri())
    if uri.startswith("models:"):  # an MLflow 3 logged model, models:/m-<id>
        return None, "", _logged_model_root(uri[len("models:"):].strip("/"), tracking_uri), ""
    if uri.startswith("runs:"):
        rid, _, path = uri[len("runs:"):].lstrip("/").partition("/")
        if not rid:
            raise InvalidValueError(f"artifact URI {artifact_uri!r} names no run: use "
                                    "runs:/<run_id>/<path>")
        path = path.strip("/")
        model = _run_logged_model_path(rid, path, tracking_uri)
        if model is None:
            return rid, path, None, under
        return None, "", model, path if under is None else under
    if "://" in uri:
        parsed = urlparse(uri)
        if parsed.scheme != "file":
            raise InvalidValueError(
                f"artifact URI {artifact_uri!r}: use runs:/, models:/, file:// or a local "
                "path (remote artifact stores are reached through the tracking store)")
        uri = unquote(parsed.path)
    return None, "", Path(uri), under


def _logged_model_root(model_id: str, tracking_uri: str | None) -> Path:
    """The files of logged model ``model_id`` (an ``s3://`` store fetches them)."""
    from .models.logged import check_model_id

    return Path(_client(tracking_uri).store.logged_model_root(check_model_id(model_id)))


def _run_logged_model_path(run_id: str, path: str, tracking_uri: str | None) -> Path | None:
    """As MLflow 3: ``runs:/<run>/<name>[/<file>]`` that names no artifact of the run is in
    the run's logged model ``name``, if it has one (None: read the run's artifacts)."""
    from .models.uri import _run_logged_model
    from .store.artifacts import resolve

    name, _, rest = path.partition("/")
    client = _client(tracking_uri)
    if not name or resolve(client._artifact_root(run_id), path).exists():
        return None
    found = _run_logged_model(client.store, run_id, name)
    if found is None:
        return None
    return resolve(found, rest) if rest else found


def _local(artifact_uri: str | None, run_id: str | None, artifact_path: str | None,
           tracking_uri: str | None) -> Path:
    """The artifact's real path, in the store (nothing copied)."""
    rid, path, local = _which(artifact_uri, run_id, artifact_path, tracking_uri)
    if local is None:
        from .store.artifacts import resolve

        local = resolve(_client(tracking_uri)._artifact_root(rid), path)
    if not local.exists():
        raise ArtifactPathError(f"no artifact at {artifact_uri or path!r}")
    return local


def download_artifacts(artifact_uri: str | None = None, run_id: str | None = None,
                       artifact_path: str | None = None, dst_path: str | None = None,
                       tracking_uri: str | None = None,
                       registry_uri: str | None = None) -> str:
    """Copy an artifact (file or folder) to ``dst_path`` (default: a new temporary folder)
    and return the local path of the copy, as MLflow does.

    Parameters
    ----------
    artifact_uri
        ``runs:/<run_id>/<path>``, ``models:/...``, ``file://...`` or a path.
    run_id, artifact_path
        Instead of ``artifact_uri``: the run and the path inside its artifacts
        (default: all of them).
    dst_path
        The folder to copy into; a file or folder keeps its name inside it, a whole run's
        artifacts land in it directly.
    tracking_uri
        The store (default: the current tracking URI).
    registry_uri
        None or the tracking store (the registry lives there).

    Returns
    -------
    str
        The local path of the downloaded file or folder.
    """
    if registry_uri is not None:
        from .registry.fluent import check_registry_uri

        check_registry_uri(registry_uri)
    rid, path, local, under = _where(artifact_uri, run_id, artifact_path, tracking_uri)
    dst = dst_path if dst_path is not None else tempfile.mkdtemp(prefix="trackbook-")
    if local is None:
        try:
            if under == "":  # a registered version whose source is a run's folder
                src = _client(tracking_uri).download_artifacts(rid, path)
                return _models_copy(_copy(Path(src), Path(dst)), artifact_uri)
            return _client(tracking_uri).download_artifacts(rid, path, dst)
        except FileNotFoundError:
            raise ArtifactPathError(f"run {rid} has no artifact {path!r}; "
                                    "list_artifacts(run_id=...) shows what it has") from None
    if not local.exists():
        raise ArtifactPathError(f"no artifact at {artifact_uri!r}")
    return _models_copy(_copy(local, Path(dst) / (local.name if under is None else under)),
                        artifact_uri)


def _models_copy(copied: str, artifact_uri: str | None) -> str:
    """A copy fetched by a ``models:/`` URI gets MLflow's ``registered_model_meta``."""
    if artifact_uri is not None and os.fspath(artifact_uri).startswith("models:"):
        from .models.uri import write_registered_model_meta

        write_registered_model_meta(Path(copied), os.fspath(artifact_uri))
    return copied


def _copy(src: Path, dest: Path) -> str:
    """Copy file or folder ``src`` to ``dest`` (merged into an existing folder)."""
    if src.is_dir():
        shutil.copytree(src, dest, dirs_exist_ok=True)
    else:
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest)
    return str(dest)


def list_artifacts(artifact_uri: str | None = None, run_id: str | None = None,
                   artifact_path: str | None = None,
                   tracking_uri: str | None = None) -> list[FileInfo]:
    """The entries directly under an artifact folder (``[]`` when it does not exist), with
    paths relative to the run's artifact root as MLflow gives them."""
    rid, path, local, under = _where(artifact_uri, run_id, artifact_path, tracking_uri)
    if local is not None:
        if not local.is_dir():
            return []
        prefix = f"{under}/" if under else ""  # a run's logged model: paths in the run
        return [FileInfo(prefix + e.name, e.is_dir(),
                         None if e.is_dir() else e.stat().st_size)
                for e in sorted(os.scandir(local), key=lambda e: e.name)
                if not e.name.startswith(".")]
    return _client(tracking_uri).list_artifacts(rid, path or None)


def load_text(artifact_uri: str) -> str:
    """The text (UTF-8) of an artifact file."""
    local = _local(artifact_uri, None, None, None)
    try:
        return local.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InvalidValueError(f"artifact {artifact_uri!r} is not UTF-8 text") from None


def load_dict(artifact_uri: str) -> dict[str, Any]:
    """An artifact JSON file (or ``.yaml``/``.yml`` as ``log_dict`` writes it) as a dict."""
    text = load_text(artifact_uri)
    if artifact_uri.endswith((".yaml", ".yml")):
        import yaml

        return yaml.safe_load(text)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidValueError(f"artifact {artifact_uri!r} is not JSON ({exc}); MLflow "
                                "says: Unable to form a JSON object from file content") from None


def load_image(artifact_uri: str) -> Image:
    """An artifact image file as a ``PIL.Image.Image`` (needs Pillow)."""
    from PIL import Image as _Image

    image = _Image.open(_local(artifact_uri, None, None, None))
    image.load()
    return image
