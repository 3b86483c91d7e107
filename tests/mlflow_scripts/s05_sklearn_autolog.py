"""scikit-learn autolog on a plain estimator and a pipeline, plus a post-training metric."""
import mlflow
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge
from sklearn.metrics import mean_squared_error
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

mlflow.set_experiment("sklearn-autolog")
mlflow.sklearn.autolog(log_datasets=False)

X, y = load_diabetes(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)

with mlflow.start_run(run_name="ridge") as run:
    ridge = Ridge(alpha=0.5).fit(X_train, y_train)
    mse = mean_squared_error(y_test, ridge.predict(X_test))

with mlflow.start_run(run_name="pipeline"):
    pipe = make_pipeline(StandardScaler(), Ridge(alpha=2.0)).fit(X_train, y_train)
    pipe.score(X_test, y_test)

run = mlflow.get_run(run.info.run_id)
assert run.data.params["alpha"] == "0.5"
assert "training_score" in run.data.metrics
print("mse", mse, sorted(run.data.metrics))
