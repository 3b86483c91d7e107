"""Model URIs -> local model directories.

- ``runs:/<run_id>/<path>``: the artifact folder ``<path>`` of a run in the current store
- ``models:/m-<32 hex>``: an MLflow 3 logged model's artifacts (``<store>/models/<id>/artifacts``)
- ``models:/<name>/<version>`` (or ``@alias``): resolved by the model registry, which plugs in
  with :func:`register_resolver`; until one is registered such URIs raise a clear error
- ``file:///abs/path`` and plain paths
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from ._errors import ModelLoadError, ModelRegistryUnavailableError

_LOGGED_RE = re.compile(r"m-[0-9a-f]{32}")
Resolver = Callable[[str], "str | os.PathLike[str]"]
_resolvers: dict[str, Resolver] = {}


def register_resolver(scheme: str, resolver: Resolver) -> None:
    """Let ``resolver(uri)`` turn ``<scheme>:/...`` URIs into local model directories.

    The model registry registers ``"models"`` here, so ``load_model("models:/churn/3")``
    works without this module importing the registry.
    """
    _resolvers[scheme] = resolver


def parse_runs_uri(uri: str) -> tuple[str, str]:
    """``(run_id, artifact_path)`` of a ``runs:/<run_id>/<path>`` URI."""
    rest = uri[len("runs:"):].lstrip("/")
    run_id, _, path = rest.partition("/")
    if not run_id:
        raise ModelLoadError(f"model URI {uri!r} has no run id; expected "
                             "runs:/<run_id>/<artifact_path>, e.g. runs:/0123abcd/model")
    return run_id, path.strip("/")


def local_model_path(model_uri: str | os.PathLike[str]) -> Path:
    """The local directory holding the model ``model_uri`` refers to."""
    if isinstance(model_uri, os.PathLike):
        return _existing(Path(model_uri), str(model_uri))
    uri = str(model_uri)
    scheme = uri.split(":", 1)[0] if ":" in uri and not _is_windows_drive(uri) else ""
    if scheme == "runs":
        return _existing(_run_artifact(uri), uri)
    if scheme == "models" and _LOGGED_RE.fullmatch(uri[len("models:"):].lstrip("/")):
        return _logged_model_dir(uri[len("models:"):].lstrip("/"), uri)
    if scheme == "models" and scheme not in _resolvers:
        _load_registry()
    if scheme in _resolvers:
        return local_model_path(os.fspath(_resolvers[scheme](uri)))
    if scheme == "models":
        raise ModelRegistryUnavailableError(
            f"cannot resolve {uri!r}: models:/ URIs need the model registry, which is not "
            "available in this version of trackbook. Use runs:/<run_id>/<path> (see "
            "ModelInfo.model_uri from log_model) or a local path instead")
    if scheme == "file":
        return _existing(Path(unquote(urlparse(uri).path)), uri)
    if scheme:
        raise ModelLoadError(
            f"unsupported model URI scheme {scheme!r} in {uri!r}; use runs:/<run_id>/<path>, "
            "models:/<name>/<version>, a file:// URI or a local path")
    return _existing(Path(uri).expanduser(), uri)


def local_model_copy(model_uri: str | os.PathLike[str], dst_path: str | None) -> Path:
    """The model's local directory, first copied under ``dst_path`` when one is given
    (a ``models:/`` URI: into ``dst_path`` itself, with ``registered_model_meta``)."""
    local = local_model_path(model_uri)
    if dst_path is None:
        return local
    import shutil

    by_models = isinstance(model_uri, str) and model_uri.startswith("models:")
    # MLflow downloads a models:/ URI into dst_path itself, anything else under its name
    target = Path(dst_path) if by_models else Path(dst_path) / local.name
    shutil.copytree(local, target, dirs_exist_ok=True)
    if by_models:
        write_registered_model_meta(target, str(model_uri))
    return target


REGISTERED_MODEL_META = "registered_model_meta"


def write_registered_model_meta(copy: Path, uri: str) -> None:
    """As MLflow's ``models:/`` downloads: a copy of a whole model (a folder holding
    ``MLmodel``) gets ``registered_model_meta``, the registered name and version it was
    fetched by (both null for ``models:/<model_id>``). Only copies: trackbook never
    writes into the store on a read (MLflow's local store gets the file in the model's
    own folder because no copy is made there)."""
    import yaml

    if not (copy.is_dir() and (copy / "MLmodel").is_file()):
        return
    name: str | None = None
    version: int | str | None = None
    if not _LOGGED_RE.fullmatch(uri[len("models:"):].lstrip("/")):
        import importlib

        registry = importlib.import_module("trackbook.registry.uri")
        parsed = registry.parse_models_uri(uri)
        name = parsed.name
        if parsed.version is not None:
            version = str(parsed.version)  # MLflow keeps the URI's text
        elif parsed.alias is not None:
            version = int(registry.resolve_version(uri).version)
        else:
            version = str(registry.resolve_version(uri).version)
    (copy / REGISTERED_MODEL_META).write_text(yaml.safe_dump(
        {"model_name": name, "model_version": version}, default_flow_style=False))


def _load_registry() -> None:
    """Import the model registry, which registers its ``models:/`` resolver on import."""
    import contextlib
    import importlib

    # No registry in this build: the caller raises a clear error instead.
    with contextlib.suppress(ImportError):
        registry = importlib.import_module("trackbook.registry")
        # Imported before trackbook.models._save (e.g. by tb.Client()): its import-time
        # plug skipped the log_model hook then, so wire it now (idempotent).
        registry._plug_into_models()


def _is_windows_drive(uri: str) -> bool:
    return len(uri) > 2 and uri[1] == ":" and uri[0].isalpha() and uri[2] in "\\/"


def _logged_model_dir(model_id: str, uri: str) -> Path:
    from ..tracking.uri import get_store

    store = get_store()
    path = store.logged_model_root(model_id)  # an s3:// store fetches it from the bucket
    if not path.is_dir():
        from ._errors import LoggedModelNotFoundError

        raise LoggedModelNotFoundError(
            f"no logged model at {uri!r}: {path} does not exist in store {store.root}")
    return path


def _run_artifact(uri: str) -> Path:
    from ..tracking.client import Client

    run_id, path = parse_runs_uri(uri)
    client = Client()
    try:
        return Path(client.download_artifacts(run_id, path))
    except FileNotFoundError:
        # MLflow 3: runs:/<run>/<name> is the run's newest logged model of that name
        found = _run_logged_model(client.store, run_id, path)
        if found is not None:
            return found
        names = [f.path for f in client.list_artifacts(run_id)]
        raise ModelLoadError(
            f"run {run_id} has no artifact {path!r}; its top-level artifacts are "
            f"{names or 'none'}") from None


def _run_logged_model(store: Any, run_id: str, name: str) -> Path | None:
    """The artifacts of ``run_id``'s newest READY logged model named ``name``, if any."""
    if not name:
        return None
    with store.connect() as con:
        row = con.execute(
            "SELECT model_id FROM logged_models WHERE source_run_id = ? AND name = ? "
            "AND deleted = 0 AND status = 'READY' "
            "ORDER BY creation_timestamp DESC, model_id DESC LIMIT 1",
            [run_id, name]).fetchone()
    if row is None:
        return None
    path = store.logged_model_root(row[0])  # an s3:// store fetches it from the bucket
    return path if path.is_dir() else None


def _existing(path: Path, uri: str) -> Path:
    if not path.exists():
        raise ModelLoadError(f"no model at {uri!r} ({path.absolute()} does not exist)")
    return path.absolute()
