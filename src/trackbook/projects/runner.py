"""Launch one entry point as a tracked run and follow it: :class:`SubmittedRun`.

The run is created here (params, source and entry point tags) before the command
starts; the command gets ``TRACKBOOK_RUN_ID`` / ``MLFLOW_RUN_ID`` and ``TRACKBOOK_STORE``,
so ``tb.start_run()`` inside it continues that same run. Its stdout and stderr are saved
as the artifacts ``logs/stdout.txt`` and ``logs/stderr.txt`` and, when wanted, echoed by
:meth:`SubmittedRun.wait` (into the cell, in a notebook). The exit status becomes the run
status; a failing run records why in the tag ``trackbook.project.error``.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from pathlib import Path
from typing import IO

from ..tracking.client import Client
from ..tracking.entities import RunStatus
from .environments import Environment
from .errors import ExecutionError
from .sources import Source
from .spec import EntryPoint

log = logging.getLogger(__name__)

ERROR_TAG = "trackbook.project.error"
_GIT_TAGS = ("mlflow.source.git.commit", "mlflow.source.git.branch",
             "mlflow.source.git.repoURL", "trackbook.git.dirty")
_ECHO_LINES = 20_000  # lines kept for wait() to print; the artifacts keep everything
_live: weakref.WeakSet[SubmittedRun] = weakref.WeakSet()


class SubmittedRun:
    """A project run in progress (MLflow's ``SubmittedRun``), from :func:`run`.

    Attributes
    ----------
    run_id
        The tracked run.
    command
        The shell command, with parameters substituted.
    params
        The parameters as logged.
    environment
        The :class:`~trackbook.projects.environments.Environment` it runs in
        (``environment.created`` says whether it was built for this run).
    """

    def __init__(self, run_id: str, client: Client, command: str, params: dict[str, str],
                 environment: Environment, echo: bool) -> None:
        self.run_id = run_id
        self.command = command
        self.params = params
        self.environment = environment
        self._client = client
        self._status = RunStatus.RUNNING
        self._error: str | None = None
        self._returncode: int | None = None
        self._cancelled = False
        self._done = threading.Event()
        self._cond = threading.Condition()
        self._echo: collections.deque[tuple[str, str]] | None = \
            collections.deque(maxlen=_ECHO_LINES) if echo else None
        self._dropped = 0
        self._stderr_tail: collections.deque[str] = collections.deque(maxlen=12)
        self._proc: subprocess.Popen[bytes] | None = None

    # -- public ----------------------------------------------------------------------------

    @property
    def status(self) -> str:
        """RUNNING, then FINISHED, FAILED or KILLED."""
        return self._status

    def get_status(self) -> str:
        """The status (MLflow's method name)."""
        return self._status

    @property
    def error(self) -> str | None:
        """Why the run failed (exit status and last stderr lines), else None."""
        return self._error

    @property
    def returncode(self) -> int | None:
        """The command's exit status (negative: killed by that signal); None while running."""
        return self._returncode

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def wait(self, echo: bool | None = None, timeout: float | None = None) -> bool:
        """Wait for the run to end; return True when it FINISHED (False when it failed,
        was killed, or ``timeout`` seconds passed first).

        Output not yet shown is printed meanwhile (stdout to ``sys.stdout``, stderr to
        ``sys.stderr``) unless ``echo`` is False. Interrupting the wait (Ctrl-C, the
        notebook's stop button) cancels the run.
        """
        show = self._echo is not None and echo is not False
        deadline = None if timeout is None else _now() + timeout
        try:
            while True:
                with self._cond:
                    if not (self._echo or self._done.is_set()):
                        self._cond.wait(0.2)
                    lines = list(self._echo or ())
                    if self._echo:
                        self._echo.clear()
                    dropped, self._dropped = self._dropped, 0
                    finished = self._done.is_set() and not self._echo
                if show:
                    _write(lines, dropped)
                if finished:
                    return self._status == RunStatus.FINISHED
                if deadline is not None and _now() >= deadline:
                    return False
        except KeyboardInterrupt:
            self.cancel()
            raise

    def cancel(self, grace_seconds: float = 5.0) -> None:
        """Stop the run: SIGTERM to its process group, SIGKILL after ``grace_seconds``.
        The run ends KILLED."""
        proc = self._proc
        if self._done.is_set() or proc is None:
            return
        self._cancelled = True
        _signal_group(proc, signal.SIGTERM)
        try:
            proc.wait(timeout=grace_seconds)
        except subprocess.TimeoutExpired:
            _signal_group(proc, signal.SIGKILL)
        self._done.wait(timeout=60)

    def __repr__(self) -> str:
        return f"<SubmittedRun run_id={self.run_id!r} status={self._status!r}>"

    # -- launching ---------------------------------------------------------------------------

    def _start(self, cwd: Path, env: dict[str, str]) -> None:
        logs = Path(tempfile.mkdtemp(prefix="trackbook-logs-"))
        shell = shutil.which("bash") or "/bin/sh"
        self._proc = proc = subprocess.Popen(
            [shell, "-c", self.command], cwd=cwd, env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        _live.add(self)
        pumps = []
        for name, pipe in (("stdout", proc.stdout), ("stderr", proc.stderr)):
            out = open(logs / f"{name}.txt", "wb")  # noqa: SIM115 - closed by the monitor
            t = threading.Thread(target=self._pump, args=(pipe, name, out), daemon=True,
                                 name=f"trackbook-{name}-{self.run_id[:8]}")
            t.start()
            pumps.append((t, out))
        threading.Thread(target=self._monitor, args=(pumps, logs), daemon=True,
                         name=f"trackbook-run-{self.run_id[:8]}").start()

    def _pump(self, pipe: IO[bytes], name: str, out: IO[bytes]) -> None:
        for raw in iter(pipe.readline, b""):
            out.write(raw)
            out.flush()
            line = raw.decode("utf-8", "replace")
            if name == "stderr":
                self._stderr_tail.append(line)
            if self._echo is not None:
                with self._cond:
                    if len(self._echo) == self._echo.maxlen:
                        self._dropped += 1
                    self._echo.append((name, line))
                    self._cond.notify_all()
        pipe.close()

    def _monitor(self, pumps: list[tuple[threading.Thread, IO[bytes]]], logs: Path) -> None:
        assert self._proc is not None
        code = self._proc.wait()
        for thread, out in pumps:
            thread.join(timeout=10)  # a daemon grandchild may hold the pipe open
            out.close()
        self._returncode = code
        if code == 0:
            status = RunStatus.FINISHED
        elif self._cancelled:
            status, self._error = RunStatus.KILLED, "cancelled"
        else:
            status, self._error = RunStatus.FAILED, self._reason(code)
        try:
            self._client.log_artifact(self.run_id, str(logs / "stdout.txt"), "logs")
            self._client.log_artifact(self.run_id, str(logs / "stderr.txt"), "logs")
            tags = [("trackbook.project.exit_code", str(code))]
            if self._error:
                tags.append((ERROR_TAG, self._error))
            self._client.log_batch(self.run_id, tags=tags)
            self._client.set_terminated(self.run_id, status)
            publish(self._client)
        except Exception as exc:  # the run's outcome must still reach wait()
            log.error("could not record the end of run %s: %s", self.run_id, exc)
        finally:
            shutil.rmtree(logs, ignore_errors=True)
            self._status = status
            _live.discard(self)
            with self._cond:
                self._done.set()
                self._cond.notify_all()

    def _reason(self, code: int) -> str:
        if code < 0:
            try:
                what = f"was killed by {signal.Signals(-code).name}"
            except ValueError:
                what = f"was killed by signal {-code}"
        else:
            what = f"exited with status {code}"
        tail = "".join(self._stderr_tail).rstrip()
        return f"command {what}" + (f"; last lines of stderr:\n{tail}" if tail else
                                    " (no stderr output)")


def create_run(*, client: Client, experiment_id: str, source: Source, entry: EntryPoint,
               params: dict[str, str], command: str, environment: Environment,
               run_name: str | None, tags: dict[str, str] | None, parent_run_id: str | None,
               backend: str) -> str:
    """Create a project run with its params and tags (source, entry point, environment,
    command, ``mlflow.project.backend``); return its id. Every backend starts here."""
    all_tags = {**source.tags(), "mlflow.project.entryPoint": entry.name,
                "mlflow.project.env": environment.manager, "mlflow.project.backend": backend,
                "trackbook.project.command": command}
    if environment.packages:
        all_tags["trackbook.packages"] = \
            f"envs/{client.store.write_env_snapshot(environment.packages)}.txt"
    if environment.prefix is not None:
        all_tags["trackbook.project.env_path"] = str(environment.prefix)
    all_tags.update(tags or {})
    run = client.create_run(experiment_id, tags=all_tags, run_name=run_name,
                            parent_run_id=parent_run_id)
    run_id = run.info.run_id
    try:
        for key in _GIT_TAGS:  # the launcher's git state says nothing about the project
            if key in run.data.tags and key not in all_tags:
                client.delete_tag(run_id, key)
        client.log_batch(run_id, params=list(params.items()))
    except Exception as exc:
        raise start_failed(client, run_id, command, "could not log its params", exc) from exc
    # The command's process resumes the run: it becomes the run's one writer (store/owner.py)
    # until it exits; ending the run afterwards takes it back.
    client.store.session.owners.release(run_id)
    return run_id


def resume_run(client: Client, run_id: str, environment: Environment, run_name: str | None,
               tags: dict[str, str] | None) -> None:
    """Prepare an existing run for a project command to continue (MLflow leaves its params
    and source tags alone and sets the environment, backend and name tags)."""
    from ..tracking import fluent

    client.get_run(run_id)  # RunNotFoundError for an unknown id
    active = fluent.active_run()
    if active is not None and active.info.run_id == run_id:
        from .._errors import RunInUseError

        raise RunInUseError(f"run {run_id} is the active run of this process: end it "
                            "before a project command continues it")
    extra = {"mlflow.project.env": environment.manager, "mlflow.project.backend": "local",
             **(tags or {})}
    if run_name is not None:
        extra["mlflow.runName"] = run_name
    client.log_batch(run_id, tags=list(extra.items()))
    client.store.session.owners.release(run_id)


def store_for_commands(client: Client) -> str:
    """What a run's command gets as ``TRACKBOOK_STORE``: an ``s3://`` store's URL, so that a
    command on another machine (a Ray node) logs into the bucket through a replica of its
    own; else the store folder. The run just created is pushed to the bucket first, so the
    command finds it wherever it starts."""
    url = getattr(client.store, "url", None)
    if isinstance(url, str) and url.startswith("s3://"):
        publish(client)
        return url
    return str(client.store.root)


def publish(client: Client) -> None:
    """On an object-storage store, push what this process recorded now (normally done
    within a second in the background): what waits on a run then sees it from any
    machine. A folder store has nothing to push."""
    if getattr(client.store, "url", None) is not None:
        client.store.session.flush_all()


def start_failed(client: Client, run_id: str, command: str, what: str,
                 exc: Exception) -> ExecutionError:
    """Record on the run that it could not start (FAILED, with the reason as a tag) and
    return the error to raise."""
    client.log_batch(run_id, tags=[(ERROR_TAG, f"{what}: {exc}")])
    client.set_terminated(run_id, RunStatus.FAILED)
    return ExecutionError(f"run {run_id}: {what} (`{command}`): {exc}", run_id,
                          RunStatus.FAILED)


def launch(*, client: Client, experiment_id: str, source: Source, entry: EntryPoint,
           params: dict[str, str], command: str, environment: Environment, cwd: Path,
           run_name: str | None = None, tags: dict[str, str] | None = None,
           parent_run_id: str | None = None, echo: bool = True,
           run_id: str | None = None) -> SubmittedRun:
    """Create the run, log its params and tags, and start the command (do not wait).
    With ``run_id``, the command continues that existing run instead (MLflow's
    ``run(run_id=...)``): only the environment and backend tags, the run name and
    ``tags`` are set on it."""
    if run_id is None:
        run_id = create_run(client=client, experiment_id=experiment_id, source=source,
                            entry=entry, params=params, command=command,
                            environment=environment, run_name=run_name, tags=tags,
                            parent_run_id=parent_run_id, backend="local")
    else:
        resume_run(client, run_id, environment, run_name, tags)
    sub = SubmittedRun(run_id, client, command, params, environment, echo)
    try:
        env = environment.child_env(os.environ)
        env.update(TRACKBOOK_RUN_ID=run_id, MLFLOW_RUN_ID=run_id,
                   TRACKBOOK_STORE=store_for_commands(client),
                   PYTHONUNBUFFERED="1")
        env.pop("TRACKBOOK_EXPERIMENT_NAME", None)
        env.pop("MLFLOW_EXPERIMENT_NAME", None)
        sub._start(cwd, env)
    except Exception as exc:
        raise start_failed(client, run_id, command, "could not start the command",
                           exc) from exc
    return sub


def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    if proc.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


def _write(lines: list[tuple[str, str]], dropped: int) -> None:
    if dropped:
        sys.stderr.write(f"… {dropped} lines not shown (all are in the artifacts logs/)\n")
    for name, line in lines:
        (sys.stdout if name == "stdout" else sys.stderr).write(line)
    if lines:
        sys.stdout.flush()
        sys.stderr.flush()


def _now() -> float:
    return time.monotonic()


def _cancel_all_at_exit() -> None:
    """Background runs belong to the process that launched them: stop them at exit."""
    for sub in list(_live):
        try:
            sub.cancel(grace_seconds=2.0)
        except Exception as exc:
            log.error("could not cancel run %s at exit: %s", sub.run_id, exc)


atexit.register(_cancel_all_at_exit)
