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
      envs/<sha1>.txt                 installed-packages snapshots, content-addressed
      catalog.duckdb                  the DuckDB index (deletable, rebuilt from the files)
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

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
            d.mkdir(parents=True, exist_ok=True)
        if not self.format_file.exists():
            tmp = self.format_file.with_name(f"FORMAT.{os.getpid()}.tmp")
            tmp.write_text(f"trackbook-store {FORMAT_VERSION}\n")
            os.replace(tmp, self.format_file)


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so readers see the old file or the whole new one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def create_exclusive(path: Path, data: bytes) -> bool:
    """Create ``path`` with ``data`` only if it does not exist yet; return whether we did.

    The content is written to a temp file first and hard-linked into place, so a
    reader never sees a half-written claim and exactly one creator wins.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
    try:
        os.link(tmp, path)
        return True
    except FileExistsError:
        return False
    finally:
        tmp.unlink(missing_ok=True)
