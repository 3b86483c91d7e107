"""Autolog's end-of-training plots are drawn on a background worker: every one of them is
in the run when it ends, however it ends, and a plot that cannot be drawn is a warning."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")
pytest.importorskip("matplotlib")
xgb = pytest.importorskip("xgboost")

from sklearn.linear_model import LogisticRegression  # noqa: E402

import trackbook as tb  # noqa: E402
from trackbook.autologging import AutologWarning, _config, _deferred, _patch  # noqa: E402

PLOTS = {"training_confusion_matrix.png", "training_roc_curve.png",
         "training_precision_recall_curve.png"}
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def autolog(store):
    tb.sklearn.autolog(log_models=False, log_datasets=False)
    yield
    for flavor in ("sklearn", "xgboost"):
        _patch.unpatch_all(flavor)
        _config._configs.pop(flavor, None)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.random((300, 4))
    return X, (X[:, 0] + X[:, 1] > 1).astype(int)


def _pngs(run_id: str) -> dict[str, bytes]:
    client = tb.Client()
    out = {}
    for f in client.list_artifacts(run_id):
        if f.path.endswith(".png"):
            path = client.download_artifacts(run_id, f.path)
            out[f.path] = Path(path).read_bytes()
    return out


def _check_plots(run_id: str) -> None:
    pngs = _pngs(run_id)
    assert set(pngs) == PLOTS
    for name, data in pngs.items():
        assert data.startswith(b"\x89PNG\r\n\x1a\n"), name
        assert len(data) > 5000, name


def test_the_run_autolog_starts_has_every_plot_when_fit_returns(autolog, data):
    LogisticRegression().fit(*data)
    run = tb.last_active_run()
    assert run.info.status == "FINISHED"
    assert _deferred.pending_jobs(run.info.run_id) == 0
    _check_plots(run.info.run_id)


def test_the_plots_are_in_the_run_after_a_with_start_run_block(autolog, data):
    with tb.start_run() as run:
        LogisticRegression().fit(*data)
    assert tb.get_run(run.info.run_id).info.status == "FINISHED"
    _check_plots(run.info.run_id)


def test_the_plots_are_in_the_run_after_end_run_and_after_flush(autolog, data):
    run = tb.start_run()
    LogisticRegression().fit(*data)
    tb.flush()  # waits for the worker too: the run is still going
    assert tb.get_run(run.info.run_id).info.status == "RUNNING"
    _check_plots(run.info.run_id)
    LogisticRegression().fit(*data)  # the same files again, drawn anew
    tb.end_run()
    assert tb.get_run(run.info.run_id).info.status == "FINISHED"
    _check_plots(run.info.run_id)


def test_a_training_error_fails_the_run_and_keeps_the_plots_already_made(autolog, data):
    X, y = data

    def train() -> None:
        with tb.start_run():
            LogisticRegression().fit(X, y)
            LogisticRegression().fit(X, y[:10])  # the second fit raises

    with pytest.raises(ValueError, match="Found input variables"):
        train()
    run = tb.last_active_run()
    assert tb.get_run(run.info.run_id).info.status == "FAILED"
    _check_plots(run.info.run_id)


def test_a_plot_that_cannot_be_drawn_warns_and_training_goes_on(store):
    tb.xgboost.autolog(log_models=False, log_datasets=False)
    try:
        rng = np.random.default_rng(0)
        X = rng.random((200, 3))
        # matplotlib cannot lay out "$\unknowncommand$" (mathtext): the bar chart fails
        names = ["a", "b", r"$\unknowncommand$"]
        dtrain = xgb.DMatrix(X, label=(X[:, 2] > 0.5).astype(int), feature_names=names)
        with pytest.warns(AutologWarning, match=r"could not plot feature_importance_weight"
                                                r"\.png \(ValueError"):
            booster = xgb.train({"objective": "binary:logistic"}, dtrain, 5)
        assert booster.num_boosted_rounds() == 5
        run = tb.get_run(tb.last_active_run().info.run_id)
        assert run.info.status == "FINISHED"
        files = {f.path for f in tb.Client().list_artifacts(run.info.run_id)}
        assert "feature_importance_weight.json" in files
        assert "feature_importance_weight.png" not in files
    finally:
        _patch.unpatch_all("xgboost")
        _config._configs.pop("xgboost", None)


def test_plots_of_a_run_left_open_are_saved_at_exit_without_pyplot(store):
    script = textwrap.dedent("""
        import sys
        import numpy as np
        import trackbook as tb
        from sklearn.linear_model import LogisticRegression

        tb.sklearn.autolog(log_models=False, log_datasets=False)
        rng = np.random.default_rng(0)
        X = rng.random((300, 4))
        run = tb.start_run()
        LogisticRegression().fit(X, (X[:, 0] > 0.5).astype(int))
        assert "matplotlib.pyplot" not in sys.modules
        print(run.info.run_id)
    """)  # the run is never ended: exit ends it, after the worker's jobs
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=env, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    run_id = proc.stdout.split()[-1]
    assert tb.get_run(run_id).info.status == "FINISHED"
    _check_plots(run_id)


def test_callback_metrics_reach_the_run_at_once_and_the_model_in_batches(store):
    from trackbook.autologging._model_metrics import ModelMetrics
    from trackbook.models.logged_fluent import initialize_logged_model

    with tb.start_run() as run:
        model_id = initialize_logged_model(name="model").model_id
        metrics = ModelMetrics(model_id)
        for step in range(3):
            metrics.log({"loss": 1.0 / (step + 1)}, step)
        history = tb.Client().get_metric_history(run.info.run_id, "loss")
        assert [(m.step, m.value) for m in history] == [(0, 1.0), (1, 0.5), (2, 1 / 3)]
        assert tb.get_logged_model(model_id).metrics == []  # no record per step
        metrics.flush()
    linked = tb.get_logged_model(model_id).metrics
    assert sorted((m.key, m.step, m.value) for m in linked) == [
        ("loss", 0, 1.0), ("loss", 1, 0.5), ("loss", 2, 1 / 3)]
    assert {m.timestamp for m in linked} == {m.timestamp for m in history}
