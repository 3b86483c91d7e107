"""Registry widget in a real JupyterLab + headless Chromium: click Promote to Production on
version 2, confirm inline, and the store (read from Python) has the new stage and the log
entry; the widget shows the result and the updated log."""

from __future__ import annotations

from typing import Any

import pytest
from lab_driver import (
    change_theme,
    kernel_exec,
    kernel_value,
    poll_kernel,
    running_notebook,
    screenshot,
)


def cells(store: str) -> list[str]:
    return [
        "import trackbook as tb\n"
        f"tb.set_tracking_uri({store!r})\n"
        "tb.set_experiment('registry')\n"
        "c = tb.Client()\n"
        "c.create_registered_model('churn-model')\n"
        "for i in range(2):\n"
        "    with tb.start_run(run_name=f'train-{i + 1}') as run:\n"
        "        tb.log_metrics({'auc': 0.7 + i / 10, 'loss': 0.5 - i / 10})\n"
        "    c.create_model_version('churn-model', f'runs:/{run.info.run_id}/model')\n"
        "c.set_registered_model_alias('churn-model', 'champion', 1)\n"
        "_ = c.transition_model_version_stage('churn-model', 1, 'Production')",
        "w = tb.registry('churn-model', refresh_seconds=0)\nw",
    ]


@pytest.fixture(scope="module")
def nb(lab: Any, page: Any) -> Any:
    with running_notebook(page, lab, "registry", cells, '.tb-registry tr[data-version="2"]') as p:
        yield p


def test_versions_badges_and_metrics(nb: Any) -> None:
    rows = nb.locator(".tb-registry table.tb-versions tbody tr[data-version]")
    assert rows.evaluate_all("rs => rs.map(r => r.dataset.version)") == ["2", "1"]
    v1 = nb.locator('.tb-registry tr[data-version="1"]')
    assert v1.locator(".tb-badge.tb-alias").inner_text() == "@champion"
    assert v1.locator(".tb-badge.tb-stage").inner_text() == "Production"
    v2 = nb.locator('.tb-registry tr[data-version="2"]')
    assert "train-2" in v2.locator(".tb-run").inner_text()
    headers = nb.locator(".tb-registry table.tb-versions th").all_inner_texts()
    assert headers[3:5] == ["auc", "loss"]
    assert v2.locator("td.tb-num").nth(1).inner_text() == "0.8"


def test_promote_to_production_after_confirming(nb: Any) -> None:
    v2 = nb.locator('.tb-registry tr[data-version="2"]')
    v2.locator("button.tb-promote-production").click()
    confirm = nb.locator(".tb-registry tr.tb-confirm")
    confirm.wait_for()
    # nothing is written before the confirmation
    assert kernel_exec(nb, "print(c.get_model_version('churn-model', 2).current_stage)") \
        .strip() == "None"
    confirm.locator("input.tb-comment").fill("better auc")
    confirm.locator("input.tb-archive-existing").check()
    confirm.locator("button.tb-confirm-ok").click()

    stage = poll_kernel(nb, "c.get_model_version('churn-model', 2).current_stage",
                        lambda v: v == "Production")
    assert stage == "Production"
    last = poll_kernel(
        nb, "[(e.action, e.version, e.from_, e.to, e.comment) "
            "for e in c.get_model_version_history('churn-model')][-1:]",
        lambda v: v and v[0][0] == "stage")
    assert last == [["stage", 2, "None", "Production", "better auc"]]

    # the widget shows the result and redraws from the store
    nb.locator(".tb-registry .tb-result", has_text="version 2 is now in Production").wait_for()
    nb.locator('.tb-registry tr[data-version="2"] .tb-badge.tb-stage-Production').wait_for()
    nb.locator(".tb-registry .tb-log li", has_text="better auc").wait_for()
    nb.locator('.tb-registry tr[data-version="1"] .tb-badge.tb-stage-Archived').wait_for()
    assert nb.locator(".tb-registry tr.tb-confirm").count() == 0
    screenshot(nb, "registry-promoted")


def test_invalid_action_shows_the_error_in_the_widget(nb: Any) -> None:
    nb.locator('.tb-registry tr[data-version="1"] button.tb-set-alias').click()
    confirm = nb.locator(".tb-registry tr.tb-confirm")
    confirm.locator("input.tb-alias-input").fill("bad alias!")
    confirm.locator("button.tb-confirm-ok").click()
    nb.locator(".tb-registry .tb-error", has_text="alias").wait_for()
    assert confirm.count() == 1  # still open, to fix the input
    assert kernel_exec(nb, "print(sorted(c.get_registered_model('churn-model').aliases))") \
        .strip() == "['champion']"
    confirm.locator("button.tb-confirm-cancel").click()
    assert nb.locator(".tb-registry tr.tb-confirm").count() == 0


def test_roll_back_production_from_the_widget(nb: Any) -> None:
    nb.locator('.tb-registry .tb-rollback-btn[data-target="Production"]').click()
    confirm = nb.locator(".tb-registry .tb-rollback-confirm tr.tb-confirm")
    confirm.locator("input.tb-comment").fill("v2 regressed")
    confirm.locator("button.tb-confirm-ok").click()
    stages = poll_kernel(
        nb, "[c.get_model_version('churn-model', v).current_stage for v in (1, 2)]",
        lambda v: v == ["Production", "None"])
    assert stages == ["Production", "None"]
    last = kernel_value(nb, "[(e.action, e.target, e.from_, e.to, e.comment) "
                            "for e in c.get_model_version_history('churn-model')][-1]")
    assert last == ["rollback", "Production", 2, 1, "v2 regressed"]
    nb.locator(".tb-registry .tb-result", has_text="Production rolled back to version 1") \
        .wait_for()
    nb.locator('.tb-registry tr[data-version="1"] .tb-badge.tb-stage-Production').wait_for()
    nb.locator(".tb-registry .tb-log li", has_text="v2 regressed").wait_for()


def test_follows_the_dark_theme(nb: Any) -> None:
    background = "el => getComputedStyle(el).backgroundColor"
    widget = nb.locator(".tb-registry")
    light = widget.evaluate(background)
    change_theme(nb, "JupyterLab Dark")
    try:
        nb.wait_for_function(
            "([sel, light]) => getComputedStyle(document.querySelector(sel)).backgroundColor"
            " !== light", arg=[".tb-registry", light])
        dark = widget.evaluate(background)
        assert dark != light
        screenshot(nb, "registry-dark")
    finally:
        change_theme(nb, "JupyterLab Light")
        nb.wait_for_function(
            "([sel, light]) => getComputedStyle(document.querySelector(sel)).backgroundColor"
            " === light", arg=[".tb-registry", light])  # settled before the kernel stops
