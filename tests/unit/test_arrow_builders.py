"""store/arrow.py builds Arrow arrays from Python values without pandas: the same arrays
``pa.array`` builds (nulls, non-ASCII text, empty input, every number type)."""

from __future__ import annotations

import pyarrow as pa
import pytest

from trackbook.store.arrow import column, numbers, strings, to_numpy


@pytest.mark.parametrize("values", [
    [], ["a"], ["", "b", ""], ["run-1", None, "x" * 1000, None],
    ["héllo", "日本", None, "plain"], [None, None], ("t", "u"),
])
def test_strings_equal_pa_array(values: list[str | None]) -> None:
    got = strings(values)
    assert got.validate(full=True) is None
    assert got.equals(pa.array(list(values), pa.string()))
    assert got.null_count == sum(v is None for v in values)


@pytest.mark.parametrize(("values", "arrow_type"), [
    ([], pa.int64()), ([1, 2, 3], pa.int64()), ([1, None, -5], pa.int64()),
    ([2**40, None], pa.int64()), ([7, 8], pa.int32()), ([None], pa.int32()),
    ([0.5, float("nan"), None, -1e300], pa.float64()), ((1.0, 2), pa.float64()),
])
def test_numbers_equal_pa_array(values: list[float | None], arrow_type: pa.DataType) -> None:
    got = numbers(values, arrow_type)
    assert got.validate(full=True) is None
    want = pa.array(list(values), arrow_type)
    if arrow_type == pa.float64():  # NaN != NaN: compare values, NaN-aware
        assert got.to_pylist() == pytest.approx(want.to_pylist(), nan_ok=True)
    else:
        assert got.equals(want)


def test_column_dispatches_and_to_numpy_reads_back() -> None:
    assert column(["a", None], pa.string()).to_pylist() == ["a", None]
    assert to_numpy(column([3, 4], pa.int64())).tolist() == [3, 4]
    with pytest.raises(TypeError, match="int32, int64 or float64"):
        numbers([1], pa.int8())
    with pytest.raises(TypeError, match="null-free"):
        to_numpy(numbers([1, None], pa.int64()))


@pytest.mark.parametrize(("value", "n"), [("run-1", 0), ("abc", 1), ("é-run", 5)])
def test_repeated_equals_a_list(value: str, n: int) -> None:
    from trackbook.store.arrow import repeated

    got = repeated(value, n)
    assert got.validate(full=True) is None
    assert got.equals(pa.array([value] * n, pa.string()))
