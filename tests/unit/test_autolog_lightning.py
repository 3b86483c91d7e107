"""tb.pytorch.autolog on real PyTorch Lightning training (a 5-weight model, 200 rows, 4 batches
of 50 per epoch, 3 epochs): the params, metrics (names and steps), tags and artifacts MLflow's
``mlflow.pytorch.autolog`` logs for the same script."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

import trackbook as tb
from trackbook.autologging import AutologWarning, _config, _patch
from trackbook.models.model import Model
from trackbook.models.uri import local_model_path

torch = pytest.importorskip("torch")
pl = pytest.importorskip("pytorch_lightning")

# checked against MLflow 3.17.2: torch.optim.Adam(lr=0.01).defaults, plus epochs/optimizer_name
ADAM_PARAMS = {
    "epochs": "3", "optimizer_name": "Adam", "lr": "0.01", "betas": "(0.9, 0.999)",
    "eps": "1e-08", "weight_decay": "0", "amsgrad": "False", "maximize": "False",
    "foreach": "None", "capturable": "False", "differentiable": "False", "fused": "None",
    "decoupled_weight_decay": "False",
}


class Net(pl.LightningModule):
    """Logs train_loss on step and epoch (so train_loss, _step, _epoch), acc, val_loss."""

    def __init__(self, extra_metric: str | None = None, fail_at_epoch: int | None = None):
        super().__init__()
        self.layer = torch.nn.Linear(4, 1)
        self.extra_metric = extra_metric
        self.fail_at_epoch = fail_at_epoch

    def forward(self, x):
        return self.layer(x)

    def _loss(self, batch):
        x, t = batch
        return torch.nn.functional.binary_cross_entropy_with_logits(self(x), t)

    def training_step(self, batch, batch_idx):
        if self.current_epoch == self.fail_at_epoch:
            raise RuntimeError("diverged")
        loss = self._loss(batch)
        self.log("train_loss", loss, on_step=True, on_epoch=True)
        self.log("acc", 0.5)
        if self.extra_metric:
            self.log(self.extra_metric, 1.0)
        return loss

    def validation_step(self, batch, batch_idx):
        self.log("val_loss", self._loss(batch))

    def test_step(self, batch, batch_idx):
        self.log("test_loss", self._loss(batch))

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=0.01)


@pytest.fixture
def data():
    torch.manual_seed(0)
    x = torch.randn(200, 4)
    y = (x.sum(1, keepdim=True) > 0).float()
    return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=50)


@pytest.fixture(autouse=True)
def _autolog_off(store):
    yield
    _patch.unpatch_all("pytorch")
    _config._configs.pop("pytorch", None)


def trainer(tmp_path, **kwargs):
    kwargs.setdefault("enable_checkpointing", False)
    return pl.Trainer(max_epochs=3, logger=False, enable_progress_bar=False,
                      enable_model_summary=False, default_root_dir=tmp_path, **kwargs)


def history(run_id: str) -> dict[str, list[tuple[int, float]]]:
    client = tb.Client()
    return {key: [(m.step, round(m.value, 4)) for m in client.get_metric_history(run_id, key)]
            for key in tb.get_run(run_id).data.metrics}


def artifacts(run_id: str, path: str | None = None) -> list[str]:
    out = []
    for f in tb.Client().list_artifacts(run_id, path):
        out.extend(artifacts(run_id, f.path) if f.is_dir else [f.path])
    return sorted(out)


def test_fit_logs_what_mlflow_logs(tmp_path, data):
    tb.pytorch.autolog()
    trainer(tmp_path).fit(Net(), data, data)
    run = tb.last_active_run()
    assert run.info.status == "FINISHED"
    # checked against MLflow 3.17.2 (same script, sqlite store): names, steps and values
    assert run.data.params == ADAM_PARAMS
    assert history(run.info.run_id) == {
        "acc": [(0, 0.5), (1, 0.5), (2, 0.5)],
        "train_loss": [(0, 0.7618), (1, 0.7283), (2, 0.6971)],
        "train_loss_epoch": [(0, 0.7618), (1, 0.7283), (2, 0.6971)],
        "train_loss_step": [(0, 0.7892), (1, 0.7581), (2, 0.7287)],
        "val_loss": [(0, 0.7406), (1, 0.7086), (2, 0.6788)],
    }
    tags = run.data.tags
    assert tags["mlflow.autologging"] == "pytorch"
    assert tags["Mode"] == "training"
    assert tags["mlflow.latest_checkpoint_artifact"] == "checkpoints/latest_checkpoint.pth"
    files = artifacts(run.info.run_id)
    # MLflow 3: the model is a logged model (its own files), not run artifacts
    assert files == ["checkpoints/latest_checkpoint.pth",
                     "checkpoints/latest_checkpoint_metrics.json", "model_summary.txt"]
    root = tb.Client().download_artifacts
    ckpt_metrics = json.loads(Path(root(run.info.run_id, "checkpoints/"
                                        "latest_checkpoint_metrics.json")).read_text())
    assert (ckpt_metrics["epoch"], ckpt_metrics["global_step"]) == (2, 12)
    assert round(ckpt_metrics["val_loss"], 4) == 0.6788
    summary = Path(root(run.info.run_id, "model_summary.txt")).read_text()
    assert "Linear" in summary
    assert "Trainable params" in summary
    ckpt = torch.load(root(run.info.run_id, "checkpoints/latest_checkpoint.pth"),
                      weights_only=False)
    assert {"state_dict", "optimizer_states", "epoch"} <= set(ckpt)
    logged = tb.last_logged_model()
    assert (logged.name, logged.source_run_id, str(logged.status)) == \
        ("model", run.info.run_id, "READY")
    # the epoch metrics are linked to it (MLflow 3.17.2: 5 metrics x 3 epochs)
    assert sorted((m.key, m.step) for m in logged.metrics) == sorted(
        (k, s) for k in ("acc", "train_loss", "train_loss_epoch", "train_loss_step", "val_loss")
        for s in range(3))
    model = tb.pytorch.load_model(f"models:/{logged.model_id}")
    assert model(torch.ones(2, 4)).shape == (2, 1)
    sig = Model.load(local_model_path(f"models:/{logged.model_id}")).signature.to_dict()
    assert json.loads(sig["inputs"]) == [{"type": "tensor", "tensor-spec":
                                          {"dtype": "float32", "shape": [-1, 4]}}]


def test_step_metrics_early_stopping_and_per_epoch_checkpoints(tmp_path, data):
    tb.pytorch.autolog(log_every_n_step=2, checkpoint_save_best_only=False)
    stop = pl.callbacks.EarlyStopping(monitor="val_loss", patience=1, min_delta=10.0)
    trainer(tmp_path, callbacks=[stop], enable_checkpointing=True).fit(Net(), data, data)
    run = tb.last_active_run()
    # checked against MLflow 3.17.2: step-only metrics at global steps 1, 3, 5, 7; the early
    # stop after epoch 1 logs its params before and its metrics (step 0) after training
    assert run.data.params == {**ADAM_PARAMS, "monitor": "val_loss", "mode": "min",
                               "patience": "1", "min_delta": "-10.0", "stopped_epoch": "0"}
    assert history(run.info.run_id) == {
        "acc": [(1, 0.5), (3, 0.5), (5, 0.5), (7, 0.5)],
        "train_loss_step": [(1, 0.7561), (3, 0.7619), (5, 0.7246), (7, 0.7263)],
        "train_loss": [(0, 0.7618), (1, 0.7283)],
        "train_loss_epoch": [(0, 0.7618), (1, 0.7283)],
        "val_loss": [(0, 0.7406), (1, 0.7086)],
        "stopped_epoch": [(0, 1.0)], "restored_epoch": [(0, 0.0)],
        "best_score": [(0, 0.7406)], "wait_count": [(0, 1.0)],
    }
    assert run.data.tags["mlflow.latest_checkpoint_artifact"] == \
        "checkpoints/epoch_1/checkpoint.pth"
    files = artifacts(run.info.run_id)
    assert [f for f in files if f.startswith("checkpoints/")] == [
        "checkpoints/epoch_0/checkpoint.pth", "checkpoints/epoch_0/checkpoint_metrics.json",
        "checkpoints/epoch_1/checkpoint.pth", "checkpoints/epoch_1/checkpoint_metrics.json"]
    assert [f for f in files if f.startswith("restored_model_checkpoint/")] == [
        "restored_model_checkpoint/epoch=1-step=8.ckpt"]


def test_user_run_every_n_epochs_step_checkpoints_no_model(tmp_path, data):
    tb.pytorch.autolog(log_every_n_epoch=2, log_models=False, checkpoint_save_best_only=False,
                       checkpoint_save_weights_only=True, checkpoint_save_freq=6)
    with tb.start_run() as run:
        trainer(tmp_path).fit(Net(), data, data)
        assert tb.active_run().info.run_id == run.info.run_id
    logged = tb.get_run(run.info.run_id)
    assert "mlflow.autologging" not in logged.data.tags
    assert {k: [s for s, _ in v] for k, v in history(run.info.run_id).items()} == {
        k: [1] for k in ("acc", "train_loss", "train_loss_epoch", "train_loss_step",
                         "val_loss")}
    assert artifacts(run.info.run_id) == [
        "checkpoints/global_step_12/checkpoint.weights.pth",
        "checkpoints/global_step_12/checkpoint_metrics.json",
        "checkpoints/global_step_6/checkpoint.weights.pth",
        "checkpoints/global_step_6/checkpoint_metrics.json", "model_summary.txt"]


def test_trainer_test_logs_test_metrics_into_the_fit_run(tmp_path, data):
    tb.pytorch.autolog(log_models=False, checkpoint=False)
    fitted = trainer(tmp_path)
    fitted.fit(Net(), data)
    fitted.test(fitted.lightning_module, data, verbose=False)
    run = tb.last_active_run()
    assert run.data.tags["Mode"] == "testing"
    assert [s for s, _ in history(run.info.run_id)["test_loss"]] == [0]
    # a second fit on the same trainer logs into a new run through fresh callbacks
    fitted.fit_loop.max_epochs = 4
    fitted.fit(fitted.lightning_module, data)
    second = tb.last_active_run()
    assert second.info.run_id != run.info.run_id
    assert [s for s, _ in history(second.info.run_id)["train_loss"]] == [3]


def test_a_logging_failure_warns_once_and_training_finishes(tmp_path, data):
    tb.pytorch.autolog(log_models=False, checkpoint=False)
    with pytest.warns(AutologWarning, match=r"could not log epoch metrics.*bad@name") as seen:
        trainer(tmp_path).fit(Net(extra_metric="bad@name"), data)
    assert len([w for w in seen if "epoch metrics" in str(w.message)]) == 1
    run = tb.last_active_run()
    assert run.info.status == "FINISHED"
    assert run.data.params["optimizer_name"] == "Adam"


def test_a_training_error_propagates_and_the_run_fails(tmp_path, data):
    tb.pytorch.autolog(log_models=False, checkpoint=False)
    with pytest.raises(RuntimeError, match="diverged"):
        trainer(tmp_path).fit(Net(fail_at_epoch=1), data)
    run = tb.last_active_run()
    assert run.info.status == "FAILED"
    assert tb.active_run() is None
    assert [s for s, _ in history(run.info.run_id)["train_loss"]] == [0]


def test_disable_leaves_training_unlogged(tmp_path, data):
    tb.pytorch.autolog(disable=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", AutologWarning)
        trainer(tmp_path).fit(Net(extra_metric="bad@name"), data, data)
    assert tb.last_active_run() is None


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"log_every_n_epoch": 0}, "log_every_n_epoch must be a positive integer"),
    ({"log_every_n_step": "2"}, "log_every_n_step must be None or a positive integer"),
    ({"checkpoint_mode": "best"}, "checkpoint_mode must be 'min' or 'max'"),
    ({"checkpoint_monitor": None}, "needs checkpoint_monitor"),
    ({"checkpoint_save_freq": "batch"}, "checkpoint_save_freq must be 'epoch'"),
])
def test_values_mlflow_refuses_are_refused_up_front(kwargs, message):
    with pytest.raises(tb.TrackbookError, match=message):
        tb.pytorch.autolog(**kwargs)
