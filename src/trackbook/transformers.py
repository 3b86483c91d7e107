"""``tb.transformers``: log, save and load Hugging Face transformers pipelines (MLflow's
``mlflow.transformers``).

transformers and torch are optional: imported only when a model is saved or loaded.

>>> pipe = transformers.pipeline("feature-extraction", model="path/to/local/model")
>>> with tb.start_run():
...     info = tb.transformers.log_model(pipe, name="model")
>>> tb.transformers.load_model(info.model_uri)          # the pipeline again
>>> tb.pyfunc.load_model(info.model_uri).predict(["some text"])
"""

from __future__ import annotations

from .models.transformers import (
    FLAVOR_NAME,
    get_default_conda_env,
    get_default_pip_requirements,
    load_model,
    log_model,
    save_model,
)

__all__ = ["FLAVOR_NAME", "get_default_conda_env", "get_default_pip_requirements",
           "load_model", "log_model", "save_model"]
