"""Batch scoring: a model's predictions for a DataFrame or a Parquet file, chunk by chunk.

>>> scored = tb.models.score_batch("runs:/<run_id>/model", df)           # a DataFrame
>>> tb.models.score_batch(uri, "big.parquet", output_path="scored.parquet", batch_size=50_000)

Predictions are appended as ``prediction`` (one output per row), ``prediction_0``,
``prediction_1``, ... (several per row) or under the model's own output column names (a
DataFrame output). A Parquet input is streamed in ``batch_size`` row batches, so files larger
than memory can be scored; the output is written as each batch is done.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ._errors import ModelError
from .loading import PyFuncModel, load_model


def _prediction_frame(predictions: Any, n: int, column: str, index: Any) -> Any:
    import numpy as np
    import pandas as pd

    if isinstance(predictions, pd.DataFrame):
        out = predictions.reset_index(drop=True)
    elif isinstance(predictions, pd.Series):
        out = pd.DataFrame({column: predictions.to_numpy()})
    else:
        arr = np.asarray(predictions)
        if arr.ndim == 1:
            out = pd.DataFrame({column: arr})
        elif arr.ndim == 2:
            out = pd.DataFrame(arr, columns=[f"{column}_{i}" for i in range(arr.shape[1])])
        else:
            out = pd.DataFrame({column: list(arr)})
    if len(out) != n:
        raise ModelError(f"the model returned {len(out)} predictions for {n} rows; batch "
                         "scoring needs one prediction per row")
    out.index = index
    return out


def _score(model: PyFuncModel, frame: Any, column: str) -> Any:
    import pandas as pd

    preds = _prediction_frame(model.predict(frame), len(frame), column, frame.index)
    clash = sorted(set(preds.columns) & set(frame.columns))
    if clash:
        raise ModelError(f"prediction column(s) {clash} already exist in the input; pass "
                         "prediction_column='...' with another name")
    return pd.concat([frame, preds], axis=1)


def _batches(path: Path, batch_size: int) -> Iterator[Any]:
    import pyarrow.parquet as pq

    with pq.ParquetFile(path) as f:
        for batch in f.iter_batches(batch_size=batch_size):
            yield batch.to_pandas()


def score_batch(model: str | os.PathLike[str] | PyFuncModel, data: Any, *,
                output_path: str | os.PathLike[str] | None = None, batch_size: int = 100_000,
                prediction_column: str = "prediction") -> Any:
    """Score a DataFrame or a Parquet file.

    Parameters
    ----------
    model
        A model URI/path or a loaded model.
    data
        A pandas DataFrame, or the path of a Parquet file.
    output_path
        Write the scored rows to this Parquet file (and return its path) instead of
        returning a DataFrame.
    batch_size
        Rows per ``predict`` call.
    prediction_column
        Name (or prefix) of the prediction column(s).

    Returns
    -------
    pandas.DataFrame or pathlib.Path
        The input rows with predictions, or ``output_path``.
    """
    import pandas as pd

    if batch_size < 1:
        raise ModelError(f"batch_size must be at least 1, got {batch_size}")
    loaded = model if isinstance(model, PyFuncModel) else load_model(model)
    if isinstance(data, pd.DataFrame):
        chunks: Iterator[Any] = (data.iloc[i:i + batch_size]
                                 for i in range(0, max(len(data), 1), batch_size))
    elif isinstance(data, (str, os.PathLike)):
        path = Path(data)
        if not path.is_file():
            raise ModelError(f"no Parquet file at {path}")
        chunks = _batches(path, batch_size)
    else:
        raise ModelError(f"data must be a DataFrame or a Parquet file path, got "
                         f"{type(data).__name__}")
    if output_path is None:
        parts = [_score(loaded, chunk, prediction_column) for chunk in chunks]
        return pd.concat(parts) if parts else data
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ..store import durable

    out = Path(output_path)
    # No half-written output: scored into a temp file, renamed into place when whole.
    with durable.atomic_path(out, what="the scored rows", level=durable.FLUSH) as tmp:
        writer = None
        try:
            for chunk in chunks:
                table = pa.Table.from_pandas(_score(loaded, chunk, prediction_column),
                                             preserve_index=False)
                if writer is None:
                    writer = pq.ParquetWriter(tmp, table.schema, write_page_checksum=True)
                writer.write_table(table)
        finally:
            if writer is not None:
                writer.close()
        if writer is None:
            raise ModelError(f"{data} has no rows to score")
    return out
