""""Register this run's model" from the run table, in a real JupyterLab + headless Chromium:
open a run's detail pane, click Register… on its logged sklearn model, name it, confirm,
and the registry (read from Python) has version 1 with the run as its source."""

from __future__ import annotations

from typing import Any

import pytest
from lab_driver import (
    kernel_exec,
    kernel_value,
    poll_kernel,
    running_notebook,
    screenshot,
)

DETAIL = ".tb-runs .tb-detail:not([hidden])"
MODEL = f'{DETAIL} li.tb-model[data-path="model"]'
VERSIONS = ("[(v.version, v.run_id, v.source) "
            "for v in c.search_model_versions(\"name = 'churn-model'\", "
            "order_by=['version_number ASC'])]")


def cells(store: str) -> list[str]:
    return [
        "import trackbook as tb\n"
        "from sklearn.linear_model import LogisticRegression\n"
        f"tb.set_tracking_uri({store!r})\n"
        "tb.set_experiment('register')\n"
        "c = tb.Client()\n"
        "c.create_registered_model('fraud-model')  # offered in the name box\n"
        "with tb.start_run(run_name='train') as run:\n"
        "    tb.log_metric('auc', 0.87)\n"
        "    clf = LogisticRegression().fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1])\n"
        "    _ = tb.sklearn.log_model(clf, name='model')\n"
        "run_id = run.info.run_id",
        "table = tb.runs_table(refresh_seconds=0.5)\ntable",
    ]


@pytest.fixture(scope="module")
def nb(lab: Any, page: Any) -> Any:
    ready = ".tb-runs tbody tr[data-run-id] .tb-run-link"
    with running_notebook(page, lab, "register", cells, ready) as p:
        yield p


def test_register_the_runs_model_from_the_detail_pane(nb: Any) -> None:
    run_id = kernel_value(nb, "run_id")
    nb.locator(f'tr[data-run-id="{run_id}"] .tb-run-link').click()
    model = nb.locator(MODEL)
    model.wait_for()
    assert "sklearn" in model.inner_text()
    assert model.locator(".tb-registered").count() == 0

    model.locator("button.tb-register").click()
    name = model.locator("input.tb-register-name")
    assert name.input_value() == "model"  # default: the artifact path
    options = model.locator("datalist option").evaluate_all("os => os.map(o => o.value)")
    assert options == ["fraud-model"]  # existing names are offered
    name.fill("churn-model")
    model.locator("button.tb-register-next").click()
    question = model.locator(".tb-register-question")
    assert "version 1 of a new registered model 'churn-model'" in question.inner_text()
    # nothing is written before the confirmation
    assert kernel_value(nb, "[m.name for m in c.search_registered_models()]") == ["fraud-model"]
    model.locator("button.tb-register-confirm").click()

    versions = poll_kernel(nb, VERSIONS, lambda v: bool(v))
    # MLflow 3: a version of a run's logged model has the model's URI as its source
    model_id = kernel_value(nb, "tb.last_logged_model().model_id")
    assert versions == [[1, run_id, f"models:/{model_id}"]]
    lineage = kernel_value(nb, "c.get_model_version_lineage('churn-model', 1)['run_name']")
    assert lineage == "train"
    # the widget shows the version made, and its badge comes back from the store
    model.locator(".tb-register-result", has_text="'churn-model' version 1").wait_for()
    model.locator('.tb-registered[data-name="churn-model"][data-version="1"]').wait_for()
    assert model.locator(".tb-register-form").count() == 0
    screenshot(nb, "runs_table-registered")


def test_a_bad_name_shows_the_error_in_the_pane_and_writes_nothing(nb: Any) -> None:
    model = nb.locator(MODEL)
    model.locator("button.tb-register").click()
    name = model.locator("input.tb-register-name")
    assert name.input_value() == "churn-model"  # default now: the name it went to
    name.fill("bad/name")
    model.locator("button.tb-register-next").click()
    model.locator("button.tb-register-confirm").click()
    error = model.locator(".tb-register-error")
    error.wait_for()
    assert "contains '/'" in error.inner_text()
    assert model.locator("input.tb-register-name").input_value() == "bad/name"  # to fix it
    assert kernel_value(nb, "sorted(m.name for m in c.search_registered_models())") == [
        "churn-model", "fraud-model"]
    screenshot(nb, "runs_table-register-error")
    model.locator("button.tb-register-cancel").click()
    assert model.locator(".tb-register-form").count() == 0


def test_registering_again_adds_the_next_version(nb: Any) -> None:
    model = nb.locator(MODEL)
    model.locator("button.tb-register").click()
    model.locator("button.tb-register-next").click()  # keep the default, churn-model
    assert "a new version of 'churn-model'" in \
        model.locator(".tb-register-question").inner_text()
    model.locator("button.tb-register-confirm").click()
    versions = poll_kernel(nb, VERSIONS, lambda v: len(v) == 2)
    assert [v[0] for v in versions] == [1, 2]
    model.locator('.tb-registered[data-name="churn-model"][data-version="2"]').wait_for()
    assert kernel_exec(nb, "print(table.error)").strip() == ""
