"""GridSearchCV under autolog: a parent run with the best params, one child run per candidate."""
import mlflow
from sklearn.datasets import load_iris
from sklearn.model_selection import GridSearchCV
from sklearn.svm import SVC

mlflow.set_experiment("gridsearch-autolog")
mlflow.sklearn.autolog(log_datasets=False, max_tuning_runs=4)

X, y = load_iris(return_X_y=True)
grid = GridSearchCV(SVC(), {"kernel": ["linear", "rbf"], "C": [0.1, 1.0, 10.0]}, cv=3)
with mlflow.start_run(run_name="svc-grid") as run:
    grid.fit(X, y)

parent = mlflow.get_run(run.info.run_id)
assert parent.data.params["best_C"] == str(grid.best_params_["C"])
children = mlflow.search_runs(
    filter_string=f"tags.mlflow.parentRunId = '{run.info.run_id}'")
assert len(children) == 4, len(children)
print("best", grid.best_params_, "children", len(children))
