"""Datasets over numpy arrays or dicts of arrays (MLflow's ``NumpyDataset``)."""

from __future__ import annotations

import json
import logging
from functools import cached_property
from typing import Any

from .dataset import Dataset, resolve_source
from .dataset_source import DatasetSource
from .digest_utils import compute_numpy_digest
from .schema import TensorDatasetSchema

log = logging.getLogger(__name__)


def _attribute(data: Any, attr: str) -> Any:
    if isinstance(data, dict):
        return {k: _plain(getattr(a, attr)) for k, a in data.items()}
    return _plain(getattr(data, attr))


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else int(value)


class NumpyDataset(Dataset):
    """Numpy ``features`` (an array or a dict of arrays) and optional ``targets``."""

    def __init__(self, features: Any, source: DatasetSource, targets: Any = None,
                 name: str | None = None, digest: str | None = None) -> None:
        self._features = features
        self._targets = targets
        super().__init__(source=source, name=name, digest=digest)

    def _compute_digest(self) -> str:
        return compute_numpy_digest(self._features, self._targets)

    @property
    def features(self) -> Any:
        return self._features

    @property
    def targets(self) -> Any:
        return self._targets

    @property
    def profile(self) -> dict[str, Any]:
        out = {f"features_{a}": _attribute(self._features, a) for a in ("shape", "size", "nbytes")}
        if self._targets is not None:
            out.update({f"targets_{a}": _attribute(self._targets, a)
                        for a in ("shape", "size", "nbytes")})
        return out

    @cached_property
    def schema(self) -> TensorDatasetSchema | None:
        from .schema import tensor_specs

        try:
            return TensorDatasetSchema(
                tensor_specs(self._features),
                tensor_specs(self._targets) if self._targets is not None else None)
        except Exception as exc:  # MLflow records no schema rather than fail
            log.debug("no schema for the numpy dataset %s: %s", self.name, exc)
            return None

    def _schema_json(self) -> str | None:
        return json.dumps(self.schema.to_dict()) if self.schema is not None else None


def from_numpy(features: Any, source: str | DatasetSource | None = None, targets: Any = None,
               name: str | None = None, digest: str | None = None) -> NumpyDataset:
    """A :class:`NumpyDataset` for ``log_input``.

    Parameters
    ----------
    features
        A numpy array, or a dict of named arrays.
    source
        Where it came from (see :func:`from_pandas`); None records the calling code.
    targets
        An array or dict of arrays, optional.
    name
        The dataset's name (default ``"dataset"``).
    digest
        Its fingerprint; computed from the data as MLflow does when None.

    Returns
    -------
    NumpyDataset
    """
    return NumpyDataset(features, resolve_source(source), targets=targets, name=name,
                        digest=digest)
