"""The scoring protocol: every accepted JSON shape and CSV, and what bad bodies are told."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from trackbook.models import ColSpec, Schema, TensorSpec
from trackbook.models._errors import PayloadError
from trackbook.models.payload import (
    jsonable,
    parse_csv,
    parse_json_payload,
    predictions_json,
    table_rows,
)

COLS = Schema([ColSpec("double", "a"), ColSpec("long", "n")])
EXPECTED = pd.DataFrame({"a": [0.5, 1.5], "n": [1, 2]})


@pytest.mark.parametrize("body", [
    {"dataframe_split": {"columns": ["a", "n"], "data": [[0.5, 1], [1.5, 2]]}},
    {"dataframe_records": [{"a": 0.5, "n": 1}, {"a": 1.5, "n": 2}]},
    {"instances": [{"a": 0.5, "n": 1}, {"a": 1.5, "n": 2}]},
    {"inputs": {"a": [0.5, 1.5], "n": [1, 2]}},
    {"instances": [[0.5, 1], [1.5, 2]]},
])
def test_every_json_format_gives_the_same_frame(body: dict) -> None:
    data, params = parse_json_payload(json.dumps(body), COLS)
    pd.testing.assert_frame_equal(data.reset_index(drop=True), EXPECTED, check_dtype=False)
    assert params is None


def test_tensor_inputs_and_params() -> None:
    schema = Schema([TensorSpec("float64", (-1, 2))])
    data, params = parse_json_payload(b'{"inputs": [[1, 2], [3, 4]], "params": {"k": 2}}',
                                      schema)
    assert isinstance(data, np.ndarray)
    assert data.shape == (2, 2)
    assert params == {"k": 2}


@pytest.mark.parametrize(("body", "message"), [
    (b"{not json", "not valid JSON"),
    (b"[1, 2]", "must be an object with one of the keys"),
    (b'{"data": [[1]]}', r"exactly one of the keys .*it has \['data'\]"),
    (b'{"inputs": [1], "instances": [1]}', "exactly one of the keys"),
    (b'{"dataframe_split": {"columns": ["a", "n"], "data": [[1, 2], [3]]}}',
     "row 1 has 1 values; expected 2"),
    (b'{"dataframe_split": [1, 2]}', "dataframe_split must be an object"),
    (b'{"dataframe_records": [1, 2]}', "dataframe_records must be a list of objects"),
    (b'{"inputs": 5}', "inputs must be a list of rows or an object of columns"),
    (b'{"inputs": {"a": [1, 2], "n": [1]}}', "columns must all have the same length"),
    (b'{"inputs": [1], "params": [1]}', "'params' must be a JSON object"),
])
def test_bad_bodies_are_explained(body: bytes, message: str) -> None:
    with pytest.raises(PayloadError, match=message):
        parse_json_payload(body, COLS)


def test_csv() -> None:
    pd.testing.assert_frame_equal(parse_csv(b"a,n\n0.5,1\n1.5,2\n"), EXPECTED)
    with pytest.raises(PayloadError, match="not valid CSV"):
        parse_csv(b'a,n\n"unterminated,1\n')
    with pytest.raises(PayloadError, match="not valid CSV"):
        parse_csv(b"")


def test_table_rows_only_for_plain_tables() -> None:
    assert table_rows({"dataframe_split": {"columns": ["a"], "data": [[1]]}}) == (["a"], [[1]])
    assert table_rows({"dataframe_records": [{"a": 1}]}) == (["a"], [[1]])
    assert table_rows({"dataframe_split": {"columns": ["a"], "data": [[1]]},
                       "params": {"k": 1}}) is None
    assert table_rows({"inputs": [[1]]}) is None  # rows without names: the model decides
    assert table_rows({"inputs": [{"a": 1}]}) == (["a"], [[1]])


@pytest.mark.parametrize(("doc", "want"), [
    ({"inputs": [[0.5, 1], [1.5, 2]]}, (["a", "n"], [[0.5, 1], [1.5, 2]])),
    ({"instances": [[0.5, 1]]}, (["a", "n"], [[0.5, 1]])),
    ({"inputs": [0.5, 1]}, (["a", "n"], [[0.5, 1]])),                    # one flat row
    ({"inputs": {"n": [1, 2], "a": [0.5, 1.5]}}, (["n", "a"], [[1, 0.5], [2, 1.5]])),
    ({"inputs": {"a": 0.5, "n": 1}}, (["a", "n"], [[0.5, 1]])),
    ({"inputs": [[0.5, 1], [1.5]]}, None),                               # ragged
    ({"inputs": [0.5, 1, 2]}, None),                                     # wrong width
    ({"inputs": {"a": ["x"], "n": [1]}}, None),                          # not numbers
    ({"inputs": {"a": [0.5, 1.5], "n": [1]}}, None),                     # unequal columns
    ({"dataframe_records": [[0.5, 1]]}, None),
])
def test_table_rows_by_position_follow_parse_input(doc: dict, want: object) -> None:
    """With the model's column names, rows given by position are a table too, read as
    parse_json_payload reads them."""
    assert table_rows(doc, ["a", "n"]) == want
    if want is not None:
        columns, rows = want
        frame = pd.DataFrame(rows, columns=columns)[["a", "n"]]
        data, _ = parse_json_payload(json.dumps(doc), COLS)
        pd.testing.assert_frame_equal(data[["a", "n"]], frame, check_dtype=False)


def test_predictions_become_plain_json() -> None:
    preds = pd.DataFrame({"p": [0.5, np.nan], "t": pd.to_datetime(["2024-01-01", None])})
    assert jsonable(preds) == [{"p": 0.5, "t": "2024-01-01T00:00:00"}, {"p": None, "t": None}]
    assert json.loads(predictions_json(np.array([[1, 2]]))) == {"predictions": [[1, 2]]}
    assert jsonable({"b": b"\x00\x01", "f": np.float32(1.5)}) == {"b": "AAE=", "f": 1.5}
