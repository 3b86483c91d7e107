"""Message-level tests of the registry widget: promote / alias / archive / rollback requests
against a real temporary store, checked through the registry client."""

from __future__ import annotations

import sys
from typing import Any

import pytest

pytest.importorskip("anywidget")


@pytest.fixture
def two(client: Any) -> Any:
    """Registered model "churn" with versions 1 and 2, each from a run with metrics."""
    import trackbook as tb

    tb.set_experiment("reg")
    client.create_registered_model("churn")
    for i in range(2):
        with tb.start_run(run_name=f"train-{i + 1}") as run:
            tb.log_metrics({"auc": 0.7 + i / 10, "loss": 0.5 - i / 10})
            tb.log_param("depth", i + 2)
        client.create_model_version("churn", f"runs:/{run.info.run_id}/model")
    return client


@pytest.fixture
def widget(two: Any) -> Any:
    from trackbook.widgets import registry_panel

    return registry_panel("churn")


def ask(w: Any, kind: str, **payload: Any) -> dict[str, Any]:
    reply, buffers = w.handle_request({"type": kind, "id": f"req-{kind}", **payload})
    assert buffers == []
    assert reply["id"] == f"req-{kind}"
    return dict(reply)


def stages(client: Any) -> dict[int, str]:
    return {v.version: v.current_stage for v in client.search_model_versions("name = 'churn'")}


def test_state_lists_versions_with_runs_metrics_and_badges(widget: Any, two: Any) -> None:
    two.set_registered_model_alias("churn", "champion", 1)
    reply = ask(widget, "state")
    assert reply["ok"], reply
    st = reply["state"]
    assert [v["version"] for v in st["versions"]] == [2, 1]
    assert st["metrics"] == ["auc", "loss"]
    v2, v1 = st["versions"]
    assert v2["run_name"] == "train-2"
    assert v2["metrics"] == pytest.approx({"auc": 0.8, "loss": 0.4})
    assert v1["aliases"] == ["champion"]
    assert v2["run_id"] == two.get_model_version("churn", 2).run_id
    assert st["rollback_targets"] == ["champion"]
    assert st["history_total"] == 1


def test_promote_writes_the_stage_and_the_log(widget: Any, two: Any) -> None:
    reply = ask(widget, "promote", version=2, stage="Production", comment="better auc")
    assert reply["ok"], reply
    assert reply["message"] == "version 2 is now in Production"
    assert stages(two) == {1: "None", 2: "Production"}
    (entry,) = two.get_model_version_history("churn")
    assert (entry.action, entry.version, entry.from_, entry.to, entry.comment) == \
        ("stage", 2, "None", "Production", "better auc")
    assert entry.user
    # the reply carries the state read back from the store
    assert reply["state"]["versions"][0]["stage"] == "Production"
    assert reply["state"]["history"][0]["comment"] == "better auc"


def test_promote_with_archive_existing_versions(widget: Any, two: Any) -> None:
    assert ask(widget, "promote", version=1, stage="Production")["ok"]
    reply = ask(widget, "promote", version=2, stage="Production",
                archive_existing_versions=True)
    assert reply["ok"], reply
    assert stages(two) == {1: "Archived", 2: "Production"}
    assert two.get_model_version_history("churn")[-1].archived == (1,)


def test_archive_and_alias(widget: Any, two: Any) -> None:
    assert ask(widget, "promote", version=1, stage="Archived")["ok"]
    assert stages(two)[1] == "Archived"
    reply = ask(widget, "alias", version=2, alias="champion", comment="new best")
    assert reply["ok"], reply
    assert two.get_model_version_by_alias("churn", "champion").version == 2
    entry = two.get_model_version_history("churn")[-1]
    assert (entry.action, entry.target, entry.from_, entry.to, entry.comment) == \
        ("alias", "champion", None, 2, "new best")
    assert reply["state"]["versions"][0]["aliases"] == ["champion"]


def test_rollback_of_a_stage_and_of_an_alias(widget: Any, two: Any) -> None:
    ask(widget, "promote", version=1, stage="Production")
    ask(widget, "promote", version=2, stage="Production", archive_existing_versions=True)
    reply = ask(widget, "rollback", target="Production", comment="v2 regressed")
    assert reply["ok"], reply
    assert reply["message"] == "Production rolled back to version 1"
    assert stages(two) == {1: "Production", 2: "None"}
    assert two.get_model_version_history("churn")[-1].action == "rollback"

    ask(widget, "alias", version=1, alias="champion")
    ask(widget, "alias", version=2, alias="champion")
    assert ask(widget, "rollback", target="champion")["ok"]
    assert two.get_model_version_by_alias("churn", "champion").version == 1


@pytest.mark.parametrize(("kind", "payload", "needle"), [
    ("promote", {"version": 2, "stage": "Gold"}, "stage must be one of"),
    ("promote", {"version": 9, "stage": "Staging"}, "no version 9"),
    ("promote", {"stage": "Staging"}, "version number is needed"),
    ("alias", {"version": 2, "alias": ""}, "alias"),
    ("alias", {"version": 2, "alias": "bad alias!"}, "alias"),
    ("rollback", {"target": "Production"}, "cannot roll back"),
    ("rollback", {"target": "champion"}, "cannot roll back"),
    ("launch", {}, "unknown request type"),
])
def test_invalid_requests_answer_an_error_and_change_nothing(
        widget: Any, two: Any, kind: str, payload: dict[str, Any], needle: str) -> None:
    before = (stages(two), two.get_model_version_history("churn"),
              two.get_registered_model("churn").aliases)
    reply = ask(widget, kind, **payload)
    assert reply["ok"] is False
    assert needle in reply["error"]
    assert (stages(two), two.get_model_version_history("churn"),
            two.get_registered_model("churn").aliases) == before


def test_the_store_is_the_source_of_truth(widget: Any, two: Any) -> None:
    """Changes made from code (another client) show up in the next state reply."""
    two.transition_model_version_stage("churn", 1, "Staging")
    st = ask(widget, "state")["state"]
    assert {v["version"]: v["stage"] for v in st["versions"]} == {1: "Staging", 2: "None"}


def test_text_and_html_fallbacks(widget: Any, two: Any) -> None:
    ask(widget, "promote", version=2, stage="Production", comment="ship it")
    ask(widget, "alias", version=2, alias="champion")
    text = repr(widget)
    lines = text.splitlines()
    assert lines[0] == "registered model churn: 2 versions"
    assert lines[1].split() == ["version", "stage", "aliases", "run", "auc", "loss"]
    assert lines[2].split()[:3] == ["2", "Production", "@champion"]
    assert "train-2" in lines[2]
    assert "@champion (none) -> v2" in text
    assert "v2 stage None -> Production — ship it" in text
    page = widget._repr_html_()
    assert "<td>Production</td>" in page
    assert "ship it" in page


def test_unknown_model_fails_at_creation(two: Any) -> None:
    from trackbook.registry import RegisteredModelNotFoundError
    from trackbook.widgets import registry_panel

    with pytest.raises(RegisteredModelNotFoundError):
        registry_panel("nope")


def test_both_spellings_of_the_entry_point(two: Any) -> None:
    import trackbook as tb
    from trackbook.widgets import Registry

    assert tb.registry is sys.modules["trackbook.registry"]
    assert tb.registry.register_model is tb.register_model  # still the package
    w = tb.registry("churn", metrics=["auc"])
    assert isinstance(w, Registry)
    assert w.model_name == "churn"
    assert w.metrics == ["auc"]
    assert isinstance(tb.registry_panel("churn"), Registry)


def test_registry_does_not_import_widgets() -> None:
    import subprocess

    code = ("import sys, trackbook as tb, trackbook.registry; tb.registry; "
            "print('trackbook.widgets' in sys.modules, 'anywidget' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.split() == ["False", "False"]


def test_versions_without_a_source_run_show_their_source(two: Any) -> None:
    from trackbook.widgets import registry_panel

    two.create_model_version("churn", "/models/imported")
    w = registry_panel("churn")
    v3 = ask(w, "state")["state"]["versions"][0]
    assert (v3["version"], v3["run_id"], v3["run_name"], v3["metrics"]) == (3, None, None, {})
    assert "/models/imported" in repr(w).splitlines()[2]
    assert ask(w, "promote", version=3, stage="Staging")["ok"]


def test_a_renamed_model_shows_the_rename_and_the_old_name_says_where_it_went(
        two: Any) -> None:
    from trackbook.registry import RegisteredModelRenamedError
    from trackbook.widgets import registry_panel

    old = registry_panel("churn")
    two.set_registered_model_alias("churn", "champion", 1)
    two.rename_registered_model("churn", "churn-model")
    reply = ask(old, "state")  # a widget opened before the rename
    assert reply["ok"] is False
    assert "'churn' was renamed to 'churn-model'" in reply["error"]
    with pytest.raises(RegisteredModelRenamedError):
        registry_panel("churn")
    w = registry_panel("churn-model")
    st = ask(w, "state")["state"]
    assert [v["version"] for v in st["versions"]] == [2, 1]
    assert st["rollback_targets"] == ["champion"]
    last = st["history"][0]
    assert (last["action"], last["from"], last["to"]) == ("rename", "churn", "churn-model")
    assert "renamed churn -> churn-model" in repr(w)
