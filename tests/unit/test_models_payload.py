"""The scoring protocol: every accepted JSON shape and CSV, and what bad bodies are told."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


# -- large and deep bodies ----------------------------------------------------------------

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text(alphabet=st.characters(codec="utf-8"), max_size=8),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(max_size=4), inner, max_size=4),
    max_leaves=30)


@settings(max_examples=300, deadline=None)
@given(_json_values, st.sampled_from([None, 0, 2]), st.booleans())
def test_row_by_row_decoding_is_json_loads(doc, indent, spaced) -> None:
    """The decoder for big bodies gives json.loads's result, and json_depth its depth."""
    from trackbook.models.payload import _decode_shallow, json_depth

    text = json.dumps(doc, indent=indent, separators=(", ", ": ") if spaced else None)
    assert _decode_shallow(text) == json.loads(text)

    def depth(x):
        if isinstance(x, list):
            return 1 + max(map(depth, x), default=0)
        if isinstance(x, dict):
            return 1 + max(map(depth, x.values()), default=0)
        return 0

    assert json_depth(text.encode("utf-8", "surrogatepass")) == depth(doc)


@settings(max_examples=200, deadline=None)
@given(_json_values, st.integers(min_value=0, max_value=60), st.sampled_from("[]{},:\" x"))
def test_row_by_row_decoding_refuses_what_json_loads_refuses(doc, cut, junk) -> None:
    from trackbook.models.payload import _decode_shallow

    text = json.dumps(doc)
    bad = text[:cut % (len(text) + 1)] + junk + text[cut % (len(text) + 1):]
    try:
        want = json.loads(bad)
    except ValueError:
        with pytest.raises(ValueError):
            _decode_shallow(bad)
    else:
        assert _decode_shallow(bad) == want


def test_deep_json_is_a_payload_error_naming_the_limit() -> None:
    from trackbook.models.payload import decode_json

    with pytest.raises(PayloadError, match="100001 levels deep; the limit is 64"):
        decode_json(b'{"inputs": ' + b"[" * 100_000 + b"]" * 100_000 + b"}")
    with pytest.raises(PayloadError, match="3 levels deep; the limit is 2"):
        decode_json(b'{"a": [[1]]}', max_depth=2)
    brackets_in_a_string = b'{"a": "' + b"[" * 100 + b'"}'
    assert decode_json(brackets_in_a_string, max_depth=1) == {"a": "[" * 100}


def test_deep_json_in_a_big_body_is_refused_row_by_row() -> None:
    """Bodies over 1 MiB are decoded row by row; each row's depth is checked on the way."""
    from trackbook.models.payload import SHALLOW_BYTES, decode_json

    rows = b",".join([b"[0.5, 1.5]"] * (SHALLOW_BYTES // 10))
    deep_row = b"[" * 70 + b"]" * 70
    with pytest.raises(PayloadError, match="72 levels deep; the limit is 64"):
        decode_json(b'{"inputs": [' + rows + b"," + deep_row + b"]}")
    with pytest.raises(PayloadError, match="over 900 levels deep; the limit is 64"):
        decode_json(b'{"inputs": [' + rows + b"," + b"[" * 100_000 + b"]" * 100_000 + b"]}")
    assert len(decode_json(b'{"inputs": [' + rows + b"]}")["inputs"]) == SHALLOW_BYTES // 10
    with pytest.raises(PayloadError, match="not valid JSON"):
        decode_json(b'{"inputs": [' + rows + b",]}")
