"""``tb.projects.run``: run a project's entry point as a tracked run."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .._errors import InvalidNameError, InvalidValueError, UnsupportedFeatureError
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
    env_manager: str = "local"


def open_project(uri: str | os.PathLike[str], entry_point: str, *, version: str | None,
                 env_manager: str | None, experiment_name: str | None,
                 experiment_id: str | None) -> Project:
    """Check the cheap things first (manager, tool, files, entry point), then resolve the
    experiment. Nothing runs and no run is created here. ``env_manager=None`` picks
    MLflow's default for the project (:func:`default_env_manager`)."""
    if env_manager is not None:
        _check_manager(env_manager)
    if experiment_name is not None and experiment_id is not None:
        raise InvalidValueError("pass experiment_name or experiment_id, not both")
    source = resolve(uri, version)
    spec = load_project(source.directory)
    if env_manager is None:
        env_manager = default_env_manager(spec)
        _check_manager(env_manager)
    entry = spec.entry_point(entry_point)
    client = Client()
    return Project(source, spec, entry, client,
                   _experiment(client, experiment_name, experiment_id), env_manager)


def _check_manager(env_manager: str) -> None:
    if env_manager not in environments.MANAGERS:
        raise InvalidValueError(f"env_manager must be one of "
                                f"{', '.join(environments.MANAGERS)}, got {env_manager!r}")
    environments.find_tool(env_manager)


def default_env_manager(spec: ProjectSpec) -> str:
    """MLflow's choice when no ``env_manager`` is given: ``conda`` for a project with a
    conda environment, else ``virtualenv`` (also for a project that declares none)."""
    return "conda" if spec.conda_env is not None else "virtualenv"


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


def run(uri: str | os.PathLike[str], entry_point: str = "main", version: str | None = None,
        parameters: Mapping[str, Any] | None = None,
        docker_args: Mapping[str, Any] | None = None, experiment_name: str | None = None,
        experiment_id: str | None = None, backend: str = "local",
        backend_config: Mapping[str, Any] | str | None = None, storage_dir: str | None = None,
        synchronous: bool = True, run_id: str | None = None, run_name: str | None = None,
        env_manager: str | None = None, build_image: bool = False,
        docker_auth: Mapping[str, Any] | None = None, *,
        tags: Mapping[str, Any] | None = None,
        progress: bool | ProgressCallback | None = None,
        stream_output: bool = True) -> SubmittedRun:
    """Run an entry point of a project as a tracked run: MLflow's ``mlflow.run`` /
    ``mlflow.projects.run``, with its arguments in its order.

    Parameters are checked against the MLproject before anything is built or run. The
    run gets the parameters as params and the tags ``mlflow.project.entryPoint``,
    ``mlflow.project.env``, ``mlflow.project.backend``, ``mlflow.source.name`` and
    ``mlflow.source.git.commit``; the command's output is saved as ``logs/stdout.txt`` and
    ``logs/stderr.txt``.

    Parameters
    ----------
    uri
        A project folder or a git URL (``#subfolder`` selects a folder in it).
    entry_point
        An entry point of the MLproject, or a ``.py``/``.sh`` file of the project.
    version
        Git branch, tag or commit (git projects, or a local folder in a git repository).
    parameters
        Values for the entry point's parameters; undeclared ones are passed as
        ``--key value``.
    docker_args, build_image, docker_auth
        For docker projects, which are not supported: raise when given.
    experiment_name, experiment_id
        Where the run goes (default: the current experiment).
    backend
        ``"local"``; other backends (``databricks``, ``kubernetes``, plugins) raise.
    backend_config, storage_dir
        Not supported (they configure remote backends and downloads of remote ``path``
        parameters): raise when given.
    synchronous
        Wait for the run (showing its output) and raise :class:`ExecutionError` when it
        fails; with False, return at once and call ``wait()`` later.
    run_id
        Continue this existing run instead of creating one, as MLflow does: its params
        and tags are left as they are (the command's own logging adds to them).
    run_name, tags
        Name and extra tags of the run.
    env_manager
        ``"local"`` (this interpreter), ``"virtualenv"``, ``"uv"`` or ``"conda"``; built
        environments are cached by their spec and reused. None (MLflow's default):
        ``conda`` for a project with ``conda_env``, else ``virtualenv``.
    progress
        How environment creation is shown: None/True (a text line, or a progress bar in
        a notebook), False, or a callable taking :class:`Progress`.
    stream_output
        Print the command's output while waiting (into the cell, in a notebook).

    Returns
    -------
    SubmittedRun
        With ``run_id``, ``get_status()``, ``wait()`` and ``cancel()``.

    Examples
    --------
    >>> sub = tb.projects.run("examples/sklearn_elasticnet", "train",
    ...                       parameters={"alpha": 0.5}, env_manager="local")  # doctest: +SKIP
    >>> sub.get_status()  # doctest: +SKIP
    'FINISHED'
    """
    _check_mlflow_options(version=version, parameters=parameters, docker_args=docker_args,
                          backend=backend, backend_config=backend_config,
                          storage_dir=storage_dir, build_image=build_image,
                          docker_auth=docker_auth)
    project = open_project(uri, entry_point, version=version, env_manager=env_manager,
                           experiment_name=experiment_name, experiment_id=experiment_id)
    params, command = project.entry.compute(parameters)
    if run_id is not None:  # MLflow: the run must exist; checked before building anything
        project.client.get_run(run_id)
    env = environments.prepare(project.env_manager, project.spec, reporter(progress))
    sub = launch(client=project.client, experiment_id=project.experiment_id,
                 source=project.source, entry=project.entry, params=params, command=command,
                 environment=env, cwd=project.spec.directory, run_name=run_name,
                 tags={k: str(v) for k, v in (tags or {}).items()}, echo=stream_output,
                 run_id=run_id)
    if synchronous and not sub.wait():
        raise ExecutionError(f"run {sub.run_id} of entry point {entry_point!r} "
                             f"{sub.status}: {sub.error}", sub.run_id, sub.status)
    return sub


def _check_mlflow_options(*, version: Any, parameters: Any, docker_args: Any, backend: Any,
                          backend_config: Any, storage_dir: Any, build_image: Any,
                          docker_auth: Any) -> None:
    """Refuse what MLflow's ``run`` accepts and trackbook does not do, before anything."""
    if isinstance(version, Mapping):
        raise InvalidValueError(
            "the third argument of run() is `version` (a git branch, tag or commit), as in "
            "MLflow: pass the parameters as run(uri, entry_point, parameters={...})")
    if parameters is not None and not isinstance(parameters, Mapping):
        raise InvalidValueError(f"parameters must be a dict, got {type(parameters).__name__}")
    if backend != "local":
        raise UnsupportedFeatureError(
            f"run(backend={backend!r}) is not supported by trackbook: only the 'local' "
            "backend runs projects (tb.projects.sweep(..., backend='ray') runs sweeps on Ray)")
    unsupported = {"docker_args": docker_args is not None, "build_image": bool(build_image),
                   "docker_auth": docker_auth is not None,
                   "backend_config": bool(backend_config), "storage_dir": storage_dir is not None}
    for name, given in unsupported.items():
        if given:
            what = ("docker projects are not supported" if name.startswith(("docker", "build"))
                    else "it configures remote backends and downloads of remote 'path' "
                    "parameters, which trackbook does not do")
            raise UnsupportedFeatureError(f"run({name}=...) is not supported by trackbook: "
                                          f"{what}")
