"""The hash MLflow's ``EvaluationDataset`` gives the evaluation data (``mlflow.datasets``).

An MD5 over the row count and the first and last 5 rows of the features, then of the
labels and of the static predictions, then the comma-joined feature names; each block
hashed with pandas' ``hash_array`` / ``hash_pandas_object`` packed as big-endian uint64.
Not the dataset's digest (that is ``trackbook.data``'s): MLflow keeps both.
"""

from __future__ import annotations

import hashlib
import struct
from typing import Any

_SAMPLE_ROWS = 5  # rows hashed at each end of a longer table


def evaluation_hash(features: Any, labels: Any, predictions: Any,
                    feature_names: list[str]) -> str:
    """The 32-hex-digit hash of evaluation data: ``features`` a DataFrame or 2-D array,
    ``labels``/``predictions`` arrays or None."""
    md5 = hashlib.md5(usedforsecurity=False)
    for part in (features, labels, predictions):
        if part is not None:
            _update(md5, part)
    md5.update(",".join(map(str, feature_names)).encode("utf-8"))
    return md5.hexdigest()


def split_hash(split: Any) -> str:
    """:func:`evaluation_hash` of ``evaluate``'s split data (``_inputs.EvalData``)."""
    import numpy as np

    source = split.source
    if isinstance(source, (np.ndarray, list)):  # MLflow hashes the array, not a frame
        features: Any = np.asarray(source)
        names = list(split.features.columns)
    else:
        features = split.features
        names = [c if isinstance(c, str) else f"feature_{c}" for c in features.columns]
    return evaluation_hash(features, split.labels, split.predictions, names)


def _update(md5: Any, data: Any) -> None:
    import numpy as np
    import pandas as pd

    md5.update(_u64(np.array([len(data)], dtype="uint64")))
    if len(data) < 2 * _SAMPLE_ROWS:
        md5.update(_table_bytes(data))
        return
    if isinstance(data, pd.DataFrame):
        head, tail = data.iloc[:_SAMPLE_ROWS], data.iloc[-_SAMPLE_ROWS:]
    else:
        head, tail = data[:_SAMPLE_ROWS], data[-_SAMPLE_ROWS:]
    md5.update(_table_bytes(head))
    md5.update(_table_bytes(tail))


def _u64(array: Any) -> bytes:
    return struct.pack(f">{array.size}Q", *array)


def _table_bytes(data: Any) -> bytes:
    import numpy as np
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        return _u64(pd.util.hash_pandas_object(data.map(_cell)).to_numpy())
    if isinstance(data, np.ndarray) and len(data) and isinstance(data[0], list):
        return _array_bytes(np.array([str(row) for row in data]))
    if isinstance(data, np.ndarray) and any(isinstance(row, np.ndarray) for row in data):
        try:
            return _array_bytes(np.array(data.tolist()))
        except ValueError:  # ragged rows: each row with its size
            return b"".join(_value_bytes(row) + _u64(np.array([np.size(row)], dtype="uint64"))
                            for row in data)
    return _array_bytes(np.asarray(data))


def _cell(value: Any) -> Any:
    """A DataFrame cell as MLflow hashes it: containers by their own bytes, unhashable
    objects as empty bytes, anything else as itself."""
    import numpy as np
    import pandas as pd

    if isinstance(value, (dict, list, np.ndarray)):
        return _value_bytes(value)
    try:
        pd.util.hash_array(np.array([value]))
    except TypeError:
        return b""
    return value


def _has_dict(array: Any) -> bool:
    import numpy as np

    if (isinstance(array, list) and not array) or (isinstance(array, np.ndarray)
                                                   and array.size == 0):
        return False
    first = array.item(0)
    if isinstance(first, (list, np.ndarray)):
        return _has_dict(first)
    return isinstance(first, dict)


def _array_bytes(array: Any) -> bytes:
    import numpy as np
    import pandas as pd

    array = array if isinstance(array, np.ndarray) else np.array(array)
    if _has_dict(array):
        return _dict_array_bytes(array)
    return (_u64(pd.util.hash_array(array.flatten(order="C")))
            + _u64(np.array(array.shape, dtype="uint64")))


def _dict_array_bytes(items: Any) -> bytes:
    """An array holding dicts (chat payloads), element by element."""
    import numpy as np

    return b"".join(_dict_array_bytes(e) if isinstance(e, (list, np.ndarray))
                    else _dict_bytes(e) if isinstance(e, dict) else _value_bytes(e)
                    for e in items)


def _dict_bytes(d: dict[Any, Any]) -> bytes:
    out = _array_bytes(list(d))
    try:
        return out + _array_bytes(list(d.values()))
    except Exception:  # values that do not hash as one array: one by one
        return out + b"".join(_value_bytes(v) for v in d.values())


def _value_bytes(value: Any) -> bytes:
    import numpy as np
    import pandas as pd

    try:
        if isinstance(value, (list, np.ndarray)):
            return _array_bytes(value)
        if isinstance(value, dict):
            return _dict_bytes(value)
        if np.isscalar(value):
            return _u64(pd.util.hash_array(np.array([value])))
    except Exception:  # MLflow hashes what it cannot hash as nothing
        return b""
    return b""
