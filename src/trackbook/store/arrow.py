"""Arrow arrays from Python values, without importing pandas.

``pa.array`` imports pandas on its first call (to recognise pandas objects): ~0.4-0.5 s
on this machine, paid by a training script's first flush or a fresh kernel's first query
for nothing. These builders hand pyarrow numpy buffers instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

_INT32_MAX = 2**31 - 1


def _validity(values: Sequence[Any]) -> tuple[Any, int]:
    """(validity bitmap buffer or None, null count) of ``values`` (None = null)."""
    import numpy as np
    import pyarrow as pa

    missing = np.fromiter((v is None for v in values), bool, len(values))
    nulls = int(missing.sum())
    if not nulls:
        return None, 0
    return pa.py_buffer(np.packbits(~missing, bitorder="little")), nulls


def strings(values: Sequence[str | None]) -> pa.Array:
    """A string array (large_string past 2 GiB of text); None becomes null."""
    import numpy as np
    import pyarrow as pa

    words = [b"" if v is None else v.encode("utf-8") for v in values]
    lengths = np.fromiter((len(w) for w in words), np.int64, len(words))
    total = int(lengths.sum())
    offset_type, arrow_type = (np.int32, pa.string()) if total <= _INT32_MAX \
        else (np.int64, pa.large_string())
    offsets = np.zeros(len(words) + 1, offset_type)
    np.cumsum(lengths, out=offsets[1:])
    validity, nulls = _validity(values)
    return pa.Array.from_buffers(arrow_type, len(words),
                                 [validity, pa.py_buffer(offsets), pa.py_buffer(b"".join(words))],
                                 null_count=nulls)


def numbers(values: Sequence[float | int | None], arrow_type: pa.DataType) -> pa.Array:
    """An int64/int32/float64 array from Python numbers; None becomes null."""
    import numpy as np
    import pyarrow as pa

    np_type = {pa.int64(): np.int64, pa.int32(): np.int32, pa.float64(): np.float64}.get(
        arrow_type)
    if np_type is None:
        raise TypeError(f"numbers() builds int32, int64 or float64 arrays, not {arrow_type}")
    data = np.fromiter((0 if v is None else v for v in values), np_type, len(values))
    validity, nulls = _validity(values)
    return pa.Array.from_buffers(arrow_type, len(values), [validity, pa.py_buffer(data)],
                                 null_count=nulls)


def from_numpy(arrow_type: pa.DataType, array: Any) -> pa.Array:
    """A null-free Arrow array sharing a contiguous numpy array's buffer."""
    import pyarrow as pa

    return pa.Array.from_buffers(arrow_type, len(array), [None, pa.py_buffer(array)])


def column(values: Sequence[Any], arrow_type: pa.DataType) -> pa.Array:
    """:func:`strings` or :func:`numbers`, by ``arrow_type``."""
    import pyarrow as pa

    if arrow_type in (pa.string(), pa.large_string()):
        return strings(values)
    return numbers(values, arrow_type)


def to_numpy(array: pa.Array | pa.ChunkedArray) -> Any:
    """A read-only numpy view of a null-free int32/int64/float32/float64 array.

    ``Array.to_numpy`` imports pandas too; this reads the data buffer directly.
    """
    import numpy as np
    import pyarrow as pa

    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    dtype = {pa.int32(): np.int32, pa.int64(): np.int64, pa.float32(): np.float32,
             pa.float64(): np.float64}.get(array.type)
    if dtype is None or array.null_count:
        raise TypeError(f"to_numpy() reads null-free int32/int64/float32/float64 arrays, "
                        f"not {array.type} with {array.null_count} nulls")
    size = np.dtype(dtype).itemsize
    return np.frombuffer(array.buffers()[1], dtype, len(array), array.offset * size)
