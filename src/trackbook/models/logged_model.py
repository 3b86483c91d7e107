"""MLflow 3's logged-model entities: ``LoggedModel`` and its status, tags, params, inputs
and outputs, with MLflow's attribute names."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from ..tracking.entities import LoggedModelInput, LoggedModelOutput, Metric

__all__ = ["LoggedModel", "LoggedModelInput", "LoggedModelOutput", "LoggedModelParameter",
           "LoggedModelStatus", "LoggedModelTag"]


class LoggedModelStatus(enum.StrEnum):
    """A logged model's state: PENDING while its files are written, then READY or FAILED."""

    UNSPECIFIED = "UNSPECIFIED"
    PENDING = "PENDING"
    READY = "READY"
    FAILED = "FAILED"

    def to_int(self) -> int:
        """MLflow's protobuf number of the status (what ``to_dictionary`` holds)."""
        return _STATUS_INT[self]

    @classmethod
    def from_int(cls, value: int) -> LoggedModelStatus:
        return {v: k for k, v in _STATUS_INT.items()}[value]

    def __str__(self) -> str:
        return self.value


_STATUS_INT = {LoggedModelStatus.UNSPECIFIED: 0, LoggedModelStatus.PENDING: 1,
               LoggedModelStatus.READY: 2, LoggedModelStatus.FAILED: 3}


@dataclass(frozen=True)
class LoggedModelTag:
    """A tag of a logged model."""

    key: str
    value: str


@dataclass(frozen=True)
class LoggedModelParameter:
    """A parameter of a logged model."""

    key: str
    value: str


@dataclass
class LoggedModel:
    """A model logged with MLflow 3's API: ``models:/<model_id>``.

    Its files live in ``artifact_location``; ``metrics`` holds the points logged with its
    ``model_id`` and the points its source run logged at the step the model was logged at.
    """

    experiment_id: str
    model_id: str
    name: str
    artifact_location: str | None
    creation_timestamp: int
    last_updated_timestamp: int
    model_type: str | None = None
    source_run_id: str | None = None
    status: LoggedModelStatus = LoggedModelStatus.READY
    status_message: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    metrics: list[Metric] | None = None

    @property
    def model_uri(self) -> str:
        return f"models:/{self.model_id}"

    def to_dictionary(self) -> dict[str, Any]:
        """MLflow's dictionary form (``status`` as its protobuf number)."""
        return {"artifact_location": self.artifact_location,
                "creation_timestamp": self.creation_timestamp,
                "experiment_id": self.experiment_id,
                "last_updated_timestamp": self.last_updated_timestamp,
                "metrics": self.metrics, "model_id": self.model_id,
                "model_type": self.model_type, "name": self.name, "params": self.params,
                "source_run_id": self.source_run_id, "status": self.status.to_int(),
                "status_message": self.status_message, "tags": self.tags}

    def __repr__(self) -> str:
        return (f"LoggedModel(artifact_location={self.artifact_location!r}, "
                f"creation_timestamp={self.creation_timestamp}, "
                f"experiment_id={self.experiment_id!r}, "
                f"last_updated_timestamp={self.last_updated_timestamp}, "
                f"model_id={self.model_id!r}, model_type={self.model_type!r}, "
                f"model_uri={self.model_uri!r}, name={self.name!r}, "
                f"source_run_id={self.source_run_id!r}, status={self.status!r}, "
                f"status_message={self.status_message!r})")
