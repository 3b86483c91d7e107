"""``trackbook import-mlflow``: import an MLflow store into a trackbook store.

Kept apart from ``trackbook/cli.py`` so the CLI loads the importer only when this command
runs (this module imports nothing heavy).
"""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(sub: Any, store_help: str) -> argparse.ArgumentParser:
    """Add the ``import-mlflow`` command to ``sub``."""
    p: argparse.ArgumentParser = sub.add_parser(
        "import-mlflow", help="import an MLflow store: runs, metrics, artifacts, registry",
        description="Import an MLflow store losslessly: experiments, runs (ids kept), params, "
                    "tags, every metric point, artifacts, registered models with their "
                    "versions, stages and aliases. MLflow need not be installed. Importing "
                    "again adds only what is new. Anything that cannot be imported (an "
                    "invalid id, a damaged file) is skipped and listed with its reason. "
                    "Exit status: 0 when the import finished (read the skipped lines), 1 "
                    "when everything was skipped or a write failed (e.g. a full disk; "
                    "nothing half-imported shows, run it again), 2 when the source "
                    "cannot be read (not an MLflow store, a damaged database).",
        epilog="examples:\n  trackbook import-mlflow ./mlflow.db --artifacts ./mlartifacts\n"
               "  trackbook import-mlflow ./mlruns",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("source", metavar="MLFLOW_STORE",
                   help="MLflow's SQLite database (mlflow.db, or sqlite:///...) or legacy "
                        "file store folder (mlruns)")
    p.add_argument("--artifacts", metavar="DIR",
                   help="folder of mlflow-artifacts:/ URIs (`mlflow server "
                        "--artifacts-destination`, default ./mlartifacts), or where a moved "
                        "store's <experiment>/<run>/artifacts folders are now")
    p.add_argument("--store", metavar="PATH", help=store_help)
    p.add_argument("--quiet", action="store_true", help="no progress line")
    p.set_defaults(func=cmd_import_mlflow)
    return p


def cmd_import_mlflow(args: argparse.Namespace) -> int:
    from ._mlflow import import_mlflow

    summary = import_mlflow(args.source, args.artifacts, tracking_uri=args.store,
                            progress=not args.quiet)
    print(summary)
    return 1 if summary.nothing_imported else 0
