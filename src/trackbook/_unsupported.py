"""The parts of MLflow's non-GenAI API trackbook does not provide, each with the reason.

``tb.<name>``, ``tb.MlflowClient().<name>`` and ``tb.<module>`` exist for every name below
and raise :class:`~trackbook._errors.UnsupportedFeatureError` (a module:
:class:`~trackbook.as_mlflow.UnsupportedMlflowModuleError`) naming it, so an MLflow script
stops at the first call trackbook cannot honour with a message saying why, instead of an
``AttributeError`` or a silently different result. The README's "Use it as MLflow" section
lists the same names; ``tests/unit/test_mlflow_coverage.py`` checks the three agree.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NoReturn

from ._errors import UnsupportedFeatureError

_SERVER = "it needs an MLflow tracking server; trackbook tracks into local folders"
_WORKSPACES = "workspaces are an MLflow tracking-server feature; use one store per workspace"
_WEBHOOKS = "webhooks are an MLflow tracking-server feature"
_OUTPUTS = ("model outputs of a run (LoggedModelOutput) are not recorded yet; "
            "log_model(...) links the model to its run")

#: fluent ``mlflow.<name>`` functions and classes
FLUENT: dict[str, str] = {
    **dict.fromkeys(("create_workspace", "delete_workspace", "get_workspace",
                     "list_workspaces", "set_workspace", "update_workspace"), _WORKSPACES),
    "login": "it logs in to Databricks; trackbook has no remote backends",
    "import_checkpoints": "importing checkpoints as logged models is not implemented yet",
    "log_outputs": _OUTPUTS,
    "test": "the MLflow pytest plugin is not provided",
    "Image": "the image wrapper class is not provided; log_image takes numpy arrays and "
             "PIL images directly",
}

#: ``MlflowClient.<name>`` methods
CLIENT: dict[str, str] = {
    **dict.fromkeys(("create_workspace", "delete_workspace", "get_workspace",
                     "list_workspaces", "update_workspace"), _WORKSPACES),
    "get_workspace_store_uri": _WORKSPACES,
    **dict.fromkeys(("create_webhook", "delete_webhook", "get_webhook", "list_webhooks",
                     "test_webhook", "update_webhook"), _WEBHOOKS),
    "log_outputs": _OUTPUTS,
}

_FLAVOR = "this model flavor is not implemented; save the model with a supported flavor or " \
          "as a tb.pyfunc.PythonModel"
#: ``mlflow.<module>`` modules
MODULES: dict[str, str] = {
    **dict.fromkeys(("catboost", "diffusers", "h2o", "johnsnowlabs", "paddle", "pmdarima",
                     "prophet", "sentence_transformers", "spacy", "spark", "statsmodels",
                     "tensorflow", "transformers"), _FLAVOR),
    "pyspark": "Spark ML autologging is not implemented",
    "shap": "SHAP explanations are not implemented (evaluate() logs no SHAP plots)",
    "optuna": "MLflow's Optuna storage is not provided; tb.projects.sweep runs searches",
    "azure": "deployment to Azure ML is not provided",
    "sagemaker": "deployment to SageMaker is not provided",
    "deployments": "deployment clients are not provided; tb.models.serve serves a model",
    "server": _SERVER + " (run the widgets in a notebook instead)",
    "db": "there is no SQL database to migrate: the store is files plus a DuckDB index",
    "experiments": "MLflow's click CLI groups are not provided; use the `trackbook` command",
    "runs": "MLflow's click CLI groups are not provided; use the `trackbook` command",
    "config": "not provided; the same setters are tb.set_tracking_uri, "
              "tb.set_registry_uri, tb.enable_system_metrics_logging, ...",
    "environment_variables": "not provided; trackbook reads MLFLOW_TRACKING_URI, "
                             "MLFLOW_EXPERIMENT_NAME, MLFLOW_EXPERIMENT_ID and MLFLOW_RUN_ID",
    "system_metrics": "not provided as a module; use log_system_metrics=True or "
                      "tb.enable_system_metrics_logging()",
    "pytest": "the MLflow pytest plugin is not provided",
    "webhooks": _WEBHOOKS,
}


def _raise(what: str, reason: str) -> NoReturn:
    raise UnsupportedFeatureError(f"{what} is not supported by trackbook: {reason} (the "
                                  "README's 'Use it as MLflow' section lists what is not)")


def fluent_stub(name: str) -> Callable[..., Any]:
    """The stand-in for the fluent ``mlflow.<name>``: calling it raises."""
    reason = FLUENT[name]

    def unsupported(*args: Any, **kwargs: Any) -> NoReturn:
        _raise(f"mlflow.{name}()", reason)

    unsupported.__name__ = unsupported.__qualname__ = name
    unsupported.__doc__ = f"Not supported: {reason}."
    return unsupported


def _client_stub(name: str, reason: str) -> Callable[..., Any]:
    def unsupported(self: Any, *args: Any, **kwargs: Any) -> NoReturn:
        _raise(f"MlflowClient.{name}()", reason)

    unsupported.__name__ = name
    unsupported.__qualname__ = f"Client.{name}"
    unsupported.__doc__ = f"Not supported: {reason}."
    return unsupported


class UnsupportedClientMethods:
    """``MlflowClient`` methods trackbook does not provide: each raises, naming itself."""


for _name, _reason in CLIENT.items():
    setattr(UnsupportedClientMethods, _name, _client_stub(_name, _reason))


def module_error(name: str) -> Exception | None:
    """The error for ``tb.<name>`` when ``name`` is an MLflow module trackbook lacks."""
    reason = MODULES.get(name)
    if reason is None:
        return None
    from .as_mlflow import UnsupportedMlflowModuleError

    return UnsupportedMlflowModuleError(
        f"mlflow.{name} is not supported by trackbook: {reason} (the README's 'Use it as "
        "MLflow' section lists what is not)")
