"""``tb.sklearn``: log, save and load scikit-learn models (MLflow's ``mlflow.sklearn``).

>>> with tb.start_run():
...     info = tb.sklearn.log_model(model, name="model", input_example=X[:5])
>>> tb.sklearn.load_model(info.model_uri)        # the estimator itself
"""

from __future__ import annotations

from .autologging.sklearn import autolog
from .models.sklearn import (
    SERIALIZATION_FORMAT_CLOUDPICKLE,
    SERIALIZATION_FORMAT_PICKLE,
    SUPPORTED_SERIALIZATION_FORMATS,
    get_default_conda_env,
    get_default_pip_requirements,
    load_model,
    log_model,
    save_model,
)

__all__ = ["SERIALIZATION_FORMAT_CLOUDPICKLE", "SERIALIZATION_FORMAT_PICKLE",
           "SUPPORTED_SERIALIZATION_FORMATS", "autolog", "get_default_conda_env",
           "get_default_pip_requirements", "load_model", "log_model", "save_model"]
