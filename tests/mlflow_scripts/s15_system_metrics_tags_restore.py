"""System metrics on a run, experiment tags, deleting and restoring a run."""
import time

import mlflow

mlflow.set_system_metrics_sampling_interval(0.5)
mlflow.set_system_metrics_samples_before_logging(1)
exp_id = mlflow.set_experiment("ops").experiment_id
mlflow.set_experiment_tags({"team": "ml-platform", "tier": "gold"})
mlflow.set_experiment_tag("temp", "x")
mlflow.delete_experiment_tag("temp")

with mlflow.start_run(run_name="monitored", log_system_metrics=True) as run:
    mlflow.log_param("sleep", 1.2)
    time.sleep(1.2)

with mlflow.start_run(run_name="deleted-and-back") as other:
    mlflow.log_metric("m", 1.0)
mlflow.delete_run(other.info.run_id)
assert mlflow.get_run(other.info.run_id).info.lifecycle_stage == "deleted"
mlflow.restore_run(other.info.run_id)
assert mlflow.get_run(other.info.run_id).info.lifecycle_stage == "active"

tags = mlflow.get_experiment(exp_id).tags
assert tags["team"] == "ml-platform"
assert "temp" not in tags
metrics = mlflow.get_run(run.info.run_id).data.metrics
print(sorted(k for k in metrics if k.startswith("system/")))
