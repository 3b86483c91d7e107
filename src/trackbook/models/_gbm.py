"""What the XGBoost and LightGBM flavors share: MLflow arguments trackbook refuses, the
model class named in MLmodel, default environments, predict params filtering."""

from __future__ import annotations

import importlib
import importlib.metadata as md
import inspect
import logging
from collections.abc import Callable
from typing import Any

from ._errors import ModelLoadError, UnsupportedModelError

log = logging.getLogger(__name__)

#: MLflow ``save_model`` arguments trackbook does not implement, with what to do instead.
_REFUSED = {
    "conda_env": "pass pip_requirements=[...] (conda.yaml is written from them)",
    "mlflow_model": "save first, then edit the MLmodel with tb.models.Model.load(path)",
    "extra_files": "log the files next to the model with tb.log_artifact",
}


def refuse_unsupported(flavor: str, **given: Any) -> None:
    """Raise for every MLflow argument in ``given`` that is set but not implemented."""
    for name, value in given.items():
        if value is not None:
            raise UnsupportedModelError(
                f"{flavor}.save_model/log_model: {name}= is not supported by trackbook "
                f"(got {type(value).__name__}); {_REFUSED[name]}")


def class_name(obj: Any) -> str:
    """MLflow's fully qualified class name (``xgboost.sklearn.XGBClassifier``)."""
    return f"{type(obj).__module__}.{type(obj).__qualname__}"


def import_class(name: str, bases: tuple[type, ...], flavor: str) -> type:
    """The class MLmodel's ``model_class`` names, only if it is one of ``bases``' subclasses
    (a model class of the framework or one built on it, from the model's ``code/``)."""
    module_name, _, qualname = name.rpartition(".")
    if not module_name:
        raise ModelLoadError(f"the {flavor} flavor's model_class {name!r} is not a "
                             "'module.Class' name")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise ModelLoadError(f"cannot import the {flavor} model class {name!r} the model's "
                             f"MLmodel names ({type(exc).__name__}: {exc})") from exc
    if not (isinstance(obj, type) and issubclass(obj, bases)):
        allowed = ", ".join(f"{b.__module__}.{b.__qualname__}" for b in bases)
        raise ModelLoadError(f"the {flavor} flavor's model_class {name!r} is not a subclass "
                             f"of {allowed}; refusing to build it")
    return obj


def pinned(module: str) -> str:
    """MLflow's pinned requirement: ``<module>==<its __version__>`` (MLflow writes
    ``xgboost==3.2.0`` even when the ``xgboost-cpu`` distribution provides it)."""
    try:
        version = importlib.import_module(module).__version__
    except (ImportError, AttributeError):
        try:
            version = md.version(module)
        except md.PackageNotFoundError:
            return module
    return f"{module}=={str(version).split('+')[0]}"


def conda_env(pip_requirements: list[str]) -> dict[str, Any]:
    """MLflow's default conda environment around ``pip_requirements``."""
    import platform

    from .._version import __version__

    try:
        pip = f"pip<={md.version('pip')}"
    except md.PackageNotFoundError:
        pip = "pip"
    return {"name": "mlflow-env", "channels": ["conda-forge"],
            "dependencies": [f"python={platform.python_version()}", pip,
                             {"pip": [f"trackbook=={__version__}", *pip_requirements]}]}


def accepted_params(fn: Callable[..., Any], params: dict[str, Any] | None,
                    flavor: str) -> dict[str, Any]:
    """The ``params`` ``fn`` takes; the others are dropped with a warning, as MLflow does."""
    if not params:
        return {}
    try:
        sig = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return dict(params)
    if any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in sig.values()):
        return dict(params)
    dropped = sorted(k for k in params if k not in sig)
    if dropped:
        log.warning("params %s are not accepted by the %s model's predict; ignoring them",
                    dropped, flavor)
    return {k: v for k, v in params.items() if k in sig}
