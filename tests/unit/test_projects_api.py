"""The public face of projects: ``tb.projects`` loads lazily and stays light."""

from __future__ import annotations

import json
import subprocess
import sys

import trackbook as tb


def test_tb_projects_is_the_subpackage_with_its_public_names() -> None:
    import trackbook.projects as projects

    assert tb.projects is projects
    assert "projects" in dir(tb)
    assert projects.__all__ == sorted(projects._LAZY)
    for name in projects.__all__:
        assert getattr(projects, name) is not None
    assert callable(tb.projects.run)
    assert callable(tb.projects.sweep)  # the function, not the sweeps module


def test_importing_projects_and_the_cli_loads_nothing_heavy() -> None:
    code = ("import sys, json, trackbook as tb; tb.projects; import trackbook.cli as c; "
            "c.build_parser(); print(json.dumps([m for m in ('pandas', 'duckdb', 'pyarrow', "
            "'yaml', 'trackbook.projects.runner') if m in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert json.loads(out.stdout) == []


def test_cli_has_a_run_subcommand() -> None:
    from trackbook.cli import build_parser

    args = build_parser().parse_args(["run", "proj", "-e", "train", "-P", "alpha=0.5", "-P",
                                      "tag=a=b", "--env-manager", "uv", "-v", "main"])
    assert (args.uri, args.entry_point, args.env_manager, args.git_version) == \
        ("proj", "train", "uv", "main")
    assert args.params == [("alpha", "0.5"), ("tag", "a=b")]
