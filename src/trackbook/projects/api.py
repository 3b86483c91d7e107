"""``tb.projects.run``: run a project's entry point as a tracked run."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .._errors import InvalidNameError, InvalidValueError
from ..tracking.client import Client
from . import environments
from .errors import ExecutionError
from .progress import ProgressCallback, reporter
from .runner import SubmittedRun, launch
from .sources import Source, resolve
from .spec import EntryPoint, ProjectSpec, load_project


@dataclass(frozen=True)
class Project:
    """A project ready to launch: its files, spec, chosen entry point and experiment."""

    source: Source
    spec: ProjectSpec
    entry: EntryPoint
    client: Client
    experiment_id: str


def open_project(uri: str | os.PathLike[str], entry_point: str, *, version: str | None,
                 env_manager: str, experiment_name: str | None,
                 experiment_id: str | None) -> Project:
    """Check the cheap things first (manager, tool, files, entry point), then resolve the
    experiment. Nothing runs and no run is created here."""
    if env_manager not in environments.MANAGERS:
        raise InvalidValueError(f"env_manager must be one of "
                                f"{', '.join(environments.MANAGERS)}, got {env_manager!r}")
    environments.find_tool(env_manager)
    if experiment_name is not None and experiment_id is not None:
        raise InvalidValueError("pass experiment_name or experiment_id, not both")
    source = resolve(uri, version)
    spec = load_project(source.directory)
    entry = spec.entry_point(entry_point)
    client = Client()
    return Project(source, spec, entry, client,
                   _experiment(client, experiment_name, experiment_id))


def _experiment(client: Client, name: str | None, experiment_id: str | None) -> str:
    if experiment_id is not None:
        return client.get_experiment(str(experiment_id)).experiment_id
    if name is None:
        from ..tracking.fluent import current_experiment_id

        return current_experiment_id()
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    try:
        return client.create_experiment(name)
    except InvalidNameError:  # created by another process meanwhile
        again = client.get_experiment_by_name(name)
        if again is None:
            raise
        return again.experiment_id


def run(uri: str | os.PathLike[str], entry_point: str = "main",
        parameters: Mapping[str, Any] | None = None, *, version: str | None = None,
        env_manager: str = "local", synchronous: bool = True,
        experiment_name: str | None = None, experiment_id: str | None = None,
        run_name: str | None = None, tags: Mapping[str, Any] | None = None,
        progress: bool | ProgressCallback | None = None,
        stream_output: bool = True) -> SubmittedRun:
    """Run an entry point of a project (MLflow's ``mlflow.projects.run``) as a tracked run.

    Parameters are checked against the MLproject before anything is built or run. The
    run gets the parameters as params and the tags ``mlflow.project.entryPoint``,
    ``mlflow.project.env``, ``mlflow.source.name`` and ``mlflow.source.git.commit``; the
    command's output is saved as ``logs/stdout.txt`` and ``logs/stderr.txt``.

    Parameters
    ----------
    uri
        A project folder or a git URL (``#subfolder`` selects a folder in it).
    entry_point
        An entry point of the MLproject, or a ``.py``/``.sh`` file of the project.
    parameters
        Values for the entry point's parameters; undeclared ones are passed as
        ``--key value``.
    version
        Git branch, tag or commit (git projects, or a local folder in a git repository).
    env_manager
        ``"local"`` (this interpreter), ``"virtualenv"``, ``"uv"`` or ``"conda"``: built
        environments are cached by their spec and reused.
    synchronous
        Wait for the run (showing its output) and raise :class:`ExecutionError` when it
        fails; with False, return at once and call ``wait()`` later.
    experiment_name, experiment_id
        Where the run goes (default: the current experiment).
    run_name, tags
        Name and extra tags of the run.
    progress
        How environment creation is shown: None/True (a text line, or a progress bar in
        a notebook), False, or a callable taking :class:`Progress`.
    stream_output
        Print the command's output while waiting (into the cell, in a notebook).

    Returns
    -------
    SubmittedRun
        With ``run_id``, ``status``, ``wait()`` and ``cancel()``.

    Examples
    --------
    >>> sub = tb.projects.run("examples/sklearn_elasticnet", "train",
    ...                       {"alpha": 0.5}, env_manager="virtualenv")  # doctest: +SKIP
    >>> sub.status  # doctest: +SKIP
    'FINISHED'
    """
    project = open_project(uri, entry_point, version=version, env_manager=env_manager,
                           experiment_name=experiment_name, experiment_id=experiment_id)
    params, command = project.entry.compute(parameters)
    env = environments.prepare(env_manager, project.spec, reporter(progress))
    sub = launch(client=project.client, experiment_id=project.experiment_id,
                 source=project.source, entry=project.entry, params=params, command=command,
                 environment=env, cwd=project.spec.directory, run_name=run_name,
                 tags={k: str(v) for k, v in (tags or {}).items()}, echo=stream_output)
    if synchronous and not sub.wait():
        raise ExecutionError(f"run {sub.run_id} of entry point {entry_point!r} "
                             f"{sub.status}: {sub.error}", sub.run_id, sub.status)
    return sub
