"""trackbook: notebook-first experiment tracking with MLflow's API.

``import trackbook as tb`` (or ``import trackbook as mlflow``) is cheap: the modules
behind each name load on first use, and nothing heavy (pandas, DuckDB, plotly) loads
until a query or widget needs it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._lazy import lazy_exports
from ._version import __version__

_FLUENT = (
    "set_experiment", "create_experiment", "get_experiment", "get_experiment_by_name",
    "search_experiments", "delete_experiment", "start_run", "end_run", "active_run",
    "last_active_run", "get_run", "get_parent_run", "delete_run", "log_metric", "log_metrics",
    "log_param", "log_params", "set_tag", "set_tags", "delete_tag", "log_artifact",
    "log_artifacts", "log_text", "log_dict", "log_figure", "log_image", "get_artifact_uri",
    "flush", "search_runs", "sql", "ActiveRun", "current_experiment_id",
)
_LAZY: dict[str, tuple[str, str]] = {name: ("trackbook.tracking.fluent", name) for name in _FLUENT}
_LAZY.update({
    "set_tracking_uri": ("trackbook.tracking.uri", "set_tracking_uri"),
    "get_tracking_uri": ("trackbook.tracking.uri", "get_tracking_uri"),
    "Client": ("trackbook.client", "Client"),
    "MlflowClient": ("trackbook.client", "Client"),
    "register_model": ("trackbook.registry.api", "register_model"),
    "import_mlflow": ("trackbook.importers._mlflow", "import_mlflow"),  # loads nothing heavy
    "Run": ("trackbook.tracking.entities", "Run"),
    "RunInfo": ("trackbook.tracking.entities", "RunInfo"),
    "RunData": ("trackbook.tracking.entities", "RunData"),
    "RunStatus": ("trackbook.tracking.entities", "RunStatus"),
    "Experiment": ("trackbook.tracking.entities", "Experiment"),
    "Metric": ("trackbook.tracking.entities", "Metric"),
    "ViewType": ("trackbook.tracking.entities", "ViewType"),
    "TrackbookError": ("trackbook._errors", "TrackbookError"),
    "SqlNotAllowedError": ("trackbook._errors", "SqlNotAllowedError"),
    "runs_table": ("trackbook.widgets", "runs_table"),
    "curves": ("trackbook.widgets", "curves"),
    "compare": ("trackbook.widgets", "compare"),
    "registry_panel": ("trackbook.widgets", "registry_panel"),
    # the registry package, callable: tb.registry("churn-model") shows its widget
    "registry": ("trackbook.registry", ""),
    "projects": ("trackbook.projects", ""),  # the subpackage itself: tb.projects.run(...)
    "models": ("trackbook.models", ""),  # tb.models.save_model / serve / check
    "pyfunc": ("trackbook.pyfunc", ""),  # tb.pyfunc.load_model, like mlflow.pyfunc
    "sklearn": ("trackbook.sklearn", ""),  # tb.sklearn.log_model, like mlflow.sklearn
    "pytorch": ("trackbook.pytorch", ""),  # tb.pytorch.log_model (torch imported on use)
})
_LAZY.update({  # model evaluation, like mlflow.evaluate / mlflow.metrics
    "evaluate": ("trackbook.models.evaluation", "evaluate"),
    "validate_evaluation_results": ("trackbook.models.evaluation",
                                    "validate_evaluation_results"),
    "metrics": ("trackbook.metrics", ""),
})
_LAZY.update({  # MLflow's module layout: mlflow.entities, mlflow.tracking, ... (as_mlflow.py)
    "entities": ("trackbook.entities", ""),
    "exceptions": ("trackbook.exceptions", ""),
    "tracking": ("trackbook.tracking", ""),
    "MlflowException": ("trackbook._errors", "TrackbookError"),
    "is_tracking_uri_set": ("trackbook.tracking.uri", "is_tracking_uri_set"),
    # `%load_ext trackbook`: this kernel's `import mlflow` gives trackbook
    "load_ipython_extension": ("trackbook.as_mlflow", "load_ipython_extension"),
    "unload_ipython_extension": ("trackbook.as_mlflow", "unload_ipython_extension"),
})
_LAZY.update({  # autologging: tb.autolog() patches each framework when it is imported
    "autolog": ("trackbook.autologging", "autolog"),
    "autologging": ("trackbook.autologging", ""),
})
# issue 14: the rest of MLflow's fluent surface
_LAZY.update({name: ("trackbook.tracking.fluent", name) for name in (
    "set_experiment_tag", "set_experiment_tags", "delete_experiment_tag", "restore_run",
    "restore_experiment", "flush_async_logging", "flush_artifact_async_logging",
    "log_stream", "log_table", "load_table",
)})
_LAZY.update({name: ("trackbook.registry.fluent", name) for name in (
    "search_registered_models", "search_model_versions", "set_model_version_tag",
    "get_registry_uri", "set_registry_uri",
)})
_LAZY.update({name: ("trackbook.tracking.system_metrics", name) for name in (
    "enable_system_metrics_logging", "disable_system_metrics_logging",
    "set_system_metrics_sampling_interval", "set_system_metrics_samples_before_logging",
    "set_system_metrics_node_id",
)})
_LAZY.update({
    "artifacts": ("trackbook.artifacts", ""),  # tb.artifacts.download_artifacts, load_text...
})
# MLflow 3's logged models (issue 14 item 5)
_LAZY.update({name: ("trackbook.models.logged_fluent", name) for name in (
    "get_logged_model", "last_logged_model", "search_logged_models",
    "initialize_logged_model", "create_external_model", "finalize_logged_model",
    "set_logged_model_tags", "delete_logged_model_tag", "log_model_params",
    "set_active_model", "get_active_model_id", "clear_active_model")})
_LAZY.update({name: ("trackbook.models.logged_model", name) for name in (
    "LoggedModel", "LoggedModelStatus", "LoggedModelTag", "LoggedModelParameter",
    "LoggedModelInput", "LoggedModelOutput")})
_LAZY.update({  # flavors on models/flavor.py (frameworks imported on use)
    "onnx": ("trackbook.onnx", ""),
    "keras": ("trackbook.keras", ""),
})
_LAZY.update({  # datasets and lineage (mlflow.data, log_input)
    "data": ("trackbook.data", ""),
    "log_input": ("trackbook.tracking.fluent", "log_input"),
    "log_inputs": ("trackbook.tracking.fluent", "log_inputs"),
})
_LAZY.update({  # gradient boosting flavors + autolog: tb.xgboost / tb.lightgbm (imported on use)
    "xgboost": ("trackbook.xgboost", ""),
    "lightgbm": ("trackbook.lightgbm", ""),
})

_LAZY.update({
    "run": ("trackbook.projects.api", "run"),  # mlflow.run = mlflow.projects.run
    "doctor": ("trackbook._doctor", "doctor"),
    "ActiveModel": ("trackbook.models.logged_fluent", "ActiveModel"),
})

__all__ = ["__version__", *sorted(_LAZY)]


_lazy_getattr, __dir__ = lazy_exports(__name__, _LAZY, __all__)


def __getattr__(name: str) -> Any:
    """A public name (loaded on first use), or, for the MLflow names trackbook does not
    provide (``_unsupported.py``), a stand-in that raises saying why."""
    if name in _LAZY:
        return _lazy_getattr(name)
    if name.startswith("_"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from . import _unsupported

    if name in _unsupported.FLUENT:
        stub = globals()[name] = _unsupported.fluent_stub(name)
        return stub
    error = _unsupported.module_error(name)
    if error is not None:
        raise error
    return _lazy_getattr(name)


if TYPE_CHECKING:
    from . import (
        artifacts,
        autologging,
        entities,
        exceptions,
        keras,
        metrics,
        models,
        onnx,
        projects,
        pyfunc,
        pytorch,
        registry,
        sklearn,
        tracking,
    )
    from ._errors import SqlNotAllowedError, TrackbookError
    from ._errors import TrackbookError as MlflowException
    from .as_mlflow import load_ipython_extension, unload_ipython_extension
    from .autologging import autolog
    from .client import Client
    from .client import Client as MlflowClient
    from .importers import import_mlflow
    from .models.evaluation import evaluate, validate_evaluation_results
    from .registry.api import register_model
    from .registry.fluent import (
        get_registry_uri,
        search_model_versions,
        search_registered_models,
        set_model_version_tag,
        set_registry_uri,
    )
    from .tracking.entities import Experiment, Metric, Run, RunData, RunInfo, RunStatus, ViewType
    from .tracking.fluent import (
        ActiveRun,
        active_run,
        create_experiment,
        current_experiment_id,
        delete_experiment,
        delete_experiment_tag,
        delete_run,
        delete_tag,
        end_run,
        flush,
        flush_artifact_async_logging,
        flush_async_logging,
        get_artifact_uri,
        get_experiment,
        get_experiment_by_name,
        get_parent_run,
        get_run,
        last_active_run,
        log_artifact,
        log_artifacts,
        log_dict,
        log_figure,
        log_image,
        log_metric,
        log_metrics,
        log_param,
        log_params,
        log_stream,
        log_text,
        restore_experiment,
        restore_run,
        search_experiments,
        search_runs,
        set_experiment,
        set_experiment_tag,
        set_experiment_tags,
        set_tag,
        set_tags,
        sql,
        start_run,
    )
    from .tracking.system_metrics import (
        disable_system_metrics_logging,
        enable_system_metrics_logging,
        set_system_metrics_node_id,
        set_system_metrics_samples_before_logging,
        set_system_metrics_sampling_interval,
    )
    from .tracking.uri import get_tracking_uri, is_tracking_uri_set, set_tracking_uri
    from .widgets import compare, curves, registry_panel, runs_table
