"""The ONNX flavor, stored the way MLflow's ``mlflow.onnx`` stores it.

``model.onnx`` is the ``onnx.ModelProto`` (with ``save_as_external_data=True``, MLflow's
default, large tensors go to a side file next to it, as ``onnx.save_model`` lays them out).
MLmodel's ``onnx`` flavor records ``onnx_version``, ``data``, ``providers`` (onnxruntime
execution providers) and ``onnx_session_options``; ``python_function`` names ``mlflow.onnx``,
so MLflow loads these models and trackbook loads MLflow's. ``load_model`` returns the
``ModelProto``; the pyfunc model runs it with onnxruntime: a DataFrame feeds the single
input (or one column per input) and returns a DataFrame of outputs, an array feeds the
single input and a dict is a feed dict -- both return ``{output name: array}``. float64
inputs to float tensors are cast to float32, as MLflow does. An ONNX file holds no pickle:
loading runs no code from the model's files. onnx and onnxruntime are imported on use.

>>> onx = skl2onnx.to_onnx(model, X[:1].astype("float32"))
>>> tb.onnx.save_model(onx, "model_dir", input_example=X[:3].astype("float32"))
>>> tb.pyfunc.load_model("model_dir").predict(X.astype("float32"))
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ._errors import ModelError, ModelLoadError, UnsupportedModelError
from .flavor import FlavorSpec
from .model import Model, ModelInfo
from .signature import ModelSignature

log = logging.getLogger(__name__)

FLAVOR_NAME = "onnx"
MODEL_FILE = "model.onnx"
ONNX_EXECUTION_PROVIDERS = ["CUDAExecutionProvider", "CPUExecutionProvider"]
_EXECUTION_MODES = ("PARALLEL", "SEQUENTIAL")


def _onnx() -> Any:
    try:
        import onnx
    except ImportError:
        raise UnsupportedModelError("the onnx flavor needs onnx: pip install onnx "
                                    "onnxruntime") from None
    return onnx


def _check_session_options(options: Any) -> None:
    """MLflow's checks: a dict of ``onnxruntime.SessionOptions`` attributes, plus
    ``extra_session_config`` (a dict) and ``execution_mode`` parallel/sequential."""
    if options is None:
        return
    import onnxruntime as ort

    if not isinstance(options, dict):
        raise UnsupportedModelError(f"onnx_session_options must be a dict, got "
                                    f"{type(options).__name__}")
    for key, value in options.items():
        if key == "extra_session_config":
            if not isinstance(value, dict):
                raise UnsupportedModelError(f"onnx_session_options['extra_session_config'] "
                                            f"must be a dict, got {type(value).__name__}")
        elif not hasattr(ort.SessionOptions, key):
            raise UnsupportedModelError(f"onnx_session_options key {key!r} is not an "
                                        "onnxruntime.SessionOptions attribute")
        elif key == "execution_mode" and str(value).upper() not in _EXECUTION_MODES:
            raise UnsupportedModelError(f"onnx_session_options['execution_mode'] must be "
                                        f"'parallel' or 'sequential', got {value!r}")


def save_model(onnx_model: Any, path: str | os.PathLike[str], *,
               code_paths: Iterable[str | os.PathLike[str]] | None = None,
               signature: ModelSignature | bool | None = None, input_example: Any = None,
               pip_requirements: list[str] | None = None,
               extra_pip_requirements: list[str] | None = None,
               onnx_execution_providers: list[Any] | None = None,
               onnx_session_options: dict[str, Any] | None = None,
               metadata: dict[str, Any] | None = None,
               save_as_external_data: bool = True) -> Model:
    """Save an ``onnx.ModelProto`` as a model directory at ``path``.

    Parameters
    ----------
    onnx_model
        The ONNX model (e.g. from ``skl2onnx.to_onnx`` or ``torch.onnx.export``).
    code_paths, signature, input_example, pip_requirements, extra_pip_requirements, metadata
        As in :func:`trackbook.pyfunc.save_model`; with an input example and no signature,
        the signature is inferred from the example and the model's output on it.
    onnx_execution_providers
        onnxruntime providers (names or ``(name, options)`` pairs) the pyfunc model asks
        for, in order; default ``["CUDAExecutionProvider", "CPUExecutionProvider"]``.
        Providers this onnxruntime lacks are skipped with a logged warning.
    onnx_session_options
        ``onnxruntime.SessionOptions`` settings applied at load (MLflow's keys:
        ``inter_op_num_threads``, ``intra_op_num_threads``, ``execution_mode``,
        ``graph_optimization_level``, ``extra_session_config``).
    save_as_external_data
        Store large tensors in a side file next to ``model.onnx`` (``onnx.save_model``'s
        option; MLflow's default True). The given model object is not modified.

    Returns
    -------
    Model
        The manifest that was written.
    """
    return _save_impl(path, onnx_model, code_paths=code_paths, signature=signature,
                      input_example=input_example, pip_requirements=pip_requirements,
                      extra_pip_requirements=extra_pip_requirements,
                      onnx_execution_providers=onnx_execution_providers,
                      onnx_session_options=onnx_session_options, metadata=metadata,
                      save_as_external_data=save_as_external_data)[0]


def _save_impl(path: str | os.PathLike[str], onnx_model: Any, *,
               onnx_execution_providers: list[Any] | None = None,
               onnx_session_options: dict[str, Any] | None = None,
               save_as_external_data: bool = True, **kwargs: Any) -> Any:
    onnx = _onnx()
    if not isinstance(onnx_model, onnx.ModelProto):
        raise ModelError(f"onnx_model must be an onnx.ModelProto, got "
                         f"{type(onnx_model).__name__}")
    _check_session_options(onnx_session_options)
    providers = list(onnx_execution_providers) if onnx_execution_providers is not None \
        else list(ONNX_EXECUTION_PROVIDERS)
    providers = [list(p) if isinstance(p, tuple) else p for p in providers]

    def write(dest: Path, cap: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        copy = onnx.ModelProto()
        copy.CopyFrom(onnx_model)  # external-data conversion rewrites the proto it saves
        onnx.save_model(copy, str(dest / MODEL_FILE),
                        save_as_external_data=save_as_external_data)
        return {"data": MODEL_FILE}, {"onnx_version": onnx.__version__, "data": MODEL_FILE,
                                      "providers": providers,
                                      "onnx_session_options": onnx_session_options}

    def predict(example: Any) -> Any:
        import onnxruntime as ort

        session = ort.InferenceSession(onnx_model.SerializeToString(),
                                       providers=["CPUExecutionProvider"])
        return _OnnxWrapper(session).predict(example)

    return SPEC.save(path, None, write, predict=predict, **kwargs)


def log_model(onnx_model: Any, name: str | None = None, *, artifact_path: str | None = None,
              registered_model_name: str | None = None, **kwargs: Any) -> ModelInfo:
    """Log an ONNX model to the active run (starting one if needed); takes
    :func:`save_model`'s arguments and returns a ``ModelInfo`` (``runs:/<run_id>/<name>``)."""
    return SPEC.log(_save_impl, onnx_model, name, artifact_path=artifact_path,
                    registered_model_name=registered_model_name, **kwargs)


def _read(path: Path, conf: dict[str, Any], meta: Model | None) -> Any:
    onnx = _onnx()
    if not path.is_file():
        raise ModelLoadError(f"the model file {path} is missing")
    return onnx.load(str(path))  # external data is read from next to the file


def load_model(model_uri: str | os.PathLike[str], dst_path: str | None = None) -> Any:
    """Load the ``onnx.ModelProto`` from ``runs:/...``, a local path or ``models:/...``."""
    return SPEC.load(model_uri, dst_path)


class _OnnxWrapper:
    """pyfunc ``predict`` over an onnxruntime session (MLflow's input/output rules)."""

    def __init__(self, session: Any) -> None:
        self.rt = session
        self.raw_model = session
        self.inputs = [(i.name, i.type) for i in session.get_inputs()]
        self.output_names = [o.name for o in session.get_outputs()]

    def _feeds(self, data: Any) -> dict[str, Any]:
        import numpy as np
        import pandas as pd

        if isinstance(data, dict):
            feeds = {k: np.asarray(v) for k, v in data.items()}
        elif isinstance(data, np.ndarray):
            if len(self.inputs) != 1:
                raise ModelError(f"a numpy array feeds a model with one input; this one has "
                                 f"{[n for n, _ in self.inputs]}: pass a dict or DataFrame")
            feeds = {self.inputs[0][0]: data}
        elif isinstance(data, pd.DataFrame):
            if len(self.inputs) > 1:
                feeds = {name: data[name].to_numpy() for name, _ in self.inputs}
            else:
                feeds = {self.inputs[0][0]: data.to_numpy()}
        else:
            raise ModelError(f"ONNX models take a DataFrame, numpy array or dict of arrays, "
                             f"got {type(data).__name__}")
        for name, kind in self.inputs:
            feed = feeds.get(name)
            if kind == "tensor(float)" and feed is not None and feed.dtype == np.float64:
                feeds[name] = feed.astype(np.float32)
        return feeds

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        import numpy as np
        import pandas as pd

        out = self.rt.run(self.output_names, self._feeds(data))
        if isinstance(data, pd.DataFrame):
            return pd.DataFrame({n: np.asarray(o).reshape(-1)
                                 for n, o in zip(self.output_names, out, strict=True)})
        return dict(zip(self.output_names, out, strict=True))


def _session(path: Path, conf: dict[str, Any]) -> Any:
    import onnxruntime as ort

    providers = conf.get("providers") or ONNX_EXECUTION_PROVIDERS
    if isinstance(providers, str):
        providers = [providers]
    providers = [tuple(p) if isinstance(p, list) else p for p in providers]
    options = ort.SessionOptions()
    for key, value in (conf.get("onnx_session_options") or {}).items():
        if key == "extra_session_config":
            for k, v in value.items():
                options.add_session_config_entry(k, v)
        elif key == "execution_mode":
            options.execution_mode = (ort.ExecutionMode.ORT_PARALLEL
                                      if str(value).upper() == "PARALLEL"
                                      else ort.ExecutionMode.ORT_SEQUENTIAL)
        elif key == "graph_optimization_level":
            options.graph_optimization_level = ort.GraphOptimizationLevel(value)
        else:
            setattr(options, key, value)
    available = set(ort.get_available_providers())

    def name(p: Any) -> str:
        return p[0] if isinstance(p, tuple) else p

    usable = [p for p in providers if name(p) in available]
    missing = [name(p) for p in providers if name(p) not in available]
    if missing:
        log.info("ONNX model asks for execution providers %s, which this onnxruntime lacks; "
                 "using %s", missing, [name(p) for p in usable] or ["CPUExecutionProvider"])
    return ort.InferenceSession(str(path), sess_options=options,
                                providers=usable or ["CPUExecutionProvider"])


def _read_session(path: Path, conf: dict[str, Any], meta: Model | None) -> Any:
    if not path.is_file():
        raise ModelLoadError(f"the model file {path} is missing")
    return _session(path, conf)


SPEC = FlavorSpec(FLAVOR_NAME, loader_module="mlflow.onnx", modules=("onnx", "onnxruntime"),
                  data_key="data", default_data=MODEL_FILE, read=_read,
                  wrap=lambda model, ctx: model)
_PYFUNC_SPEC = FlavorSpec(FLAVOR_NAME, loader_module="mlflow.onnx", data_key="data",
                          default_data=MODEL_FILE, read=_read_session,
                          wrap=lambda session, ctx: _OnnxWrapper(session))
get_default_pip_requirements = SPEC.get_default_pip_requirements
get_default_conda_env = SPEC.get_default_conda_env


def _load_pyfunc(path: str, model_config: dict[str, Any] | None = None) -> _OnnxWrapper:
    """The python_function loader (MLmodel names it ``mlflow.onnx``); ``path`` is the
    ``model.onnx`` file."""
    return _PYFUNC_SPEC.load_pyfunc(path, model_config)


__all__ = ["FLAVOR_NAME", "ONNX_EXECUTION_PROVIDERS", "get_default_conda_env",
           "get_default_pip_requirements", "load_model", "log_model", "save_model"]
