"""Load any model directory with a ``python_function`` flavor as a :class:`PyFuncModel`.

The flavor's ``loader_module`` says which code loads the data. MLflow's loader names map to
trackbook's own flavors (``mlflow.sklearn`` -> ``trackbook.models.sklearn``, ...), so models
saved by MLflow load without MLflow; other ``mlflow.*`` loaders are used when MLflow itself
is installed.

Loading a pickled model executes code from its files, as in MLflow: scikit-learn's
``model.pkl``, PyTorch's ``model.pth`` and a PythonModel's ``python_model.pkl`` are pickles,
and the loader module its MLmodel names and the ``code/`` it ships are imported. Only load
models you trust. The one format that loads without running the file's code is
scikit-learn's ``skops``.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import os
import platform
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from ._errors import ModelLoadError, SchemaEnforcementError, UnsupportedModelError
from .enforce import enforce_schema
from .model import PYFUNC, Model
from .uri import local_model_copy

log = logging.getLogger(__name__)

LOADERS = {
    "mlflow.sklearn": "trackbook.models.sklearn",
    "mlflow.pytorch": "trackbook.models.pytorch",
    "mlflow.onnx": "trackbook.models.onnx",
    "mlflow.keras": "trackbook.models.keras",
    "mlflow.xgboost": "trackbook.models.xgboost",
    "mlflow.lightgbm": "trackbook.models.lightgbm",
    "mlflow.transformers": "trackbook.models.transformers",
}


class PyFuncModel:
    """A loaded model: ``predict`` checks input against the signature, then calls the
    flavor's implementation."""

    def __init__(self, model_meta: Model, model_impl: Any, model_dir: Path,
                 predict_fn: str = "predict") -> None:
        self._meta = model_meta
        self._impl = model_impl
        self._dir = model_dir
        # MLflow's wrappers have one method per predict_fn; ours read predict_fn themselves.
        self._predict = getattr(model_impl, predict_fn, None) or model_impl.predict
        try:
            self._takes_params = "params" in inspect.signature(self._predict).parameters
        except (TypeError, ValueError):
            self._takes_params = False
        self._input_schema = model_meta.get_input_schema()
        self._params_schema = model_meta.get_params_schema()
        #: True when a row's prediction does not depend on the other rows of the input, so
        #: the scoring server may batch concurrent requests (flavors set it).
        self.rowwise = bool(getattr(model_impl, "rowwise", False))

    @property
    def metadata(self) -> Model:
        """The model's MLmodel manifest."""
        return self._meta

    @property
    def model_dir(self) -> Path:
        return self._dir

    @property
    def loader_module(self) -> str:
        return self._meta.flavors[PYFUNC]["loader_module"]

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        """Predict on ``data`` (a DataFrame, array, dict, list of records ...).

        The input is checked against the signature (a clear
        :class:`~trackbook.models.SchemaEnforcementError` names the bad column and type) and
        converted where that loses nothing; ``params`` are checked against the params schema.
        """
        if self._input_schema is not None:
            data = enforce_schema(data, self._input_schema)
        if self._params_schema is not None:
            params = self._params_schema.enforce(params)
        elif params:
            raise SchemaEnforcementError(
                f"this model declares no params, got {sorted(params)}; save it with a "
                "signature that has params (infer_signature(X, y, params={...}))")
        if self._takes_params:
            return self._predict(data, params=params)
        return self._predict(data)

    def predict_stream(self, data: Any, params: dict[str, Any] | None = None) -> Iterator[Any]:
        """Stream the prediction for one input (MLflow's ``predict_stream``): an iterator of
        the chunks the model yields. Only a custom ``PythonModel`` that implements
        ``predict_stream`` supports it; ``data`` is checked against the signature first and
        must be a single input (one row)."""
        stream = getattr(self._impl, "predict_stream", None)
        if stream is None or not getattr(self._impl, "streamable", False):
            raise UnsupportedModelError(
                f"this model does not support predict_stream ({self.loader_module} model); "
                "a custom PythonModel that implements predict_stream does")
        if self._input_schema is not None:
            data = enforce_schema(data, self._input_schema)
        if self._params_schema is not None:
            params = self._params_schema.enforce(params)
        if hasattr(data, "to_dict") and hasattr(data, "columns"):  # a one-row DataFrame
            data = data.to_dict(orient="records")
        if isinstance(data, list):
            if len(data) != 1:
                raise SchemaEnforcementError(
                    f"predict_stream takes a single input, got {len(data)}")
            data = data[0]
        return stream(data, params=params)

    def predict_conformed(self, data: Any) -> Any:
        """``predict`` for input that already has the signature's exact columns and
        dtypes, without checking it again (the scoring server builds such frames)."""
        params = self._params_schema.enforce(None) if self._params_schema is not None \
            else None
        if self._takes_params:
            return self._predict(data, params=params)
        return self._predict(data)

    def array_scorer(self) -> Callable[[Any], Any] | None:
        """A function that scores a 2-D numpy array holding the input schema's columns,
        in order and of the schema's type, as :meth:`predict` scores that DataFrame; None
        when the flavor cannot promise the same result (only plain scikit-learn models
        can). The scoring server uses it to skip building and checking DataFrames."""
        schema = self._input_schema
        scorer = getattr(self._impl, "array_scorer", None)
        if scorer is None or schema is None or schema.is_tensor_spec() \
                or not schema.has_input_names():
            return None
        try:
            fn = scorer([str(n) for n in schema.input_names()])
        except Exception:  # an unusual estimator: the checked path always works
            log.debug("no array scorer for %s", self._dir, exc_info=True)
            return None
        return fn if callable(fn) else None

    def unwrap_python_model(self) -> Any:
        """The ``PythonModel`` instance of a custom pyfunc model."""
        inner = getattr(self._impl, "python_model", None)
        if inner is None:
            raise UnsupportedModelError(f"{self.loader_module} models have no python_model; "
                                        "unwrap_python_model is for custom PythonModels")
        return inner

    def get_raw_model(self) -> Any:
        """The flavor's native model object (e.g. the scikit-learn estimator)."""
        return getattr(self._impl, "raw_model", self._impl)

    def __repr__(self) -> str:
        parts = [f"trackbook.pyfunc.loaded_model: {self._dir}"]
        if self._meta.run_id:
            parts.append(f"  run_id: {self._meta.run_id}")
        parts.append(f"  flavor: {self.loader_module}")
        return "\n".join(parts)


def inside(model_dir: Path, rel: str) -> Path:
    """``model_dir / rel``, refusing paths that leave the model directory."""
    target = (model_dir / rel).resolve()
    root = model_dir.resolve()
    if target != root and root not in target.parents:
        raise ModelLoadError(f"the MLmodel file names {rel!r}, which is outside the model "
                             f"directory {model_dir}; refusing to load it")
    return target


def add_code_path(model_dir: Path, conf: dict[str, Any]) -> None:
    """Put the model's ``code/`` folder first on ``sys.path`` (as MLflow does)."""
    code = conf.get("code")
    if code:
        path = str(inside(model_dir, code))
        if path not in sys.path:
            sys.path.insert(0, path)


def load_model(model_uri: str | os.PathLike[str], suppress_warnings: bool = False,
               dst_path: str | None = None,
               model_config: dict[str, Any] | None = None, *,
               skops_trusted_types: Sequence[str] | None = None) -> PyFuncModel:
    """Load a model as a :class:`PyFuncModel`.

    .. warning::
       Loading a pickled model executes code from its files: scikit-learn's ``pickle``
       and ``cloudpickle`` formats, PyTorch models and custom PythonModels are pickles,
       and the model's ``code/`` and loader module are imported. Only load models you
       trust. scikit-learn models saved in the ``skops`` format (the default, as in
       MLflow 3) load without running code from the file.

    Parameters
    ----------
    model_uri
        ``runs:/<run_id>/<path>``, a local path or ``file://`` URI, or ``models:/...``
        (once a model registry is available).
    suppress_warnings
        Do not log Python or package version mismatches.
    dst_path
        Copy the model directory here first (the copy is loaded).
    model_config
        Passed to the flavor (``context.model_config`` for custom PythonModels).
    skops_trusted_types
        For a scikit-learn model in the skops format: the types beyond skops' defaults you
        trust it to use (e.g. ``["sklearn.tree._tree.Tree"]``); see
        :func:`trackbook.sklearn.load_model`. Other flavors ignore it.
    """
    local = local_model_copy(model_uri, dst_path)
    meta = Model.load(local)
    conf = meta.flavors.get(PYFUNC)
    if conf is None:
        raise UnsupportedModelError(
            f"the model at {model_uri} has no python_function flavor (it has "
            f"{sorted(meta.flavors)}); load it with that flavor's load_model instead")
    if not suppress_warnings:
        _warn_mismatches(local, conf)
    loader_module = conf.get("loader_module", "")
    if _is_skops(meta):
        # A skops model loads without running its files' code: only through the sklearn
        # loader, and without the model's code/ on sys.path unless the caller trusts it.
        if LOADERS.get(loader_module, loader_module) != LOADERS["mlflow.sklearn"]:
            raise ModelLoadError(
                f"the model at {model_uri} is stored with skops, but its python_function "
                f"flavor names the loader {loader_module!r}, which would run other code; "
                "refusing to load it (MLflow and trackbook write 'mlflow.sklearn' there)")
        if skops_trusted_types:
            add_code_path(local, conf)
    else:
        add_code_path(local, conf)
    module = _loader(loader_module)
    data_path = inside(local, conf["data"]) if conf.get("data") else local
    extra: dict[str, Any] = {}
    if skops_trusted_types is not None and _takes(module._load_pyfunc, "skops_trusted_types"):
        extra["skops_trusted_types"] = skops_trusted_types
    try:
        if model_config is not None:
            impl = module._load_pyfunc(str(data_path), model_config, **extra)
        else:
            impl = module._load_pyfunc(str(data_path), **extra)
    except ModuleNotFoundError as exc:
        raise ModelLoadError(
            f"loading {model_uri} needs the module {exc.name!r}, which is not installed here; "
            f"install the model's requirements: pip install -r {local / 'requirements.txt'}"
        ) from exc
    return PyFuncModel(meta, impl, local, conf.get("predict_fn") or "predict")


def _is_skops(meta: Model) -> bool:
    return meta.flavors.get("sklearn", {}).get("serialization_format") == "skops"


def _takes(fn: Any, name: str) -> bool:
    try:
        return name in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def _loader(name: str) -> Any:
    target = LOADERS.get(name, name)
    if not target:
        raise ModelLoadError("the python_function flavor has no loader_module")
    try:
        return importlib.import_module(target)
    except ImportError as exc:
        if target.startswith("mlflow"):
            raise UnsupportedModelError(
                f"this model is loaded by {target}, an MLflow flavor trackbook does not "
                f"implement (trackbook reads {sorted(LOADERS)} and its own flavors); "
                "install mlflow to load it") from exc
        raise ModelLoadError(f"cannot import the model's loader module {target!r}: "
                             f"{exc}") from exc


def _warn_mismatches(model_dir: Path, conf: dict[str, Any]) -> None:
    import importlib.metadata as md

    from .env import read_requirements

    saved = str(conf.get("python_version") or "")
    here = platform.python_version()
    if saved and saved.split(".")[:2] != here.split(".")[:2]:
        log.warning("model %s was saved with Python %s; this is Python %s: loading may fail",
                    model_dir, saved, here)
    off = []
    for req in read_requirements(model_dir):
        name, sep, version = req.partition("==")
        if not sep or name.lower() in ("mlflow", "mlflow-skinny"):
            continue
        try:
            installed = md.version(name.strip())
        except md.PackageNotFoundError:
            off.append(f"{name} (not installed)")
            continue
        if installed != version.strip():
            off.append(f"{name}=={installed} (model: {version.strip()})")
    if off:
        log.warning("model %s was saved with other package versions: %s. To match them: "
                    "pip install -r %s", model_dir, ", ".join(off),
                    model_dir / "requirements.txt")
