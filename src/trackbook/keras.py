"""``tb.keras``: log, save and load Keras 3 models (MLflow 3's ``mlflow.keras``).

keras is optional: imported only when a model is saved or loaded (``KERAS_BACKEND``
selects its backend).

>>> with tb.start_run():
...     info = tb.keras.log_model(model, name="model")
>>> tb.keras.load_model(info.model_uri)          # the keras.Model
"""

from __future__ import annotations

from .autologging.keras import autolog
from .models.keras import (
    get_default_conda_env,
    get_default_pip_requirements,
    load_model,
    log_model,
    save_model,
)

__all__ = ["autolog", "get_default_conda_env", "get_default_pip_requirements", "load_model",
           "log_model", "save_model"]
