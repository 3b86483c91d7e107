"""``trackbook registry ...`` (``trackbook/registry/_cli.py``): tables, JSON/CSV, and every
write going through the registry API. Commands run in-process on a temp store; the last
tests run ``python -m trackbook registry`` for real."""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import trackbook as tb
from trackbook.registry import (
    InvalidRegistryNameError,
    ProtectedVersionError,
    RegisteredModelNotFoundError,
    RegisteredModelRenamedError,
    RollbackError,
)
from trackbook.registry._cli import add_parser


@pytest.fixture(autouse=True)
def _wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tables hide columns that do not fit the terminal; these tests read every column,
    whatever terminal (or pseudo-terminal, under CI) the suite runs in."""
    monkeypatch.setenv("COLUMNS", "1000")


def registry(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """Run ``trackbook registry <argv>`` in this process; return what it printed."""
    parser = argparse.ArgumentParser(prog="trackbook")
    add_parser(parser.add_subparsers(), "the store")
    args = parser.parse_args(["registry", *argv])
    assert args.func(args) == 0
    return capsys.readouterr().out


@pytest.fixture
def churn(store: Path) -> dict[str, Any]:
    """Model "churn": versions 1-3 from three runs, @champion on 2, 1 in Production."""
    c = tb.Client()
    runs = []
    for i in range(3):
        with tb.start_run(run_name=f"train-{i + 1}") as run:
            tb.log_text("flavors: {}\n", "model/MLmodel")
        runs.append(run.info.run_id)
        tb.register_model(f"runs:/{run.info.run_id}/model", "churn")
    c.set_registered_model_alias("churn", "champion", 2, comment="best auc")
    c.transition_model_version_stage("churn", 1, "Production")
    c.create_registered_model("fraud", description="not yet")
    return {"store": str(store), "runs": runs, "client": c}


def test_list_shows_versions_stages_and_aliases(churn, capsys) -> None:
    lines = registry(capsys, "list", "--store", churn["store"]).splitlines()
    assert lines[0].split() == ["NAME", "VERSIONS", "LATEST", "STAGES", "ALIASES", "UPDATED",
                                "DESCRIPTION"]
    row = next(line for line in lines if line.startswith("churn"))
    assert row.split()[:6] == ["churn", "3", "3", "Production", "v1", "@champion=v2"]
    fraud = next(line for line in lines if line.startswith("fraud"))
    assert fraud.split()[1] == "0"
    assert fraud.endswith("not yet")


def test_list_as_json_and_csv(churn, capsys) -> None:
    records = json.loads(registry(capsys, "list", "--store", churn["store"],
                                  "--format", "json"))
    assert [r["name"] for r in records] == ["churn", "fraud"]
    assert records[0]["versions"] == 3
    assert records[0]["latest_version"] == 3
    assert records[0]["stages"] == {"Production": 1}
    assert records[0]["aliases"] == {"champion": 2}
    rows = list(csv.DictReader(io.StringIO(registry(capsys, "list", "--store", churn["store"],
                                                    "--format", "csv"))))
    assert rows[0]["name"] == "churn"
    assert rows[0]["aliases"] == "champion=2"
    assert rows[0]["stages"] == "Production=1"
    assert rows[1]["latest_version"] == ""


def test_list_filter(churn, capsys) -> None:
    out = registry(capsys, "list", "--store", churn["store"], "-f", "name LIKE 'fr%'",
                   "--format", "json")
    assert [r["name"] for r in json.loads(out)] == ["fraud"]
    assert "No registered models match" in registry(capsys, "list", "--store", churn["store"],
                                                    "-f", "name = 'x'")


def test_versions_newest_first_with_runs(churn, capsys) -> None:
    lines = registry(capsys, "versions", "churn", "--store", churn["store"]).splitlines()
    assert lines[0].split()[:5] == ["VERSION", "STAGE", "ALIASES", "RUN", "SOURCE"]
    assert [line.split()[0] for line in lines[1:]] == ["3", "2", "1"]
    assert lines[2].split()[:4] == ["2", "None", "@champion", churn["runs"][1][:8]]
    assert lines[3].split()[1] == "Production"
    records = json.loads(registry(capsys, "versions", "churn", "--store", churn["store"],
                                  "--format", "json"))
    assert [(r["version"], r["run_id"]) for r in records] == [
        (3, churn["runs"][2]), (2, churn["runs"][1]), (1, churn["runs"][0])]
    assert registry(capsys, "versions", "fraud", "--store", churn["store"]) == \
        "'fraud' has no versions.\n"
    with pytest.raises(RegisteredModelNotFoundError, match="no registered model named 'x'"):
        registry(capsys, "versions", "x", "--store", churn["store"])


def test_register_from_a_run(churn, capsys) -> None:
    run_id = churn["runs"][0]
    out = registry(capsys, "register", f"runs:/{run_id}/model", "fraud", "--tag", "k=v",
                   "--tag", "team=growth", "--description", "from the CLI",
                   "--store", churn["store"])
    assert out == f"Registered runs:/{run_id}/model as 'fraud' version 1\n"
    mv = churn["client"].get_model_version("fraud", 1)
    assert (mv.run_id, mv.tags, mv.description) == (run_id, {"k": "v", "team": "growth"},
                                                     "from the CLI")
    record = json.loads(registry(capsys, "register", f"runs:/{run_id}/model", "new-model",
                                 "--store", churn["store"], "--format", "json"))
    assert [(r["name"], r["version"], r["source"]) for r in record] == [
        ("new-model", 1, f"runs:/{run_id}/model")]
    with pytest.raises(InvalidRegistryNameError, match="has no artifact 'nope'"):
        registry(capsys, "register", f"runs:/{run_id}/nope", "fraud", "--store",
                 churn["store"])
    with pytest.raises(InvalidRegistryNameError, match="contains '/'"):
        registry(capsys, "register", f"runs:/{run_id}/model", "a/b", "--store",
                 churn["store"])


def test_bad_tag_is_a_usage_error(churn, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        registry(capsys, "register", "runs:/x/model", "m", "--tag", "novalue")
    assert exc.value.code == 2
    assert "expected KEY=VALUE, got 'novalue'" in capsys.readouterr().err


def test_set_alias_stage_rollback_and_history(churn, capsys) -> None:
    s = churn["store"]
    assert registry(capsys, "set-alias", "churn", "champion", "3", "-m", "retrained",
                    "--store", s) == "churn@champion -> version 3\n"
    assert registry(capsys, "stage", "churn", "3", "production", "--archive-existing",
                    "-m", "go", "--store", s) == \
        "churn version 3 is now in Production (archived v1)\n"
    assert registry(capsys, "rollback", "churn", "champion", "--store", s) == \
        "churn champion rolled back from version 3 to version 2\n"
    assert registry(capsys, "delete-alias", "churn", "champion", "--store", s) == \
        "Removed churn@champion (was version 2)\n"
    c = churn["client"]
    assert c.get_model_version("churn", 3).current_stage == "Production"
    assert c.get_registered_model("churn").aliases == {}
    lines = registry(capsys, "history", "churn", "--store", s).splitlines()
    assert lines[0].split() == ["#", "WHEN", "USER", "ACTION", "TARGET", "VERSION", "FROM",
                                "TO", "ARCHIVED", "COMMENT"]
    actions = [line.split()[4:6] for line in lines[1:]]  # after "N just now USER"
    assert actions == [["alias", "champion"], ["stage", "Production"], ["alias", "champion"],
                       ["stage", "Production"], ["rollback", "champion"],
                       ["alias", "champion"]]
    assert "v1" in lines[4]
    assert lines[4].endswith("go")
    log = json.loads(registry(capsys, "history", "churn", "--store", s, "--format", "json"))
    assert [e["action"] for e in log] == ["alias", "stage", "alias", "stage", "rollback",
                                          "alias"]
    assert (log[3]["from"], log[3]["to"], log[3]["archived"]) == ("None", "Production", [1])
    assert log[2]["comment"] == "retrained"
    rows = list(csv.DictReader(io.StringIO(registry(capsys, "history", "churn", "--store", s,
                                                    "--format", "csv"))))
    assert rows[3]["archived"] == "1"
    with pytest.raises(RollbackError):
        registry(capsys, "rollback", "churn", "champion", "--store", s)
    with pytest.raises(InvalidRegistryNameError, match="stage must be one of"):
        registry(capsys, "stage", "churn", "1", "Prod", "--store", s)


def test_rename_and_delete(churn, capsys) -> None:
    s = churn["store"]
    out = registry(capsys, "rename", "churn", "churn-model", "--store", s)
    assert out.startswith("Renamed 'churn' to 'churn-model'")
    with pytest.raises(RegisteredModelRenamedError, match="renamed to 'churn-model'"):
        registry(capsys, "versions", "churn", "--store", s)
    assert "rename" in registry(capsys, "history", "churn-model", "--store", s)
    with pytest.raises(ProtectedVersionError, match="alias @champion"):
        registry(capsys, "delete", "churn-model", "--version", "2", "--store", s)
    assert registry(capsys, "delete", "churn-model", "--version", "3", "--store", s) == \
        "Deleted churn-model version 3 (its number is never reused)\n"
    with pytest.raises(ProtectedVersionError):
        registry(capsys, "delete", "churn-model", "--store", s)
    assert registry(capsys, "delete", "churn-model", "--force", "--store", s) == \
        "Deleted registered model 'churn-model' and its versions\n"
    assert [m.name for m in churn["client"].search_registered_models()] == ["fraud"]


def test_registry_cli_module_imports_nothing_heavy() -> None:
    code = ("import sys, argparse\n"
            "from trackbook.registry._cli import add_parser\n"
            "add_parser(argparse.ArgumentParser().add_subparsers(), 'store')\n"
            "print(sorted(m for m in ('pandas', 'duckdb', 'pyarrow', 'trackbook.registry')\n"
            "             if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    # trackbook.registry is the package itself (its __init__ runs); the heavy ones are not
    assert out.stdout.strip() == "['trackbook.registry']"


def test_importing_the_registry_package_loads_no_store_code() -> None:
    code = ("import sys\n"
            "import trackbook.registry as r\n"
            "before = sorted(m for m in ('trackbook.store.store', 'trackbook.store.catalog',\n"
            "                            'trackbook.registry._registry', 'subprocess')\n"
            "                if m in sys.modules)\n"
            "r.registry_for, r.register_model, r.on_promotion, r.resolve_model_uri\n"
            "print(before, 'trackbook.registry._registry' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[] True"  # loaded on first use, not before


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "TRACKBOOK_STORE"}
    return subprocess.run([sys.executable, "-m", "trackbook", "registry", *args],
                          capture_output=True, text=True, env=env, timeout=120, check=False)


def test_trackbook_registry_from_the_command_line(churn, tmp_path: Path) -> None:
    s = churn["store"]
    out = cli("list", "--store", s, "--format", "json")
    assert (out.returncode, out.stderr) == (0, "")
    assert [r["name"] for r in json.loads(out.stdout)] == ["churn", "fraud"]
    out = cli("versions", "nope", "--store", s)
    assert out.returncode == 1  # not found
    assert out.stderr.startswith("trackbook: error: no registered model named 'nope'")
    out = cli("stage", "churn", "1", "Prod", "--store", s)
    assert out.returncode == 2  # bad input
    assert "stage must be one of" in out.stderr
    out = cli("list", "--store", str(tmp_path / "nowhere"))
    assert out.returncode == 1
    assert "does not exist" in out.stderr
    assert not (tmp_path / "nowhere").exists()
    out = cli()
    assert out.returncode == 2
    assert "set-alias" in out.stderr  # the help lists the commands
    assert "Traceback" not in out.stderr
