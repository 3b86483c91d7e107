"""Run, experiment and metric records, shaped like MLflow's entities."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple, TypeVar

T = TypeVar("T")


class RunStatus:
    """Run states; the names and meanings are MLflow's."""

    RUNNING = "RUNNING"
    SCHEDULED = "SCHEDULED"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"
    ALL = ("RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED")
    TERMINAL = ("FINISHED", "FAILED", "KILLED")

    @staticmethod
    def is_terminated(status: str) -> bool:
        return status in RunStatus.TERMINAL


class ViewType:
    """Which lifecycle stages a search includes."""

    ACTIVE_ONLY = 1
    DELETED_ONLY = 2
    ALL = 3


class Metric(NamedTuple):
    """One metric point (MLflow's ``Metric``; the last four fields say which run, model
    and dataset a model's metric belongs to, and default to None)."""

    key: str
    value: float
    timestamp: int
    step: int
    dataset_name: str | None = None
    dataset_digest: str | None = None
    run_id: str | None = None
    model_id: str | None = None

    def to_dictionary(self) -> dict[str, Any]:
        """MLflow's dictionary form of the point."""
        return {"key": self.key, "value": self.value, "timestamp": self.timestamp,
                "step": self.step, "model_id": self.model_id,
                "dataset_name": self.dataset_name, "dataset_digest": self.dataset_digest,
                "run_id": self.run_id}


@dataclass
class Experiment:
    """An experiment: a named group of runs."""

    experiment_id: str
    name: str
    artifact_location: str | None = None
    lifecycle_stage: str = "active"
    tags: dict[str, str] = field(default_factory=dict)
    creation_time: int | None = None
    last_update_time: int | None = None


@dataclass
class RunInfo:
    """Identity and state of a run."""

    run_id: str
    experiment_id: str
    run_name: str | None
    user_id: str | None
    status: str
    start_time: int | None
    end_time: int | None
    artifact_uri: str | None
    lifecycle_stage: str = "active"

    @property
    def run_uuid(self) -> str:
        return self.run_id


@dataclass
class RunData:
    """What was logged: latest metric values, params and tags."""

    metrics: dict[str, float] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)


# -- datasets and lineage (MLflow's mlflow.entities.Dataset, DatasetInput, InputTag) -------

# The input tag holding the context a dataset was used in ("training", "testing", ...).
DATASET_CONTEXT_TAG = "mlflow.data.context"


@dataclass(frozen=True)
class Dataset:
    """A dataset as a run records it: every field is text (``schema``, ``profile`` and
    ``source`` are JSON), exactly what MLflow stores."""

    name: str
    digest: str
    source_type: str
    source: str
    schema: str | None = None
    profile: str | None = None

    def to_dictionary(self) -> dict[str, Any]:
        return {"name": self.name, "digest": self.digest, "source_type": self.source_type,
                "source": self.source, "schema": self.schema, "profile": self.profile}


@dataclass(frozen=True)
class InputTag:
    """A key/value tag on a dataset input (e.g. ``mlflow.data.context``)."""

    key: str
    value: str


@dataclass
class DatasetInput:
    """A dataset used by a run, with the tags of that use."""

    dataset: Dataset
    tags: list[InputTag] = field(default_factory=list)

    def to_dictionary(self) -> dict[str, Any]:
        return {"dataset": self.dataset.to_dictionary(),
                "tags": {t.key: t.value for t in self.tags}}


@dataclass(frozen=True)
class LoggedModelInput:
    """A logged model a run used (``run.inputs.model_inputs``): one it logged metrics to
    without having produced it, or one given to ``log_input(model=...)``."""

    model_id: str


@dataclass(frozen=True)
class LoggedModelOutput:
    """A logged model a run produced, at a step (``run.outputs.model_outputs``)."""

    model_id: str
    step: int = 0

    def to_dictionary(self) -> dict[str, Any]:
        return {"model_id": self.model_id, "step": self.step}


@dataclass
class RunInputs:
    """What a run consumed: dataset inputs and logged-model inputs."""

    dataset_inputs: list[DatasetInput] = field(default_factory=list)
    model_inputs: list[LoggedModelInput] = field(default_factory=list)

    def to_dictionary(self) -> dict[str, Any]:
        # as MLflow's: the model inputs stay objects (they have no dictionary form)
        return {"model_inputs": list(self.model_inputs),
                "dataset_inputs": [d.to_dictionary() for d in self.dataset_inputs]}


@dataclass
class RunOutputs:
    """What a run produced: MLflow 3 logged models, each at the step it was logged at."""

    model_outputs: list[LoggedModelOutput] = field(default_factory=list)

    def to_dictionary(self) -> dict[str, Any]:
        return {"model_outputs": [m.to_dictionary() for m in self.model_outputs]}


@dataclass
class Run:
    """A run: its info, its data, its inputs (datasets, models) and outputs (models)."""

    info: RunInfo
    data: RunData
    inputs: RunInputs = field(default_factory=RunInputs)
    outputs: RunOutputs = field(default_factory=RunOutputs)

    def to_dictionary(self) -> dict[str, Any]:
        return {"info": vars(self.info), "data": vars(self.data),
                "inputs": self.inputs.to_dictionary(),
                "outputs": self.outputs.to_dictionary()}


class Param(NamedTuple):
    """A run parameter (``log_batch(params=[Param(key, value)])``)."""

    key: str
    value: str


class RunTag(NamedTuple):
    """A run tag (``log_batch(tags=[RunTag(key, value)])``)."""

    key: str
    value: str


class ExperimentTag(NamedTuple):
    """An experiment tag."""

    key: str
    value: str


class LifecycleStage:
    """Whether an experiment or run is active or deleted (MLflow's names)."""

    ACTIVE = "active"
    DELETED = "deleted"

    @staticmethod
    def view_type_to_stages(view_type: int = ViewType.ALL) -> list[str]:
        return {ViewType.ACTIVE_ONLY: ["active"], ViewType.DELETED_ONLY: ["deleted"]}.get(
            view_type, ["active", "deleted"])

    @staticmethod
    def is_valid(stage: str) -> bool:
        return stage in ("active", "deleted")


class SourceType:
    """What started a run (the ``mlflow.source.type`` tag)."""

    NOTEBOOK = "NOTEBOOK"
    JOB = "JOB"
    PROJECT = "PROJECT"
    LOCAL = "LOCAL"
    UNKNOWN = "UNKNOWN"
    RECIPE = "RECIPE"


class PagedList(list[T]):
    """A page of search results; ``token`` is the ``page_token`` of the next page, or None
    (MLflow's ``PagedList``)."""

    def __init__(self, items: list[T], token: str | None) -> None:
        super().__init__(items)
        self.token = token
