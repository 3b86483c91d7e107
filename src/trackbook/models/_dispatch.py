"""``tb.models.save_model(model, path)``: pick the flavor from the model's type."""

from __future__ import annotations

import os
from typing import Any

from ._errors import UnsupportedModelError
from .model import Model, ModelInfo


def _flavor_module(model: Any) -> Any:
    from . import pyfunc

    if isinstance(model, pyfunc.PythonModel):
        return pyfunc
    modules = {c.__module__.split(".")[0] for c in type(model).__mro__}
    # before sklearn: the XGBoost/LightGBM scikit-learn wrappers are sklearn estimators too
    if "xgboost" in modules:
        from . import xgboost

        return xgboost
    if "lightgbm" in modules:
        from . import lightgbm

        return lightgbm
    if "sklearn" in modules:
        from . import sklearn

        return sklearn
    if "transformers" in modules and any(c.__name__ == "Pipeline" for c in type(model).__mro__):
        from . import transformers

        return transformers
    if "keras" in modules:  # before torch: a torch-backend keras.Model is an nn.Module
        from . import keras

        return keras
    if "torch" in modules:
        from . import pytorch

        return pytorch
    if "onnx" in modules:
        from . import onnx

        return onnx
    raise UnsupportedModelError(
        f"cannot save a {type(model).__module__}.{type(model).__name__}: trackbook saves "
        "scikit-learn estimators, XGBoost and LightGBM models, torch.nn.Modules, "
        "onnx.ModelProtos, keras.Models, transformers Pipelines and "
        "tb.pyfunc.PythonModel subclasses. "
        "Wrap other models in a PythonModel whose predict calls them")


def save_model(model: Any, path: str | os.PathLike[str], **kwargs: Any) -> Model:
    """Save ``model`` to ``path`` with the flavor that fits its type (sklearn, xgboost,
    lightgbm, pytorch, or a custom ``tb.pyfunc.PythonModel``); ``kwargs`` go to that
    flavor's ``save_model``."""
    module = _flavor_module(model)
    if module.__name__.endswith(".pyfunc"):
        return module.save_model(path, model, **kwargs)
    return module.save_model(model, path, **kwargs)


def log_model(model: Any, name: str = "model", **kwargs: Any) -> ModelInfo:
    """Log ``model`` to the active run with the flavor that fits its type."""
    return _flavor_module(model).log_model(model, name, **kwargs)
