"""The steps every flavor's ``save_model`` shares, and ``log_model`` on top of it.

A model directory gets: the flavor's data, ``code/`` (notebook code packaged as source,
local modules, ``code_paths``), the input example, ``project/`` (lockfiles/pyproject of the
project), ``requirements.txt`` / ``python_env.yaml`` / ``conda.yaml`` and, last, ``MLmodel``
(so a directory with an MLmodel file is complete).
"""

from __future__ import annotations

import json
import logging
import os
import platform
import shutil
import tempfile
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import env as _env
from ._errors import ModelError, ModelRegistryUnavailableError, ModelWarning
from .example import normalize_example, save_example
from .model import MLMODEL_FILE, PYFUNC, Model, ModelInfo, directory_size, trackbook_section
from .signature import ModelSignature, infer_schema

log = logging.getLogger(__name__)
CODE_DIR = "code"
HISTORY_TAG = "mlflow.log-model.history"  # MLflow's run tag listing the models logged in it


@dataclass
class Flavor:
    """What a flavor contributes to a save: how to write its data and its MLmodel entries.

    ``write(model_dir, capture)`` writes the data files and returns
    ``(python_function conf, {flavor name: conf})``.
    """

    obj: Any
    write: Callable[[Path, _env.Capture], tuple[dict[str, Any], dict[str, dict[str, Any]]]]
    serialization_format: str | None = None
    extra_modules: list[str] = field(default_factory=list)
    predict: Callable[[Any], Any] | None = None


def prepare_dir(path: str | os.PathLike[str]) -> Path:
    dest = Path(path).expanduser().absolute()
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise ModelError(f"cannot save a model to {dest}: it already exists and is not an "
                         "empty folder; choose another path or delete it first")
    dest.mkdir(parents=True, exist_ok=True)
    return dest


def _copy(src: Path, dest_dir: Path) -> str:
    target = dest_dir / src.name
    if src.is_dir():
        shutil.copytree(src, target, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".*"))
    else:
        shutil.copy2(src, target)
    return src.name


def save(path: str | os.PathLike[str], flavor: Flavor, *,
         signature: ModelSignature | bool | None = None, input_example: Any = None,
         pip_requirements: list[str] | None = None,
         extra_pip_requirements: list[str] | None = None,
         code_paths: Iterable[str | os.PathLike[str]] | None = None,
         metadata: dict[str, Any] | None = None, run_id: str | None = None,
         artifact_path: str | None = None) -> tuple[Model, _env.Capture]:
    """Save ``flavor.obj`` to ``path`` as a model directory; return its manifest."""
    code_paths = [Path(p).expanduser().absolute() for p in code_paths or []]
    for p in code_paths:
        if not p.exists():
            raise ModelError(f"code path {p} does not exist")
    dest = prepare_dir(path)
    try:
        return _save(dest, flavor, signature, input_example, pip_requirements,
                     extra_pip_requirements, code_paths, metadata, run_id, artifact_path)
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)  # never leave a half-written model behind
        raise


def _save(dest: Path, flavor: Flavor, signature: Any, input_example: Any,
          pip_requirements: list[str] | None, extra_pip_requirements: list[str] | None,
          code_paths: list[Path], metadata: dict[str, Any] | None, run_id: str | None,
          artifact_path: str | None) -> tuple[Model, _env.Capture]:
    cap = _env.capture(flavor.obj, serialization_format=flavor.serialization_format,
                       extra_modules=flavor.extra_modules, pip_requirements=pip_requirements,
                       extra_pip_requirements=extra_pip_requirements, code_paths=code_paths)
    tb = trackbook_section()
    code_entries: list[str] = []
    if cap.main_code is not None or cap.local_code or code_paths:
        code_dir = dest / CODE_DIR
        code_dir.mkdir()
        if cap.main_code is not None:
            (code_dir / f"{cap.main_code.module}.py").write_text(cap.main_code.source,
                                                                 encoding="utf-8")
            code_entries.append(f"{cap.main_code.module}.py")
            tb["main_code"] = {"module": cap.main_code.module, "names": cap.main_code.names}
        for src in [*cap.local_code, *code_paths]:
            code_entries.append(_copy(src, code_dir))
        tb["code"] = sorted(set(code_entries))
    if cap.by_value:
        tb["pickled_by_value"] = cap.by_value
    pyfunc_conf, flavors = flavor.write(dest, cap)
    example = normalize_example(input_example) if input_example is not None else None
    if signature is None and example is not None:
        signature = _infer_from_example(example, flavor.predict)
    example_info = save_example(dest, example) if example is not None else None
    project = _env.find_project_files()
    if project:
        (dest / "project").mkdir()
        tb["project_files"] = [f"project/{_copy(p, dest / 'project')}" for p in project]
        tb["project_root"] = str(project[0].parent)
    env_conf = _env.write_env_files(dest, cap)
    if cap.uses_trackbook:
        tb["needs_trackbook"] = True
    model = Model(artifact_path=artifact_path, run_id=run_id,
                  signature=signature if isinstance(signature, ModelSignature) else None,
                  saved_input_example_info=example_info, metadata=metadata,
                  trackbook=tb)
    if pyfunc_conf:
        conf = {**pyfunc_conf, "env": env_conf, "python_version": platform.python_version()}
        if code_entries:
            conf["code"] = CODE_DIR
        model.add_flavor(PYFUNC, **conf)
    for name, fconf in flavors.items():
        model.add_flavor(name, **fconf, code=CODE_DIR if code_entries else None)
    model.model_size_bytes = directory_size(dest)
    model.save(dest)
    return model, cap


def _infer_from_example(example: Any, predict: Callable[[Any], Any] | None) -> Any:
    """Signature from the input example and the model's output on it (warn, not fail)."""
    try:
        inputs = infer_schema(example)
    except ModelError as exc:
        warnings.warn(f"no signature saved: cannot infer the input schema from the input "
                      f"example ({exc}); pass signature=infer_signature(...)", ModelWarning,
                      stacklevel=4)
        return None
    outputs = None
    if predict is not None:
        try:
            outputs = infer_schema(predict(example))
        except Exception as exc:
            warnings.warn(f"the signature has no output schema: predicting the input example "
                          f"failed or gave an unsupported type ({type(exc).__name__}: {exc})",
                          ModelWarning, stacklevel=4)
    return ModelSignature(inputs, outputs)


def log_model(save_fn: Callable[..., tuple[Model, _env.Capture]], obj: Any, name: str | None, *,
              artifact_path: str | None = None, registered_model_name: str | None = None,
              **kwargs: Any) -> ModelInfo:
    """Save ``obj`` with ``save_fn(path, obj, ...)`` into a temp folder and log it as
    artifacts of the active run (starting one if none is active, as MLflow does)."""
    from ..store.artifacts import safe_relpath
    from ..tracking import fluent
    from ..tracking.client import Client

    name = safe_relpath(name or artifact_path or "model")
    if not name:
        raise ModelError("log_model needs a non-empty name, e.g. name='model'")
    if registered_model_name is not None:
        _check_registry()
    run = fluent.active_run() or fluent.start_run()
    run_id = run.info.run_id
    client = Client()
    if any(f.path == f"{name}/MLmodel" for f in client.list_artifacts(run_id, name)):
        raise ModelError(f"run {run_id} already has a model at {name!r}; log this one under "
                         "another name")
    with tempfile.TemporaryDirectory(prefix="trackbook-model-") as tmp:
        local = Path(tmp) / "model"
        model, cap = save_fn(local, obj, run_id=run_id, artifact_path=name, **kwargs)
        client.log_artifacts(run_id, str(local), name)
    _record_history(client, run_id, model)
    info = ModelInfo.from_model(model, f"runs:/{run_id}/{name}", cap.requirements)
    log.info("logged model %s (%s)", info.model_uri, ", ".join(model.flavors))
    if registered_model_name is not None:
        _registry_hook(info, registered_model_name)
    return info


def logged_models(artifact_root: Path, run_id: str) -> list[Model]:
    """The models logged in a run: every ``MLmodel`` under its artifacts that names the
    run, oldest first (folders inside a model are not searched)."""
    found = []
    for dirpath, dirs, files in os.walk(artifact_root):
        if MLMODEL_FILE in files:
            dirs.clear()
            try:
                model = Model.load(Path(dirpath))
            except (ModelError, OSError, ValueError):
                log.warning("skipping unreadable %s", Path(dirpath) / MLMODEL_FILE)
                continue
            if model.run_id == run_id:
                found.append(model)
    return sorted(found, key=lambda m: (str(m.utc_time_created), m.artifact_path or ""))


def _record_history(client: Any, run_id: str, model: Model) -> None:
    """Set the run's ``mlflow.log-model.history`` tag (MLflow's JSON list of logged models).

    The list is rebuilt from the run's MLmodel files rather than read back from the tag, so
    a training process never queries the catalog; models logged into the run by other
    processes are in it too. The model is logged by then: a failure here only warns.
    """
    try:
        root = Path(client.download_artifacts(run_id, ""))
        entries = [m.history_entry() for m in logged_models(root, run_id)]
        if model.model_uuid not in {e["model_uuid"] for e in entries}:
            entries.append(model.history_entry())
        client.set_tag(run_id, HISTORY_TAG, json.dumps(entries))
    except Exception as exc:  # the model itself is safely logged
        warnings.warn(f"model logged, but the run's {HISTORY_TAG} tag was not updated "
                      f"({type(exc).__name__}: {exc})", ModelWarning, stacklevel=3)


_register: Callable[[ModelInfo, str], Any] | None = None


def set_registry_hook(fn: Callable[[ModelInfo, str], Any]) -> None:
    """Called by the model registry so ``log_model(registered_model_name=...)`` registers."""
    global _register
    _register = fn


def _check_registry() -> None:
    if _register is None:
        from .uri import _load_registry

        _load_registry()  # the registry calls set_registry_hook on import
    if _register is None:
        raise ModelRegistryUnavailableError(
            "registered_model_name needs the model registry, which is not available in this "
            "version of trackbook; log without it and keep ModelInfo.model_uri")


def _registry_hook(info: ModelInfo, name: str) -> None:
    assert _register is not None
    _register(info, name)
