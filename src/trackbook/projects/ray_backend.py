"""Sweeps on Ray: ``tb.projects.sweep(..., backend="ray")``.

Each trial is one Ray task. The driver (the process that called ``sweep``) creates the
trial's run first, with its params and tags, exactly as the local backend does; the task
then runs the trial's command in the project folder with ``TRACKBOOK_RUN_ID`` and
``TRACKBOOK_STORE`` set, through the same :class:`~trackbook.projects.runner.SubmittedRun`
machinery as a local run (output saved as ``logs/stdout.txt`` / ``logs/stderr.txt``, exit
status -> run status, ``trackbook.project.error`` on failure). The sweep keeps at most
``max_parallel`` tasks in flight, whatever the cluster's CPU count.

``ray.cancel`` interrupts the task, which stops the command's process group (SIGTERM,
then SIGKILL) and records the run KILLED. If the task dies or never started, the driver
records the outcome itself, so no trial run stays RUNNING.

On a cluster the project folder and the environment must be reachable at the same paths
from every node (a shared filesystem). The store may be such a folder too, or an
``s3://`` store: the task is then given its URL (not the driver's replica folder) and logs
into the bucket through the node's own replica (the node needs the AWS_* settings).
Ray is imported only here, and only when ``backend="ray"`` is used.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from .._errors import InvalidValueError, RunInUseError, TrackbookError
from ..tracking.client import Client
from ..tracking.entities import RunStatus
from .environments import Environment
from .errors import ExecutionError
from .runner import ERROR_TAG, SubmittedRun, create_run, publish, start_failed, store_for_commands
from .sources import Source
from .spec import EntryPoint

log = logging.getLogger(__name__)

BACKENDS = ("local", "ray")
_CANCEL_GRACE = 5.0  # seconds between SIGTERM and SIGKILL of a cancelled trial's command
_remote_lock = threading.Lock()
_remote_fn: Any = None


class BackendUnavailableError(TrackbookError, ImportError):
    """The sweep backend needs a package that is not installed (or cannot start)."""


def check_options(backend: str, ray_address: str | None,
                  ray_options: Mapping[str, Any] | None) -> dict[str, Any]:
    """Validate the backend arguments of :func:`~trackbook.projects.sweep` (cheap: nothing
    is imported or started); return the Ray task options."""
    if backend not in BACKENDS:
        raise InvalidValueError(f"backend must be one of {', '.join(map(repr, BACKENDS))}, "
                                f"got {backend!r}")
    if backend != "ray" and (ray_address is not None or ray_options is not None):
        raise InvalidValueError("ray_address= and ray_options= need backend='ray', "
                                f"got backend={backend!r}")
    if ray_address is not None and not isinstance(ray_address, str):
        raise InvalidValueError(f"ray_address must be a string such as 'auto' or "
                                f"'10.0.0.5:6379', got {ray_address!r}")
    if ray_options is not None and not isinstance(ray_options, Mapping):
        raise InvalidValueError(f"ray_options must be a dict of Ray task options (e.g. "
                                f"{{'num_gpus': 1}}), got {ray_options!r}")
    options: dict[str, Any] = {"num_cpus": 1, "max_retries": 0, "retry_exceptions": False}
    options.update(ray_options or {})
    return options


def connect(address: str | None, max_parallel: int,
            say: Callable[[str], None] | None = None) -> str:
    """Make sure this process is connected to Ray; return the driver's node id.

    An already initialised Ray session is reused. Otherwise ``address=None`` starts a
    local Ray (no dashboard, worker output not forwarded: each trial's output
    is saved in its run) with enough logical CPUs for ``max_parallel`` trials at once;
    an address (``"auto"``, ``"host:6379"``, ``"ray://host:10001"``) joins that cluster.
    ``say`` is told what is happening (starting Ray takes 10-30 s on a small machine).
    """
    try:
        import ray
    except ImportError as exc:
        raise BackendUnavailableError(
            "backend='ray' needs Ray, which is not installed: pip install 'trackbook[ray]'"
            f" ({exc})") from None
    if ray.is_initialized():
        if address is not None:
            log.warning("Ray is already initialised in this process; the sweep uses that "
                        "session, not ray_address=%r", address)
    else:
        if say is not None:
            say("starting a local Ray" if address is None else f"joining Ray at {address}")
        try:
            if address is None:
                ray.init(num_cpus=max(_cpus(), max_parallel), include_dashboard=False,
                         log_to_driver=False, logging_level=logging.WARNING)
            else:
                ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING)
        except Exception as exc:
            where = "a local Ray" if address is None else f"the Ray cluster at {address!r}"
            raise BackendUnavailableError(f"could not start or join {where}: {exc}") from exc
    return str(ray.get_runtime_context().get_node_id())


def launch(*, client: Client, experiment_id: str, source: Source, entry: EntryPoint,
           params: dict[str, str], command: str, environment: Environment, cwd: Path,
           run_name: str | None, tags: dict[str, str], parent_run_id: str | None,
           driver_node: str, options: Mapping[str, Any], echo: bool = False
           ) -> RaySubmittedRun:
    """Create the trial's run (params, tags) here, then submit its command as a Ray task.

    Mirrors :func:`trackbook.projects.runner.launch`, with ``mlflow.project.backend`` =
    ``ray``; returns at once. ``echo`` must be False: the output is saved in the run.
    """
    if echo:
        raise InvalidValueError("Ray trials do not echo their output; it is saved as the "
                                "artifacts logs/stdout.txt and logs/stderr.txt")
    run_id = create_run(client=client, experiment_id=experiment_id, source=source, entry=entry,
                        params=params, command=command, environment=environment,
                        run_name=run_name, tags=tags, parent_run_id=parent_run_id,
                        backend="ray")
    sub = RaySubmittedRun(run_id, client, command, params, environment)
    try:
        task = _remote().options(**options)
        sub._submit(task.remote(run_id, store_for_commands(client), command, params,
                                environment, str(cwd), driver_node, dict(os.environ)))
    except Exception as exc:
        raise start_failed(client, run_id, command, "could not submit the Ray task",
                           exc) from exc
    return sub


class RaySubmittedRun(SubmittedRun):
    """A trial running as a Ray task (driver side): ``status``, ``error``, ``wait()`` and
    ``cancel()`` behave as for a local :class:`SubmittedRun`."""

    def __init__(self, run_id: str, client: Client, command: str, params: dict[str, str],
                 environment: Environment) -> None:
        super().__init__(run_id, client, command, params, environment, echo=False)
        self._ref: Any = None

    def cancel(self, grace_seconds: float = _CANCEL_GRACE) -> None:
        """Cancel the Ray task; its command gets SIGTERM (SIGKILL after a grace period)
        and the run ends KILLED."""
        import ray

        ref = self._ref
        if self._done.is_set() or ref is None:
            return
        self._cancelled = True
        ray.cancel(ref)
        if not self._done.wait(timeout=grace_seconds + 30):  # the task ignored it
            ray.cancel(ref, force=True)
            self._done.wait(timeout=60)

    def _submit(self, ref: Any) -> None:
        self._ref = ref
        threading.Thread(target=self._follow, daemon=True,
                         name=f"trackbook-ray-{self.run_id[:8]}").start()

    def _follow(self) -> None:
        import ray
        from ray.exceptions import TaskCancelledError

        code: int | None = None
        try:
            status, error, code = ray.get(self._ref)
        except TaskCancelledError:
            status, error = RunStatus.KILLED, "cancelled"
        except Exception as exc:  # the task raised, its worker died, or Ray went away
            status = RunStatus.KILLED if self._cancelled else RunStatus.FAILED
            error = f"the Ray task failed: {_first_line(exc)}"
        if code is None:  # the task did not get to record the end of the run: do it here
            self._record_end(status, error)
        self._returncode, self._status, self._error = code, status, error
        with self._cond:
            self._done.set()
            self._cond.notify_all()

    def _record_end(self, status: str, error: str | None) -> None:
        # Ray reports a cancel before the interrupted task has stopped its command: while
        # the task (or the command) still holds the run, wait for it to record the end or
        # exit, then record it here if it did not.
        deadline = time.monotonic() + _CANCEL_GRACE + 30
        while True:
            try:
                if self._client.get_run(self.run_id).info.status != RunStatus.RUNNING:
                    return  # the task recorded it before it was interrupted
                if error:
                    self._client.log_batch(self.run_id, tags=[(ERROR_TAG, error)])
                self._client.set_terminated(self.run_id, status)
                publish(self._client)
                return
            except RunInUseError as exc:
                if time.monotonic() > deadline:
                    log.error("could not record the end of run %s: %s", self.run_id, exc)
                    return
                time.sleep(0.1)
            except Exception as exc:
                log.error("could not record the end of run %s: %s", self.run_id, exc)
                return


def _run_trial(run_id: str, store: str, command: str, params: dict[str, str],
               environment: Environment, cwd: str, driver_node: str,
               driver_env: dict[str, str]) -> tuple[str, str | None, int | None]:
    """The Ray task: run one trial's command as a local run would, on this Ray node."""
    import ray

    node = str(ray.get_runtime_context().get_node_id())
    here = "this node" if node == driver_node else f"Ray node {ray.util.get_node_ip_address()}"
    for what, path in (("project folder", cwd), ("store", store)):
        if not (path.startswith("s3://") or os.path.isdir(path)):
            raise ExecutionError(f"the {what} {path} does not exist on {here}: on a cluster, "
                                 f"put the project on a filesystem that every node mounts at "
                                 f"the same path, and the store there or on object storage "
                                 f"(s3://)", run_id, RunStatus.FAILED)
    # On the driver's node, the trial sees the driver's environment variables (as a local
    # sweep would); elsewhere, that node's own.
    env = environment.child_env(driver_env if node == driver_node else os.environ)
    env.update(TRACKBOOK_RUN_ID=run_id, MLFLOW_RUN_ID=run_id, TRACKBOOK_STORE=store,
               PYTHONUNBUFFERED="1")
    env.pop("TRACKBOOK_EXPERIMENT_NAME", None)
    env.pop("MLFLOW_EXPERIMENT_NAME", None)
    if env.get("PYTHONBREAKPOINT", "").startswith("ray."):  # set by Ray for its workers
        env.pop("PYTHONBREAKPOINT")
    sub = SubmittedRun(run_id, Client(store), command, params, environment, echo=False)
    sub._start(Path(cwd), env)
    sub.wait(echo=False)  # ray.cancel interrupts this: wait() then cancels the command
    # The run's end (pushed by wait() on an s3:// store) is in the store before the task
    # returns: this worker process lives on, so no exit hook would push it.
    return sub.status, sub.error, sub.returncode


def _remote() -> Any:
    global _remote_fn
    with _remote_lock:
        if _remote_fn is None:
            import ray

            _remote_fn = ray.remote(_run_trial)
        return _remote_fn


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _first_line(exc: BaseException) -> str:
    exc = getattr(exc, "cause", None) or exc  # a RayTaskError wraps the task's exception
    lines = [line for line in str(exc).splitlines() if line.strip()]
    return lines[-1].strip() if lines else type(exc).__name__
