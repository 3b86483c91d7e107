"""The run table's detail pane: one run's params, latest metrics, tags, datasets,
artifacts and logged models, with "Register…" for each model. A logged model is one of MLflow 3's
(``log_model(name=...)``: files in ``<store>/models/m-<id>/artifacts``, the run's output in
the catalog), listed by its name, or a folder of the run's artifacts holding an ``MLmodel``
file (MLflow 2's layout, imported runs), listed by its path; ``runs:/<run_id>/<path>``
resolves either.

Image artifacts (PNG, JPEG, GIF, WebP, SVG) travel as bytes in the reply's buffers and
the browser shows them from memory: the pane never hands the page a file path or URL,
so it works on JupyterHub, Colab and VS Code alike.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NotRequired, TypedDict

from .._errors import RunNotFoundError
from ..store import artifacts as _artifacts
from ..tracking.query import get_run
from ._protocol import ArtifactEntry, RunDetail

if TYPE_CHECKING:
    from ..registry import ModelVersion
    from ..store.store import Store

log = logging.getLogger(__name__)

#: Files listed in the pane (a model folder can hold thousands).
MAX_ARTIFACTS = 200
#: Images previewed, and the largest one sent (bigger ones are listed only).
MAX_PREVIEWS = 12
MAX_PREVIEW_BYTES = 2 * 1024 * 1024
#: Folders looked into for logged models, and how deep (model folders are not entered).
MAX_MODEL_SEARCH_DIRS = 500
MAX_MODEL_DEPTH = 4
IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
               ".gif": "image/gif", ".webp": "image/webp", ".svg": "image/svg+xml"}


# -- message shapes (js/src/_detail.ts declares the same) ---------------------------------


class RegisteredRef(TypedDict):
    """A registered version made from a logged model."""

    name: str
    version: int


class LoggedModel(TypedDict):
    """A model the run logged: an MLflow 3 logged model, or a model folder among the run's
    artifacts (it holds an ``MLmodel`` file)."""

    path: str  # the model's name, or the folder's artifact path: runs:/<run_id>/<path>
    flavors: list[str]  # from the MLmodel file, e.g. ["python_function", "sklearn"]
    versions: list[RegisteredRef]  # registered from this run's model, oldest first
    model_id: NotRequired[str]  # an MLflow 3 logged model's id: models:/<model_id>


class DatasetRow(TypedDict):
    """A dataset the run used (``log_input``), summed up from its profile."""

    name: str
    digest: str
    context: str | None  # the mlflow.data.context input tag
    source_type: str
    rows: int | None
    cols: int | None


class RunDetailWithModels(RunDetail):
    """The detail pane's content: :class:`RunDetail` plus the run's logged models and
    datasets."""

    models: list[LoggedModel]
    registered_names: list[str]  # existing registered models, offered by "Register…"
    datasets: list[DatasetRow]


def _shape(profile: str | None) -> tuple[int | None, int | None]:
    """(rows, columns) from a dataset profile: a table's num_rows/num_elements, or an
    array's features_shape; None where the profile does not say."""
    import json

    try:
        p = json.loads(profile) if profile else None
    except ValueError:
        return None, None
    if not isinstance(p, dict):
        return None, None
    rows, elements = p.get("num_rows"), p.get("num_elements")
    if isinstance(rows, int):
        cols = elements // rows if isinstance(elements, int) and rows else None
        return rows, cols
    shape = p.get("features_shape")
    if isinstance(shape, list) and shape and all(isinstance(d, int) for d in shape):
        return shape[0], (shape[1] if len(shape) == 2 else None)
    return None, None


def dataset_rows(run: Any) -> list[DatasetRow]:
    out: list[DatasetRow] = []
    for di in run.inputs.dataset_inputs:
        d = di.dataset
        rows, cols = _shape(d.profile)
        context = next((t.value for t in di.tags if t.key == "mlflow.data.context"), None)
        out.append({"name": d.name, "digest": d.digest, "context": context,
                    "source_type": d.source_type, "rows": rows, "cols": cols})
    return out


class RegisterRequest(TypedDict):
    """Register the run's logged model at ``path`` as a new version of ``name``; the reply
    carries ``registered``."""

    type: Literal["register"]
    id: str
    run_id: str
    path: str
    name: str


class Registered(TypedDict):
    """The version a register request made."""

    name: str
    version: int
    source: str
    run_id: str


def _walk(root: Path, limit: int) -> tuple[list[tuple[str, int]], bool]:
    """Files under ``root`` (relative "/" paths, sizes), breadth-first, at most ``limit``."""
    files: list[tuple[str, int]] = []
    pending = [""]
    while pending:
        rel_dir = pending.pop(0)
        try:
            entries = _artifacts.list_dir(root, rel_dir or None)
        except FileNotFoundError:  # deleted while listing
            continue
        for entry in entries:
            if entry.is_dir:
                pending.append(entry.path)
            elif len(files) >= limit:
                return files, True
            else:
                files.append((entry.path, int(entry.file_size or 0)))
    return files, False


def artifact_entries(store: Store, run_id: str) -> tuple[list[ArtifactEntry], list[bytes], bool]:
    """The run's artifact files, image previews (as buffers) and whether the list is cut."""
    root = store.artifact_root(run_id)
    files, truncated = _walk(root, MAX_ARTIFACTS)
    entries: list[ArtifactEntry] = []
    buffers: list[bytes] = []
    for path, size in files:
        entry: ArtifactEntry = {"path": path, "size": size}
        mime = IMAGE_TYPES.get(os.path.splitext(path)[1].lower())
        if mime and size <= MAX_PREVIEW_BYTES and len(buffers) < MAX_PREVIEWS:
            try:
                data = _artifacts.resolve(root, path).read_bytes()
            except OSError:
                data = None
            if data is not None:
                entry["mime"] = mime
                entry["preview"] = len(buffers)
                buffers.append(data)
        entries.append(entry)
    return entries, buffers, truncated


def _flavors(mlmodel: Path) -> list[str]:
    try:
        import yaml

        doc = yaml.safe_load(mlmodel.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError) as exc:  # yaml errors are ValueErrors
        log.debug("unreadable %s: %s", mlmodel, exc)
        return []
    flavors = doc.get("flavors") if isinstance(doc, dict) else None
    return sorted(str(f) for f in flavors) if isinstance(flavors, dict) else []


def model_paths(root: Path) -> list[str]:
    """Artifact paths of the model folders under ``root`` (folders holding ``MLmodel``),
    breadth-first, sorted; at most ``MAX_MODEL_DEPTH`` deep and ``MAX_MODEL_SEARCH_DIRS``
    folders looked into."""
    found: list[str] = []
    pending: list[tuple[str, int]] = [("", 0)]
    seen = 0
    while pending and seen < MAX_MODEL_SEARCH_DIRS:
        rel_dir, depth = pending.pop(0)
        seen += 1
        try:
            entries = _artifacts.list_dir(root, rel_dir or None)
        except FileNotFoundError:
            continue
        if rel_dir and any(not e.is_dir and e.path.rsplit("/", 1)[-1] == "MLmodel"
                           for e in entries):
            found.append(rel_dir)
            continue
        if depth < MAX_MODEL_DEPTH:
            pending.extend((e.path, depth + 1) for e in entries if e.is_dir)
    return sorted(found)


def run_model_outputs(store: Store, run_id: str) -> dict[str, str]:
    """The run's MLflow 3 logged models that ``runs:/<run_id>/<name>`` resolves to: name ->
    model id (READY, not deleted; the newest of a name), output by the run or sourced
    from it."""
    with store.connect() as con:
        rows = con.execute(
            "SELECT lm.name, lm.model_id FROM logged_models lm WHERE lm.deleted = 0 "
            "AND lm.status = 'READY' AND (lm.source_run_id = ? OR lm.model_id IN "
            "(SELECT model_id FROM run_model_outputs WHERE run_id = ?)) "
            "ORDER BY lm.creation_timestamp, lm.model_id", [run_id, run_id]).fetchall()
    return dict(rows)  # the newest of a name wins


def logged_models(store: Store, run_id: str) -> tuple[list[LoggedModel], list[str]]:
    """The run's logged models with the versions registered from each, and the names of
    every registered model."""
    from ..registry import registry_for

    root = store.artifact_root(run_id)
    folders = model_paths(root)
    # an artifact folder wins a name clash: runs:/<run>/<path> loads the folder first
    outputs = {n: m for n, m in run_model_outputs(store, run_id).items() if n not in folders}
    reg = registry_for(store.root)
    names = reg.names()
    made: dict[str, list[RegisteredRef]] = {p: [] for p in [*folders, *outputs]}
    by_id = {m: n for n, m in outputs.items()}
    if made:
        for name in names:
            for mv in reg.versions(name):
                path = None
                if getattr(mv, "model_id", None) in by_id:
                    path = by_id[mv.model_id]
                elif mv.run_id == run_id and (mv.source or "").startswith("runs:"):
                    path = mv.source[len("runs:"):].lstrip("/").partition("/")[2].strip("/")
                if path in made:
                    made[path].append({"name": mv.name, "version": mv.version})
    models: list[LoggedModel] = [
        {"path": p, "flavors": _flavors(_artifacts.resolve(root, p) / "MLmodel"),
         "versions": made[p]} for p in folders]
    models += [{"path": n, "flavors": _flavors(store.layout.logged_model_artifacts(m) / "MLmodel"),
                "versions": made[n], "model_id": m} for n, m in outputs.items()]
    models.sort(key=lambda m: m["path"])
    return models, names


def register_logged_model(store: Store, run_id: Any, path: Any, name: Any) -> ModelVersion:
    """Register the run's logged model at ``path`` (an MLflow 3 logged model's name or a
    model folder's artifact path) as a new version of ``name`` (created if needed), through
    the same code as ``tb.register_model("runs:/<run_id>/<path>", name)``.

    Raises
    ------
    RunNotFoundError
        If the store has no such run.
    InvalidRegistryNameError
        If ``path`` is not a logged model of the run, or ``name`` is not allowed.
    """
    from ..registry import InvalidRegistryNameError
    from ..registry.api import register_model_in_store

    if not isinstance(run_id, str) or not run_id or get_run(store, run_id) is None:
        raise RunNotFoundError(f"no run with id {run_id!r} in store {store.root}")
    if not isinstance(path, str) or not path.strip("/"):
        raise InvalidRegistryNameError(f"model path must be a non-empty artifact path, got "
                                       f"{path!r}")
    path = path.strip("/")
    if not (_artifacts.resolve(store.artifact_root(run_id), path) / "MLmodel").is_file() \
            and path not in run_model_outputs(store, run_id):
        raise InvalidRegistryNameError(
            f"run {run_id} has no logged model at {path!r} (no logged model of that name, "
            "no MLmodel file there)")
    if not isinstance(name, str) or not name.strip():
        raise InvalidRegistryNameError("enter a registered model name, e.g. 'churn-model'")
    return register_model_in_store(store, f"runs:/{run_id}/{path}", name)


def run_detail(store: Store, run_id: str) -> tuple[RunDetail, list[bytes]]:
    """What the detail pane shows about ``run_id``, and the image previews' bytes.

    Raises
    ------
    RunNotFoundError
        If the store has no such run.
    """
    if not isinstance(run_id, str) or not run_id:
        raise RunNotFoundError(f"run id must be a non-empty string, got {run_id!r}")
    run = get_run(store, run_id)
    if run is None:
        raise RunNotFoundError(f"no run with id {run_id!r} in store {store.root}")
    artifacts, buffers, truncated = artifact_entries(store, run_id)
    models, names = logged_models(store, run_id)
    info = run.info
    detail: RunDetailWithModels = {
        "run_id": info.run_id, "run_name": info.run_name, "status": info.status,
        "experiment_id": info.experiment_id, "user_id": info.user_id,
        "start_time": info.start_time, "end_time": info.end_time,
        "params": sorted(run.data.params.items()),
        "metrics": sorted(run.data.metrics.items()),
        "tags": sorted(run.data.tags.items()),
        "artifacts": artifacts, "artifacts_truncated": truncated,
        "models": models, "registered_names": names, "datasets": dataset_rows(run),
    }
    return detail, buffers
