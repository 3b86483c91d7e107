"""Arrow arrays from Python values, without importing pandas.

``pa.array`` imports pandas on its first call (to recognise pandas objects): ~0.4-0.5 s
on this machine, paid by a training script's first flush or a fresh kernel's first query
for nothing. These builders hand pyarrow numpy buffers instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .._text import storable

if TYPE_CHECKING:
    import pyarrow as pa

_INT32_MAX = 2**31 - 1


def _nulls(values: Sequence[Any]) -> int:
    if isinstance(values, (list, tuple)):
        return values.count(None)  # C speed: most columns have none
    return sum(v is None for v in values)


def _validity(values: Sequence[Any]) -> tuple[Any, int]:
    """(validity bitmap buffer or None, null count) of ``values`` (None = null)."""
    import numpy as np
    import pyarrow as pa

    if not _nulls(values):
        return None, 0
    missing = np.fromiter((v is None for v in values), bool, len(values))
    return pa.py_buffer(np.packbits(~missing, bitorder="little")), int(missing.sum())


def strings(values: Sequence[str | None]) -> pa.Array:
    """A string array (large_string past 2 GiB of text); None becomes null."""
    import numpy as np
    import pyarrow as pa

    validity, nulls = _validity(values)
    if nulls:
        values = ["" if v is None else v for v in values]
    text = "".join(values)
    if text.isascii():  # one encode for all, and characters are bytes
        data = text.encode("ascii")
        lengths = np.fromiter(map(len, values), np.int64, len(values))
    else:
        try:
            words = [v.encode("utf-8") for v in values]
        except UnicodeEncodeError:
            # Lone surrogates: the fold replaces (and reports) them before they get here;
            # this keeps any other caller from failing on one bad string.
            words = [storable(v).encode("utf-8") for v in values]
        data = b"".join(words)
        lengths = np.fromiter(map(len, words), np.int64, len(words))
    offset_type, arrow_type = (np.int32, pa.string()) if len(data) <= _INT32_MAX \
        else (np.int64, pa.large_string())
    offsets = np.zeros(len(values) + 1, offset_type)
    np.cumsum(lengths, out=offsets[1:])
    return pa.Array.from_buffers(arrow_type, len(values),
                                 [validity, pa.py_buffer(offsets), pa.py_buffer(data)],
                                 null_count=nulls)


def repeated(value: str, n: int) -> pa.Array:
    """A string array of ``value`` ``n`` times, built without a Python loop."""
    import numpy as np
    import pyarrow as pa

    word = storable(value).encode("utf-8")
    if len(word) * n > _INT32_MAX:
        return strings([value] * n)
    offsets = np.arange(n + 1, dtype=np.int32) * np.int32(len(word))
    return pa.Array.from_buffers(pa.string(), n,
                                 [None, pa.py_buffer(offsets), pa.py_buffer(word * n)])


def numbers(values: Sequence[float | int | None], arrow_type: pa.DataType) -> pa.Array:
    """An int64/int32/float64 array from Python numbers; None becomes null."""
    import numpy as np
    import pyarrow as pa

    np_type = {pa.int64(): np.int64, pa.int32(): np.int32, pa.float64(): np.float64}.get(
        arrow_type)
    if np_type is None:
        raise TypeError(f"numbers() builds int32, int64 or float64 arrays, not {arrow_type}")
    validity, nulls = _validity(values)
    data = np.fromiter((0 if v is None else v for v in values) if nulls else values,
                       np_type, len(values))
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
