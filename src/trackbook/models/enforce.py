"""Check model input against the signature at predict time, converting where it is safe.

Errors name the column (or tensor), the type the model expects and what was given, e.g.
``column 'age': expected long, got float64 values such as 31.5``. Conversions that lose
nothing are done silently (int -> double, integral floats -> long, float64 -> float32,
ISO strings -> datetime); everything else raises :class:`SchemaEnforcementError`.
"""

from __future__ import annotations

from typing import Any

from ._errors import SchemaEnforcementError
from .schema import DATA_TYPES, ColSpec, Schema, TensorSpec


def enforce_schema(data: Any, schema: Schema) -> Any:
    """``data`` checked against ``schema`` and converted (a DataFrame for column
    schemas, a numpy array or dict of arrays for tensor schemas)."""
    if schema.is_tensor_spec():
        return _enforce_tensors(data, schema)
    return _enforce_columns(data, schema)


# -- columns -----------------------------------------------------------------------------------

_FAST: dict[int, tuple[Schema, list[Any], list[Any]]] = {}


def _expected(schema: Schema) -> tuple[list[Any], list[Any]]:
    """Column names and numpy dtypes of a column schema (cached per schema object)."""
    import numpy as np

    hit = _FAST.get(id(schema))
    if hit is None or hit[0] is not schema:
        names = [s.name for s in schema.inputs]
        dtypes = [np.dtype(DATA_TYPES[s.type]) for s in schema.inputs]  # type: ignore[union-attr]
        hit = (schema, names, dtypes)
        if len(_FAST) > 64:
            _FAST.clear()
        _FAST[id(schema)] = hit
    return hit[1], hit[2]


def _as_frame(data: Any, schema: Schema) -> Any:
    import numpy as np
    import pandas as pd

    names = [s.name for s in schema.inputs] if schema.has_input_names() else None
    if isinstance(data, pd.DataFrame):
        return data
    if np.isscalar(data):  # one value: one row, as MLflow (e.g. a string for a text model)
        return pd.DataFrame([data])
    if isinstance(data, pd.Series):
        return data.to_frame(names[0] if names and len(names) == 1 and data.name is None
                             else data.name)
    if isinstance(data, dict):
        return pd.DataFrame({k: v if isinstance(v, (list, tuple, np.ndarray, pd.Series))
                             else [v] for k, v in data.items()})
    if isinstance(data, list) and data and all(isinstance(r, dict) for r in data):
        return pd.DataFrame.from_records(data)
    if isinstance(data, (list, tuple, np.ndarray)):
        arr = np.asarray(data, dtype=object if isinstance(data, (list, tuple)) else None)
        if arr.ndim == 1 and len(schema) == 1:
            arr = arr.reshape(-1, 1)
        if arr.ndim == 1 and len(schema) > 1 and not isinstance(data, np.ndarray):
            arr = arr.reshape(1, -1)  # one row given as a flat list
        if arr.ndim != 2 or arr.shape[1] != len(schema):
            raise SchemaEnforcementError(
                f"input of shape {arr.shape} does not match the model's {len(schema)} "
                f"column(s) {schema.input_names()}; pass a DataFrame with those columns")
        frame = pd.DataFrame(arr, columns=names)
        return frame.infer_objects() if arr.dtype == object else frame
    raise SchemaEnforcementError(
        f"cannot use {type(data).__name__} as input for a model with columns "
        f"{schema.input_names()}; pass a pandas DataFrame")


def _enforce_columns(data: Any, schema: Schema) -> Any:
    frame = _as_frame(data, schema)
    names, dtypes = _expected(schema)
    if schema.has_input_names():
        columns = list(frame.columns)
        if columns == names and all(  # fast path: the usual, already right case
                d == e and d.kind != "O" for d, e in zip(frame.dtypes, dtypes, strict=True)):
            return frame
        present = set(columns)
        missing = [s for s in schema.inputs
                   if s.name not in present and isinstance(s, ColSpec) and s.required]
        if missing:
            want = _some([f"{s.name!r} ({s.type})" for s in missing])  # type: ignore[union-attr]
            raise SchemaEnforcementError(
                f"missing column(s) {want}; the model expects {_some(names, repr)}, got "
                f"{_some([str(c) for c in columns], repr)}", str(missing[0].name))
        keep = [s for s in schema.inputs if s.name in present]
        out = frame[[s.name for s in keep]]
    else:
        if frame.shape[1] != len(schema):
            raise SchemaEnforcementError(
                f"the model expects {len(schema)} unnamed column(s), got {frame.shape[1]}")
        keep, out = list(schema.inputs), frame
    converted = {}
    for i, spec in enumerate(keep):
        col = out.iloc[:, i]
        label = str(spec.name) if spec.name is not None else str(i)
        new = convert_column(col, spec, label)  # type: ignore[arg-type]
        if new is not col:
            converted[i] = new
    if converted:
        out = out.copy()
        for i, new in converted.items():
            out.isetitem(i, new)
    return out


def _some(items: list[Any], fmt: Any = str, limit: int = 6) -> str:
    """``a, b, c`` (or ``[a, b, ...]`` with ``fmt=repr``), shortened to ``limit`` items."""
    shown = [fmt(x) for x in items[:limit]]
    more = f", ... ({len(items)} in all)" if len(items) > limit else ""
    text = ", ".join(shown) + more
    return f"[{text}]" if fmt is repr else text


def _sample(values: Any) -> str:
    for v in values:
        if v is not None and v == v:
            return f"{v!r} ({type(v).__name__})"
    return "missing values"


def convert_column(col: Any, spec: ColSpec, label: str) -> Any:
    """One pandas column converted to ``spec``'s type, or SchemaEnforcementError."""
    import numpy as np
    import pandas as pd

    want = spec.type
    dtype = col.dtype
    kind = getattr(dtype, "kind", "O")
    target = np.dtype(DATA_TYPES[want])

    def fail(reason: str = "") -> SchemaEnforcementError:
        got = f"{dtype} values such as {_sample(col.dropna().head(3))}"
        return SchemaEnforcementError(
            f"column {label!r}: expected {want}, got {got}{reason}", label)

    if want in ("double", "float", "long", "integer"):
        if kind == "O" or isinstance(dtype, pd.StringDtype):
            if not all(isinstance(v, (int, float, np.number)) and not isinstance(v, bool)
                       for v in col.dropna()):
                raise fail()
            col = pd.to_numeric(col)
            kind = col.dtype.kind
        elif hasattr(dtype, "numpy_dtype"):  # pandas nullable Int64/Float64
            if col.isna().any() and want in ("long", "integer"):
                raise fail(f"; {int(col.isna().sum())} missing value(s) cannot be {want}")
            col = col.astype("float64" if col.isna().any() else dtype.numpy_dtype)
            kind = col.dtype.kind
        if kind == "b" or kind not in "iuf":
            raise fail()
        if want in ("double", "float"):
            return col if col.dtype == target else col.astype(target)
        if kind == "f":
            values = col.to_numpy()
            if not np.isfinite(values).all():
                raise fail(f"; {int((~np.isfinite(values)).sum())} missing/infinite value(s) "
                           f"cannot be {want}")
            if (values != np.round(values)).any():
                raise fail("; values must be whole numbers")
        if col.dtype == target:
            return col
        info = np.iinfo(target)
        if len(col) and (col.min() < info.min or col.max() > info.max):
            raise fail(f"; values must lie in [{info.min}, {info.max}]")
        return col.astype(target)
    if want == "boolean":
        if kind == "b":
            return col
        if kind == "O" and all(isinstance(v, (bool, np.bool_)) for v in col):
            return col.astype(bool)
        raise fail()
    if want == "string":
        if isinstance(dtype, (pd.StringDtype, pd.CategoricalDtype)):
            col = col.astype(object)
            kind = "O"
        if kind == "O" and all(isinstance(v, str) for v in col.dropna()):
            if spec.required and col.isna().any():
                raise fail(f"; column is required but has {int(col.isna().sum())} missing "
                           "value(s)")
            return col
        raise fail()
    if want == "binary":
        if kind == "O" and all(isinstance(v, (bytes, bytearray)) for v in col.dropna()):
            return col
        if kind == "O" and all(isinstance(v, str) for v in col.dropna()):
            import base64
            import binascii

            try:  # the JSON scoring protocol sends binary columns base64-encoded
                return col.map(lambda v: base64.b64decode(v, validate=True)
                               if isinstance(v, str) else v)
            except (binascii.Error, ValueError):
                raise fail("; strings must be base64-encoded bytes") from None
        raise fail()
    # datetime
    if kind == "M":
        return col if col.dtype == target else col.astype(target)
    if kind == "O" and all(isinstance(v, str) for v in col.dropna()):
        try:
            return pd.to_datetime(col)
        except (ValueError, TypeError):
            raise fail("; strings must be ISO dates like '2024-05-01T12:00:00'") from None
    raise fail()


# -- tensors -----------------------------------------------------------------------------------

def _enforce_tensors(data: Any, schema: Schema) -> Any:
    import pandas as pd

    specs: list[TensorSpec] = schema.inputs  # type: ignore[assignment]
    if len(specs) == 1 and not (isinstance(data, dict) and specs[0].name in data):
        if isinstance(data, pd.DataFrame):
            data = data.to_numpy()
        return convert_tensor(data, specs[0], specs[0].name or "input")
    if isinstance(data, pd.DataFrame):
        data = {c: data[c].to_numpy() for c in data.columns}
    if not isinstance(data, dict):
        raise SchemaEnforcementError(
            f"the model takes named tensors {schema.input_names()}; pass a dict of arrays")
    missing = [s.name for s in specs if s.name not in data]
    if missing:
        raise SchemaEnforcementError(
            f"missing tensor(s) {missing}; the model expects {schema.input_names()}, got "
            f"{sorted(map(str, data))}", str(missing[0]))
    return {s.name: convert_tensor(data[s.name], s, str(s.name)) for s in specs}


def convert_tensor(value: Any, spec: TensorSpec, label: str) -> Any:
    """One array checked against a tensor spec's dtype and shape (converted if safe)."""
    import numpy as np

    if hasattr(value, "detach") and hasattr(value, "numpy"):
        value = value.detach().cpu().numpy()
    try:
        arr = np.asarray(value)
    except ValueError as exc:  # ragged nested lists
        raise SchemaEnforcementError(f"tensor {label!r}: {exc}", label) from None
    want = np.dtype(spec.dtype)
    if arr.dtype != want:
        got = arr.dtype
        ok = (np.can_cast(got, want, casting="safe")
              or (got.kind == "f" and want.kind == "f")
              or (got.kind in "iu" and want.kind in "fc")
              or (got.kind in "iu" and want.kind in "iu" and (
                  arr.size == 0 or (np.iinfo(want).min <= arr.min()
                                    and arr.max() <= np.iinfo(want).max))))
        if not ok:
            raise SchemaEnforcementError(
                f"tensor {label!r}: expected dtype {want.name}, got {got.name}; it cannot be "
                "converted without losing information", label)
        arr = arr.astype(want)
    shape = spec.shape
    if len(shape) != arr.ndim or any(w not in (-1, g) for w, g in zip(shape, arr.shape,
                                                                      strict=False)):
        raise SchemaEnforcementError(
            f"tensor {label!r}: expected shape {tuple(shape)} (-1 = any size), got "
            f"{tuple(arr.shape)}", label)
    return arr
