"""``trackbook run``: the command-line face of :func:`trackbook.projects.run`.

Kept apart from ``trackbook/cli.py`` so that the CLI only imports the projects code
when this subcommand runs (this module imports nothing heavy).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .._argtypes import key_value

ENV_MANAGERS = ("local", "virtualenv", "uv", "conda")


def add_parser(sub: Any, store_help: str) -> argparse.ArgumentParser:
    """Add the ``run`` subcommand to ``sub`` (argparse subparsers)."""
    p: argparse.ArgumentParser = sub.add_parser(
        "run", help="run an MLproject entry point as a tracked run",
        description="Run an entry point of a project folder or git repository (MLflow's "
                    "MLproject format) as a tracked run, streaming its output. Exit status: "
                    "0 when the run FINISHED, 1 when it FAILED or was KILLED, 2 for bad "
                    "arguments (checked before anything runs).")
    p.add_argument("uri", metavar="URI",
                   help="project folder or git URL (URL#subfolder for a folder in it)")
    p.add_argument("-e", "--entry-point", default="main", metavar="NAME",
                   help="entry point, or a .py/.sh file of the project (default: main)")
    p.add_argument("-P", "--param", dest="params", action="append", default=[],
                   metavar="KEY=VALUE", type=key_value,
                   help="a parameter (repeat for more)")
    p.add_argument("--env-manager", choices=ENV_MANAGERS, default="local",
                   help="where the command runs: this Python (local, the default), or a "
                        "cached virtualenv / uv / conda environment built from the project's "
                        "python_env or conda_env")
    p.add_argument("-v", "--version", dest="git_version", metavar="REF",
                   help="git branch, tag or commit to run")
    p.add_argument("--experiment-name", metavar="NAME", help="experiment of the run "
                   "(created if needed; default: $TRACKBOOK_EXPERIMENT_NAME or Default)")
    p.add_argument("--experiment-id", metavar="ID", help="experiment id of the run")
    p.add_argument("--run-name", metavar="NAME", help="name of the run")
    p.add_argument("--store", metavar="PATH", help=store_help)
    p.add_argument("--quiet", action="store_true", help="do not show the command's output")
    p.set_defaults(func=cmd_run)
    return p


def cmd_run(args: argparse.Namespace) -> int:
    from ..tracking.uri import set_tracking_uri
    from .api import run

    if args.store:
        set_tracking_uri(args.store)
    params = dict(args.params)
    sub = run(args.uri, args.entry_point, parameters=params, version=args.git_version,
              env_manager=args.env_manager, synchronous=False,
              experiment_name=args.experiment_name, experiment_id=args.experiment_id,
              run_name=args.run_name, stream_output=not args.quiet)
    print(f"trackbook: run {sub.run_id} started: {sub.command}", file=sys.stderr)
    ok = sub.wait()
    print(f"trackbook: run {sub.run_id} {sub.status}", file=sys.stderr)
    if not ok and sub.error:
        print(f"trackbook: {sub.error}", file=sys.stderr)
    return 0 if ok else 1
