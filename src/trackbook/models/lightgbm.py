"""The LightGBM flavor, stored the way MLflow's ``mlflow.lightgbm`` stores it.

A native ``lightgbm.Booster`` is written by LightGBM itself to ``model.lgb`` (text, no
pickle). A scikit-learn API model (``LGBMClassifier``, ``LGBMRegressor``...) is stored as
scikit-learn models are: ``model.skops`` (``serialization_format="skops"``, MLflow 3's
default) or ``model.pkl`` (``"cloudpickle"``/``"pickle"``: loading runs code from the
file). MLmodel's ``lightgbm`` flavor records ``lgb_version``, ``data``, ``model_class``,
``serialization_format`` and ``skops_trusted_types``; ``python_function`` names
``mlflow.lightgbm`` as loader, so MLflow loads these models and trackbook loads MLflow's.

A skops file is loaded trusting skops' defaults plus the types every LightGBM wrapper
needs (``lightgbm.basic.Booster``, the wrapper class, ``collections.OrderedDict``); other
types must be named by the caller (``skops_trusted_types=``): the list in MLmodel is never
trusted on its own.

>>> with tb.start_run():
...     info = tb.lightgbm.log_model(clf, name="model", input_example=X[:5])
>>> tb.pyfunc.load_model(info.model_uri).predict(X_new)
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from . import _gbm
from . import sklearn as _sk
from ._errors import ModelError, ModelLoadError, UnsupportedModelError
from ._save import Flavor
from ._save import log_model as _log_model
from ._save import save as _save
from .loading import add_code_path, inside
from .model import Model, ModelInfo
from .signature import ModelSignature
from .uri import local_model_copy

FLAVOR_NAME = "lightgbm"
LOADER_MODULE = "mlflow.lightgbm"
BOOSTER_FILE = "model.lgb"
BOOSTER_CLASS = "lightgbm.basic.Booster"
SUPPORTED_SERIALIZATION_FORMATS = _sk.SUPPORTED_SERIALIZATION_FORMATS
#: The types a LightGBM scikit-learn model needs in skops (MLflow trusts the same set).
LIGHTGBM_SKOPS_TRUSTED_TYPES = ("collections.OrderedDict", "lightgbm.basic.Booster",
                                "lightgbm.sklearn.LGBMClassifier",
                                "lightgbm.sklearn.LGBMRegressor")


def _lgb() -> Any:
    try:
        import lightgbm
    except ImportError:
        raise UnsupportedModelError("the lightgbm flavor needs lightgbm: pip install "
                                    "lightgbm") from None
    return lightgbm


def get_default_pip_requirements(include_cloudpickle: bool = False,
                                 include_skops: bool = False) -> list[str]:
    """The pip requirements every saved LightGBM model gets (``lightgbm==<installed>``,
    plus cloudpickle or skops for scikit-learn API models stored with them)."""
    reqs = [_gbm.pinned("lightgbm")]
    if include_cloudpickle:
        reqs.append(_gbm.pinned("cloudpickle"))
    if include_skops:
        reqs.append(_gbm.pinned("skops"))
    return reqs


def get_default_conda_env(include_cloudpickle: bool = False,
                          include_skops: bool = False) -> dict[str, Any]:
    """MLflow's default conda environment for LightGBM models."""
    return _gbm.conda_env(get_default_pip_requirements(include_cloudpickle, include_skops))


def save_model(lgb_model: Any, path: str | os.PathLike[str], conda_env: Any = None,
               code_paths: Iterable[str | os.PathLike[str]] | None = None,
               mlflow_model: Any = None, signature: ModelSignature | bool | None = None,
               input_example: Any = None, pip_requirements: list[str] | None = None,
               extra_pip_requirements: list[str] | None = None,
               metadata: dict[str, Any] | None = None, serialization_format: str | None = None,
               skops_trusted_types: Sequence[str] | None = None, extra_files: Any = None,
               **kwargs: Any) -> Model:
    """Save a LightGBM model (``Booster`` or scikit-learn API model) to ``path``.

    Parameters
    ----------
    lgb_model
        A trained ``lightgbm.Booster``, ``LGBMClassifier``, ``LGBMRegressor``...
    path
        A new (or empty) folder.
    serialization_format
        For scikit-learn API models: ``"skops"`` (the default, as in MLflow 3),
        ``"cloudpickle"`` or ``"pickle"``. A Booster is always LightGBM's text format.
    skops_trusted_types
        Types beyond skops' and LightGBM's (see :data:`LIGHTGBM_SKOPS_TRUSTED_TYPES`) the
        model needs, e.g. for a subclass of ``LGBMClassifier``.
    code_paths, signature, input_example, pip_requirements, extra_pip_requirements, metadata
        As in :func:`trackbook.pyfunc.save_model`.
    conda_env, mlflow_model, extra_files
        MLflow's; not supported (an error says what to do instead).

    Returns
    -------
    Model
        The manifest that was written.
    """
    _gbm.refuse_unsupported(FLAVOR_NAME, conda_env=conda_env, mlflow_model=mlflow_model,
                            extra_files=extra_files)
    if kwargs:
        raise UnsupportedModelError(f"lightgbm.save_model got unknown arguments "
                                    f"{sorted(kwargs)}")
    return _save_impl(path, lgb_model, serialization_format=serialization_format,
                      skops_trusted_types=skops_trusted_types, code_paths=code_paths,
                      signature=signature, input_example=input_example,
                      pip_requirements=pip_requirements,
                      extra_pip_requirements=extra_pip_requirements, metadata=metadata)[0]


def _save_impl(path: str | os.PathLike[str], lgb_model: Any, *,
               serialization_format: str | None = None,
               skops_trusted_types: Sequence[str] | None = None, **kwargs: Any) -> Any:
    lightgbm = _lgb()
    extra = _sk._type_list(skops_trusted_types, "skops_trusted_types")
    if serialization_format is not None \
            and serialization_format not in SUPPORTED_SERIALIZATION_FORMATS:
        raise UnsupportedModelError(
            f"serialization_format {serialization_format!r} is not supported; use one of "
            f"{SUPPORTED_SERIALIZATION_FORMATS}")
    is_booster = isinstance(lgb_model, lightgbm.Booster)
    if not is_booster and not isinstance(lgb_model, lightgbm.LGBMModel):
        raise ModelError(f"lgb_model must be a lightgbm.Booster or a scikit-learn API model "
                         f"(LGBMClassifier, LGBMRegressor...), got "
                         f"{_gbm.class_name(lgb_model)}")
    trusted = sorted({*LIGHTGBM_SKOPS_TRUSTED_TYPES, *(extra or [])})
    skops_data = None
    if not is_booster and serialization_format in (None, _sk.SERIALIZATION_FORMAT_SKOPS):
        explicit = serialization_format is not None or extra is not None
        skops_data = _sk._skops_bytes(lgb_model, trusted, explicit)
    # MLflow records a Booster's format too (skops unless another was asked for)
    default = is_booster and serialization_format in (None, _sk.SERIALIZATION_FORMAT_SKOPS)
    if skops_data is not None or default:
        fmt = _sk.SERIALIZATION_FORMAT_SKOPS
    else:
        fmt = serialization_format or _sk.SERIALIZATION_FORMAT_CLOUDPICKLE
    if is_booster:
        file = BOOSTER_FILE
    else:
        file = _sk.SKOPS_MODEL_FILE if skops_data is not None else _sk.MODEL_FILE

    def write(dest: Path, cap: Any) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
        if is_booster:
            lgb_model.save_model(str(dest / file))
        elif skops_data is not None:
            from ..store.durable import write_file

            write_file(dest / file, skops_data, what="the model's skops file")
        else:
            from . import _code

            with open(dest / file, "wb") as f:
                _code.dump(lgb_model, f, fmt,
                           cap.main_code.redirects if cap.main_code else None)
        flavor = {"lgb_version": lightgbm.__version__, "data": file,
                  "model_class": _gbm.class_name(lgb_model), "serialization_format": fmt,
                  "skops_trusted_types": trusted if fmt == _sk.SERIALIZATION_FORMAT_SKOPS
                  else extra}
        return {"loader_module": LOADER_MODULE, "data": file}, {FLAVOR_NAME: flavor}

    return _save(path, Flavor(lgb_model, write, None if is_booster else fmt,
                              extra_modules=["lightgbm"], predict=lgb_model.predict), **kwargs)


def log_model(lgb_model: Any, artifact_path: str | None = None, conda_env: Any = None,
              code_paths: Iterable[str | os.PathLike[str]] | None = None,
              registered_model_name: str | None = None,
              signature: ModelSignature | bool | None = None, input_example: Any = None,
              pip_requirements: list[str] | None = None,
              extra_pip_requirements: list[str] | None = None,
              metadata: dict[str, Any] | None = None, extra_files: Any = None,
              name: str | None = None, serialization_format: str | None = None,
              skops_trusted_types: Sequence[str] | None = None, **kwargs: Any) -> ModelInfo:
    """Log a LightGBM model to the active run (starting one if needed).

    Takes :func:`save_model`'s arguments; returns a ``ModelInfo`` whose ``model_uri`` is
    ``runs:/<run_id>/<name>`` (``name`` defaults to ``"model"``).
    """
    _gbm.refuse_unsupported(FLAVOR_NAME, conda_env=conda_env, extra_files=extra_files)
    return _log_model(_save_impl, lgb_model, name, artifact_path=artifact_path,
                      registered_model_name=registered_model_name,
                      serialization_format=serialization_format,
                      skops_trusted_types=skops_trusted_types, code_paths=code_paths,
                      signature=signature, input_example=input_example,
                      pip_requirements=pip_requirements,
                      extra_pip_requirements=extra_pip_requirements, metadata=metadata,
                      **kwargs)


def _read(data_path: Path, conf: dict[str, Any], meta: Model | None = None,
          skops_trusted_types: Sequence[str] | None = None) -> Any:
    model_class = conf.get("model_class") or BOOSTER_CLASS
    if model_class == BOOSTER_CLASS:
        lightgbm = _lgb()
        if not data_path.is_file():
            raise ModelLoadError(f"the model file {data_path} is missing")
        try:
            return lightgbm.Booster(model_file=str(data_path))
        except lightgbm.basic.LightGBMError as exc:
            raise ModelLoadError(f"LightGBM could not load {data_path}: {exc}") from exc
    # scikit-learn API models: MLflow's default for old MLmodels without a format is cloudpickle
    fmt = conf.get("serialization_format") or _sk.SERIALIZATION_FORMAT_CLOUDPICKLE
    extra = _sk._type_list(skops_trusted_types, "skops_trusted_types") or []
    trusted = sorted({*LIGHTGBM_SKOPS_TRUSTED_TYPES, *extra})
    return _sk._read(data_path, fmt, conf, trusted)


def _load_dir(model_dir: Path, skops_trusted_types: Sequence[str] | None = None) -> Any:
    meta = Model.load(model_dir)
    conf = meta.flavors.get(FLAVOR_NAME)
    if conf is None:
        raise UnsupportedModelError(f"the model at {model_dir} has no lightgbm flavor (it has "
                                    f"{sorted(meta.flavors)}); use tb.pyfunc.load_model")
    if conf.get("serialization_format") != _sk.SERIALIZATION_FORMAT_SKOPS \
            or skops_trusted_types:
        add_code_path(model_dir, conf)  # as for sklearn: skops gets code/ only when trusted
    return _read(inside(model_dir, conf.get("data") or BOOSTER_FILE), conf, meta,
                 skops_trusted_types)


def load_model(model_uri: str | os.PathLike[str], dst_path: str | None = None, *,
               skops_trusted_types: Sequence[str] | None = None) -> Any:
    """Load the LightGBM model itself (a ``Booster`` or the scikit-learn API model) from
    ``runs:/...``, a local path or ``models:/...``.

    ``skops_trusted_types`` names types a skops file may use beyond skops' and LightGBM's
    own (see the module docstring). ``"pickle"``/``"cloudpickle"`` files run code when
    loaded: only load those from sources you trust.
    """
    return _load_dir(local_model_copy(model_uri, dst_path), skops_trusted_types)


class _LGBModelWrapper:
    """pyfunc ``predict``: LightGBM's ``predict`` on the input. MLflow passes no ``params``
    to LightGBM models; neither does trackbook (it logs a warning naming them)."""

    rowwise = True

    def __init__(self, model: Any) -> None:
        self.raw_model = model

    def get_raw_model(self) -> Any:
        return self.raw_model

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        if params:
            _gbm.log.warning("params %s are not passed to a LightGBM model's predict (as in "
                             "MLflow); ignoring them", sorted(params))
        return self.raw_model.predict(data)


def _load_pyfunc(path: str, model_config: dict[str, Any] | None = None, *,
                 skops_trusted_types: Sequence[str] | None = None) -> _LGBModelWrapper:
    """The python_function loader (MLmodel names it ``mlflow.lightgbm``)."""
    model_dir = Path(path)
    if model_dir.is_file():
        model_dir = model_dir.parent
    return _LGBModelWrapper(_load_dir(model_dir, skops_trusted_types))
