"""PyTorch Lightning with mlflow.pytorch.autolog: per-epoch metrics and the model."""
import mlflow
import pytorch_lightning as pl
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


class Regressor(pl.LightningModule):
    def __init__(self, lr=0.05):
        super().__init__()
        self.save_hyperparameters()
        self.net = nn.Linear(4, 1)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = nn.functional.mse_loss(self.net(x), y)
        self.log("train_loss", loss, on_epoch=True, on_step=False)
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)


pl.seed_everything(0, verbose=False)
x = torch.randn(64, 4)
y = x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]])
loader = DataLoader(TensorDataset(x, y), batch_size=16)

mlflow.set_experiment("lightning-autolog")
mlflow.pytorch.autolog(checkpoint=False)
with mlflow.start_run(run_name="linear") as run:
    trainer = pl.Trainer(max_epochs=3, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False,
                         deterministic=True)
    trainer.fit(Regressor(), loader)

history = mlflow.MlflowClient().get_metric_history(run.info.run_id, "train_loss")
assert len(history) == 3, history
print("losses", [round(m.value, 4) for m in history])
