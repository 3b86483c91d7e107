"""The PyTorch flavor (CPU), stored the way MLflow's ``mlflow.pytorch`` stores it.

``data/model.pth`` is the whole module saved with ``torch.save`` (cloudpickle-compatible
pickling; a class defined in a notebook travels as source inside the pickle);
``data/pickle_module_info.txt`` names the pickle module as MLflow expects. MLmodel's
``pytorch`` flavor records ``model_data`` and ``pytorch_version``; ``python_function`` names
``mlflow.pytorch`` as loader, so MLflow loads these models and trackbook loads MLflow's
(including ``model.pt2`` files written by ``torch.export``). torch is an optional
dependency: it is imported only when a PyTorch model is saved or loaded.

Loading a pickled model executes code from its files: only load PyTorch models you trust.

>>> with tb.start_run():
...     info = tb.pytorch.log_model(net, name="model", input_example=X[:5])
>>> tb.pyfunc.load_model(info.model_uri).predict(X_new)      # numpy in, numpy out
"""

from __future__ import annotations

import os
import pickle
import types
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from . import _code
from ._errors import ModelError, ModelLoadError, UnsupportedModelError
from .flavor import FlavorSpec
from .model import MODEL_CONFIG, Model, ModelInfo
from .signature import ModelSignature

FLAVOR_NAME = "pytorch"
DATA_DIR = "data"
MODEL_FILE = "model.pth"
EXPORTED_FILE = "model.pt2"
PICKLE_INFO_FILE = "pickle_module_info.txt"
#: What MLflow imports to unpickle model.pth: cloudpickle's functions with pickle.Unpickler.
PICKLE_MODULE_NAME = "mlflow.pytorch.pickle_module"


def _torch() -> Any:
    try:
        import torch
    except ImportError:
        raise UnsupportedModelError("the pytorch flavor needs torch: pip install torch") from None
    return torch


SERIALIZATION_FORMAT_PICKLE = "pickle"
SERIALIZATION_FORMAT_PT2 = "pt2"
SUPPORTED_SERIALIZATION_FORMATS = [SERIALIZATION_FORMAT_PICKLE, SERIALIZATION_FORMAT_PT2]


def save_model(pytorch_model: Any, path: str | os.PathLike[str], *,
               code_paths: Iterable[str | os.PathLike[str]] | None = None,
               signature: ModelSignature | bool | None = None, input_example: Any = None,
               pip_requirements: list[str] | None = None,
               extra_pip_requirements: list[str] | None = None,
               metadata: dict[str, Any] | None = None, pickle_module: Any = None,
               export_model: bool = False, serialization_format: str | None = None) -> Model:
    """Save a ``torch.nn.Module`` as a model directory at ``path``.

    Parameters
    ----------
    pytorch_model
        The module (saved whole, in eval mode at load), or a TorchScript module
        (``torch.jit.script``/``trace``), saved with ``torch.jit.save`` as MLflow does.
    code_paths, signature, input_example, pip_requirements, extra_pip_requirements, metadata
        As in :func:`trackbook.pyfunc.save_model`. With an input example (a numpy array or
        DataFrame) the signature is inferred from it and the module's output on it.
    pickle_module
        The module ``torch.save`` pickles with (``pickle`` format only); its name is
        written to ``data/pickle_module_info.txt`` and imported again at load. Default:
        cloudpickle-compatible pickling that packages notebook classes as source.
    export_model
        Deprecated in MLflow: the same as ``serialization_format="pt2"``.
    serialization_format
        ``"pickle"`` (``data/model.pth``) or ``"pt2"`` (``data/model.pt2``, a
        ``torch.export`` program: loading it runs no pickled code; needs an input example
        of numpy arrays or tensors to trace). The default, None, is ``"pickle"`` -- MLflow
        3.17 defaults to ``"pt2"`` outside Databricks and then requires the example.

    Returns
    -------
    Model
        The manifest that was written.
    """
    return _save_impl(path, pytorch_model, code_paths=code_paths, signature=signature,
                      input_example=input_example, pip_requirements=pip_requirements,
                      extra_pip_requirements=extra_pip_requirements, metadata=metadata,
                      pickle_module=pickle_module, export_model=export_model,
                      serialization_format=serialization_format)[0]


def _format(export_model: bool, serialization_format: str | None) -> str:
    if serialization_format is not None \
            and serialization_format not in SUPPORTED_SERIALIZATION_FORMATS:
        raise UnsupportedModelError(f"serialization_format must be one of "
                                    f"{SUPPORTED_SERIALIZATION_FORMATS}, got "
                                    f"{serialization_format!r}")
    if export_model:
        if serialization_format == SERIALIZATION_FORMAT_PICKLE:
            raise UnsupportedModelError(
                "export_model=True and serialization_format='pickle' contradict each other; "
                "pass only serialization_format ('pickle' or 'pt2')")
        warnings.warn("export_model is deprecated (as in MLflow); pass "
                      "serialization_format='pt2' instead", FutureWarning, stacklevel=4)
        return SERIALIZATION_FORMAT_PT2
    return serialization_format or SERIALIZATION_FORMAT_PICKLE


def _example_tensors(torch: Any, input_example: Any) -> tuple[Any, ...]:
    """The positional inputs ``torch.export`` traces with, from the input example."""
    import numpy as np

    items = input_example if isinstance(input_example, (tuple, list)) else (input_example,)
    if input_example is None or not items \
            or not all(isinstance(v, (np.ndarray, torch.Tensor)) for v in items):
        raise ModelError(
            "serialization_format='pt2' needs input_example: a numpy array or torch tensor "
            "(or a tuple of them), since torch.export traces forward() with it; got "
            f"{type(input_example).__name__}")
    return tuple(torch.from_numpy(v) if isinstance(v, np.ndarray) else v for v in items)


def _save_impl(path: str | os.PathLike[str], pytorch_model: Any, *,
               pickle_module: Any = None, export_model: bool = False,
               serialization_format: str | None = None, **kwargs: Any) -> Any:
    torch = _torch()
    if not isinstance(pytorch_model, torch.nn.Module):
        raise ModelError(f"pytorch_model must be a torch.nn.Module, got "
                         f"{type(pytorch_model).__name__}")
    fmt = _format(export_model, serialization_format)
    scripted = isinstance(pytorch_model, torch.jit.ScriptModule)
    exported = None
    if fmt == SERIALIZATION_FORMAT_PT2:
        if scripted:
            raise UnsupportedModelError(
                "serialization_format='pt2' cannot store a torch.jit.ScriptModule; save it "
                "with serialization_format='pickle' (written with torch.jit.save)")
        if pickle_module is not None:
            raise UnsupportedModelError("pickle_module applies to serialization_format="
                                        "'pickle' only, not 'pt2'")
        tensors = _example_tensors(torch, kwargs.get("input_example"))
        auto = torch.export.Dim.AUTO
        # The first axis is the batch: dynamic, so the program scores any number of rows.
        shapes = [{0: auto} if t.dim() else None for t in tensors]
        was_training = pytorch_model.training
        pytorch_model.eval()
        try:
            exported = torch.export.export(pytorch_model, tensors, dynamic_shapes=shapes)
        finally:
            pytorch_model.train(was_training)
        example = kwargs.get("input_example")
        if isinstance(example, torch.Tensor):
            kwargs["input_example"] = example.detach().cpu().numpy()
    module_name = getattr(pickle_module, "__name__", None) or PICKLE_MODULE_NAME

    def write(dest: Path, cap: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        from ..store.durable import write_file

        data = dest / DATA_DIR
        data.mkdir()
        if exported is not None:
            torch.export.save(exported, str(data / EXPORTED_FILE))
        else:
            write_file(data / PICKLE_INFO_FILE, module_name.encode(),
                       what="the model's pickle module name")
            if scripted:
                with warnings.catch_warnings():  # TorchScript is deprecated, still MLflow's
                    warnings.simplefilter("ignore", DeprecationWarning)
                    torch.jit.save(pytorch_model, str(data / MODEL_FILE))
            elif pickle_module is not None:
                torch.save(pytorch_model, data / MODEL_FILE, pickle_module=pickle_module)
            else:
                redirects = cap.main_code.redirects if cap.main_code else {}
                torch.save(pytorch_model, data / MODEL_FILE,
                           pickle_module=_pickle_module(redirects))
        # MLflow's pyfunc conf: the pickle module and model_config's device (None: CPU)
        pyfunc_conf = {"data": DATA_DIR, "pickle_module_name": module_name,
                       MODEL_CONFIG: {"device": None}}
        return pyfunc_conf, {"model_data": DATA_DIR, "pytorch_version": str(torch.__version__)}

    def predict(example: Any) -> Any:
        return _TorchWrapper(pytorch_model).predict(example)

    if exported is not None or scripted:
        # a graph (TorchScript or torch.export) needs torch only, no Python classes: there
        # is no code to capture (and a ScriptModule's C++ internals are not modules)
        return SPEC.save(path, None, write, predict=predict, **kwargs)
    return SPEC.save(path, pytorch_model, write, serialization_format="cloudpickle",
                     predict=predict, **kwargs)


def _pickle_module(redirects: dict[int, tuple[str, str, str]]) -> Any:
    """A ``pickle_module`` for ``torch.save`` whose Pickler writes notebook classes with
    their packaged source (see ``_code.dump``)."""
    import io

    class Pickler:  # torch calls Pickler(file, protocol=...), sets persistent_id, dump(obj)
        def __init__(self, file: Any, protocol: int | None = None) -> None:
            self._file = file
            self._protocol = protocol
            self.persistent_id: Any = None

        def dump(self, obj: Any) -> None:
            buf = io.BytesIO()
            _code.dump(obj, buf, "cloudpickle", redirects, persistent_id=self.persistent_id,
                       protocol=self._protocol)
            self._file.write(buf.getvalue())

    return types.SimpleNamespace(__name__=PICKLE_MODULE_NAME, Pickler=Pickler,
                                 Unpickler=pickle.Unpickler)


def log_model(pytorch_model: Any, name: str | None = None, *,
              artifact_path: str | None = None, registered_model_name: str | None = None,
              **kwargs: Any) -> ModelInfo:
    """Log a ``torch.nn.Module`` to the active run (starting one if needed); takes
    :func:`save_model`'s arguments and returns a ``ModelInfo`` (``runs:/<run_id>/<name>``)."""
    return SPEC.log(_save_impl, pytorch_model, name, artifact_path=artifact_path,
                    registered_model_name=registered_model_name, **kwargs)


def _load_dir(data_dir: Path) -> Any:
    torch = _torch()
    if (data_dir / MODEL_FILE).is_file():
        model = _load_pth(torch, data_dir)
    elif (data_dir / EXPORTED_FILE).is_file():
        # an exported program is traced in eval mode already and refuses .eval()
        return torch.export.load(str(data_dir / EXPORTED_FILE)).module()
    else:
        raise ModelLoadError(f"{data_dir} has neither {MODEL_FILE} nor {EXPORTED_FILE}")
    if hasattr(model, "eval"):
        model.eval()
    return model


def _load_pth(torch: Any, data_dir: Path) -> Any:
    import zipfile

    path = data_dir / MODEL_FILE
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as z:
            if any(n.endswith("/constants.pkl") or n == "constants.pkl" for n in z.namelist()):
                with warnings.catch_warnings():  # TorchScript is deprecated, still MLflow's
                    warnings.simplefilter("ignore", DeprecationWarning)
                    return torch.jit.load(str(path), map_location="cpu")
    module = pickle
    info = data_dir / PICKLE_INFO_FILE
    name = info.read_text().strip() if info.is_file() else PICKLE_MODULE_NAME
    if name not in (PICKLE_MODULE_NAME, "pickle", "cloudpickle", "pickle_module"):
        import importlib

        try:  # a pickle_module the model was saved with: imported, as MLflow does
            module = importlib.import_module(name)
        except ImportError as exc:
            raise ModelLoadError(f"the model was pickled with the module {name!r} "
                                 f"({info}), which cannot be imported here: {exc}") from exc
    return torch.load(path, map_location="cpu", weights_only=False, pickle_module=module)


def load_model(model_uri: str | os.PathLike[str], dst_path: str | None = None) -> Any:
    """Load the ``torch.nn.Module`` itself (on CPU, in eval mode).

    .. warning::
       ``model.pth`` is a pickle (``torch.load(weights_only=False)``, as MLflow loads it):
       loading a pickled model executes code from its files, and its ``code/`` is
       imported. Only load models you trust.
    """
    return SPEC.load(model_uri, dst_path)


class _TorchWrapper:
    """pyfunc ``predict``: DataFrame -> float32 tensor -> module -> DataFrame (as MLflow);
    arrays -> arrays; dicts of arrays -> keyword tensors."""

    rowwise = True  # eval mode: each row's output depends on that row only

    def __init__(self, model: Any) -> None:
        self.raw_model = model

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        import numpy as np
        import pandas as pd

        torch = _torch()
        frame = isinstance(data, pd.DataFrame)
        with torch.no_grad():
            if isinstance(data, dict):
                out = self.raw_model(**{k: torch.as_tensor(np.asarray(v))
                                        for k, v in data.items()})
            else:
                array = data.to_numpy(dtype=np.float32) if frame else np.asarray(data)
                out = self.raw_model(torch.from_numpy(np.ascontiguousarray(array)))
        result = out.detach().cpu().numpy() if hasattr(out, "detach") else np.asarray(out)
        return pd.DataFrame(result if result.ndim > 1 else {0: result}) if frame else result


SPEC = FlavorSpec(FLAVOR_NAME, loader_module="mlflow.pytorch", modules=("torch",),
                  data_key="model_data", default_data=DATA_DIR,
                  read=lambda path, conf, meta: _load_dir(path),
                  wrap=lambda model, ctx: _TorchWrapper(model), extra_pip=("cloudpickle",))
get_default_pip_requirements = SPEC.get_default_pip_requirements
get_default_conda_env = SPEC.get_default_conda_env


def _load_pyfunc(path: str, model_config: dict[str, Any] | None = None) -> _TorchWrapper:
    """The python_function loader (MLmodel names it ``mlflow.pytorch``); ``path`` is the
    model's ``data`` folder."""
    return SPEC.load_pyfunc(path, model_config)
