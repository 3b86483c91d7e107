"""The steps every flavor's ``save_model`` shares, and ``log_model`` on top of it.

A model directory gets: the flavor's data, ``code/`` (notebook code packaged as source,
local modules, ``code_paths``), the input example, ``project/`` (lockfiles/pyproject of the
project), ``requirements.txt`` / ``python_env.yaml`` / ``conda.yaml`` and, last, ``MLmodel``
(so a directory with an MLmodel file is complete).
"""

from __future__ import annotations

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
from .model import PYFUNC, Model, ModelInfo, directory_size, trackbook_section
from .signature import ModelSignature, infer_schema

log = logging.getLogger(__name__)
CODE_DIR = "code"


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
              params: dict[str, Any] | None = None, step: int = 0,
              model_type: str | None = None, tags: dict[str, Any] | None = None,
              model_id: str | None = None, **kwargs: Any) -> ModelInfo:
    """Save ``obj`` with ``save_fn(path, obj, ...)`` and log it as an MLflow 3 logged model.

    As MLflow 3 does: a :class:`~trackbook.models.logged_model.LoggedModel` (``m-<id>``) is
    created in the active run's experiment (or the current one when no run is active: no
    run is started), with ``params`` plus the run's params, ``tags`` plus the source tags,
    and ``model_type``; its files go to ``<store>/models/<model_id>/artifacts``; the run
    gets it as an output at ``step``; it is READY once its files are in place (FAILED if
    saving raised). ``model_id`` logs into an existing (e.g. initialized) logged model.
    ``models:/<model_id>`` and ``runs:/<run_id>/<name>`` both load it.
    """
    from ..store.artifacts import safe_relpath
    from ..tracking import active_model, fluent
    from ..tracking.runstate import state_of
    from ..tracking.uri import get_store
    from . import logged
    from .logged_model import LoggedModelStatus

    name = safe_relpath(name or artifact_path or "model")
    if not name:
        raise ModelError("log_model needs a non-empty name, e.g. name='model'")
    step = _step(step)
    if registered_model_name is not None:
        _check_registry()
    store = get_store()
    active = fluent.active_run()
    run_id = active.info.run_id if active is not None else None
    if model_id is not None:  # one this process just initialized needs no catalog read
        lm = logged.created(store, model_id) or logged.get(store, model_id)
    else:
        merged = dict(params or {})
        if run_id is not None:
            merged.update(state_of(store, run_id).params)  # MLflow: the run's params win
        experiment_id = (active.info.experiment_id if active is not None
                         else fluent.current_experiment_id())
        lm = logged.create(store, experiment_id=experiment_id, name=name,
                           source_run_id=run_id, model_type=model_type,
                           params={k: str(val) for k, val in merged.items()},
                           tags={**logged.context_tags(),
                                 **{k: str(val) for k, val in (tags or {}).items()}})
    active_model.set_last_logged_model_id(lm.model_id)
    try:
        if run_id is not None:
            logged.log_output(store, run_id, lm.model_id, step)
        with tempfile.TemporaryDirectory(prefix="trackbook-model-") as tmp:
            local = Path(tmp) / "model"
            model, cap = save_fn(local, obj, run_id=run_id, artifact_path=name, **kwargs)
            # MLflow 3's manifest names the logged model and its artifact location
            model.artifact_path = lm.artifact_location
            model.model_uuid = lm.model_id
            model.extra["model_id"] = lm.model_id
            model.save(local)
            put_dir(store.layout.logged_model_artifacts(lm.model_id).parent, local,
                    "artifacts")
    except BaseException:
        logged.finalize(store, lm.model_id, LoggedModelStatus.FAILED)
        raise
    logged.finalize(store, lm.model_id, LoggedModelStatus.READY)
    if lm.tags.get(logged.IS_EXTERNAL_TAG, "false").lower() == "true":
        logged.delete_tag(store, lm.model_id, logged.IS_EXTERNAL_TAG)
    info = ModelInfo.from_model(model, lm.model_uri, cap.requirements)
    info.model_id, info.name = lm.model_id, lm.name
    info.params, info.tags = dict(lm.params), dict(lm.tags)
    info.creation_timestamp = lm.creation_timestamp
    log.info("logged model %s (%s)", info.model_uri, ", ".join(model.flavors))
    if registered_model_name is not None:
        info.registered_model_version = _registry_hook(info, registered_model_name, tags)
    return info


def put_dir(root: Path, local: Path, folder: str) -> None:
    from ..store.artifacts import put_dir as _put

    _put(root, local, folder)


def _step(step: Any) -> int:
    from ..tracking import validation as v

    return 0 if step is None else v.step_value(step)


_register: Callable[..., Any] | None = None


def set_registry_hook(fn: Callable[..., Any]) -> None:
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


def _registry_hook(info: ModelInfo, name: str,
                   tags: dict[str, Any] | None = None) -> int | None:
    """Register ``info`` as a new version of ``name`` (with ``tags``); return its number."""
    assert _register is not None
    mv = _register(info, name, tags) if tags else _register(info, name)
    version = getattr(mv, "version", None)
    return int(version) if version is not None else None
