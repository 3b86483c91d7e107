"""``tb.xgboost``: log, save and load XGBoost models and autolog XGBoost training
(MLflow's ``mlflow.xgboost``). xgboost itself is imported only when a model is saved
or loaded, or when autolog patches it.

>>> tb.xgboost.autolog()                          # params, metrics per iteration, model
>>> with tb.start_run():
...     info = tb.xgboost.log_model(model, name="model", input_example=X[:5])
>>> tb.xgboost.load_model(info.model_uri)         # the Booster or scikit-learn API model
"""

from __future__ import annotations

from .autologging.xgboost import autolog
from .models.xgboost import (
    FLAVOR_NAME,
    SUPPORTED_MODEL_FORMATS,
    get_default_conda_env,
    get_default_pip_requirements,
    load_model,
    log_model,
    save_model,
)

__all__ = [
    "FLAVOR_NAME", "SUPPORTED_MODEL_FORMATS", "autolog", "get_default_conda_env",
    "get_default_pip_requirements", "load_model", "log_model", "save_model"
]
