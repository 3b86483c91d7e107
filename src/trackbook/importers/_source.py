"""What an importer reads from an MLflow store, whatever its backend (SQLite or files).

Both readers hand the importer the same records, so the import logic is written once.
Metric histories travel as numpy columns (:class:`Points`), never as one object per point.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import numpy as np

# MLflow's run status names (the file store writes their enum numbers).
RUN_STATUSES = {1: "RUNNING", 2: "SCHEDULED", 3: "FINISHED", 4: "FAILED", 5: "KILLED"}
TERMINAL = ("FINISHED", "FAILED", "KILLED")
# MLflow marks a deleted model version with this stage instead of removing its row.
DELETED_STAGE = "Deleted_Internal"


@dataclass
class SourceExperiment:
    experiment_id: str
    name: str
    lifecycle_stage: str = "active"
    creation_time: int | None = None
    last_update_time: int | None = None
    artifact_location: str | None = None
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class SourceRun:
    run_id: str
    experiment_id: str
    name: str | None
    status: str
    start_time: int | None
    end_time: int | None
    lifecycle_stage: str
    user_id: str | None
    artifact_uri: str | None


@dataclass
class Points:
    """The metric history of one run as columns: ``keys[codes[i]]`` is point i's key."""

    keys: list[str]
    codes: np.ndarray
    values: np.ndarray
    steps: np.ndarray
    stamps: np.ndarray

    def __len__(self) -> int:
        return len(self.values)


@dataclass
class MetricBatch:
    """The points of several runs: groups of one (run, key) each, in order, as columns.

    Group ``g`` holds the rows ``offsets[g]:offsets[g + 1]`` of ``values``/``steps``/
    ``stamps``; a run's groups are consecutive.
    """

    runs: list[str]
    keys: list[str]
    sizes: np.ndarray
    values: np.ndarray
    steps: np.ndarray
    stamps: np.ndarray

    @property
    def offsets(self) -> np.ndarray:
        import numpy as np

        out = np.zeros(len(self.sizes) + 1, np.int64)
        np.cumsum(self.sizes, out=out[1:])
        return out

    def run_ranges(self) -> list[tuple[str, int, int]]:
        """(run id, first group, end group) of each run, in order."""
        out: list[tuple[str, int, int]] = []
        start = 0
        for g in range(1, len(self.runs) + 1):
            if g == len(self.runs) or self.runs[g] != self.runs[start]:
                out.append((self.runs[start], start, g))
                start = g
        return out

    def points(self, g0: int, g1: int) -> Points:
        """The groups ``g0:g1`` (one run's) as :class:`Points`."""
        import numpy as np

        off = self.offsets
        a, b = int(off[g0]), int(off[g1])
        codes = np.repeat(np.arange(g1 - g0, dtype=np.int32), self.sizes[g0:g1])
        return Points(self.keys[g0:g1], codes, self.values[a:b], self.steps[a:b],
                      self.stamps[a:b])


@dataclass
class LoggedModel:
    """An MLflow 3 logged model (``models:/m-...``): a model folder outside run artifacts."""

    model_id: str
    experiment_id: str
    name: str
    artifact_location: str | None
    source_run_id: str | None
    creation_time: int
    model_type: str | None = None
    status: str = "READY"
    status_message: str | None = None
    last_updated: int | None = None
    tags: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    #: (key, value, step, timestamp, run id, dataset name, dataset digest)
    metrics: list[tuple[Any, ...]] = field(default_factory=list)


#: MLflow's protobuf numbers of a logged model's status
MODEL_STATUS = {0: "UNSPECIFIED", 1: "PENDING", 2: "READY", 3: "FAILED"}


@dataclass
class SourceVersion:
    version: int
    source: str | None
    run_id: str | None
    stage: str
    description: str | None
    user_id: str | None
    creation_time: int | None
    run_link: str | None
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class SourceModel:
    name: str
    description: str | None
    creation_time: int | None
    tags: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, int] = field(default_factory=dict)
    versions: list[SourceVersion] = field(default_factory=list)


class Source(Protocol):
    """A readable MLflow store."""

    kind: str  # "sqlite" or "file"
    location: Path
    schema_version: str | None
    # (kind, what, why) of what the reader left out (damaged parts of the store)
    skipped: list[tuple[str, str, str]]

    def experiments(self) -> list[SourceExperiment]: ...

    def runs(self) -> list[SourceRun]: ...

    def params(self, run_ids: list[str]) -> dict[str, dict[str, str]]: ...

    def tags(self, run_ids: list[str]) -> dict[str, dict[str, str]]: ...

    def metric_counts(self, run_ids: list[str]) -> dict[str, dict[str, int]]: ...

    def metrics(self, run_ids: list[str]) -> Iterator[MetricBatch]: ...

    def artifact_dir(self, run: SourceRun) -> tuple[Path | None, str | None]: ...

    def logged_models(self) -> list[LoggedModel]: ...

    def logged_model_dir(self, model: LoggedModel) -> tuple[Path | None, str | None]: ...

    def model_outputs(self) -> list[tuple[str, str, int]]: ...

    def registered_models(self) -> tuple[list[SourceModel], list[tuple[str, str]]]: ...

    def close(self) -> None: ...
