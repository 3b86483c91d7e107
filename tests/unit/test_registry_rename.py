"""``rename_registered_model``: everything moves with the model, the old name points to the
new one in its errors, and the promotion log records the rename."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import trackbook as tb
from trackbook.registry import (
    InvalidRegistryNameError,
    PromotionEntry,
    RegisteredModelExistsError,
    RegisteredModelNotFoundError,
    RegisteredModelRenamedError,
    Registry,
    on_promotion,
    remove_promotion_hook,
    resolve_model_uri,
)


@pytest.fixture
def churn(client):
    """Model "churn" with versions 1-3, tags, @champion on 2, 1 in Production."""
    client.create_registered_model("churn", tags={"team": "growth"}, description="d")
    for i in range(3):
        client.create_model_version("churn", f"/models/{i + 1}", tags={"i": str(i + 1)})
    client.set_registered_model_alias("churn", "champion", 2, comment="best auc")
    client.transition_model_version_stage("churn", 1, "Production")
    return client


def test_versions_aliases_tags_and_history_move_with_the_model(churn) -> None:
    before = churn.get_model_version_history("churn")
    rm = churn.rename_registered_model("churn", "churn-model")
    assert rm.name == "churn-model"
    assert rm.tags == {"team": "growth"}
    assert rm.description == "d"
    assert rm.aliases == {"champion": 2}
    versions = churn.search_model_versions("name = 'churn-model'")
    assert [(v.version, v.name, v.source, v.tags["i"]) for v in versions] == [
        (3, "churn-model", "/models/3", "3"), (2, "churn-model", "/models/2", "2"),
        (1, "churn-model", "/models/1", "1")]
    assert churn.get_model_version_by_alias("churn-model", "champion").version == 2
    assert churn.get_latest_versions("churn-model", ["Production"])[0].version == 1
    assert [m.name for m in churn.search_registered_models()] == ["churn-model"]
    assert churn.search_model_versions("name = 'churn'") == []
    history = churn.get_model_version_history("churn-model")
    assert history[:-1] == before
    last = history[-1]
    assert (last.action, last.target, last.from_, last.to, last.name) == (
        "rename", "churn-model", "churn", "churn-model", "churn")
    assert last.user
    # New versions continue the same numbering under the new name.
    assert tb.register_model("/models/4", "churn-model").version == 4


@pytest.mark.parametrize("uri", ["models:/churn/1", "models:/churn@champion",
                                 "models:/churn/Production", "models:/churn/latest"])
def test_old_models_uris_fail_naming_the_new_name(churn, uri) -> None:
    churn.rename_registered_model("churn", "churn-model")
    with pytest.raises(RegisteredModelRenamedError,
                       match="'churn' was renamed to 'churn-model'") as err:
        resolve_model_uri(uri)
    assert err.value.new_name == "churn-model"
    assert isinstance(err.value, RegisteredModelNotFoundError)  # MLflow-style handling works
    assert resolve_model_uri(uri.replace("churn", "churn-model")).startswith("/models/")


def test_writes_under_the_old_name_are_refused_naming_the_new_name(churn) -> None:
    churn.rename_registered_model("churn", "churn-model")
    for call in (lambda: churn.set_registered_model_alias("churn", "x", 1),
                 lambda: churn.transition_model_version_stage("churn", 3, "Staging"),
                 lambda: churn.create_model_version("churn", "/p"),
                 lambda: tb.register_model("/p", "churn"),
                 lambda: churn.create_registered_model("churn"),
                 lambda: churn.delete_registered_model("churn"),
                 lambda: churn.rename_registered_model("churn", "other")):
        with pytest.raises(RegisteredModelRenamedError, match="renamed to 'churn-model'"):
            call()
    assert [v.version for v in churn.search_model_versions("name = 'churn-model'")] == [3, 2, 1]


def test_renaming_onto_a_taken_name_is_refused_and_changes_nothing(churn) -> None:
    churn.create_registered_model("other")
    with pytest.raises(RegisteredModelExistsError, match="'other' already exists"):
        churn.rename_registered_model("churn", "other")
    assert churn.get_registered_model("churn").aliases == {"champion": 2}
    assert churn.get_model_version_history("churn")[-1].action == "stage"


def test_a_deleted_models_name_is_not_handed_to_another_model(churn) -> None:
    churn.create_registered_model("old")
    churn.delete_registered_model("old")
    with pytest.raises(RegisteredModelExistsError, match="belonged to a deleted model"):
        churn.rename_registered_model("churn", "old")
    assert churn.get_registered_model("churn").name == "churn"


@pytest.mark.parametrize("bad", ["", "a/b", "x@y", " pad", None])
def test_bad_new_names_are_refused(churn, bad) -> None:
    with pytest.raises(InvalidRegistryNameError):
        churn.rename_registered_model("churn", bad)


def test_renaming_a_missing_model_says_so(client) -> None:
    with pytest.raises(RegisteredModelNotFoundError, match="no registered model named 'nope'"):
        client.rename_registered_model("nope", "x")


def test_rename_chain_and_rename_back(churn) -> None:
    churn.rename_registered_model("churn", "b")
    churn.rename_registered_model("b", "c")
    with pytest.raises(RegisteredModelRenamedError, match="'b' was renamed to 'c'"):
        churn.get_registered_model("b")
    with pytest.raises(RegisteredModelRenamedError, match="'churn' was renamed to 'c'"):
        churn.get_model_version("churn", 1)
    churn.rename_registered_model("c", "churn")  # back to the first name (its own folder)
    assert churn.get_model_version_by_alias("churn", "champion").version == 2
    churn.rename_registered_model("churn", "b")  # and to a former name again
    assert [m.name for m in churn.search_registered_models()] == ["b"]
    renames = [(e.from_, e.to) for e in churn.get_model_version_history("b")
               if e.action == "rename"]
    assert renames == [("churn", "b"), ("b", "c"), ("c", "churn"), ("churn", "b")]
    # Renaming to the same name is a no-op, not a log entry.
    churn.rename_registered_model("b", "b")
    assert len([e for e in churn.get_model_version_history("b") if e.action == "rename"]) == 4


def test_a_renamed_then_deleted_model_says_both(churn) -> None:
    churn.rename_registered_model("churn", "b")
    churn.delete_registered_model("b", force=True)
    with pytest.raises(RegisteredModelRenamedError, match="renamed to 'b' and later deleted"):
        churn.get_registered_model("churn")
    with pytest.raises(RegisteredModelNotFoundError):
        churn.get_registered_model("b")
    churn.create_registered_model("b")  # the current name can be registered again
    assert churn.create_model_version("b", "/p").version == 4


def test_rename_runs_the_promotion_hooks(churn) -> None:
    seen: list[PromotionEntry] = []
    hook = on_promotion(seen.append)
    try:
        churn.rename_registered_model("churn", "churn-model")
    finally:
        remove_promotion_hook(hook)
    assert [(e.action, e.from_, e.to) for e in seen] == [("rename", "churn", "churn-model")]


def test_a_fresh_reader_and_the_files_agree(churn, tb_store: Path) -> None:
    churn.rename_registered_model("churn", "churn-model")
    fresh = Registry(tb_store)  # no cache: another process
    assert fresh.names() == ["churn-model"]
    assert fresh.by_alias("churn-model", "champion").version == 2
    with pytest.raises(RegisteredModelRenamedError):
        fresh.state("churn")
    homes, pointers = [], []
    for folder in (tb_store / "registry").iterdir():
        record = json.loads((folder / "model.json").read_text())
        (pointers if "home" in record else homes).append((folder, record))
    assert len(homes) == 1
    assert len(pointers) == 1
    (home, home_rec), (_, pointer) = homes[0], pointers[0]
    assert home_rec["name"] == "churn"  # the folder keeps its first name; events rename it
    assert pointer == {**pointer, "name": "churn-model", "home": home.name,
                       "renamed_from": "churn"}
    last = max(int(p.stem) for p in (home / "events").glob("*.json"))
    event = json.loads((home / "events" / f"{last}.json").read_text())
    assert (event["op"], event["from"], event["to"]) == ("rename", "churn", "churn-model")


def test_an_unfinished_rename_can_be_finished_by_running_it_again(churn, tb_store: Path) -> None:
    # A renamer that died after claiming the new name's pointer, before the rename event.
    from trackbook.registry._files import claim
    from trackbook.registry._names import model_key

    reg = Registry(tb_store)
    folder = tb_store / "registry" / model_key("new")
    folder.mkdir()
    claim(folder / "model.json", {"name": "new", "home": reg.cache.home_key("churn"),
                                  "renamed_from": "churn", "creation_timestamp": 0})
    with pytest.raises(RegisteredModelNotFoundError, match="unfinished rename of 'churn'"):
        churn.get_registered_model("new")
    with pytest.raises(RegisteredModelNotFoundError, match="unfinished rename"):
        churn.create_registered_model("new")
    assert churn.get_registered_model("churn").name == "churn"  # untouched
    churn.rename_registered_model("churn", "new")
    assert churn.get_model_version_by_alias("new", "champion").version == 2
