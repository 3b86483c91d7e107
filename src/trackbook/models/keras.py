"""The Keras 3 flavor, stored the way MLflow 3's ``mlflow.keras`` stores it.

``data/model.keras`` is Keras' own ``.keras`` archive (``model.save``); ``data/
keras_module.txt`` names the module (``keras``). MLmodel's ``keras`` flavor records
``data``, ``keras_version``, ``keras_backend`` and ``save_exported_model``;
``python_function`` names ``mlflow.keras``, so MLflow loads these models and trackbook loads
MLflow's. The pyfunc model calls ``model.predict``: a DataFrame in gives a DataFrame out
(same index), arrays/lists/dicts give a numpy array. Keras' backend is whatever
``KERAS_BACKEND`` selects (torch here); keras is imported only on use.

>>> tb.keras.save_model(model, "model_dir", input_example=X[:3])
>>> tb.keras.load_model("model_dir").predict(X)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ._errors import ModelError, ModelLoadError, UnsupportedModelError
from .flavor import FlavorSpec, LoadContext
from .model import Model, ModelInfo
from .signature import ModelSignature

FLAVOR_NAME = "keras"
DATA_DIR = "data"
MODEL_NAME = "model"  # the file is data/model.keras
MODULE_FILE = "keras_module.txt"


def _keras() -> Any:
    try:
        import keras
    except ImportError:
        raise UnsupportedModelError("the keras flavor needs keras 3: pip install keras") from None
    return keras


def save_model(model: Any, path: str | os.PathLike[str], save_exported_model: bool = False,
               *, signature: ModelSignature | bool | None = None, input_example: Any = None,
               pip_requirements: list[str] | None = None,
               extra_pip_requirements: list[str] | None = None,
               save_model_kwargs: dict[str, Any] | None = None,
               metadata: dict[str, Any] | None = None) -> Model:
    """Save a Keras 3 model as a model directory at ``path``.

    Parameters
    ----------
    model
        A ``keras.Model``.
    save_exported_model
        MLflow's TensorFlow SavedModel export; needs tensorflow, which trackbook does not
        support: True raises ``UnsupportedModelError``.
    signature, input_example, pip_requirements, extra_pip_requirements, metadata
        As in :func:`trackbook.pyfunc.save_model`.
    save_model_kwargs
        Passed to ``model.save``.

    Returns
    -------
    Model
        The manifest that was written.
    """
    return _save_impl(path, model, save_exported_model=save_exported_model,
                      signature=signature, input_example=input_example,
                      pip_requirements=pip_requirements,
                      extra_pip_requirements=extra_pip_requirements,
                      save_model_kwargs=save_model_kwargs, metadata=metadata)[0]


def _save_impl(path: str | os.PathLike[str], model: Any, *, save_exported_model: bool = False,
               save_model_kwargs: dict[str, Any] | None = None, **kwargs: Any) -> Any:
    keras = _keras()
    if not isinstance(model, keras.Model):
        raise ModelError(f"model must be a keras.Model, got {type(model).__name__}")
    if save_exported_model:
        raise UnsupportedModelError(
            "save_exported_model=True (a TensorFlow SavedModel export) is not supported by "
            "trackbook; save_exported_model=False stores the .keras file")

    def write(dest: Path, cap: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        from ..store.durable import write_file

        data = dest / DATA_DIR
        data.mkdir()
        write_file(data / MODULE_FILE, keras.__name__.encode(), what="the keras module name")
        model.save(str(data / f"{MODEL_NAME}.keras"), **(save_model_kwargs or {}))
        return {}, {"data": DATA_DIR, "keras_version": keras.__version__,
                    "keras_backend": keras.backend.backend(), "save_exported_model": False}

    def predict(example: Any) -> Any:
        return _KerasWrapper(model).predict(example)

    return SPEC.save(path, None, write, predict=predict, **kwargs)


def log_model(model: Any, name: str | None = None, *, artifact_path: str | None = None,
              registered_model_name: str | None = None, **kwargs: Any) -> ModelInfo:
    """Log a Keras model to the active run (starting one if needed); takes
    :func:`save_model`'s arguments and returns a ``ModelInfo`` (``runs:/<run_id>/<name>``)."""
    return SPEC.log(_save_impl, model, name, artifact_path=artifact_path,
                    registered_model_name=registered_model_name, **kwargs)


def _read(path: Path, conf: dict[str, Any], meta: Model | None, *,
          custom_objects: dict[str, Any] | None = None,
          load_model_kwargs: dict[str, Any] | None = None) -> Any:
    keras = _keras()
    if conf.get("save_exported_model"):
        raise UnsupportedModelError("this Keras model was saved with save_exported_model=True "
                                    "(a TensorFlow SavedModel), which trackbook cannot load")
    file = (path / MODEL_NAME if path.is_dir() else path).with_suffix(".keras")
    if not file.is_file():
        raise ModelLoadError(f"the model file {file} is missing")
    return keras.saving.load_model(str(file), custom_objects=custom_objects,
                                   **(load_model_kwargs or {}))


def load_model(model_uri: str | os.PathLike[str], dst_path: str | None = None,
               custom_objects: dict[str, Any] | None = None,
               load_model_kwargs: dict[str, Any] | None = None) -> Any:
    """Load the ``keras.Model`` from ``runs:/...``, a local path or ``models:/...``;
    ``custom_objects`` and ``load_model_kwargs`` go to ``keras.saving.load_model``."""
    return SPEC.load(model_uri, dst_path, custom_objects=custom_objects,
                     load_model_kwargs=load_model_kwargs)


class _KerasWrapper:
    def __init__(self, model: Any) -> None:
        self.raw_model = model

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        import numpy as np
        import pandas as pd

        keras = _keras()
        if isinstance(data, pd.DataFrame):
            return pd.DataFrame(self.raw_model.predict(data.to_numpy(), verbose=0),
                                index=data.index)
        if not isinstance(data, (np.ndarray, list, tuple, dict)):
            raise ModelError(f"Keras models take a DataFrame, numpy array, list, tuple or "
                             f"dict, got {type(data).__name__}")
        return keras.ops.convert_to_numpy(self.raw_model.predict(data, verbose=0))


def _wrap(model: Any, ctx: LoadContext) -> _KerasWrapper:
    return _KerasWrapper(model)


SPEC = FlavorSpec(FLAVOR_NAME, loader_module="mlflow.keras", modules=("keras",),
                  data_key="data", default_data=DATA_DIR, read=_read, wrap=_wrap,
                  code_key=False)  # MLflow's keras flavor takes no code_paths
get_default_pip_requirements = SPEC.get_default_pip_requirements
get_default_conda_env = SPEC.get_default_conda_env


def _load_pyfunc(path: str, model_config: dict[str, Any] | None = None) -> _KerasWrapper:
    """The python_function loader (MLmodel names it ``mlflow.keras``)."""
    return SPEC.load_pyfunc(path, model_config)
