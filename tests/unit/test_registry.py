"""Registered models and versions: names, numbering, tags, search, lineage, deletion."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import trackbook as tb
from trackbook._errors import FilterSyntaxError, RunNotFoundError
from trackbook.registry import (
    InvalidRegistryNameError,
    ModelVersionNotFoundError,
    ProtectedVersionError,
    RegisteredModelExistsError,
    RegisteredModelNotFoundError,
)


def _run_with_model(path: str = "model", **params: object) -> str:
    with tb.start_run() as run:
        if params:
            tb.log_params(params)
        tb.log_metric("auc", 0.91)
        tb.log_text("flavors: {}\n", f"{path}/MLmodel")
    return run.info.run_id


def test_register_model_creates_the_model_and_numbers_versions(client) -> None:
    run_id = _run_with_model()
    mv1 = tb.register_model(f"runs:/{run_id}/model", "churn-model", tags={"k": "v"})
    mv2 = tb.register_model(f"runs:/{run_id}/model", "churn-model")
    assert (mv1.version, mv2.version) == (1, 2)
    assert mv1.run_id == run_id
    assert mv1.source == f"runs:/{run_id}/model"
    assert mv1.tags == {"k": "v"}
    assert mv1.current_stage == "None"
    assert mv1.user_id
    got = client.get_model_version("churn-model", "2")  # string versions work too
    assert got.version == 2
    assert got.aliases == []
    rm = client.get_registered_model("churn-model")
    assert [v.version for v in rm.latest_versions] == [2]


def test_mlflow_client_is_the_combined_client(client) -> None:
    assert tb.MlflowClient is tb.Client
    assert hasattr(client, "search_runs")
    assert hasattr(client, "get_model_version")


def test_register_model_checks_the_run_source(client) -> None:
    run_id = _run_with_model()
    with pytest.raises(InvalidRegistryNameError, match="has no artifact 'nope'"):
        tb.register_model(f"runs:/{run_id}/nope", "m")
    with pytest.raises(RunNotFoundError):
        tb.register_model("runs:/0123456789abcdef/model", "m")


@pytest.mark.parametrize("name", ["", "a/b", "a@b", " padded", "tab\there", 5, "x" * 300])
def test_invalid_model_names_are_refused_with_a_reason(client, name) -> None:
    with pytest.raises(InvalidRegistryNameError, match="registered model name"):
        client.create_registered_model(name)


def test_names_differing_in_case_or_punctuation_get_their_own_folders(client, tb_store) -> None:
    for name in ("Churn Model", "churn-model", "churn_model", "CHURN MODEL"):
        client.create_registered_model(name)
    folders = list((tb_store / "registry").iterdir())
    assert len(folders) == 4
    names = {json.loads((f / "model.json").read_text())["name"] for f in folders}
    assert names == {"Churn Model", "churn-model", "churn_model", "CHURN MODEL"}


def test_create_get_update_and_tags_of_registered_models(client) -> None:
    rm = client.create_registered_model("m", tags={"team": "risk"}, description="first")
    assert rm.name == "m"
    assert rm.tags == {"team": "risk"}
    assert rm.description == "first"
    with pytest.raises(RegisteredModelExistsError, match="already exists"):
        client.create_registered_model("m")
    assert client.update_registered_model("m", description="second").description == "second"
    client.set_registered_model_tag("m", "owner", "ana")
    client.delete_registered_model_tag("m", "team")
    assert client.get_registered_model("m").tags == {"owner": "ana"}
    with pytest.raises(RegisteredModelNotFoundError, match="no registered model named 'nope'"):
        client.get_registered_model("nope")


def test_version_description_tags_and_missing_versions(client) -> None:
    client.create_registered_model("m")
    client.create_model_version("m", "/some/path", description="d1")
    assert client.update_model_version("m", 1, description="d2").description == "d2"
    client.set_model_version_tag("m", 1, "validated", "yes")
    assert client.get_model_version("m", 1).tags == {"validated": "yes"}
    client.delete_model_version_tag("m", 1, "validated")
    assert client.get_model_version("m", 1).tags == {}
    with pytest.raises(ModelVersionNotFoundError, match=r"no version 7; its versions are \[1\]"):
        client.get_model_version("m", 7)
    with pytest.raises(InvalidRegistryNameError, match="positive integer"):
        client.get_model_version("m", "one")
    with pytest.raises(RegisteredModelNotFoundError):
        client.create_model_version("unknown", "/p")


def test_search_registered_models_and_versions(client) -> None:
    run_a, run_b = _run_with_model(), _run_with_model()
    tb.register_model(f"runs:/{run_a}/model", "churn-a")
    tb.register_model(f"runs:/{run_b}/model", "churn-b")
    tb.register_model(f"runs:/{run_b}/model", "fraud")
    client.set_registered_model_tag("fraud", "team", "risk")
    names = [m.name for m in client.search_registered_models("name LIKE 'churn%'")]
    assert names == ["churn-a", "churn-b"]
    assert [m.name for m in client.search_registered_models("name ILIKE 'CHURN-_'",
                                                            order_by=["name DESC"])] == [
        "churn-b", "churn-a"]
    assert [m.name for m in client.search_registered_models("tags.team = 'risk'")] == ["fraud"]
    assert len(client.search_registered_models(max_results=2)) == 2
    by_run = client.search_model_versions(f"run_id = '{run_b}'")
    assert sorted(mv.name for mv in by_run) == ["churn-b", "fraud"]
    assert [mv.name for mv in client.search_model_versions(
        f"name = 'churn-a' AND run_id IN ('{run_a}', 'x')")] == ["churn-a"]
    with pytest.raises(FilterSyntaxError, match="unknown key 'colour'"):
        client.search_registered_models("colour = 'red'")
    with pytest.raises(FilterSyntaxError, match="OR is not supported"):
        client.search_registered_models("name = 'a' OR name = 'b'")


def test_lineage_gives_the_source_run_params_and_metrics(client) -> None:
    run_id = _run_with_model(lr=0.1)
    tb.register_model(f"runs:/{run_id}/model", "m")
    lineage = client.get_model_version_lineage("m", 1)
    assert lineage["run_id"] == run_id
    assert lineage["experiment_id"] == "0"
    assert lineage["params"] == {"lr": "0.1"}
    assert lineage["metrics"] == {"auc": 0.91}
    client.create_model_version("m", "/elsewhere")
    assert client.get_model_version_lineage("m", 2)["run_id"] is None


def test_deleted_versions_keep_their_number_and_protected_ones_need_force(client) -> None:
    client.create_registered_model("m")
    for _ in range(3):
        client.create_model_version("m", "/p")
    client.delete_model_version("m", 3)
    assert client.create_model_version("m", "/p").version == 4  # 3 is never reused
    client.set_registered_model_alias("m", "champion", 1)
    client.transition_model_version_stage("m", 2, "Staging")
    with pytest.raises(ProtectedVersionError, match=r"alias @champion.*force=True"):
        client.delete_model_version("m", 1)
    with pytest.raises(ProtectedVersionError, match="stage Staging"):
        client.delete_model_version("m", 2)
    client.delete_model_version("m", 1, force=True)
    assert client.get_registered_model("m").aliases == {}
    log = client.get_model_version_history("m")
    assert (log[-1].action, log[-1].target, log[-1].from_, log[-1].to) == (
        "alias", "champion", 1, None)
    assert [v.version for v in client.search_model_versions("name = 'm'")] == [4, 2]


def test_deleting_a_registered_model(client) -> None:
    client.create_registered_model("m")
    client.create_model_version("m", "/p")
    client.transition_model_version_stage("m", 1, "Production")
    with pytest.raises(ProtectedVersionError, match="version 1: stage Production"):
        client.delete_registered_model("m")
    client.delete_registered_model("m", force=True)
    with pytest.raises(RegisteredModelNotFoundError):
        client.get_registered_model("m")
    assert client.search_registered_models() == []
    with pytest.raises(RegisteredModelNotFoundError):
        client.update_registered_model("m", description="gone")
    with pytest.raises(RegisteredModelNotFoundError):
        client.delete_registered_model("m")
    # The name can be registered again; version numbers continue (never reused).
    client.create_registered_model("m")
    assert client.create_model_version("m", "/q").version == 2


def test_files_are_plain_json_a_reader_can_follow(client, tb_store: Path) -> None:
    client.create_registered_model("m")
    client.create_model_version("m", "/p")
    client.set_registered_model_alias("m", "champion", 1, comment="best auc")
    folder = next((tb_store / "registry").iterdir())
    assert json.loads((folder / "versions" / "1.json").read_text())["source"] == "/p"
    event = json.loads((folder / "events" / "1.json").read_text())
    assert event["op"] == "alias"
    assert event["comment"] == "best auc"
    assert event["user"]
    assert not list(folder.rglob("*.tmp"))
