"""Checks on every id, key and path read from a foreign (MLflow) store.

An MLflow store is input like any other: its run ids become folder names, its artifact
paths become file names, its keys become records. Each check returns ``None`` when the
value is fine, else a sentence saying what is wrong and what is allowed; the importer then
skips the item and lists it in the summary. Nothing here touches the disk.
"""

from __future__ import annotations

import re
from typing import Any

from .._text import first_surrogate

# MLflow 3.17's own formats (mlflow/utils/validation.py: _RUN_ID_REGEX, _EXPERIMENT_ID_REGEX),
# taken whole-string and ASCII-only: MLflow generates 32 hex digits (runs), integers
# (experiments) and "m-" + 32 hex digits (logged models), so nothing it writes is refused,
# while an id that is also a valid folder name everywhere (and for `trackbook gc`) is kept.
RUN_ID = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_\-]{0,255}")
EXPERIMENT_ID = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_\-]{0,63}")
RUN_ID_RULE = "1-256 ASCII letters, digits, '_' or '-', starting with a letter or digit"
EXPERIMENT_ID_RULE = "1-64 ASCII letters, digits, '_' or '-', starting with a letter or digit"
# MLflow's logged model names (mlflow/utils/validation.py: _validate_logged_model_name).
_LOGGED_MODEL_BAD = ("/", ":", ".", "%", '"', "'", "\\")
MAX_LOGGED_MODEL_NAME = 256


def shown(value: Any, limit: int = 80) -> str:
    """``repr`` of ``value`` cut to ``limit`` characters (ids may be megabytes long)."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def has_surrogates(text: str) -> bool:
    """Whether ``text`` holds lone surrogates (undecodable bytes kept by surrogateescape)."""
    return first_surrogate(text) is not None


def run_id_problem(run_id: Any) -> str | None:
    """Why ``run_id`` may not name a run folder, or None."""
    if not isinstance(run_id, str) or RUN_ID.fullmatch(run_id) is None:
        return f"its run id {shown(run_id)} is not an MLflow run id ({RUN_ID_RULE})"
    return None


def experiment_id_problem(experiment_id: Any) -> str | None:
    """Why ``experiment_id`` may not name an experiment file, or None."""
    if not isinstance(experiment_id, str) or EXPERIMENT_ID.fullmatch(experiment_id) is None:
        return (f"its experiment id {shown(experiment_id)} is not an MLflow experiment id "
                f"({EXPERIMENT_ID_RULE})")
    return None


def key_problem(kind: str, key: Any) -> str | None:
    """Why ``key`` may not be a metric/param/tag key (trackbook's own rule), or None."""
    from .._errors import InvalidNameError
    from ..tracking.validation import check_name

    if isinstance(key, str) and has_surrogates(key):
        return f"{kind} key {shown(key)} is not valid UTF-8"
    try:
        check_name(kind, key)
    except InvalidNameError as exc:
        return str(exc)
    return None


def text_problem(what: str, value: Any) -> str | None:
    """Why ``value`` may not be stored as text (not a string, or not valid UTF-8), or None."""
    if value is None:
        return None
    if not isinstance(value, str):
        return f"{what} {shown(value)} is not text"
    if has_surrogates(value):
        return f"{what} {shown(value)} is not valid UTF-8"
    return None


def relpath_problem(path: Any) -> str | None:
    """Why ``path`` may not be a path inside an artifact folder, or None: it must be
    relative, without ``..`` or empty parts, NUL or backslashes."""
    if not isinstance(path, str) or not path:
        return f"artifact path {shown(path)} is empty or not text"
    if "\x00" in path or "\\" in path or has_surrogates(path):
        return f"artifact path {shown(path)} contains NUL, a backslash or invalid UTF-8"
    if path.startswith("/") or (len(path) > 1 and path[1] == ":"):
        return f"artifact path {shown(path)} is absolute; it must be relative to the run"
    parts = path.split("/")
    if any(p in ("", ".", "..") for p in parts):
        return f"artifact path {shown(path)} has '..', '.' or empty parts; it must stay " \
               "inside the run's artifacts"
    return None


def logged_model_name_problem(name: Any) -> str | None:
    """Why ``name`` may not be a logged model's folder name (MLflow's rule), or None."""
    if (not isinstance(name, str) or not name or len(name) > MAX_LOGGED_MODEL_NAME
            or any(c in name for c in _LOGGED_MODEL_BAD) or not name.isprintable()
            or has_surrogates(name)):
        return (f"its name {shown(name)} is not an MLflow logged model name (1-"
                f"{MAX_LOGGED_MODEL_NAME} printable characters without "
                f"{' '.join(_LOGGED_MODEL_BAD)})")
    return None
