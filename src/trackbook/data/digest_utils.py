"""Dataset digests: MLflow's 8-hex-digit fingerprints, value for value.

A digest is the first 8 hex digits of an MD5 over a few parts of the data, so the same
DataFrame or array gets the same digest in MLflow and in trackbook (checked against
MLflow 3.17 in ``tests/unit/test_datasets.py``). Only the first ``MAX_ROWS`` rows (or
array elements) are hashed; the full length and shape always are.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

MAX_ROWS = 10000


def md5_digest(parts: Iterable[Any]) -> str:
    """The first 8 hex digits of the MD5 of ``parts`` (bytes-like objects, in order)."""
    md5 = hashlib.md5(usedforsecurity=False)
    fed = False
    for part in parts:
        md5.update(part)
        fed = True
    if not fed:
        from ._errors import DatasetError

        raise DatasetError("a digest needs at least one part of the data; got none")
    return md5.hexdigest()[:8]


def compute_pandas_digest(df: Any) -> str:
    """Digest of a pandas DataFrame.

    The hashed part is the first rows of its numeric columns and of the columns whose every
    value is a ``str`` (other columns, e.g. lists or dates, are left out, as MLflow does),
    then the number of rows and every column name.
    """
    import numpy as np
    import pandas as pd

    head = df.head(MAX_ROWS)
    numeric = head.select_dtypes(include=[np.number]).columns
    # A column counts as text when every value of the whole frame (not only the head) is
    # exactly a str: MLflow's rule, kept so the digests agree.
    numeric_at = set(head.columns.get_indexer_for(numeric).tolist())
    is_text = np.array([i not in numeric_at and bool(df.iloc[:, i].map(type).eq(str).all())
                        for i in range(df.shape[1])], dtype=bool)
    keep = head.columns[is_text].union(numeric)
    parts: list[Any] = [pd.util.hash_pandas_object(head[keep]).values, np.int64(len(df))]
    parts.extend(str(c).encode() for c in df.columns)
    return md5_digest(parts)


def compute_numpy_digest(features: Any, targets: Any = None) -> str:
    """Digest of numpy features (an array or a dict of arrays) and optional targets:
    the first ``MAX_ROWS`` elements of each flattened array (dict entries in key order)
    and every dimension of its shape."""
    import numpy as np
    import pandas as pd

    parts: list[Any] = []

    def add(array: Any) -> None:
        head = array.flatten()[:MAX_ROWS]
        try:
            parts.append(pd.util.hash_array(head))
        except TypeError:  # values pandas cannot hash (objects): their count stands in
            parts.append(np.int64(head.size))
        parts.extend(np.int64(d) for d in array.shape)

    for item in (features, targets):
        if item is None:
            continue
        if isinstance(item, dict):
            for key in sorted(item):
                add(item[key])
        else:
            add(item)
    return md5_digest(parts)


def compute_polars_digest(df: Any) -> str:
    """Digest of a polars DataFrame: the sum of its row hashes, as MLflow computes it
    (so it depends on the polars version, as it does in MLflow)."""
    return str(df.hash_rows().sum())
