"""The store facade: what the layers above use to write and query a store."""

from __future__ import annotations

import contextlib
import json
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._errors import ExperimentNotFoundError
from . import durable
from . import metrics as _metrics
from .catalog import Catalog
from .events import now_ms
from .layout import Layout
from .mirror import Mirror
from .session import WriterSession, session_for

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

DEFAULT_EXPERIMENT_ID = "0"
DEFAULT_EXPERIMENT_NAME = "Default"


class Store:
    """A store rooted at a local folder: files are the truth, DuckDB is the index."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.layout = Layout.at(root)
        self.catalog = Catalog(self.layout)
        self.mirror = Mirror(self.catalog)

    @property
    def root(self) -> Path:
        return self.layout.root

    @property
    def session(self) -> WriterSession:
        return session_for(self.layout)

    # -- experiments -----------------------------------------------------------------------

    def experiment_by_name(self, name: str) -> dict[str, Any] | None:
        """Read the name claim directly: no DuckDB needed to find an experiment."""
        claim = self.layout.experiment_name_claim(name)
        try:
            data = claim.read_bytes()
        except FileNotFoundError:
            return None
        try:
            record: dict[str, Any] = json.loads(data)
            record["experiment_id"]  # a KeyError means damage too
        except (ValueError, TypeError, KeyError):
            return self._damaged_experiment(claim, "name", name)
        by_id = self.layout.experiments_dir / f"{record['experiment_id']}.json"
        if not by_id.exists():
            # The creator died between claiming the name and writing the record by id;
            # the claim holds the whole record, so finish its work.
            durable.write_atomic(by_id, data, what=f"the experiment {name!r}")
        return record

    def experiment_by_id(self, experiment_id: str) -> dict[str, Any] | None:
        path = self.layout.experiments_dir / f"{experiment_id}.json"
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            record: dict[str, Any] = json.loads(data)
            record["name"]  # a KeyError means damage too
            return record
        except (ValueError, TypeError, KeyError):
            return self._damaged_experiment(path, "experiment_id", experiment_id)

    def _damaged_experiment(self, path: Path, field: str, value: str) -> dict[str, Any] | None:
        """A damaged experiment file: warn, and use its healthy twin (the record by id for
        a name claim, and the other way round) when one holds ``field == value``."""
        import warnings

        from .._errors import DamagedFileWarning

        warnings.warn(f"experiment file {path} is damaged; `trackbook doctor --repair` "
                      "quarantines it and restores it from its twin", DamagedFileWarning,
                      stacklevel=3)
        for sub in (self.layout.experiments_dir, self.layout.experiments_dir / "names"):
            for twin in sub.glob("*.json"):
                if twin == path:
                    continue
                try:
                    record = json.loads(twin.read_bytes())
                except (OSError, ValueError):
                    continue
                if isinstance(record, dict) and str(record.get(field)) == value \
                        and "name" in record and "experiment_id" in record:
                    return record
        return None

    def create_experiment(self, name: str, artifact_location: str | None = None,
                          experiment_id: str | None = None) -> tuple[str, bool]:
        """Claim ``name``; return (experiment id, whether this call created it)."""
        self.layout.ensure()
        exp_id = experiment_id or str(uuid.uuid4().int >> 80)
        record = {"experiment_id": exp_id, "name": name,
                  "artifact_location": artifact_location, "creation_time": now_ms()}
        data = json.dumps(record).encode()
        claim = self.layout.experiment_name_claim(name)
        what = f"the experiment {name!r}"
        if durable.create_exclusive(claim, data, what=what):
            durable.write_atomic(self.layout.experiments_dir / f"{exp_id}.json", data, what=what)
            return exp_id, True
        for _ in range(100):  # the winner's claim is complete once it exists (hard link)
            existing = self.experiment_by_name(name)
            if existing is not None:
                return existing["experiment_id"], False
            time.sleep(0.01)
        raise ExperimentNotFoundError(f"experiment {name!r} is claimed but unreadable: {claim}")

    def ensure_default_experiment(self) -> str:
        """Id of the experiment named "Default" (id "0" unless a user took the name first)."""
        if self.experiment_by_id(DEFAULT_EXPERIMENT_ID) is not None:
            return DEFAULT_EXPERIMENT_ID
        exp_id, _ = self.create_experiment(DEFAULT_EXPERIMENT_NAME,
                                           experiment_id=DEFAULT_EXPERIMENT_ID)
        return exp_id

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        old = self.experiment_by_id(experiment_id)
        if old is None:
            raise ExperimentNotFoundError(f"no experiment with id {experiment_id!r}")
        record = dict(old, name=new_name)
        data = json.dumps(record).encode()
        what = f"the experiment name {new_name!r}"
        if not durable.create_exclusive(self.layout.experiment_name_claim(new_name), data,
                                        what=what):
            raise ValueError(f"an experiment named {new_name!r} already exists")
        durable.write_atomic(self.layout.experiments_dir / f"{experiment_id}.json", data,
                             what=what)
        self.session.record("experiment_update", exp=experiment_id,
                            fields={"name": new_name, "last_update_time": now_ms()})
        self.layout.experiment_name_claim(old["name"]).unlink(missing_ok=True)

    # -- runs: writing ---------------------------------------------------------------------

    def artifact_root(self, run_id: str) -> Path:
        return self.layout.artifacts_dir(run_id)

    def logged_model_root(self, model_id: str) -> Path:
        """The folder of logged model ``model_id``'s files (``models:/<model_id>``)."""
        return self.layout.logged_model_artifacts(model_id)

    def start_run(self, experiment_id: str, run_name: str, start_time: int,
                  user: str | None, parent_run_id: str | None,
                  run_id: str | None = None) -> str:
        run_id = run_id or uuid.uuid4().hex
        self.session.owners.claim(run_id)
        self.session.record("run_start", run=run_id, exp=experiment_id, name=run_name,
                            start=start_time, user=user, parent=parent_run_id,
                            artifact_uri=str(self.layout.artifacts_dir(run_id)))
        return run_id

    def write_env_snapshot(self, text: str) -> str:
        """Store an installed-packages listing once, by content hash; return the hash."""
        import hashlib

        digest = hashlib.sha1(text.encode()).hexdigest()
        path = self.layout.envs_dir / f"{digest}.txt"
        if not path.exists():
            self.layout.ensure()
            durable.write_atomic(path, text.encode(), level=durable.FLUSH,
                                 what="the run's list of installed packages")
        return digest

    # -- queries (DuckDB) ------------------------------------------------------------------

    @contextlib.contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """An up-to-date catalog to query: this process's in-memory replica, or with
        ``read_only`` the shared file itself opened read-only (for users' own SQL)."""
        if read_only:
            with self.catalog.connect(read_only=True) as con:
                yield con
        else:
            with self.mirror.connect() as con:
                yield con

    def run_row(self, con: duckdb.DuckDBPyConnection, run_id: str) -> dict[str, Any] | None:
        cur = con.execute("SELECT * FROM runs WHERE run_id = ?", [run_id])
        row = cur.fetchone()
        if row is None:
            return None
        return dict(zip([d[0] for d in cur.description], row, strict=True))

    def fetch_metrics(self, run_ids: list[str]) -> None:
        """Make the metric files of ``run_ids`` local before reading them by path (a no-op
        here; an object-store replica downloads what it lacks)."""

    def metric_history(self, run_id: str, keys: list[str] | None = None) -> pa.Table:
        """All points of a run (optionally only ``keys``), straight from its Parquet files."""
        return _metrics.read_metrics(self.layout.metrics_dir(run_id), keys)

    def metric_keys(self, run_id: str) -> list[str]:
        import pyarrow.compute as pc

        table = _metrics.read_metrics(self.layout.metrics_dir(run_id))
        return sorted(pc.unique(table["key"]).to_pylist())

    def metric_file_paths(self, con: duckdb.DuckDBPyConnection,
                          run_ids: list[str] | None = None) -> list[str]:
        """Absolute paths of the metric files the catalog knows (for SQL over points)."""
        if run_ids is None:
            rows = con.execute("SELECT run_id, file FROM metric_files "
                               "ORDER BY run_id, file").fetchall()
        else:
            rows = con.execute("SELECT run_id, file FROM metric_files WHERE "
                               "list_contains(?, run_id) ORDER BY run_id, file",
                               [list(run_ids)]).fetchall()
        return [str(self.layout.metrics_dir(r) / f) for r, f in rows]

    def points(self, con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyRelation:
        """Every point the catalog knows, as a relation on ``con`` (DuckDB's own Parquet
        reader over the metric files: ~3x faster than scanning them as an Arrow dataset)."""
        return _metrics.points_relation(con, self.metric_file_paths(con))
