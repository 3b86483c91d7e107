"""Column and tensor specs, input schemas and params schemas, in MLflow's JSON format.

``ColSpec`` serialises as ``{"type": "double", "name": "a", "required": true}``, ``TensorSpec``
as ``{"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1, 4]}}`` and
``ParamSpec`` as ``{"name": "k", "type": "long", "default": 3, "shape": null}``, so that
signatures written here are read by MLflow and the other way round.
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from ._errors import SchemaEnforcementError, UnsupportedModelError

#: MLflow's column types and the numpy dtype each one is held in.
DATA_TYPES: dict[str, str] = {
    "boolean": "bool",
    "integer": "int32",
    "long": "int64",
    "float": "float32",
    "double": "float64",
    "string": "object",
    "binary": "object",
    "datetime": "datetime64[ns]",
}


def check_type(name: str) -> str:
    """Validate a column/param type name (``"double"``, ``"long"``, ...); return it."""
    if name not in DATA_TYPES:
        raise UnsupportedModelError(
            f"unknown column type {name!r}; use one of {', '.join(DATA_TYPES)}")
    return name


@dataclass(frozen=True)
class ColSpec:
    """One column of a tabular input or output: its type, optional name, and whether it
    must be present."""

    type: str
    name: str | None = None
    required: bool = True

    def __post_init__(self) -> None:
        check_type(self.type)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type}
        if self.name is not None:
            out["name"] = self.name
        out["required"] = self.required
        return out


@dataclass(frozen=True)
class TensorSpec:
    """An n-dimensional array: numpy dtype name and shape (``-1`` = any size)."""

    dtype: str
    shape: tuple[int, ...]
    name: str | None = None

    def __post_init__(self) -> None:
        import numpy as np

        try:
            canonical = np.dtype(self.dtype).name
        except TypeError:
            raise UnsupportedModelError(f"unknown tensor dtype {self.dtype!r}") from None
        object.__setattr__(self, "dtype", canonical)
        object.__setattr__(self, "shape", tuple(int(d) for d in self.shape))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "tensor",
                               "tensor-spec": {"dtype": self.dtype, "shape": list(self.shape)}}
        if self.name is not None:
            out["name"] = self.name
        return out


Spec = ColSpec | TensorSpec


def _spec_from_dict(d: dict[str, Any]) -> Spec:
    if d.get("type") == "tensor":
        ts = d["tensor-spec"]
        return TensorSpec(ts["dtype"], tuple(ts["shape"]), d.get("name"))
    if not isinstance(d.get("type"), str):
        raise UnsupportedModelError(
            f"column spec {d!r} has a nested type; trackbook reads scalar column types only")
    return ColSpec(d["type"], d.get("name"), bool(d.get("required", True)))


class Schema:
    """An ordered list of column specs, or of tensor specs (never a mix)."""

    def __init__(self, inputs: Iterable[Spec]) -> None:
        self.inputs: list[Spec] = list(inputs)
        kinds = {type(s) for s in self.inputs}
        if len(kinds) > 1:
            raise UnsupportedModelError("a schema holds either column specs or tensor specs, "
                                        "not both")
        named = [s.name is not None for s in self.inputs]
        if any(named) and not all(named):
            raise UnsupportedModelError("either every spec of a schema has a name or none does")
        names = [s.name for s in self.inputs if s.name is not None]
        if len(set(names)) != len(names):
            raise UnsupportedModelError(f"duplicate names in schema: {names}")

    def __iter__(self) -> Iterator[Spec]:
        return iter(self.inputs)

    def __len__(self) -> int:
        return len(self.inputs)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Schema) and self.inputs == other.inputs

    def __repr__(self) -> str:
        return "\n".join(repr(s) for s in self.inputs) if self.inputs else "Schema([])"

    def is_tensor_spec(self) -> bool:
        return bool(self.inputs) and isinstance(self.inputs[0], TensorSpec)

    def has_input_names(self) -> bool:
        return bool(self.inputs) and self.inputs[0].name is not None

    def input_names(self) -> list[str | int]:
        return [s.name if s.name is not None else i for i, s in enumerate(self.inputs)]

    def required_input_names(self) -> list[str | int]:
        return [n for n, s in zip(self.input_names(), self.inputs, strict=True)
                if not isinstance(s, ColSpec) or s.required]

    def to_dict(self) -> list[dict[str, Any]]:
        return [s.to_dict() for s in self.inputs]

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: str | list[dict[str, Any]]) -> Schema:
        items = json.loads(text) if isinstance(text, str) else text
        return cls(_spec_from_dict(d) for d in items)


_PARAM_TYPES = {"boolean": bool, "integer": int, "long": int, "float": float, "double": float,
                "string": str, "binary": bytes, "datetime": _dt.datetime}


@dataclass(frozen=True)
class ParamSpec:
    """A named inference parameter with a type, a default and an optional shape
    (``(-1,)`` for a list)."""

    name: str
    dtype: str
    default: Any
    shape: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        check_type(self.dtype)
        if self.shape is not None:
            object.__setattr__(self, "shape", tuple(self.shape))
        if self.default is not None:
            object.__setattr__(self, "default", self.convert(self.default))

    def convert(self, value: Any) -> Any:
        """``value`` converted to this param's type; raise SchemaEnforcementError if it
        cannot be converted without losing information."""
        if self.shape is not None:
            if not isinstance(value, (list, tuple)):
                raise SchemaEnforcementError(
                    f"param {self.name!r} must be a list of {self.dtype}, got "
                    f"{type(value).__name__} {value!r}", self.name)
            return [self._scalar(v) for v in value]
        return self._scalar(value)

    def _scalar(self, value: Any) -> Any:
        want = _PARAM_TYPES[self.dtype]
        if hasattr(value, "item") and not isinstance(value, (str, bytes)):
            value = value.item()  # numpy scalars
        ok = isinstance(value, want) and not (want is int and isinstance(value, bool))
        if not ok and want is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if not ok and want is _dt.datetime and isinstance(value, str):
            try:
                return _dt.datetime.fromisoformat(value)
            except ValueError:
                pass
        if not ok:
            raise SchemaEnforcementError(
                f"param {self.name!r} must be {self.dtype}, got {type(value).__name__} "
                f"{value!r}", self.name)
        return value

    def to_dict(self) -> dict[str, Any]:
        default = self.default.isoformat() if isinstance(self.default, _dt.datetime) \
            else self.default
        return {"name": self.name, "default": default,
                "shape": list(self.shape) if self.shape is not None else None,
                "type": self.dtype}


class ParamSchema:
    """The inference params a model accepts (``predict(data, params={...})``)."""

    def __init__(self, params: Sequence[ParamSpec]) -> None:
        self.params = list(params)
        names = [p.name for p in self.params]
        if len(set(names)) != len(names):
            raise UnsupportedModelError(f"duplicate param names: {names}")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ParamSchema) and self.params == other.params

    def __repr__(self) -> str:
        return "\n".join(repr(p) for p in self.params)

    def to_dict(self) -> list[dict[str, Any]]:
        return [p.to_dict() for p in self.params]

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: str | list[dict[str, Any]]) -> ParamSchema:
        items = json.loads(text) if isinstance(text, str) else text
        return cls([ParamSpec(d["name"], d["type"], d.get("default"),
                              tuple(d["shape"]) if d.get("shape") is not None else None)
                    for d in items])

    def enforce(self, params: dict[str, Any] | None) -> dict[str, Any]:
        """Params with defaults filled in and values converted; unknown names raise."""
        given = dict(params or {})
        known = {p.name: p for p in self.params}
        unknown = sorted(set(given) - set(known))
        if unknown:
            raise SchemaEnforcementError(
                f"unknown param(s) {unknown}; this model accepts {sorted(known)}", unknown[0])
        return {name: spec.convert(given[name]) if name in given else spec.default
                for name, spec in known.items()}
