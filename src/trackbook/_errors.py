"""Every error trackbook raises derives from :class:`TrackbookError`.

Messages say what was given and what is allowed, so the user can fix the call
without reading our source.
"""

from __future__ import annotations


class TrackbookError(Exception):
    """Base class of all trackbook errors (MLflow code catches it as ``MlflowException``).

    Like ``MlflowException`` it takes an optional ``error_code`` and has ``.message`` and
    ``.error_code`` (``INVALID_PARAMETER_VALUE`` for bad input, ``RESOURCE_DOES_NOT_EXIST``
    for a missing run or experiment, else ``INTERNAL_ERROR``).
    """

    def __init__(self, *args: object, error_code: str | int | None = None,
                 **details: object) -> None:
        if not args and "message" in details:  # MlflowException(message="...")
            args = (details.pop("message"),)
        if (type(self) is TrackbookError and len(args) == 2 and error_code is None
                and isinstance(args[1], str | int)):  # MlflowException("...", "CODE")
            args, error_code = args[:1], args[1]
        super().__init__(*args)
        if error_code is not None:
            self._error_code = error_code if isinstance(error_code, str) else "INTERNAL_ERROR"
        self.details = details

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""

    @property
    def error_code(self) -> str:
        code = getattr(self, "_error_code", None)
        if code is not None:
            return code
        if isinstance(self, LookupError):
            return "RESOURCE_DOES_NOT_EXIST"
        return "INVALID_PARAMETER_VALUE" if isinstance(self, ValueError) else "INTERNAL_ERROR"

    @classmethod
    def invalid_parameter_value(cls, message: str, **details: object) -> TrackbookError:
        return cls(message, error_code="INVALID_PARAMETER_VALUE", **details)


class TrackbookWarning(UserWarning):
    """Something was off but no data was lost (e.g. a flush retried)."""


class DamagedFileWarning(TrackbookWarning):
    """A store file (a metric file, a log line, ...) is damaged and was skipped: the rest
    of the store is still read. ``trackbook doctor`` lists such files; ``--repair``
    quarantines them."""


class InvalidNameError(TrackbookError, ValueError):
    """A metric, param, tag, experiment or run name is not allowed."""


class InvalidValueError(TrackbookError, ValueError):
    """A logged value has the wrong type or shape."""


class ParamConflictError(TrackbookError, ValueError):
    """A param was logged again with a different value (params are immutable)."""


class FilterSyntaxError(TrackbookError, ValueError):
    """A search filter or order_by clause could not be parsed.

    ``position`` is the 0-based character offset where parsing failed.
    """

    def __init__(self, message: str, text: str = "", position: int | None = None) -> None:
        self.text = text
        self.position = position
        if text and position is not None:
            pointer = " " * position + "^"
            message = f"{message}\n  {text}\n  {pointer}"
        super().__init__(message)


class RunNotFoundError(TrackbookError, LookupError):
    """No run has the given id."""


class ExperimentNotFoundError(TrackbookError, LookupError):
    """No experiment has the given id or name."""


class RunStateError(TrackbookError, RuntimeError):
    """The run is in a state that does not allow the operation (e.g. it has finished)."""


class RunInUseError(RunStateError):
    """Another live process owns the run (one run, one writing process at a time)."""


class ArtifactPathError(TrackbookError, ValueError):
    """An artifact path is absolute or escapes the run's artifact folder."""


class SqlNotAllowedError(TrackbookError, PermissionError):
    """``tb.sql`` refused a statement or file access that its read-only sandbox forbids
    (pass ``unsafe=True`` for full DuckDB)."""


class StoreError(TrackbookError, OSError):
    """The store on disk is unreadable, locked for too long, or from a newer version."""


class TagNotFoundError(TrackbookError, LookupError):
    """A tag to delete does not exist (MLflow raises here too)."""


class UnsupportedFeatureError(TrackbookError, NotImplementedError):
    """An MLflow function, method or argument trackbook does not provide; the message
    names it and says why (the README's "Use it as MLflow" section lists them all)."""
