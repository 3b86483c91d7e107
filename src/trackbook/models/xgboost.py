"""The XGBoost flavor, stored the way MLflow's ``mlflow.xgboost`` stores it.

The model (a native ``xgboost.Booster`` or a scikit-learn wrapper such as
``XGBClassifier``) is written by XGBoost itself to ``model.<model_format>`` (``"ubj"``,
MLflow's default, ``"json"`` or ``"xgb"``): no pickle, so loading runs no code from the
file. MLmodel's ``xgboost`` flavor records ``xgb_version``, ``data``, ``model_class`` and
``model_format``; ``python_function`` names ``mlflow.xgboost`` as loader with the same
``data``, so MLflow loads these models natively and trackbook loads MLflow's.

>>> with tb.start_run():
...     info = tb.xgboost.log_model(booster, name="model", input_example=X[:5])
>>> tb.pyfunc.load_model(info.model_uri).predict(X_new)   # a DataFrame in, numpy out
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from . import _gbm
from ._errors import ModelError, ModelLoadError, UnsupportedModelError
from ._save import Flavor
from ._save import log_model as _log_model
from ._save import save as _save
from .loading import add_code_path, inside
from .model import Model, ModelInfo
from .signature import ModelSignature
from .uri import local_model_copy

FLAVOR_NAME = "xgboost"
LOADER_MODULE = "mlflow.xgboost"
SUPPORTED_MODEL_FORMATS = ("ubj", "json", "xgb")
DEFAULT_MODEL_CLASS = "xgboost.core.Booster"  # what MLflow assumes when MLmodel names none


def _xgb() -> Any:
    try:
        import xgboost
    except ImportError:
        raise UnsupportedModelError("the xgboost flavor needs xgboost: pip install "
                                    "xgboost (or xgboost-cpu)") from None
    return xgboost


def get_default_pip_requirements() -> list[str]:
    """The pip requirements every saved XGBoost model gets: ``xgboost==<installed>``."""
    return [_gbm.pinned("xgboost")]


def get_default_conda_env() -> dict[str, Any]:
    """MLflow's default conda environment for XGBoost models."""
    return _gbm.conda_env(get_default_pip_requirements())


def save_model(xgb_model: Any, path: str | os.PathLike[str], conda_env: Any = None,
               code_paths: Iterable[str | os.PathLike[str]] | None = None,
               mlflow_model: Any = None, signature: ModelSignature | bool | None = None,
               input_example: Any = None, pip_requirements: list[str] | None = None,
               extra_pip_requirements: list[str] | None = None, model_format: str = "ubj",
               metadata: dict[str, Any] | None = None, extra_files: Any = None,
               **kwargs: Any) -> Model:
    """Save an XGBoost model (``Booster`` or scikit-learn API model) to ``path``.

    Parameters
    ----------
    xgb_model
        A trained ``xgboost.Booster``, ``XGBClassifier``, ``XGBRegressor``...
    path
        A new (or empty) folder.
    model_format
        ``"ubj"`` (UBJSON, MLflow's default), ``"json"`` or ``"xgb"``: the file is
        ``model.<model_format>``.
    code_paths, signature, input_example, pip_requirements, extra_pip_requirements, metadata
        As in :func:`trackbook.pyfunc.save_model`. With an input example the signature is
        inferred from it and the model's predictions on it.
    conda_env, mlflow_model, extra_files
        MLflow's; not supported (an error says what to do instead).
    kwargs
        Passed to the model's ``save_model`` (as MLflow does).

    Returns
    -------
    Model
        The manifest that was written.
    """
    _gbm.refuse_unsupported(FLAVOR_NAME, conda_env=conda_env, mlflow_model=mlflow_model,
                            extra_files=extra_files)
    return _save_impl(path, xgb_model, model_format=model_format, save_kwargs=kwargs,
                      code_paths=code_paths, signature=signature,
                      input_example=input_example, pip_requirements=pip_requirements,
                      extra_pip_requirements=extra_pip_requirements, metadata=metadata)[0]


def _predict_fn(model: Any, params: dict[str, Any] | None = None) -> Any:
    xgboost = _xgb()
    if isinstance(model, xgboost.Booster):
        kwargs = _gbm.accepted_params(model.predict, params, FLAVOR_NAME)
        kwargs.setdefault("validate_features", True)
        return lambda data: model.predict(xgboost.DMatrix(data), **kwargs)
    kwargs = _gbm.accepted_params(model.predict, params, FLAVOR_NAME)
    kwargs.setdefault("validate_features", True)
    return lambda data: model.predict(data, **kwargs)


def _save_impl(path: str | os.PathLike[str], xgb_model: Any, *, model_format: str = "ubj",
               save_kwargs: dict[str, Any] | None = None, **kwargs: Any) -> Any:
    xgboost = _xgb()
    if model_format not in SUPPORTED_MODEL_FORMATS:
        raise UnsupportedModelError(f"model_format {model_format!r} is not supported; use "
                                    f"one of {list(SUPPORTED_MODEL_FORMATS)}")
    if not isinstance(xgb_model, (xgboost.Booster, xgboost.XGBModel)):
        raise ModelError(f"xgb_model must be an xgboost.Booster or a scikit-learn API model "
                         f"(XGBClassifier, XGBRegressor...), got {_gbm.class_name(xgb_model)}")
    file = f"model.{model_format}"

    def write(dest: Path, cap: Any) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
        with warnings.catch_warnings():
            # "xgb" is MLflow's name for XGBoost's default (UBJSON) binary: XGBoost warns
            # that it guesses the format from an unknown extension.
            warnings.filterwarnings("ignore", message=".*(file format|UBJSON format)")
            xgb_model.save_model(str(dest / file), **(save_kwargs or {}))
        flavor = {"xgb_version": xgboost.__version__, "data": file,
                  "model_class": _gbm.class_name(xgb_model), "model_format": model_format}
        return {"loader_module": LOADER_MODULE, "data": file}, {FLAVOR_NAME: flavor}

    def predict(example: Any) -> Any:
        return _predict_fn(xgb_model)(example)

    return _save(path, Flavor(xgb_model, write, None, extra_modules=["xgboost"],
                              predict=predict), **kwargs)


def log_model(xgb_model: Any, artifact_path: str | None = None, conda_env: Any = None,
              code_paths: Iterable[str | os.PathLike[str]] | None = None,
              registered_model_name: str | None = None,
              signature: ModelSignature | bool | None = None, input_example: Any = None,
              pip_requirements: list[str] | None = None,
              extra_pip_requirements: list[str] | None = None, model_format: str = "ubj",
              metadata: dict[str, Any] | None = None, extra_files: Any = None,
              name: str | None = None, **kwargs: Any) -> ModelInfo:
    """Log an XGBoost model to the active run (starting one if needed).

    Takes :func:`save_model`'s arguments; returns a ``ModelInfo`` whose ``model_uri`` is
    ``runs:/<run_id>/<name>`` (``name`` defaults to ``"model"``).
    """
    _gbm.refuse_unsupported(FLAVOR_NAME, conda_env=conda_env, extra_files=extra_files)
    save_kwargs = {k: kwargs.pop(k) for k in list(kwargs) if k not in _LOG_KEYWORDS}
    return _log_model(_save_impl, xgb_model, name, artifact_path=artifact_path,
                      registered_model_name=registered_model_name, model_format=model_format,
                      save_kwargs=save_kwargs, code_paths=code_paths, signature=signature,
                      input_example=input_example, pip_requirements=pip_requirements,
                      extra_pip_requirements=extra_pip_requirements, metadata=metadata,
                      **kwargs)


# log_model keywords _save.log_model itself handles (the others go to Booster.save_model)
_LOG_KEYWORDS = frozenset({"params", "tags", "model_type", "step", "model_id",
                           "await_registration_for"})


def _read(data_path: Path, conf: dict[str, Any], meta: Model | None = None) -> Any:
    xgboost = _xgb()
    cls = _gbm.import_class(conf.get("model_class") or DEFAULT_MODEL_CLASS,
                            (xgboost.Booster, xgboost.XGBModel), FLAVOR_NAME)
    if not data_path.is_file():
        raise ModelLoadError(f"the model file {data_path} is missing")
    model = cls()
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*Unknown file format")
            model.load_model(str(data_path))
    except xgboost.core.XGBoostError as exc:
        raise ModelLoadError(f"XGBoost could not load {data_path}: {exc}") from exc
    return model


def _load_dir(model_dir: Path) -> Any:
    meta = Model.load(model_dir)
    conf = meta.flavors.get(FLAVOR_NAME)
    if conf is None:
        raise UnsupportedModelError(f"the model at {model_dir} has no xgboost flavor (it has "
                                    f"{sorted(meta.flavors)}); use tb.pyfunc.load_model")
    add_code_path(model_dir, conf)
    return _read(inside(model_dir, conf.get("data") or "model.xgb"), conf, meta)


def load_model(model_uri: str | os.PathLike[str], dst_path: str | None = None) -> Any:
    """Load the XGBoost model itself (a ``Booster`` or the scikit-learn API class it was
    saved as) from ``runs:/...``, a local path or ``models:/...``."""
    return _load_dir(local_model_copy(model_uri, dst_path))


class _XGBModelWrapper:
    """pyfunc ``predict``: a DataFrame/array in, XGBoost's predictions out; ``params``
    go to the model's ``predict`` (``output_margin``, ``iteration_range``...)."""

    rowwise = True

    def __init__(self, model: Any) -> None:
        self.raw_model = model

    def get_raw_model(self) -> Any:
        return self.raw_model

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        return _predict_fn(self.raw_model, params)(data)


def _load_pyfunc(path: str, model_config: dict[str, Any] | None = None) -> _XGBModelWrapper:
    """The python_function loader (MLmodel names it ``mlflow.xgboost``); ``path`` is the
    model file or its folder."""
    model_dir = Path(path)
    if model_dir.is_file():
        model_dir = model_dir.parent
    return _XGBModelWrapper(_load_dir(model_dir))
