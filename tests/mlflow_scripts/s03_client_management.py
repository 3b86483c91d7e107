"""Experiment and run management through MlflowClient, no fluent run."""
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag, ViewType

client = MlflowClient()
exp_id = client.create_experiment("client-managed", tags={"project": "churn"})
client.set_experiment_tag(exp_id, "priority", "high")

run = client.create_run(exp_id, run_name="manual", tags={"source": "client"})
rid = run.info.run_id
client.log_param(rid, "depth", 3)
client.log_metric(rid, "auc", 0.81, step=0)
client.log_metric(rid, "auc", 0.86, step=1)
client.log_batch(rid, metrics=[Metric("loss", 0.4, 0, 0), Metric("loss", 0.3, 0, 1)],
                 params=[Param("seed", "7")], tags=[RunTag("kind", "batch")])
client.set_tag(rid, "reviewed", "no")
client.log_text(rid, "manual notes", "notes.txt")
client.set_terminated(rid, status="FINISHED")

other = client.create_run(exp_id, run_name="to-delete")
client.set_terminated(other.info.run_id, status="FAILED")
client.delete_run(other.info.run_id)

history = client.get_metric_history(rid, "auc")
assert [m.value for m in history] == [0.81, 0.86]
assert client.get_run(rid).data.params == {"depth": "3", "seed": "7"}
assert client.get_experiment(exp_id).tags["priority"] == "high"
active = client.search_runs([exp_id])
assert [r.info.run_name for r in active] == ["manual"]
deleted = client.search_runs([exp_id], run_view_type=ViewType.DELETED_ONLY)
assert [r.info.status for r in deleted] == ["FAILED"]
assert [a.path for a in client.list_artifacts(rid)] == ["notes.txt"]

client.rename_experiment(exp_id, "client-managed-renamed")
assert client.get_experiment_by_name("client-managed-renamed").experiment_id == exp_id
print("experiments:", [e.name for e in client.search_experiments()])
