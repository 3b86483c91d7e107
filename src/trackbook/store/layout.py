"""Where every file lives under a store root.

::

    <root>/
      FORMAT                          store format version (plain text)
      experiments/names/<sha1>.json   experiment (id, name, ...) claimed by name with O_EXCL
      experiments/<id>.json           the same record, found by id
      log/<writer>.jsonl              one append-only metadata log per writer process
      writers/<writer>.json           writer identity + heartbeat (pid, host, time)
      runs/<run_id>/c-<writer>-<seq>.parquet   metric chunks (one per flush)
      runs/<run_id>/m-<gen>.parquet            compacted metrics (replaces older files)
      runs/<run_id>/artifacts/                 artifact files
      models/m-<32 hex>/artifacts/    files of an MLflow 3 logged model (models:/m-<id>)
      envs/<sha1>.txt                 installed-packages snapshots, content-addressed
      catalog.duckdb                  the DuckDB index (deletable, rebuilt from the files)
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from . import durable

FORMAT_VERSION = 1


@dataclass(frozen=True)
class Layout:
    """Paths of a store rooted at ``root``."""

    root: Path

    @classmethod
    def at(cls, root: str | os.PathLike[str]) -> Layout:
        return cls(Path(root).expanduser().absolute())

    @property
    def format_file(self) -> Path:
        return self.root / "FORMAT"

    @property
    def experiments_dir(self) -> Path:
        return self.root / "experiments"

    def experiment_file(self, experiment_id: str) -> Path:
        return self.experiments_dir / f"{experiment_id}.json"

    def experiment_name_claim(self, name: str) -> Path:
        digest = hashlib.sha1(name.encode("utf-8")).hexdigest()
        return self.experiments_dir / "names" / f"{digest}.json"

    @property
    def log_dir(self) -> Path:
        return self.root / "log"

    def log_file(self, writer_id: str) -> Path:
        return self.log_dir / f"{writer_id}.jsonl"

    @property
    def writers_dir(self) -> Path:
        return self.root / "writers"

    def writer_file(self, writer_id: str) -> Path:
        return self.writers_dir / f"{writer_id}.json"

    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    def run_dir(self, run_id: str) -> Path:
        return self.runs_dir / run_id

    def metrics_dir(self, run_id: str) -> Path:
        # Metric files sit directly in the run folder: one mkdir less per run.
        return self.run_dir(run_id)

    def artifacts_dir(self, run_id: str) -> Path:
        return self.run_dir(run_id) / "artifacts"

    @property
    def logged_models_dir(self) -> Path:
        return self.root / "models"

    def logged_model_artifacts(self, model_id: str) -> Path:
        return self.logged_models_dir / model_id / "artifacts"

    @property
    def envs_dir(self) -> Path:
        return self.root / "envs"

    @property
    def catalog_file(self) -> Path:
        return self.root / "catalog.duckdb"

    @property
    def catalog_id_file(self) -> Path:
        return self.root / "catalog.id"

    def ensure(self) -> None:
        """Create the folders and the FORMAT marker (idempotent, race-free)."""
        for d in (self.experiments_dir / "names", self.log_dir, self.writers_dir,
                  self.runs_dir, self.envs_dir):
            durable.make_dirs(d, what="the store's folders")
        if not self.format_file.exists():
            durable.write_atomic(self.format_file, f"trackbook-store {FORMAT_VERSION}\n".encode(),
                                 what="the store's FORMAT marker")

