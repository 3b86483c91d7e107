"""``log_table`` / ``load_table``: tables as run artifacts, in MLflow's formats.

A ``.json`` table is pandas' ``orient="split"`` without the index
(``{"columns": [...], "data": [[...], ...]}``); a ``.parquet`` table is Parquet. Logging to
an existing table file appends rows. Each run lists its tables in the tag
``mlflow.loggedArtifacts`` (a JSON list of ``{"path": ..., "type": "table"}``), which is
how ``load_table`` finds them, as in MLflow.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .._errors import ArtifactPathError, InvalidValueError, RunNotFoundError, TrackbookError
from ..store import artifacts as _artifacts

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)
LOGGED_ARTIFACTS_TAG = "mlflow.loggedArtifacts"


class TableColumnError(TrackbookError, KeyError):
    """``load_table(extra_columns=...)`` named a column the runs do not have (MLflow
    raises ``KeyError`` here)."""


def _check_file(artifact_file: Any) -> str:
    if not isinstance(artifact_file, str) or not artifact_file.endswith((".json", ".parquet")):
        raise InvalidValueError(
            f"invalid table file {artifact_file!r}: a table is logged as a file named "
            "'.json' or '.parquet'")
    _artifacts.safe_relpath(artifact_file)
    return artifact_file


def _frame(data: Any) -> pd.DataFrame:
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        frame = data.copy()
    elif isinstance(data, dict):
        try:
            frame = pd.DataFrame(data)
        except ValueError:  # all scalars: one row, as MLflow
            frame = pd.DataFrame([data])
    else:
        raise InvalidValueError(f"data must be a pandas.DataFrame or a dictionary, got "
                                f"{type(data).__name__}")
    for column in frame.columns:
        if frame[column].map(lambda x: hasattr(x, "save") and hasattr(x, "resize")).any():
            raise InvalidValueError(
                f"column {column!r} holds images; image columns in tables are not supported "
                "(log the images with log_image and put their paths in the table)")
    return frame


def read(path: Any, artifact_file: str) -> pd.DataFrame:
    import pandas as pd

    if artifact_file.endswith(".json"):
        return pd.read_json(path, orient="split")
    return pd.read_parquet(path)


def _encode(frame: pd.DataFrame, artifact_file: str) -> bytes:
    if artifact_file.endswith(".json"):
        try:
            return frame.to_json(orient="split", index=False, date_format="iso").encode()
        except (TypeError, ValueError, OverflowError) as exc:
            raise InvalidValueError(f"the table cannot be saved as JSON: {exc}") from None
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)
    return buf.getvalue()


def log_table(client: Any, run_id: str, data: Any, artifact_file: str) -> None:
    """Write (or append to) the table ``artifact_file`` of run ``run_id``."""
    import pandas as pd

    _check_file(artifact_file)
    frame = _frame(data)
    root = client._artifact_root(run_id)
    target = _artifacts.resolve(root, artifact_file)
    if target.is_file():
        frame = pd.concat([read(target, artifact_file), frame], ignore_index=True)
    _artifacts.put_bytes(root, artifact_file, _encode(frame, artifact_file))
    entries = _listed(client.get_run(run_id).data.tags)
    entry = {"path": artifact_file, "type": "table"}
    if entry not in entries:
        client.set_tag(run_id, LOGGED_ARTIFACTS_TAG, json.dumps([*entries, entry]))


def _listed(tags: dict[str, str]) -> list[dict[str, Any]]:
    try:
        entries = json.loads(tags.get(LOGGED_ARTIFACTS_TAG) or "[]")
    except json.JSONDecodeError:
        return []
    return entries if isinstance(entries, list) else []


def load_table(client: Any, experiment_id: str, artifact_file: str,
               run_ids: Sequence[str] | None = None,
               extra_columns: Sequence[str] | None = None) -> pd.DataFrame:
    """The table ``artifact_file`` of every run of ``experiment_id`` that logged it (or of
    ``run_ids``), concatenated in search order (newest run first)."""
    import pandas as pd

    from . import query

    _check_file(artifact_file)
    client.store.session.flush_all()
    runs = query.search_frame(client.store, [str(experiment_id)], "", 1, None, None)
    entry = {"path": artifact_file, "type": "table"}
    wanted = set(run_ids) if run_ids else None
    tag_col = f"tags.{LOGGED_ARTIFACTS_TAG}"
    rows = [row for _, row in runs.iterrows()
            if (wanted is None or row["run_id"] in wanted) and tag_col in runs.columns
            and isinstance(row[tag_col], str) and entry in _listed({LOGGED_ARTIFACTS_TAG:
                                                                   row[tag_col]})]
    if run_ids and len(rows) != len(set(run_ids)):
        log.warning("Not all runs have the specified table artifact. Some runs will be "
                    "skipped.")
    if not rows:
        raise RunNotFoundError(f"no run of experiment {experiment_id!r} has the table "
                               f"{artifact_file!r} (MLflow: No runs found with the "
                               "corresponding table artifact.)")
    frames = []
    for row in rows:
        target = _artifacts.resolve(client._artifact_root(row["run_id"]), artifact_file)
        if not target.is_file():
            raise ArtifactPathError(f"artifact {artifact_file} not found for run "
                                    f"{row['run_id']}")
        frame = read(target, artifact_file)
        for column in extra_columns or ():
            if column not in row.index:
                raise TableColumnError(f"extra column {column!r} is not a search_runs column "
                                       "(e.g. run_id, experiment_id, tags.<key>, params.<key>)")
            name = f"{column}_" if column in frame.columns else column
            if name != column:
                log.warning("Column name %s already exists in the table. Resolving the "
                            "conflict, by appending an underscore to the column name.", column)
            frame[name] = row[column]
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


__all__ = ["LOGGED_ARTIFACTS_TAG", "TableColumnError", "load_table", "log_table", "read"]
