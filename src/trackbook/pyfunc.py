"""``tb.pyfunc``: custom Python models and the generic loader (MLflow's ``mlflow.pyfunc``).

>>> model = tb.pyfunc.load_model("runs:/<run_id>/model")   # any flavor, as a PyFuncModel
>>> model.predict(df)
"""

from __future__ import annotations

from .models.loading import PyFuncModel, load_model
from .models.pyfunc import (
    PythonModel,
    PythonModelContext,
    get_default_conda_env,
    get_default_pip_requirements,
    log_model,
    save_model,
)

__all__ = ["PyFuncModel", "PythonModel", "PythonModelContext", "get_default_conda_env",
           "get_default_pip_requirements", "load_model", "log_model", "save_model"]
