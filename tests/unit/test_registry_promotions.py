"""Stages, aliases, rollback, the promotion log and promotion hooks."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from trackbook.registry import (
    InvalidRegistryNameError,
    ModelVersionNotFoundError,
    RegistryHookWarning,
    RollbackError,
    on_promotion,
    remove_promotion_hook,
)


@pytest.fixture
def three(client):
    """A registered model "m" with versions 1, 2, 3."""
    client.create_registered_model("m")
    for i in range(3):
        client.create_model_version("m", f"/models/{i + 1}")
    return client


def _stages(client) -> dict[int, str]:
    return {v.version: v.current_stage for v in client.search_model_versions("name = 'm'")}


@pytest.mark.parametrize(("given", "canonical"), [
    ("production", "Production"), ("STAGING", "Staging"), ("archived", "Archived"),
    ("None", "None"), ("none", "None")])
def test_stage_names_are_case_insensitive(three, given, canonical) -> None:
    assert three.transition_model_version_stage("m", 1, given).current_stage == canonical


@pytest.mark.parametrize("bad", ["Prod", "", "deleted", 3])
def test_unknown_stages_are_refused(three, bad) -> None:
    with pytest.raises(InvalidRegistryNameError, match="stage must be one of None, Staging"):
        three.transition_model_version_stage("m", 1, bad)


def test_several_versions_may_share_a_stage_unless_archive_existing(three) -> None:
    three.transition_model_version_stage("m", 1, "Production")
    three.transition_model_version_stage("m", 2, "Production")
    assert _stages(three) == {1: "Production", 2: "Production", 3: "None"}
    three.transition_model_version_stage("m", 3, "Staging")
    mv = three.transition_model_version_stage("m", 3, "Production",
                                              archive_existing_versions=True, comment="go")
    assert mv.current_stage == "Production"
    assert _stages(three) == {1: "Archived", 2: "Archived", 3: "Production"}
    entry = three.get_model_version_history("m")[-1]
    assert (entry.action, entry.version, entry.from_, entry.to, entry.archived,
            entry.comment) == ("stage", 3, "Staging", "Production", (1, 2), "go")


def test_archive_existing_only_touches_the_target_stage(three) -> None:
    three.transition_model_version_stage("m", 1, "Staging")
    three.transition_model_version_stage("m", 2, "Production", archive_existing_versions=True)
    assert _stages(three) == {1: "Staging", 2: "Production", 3: "None"}


def test_get_latest_versions_per_stage(three) -> None:
    three.transition_model_version_stage("m", 1, "Production")
    three.transition_model_version_stage("m", 2, "Production")
    latest = three.get_latest_versions("m", ["Production", "Staging"])
    assert [(v.version, v.current_stage) for v in latest] == [(2, "Production")]
    assert [v.version for v in three.get_latest_versions("m")] == [3, 2]  # None, Production


def test_an_alias_names_one_version_and_moving_it_is_one_logged_event(three) -> None:
    three.set_registered_model_alias("m", "champion", 1)
    three.set_registered_model_alias("m", "champion", 2, comment="better")
    three.set_registered_model_alias("m", "challenger", 2)
    assert three.get_model_version_by_alias("m", "champion").version == 2
    assert three.get_model_version("m", 1).aliases == []
    assert three.get_model_version("m", 2).aliases == ["challenger", "champion"]
    assert three.get_registered_model("m").aliases == {"challenger": 2, "champion": 2}
    log = [(e.action, e.target, e.from_, e.to, e.comment)
           for e in three.get_model_version_history("m")]
    assert log == [("alias", "champion", None, 1, None), ("alias", "champion", 1, 2, "better"),
                   ("alias", "challenger", None, 2, None)]
    three.set_registered_model_alias("m", "champion", 2)  # no move, no entry
    assert len(three.get_model_version_history("m")) == 3
    three.delete_registered_model_alias("m", "challenger")
    with pytest.raises(ModelVersionNotFoundError, match="no alias 'challenger'"):
        three.get_model_version_by_alias("m", "challenger")
    with pytest.raises(ModelVersionNotFoundError, match="no alias 'nope'"):
        three.delete_registered_model_alias("m", "nope")


@pytest.mark.parametrize("alias", ["latest", "3", "v3", "has space", "a/b", ""])
def test_reserved_or_malformed_aliases_are_refused(three, alias) -> None:
    with pytest.raises(InvalidRegistryNameError):
        three.set_registered_model_alias("m", alias, 1)


def test_alias_to_a_missing_version_is_refused(three) -> None:
    with pytest.raises(ModelVersionNotFoundError, match="no version 9"):
        three.set_registered_model_alias("m", "champion", 9)


def test_rollback_of_an_alias_walks_back_through_its_holders(three) -> None:
    for v in (1, 2, 3):
        three.set_registered_model_alias("m", "champion", v)
    assert three.rollback("m", "champion", comment="3 regressed").version == 2
    assert three.get_model_version_by_alias("m", "champion").version == 2
    assert three.rollback("m", "champion").version == 1
    with pytest.raises(RollbackError, match="no earlier"):
        three.rollback("m", "champion")
    entries = [e for e in three.get_model_version_history("m") if e.action == "rollback"]
    assert [(e.target, e.from_, e.to, e.comment) for e in entries] == [
        ("champion", 3, 2, "3 regressed"), ("champion", 2, 1, None)]
    with pytest.raises(RollbackError, match="not set"):
        three.rollback("m", "other")


def test_rollback_skips_deleted_versions(three) -> None:
    for v in (1, 2, 3):
        three.set_registered_model_alias("m", "champion", v)
    three.delete_model_version("m", 2)
    assert three.rollback("m", "champion").version == 1


def test_rollback_of_a_stage_restores_the_previous_holder(three) -> None:
    three.transition_model_version_stage("m", 1, "Production")
    three.transition_model_version_stage("m", 2, "Staging")
    three.transition_model_version_stage("m", 2, "Production", archive_existing_versions=True)
    assert _stages(three) == {1: "Archived", 2: "Production", 3: "None"}
    restored = three.rollback("m", "production")
    assert restored.version == 1
    assert restored.current_stage == "Production"
    # The rolled-back version returns to the stage it had before its promotion.
    assert _stages(three) == {1: "Production", 2: "Staging", 3: "None"}
    entry = three.get_model_version_history("m")[-1]
    assert (entry.action, entry.target, entry.from_, entry.to) == ("rollback", "Production", 2, 1)
    with pytest.raises(RollbackError, match="no earlier version held it"):
        three.rollback("m", "Production")
    with pytest.raises(RollbackError, match="only Staging and Production"):
        three.rollback("m", "Archived")


def test_every_promotion_is_logged_with_user_and_time(three) -> None:
    three.transition_model_version_stage("m", 1, "Staging")
    three.set_registered_model_alias("m", "champion", 1)
    three.update_model_version("m", 1, description="not a promotion")
    log = three.get_model_version_history("m")
    assert [e.action for e in log] == ["stage", "alias"]
    assert all(e.user and e.timestamp > 0 and e.name == "m" for e in log)
    assert [e.seq for e in log] == sorted(e.seq for e in log)
    d = log[0].to_dict()
    assert d["from"] == "None"
    assert d["to"] == "Staging"
    assert json.dumps(d)


def test_python_hooks_run_after_each_promotion(three) -> None:
    seen = []
    hook = on_promotion(seen.append)
    try:
        three.transition_model_version_stage("m", 1, "Production")
        three.set_registered_model_alias("m", "champion", 1)
        three.set_model_version_tag("m", 1, "k", "v")  # not a promotion
    finally:
        remove_promotion_hook(hook)
    three.set_registered_model_alias("m", "champion", 2)
    assert [(e.action, e.target) for e in seen] == [("stage", "Production"), ("alias", "champion")]


def test_a_failing_hook_warns_and_the_promotion_stands(three) -> None:
    def boom(entry):
        raise RuntimeError("pager down")

    on_promotion(boom)
    try:
        with pytest.warns(RegistryHookWarning, match="pager down"):
            three.transition_model_version_stage("m", 1, "Staging")
    finally:
        remove_promotion_hook(boom)
    assert three.get_model_version("m", 1).current_stage == "Staging"


def test_shell_hook_gets_the_event_as_json_on_stdin(three, tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "events.jsonl"
    script = tmp_path / "hook.py"
    script.write_text("import os, sys\n"
                      f"with open({str(out)!r}, 'a') as f:\n"
                      "    f.write(sys.stdin.read().strip() + '\\t'"
                      " + os.environ['TRACKBOOK_PROMOTION_ACTION'] + '\\n')\n")
    monkeypatch.setenv("TRACKBOOK_PROMOTION_HOOK", f"{sys.executable} {script}")
    three.set_registered_model_alias("m", "champion", 3, comment="ship it")
    line, action = out.read_text().strip().split("\t")
    event = json.loads(line)
    assert action == "alias"
    assert (event["name"], event["target"], event["from"], event["to"], event["comment"]) == (
        "m", "champion", None, 3, "ship it")
    monkeypatch.setenv("TRACKBOOK_PROMOTION_HOOK", "exit 3")
    with pytest.warns(RegistryHookWarning, match="exited with 3"):
        three.set_registered_model_alias("m", "champion", 2)
