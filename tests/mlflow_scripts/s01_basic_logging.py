"""Params, metrics over steps, tags and artifacts in one run (MLflow's quickstart)."""
import json
import os
import tempfile

import mlflow

mlflow.set_experiment("basic-logging")

with mlflow.start_run(run_name="baseline") as run:
    mlflow.log_param("learning_rate", 0.01)
    mlflow.log_params({"epochs": 5, "optimizer": "sgd", "layers": "[64, 32]"})
    mlflow.set_tag("team", "forecasting")
    mlflow.set_tags({"stage": "dev", "owner": "alice"})
    loss = 1.0
    for epoch in range(5):
        loss *= 0.7
        mlflow.log_metric("loss", loss, step=epoch)
        mlflow.log_metrics({"accuracy": 1 - loss, "lr": 0.01 / (epoch + 1)}, step=epoch)
    mlflow.log_metric("final_loss", loss)

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "config.json")
        with open(path, "w") as f:
            json.dump({"seed": 42, "batch_size": 16}, f)
        mlflow.log_artifact(path)
        mlflow.log_artifact(path, artifact_path="configs")
        os.makedirs(os.path.join(tmp, "reports", "sub"))
        for name in ("a.txt", "sub/b.txt"):
            with open(os.path.join(tmp, "reports", name), "w") as f:
                f.write(name)
        mlflow.log_artifacts(os.path.join(tmp, "reports"), artifact_path="reports")
    mlflow.log_text("hello from the run", "notes/hello.txt")
    mlflow.log_dict({"classes": ["a", "b"]}, "meta/classes.json")
    mlflow.log_dict({"k": 1}, "meta/k.yaml")
    mlflow.delete_tag("owner")

run = mlflow.get_run(run.info.run_id)
assert run.data.params["epochs"] == "5"
assert run.data.tags["team"] == "forecasting"
assert "owner" not in run.data.tags
assert run.info.status == "FINISHED"
assert mlflow.active_run() is None
print("final loss", run.data.metrics["final_loss"])
