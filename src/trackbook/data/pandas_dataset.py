"""Datasets over pandas DataFrames (MLflow's ``PandasDataset``)."""

from __future__ import annotations

import json
import logging
from functools import cached_property
from typing import Any

from ._errors import DatasetError
from .dataset import Dataset, resolve_source
from .dataset_source import DatasetSource
from .digest_utils import compute_pandas_digest

log = logging.getLogger(__name__)


def _check_column(df: Any, column: str | None, what: str) -> None:
    if column is not None and column not in df.columns:
        raise DatasetError(f"the DataFrame has no {what} column {column!r}; its columns are "
                           f"{list(df.columns)[:20]!r}")


class PandasDataset(Dataset):
    """A pandas DataFrame with optional ``targets`` and ``predictions`` column names."""

    def __init__(self, df: Any, source: DatasetSource, targets: str | None = None,
                 name: str | None = None, digest: str | None = None,
                 predictions: str | None = None) -> None:
        _check_column(df, targets, "targets")
        _check_column(df, predictions, "predictions")
        self._df = df
        self._targets = targets
        self._predictions = predictions
        super().__init__(source=source, name=name, digest=digest)

    def _compute_digest(self) -> str:
        return compute_pandas_digest(self._df)

    @property
    def df(self) -> Any:
        return self._df

    @property
    def targets(self) -> str | None:
        return self._targets

    @property
    def predictions(self) -> str | None:
        return self._predictions

    @property
    def profile(self) -> dict[str, int]:
        return {"num_rows": len(self._df), "num_elements": int(self._df.size)}

    @cached_property
    def _colspecs(self) -> list[dict[str, Any]] | None:
        from .schema import pandas_colspecs

        try:
            return pandas_colspecs(self._df)
        except Exception as exc:  # MLflow records no schema rather than fail
            log.debug("no schema for the pandas dataset %s: %s", self.name, exc)
            return None

    @property
    def schema(self) -> Any:
        """A :class:`trackbook.models.Schema` of the columns, or None (mixed-type columns)."""
        if self._colspecs is None:
            return None
        from ..models.schema import Schema

        return Schema.from_json([dict(s, name=str(s["name"])) for s in self._colspecs])

    def _schema_json(self) -> str | None:
        if self._colspecs is None:
            return None
        return json.dumps({"mlflow_colspec": self._colspecs}, default=str)


def from_pandas(df: Any, source: str | DatasetSource | None = None, targets: str | None = None,
                name: str | None = None, digest: str | None = None,
                predictions: str | None = None) -> PandasDataset:
    """A :class:`PandasDataset` for ``log_input``.

    Parameters
    ----------
    df
        The pandas DataFrame.
    source
        Where it came from: a path, a ``file:``/``http(s)://``/``s3://``... URI or a
        DatasetSource; None records the calling code (user, script) as the source.
    targets, predictions
        Names of the target and prediction columns (must be columns of ``df``).
    name
        The dataset's name (default ``"dataset"``).
    digest
        Its fingerprint; computed from the data as MLflow does when None.

    Returns
    -------
    PandasDataset
    """
    return PandasDataset(df, resolve_source(source), targets=targets, name=name, digest=digest,
                         predictions=predictions)
