"""The dataset base class: name, digest, source, schema and profile, as MLflow has them."""

from __future__ import annotations

import json
from typing import Any

from ..tracking.entities import Dataset as DatasetEntity
from .dataset_source import DatasetSource


class Dataset:
    """A dataset for a run's lineage (``log_input``); subclasses hold the data.

    Parameters
    ----------
    source
        Where the data came from.
    name
        Its name; ``"dataset"`` when not given (MLflow's default).
    digest
        Its fingerprint; computed from the data when not given.
    """

    def __init__(self, source: DatasetSource, name: str | None = None,
                 digest: str | None = None) -> None:
        self._name = name
        self._source = source
        self._digest = digest or self._compute_digest()

    def _compute_digest(self) -> str:
        raise NotImplementedError

    @property
    def name(self) -> str:
        return self._name if self._name is not None else "dataset"

    @property
    def digest(self) -> str:
        return self._digest

    @property
    def source(self) -> DatasetSource:
        return self._source

    @property
    def profile(self) -> Any:
        return None

    @property
    def schema(self) -> Any:
        return None

    def _schema_json(self) -> str | None:
        return None

    def to_dict(self) -> dict[str, Any]:
        """MLflow's string dictionary: name, digest, source, source_type, schema, profile."""
        return {"name": self.name, "digest": self.digest, "source": self.source.to_json(),
                "source_type": self.source._get_source_type(), "schema": self._schema_json(),
                "profile": json.dumps(self.profile)}

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    def _get_source_type(self) -> str:
        return self.source._get_source_type()

    def _to_mlflow_entity(self) -> DatasetEntity:
        """The record a run stores (:class:`trackbook.entities.Dataset`)."""
        d = self.to_dict()
        return DatasetEntity(name=d["name"], digest=d["digest"], source_type=d["source_type"],
                             source=d["source"], schema=d.get("schema"), profile=d.get("profile"))

    def __repr__(self) -> str:
        return (f"<{type(self).__name__}: name={self.name!r}, digest={self.digest!r}, "
                f"source_type={self._get_source_type()!r}>")


def resolve_source(source: Any) -> DatasetSource:
    """``source`` as a DatasetSource; the calling code's context when None (MLflow's rule)."""
    from .dataset_source import code_source, resolve_dataset_source

    return code_source() if source is None else resolve_dataset_source(source)
