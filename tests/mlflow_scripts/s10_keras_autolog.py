"""Keras 3 (torch backend) with mlflow.keras.autolog: params, per-epoch metrics, model."""
import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras
import mlflow
import numpy as np

keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)
x = rng.normal(size=(64, 4)).astype("float32")
y = (x.sum(axis=1) > 0).astype("float32")

model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"),
                          keras.layers.Dense(1, activation="sigmoid")])
model.compile(optimizer=keras.optimizers.Adam(0.01), loss="binary_crossentropy",
              metrics=["accuracy"])

mlflow.set_experiment("keras-autolog")
mlflow.keras.autolog(log_datasets=False)
with mlflow.start_run(run_name="dense") as run:
    model.fit(x, y, epochs=3, batch_size=16, validation_split=0.25, verbose=0)

history = mlflow.MlflowClient().get_metric_history(run.info.run_id, "loss")
assert len(history) == 3
print("loss", [round(m.value, 4) for m in history])
