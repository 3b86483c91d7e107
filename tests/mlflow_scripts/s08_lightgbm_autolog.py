"""Native lightgbm.train with autolog: params, per-iteration metrics, importances, model."""
import lightgbm as lgb
import mlflow
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split

mlflow.set_experiment("lightgbm-autolog")
mlflow.lightgbm.autolog(log_datasets=False)

X, y = load_breast_cancer(return_X_y=True)
X_train, X_val, y_train, y_val = train_test_split(X, y, random_state=0)
train_set = lgb.Dataset(X_train, label=y_train)
val_set = lgb.Dataset(X_val, label=y_val, reference=train_set)
params = {"objective": "binary", "metric": ["binary_logloss", "auc"], "num_leaves": 7,
          "learning_rate": 0.2, "seed": 0, "num_threads": 1, "verbose": -1,
          "deterministic": True}

with mlflow.start_run(run_name="lgb-native") as run:
    booster = lgb.train(params, train_set, num_boost_round=6,
                        valid_sets=[train_set, val_set], valid_names=["train", "valid"])

run = mlflow.get_run(run.info.run_id)
assert run.data.params["num_leaves"] == "7"
assert "valid-auc" in run.data.metrics
print("trees", booster.num_trees(), run.data.metrics["valid-auc"])
