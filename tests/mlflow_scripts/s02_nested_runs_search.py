"""A parent run with child runs per trial, then search_runs to pick the best child."""
import mlflow

mlflow.set_experiment("nested-sweep")

with mlflow.start_run(run_name="sweep") as parent:
    mlflow.log_param("search", "grid")
    for i, alpha in enumerate([0.1, 0.5, 1.0]):
        with mlflow.start_run(run_name=f"trial-{i}", nested=True):
            mlflow.log_param("alpha", alpha)
            score = 1.0 - (alpha - 0.5) ** 2
            mlflow.log_metric("score", score)
            mlflow.set_tag("trial", str(i))
    mlflow.log_metric("n_trials", 3)

exp = mlflow.get_experiment_by_name("nested-sweep")
children = mlflow.search_runs(
    experiment_ids=[exp.experiment_id],
    filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'",
    order_by=["metrics.score DESC"],
)
assert len(children) == 3, children
best = children.iloc[0]
assert best["params.alpha"] == "0.5", best
assert mlflow.get_parent_run(best["run_id"]).info.run_id == parent.info.run_id

good = mlflow.search_runs([exp.experiment_id], filter_string="metrics.score > 0.8",
                          output_format="list")
assert sorted(r.data.params["alpha"] for r in good) == ["0.1", "0.5"]
with mlflow.start_run(run_id=best["run_id"]):
    mlflow.set_tag("best", "yes")
print(children[["run_id", "params.alpha", "metrics.score"]])
