"""``tb.lightgbm``: log, save and load LightGBM models and autolog LightGBM training
(MLflow's ``mlflow.lightgbm``). lightgbm itself is imported only when a model is saved
or loaded, or when autolog patches it.

>>> tb.lightgbm.autolog()                          # params, metrics per iteration, model
>>> with tb.start_run():
...     info = tb.lightgbm.log_model(model, name="model", input_example=X[:5])
>>> tb.lightgbm.load_model(info.model_uri)         # the Booster or scikit-learn API model
"""

from __future__ import annotations

from .autologging.lightgbm import autolog
from .models.lightgbm import (
    FLAVOR_NAME,
    LIGHTGBM_SKOPS_TRUSTED_TYPES,
    SUPPORTED_SERIALIZATION_FORMATS,
    get_default_conda_env,
    get_default_pip_requirements,
    load_model,
    log_model,
    save_model,
)

__all__ = [
    "FLAVOR_NAME", "LIGHTGBM_SKOPS_TRUSTED_TYPES", "SUPPORTED_SERIALIZATION_FORMATS",
    "autolog", "get_default_conda_env", "get_default_pip_requirements", "load_model",
    "log_model", "save_model"
]
