"""Errors raised by :mod:`trackbook.projects`; all derive from ``TrackbookError``.

Spec and parameter errors are ``ValueError`` too, and are raised before anything runs:
no environment is built and no run is created for a call that cannot succeed.
"""

from __future__ import annotations

from .._errors import TrackbookError


class ProjectSpecError(TrackbookError, ValueError):
    """An MLproject (or python_env) file is invalid.

    ``path``, ``line`` (1-based) and ``field`` (e.g. ``entry_points.train.command``) say
    where; the message repeats them as ``MLproject:7: entry_points.train.command: ...``.
    """

    def __init__(self, message: str, path: str = "MLproject", line: int | None = None,
                 field: str | None = None) -> None:
        self.path, self.line, self.field = path, line, field
        where = path if line is None else f"{path}:{line}"
        super().__init__(f"{where}: {field}: {message}" if field else f"{where}: {message}")


class ParameterError(TrackbookError, ValueError):
    """A parameter value is missing, of the wrong type, or names no parameter."""


class EntryPointNotFoundError(TrackbookError, LookupError, ValueError):
    """The project has no such entry point (and no such .py/.sh file); a ValueError too,
    as a bad argument (``trackbook run`` exits 2)."""


class ProjectSourceError(TrackbookError, OSError):
    """The project folder or git repository cannot be found, cloned or checked out."""


class EnvironmentCreationError(TrackbookError, RuntimeError):
    """An environment (virtualenv, uv, conda) could not be created."""


class ExecutionError(TrackbookError, RuntimeError):
    """A project run ended FAILED or KILLED (``run_id`` and ``status`` say which run)."""

    def __init__(self, message: str, run_id: str | None = None,
                 status: str | None = None) -> None:
        self.run_id, self.status = run_id, status
        super().__init__(message)
