"""``tb.onnx``: log, save and load ONNX models (MLflow's ``mlflow.onnx``).

onnx and onnxruntime are optional: imported only when a model is saved or loaded.

>>> with tb.start_run():
...     info = tb.onnx.log_model(onnx_model, name="model")
>>> tb.pyfunc.load_model(info.model_uri).predict(X)   # runs on onnxruntime
"""

from __future__ import annotations

from .models.onnx import (
    FLAVOR_NAME,
    ONNX_EXECUTION_PROVIDERS,
    get_default_conda_env,
    get_default_pip_requirements,
    load_model,
    log_model,
    save_model,
)

__all__ = ["FLAVOR_NAME", "ONNX_EXECUTION_PROVIDERS", "get_default_conda_env",
           "get_default_pip_requirements", "load_model", "log_model", "save_model"]
