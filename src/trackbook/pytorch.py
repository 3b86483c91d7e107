"""``tb.pytorch``: log, save and load PyTorch models (MLflow's ``mlflow.pytorch``).

torch is optional: this module imports it only when a model is saved or loaded.

>>> with tb.start_run():
...     info = tb.pytorch.log_model(net, name="model", input_example=X[:5])
>>> tb.pytorch.load_model(info.model_uri)        # the nn.Module, on CPU, in eval mode
"""

from __future__ import annotations

from .autologging.pytorch import autolog
from .models.pytorch import (
    SERIALIZATION_FORMAT_PICKLE,
    SERIALIZATION_FORMAT_PT2,
    SUPPORTED_SERIALIZATION_FORMATS,
    get_default_conda_env,
    get_default_pip_requirements,
    load_model,
    log_model,
    save_model,
)

__all__ = ["SERIALIZATION_FORMAT_PICKLE", "SERIALIZATION_FORMAT_PT2",
           "SUPPORTED_SERIALIZATION_FORMATS", "autolog", "get_default_conda_env",
           "get_default_pip_requirements", "load_model", "log_model", "save_model"]
