"""Projects: reproducible runs of an MLproject folder or git repository, and sweeps.

``tb.projects.run(uri, entry_point, parameters=..., env_manager=...)`` runs one entry point
as a tracked run (MLflow's ``mlflow.projects.run``); ``tb.projects.sweep(...)`` runs it
over a grid or a random sample of parameters as child runs of one parent. Names load on
first use, so ``import trackbook.projects`` is cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

_LAZY: dict[str, str] = {
    "run": ".api", "sweep": ".sweeps", "Sweep": ".sweeps", "Trial": ".sweeps",
    "SubmittedRun": ".runner", "load_project": ".spec", "ProjectSpec": ".spec",
    "EntryPoint": ".spec", "Parameter": ".spec", "Environment": ".environments",
    "Progress": ".progress", "ProgressCallback": ".progress",
    "uniform": ".space", "loguniform": ".space", "randint": ".space", "choice": ".space",
    "ProjectSpecError": ".errors", "ParameterError": ".errors",
    "EntryPointNotFoundError": ".errors", "ProjectSourceError": ".errors",
    "EnvironmentCreationError": ".errors", "ExecutionError": ".errors",
}

__all__ = [  # the names of _LAZY
    "EntryPoint", "EntryPointNotFoundError", "Environment", "EnvironmentCreationError",
    "ExecutionError", "Parameter", "ParameterError", "Progress", "ProgressCallback",
    "ProjectSourceError", "ProjectSpec", "ProjectSpecError", "SubmittedRun", "Sweep",
    "Trial", "choice", "load_project", "loguniform", "randint", "run", "sweep", "uniform",
]


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, __all__)


if TYPE_CHECKING:
    from .api import run
    from .environments import Environment
    from .errors import (
        EntryPointNotFoundError,
        EnvironmentCreationError,
        ExecutionError,
        ParameterError,
        ProjectSourceError,
        ProjectSpecError,
    )
    from .progress import Progress, ProgressCallback
    from .runner import SubmittedRun
    from .space import choice, loguniform, randint, uniform
    from .spec import EntryPoint, Parameter, ProjectSpec, load_project
    from .sweeps import Sweep, Trial, sweep
