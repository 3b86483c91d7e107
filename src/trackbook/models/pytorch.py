"""The PyTorch flavor (CPU), stored the way MLflow's ``mlflow.pytorch`` stores it.

``data/model.pth`` is the whole module saved with ``torch.save`` (cloudpickle-compatible
pickling, so a class defined in a notebook is packaged under ``code/`` as source);
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
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from . import _code
from ._errors import ModelError, ModelLoadError, UnsupportedModelError
from .flavor import FlavorSpec
from .model import Model, ModelInfo
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


def save_model(pytorch_model: Any, path: str | os.PathLike[str], *,
               code_paths: Iterable[str | os.PathLike[str]] | None = None,
               signature: ModelSignature | bool | None = None, input_example: Any = None,
               pip_requirements: list[str] | None = None,
               extra_pip_requirements: list[str] | None = None,
               metadata: dict[str, Any] | None = None) -> Model:
    """Save a ``torch.nn.Module`` as a model directory at ``path``.

    Parameters
    ----------
    pytorch_model
        The module (saved whole, in eval mode at load).
    code_paths, signature, input_example, pip_requirements, extra_pip_requirements, metadata
        As in :func:`trackbook.pyfunc.save_model`. With an input example (a numpy array or
        DataFrame) the signature is inferred from it and the module's output on it.

    Returns
    -------
    Model
        The manifest that was written.
    """
    return _save_impl(path, pytorch_model, code_paths=code_paths, signature=signature,
                      input_example=input_example, pip_requirements=pip_requirements,
                      extra_pip_requirements=extra_pip_requirements, metadata=metadata)[0]


def _save_impl(path: str | os.PathLike[str], pytorch_model: Any, **kwargs: Any) -> Any:
    torch = _torch()
    if not isinstance(pytorch_model, torch.nn.Module):
        raise ModelError(f"pytorch_model must be a torch.nn.Module, got "
                         f"{type(pytorch_model).__name__}")

    def write(dest: Path, cap: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        data = dest / DATA_DIR
        data.mkdir()
        redirects = cap.main_code.redirects if cap.main_code else {}
        (data / PICKLE_INFO_FILE).write_text(PICKLE_MODULE_NAME)
        torch.save(pytorch_model, data / MODEL_FILE, pickle_module=_pickle_module(redirects))
        pyfunc_conf = {"data": DATA_DIR, "pickle_module_name": PICKLE_MODULE_NAME}
        return pyfunc_conf, {"model_data": DATA_DIR, "pytorch_version": str(torch.__version__)}

    def predict(example: Any) -> Any:
        return _TorchWrapper(pytorch_model).predict(example)

    return SPEC.save(path, pytorch_model, write, serialization_format="cloudpickle",
                     predict=predict, **kwargs)


def _pickle_module(redirects: dict[int, tuple[str, str]]) -> Any:
    """A ``pickle_module`` for ``torch.save`` whose Pickler writes notebook classes as
    references to the packaged code (see ``_code.dump``)."""
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
        model = torch.load(data_dir / MODEL_FILE, map_location="cpu", weights_only=False,
                           pickle_module=pickle)
    elif (data_dir / EXPORTED_FILE).is_file():
        model = torch.export.load(str(data_dir / EXPORTED_FILE)).module()
    else:
        raise ModelLoadError(f"{data_dir} has neither {MODEL_FILE} nor {EXPORTED_FILE}")
    if hasattr(model, "eval"):
        model.eval()
    return model


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
