"""MLflow 3 logged models: params/model_type on log_model, model metrics, searching models."""
import mlflow
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

mlflow.set_experiment("logged-models")
X, y = load_iris(return_X_y=True)

model_ids = []
with mlflow.start_run(run_name="sweep-c"):
    for step, c in enumerate([0.1, 1.0]):
        clf = LogisticRegression(C=c, max_iter=200).fit(X, y)
        info = mlflow.sklearn.log_model(clf, name=f"logreg-{step}", params={"C": c},
                                        model_type="classifier", step=step,
                                        tags={"family": "linear"})
        mlflow.log_metric("accuracy", clf.score(X, y), step=step, model_id=info.model_id)
        model_ids.append(info.model_id)

model = mlflow.get_logged_model(model_ids[1])
assert model.name == "logreg-1"
assert model.params == {"C": "1.0"}
assert model.model_type == "classifier"
assert model.tags["family"] == "linear"
assert [m.key for m in model.metrics] == ["accuracy"]
assert mlflow.last_logged_model().model_id == model_ids[1]

exp = mlflow.get_experiment_by_name("logged-models")
found = mlflow.search_logged_models(experiment_ids=[exp.experiment_id],
                                    filter_string="params.C = '0.1'", output_format="list")
assert [m.model_id for m in found] == [model_ids[0]]
best = mlflow.search_logged_models(experiment_ids=[exp.experiment_id],
                                   order_by=[{"field_name": "metrics.accuracy",
                                              "ascending": False}], output_format="list")
print("best model", best[0].name, best[0].metrics[0].value)
loaded = mlflow.pyfunc.load_model(f"models:/{model_ids[0]}")
assert len(loaded.predict(X[:3])) == 3
