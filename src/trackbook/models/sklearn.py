"""The scikit-learn flavor, stored the way MLflow's ``mlflow.sklearn`` stores it.

``model.pkl`` holds the estimator (``serialization_format`` ``cloudpickle`` by default, or
``pickle``); MLmodel's ``sklearn`` flavor records the format and scikit-learn version, and
the ``python_function`` flavor names ``mlflow.sklearn`` as loader, so MLflow loads these
models natively and trackbook loads MLflow's (``skops`` files need ``pip install skops``).

>>> with tb.start_run():
...     info = tb.sklearn.log_model(model, name="model", input_example=X[:5])
>>> tb.pyfunc.load_model(info.model_uri).predict(X_new)
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from . import _code
from ._errors import ModelError, ModelLoadError, UnsupportedModelError
from ._save import Flavor
from ._save import log_model as _log_model
from ._save import save as _save
from .loading import add_code_path, inside
from .model import PYFUNC, Model, ModelInfo
from .signature import ModelSignature
from .uri import local_model_copy

FLAVOR_NAME = "sklearn"
MODEL_FILE = "model.pkl"
SERIALIZATION_FORMAT_PICKLE = "pickle"
SERIALIZATION_FORMAT_CLOUDPICKLE = "cloudpickle"
SERIALIZATION_FORMAT_SKOPS = "skops"
SUPPORTED_SERIALIZATION_FORMATS = [SERIALIZATION_FORMAT_PICKLE, SERIALIZATION_FORMAT_CLOUDPICKLE]
_PREDICT_FNS = ("predict", "predict_proba", "predict_log_proba", "predict_joint_log_proba",
                "decision_function", "transform", "score")


def save_model(sk_model: Any, path: str | os.PathLike[str], *,
               serialization_format: str = SERIALIZATION_FORMAT_CLOUDPICKLE,
               code_paths: Iterable[str | os.PathLike[str]] | None = None,
               signature: ModelSignature | bool | None = None, input_example: Any = None,
               pip_requirements: list[str] | None = None,
               extra_pip_requirements: list[str] | None = None,
               pyfunc_predict_fn: str = "predict",
               metadata: dict[str, Any] | None = None) -> Model:
    """Save a scikit-learn estimator (or pipeline) as a model directory at ``path``.

    Parameters
    ----------
    sk_model
        A fitted estimator.
    serialization_format
        ``"cloudpickle"`` (default, as MLflow 2) or ``"pickle"``.
    code_paths, signature, input_example, pip_requirements, extra_pip_requirements, metadata
        As in :func:`trackbook.pyfunc.save_model`.
    pyfunc_predict_fn
        The estimator method ``pyfunc`` ``predict`` calls (e.g. ``"predict_proba"``).

    Returns
    -------
    Model
        The manifest that was written.
    """
    return _save_impl(path, sk_model, serialization_format=serialization_format,
                      code_paths=code_paths, signature=signature, input_example=input_example,
                      pip_requirements=pip_requirements,
                      extra_pip_requirements=extra_pip_requirements,
                      pyfunc_predict_fn=pyfunc_predict_fn, metadata=metadata)[0]


def _save_impl(path: str | os.PathLike[str], sk_model: Any, *,
               serialization_format: str = SERIALIZATION_FORMAT_CLOUDPICKLE,
               pyfunc_predict_fn: str = "predict", **kwargs: Any) -> Any:
    import sklearn

    if serialization_format not in SUPPORTED_SERIALIZATION_FORMATS:
        raise UnsupportedModelError(
            f"serialization_format {serialization_format!r} is not supported; use one of "
            f"{SUPPORTED_SERIALIZATION_FORMATS}")
    if pyfunc_predict_fn not in _PREDICT_FNS:
        raise UnsupportedModelError(f"pyfunc_predict_fn must be one of {list(_PREDICT_FNS)}, "
                                    f"got {pyfunc_predict_fn!r}")
    if not callable(getattr(sk_model, "fit", None)):
        raise ModelError(f"sk_model must be a scikit-learn estimator, got "
                         f"{type(sk_model).__name__}")
    has_predict = callable(getattr(sk_model, pyfunc_predict_fn, None))

    def write(dest: Path, cap: Any) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
        with open(dest / MODEL_FILE, "wb") as f:
            _code.dump(sk_model, f, serialization_format,
                       cap.main_code.redirects if cap.main_code else None)
        pyfunc_conf = {"loader_module": "mlflow.sklearn", "model_path": MODEL_FILE,
                       "predict_fn": pyfunc_predict_fn} if has_predict else {}
        flavor = {"pickled_model": MODEL_FILE, "serialization_format": serialization_format,
                  "sklearn_version": sklearn.__version__}
        return pyfunc_conf, {FLAVOR_NAME: flavor}

    def predict(example: Any) -> Any:
        return getattr(sk_model, pyfunc_predict_fn)(example)

    flavor = Flavor(sk_model, write, serialization_format, extra_modules=["sklearn"],
                    predict=predict if has_predict else None)
    return _save(path, flavor, **kwargs)


def log_model(sk_model: Any, name: str | None = None, *, artifact_path: str | None = None,
              registered_model_name: str | None = None, **kwargs: Any) -> ModelInfo:
    """Log a scikit-learn model to the active run (starting one if needed).

    Takes :func:`save_model`'s arguments; returns a ``ModelInfo`` whose ``model_uri`` is
    ``runs:/<run_id>/<name>`` (``name`` defaults to ``"model"``).
    """
    return _log_model(_save_impl, sk_model, name, artifact_path=artifact_path,
                      registered_model_name=registered_model_name, **kwargs)


def _read(path: Path, serialization_format: str, conf: dict[str, Any]) -> Any:
    if serialization_format == SERIALIZATION_FORMAT_SKOPS:
        try:
            import skops.io
        except ImportError:
            raise ModelLoadError(
                f"{path} was saved by MLflow in the skops format; install skops to load it "
                "(pip install skops), or save it with serialization_format='cloudpickle'"
            ) from None
        return skops.io.load(path, trusted=conf.get("skops_trusted_types"))
    if serialization_format not in SUPPORTED_SERIALIZATION_FORMATS:
        raise UnsupportedModelError(f"unknown sklearn serialization_format "
                                    f"{serialization_format!r} in {path.parent}")
    try:
        with open(path, "rb") as f:
            if serialization_format == SERIALIZATION_FORMAT_CLOUDPICKLE:
                import cloudpickle

                return cloudpickle.load(f)
            return pickle.load(f)
    except FileNotFoundError:
        raise ModelLoadError(f"the model file {path} is missing") from None


def _load_dir(model_dir: Path) -> Any:
    meta = Model.load(model_dir)
    conf = meta.flavors.get(FLAVOR_NAME)
    if conf is None:
        raise UnsupportedModelError(f"the model at {model_dir} has no sklearn flavor (it has "
                                    f"{sorted(meta.flavors)}); use tb.pyfunc.load_model")
    add_code_path(model_dir, conf)
    add_code_path(model_dir, meta.flavors.get(PYFUNC, {}))
    return _read(inside(model_dir, conf["pickled_model"]),
                 conf.get("serialization_format", SERIALIZATION_FORMAT_PICKLE), conf)


def load_model(model_uri: str | os.PathLike[str], dst_path: str | None = None) -> Any:
    """Load the scikit-learn estimator itself from ``runs:/...``, a path or ``models:/...``."""
    local = local_model_copy(model_uri, dst_path)
    return _load_dir(local)


class _SklearnWrapper:
    rowwise = True  # scikit-learn's predict/transform score each row on its own

    def __init__(self, model: Any, predict_fn: str) -> None:
        self.raw_model = model
        self._predict_fn = predict_fn
        self._fn = getattr(model, predict_fn)

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        return self._fn(data)

    def array_scorer(self, columns: Sequence[str]) -> Callable[[Any], Any] | None:
        """A function scoring a 2-D numpy array whose columns are ``columns`` in that order,
        with the predictions a DataFrame of those columns gets; None when that cannot be
        promised (see ``_fastpath``)."""
        from ._fastpath import sklearn_array_scorer

        return sklearn_array_scorer(self.raw_model, self._predict_fn, columns)


def _load_pyfunc(path: str, model_config: dict[str, Any] | None = None) -> _SklearnWrapper:
    """The python_function loader (MLMmodel names it ``mlflow.sklearn``)."""
    model_dir = Path(path)
    if model_dir.is_file():
        model_dir = model_dir.parent
    meta = Model.load(model_dir)
    predict_fn = meta.flavors.get(PYFUNC, {}).get("predict_fn") or "predict"
    return _SklearnWrapper(_load_dir(model_dir), predict_fn)
