"""Signatures: inference from pandas/numpy, MLflow's JSON form, enforcement at predict time."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from trackbook.models import (
    ColSpec,
    ModelSignature,
    ParamSchema,
    ParamSpec,
    Schema,
    TensorSpec,
    infer_signature,
)
from trackbook.models import SchemaEnforcementError as SchemaError
from trackbook.models.enforce import enforce_schema


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame({
        "x": [0.5, 1.5], "n": np.array([1, 2], dtype="int64"), "k": np.array([1, 2], "int32"),
        "f": np.array([0.1, 0.2], "float32"), "s": ["a", "b"], "b": [True, False],
        "t": pd.to_datetime(["2024-01-01", "2024-02-01"])})


def test_infer_signature_from_a_dataframe_names_every_column_type(frame: pd.DataFrame) -> None:
    sig = infer_signature(frame, np.array([0, 1]), params={"k": 3, "mode": "fast"})
    assert [(s.name, s.type) for s in sig.inputs] == [
        ("x", "double"), ("n", "long"), ("k", "integer"), ("f", "float"), ("s", "string"),
        ("b", "boolean"), ("t", "datetime")]
    assert sig.outputs.inputs == [TensorSpec("int64", (-1,))]
    assert [(p.name, p.dtype, p.default) for p in sig.params.params] == [
        ("k", "long", 3), ("mode", "string", "fast")]


def test_signature_json_is_mlflows_form() -> None:
    sig = infer_signature(pd.DataFrame({"a": [1.0]}), np.zeros((2, 3), "float32"),
                          params={"top": [1, 2]})
    d = sig.to_dict()
    assert json.loads(d["inputs"]) == [{"type": "double", "name": "a", "required": True}]
    assert json.loads(d["outputs"]) == [
        {"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 3]}}]
    assert json.loads(d["params"]) == [
        {"name": "top", "default": [1, 2], "shape": [-1], "type": "long"}]
    assert ModelSignature.from_dict(d) == sig


def test_infer_from_arrays_dicts_and_records() -> None:
    assert infer_signature(np.ones((4, 2, 3))).inputs.inputs == [
        TensorSpec("float64", (-1, 2, 3))]
    named = infer_signature({"img": np.ones((2, 5), "uint8"), "ids": np.arange(2)}).inputs
    assert [s.name for s in named] == ["img", "ids"]
    records = infer_signature([{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]).inputs
    assert [(s.name, s.type) for s in records] == [("a", "long"), ("b", "string")]


def test_a_column_of_mixed_types_is_refused_with_the_column_name() -> None:
    with pytest.raises(Exception, match="column 'm' holds values of several types"):
        infer_signature(pd.DataFrame({"m": [1, "a"]}))


SCHEMA = Schema([ColSpec("double", "x"), ColSpec("long", "n"), ColSpec("string", "s")])


def test_enforcement_orders_columns_drops_extras_and_converts_safely() -> None:
    given = pd.DataFrame({"extra": [9, 9], "s": ["a", "b"], "n": [1.0, 2.0], "x": [1, 2]})
    out = enforce_schema(given, SCHEMA)
    assert list(out.columns) == ["x", "n", "s"]
    assert out["x"].dtype == np.float64
    assert out["n"].dtype == np.int64


@pytest.mark.parametrize(("given", "message"), [
    ({"x": [1.0], "s": ["a"]}, r"missing column\(s\) 'n' \(long\); the model expects "
                               r"\['x', 'n', 's'\]"),
    ({"x": [1.0], "n": [1.5], "s": ["a"]}, "column 'n': expected long, got float64 values "
                                           "such as 1.5.*whole numbers"),
    ({"x": ["oops"], "n": [1], "s": ["a"]}, "column 'x': expected double, got .* 'oops'"),
    ({"x": [1.0], "n": [1], "s": [3]}, "column 's': expected string, got int64"),
    ({"x": [1.0], "n": [np.nan], "s": ["a"]}, "column 'n'.*missing/infinite value"),
])
def test_enforcement_errors_name_the_column_and_both_types(given: dict, message: str) -> None:
    with pytest.raises(SchemaError, match=message) as info:
        enforce_schema(pd.DataFrame(given), SCHEMA)
    assert info.value.column in ("n", "x", "s")


def test_enforcement_accepts_dicts_records_and_rows() -> None:
    assert enforce_schema({"x": 1.0, "n": 2, "s": "a"}, SCHEMA).shape == (1, 3)
    assert enforce_schema([{"x": 1.0, "n": 2, "s": "a"}], SCHEMA).shape == (1, 3)
    assert enforce_schema([[1.0, 2, "a"], [2.0, 3, "b"]], SCHEMA).shape == (2, 3)
    with pytest.raises(SchemaError, match=r"shape \(1, 2\).*3 column"):
        enforce_schema(np.array([[1.0, 2.0]]), SCHEMA)


def test_tensor_enforcement_checks_dtype_and_shape() -> None:
    schema = Schema([TensorSpec("float32", (-1, 3))])
    assert enforce_schema([[1, 2, 3]], schema).dtype == np.float32  # ints widen, floats narrow
    with pytest.raises(SchemaError, match=r"expected shape \(-1, 3\).*got \(1, 2\)"):
        enforce_schema(np.ones((1, 2)), schema)
    with pytest.raises(SchemaError, match="expected dtype float32, got str32"):
        enforce_schema(np.array([["a", "b", "c"]]), schema)
    ints = Schema([TensorSpec("int64", (-1,))])
    with pytest.raises(SchemaError, match="expected dtype int64, got float64"):
        enforce_schema(np.array([1.5]), ints)


def test_params_are_converted_defaulted_and_checked() -> None:
    ps = ParamSchema([ParamSpec("k", "long", 3), ParamSpec("t", "double", 0.5)])
    assert ps.enforce({"t": 1}) == {"k": 3, "t": 1.0}
    with pytest.raises(SchemaError, match=r"unknown param\(s\) \['z'\]"):
        ps.enforce({"z": 1})
    with pytest.raises(SchemaError, match="param 'k' must be long, got str 'x'"):
        ps.enforce({"k": "x"})
