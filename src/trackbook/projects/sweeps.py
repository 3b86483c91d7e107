"""``tb.projects.sweep``: many runs of one entry point over a parameter space.

A sweep is a parent run whose child runs are the trials, each tagged ``sweep_id``
(the parent's run id), launched at most ``max_parallel`` at a time, as processes on this
machine (``backend="local"``) or as Ray tasks (``backend="ray"``, see :mod:`.ray_backend`).
:func:`sweep` returns at once; the trials show up in ``search_runs`` and the run table
while they run, and :meth:`Sweep.wait` blocks until all have ended.
"""

from __future__ import annotations

import atexit
import functools
import logging
import os
import threading
import weakref
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .._errors import InvalidValueError
from ..tracking.entities import Run, RunStatus
from . import environments
from .api import open_project
from .errors import ExecutionError, ParameterError
from .progress import ProgressCallback, Tracker, reporter
from .ray_backend import check_options
from .runner import ERROR_TAG, SubmittedRun, launch, publish
from .space import check_n_trials, grid_trials, random_trials, sample_grid

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)
SWEEP_TAG = "sweep_id"
_live: weakref.WeakSet[Sweep] = weakref.WeakSet()


@dataclass
class Trial:
    """One point of the sweep: its parameters and, once launched, its run."""

    index: int
    params: dict[str, str]
    status: str = "PENDING"  # then RUNNING, FINISHED, FAILED, KILLED or SKIPPED
    run: SubmittedRun | None = None
    error: str | None = None

    @property
    def run_id(self) -> str | None:
        return self.run.run_id if self.run else None


@dataclass(eq=False)  # compared (and hashed) by identity
class Sweep:
    """A running (or finished) sweep.

    Attributes
    ----------
    id
        The sweep id: the parent run's id, and the ``sweep_id`` tag of every trial run.
    trials
        One :class:`Trial` per parameter set, in order.
    """

    id: str
    trials: list[Trial]
    max_parallel: int
    experiment_id: str
    _client: Any = field(repr=False)
    _done: threading.Event = field(default_factory=threading.Event, repr=False)
    _cancelled: bool = field(default=False, repr=False)
    _status: str = field(default=RunStatus.RUNNING, repr=False)

    @property
    def parent_run_id(self) -> str:
        return self.id

    @property
    def status(self) -> str:
        """RUNNING, then FINISHED (at least one trial finished), FAILED or KILLED."""
        return self._status

    @property
    def runs(self) -> list[SubmittedRun]:
        """The trials launched so far, as :class:`SubmittedRun`."""
        return [t.run for t in self.trials if t.run is not None]

    @property
    def failures(self) -> list[Trial]:
        """Trials that ended FAILED or KILLED (``trial.error`` says why)."""
        return [t for t in self.trials if t.status in (RunStatus.FAILED, RunStatus.KILLED)]

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until every trial has ended; True when all FINISHED."""
        try:
            if not self._done.wait(timeout):
                return False
        except KeyboardInterrupt:
            self.cancel()
            raise
        return all(t.status == RunStatus.FINISHED for t in self.trials)

    def cancel(self) -> None:
        """Launch no more trials and cancel the running ones (they end KILLED)."""
        self._cancelled = True
        for trial in self.trials:
            if trial.run is not None and not trial.run.done:
                trial.run.cancel()
        self._done.wait(timeout=60)

    def results(self) -> pd.DataFrame:
        """The trial runs as ``search_runs`` returns them (params, metrics, tags)."""
        from ..tracking import fluent

        frame = fluent.search_runs([self.experiment_id],
                                   filter_string=f"tags.{SWEEP_TAG} = '{self.id}'",
                                   order_by=["attributes.run_name"])
        return frame  # type: ignore[return-value]

    def best(self, metric: str, mode: str = "min") -> Run | None:
        """The finished trial run with the lowest (``mode="min"``) or highest metric."""
        if mode not in ("min", "max"):
            raise InvalidValueError(f"mode must be 'min' or 'max', got {mode!r}")
        key = metric.replace("`", "``")
        found = self._client.search_runs(
            [self.experiment_id],
            f"tags.{SWEEP_TAG} = '{self.id}' AND attributes.status = 'FINISHED'",
            order_by=[f"metrics.`{key}` {'ASC' if mode == 'min' else 'DESC'}"])
        found = [r for r in found if metric in r.data.metrics]
        return found[0] if found else None

    def summary(self) -> str:
        counts: dict[str, int] = {}
        for t in self.trials:
            counts[t.status] = counts.get(t.status, 0) + 1
        order = ("FINISHED", "FAILED", "KILLED", "RUNNING", "PENDING", "SKIPPED")
        parts = [f"{counts[s]} {s.lower()}" for s in order if counts.get(s)]
        return f"{len(self.trials)} trials: {', '.join(parts)}"

    def __repr__(self) -> str:
        lines = [f"<Sweep id={self.id!r} status={self._status!r}: {self.summary()}>"]
        lines += [f"  trial {t.index} {t.params}: {t.status}: {(t.error or '').splitlines()[0]}"
                  for t in self.failures if t.error]
        return "\n".join(lines)


def sweep(uri: str | os.PathLike[str], entry_point: str = "main", *,
          grid: Mapping[str, Any] | None = None, space: Mapping[str, Any] | None = None,
          n_trials: int | None = None, seed: int | None = None,
          parameters: Mapping[str, Any] | None = None, max_parallel: int | None = None,
          env_manager: str = "local", version: str | None = None,
          experiment_name: str | None = None, experiment_id: str | None = None,
          run_name: str | None = None, progress: bool | ProgressCallback | None = None,
          backend: str = "local", ray_address: str | None = None,
          ray_options: Mapping[str, Any] | None = None) -> Sweep:
    """Run an entry point over a grid or a random sample of a parameter space.

    Every trial's parameters are checked before anything runs. The environment is built
    once; then a parent run is created and the trials run as its children, at most
    ``max_parallel`` at a time, in the background.

    Parameters
    ----------
    uri, entry_point, version, env_manager, experiment_name, experiment_id
        As for :func:`trackbook.projects.run`.
    grid
        ``{name: [values]}``: every combination (or ``n_trials`` of them, chosen with
        ``seed``).
    space
        ``{name: distribution or [values]}`` for random search with ``n_trials`` and
        ``seed`` (see :func:`uniform`, :func:`loguniform`, :func:`randint`).
    parameters
        Fixed values passed to every trial.
    max_parallel
        Trials running at once (default: this machine's CPU count, at most 8).
    run_name
        Name of the parent run (default ``sweep-<entry point>``); trials are named
        ``<run_name>-<index>``.
    progress
        How progress is shown: None/True (a text line, or a progress bar in a notebook),
        False, or a callable taking :class:`Progress`.
    backend
        ``"local"``: each trial is a process on this machine. ``"ray"``: each trial is a
        Ray task (``pip install 'trackbook[ray]'``); the project folder and environment
        must then be at the same paths on every Ray node, and the store too unless it is
        an ``s3://`` store (each node then logs through a replica of its own).
    ray_address
        With ``backend="ray"``: the cluster to join (``"auto"``, ``"host:6379"``,
        ``"ray://host:10001"``). Default: reuse this process's Ray session, or start a
        local one.
    ray_options
        With ``backend="ray"``: options for each trial's task, e.g. ``{"num_gpus": 1}``
        or ``{"runtime_env": {...}}`` (default ``{"num_cpus": 1}``, never retried).

    Examples
    --------
    >>> s = tb.projects.sweep("examples/sklearn_elasticnet", "train",
    ...                       grid={"alpha": [0.1, 1.0], "l1_ratio": [0.1, 0.9]},
    ...                       max_parallel=2)  # doctest: +SKIP
    >>> s.wait(); s.results()  # doctest: +SKIP
    """
    task_options = check_options(backend, ray_address, ray_options)
    points = _points(grid, space, n_trials, seed)
    parallel = _max_parallel(max_parallel)
    project = open_project(uri, entry_point, version=version, env_manager=env_manager,
                           experiment_name=experiment_name, experiment_id=experiment_id)
    fixed = dict(parameters or {})
    planned = []
    for i, point in enumerate(points):
        clash = sorted(set(point) & set(fixed))
        if clash:
            raise ParameterError(f"{', '.join(clash)} are both swept and fixed in parameters=")
        try:
            planned.append(project.entry.compute({**fixed, **point}))
        except ParameterError as exc:
            raise ParameterError(f"trial {i} {point}: {exc}") from None
    env = environments.prepare(env_manager, project.spec, reporter(progress))
    name = run_name or f"sweep-{project.entry.name}"
    tracker = Tracker(reporter(progress), "sweep", f"sweep {name}", total=len(planned))
    start: Callable[..., SubmittedRun] = launch
    if backend == "ray":
        from . import ray_backend

        try:
            driver_node = ray_backend.connect(ray_address, parallel,
                                              say=lambda message: tracker.update(message, 0))
        except Exception:
            tracker.update("could not connect to Ray", 0, finished=True, failed=True)
            raise
        start = functools.partial(ray_backend.launch, driver_node=driver_node,
                                  options=task_options)
    client = project.client
    parent = client.create_run(project.experiment_id, run_name=name, tags={
        **project.source.tags(), "mlflow.project.entryPoint": project.entry.name,
        "mlflow.project.env": env.manager, "trackbook.sweep.kind":
            "grid" if grid is not None else "random",
        "trackbook.sweep.trials": str(len(planned)), "trackbook.sweep.backend": backend})
    result = Sweep(parent.info.run_id, [Trial(i, p) for i, (p, _) in enumerate(planned)],
                   parallel, project.experiment_id, client)
    client.log_dict(result.id, {"grid": _jsonable(grid), "space": _jsonable(space),
                                "n_trials": n_trials, "seed": seed, "parameters": fixed,
                                "max_parallel": parallel, "backend": backend,
                                "trials": [p for p, _ in planned]}, "sweep.json")
    tracker.update(result.summary(), 0)

    def one(trial: Trial, command: str) -> None:
        if result._cancelled:
            trial.status = "SKIPPED"
            return
        try:
            trial.run = start(client=client, experiment_id=project.experiment_id,
                              source=project.source, entry=project.entry,
                              params=trial.params, command=command, environment=env,
                              cwd=project.spec.directory, run_name=f"{name}-{trial.index}",
                              tags={SWEEP_TAG: result.id,
                                    "trackbook.sweep.trial": str(trial.index)},
                              parent_run_id=result.id, echo=False)
            trial.status = RunStatus.RUNNING
            if result._cancelled:  # cancel() ran while this trial was being launched
                trial.run.cancel()
            tracker.update(result.summary())
            trial.run.wait(echo=False)
            trial.status, trial.error = trial.run.status, trial.run.error
        except ExecutionError as exc:
            trial.status, trial.error = RunStatus.FAILED, str(exc)
        if trial.error:
            log.warning("sweep %s: trial %d %s %s: %s", result.id, trial.index,
                        trial.params, trial.status, trial.error.splitlines()[0])
        tracker.update(result.summary(), sum(t.status not in ("PENDING", "RUNNING")
                                             for t in result.trials))

    def schedule() -> None:
        try:
            with ThreadPoolExecutor(parallel, thread_name_prefix="trackbook-sweep") as pool:
                for future in [pool.submit(one, t, cmd) for t, (_, cmd)
                               in zip(result.trials, planned, strict=True)]:
                    future.result()
        except Exception as exc:
            log.error("sweep %s stopped: %s", result.id, exc)
        finally:
            _finish(result, client, tracker)

    _live.add(result)
    threading.Thread(target=schedule, name=f"trackbook-sweep-{result.id[:8]}",
                     daemon=True).start()
    return result


def _finish(result: Sweep, client: Any, tracker: Tracker) -> None:
    finished = sum(t.status == RunStatus.FINISHED for t in result.trials)
    failures = result.failures
    if result._cancelled:
        status = RunStatus.KILLED
    else:
        status = RunStatus.FINISHED if finished else RunStatus.FAILED
    try:
        tags = [("trackbook.sweep.finished", str(finished)),
                ("trackbook.sweep.failed", str(len(failures)))]
        if failures:
            tags.append((ERROR_TAG, "; ".join(
                f"trial {t.index} {t.status}: {(t.error or '').splitlines()[0]}"
                for t in failures)))
        client.log_batch(result.id, tags=tags)
        client.set_terminated(result.id, status)
        publish(client)
    except Exception as exc:
        log.error("could not end the parent run of sweep %s: %s", result.id, exc)
    result._status = status
    _live.discard(result)
    tracker.update(f"done: {result.summary()}", len(result.trials), finished=True,
                   failed=bool(failures))
    result._done.set()


def _points(grid: Mapping[str, Any] | None, space: Mapping[str, Any] | None,
            n_trials: int | None, seed: int | None) -> list[dict[str, Any]]:
    if (grid is None) == (space is None):
        raise InvalidValueError("pass grid= (every combination) or space= with n_trials "
                                "(random search), not both or neither")
    if grid is not None:
        points = grid_trials(grid)
        return points if n_trials is None else sample_grid(points, n_trials, seed)
    if n_trials is None:
        raise InvalidValueError("a random search (space=) needs n_trials")
    assert space is not None
    return random_trials(space, check_n_trials(n_trials), seed)


def _max_parallel(value: int | None) -> int:
    if value is None:
        try:
            cpus = len(os.sched_getaffinity(0))
        except AttributeError:
            cpus = os.cpu_count() or 1
        return max(1, min(8, cpus))
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidValueError(f"max_parallel must be a positive int, got {value!r}")
    return value


def _cancel_all_at_exit() -> None:
    """Sweeps belong to the process that started them: stop them (KILLED) at exit, before
    the runner's own exit hook, so that no trial is launched while the process ends."""
    for result in list(_live):
        try:
            result.cancel()
        except Exception as exc:
            log.error("could not cancel sweep %s at exit: %s", result.id, exc)


atexit.register(_cancel_all_at_exit)


def _jsonable(value: Any) -> Any:
    if value is None:
        return None
    return {k: (list(v) if isinstance(v, list | tuple | range) else repr(v))
            for k, v in value.items()}
