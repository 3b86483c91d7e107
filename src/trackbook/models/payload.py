"""The scoring protocol: JSON/CSV request bodies -> model input, predictions -> JSON.

The JSON body is an object with exactly one of

- ``dataframe_split``: ``{"columns": [...], "data": [[...], ...]}`` (pandas ``orient="split"``)
- ``dataframe_records``: ``[{"col": value, ...}, ...]``
- ``instances``: a list of rows (dicts or lists) or a dict of columns (TF-serving style)
- ``inputs``: a list (array) or a dict of columns / named tensors

and optionally ``params`` (inference params). CSV bodies are read with ``pandas.read_csv``.
These are MLflow's ``/invocations`` formats; responses are ``{"predictions": ...}``.
"""

from __future__ import annotations

import base64
import datetime as _dt
import io
import json
import math
import re
from collections.abc import Sequence
from typing import Any

from ._errors import PayloadError
from .schema import Schema

FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
MAX_JSON_DEPTH = 64  # a batch of RGB images is 4 levels inside its key
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def json_depth(body: bytes) -> int:
    """How deeply arrays and objects nest in the JSON text ``body`` (brackets inside
    strings do not count). Runs at C speed: strings are cut out with a regular expression
    and the running depth is a numpy cumulative sum over the remaining brackets."""
    import numpy as np

    brackets = _STRING.sub(b"", body).translate(None, _NOT_BRACKETS)
    if not brackets:
        return 0
    step = np.full(256, -1, dtype=np.int8)
    step[[ord("["), ord("{")]] = 1
    return int(np.cumsum(step[np.frombuffer(brackets, dtype=np.uint8)], dtype=np.int32).max())


def _too_deep(depth: int | str, limit: int) -> PayloadError:
    return PayloadError(f"the JSON body nests arrays/objects {depth} levels deep; the limit "
                        f"is {limit} (max_json_depth, --max-json-depth): send rows as lists "
                        "of values")


def check_json_depth(body: bytes | str, limit: int = MAX_JSON_DEPTH) -> None:
    """Raise PayloadError if ``body`` nests arrays/objects deeper than ``limit``."""
    if body.count("[" if isinstance(body, str) else b"[") + \
            body.count("{" if isinstance(body, str) else b"{") <= limit:
        return  # the usual body: too few brackets to be too deep
    raw = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
    depth = json_depth(raw)
    if depth > limit:
        raise _too_deep(depth, limit)


SHALLOW_BYTES = 1 << 20  # bodies over this are decoded row by row (see _decode_shallow)
_WS = re.compile(r"[ \t\n\r]*")
_SEP = re.compile(r"[ \t\n\r]*,[ \t\n\r]*")
_DECODER = json.JSONDecoder()


def _decode_shallow(text: str, levels: int = 3, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """``json.loads(text)``, with the outer ``levels`` of objects and of arrays of arrays or
    objects walked in Python.

    ``json.loads`` is one C call that holds the GIL: on a 100 MB body it stops every other
    thread, the event loop included, for seconds. Here each row (of ``dataframe_split.data``,
    ``inputs``, ``instances``: an array of scalars, or anything ``levels`` deep) is one
    short C call, so the interpreter hands the GIL to the event loop between rows. Same
    result, same errors (ValueError). One flat array of millions of numbers is still one
    call. The nesting depth is checked row by row too (PayloadError past ``max_depth``).
    """
    start = _WS.match(text, 0).end()  # type: ignore[union-attr]
    value, end = _value(text, start, levels, 0, max_depth)
    end = _WS.match(text, end).end()  # type: ignore[union-attr]
    if end != len(text):
        raise json.JSONDecodeError("Extra data", text, end)
    return value


def _scan(text: str, i: int) -> tuple[Any, int]:
    """One JSON value at ``i`` in one C call (the decoder's scanner, without its wrapper)."""
    try:
        return _DECODER.scan_once(text, i)
    except StopIteration as err:
        raise json.JSONDecodeError("Expecting value", text, err.value) from None


def _opens_scalars(text: str, i: int) -> bool:
    """True if the array at ``i`` holds no arrays or objects (judged by its first item)."""
    first = _WS.match(text, i + 1).end()  # type: ignore[union-attr]
    return text[first:first + 1] not in ("[", "{")


def _scan_within(text: str, i: int, above: int, limit: int) -> tuple[Any, int]:
    """:func:`_scan`, refusing a value that would nest deeper than ``limit`` in all."""
    try:
        value, end = _scan(text, i)
    except RecursionError:
        raise _too_deep("over 900", limit) from None
    if text[i:i + 1] in ("[", "{") and \
            text.count("[", i, end) + text.count("{", i, end) > limit - above:
        depth = above + json_depth(text[i:end].encode("utf-8", "surrogatepass"))
        if depth > limit:
            raise _too_deep(depth, limit)
    return value, end


def _value(text: str, i: int, levels: int, above: int, limit: int) -> tuple[Any, int]:
    """The value at ``i``, inside ``above`` arrays/objects."""
    opener = text[i:i + 1]
    if levels <= 0 or opener not in ("[", "{") or (opener == "[" and _opens_scalars(text, i)):
        return _scan_within(text, i, above, limit)  # one C call: a scalar or a row
    if above + 1 > limit:
        raise _too_deep(f"more than {limit}", limit)
    ws, sep = _WS.match, _SEP.match
    i = ws(text, i + 1).end()  # type: ignore[union-attr]
    if opener == "[":
        items: list[Any] = []
        if text[i:i + 1] == "]":
            return items, i + 1
        # Rows of scalars (the usual big body) are scanned whole, one call per row.
        rows = levels == 1 or (text[i:i + 1] == "[" and _opens_scalars(text, i))
        while True:
            item, i = _scan_within(text, i, above + 1, limit) if rows else \
                _value(text, i, levels - 1, above + 1, limit)
            items.append(item)
            m = sep(text, i)
            if m is not None:
                i = m.end()
                continue
            i = ws(text, i).end()  # type: ignore[union-attr]
            if text[i:i + 1] == "]":
                return items, i + 1
            raise json.JSONDecodeError("Expecting ',' delimiter", text, i)
    fields: dict[str, Any] = {}
    if text[i:i + 1] == "}":
        return fields, i + 1
    while True:
        if text[i:i + 1] != '"':
            raise json.JSONDecodeError("Expecting property name enclosed in double quotes",
                                       text, i)
        key, i = _scan(text, i)
        i = ws(text, i).end()  # type: ignore[union-attr]
        if text[i:i + 1] != ":":
            raise json.JSONDecodeError("Expecting ':' delimiter", text, i)
        fields[key], i = _value(text, ws(text, i + 1).end(), levels - 1,  # type: ignore
                                above + 1, limit)
        m = sep(text, i)
        if m is not None:
            i = m.end()
            continue
        i = ws(text, i).end()  # type: ignore[union-attr]
        if text[i:i + 1] == "}":
            return fields, i + 1
        raise json.JSONDecodeError("Expecting ',' delimiter", text, i)


def decode_json(body: bytes | str, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """The JSON document of a request body (PayloadError if it is not JSON or nests deeper
    than ``max_depth``). Bodies over 1 MiB are decoded so that other threads keep running
    (see :func:`_decode_shallow`)."""
    try:
        if len(body) <= SHALLOW_BYTES:
            check_json_depth(body, max_depth)
            return json.loads(body)
        return _decode_shallow(body.decode("utf-8") if isinstance(body, bytes) else body,
                               max_depth=max_depth)
    except PayloadError:
        raise
    except RecursionError:
        raise PayloadError(f"the JSON body nests too deeply to read; the limit is "
                           f"{max_depth}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise PayloadError(f"the request body is not valid JSON ({exc}); send an object like "
                           '{"dataframe_split": {"columns": [...], "data": [[...]]}}') from None


def table_rows(doc: Any, names: Sequence[str] | None = None
               ) -> tuple[list[str], list[list[Any]]] | None:
    """``(columns, rows)`` when ``doc`` is a plain table without params (the batchable
    case), else None. Rows are only checked for shape; values are checked by the model.

    ``names`` are the model's column names: with them, ``instances`` / ``inputs`` given as
    rows of values (or one flat row) are a table too, their values in that column order,
    as :func:`parse_input` reads them; so are ``inputs`` given as columns of numbers.
    """
    if not isinstance(doc, dict) or len(doc) != 1:
        return None
    if "dataframe_split" in doc:
        split = doc["dataframe_split"]
        if not isinstance(split, dict) or set(split) - {"columns", "data"}:
            return None
        columns, data = split.get("columns"), split.get("data")
        if not isinstance(columns, list) or not isinstance(data, list) or not data:
            return None
        width = len(columns)
        if all(isinstance(r, list) and len(r) == width for r in data):
            return [str(c) for c in columns], data
        return None
    key = next(iter(doc))
    if key not in ("dataframe_records", "instances", "inputs"):
        return None
    value = doc[key]
    if isinstance(value, list) and value and isinstance(value[0], dict):
        columns = list(value[0])
        if all(isinstance(r, dict) and len(r) == len(columns) for r in value):
            try:
                return columns, [[r[c] for c in columns] for r in value]
            except KeyError:
                return None
        return None
    if key == "dataframe_records" or not names:
        return None
    return _positional(value, list(names))


def _positional(value: Any, names: list[str]) -> tuple[list[str], list[list[Any]]] | None:
    """Rows of ``instances`` / ``inputs`` given without column names (see table_rows)."""
    width = len(names)
    if isinstance(value, list) and value:
        if isinstance(value[0], list):  # rows
            if all(isinstance(r, list) and len(r) == width for r in value):
                return names, value
            return None
        if len(value) == width and not any(isinstance(v, (list, dict)) for v in value):
            return names, [value]  # one flat row
        return None
    if isinstance(value, dict) and value:  # columns: only plain numbers (else pandas decides)
        columns = list(value.values())
        if all(type(c) is list for c in columns):
            n = len(columns[0])
            if n and all(len(c) == n and all(type(v) in (int, float) for v in c)
                         for c in columns):
                return [str(k) for k in value], [list(r) for r in zip(*columns, strict=True)]
        elif all(type(c) in (int, float) for c in columns):
            return [str(k) for k in value], [columns]
    return None


def parse_json_payload(body: bytes | str | dict[str, Any], schema: Schema | None = None,
                       max_depth: int = MAX_JSON_DEPTH) -> tuple[Any, dict[str, Any] | None]:
    """Model input and params from a JSON request body or its decoded document (raise
    PayloadError if malformed)."""
    doc = body if isinstance(body, dict) else decode_json(body, max_depth)
    if not isinstance(doc, dict):
        raise PayloadError(f"the JSON body must be an object with one of the keys "
                           f"{list(FORMATS)}, got a JSON {type(doc).__name__}")
    keys = [k for k in FORMATS if k in doc]
    if len(keys) != 1:
        found = sorted(doc)
        raise PayloadError(f"the JSON body must have exactly one of the keys {list(FORMATS)}; "
                           f"it has {found}")
    params = doc.get("params")
    if params is not None and not isinstance(params, dict):
        raise PayloadError(f"'params' must be a JSON object, got {type(params).__name__}")
    return parse_input(keys[0], doc[keys[0]], schema), params


def parse_input(fmt: str, value: Any, schema: Schema | None = None) -> Any:
    """Model input from the value under one of the :data:`FORMATS` keys."""
    import numpy as np
    import pandas as pd

    tensors = schema is not None and schema.is_tensor_spec()
    names = schema.input_names() if schema is not None and schema.has_input_names() else None
    if fmt == "dataframe_split":
        if not isinstance(value, dict) or "data" not in value:
            raise PayloadError('dataframe_split must be an object {"columns": [...], '
                               '"data": [[...], ...]}')
        data = value["data"]
        if not isinstance(data, list):
            raise PayloadError("dataframe_split.data must be a list of rows")
        columns = value.get("columns")
        if columns is not None and not isinstance(columns, list):
            raise PayloadError("dataframe_split.columns must be a list of column names")
        if data and not isinstance(data[0], list):
            data = [data] if columns is not None and len(columns) > 1 else [[x] for x in data]
        width = len(columns) if columns is not None else None
        for i, row in enumerate(data):
            if not isinstance(row, list) or (width is not None and len(row) != width):
                raise PayloadError(f"dataframe_split.data row {i} has "
                                   f"{len(row) if isinstance(row, list) else 'no'} values; "
                                   f"expected {width} (one per column)")
        frame = pd.DataFrame(data, columns=columns, index=value.get("index"))
        return frame.to_numpy() if tensors else frame
    if fmt == "dataframe_records":
        if not isinstance(value, list) or not all(isinstance(r, dict) for r in value):
            raise PayloadError('dataframe_records must be a list of objects '
                               '[{"col": value, ...}, ...]')
        frame = pd.DataFrame.from_records(value)
        return frame.to_numpy() if tensors else frame
    if isinstance(value, dict):  # columns, or named tensors
        if (tensors and len(value) > 1) or (tensors and names and set(value) <= set(names)):
            return {k: np.asarray(v) for k, v in value.items()}
        try:
            return pd.DataFrame({k: v if isinstance(v, list) else [v] for k, v in value.items()})
        except ValueError as exc:
            raise PayloadError(f"{fmt}: columns must all have the same length ({exc})") from None
    if not isinstance(value, list):
        raise PayloadError(f"{fmt} must be a list of rows or an object of columns, got "
                           f"{type(value).__name__}")
    if value and all(isinstance(r, dict) for r in value):
        if tensors:
            return {k: np.asarray([r[k] for r in value]) for k in value[0]}
        return pd.DataFrame.from_records(value)
    if names and not tensors:
        return pd.DataFrame(value if value and isinstance(value[0], list) else [value],
                            columns=names)
    try:
        return np.asarray(value)
    except ValueError as exc:
        raise PayloadError(f"{fmt}: rows have different lengths ({exc})") from None


def parse_csv(body: bytes | str, schema: Schema | None = None) -> Any:
    """A DataFrame from a CSV body (header row required)."""
    import pandas as pd

    text = body.decode("utf-8") if isinstance(body, bytes) else body
    try:
        return pd.read_csv(io.StringIO(text))
    except (ValueError, pd.errors.ParserError) as exc:
        raise PayloadError(f"the body is not valid CSV with a header row ({exc})") from None


def jsonable(obj: Any) -> Any:
    """``obj`` as plain JSON types: DataFrames as records, arrays as nested lists,
    NaN as null, bytes as base64, datetimes as ISO strings."""
    import numpy as np
    import pandas as pd

    if isinstance(obj, pd.DataFrame):
        return [{str(k): jsonable(v) for k, v in row.items()}
                for row in obj.to_dict(orient="records")]
    if isinstance(obj, pd.Series):
        return jsonable(obj.to_numpy())
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind in "iub":
            return obj.tolist()
        if obj.dtype.kind == "f":
            values = obj.tolist()
            return _nan_to_none(values) if not np.isfinite(obj).all() else values
        return [jsonable(x) for x in obj]
    if hasattr(obj, "detach") and hasattr(obj, "numpy"):  # torch tensors
        return jsonable(obj.detach().cpu().numpy())
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(x) for x in obj]
    if isinstance(obj, np.generic):
        return jsonable(obj.item())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, (bytes, bytearray)):
        return base64.b64encode(bytes(obj)).decode("ascii")
    if obj is pd.NaT:
        return None
    if isinstance(obj, (_dt.datetime, _dt.date, pd.Timestamp)):
        return obj.isoformat()
    return obj


def _nan_to_none(values: Any) -> Any:
    if isinstance(values, list):
        return [_nan_to_none(v) for v in values]
    return None if isinstance(values, float) and not math.isfinite(values) else values


_COMPACT = json.JSONEncoder(separators=(",", ":"))  # json.dumps makes one per call


def predictions_json(predictions: Any) -> bytes:
    """The response body ``{"predictions": ...}``."""
    return _COMPACT.encode({"predictions": jsonable(predictions)}).encode("utf-8")
