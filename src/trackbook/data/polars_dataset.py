"""Datasets over polars DataFrames (MLflow's ``PolarsDataset``)."""

from __future__ import annotations

import json
import logging
from functools import cached_property
from typing import Any

from ._errors import DatasetError
from .dataset import Dataset, resolve_source
from .dataset_source import DatasetSource
from .digest_utils import compute_polars_digest

log = logging.getLogger(__name__)

# polars dtype name -> MLflow column type (the exact and the "close enough" maps of MLflow).
_TYPES = {"Binary": "binary", "Boolean": "boolean", "Datetime": "datetime", "Float32": "float",
          "Float64": "double", "Int8": "integer", "Int16": "integer", "Int32": "integer",
          "Int64": "long", "String": "string", "Utf8": "string", "Categorical": "string",
          "Enum": "string", "Date": "datetime", "UInt8": "integer", "UInt16": "integer",
          "UInt32": "long"}


class PolarsDataset(Dataset):
    """A polars DataFrame with optional ``targets`` and ``predictions`` column names."""

    def __init__(self, df: Any, source: DatasetSource, targets: str | None = None,
                 name: str | None = None, digest: str | None = None,
                 predictions: str | None = None) -> None:
        for column, what in ((targets, "targets"), (predictions, "predictions")):
            if column is not None and column not in df.columns:
                raise DatasetError(f"the DataFrame has no {what} column {column!r}; its "
                                   f"columns are {df.columns[:20]!r}")
        self._df = df
        self._targets = targets
        self._predictions = predictions
        super().__init__(source=source, name=name, digest=digest)

    def _compute_digest(self) -> str:
        return compute_polars_digest(self._df)

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
        return {"num_rows": self._df.height, "num_elements": self._df.height * self._df.width}

    @cached_property
    def _colspecs(self) -> list[dict[str, Any]] | None:
        specs = []
        for name in self._df.columns:
            col = self._df[name]
            kind = _TYPES.get(type(col.dtype).__name__)
            if kind is None:  # lists, structs, decimals...: trackbook records no schema
                log.debug("no schema for the polars dataset %s: column %r is %s",
                          self.name, name, col.dtype)
                return None
            specs.append({"type": kind, "name": name, "required": col.count() > 0})
        return specs

    @property
    def schema(self) -> Any:
        if self._colspecs is None:
            return None
        from ..models.schema import Schema

        return Schema.from_json(self._colspecs)

    def _schema_json(self) -> str:
        # (MLflow writes the JSON null here when there is no schema, unlike pandas)
        return json.dumps({"mlflow_colspec": self._colspecs} if self._colspecs else None)


def from_polars(df: Any, source: str | DatasetSource | None = None,
                targets: str | None = None, name: str | None = None,
                digest: str | None = None, predictions: str | None = None) -> PolarsDataset:
    """A :class:`PolarsDataset` for ``log_input`` (arguments as :func:`from_pandas`)."""
    return PolarsDataset(df, resolve_source(source), targets=targets, name=name,
                         digest=digest, predictions=predictions)
