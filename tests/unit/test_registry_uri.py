"""``models:/`` URIs: every form resolves to its version's source, and models load by them."""

from __future__ import annotations

import pytest

import trackbook as tb
from trackbook.registry import (
    InvalidRegistryNameError,
    ModelVersionNotFoundError,
    RegisteredModelNotFoundError,
    parse_models_uri,
    resolve_model_uri,
)


@pytest.fixture
def registered(client):
    client.create_registered_model("churn model")
    for i in range(3):
        client.create_model_version("churn model", f"/models/{i + 1}")
    client.set_registered_model_alias("churn model", "champion", 2)
    client.transition_model_version_stage("churn model", 1, "Production")
    client.transition_model_version_stage("churn model", 2, "Staging")
    return client


@pytest.mark.parametrize(("uri", "source"), [
    ("models:/churn model/1", "/models/1"),
    ("models:/churn model/3", "/models/3"),
    ("models:/churn model@champion", "/models/2"),
    ("models:/churn model/Production", "/models/1"),
    ("models:/churn model/staging", "/models/2"),
    ("models:/churn model/latest", "/models/3"),
    ("models:///churn%20model/1", "/models/1"),
])
def test_every_uri_form_resolves(registered, uri, source) -> None:
    assert resolve_model_uri(uri) == source


def test_uris_follow_moves(registered) -> None:
    registered.set_registered_model_alias("churn model", "champion", 3)
    registered.transition_model_version_stage("churn model", 3, "Production",
                                              archive_existing_versions=True)
    assert resolve_model_uri("models:/churn model@champion") == "/models/3"
    assert resolve_model_uri("models:/churn model/Production") == "/models/3"


@pytest.mark.parametrize(("uri", "error", "match"), [
    ("models:/churn model/9", ModelVersionNotFoundError, "no version 9"),
    ("models:/churn model@nope", ModelVersionNotFoundError, "no alias 'nope'"),
    ("models:/churn model/Archived", ModelVersionNotFoundError, "no version in stage Archived"),
    ("models:/other/1", RegisteredModelNotFoundError, "no registered model named 'other'"),
    ("models:/churn model", InvalidRegistryNameError, "cannot parse"),
    ("models:/churn model/prod", InvalidRegistryNameError, "neither a version number"),
    ("runs:/abc/model", InvalidRegistryNameError, "not a models:/ URI"),
])
def test_bad_uris_say_what_is_wrong(registered, uri, error, match) -> None:
    with pytest.raises(error, match=match):
        resolve_model_uri(uri)


def test_parse_models_uri() -> None:
    assert parse_models_uri("models:/m/4").version == 4
    assert parse_models_uri("models:/m@a").alias == "a"
    assert parse_models_uri("models:/m/LATEST").latest
    assert parse_models_uri("models:/m/production").stage == "Production"


def test_a_version_registered_from_a_models_uri_resolves_through_it(registered) -> None:
    registered.create_registered_model("mirror")
    registered.create_model_version("mirror", "models:/churn model@champion")
    assert resolve_model_uri("models:/mirror/1") == "/models/2"


class _Doubler(tb.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        return [2 * x for x in model_input]


def test_load_model_by_alias_and_stage(client) -> None:
    with tb.start_run() as run:
        tb.pyfunc.log_model(_Doubler(), name="model")
    mv = tb.register_model(f"runs:/{run.info.run_id}/model", "doubler")
    client.set_registered_model_alias("doubler", "champion", mv.version)
    client.transition_model_version_stage("doubler", mv.version, "Production")
    for uri in ("models:/doubler@champion", "models:/doubler/Production", "models:/doubler/1"):
        assert list(tb.pyfunc.load_model(uri).predict([1, 2])) == [2, 4]
