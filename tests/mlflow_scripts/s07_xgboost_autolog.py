"""Native xgboost.train with autolog: params, per-iteration eval metrics, importance, model."""
import mlflow
import numpy as np
import xgboost as xgb
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split

mlflow.set_experiment("xgboost-autolog")
mlflow.xgboost.autolog(log_datasets=False)

X, y = load_breast_cancer(return_X_y=True)
X_train, X_val, y_train, y_val = train_test_split(X, y, random_state=0)
dtrain, dval = xgb.DMatrix(X_train, label=y_train), xgb.DMatrix(X_val, label=y_val)
params = {"objective": "binary:logistic", "max_depth": 3, "eta": 0.3,
          "eval_metric": ["logloss", "error"], "seed": 0, "nthread": 1}

with mlflow.start_run(run_name="xgb-native") as run:
    booster = xgb.train(params, dtrain, num_boost_round=8,
                        evals=[(dtrain, "train"), (dval, "val")], early_stopping_rounds=3)

run = mlflow.get_run(run.info.run_id)
history = mlflow.MlflowClient().get_metric_history(run.info.run_id, "val-logloss")
assert len(history) >= 4
assert run.data.params["max_depth"] == "3"
print("best iteration", booster.best_iteration, np.round(history[-1].value, 4))
