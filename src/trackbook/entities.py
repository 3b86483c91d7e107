"""MLflow's ``mlflow.entities``: the record types runs, experiments, datasets and models use.

One module, re-exporting the classes where they live (``tracking.entities``,
``registry.entities``, ...), so ``from trackbook.entities import Run`` gives the very
class ``tb.get_run`` returns.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._lazy import lazy_exports

_TRACKING = ("Experiment", "ExperimentTag", "LifecycleStage", "Metric", "Param", "Run",
             "RunData", "RunInfo", "RunStatus", "RunTag", "SourceType", "ViewType",
             "Dataset", "DatasetInput", "InputTag", "RunInputs", "RunOutputs")
_LAZY: dict[str, str | tuple[str, str]] = {
    name: ("trackbook.tracking.entities", name) for name in _TRACKING}
_LAZY.update({
    "FileInfo": ("trackbook.store.artifacts", "FileInfo"),
    "model_registry": ("trackbook.registry.entities", ""),
})
_LAZY.update({name: ("trackbook.models.logged_model", name) for name in (  # MLflow 3 models
    "LoggedModel", "LoggedModelInput", "LoggedModelOutput", "LoggedModelParameter",
    "LoggedModelStatus", "LoggedModelTag")})

__all__ = sorted(_LAZY)

__getattr__, __dir__ = lazy_exports(__name__, _LAZY, __all__)

if TYPE_CHECKING:
    from .registry import entities as model_registry
    from .store.artifacts import FileInfo
    from .tracking.entities import (
        Dataset,
        DatasetInput,
        Experiment,
        ExperimentTag,
        InputTag,
        LifecycleStage,
        Metric,
        Param,
        Run,
        RunData,
        RunInfo,
        RunInputs,
        RunOutputs,
        RunStatus,
        RunTag,
        SourceType,
        ViewType,
    )
