"""mlflow.models.evaluate on a binary classifier: standard metrics and plot artifacts."""
import mlflow
import pandas as pd
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

mlflow.set_experiment("evaluate")
X, y = load_breast_cancer(return_X_y=True, as_frame=True)
X = X.iloc[:, :5]
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)

with mlflow.start_run(run_name="logreg-eval"):
    model = LogisticRegression(max_iter=500).fit(X_train, y_train)
    info = mlflow.sklearn.log_model(model, name="model")
    eval_data = X_test.assign(label=y_test.to_numpy())
    result = mlflow.models.evaluate(info.model_uri, eval_data, targets="label",
                                    model_type="classifier",
                                    evaluator_config={"log_explainer": False,
                                                      "log_model_explainability": False})

assert 0.8 < result.metrics["accuracy_score"] <= 1.0
assert "roc_auc" in result.metrics
print(pd.Series(result.metrics).round(3).to_string())
print(sorted(result.artifacts))
