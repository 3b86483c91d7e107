"""tb.keras.autolog on real Keras 3 training (torch backend; 200 rows, 4 -> 8 -> 2 dense,
batch 50, validation_split 0.2, so 4 batches per epoch): the params, metrics (names and
steps), tags and artifacts MLflow 3's ``mlflow.keras.autolog`` logs for the same script."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

import trackbook as tb  # noqa: E402
from trackbook.autologging import AutologWarning, _config, _patch  # noqa: E402
from trackbook.models.model import Model  # noqa: E402
from trackbook.models.uri import local_model_path  # noqa: E402

# checked against MLflow 3.17.2: fit's arguments plus the Adam(0.01) config, as strings
PARAMS = {
    "batch_size": "50", "epochs": "3", "validation_split": "0.2", "shuffle": "True",
    "class_weight": "None", "sample_weight": "None", "initial_epoch": "0",
    "steps_per_epoch": "None", "validation_steps": "None", "validation_batch_size": "None",
    "validation_freq": "1", "optimizer_name": "adam",
    "optimizer_learning_rate": "0.009999999776482582", "optimizer_weight_decay": "None",
    "optimizer_clipnorm": "None", "optimizer_global_clipnorm": "None",
    "optimizer_clipvalue": "None", "optimizer_use_ema": "False",
    "optimizer_ema_momentum": "0.99", "optimizer_ema_overwrite_frequency": "None",
    "optimizer_loss_scale_factor": "None", "optimizer_gradient_accumulation_steps": "None",
    "optimizer_beta_1": "0.9", "optimizer_beta_2": "0.999", "optimizer_epsilon": "1e-07",
    "optimizer_amsgrad": "False",
}


@pytest.fixture(autouse=True)
def _autolog_off(store):
    yield
    _patch.unpatch_all("keras")
    _config._configs.pop("keras", None)


@pytest.fixture
def xy():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 4)).astype("float32")
    return x, (x.sum(1) > 0).astype("int64")


def model(metric: str = "accuracy"):
    keras.backend.clear_session()  # optimizer names restart at 'adam' (not adam_2...)
    keras.utils.set_random_seed(0)
    m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"),
                          keras.layers.Dense(2)])
    m.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
              optimizer=keras.optimizers.Adam(0.01), metrics=[metric])
    return m


def history(run_id: str) -> dict[str, list[tuple[int, float]]]:
    client = tb.Client()
    return {key: [(m.step, round(m.value, 4)) for m in client.get_metric_history(run_id, key)]
            for key in tb.get_run(run_id).data.metrics}


def artifacts(run_id: str) -> list[str]:
    return sorted(f.path for f in tb.Client().list_artifacts(run_id))


def test_fit_logs_what_mlflow_logs(xy):
    tb.keras.autolog(log_datasets=False)
    m = model()
    m.fit(*xy, epochs=3, batch_size=50, validation_split=0.2, verbose=0)
    run = tb.last_active_run()
    assert run.info.status == "FINISHED"
    assert run.data.tags["mlflow.autologging"] == "keras"
    assert run.data.params == PARAMS
    # checked against MLflow 3.17.2 (same seed and script): validation_* at step 0
    assert history(run.info.run_id) == {
        "accuracy": [(0, 0.4563), (1, 0.5), (2, 0.6812)],
        "loss": [(0, 0.8734), (1, 0.7056), (2, 0.5733)],
        "val_accuracy": [(0, 0.55), (1, 0.725), (2, 0.8)],
        "val_loss": [(0, 0.7265), (1, 0.59), (2, 0.4915)],
        "validation_accuracy": [(0, 0.55), (0, 0.725), (0, 0.8)],
        "validation_loss": [(0, 0.7265), (0, 0.59), (0, 0.4915)],
    }
    assert artifacts(run.info.run_id) == ["model_summary.txt"]
    summary = (tb.Client().download_artifacts(run.info.run_id, "model_summary.txt"))
    with open(summary) as f:
        assert 'Model: "sequential' in f.read()
    logged = tb.last_logged_model()
    assert (logged.name, logged.source_run_id, str(logged.status)) == \
        ("model", run.info.run_id, "READY")
    assert {m.key for m in logged.metrics} == {"accuracy", "loss", "val_accuracy", "val_loss",
                                               "validation_accuracy", "validation_loss"}
    loaded = tb.keras.load_model(f"models:/{logged.model_id}")
    np.testing.assert_allclose(loaded.predict(xy[0][:3], verbose=0),
                               m.predict(xy[0][:3], verbose=0), rtol=1e-5)
    sig = Model.load(local_model_path(f"models:/{logged.model_id}")).signature
    assert [s.to_dict() for s in sig.inputs] == [
        {"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 4]}}]
    assert [s.to_dict() for s in sig.outputs] == [
        {"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 2]}}]


def test_every_n_steps_early_stopping_in_a_user_run(xy):
    tb.keras.autolog(log_every_epoch=False, log_every_n_steps=2, log_datasets=False,
                     log_input_examples=True)
    callbacks = [keras.callbacks.EarlyStopping(monitor="val_loss", patience=1, min_delta=10)]
    with tb.start_run() as run:
        model().fit(*xy, epochs=3, batch_size=50, validation_split=0.2, verbose=0,
                    callbacks=callbacks)
        assert tb.active_run().info.run_id == run.info.run_id
    assert len(callbacks) == 1  # our callback went into a copy of the list
    # checked against MLflow 3.17.2: batch logs at optimizer iterations 2, 4, 6, 8 (the early
    # stop ends training after 2 epochs); validation_* at step 0; no epoch logs
    assert history(run.info.run_id) == {
        "accuracy": [(2, 0.5), (4, 0.4563), (6, 0.47), (8, 0.5)],
        "loss": [(2, 0.8444), (4, 0.8734), (6, 0.7209), (8, 0.7056)],
        "validation_accuracy": [(0, 0.55), (0, 0.725)],
        "validation_loss": [(0, 0.7265), (0, 0.59)],
    }
    assert "mlflow.autologging" not in tb.get_run(run.info.run_id).data.tags
    saved = local_model_path(f"models:/{tb.last_logged_model().model_id}")
    assert (saved / "input_example.json").is_file()


def test_dataset_logging_needs_tb_data(xy):
    tb.keras.autolog(log_models=False)
    if not hasattr(tb, "log_input"):
        with pytest.warns(AutologWarning, match="dataset logging"):
            model().fit(*xy, epochs=1, batch_size=50, verbose=0)
        assert tb.last_active_run().info.status == "FINISHED"
        return
    model().fit(*xy, epochs=1, batch_size=50, verbose=0)
    inputs = tb.last_active_run().inputs.dataset_inputs
    assert [[t.value for t in i.tags] for i in inputs] == [["train"]]


def test_a_logging_failure_warns_once_and_training_finishes(xy):
    tb.keras.autolog(log_datasets=False, log_models=False)
    m = model(metric=keras.metrics.SparseCategoricalAccuracy(name="acc@bad"))
    with pytest.warns(AutologWarning, match=r"could not log epoch metrics.*acc@bad") as seen:
        m.fit(*xy, epochs=3, batch_size=50, verbose=0)
    assert len([w for w in seen if "epoch metrics" in str(w.message)]) == 1
    run = tb.last_active_run()
    assert run.info.status == "FINISHED"
    assert run.data.params["optimizer_name"] == "adam"


class Diverged(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == 1:
            raise RuntimeError("diverged")


def test_a_training_error_propagates_and_the_run_fails(xy):
    tb.keras.autolog(log_datasets=False)
    with pytest.raises(RuntimeError, match="diverged"):
        model().fit(*xy, epochs=3, batch_size=50, verbose=0, callbacks=[Diverged()])
    run = tb.last_active_run()
    assert run.info.status == "FAILED"
    assert tb.active_run() is None
    assert str(tb.last_logged_model().status) == "FAILED"


def test_disable_leaves_fit_unlogged(xy):
    tb.keras.autolog(disable=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", AutologWarning)
        model().fit(*xy, epochs=1, verbose=0)
    assert tb.last_active_run() is None


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"log_every_n_steps": 5}, "must be None when log_every_epoch=True"),
    ({"log_every_epoch": False}, "log_every_n_steps must be set"),
    ({"log_every_epoch": False, "log_every_n_steps": 0}, "must be a positive integer"),
    ({"save_exported_model": True}, "save_exported_model=True"),
])
def test_values_we_cannot_honour_are_refused_up_front(kwargs, message):
    with pytest.raises(tb.TrackbookError, match=message):
        tb.keras.autolog(**kwargs)
