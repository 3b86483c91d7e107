"""``tb.Client`` offers every model-registry method of MLflow's ``MlflowClient`` (prompts and
webhooks aside) with MLflow's parameter names, and the ones added for that behave."""

from __future__ import annotations

import inspect
from pathlib import Path
from urllib.parse import urlparse

import pytest

import trackbook as tb
from trackbook.registry import InvalidRegistryNameError, ModelVersionNotFoundError

# MlflowClient 3.x registry methods and their parameter names (from its signatures).
MLFLOW_REGISTRY_METHODS = {
    "copy_model_version": ["src_model_uri", "dst_name"],
    "create_model_version": ["name", "source", "run_id", "tags", "run_link", "description",
                             "await_creation_for", "model_id"],
    "create_registered_model": ["name", "tags", "description", "deployment_job_id"],
    "delete_model_version": ["name", "version"],
    "delete_model_version_tag": ["name", "version", "key", "stage"],
    "delete_registered_model": ["name"],
    "delete_registered_model_alias": ["name", "alias"],
    "delete_registered_model_tag": ["name", "key"],
    "get_latest_versions": ["name", "stages"],
    "get_model_version": ["name", "version"],
    "get_model_version_by_alias": ["name", "alias"],
    "get_model_version_download_uri": ["name", "version"],
    "get_model_version_stages": ["name", "version"],
    "get_registered_model": ["name"],
    "rename_registered_model": ["name", "new_name"],
    "search_model_versions": ["filter_string", "max_results", "order_by", "page_token"],
    "search_registered_models": ["filter_string", "max_results", "order_by", "page_token"],
    "set_model_version_tag": ["name", "version", "key", "value", "stage"],
    "set_registered_model_alias": ["name", "alias", "version"],
    "set_registered_model_tag": ["name", "key", "value"],
    "transition_model_version_stage": ["name", "version", "stage",
                                       "archive_existing_versions"],
    "update_model_version": ["name", "version", "description"],
    "update_registered_model": ["name", "description", "deployment_job_id"],
}


@pytest.mark.parametrize("method", sorted(MLFLOW_REGISTRY_METHODS))
def test_every_mlflow_registry_method_exists_with_its_parameter_names(method) -> None:
    params = list(inspect.signature(getattr(tb.Client, method)).parameters)[1:]
    wanted = MLFLOW_REGISTRY_METHODS[method]
    assert params[:len(wanted)] == wanted  # positional calls line up too


@pytest.fixture
def five(client):
    client.create_registered_model("m")
    for i in range(5):
        client.create_model_version("m", f"/models/{i + 1}", await_creation_for=300)
    return client


def test_search_pages_with_tokens(five) -> None:
    for name in ("a", "b", "c"):
        five.create_registered_model(name)
    first = five.search_registered_models(max_results=2)
    assert [m.name for m in first] == ["a", "b"]
    second = five.search_registered_models(max_results=2, page_token=first.token)
    assert [m.name for m in second] == ["c", "m"]
    assert second.token is None
    versions = five.search_model_versions("name = 'm'", max_results=3)
    assert [v.version for v in versions] == [5, 4, 3]
    rest = five.search_model_versions("name = 'm'", max_results=3, page_token=versions.token)
    assert [v.version for v in rest] == [2, 1]
    assert rest.token is None
    assert five.search_model_versions("name = 'm'").token is None


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"max_results": 0}, "max_results must be a positive integer"),
    ({"max_results": "3"}, "max_results must be a positive integer"),
    ({"page_token": "abc"}, "page_token must be the .token of an earlier page"),
])
def test_bad_paging_arguments_say_what_is_wrong(five, kwargs, match) -> None:
    with pytest.raises(InvalidRegistryNameError, match=match):
        five.search_model_versions(**kwargs)


def test_search_model_versions_order_by(five) -> None:
    got = five.search_model_versions("name = 'm'", order_by=["version_number ASC"])
    assert [v.version for v in got] == [1, 2, 3, 4, 5]
    five.update_model_version("m", 2, description="touched")
    got = five.search_model_versions("name = 'm'", order_by=["last_updated_timestamp DESC"],
                                     max_results=1)
    assert [v.version for v in got] == [2]
    with pytest.raises(InvalidRegistryNameError, match="cannot order by 'nope'"):
        five.search_model_versions(order_by=["nope"])
    with pytest.raises(InvalidRegistryNameError, match="cannot order by 'name UP'"):
        five.search_model_versions(order_by=["name UP"])
    with pytest.raises(InvalidRegistryNameError, match="cannot order by 'version_number'"):
        five.search_registered_models(order_by=["version_number"])
    # An empty result orders fine (it used to be refused: nothing to check the field on).
    assert five.search_model_versions("name = 'none'", order_by=["version_number ASC"]) == []
    with pytest.raises(InvalidRegistryNameError, match="cannot order by 'nope'"):
        five.search_model_versions("name = 'none'", order_by=["nope"])


def test_version_tags_by_stage_as_in_mlflow(five) -> None:
    five.transition_model_version_stage("m", 3, "Staging")
    five.set_model_version_tag("m", key="checked", value="yes", stage="staging")
    assert five.get_model_version("m", 3).tags["checked"] == "yes"
    five.delete_model_version_tag("m", key="checked", stage="Staging")
    assert "checked" not in five.get_model_version("m", 3).tags
    five.set_model_version_tag("m", 1, "k", "v")
    assert five.get_model_version("m", 1).tags["k"] == "v"
    with pytest.raises(InvalidRegistryNameError, match="exactly one of version and stage"):
        five.set_model_version_tag("m", 1, "k", "v", stage="Staging")
    with pytest.raises(ModelVersionNotFoundError, match="no version in stage Production"):
        five.set_model_version_tag("m", key="k", value="v", stage="Production")


def test_copy_model_version_keeps_lineage_and_survives_the_original(client) -> None:
    with tb.start_run() as run:
        tb.log_text("flavors: {}\n", "model/MLmodel")
    src = tb.register_model(f"runs:/{run.info.run_id}/model", "dev",
                            tags={"auc": "0.9"}, description="first")
    client.set_registered_model_alias("dev", "best", src.version)
    copy = client.copy_model_version("models:/dev@best", "prod")
    assert (copy.name, copy.version, copy.run_id, copy.source) == (
        "prod", 1, run.info.run_id, src.source)
    assert (copy.tags, copy.description) == ({"auc": "0.9"}, "first")
    client.rename_registered_model("dev", "dev2")
    assert client.get_model_version("prod", 1).source == src.source
    with pytest.raises(InvalidRegistryNameError, match="not a models:/ URI"):
        client.copy_model_version("runs:/x/model", "prod")


def test_download_uri_is_the_runs_artifact_folder(client) -> None:
    with tb.start_run() as run:
        tb.log_text("flavors: {}\n", "model/MLmodel")
    mv = tb.register_model(f"runs:/{run.info.run_id}/model", "m")
    uri = client.get_model_version_download_uri("m", mv.version)
    local = Path(urlparse(uri).path)
    assert uri.startswith("file://")
    assert (local / "MLmodel").read_text() == "flavors: {}\n"
    client.copy_model_version("models:/m/1", "m2")
    assert client.get_model_version_download_uri("m2", 1) == uri
    client.create_model_version("m", "/elsewhere/model")
    assert client.get_model_version_download_uri("m", 2) == "/elsewhere/model"


def test_stages_list_and_unsupported_mlflow_arguments(five) -> None:
    assert five.get_model_version_stages("m", 1) == ["None", "Staging", "Production",
                                                     "Archived"]
    with pytest.raises(ModelVersionNotFoundError):
        five.get_model_version_stages("m", 9)
    with pytest.raises(InvalidRegistryNameError, match="Databricks"):
        five.create_registered_model("x", deployment_job_id="123")
    with pytest.raises(tb.TrackbookError, match="no logged model with id 'm-123'"):
        five.create_model_version("m", "/p", model_id="m-123")
