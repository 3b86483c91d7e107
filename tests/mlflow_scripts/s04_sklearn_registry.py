"""Train, log and register a scikit-learn model, alias it, load it back by alias."""
import mlflow
import numpy as np
from mlflow import MlflowClient
from mlflow.models import infer_signature
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

mlflow.set_experiment("iris-registry")
X, y = load_iris(return_X_y=True, as_frame=True)

with mlflow.start_run(run_name="logreg") as run:
    model = LogisticRegression(C=0.5, max_iter=300).fit(X, y)
    mlflow.log_params(model.get_params())
    mlflow.log_metric("train_accuracy", model.score(X, y))
    info = mlflow.sklearn.log_model(
        model, name="model", signature=infer_signature(X, model.predict(X)),
        input_example=X.head(3), registered_model_name="iris-classifier")

client = MlflowClient()
client.set_registered_model_alias("iris-classifier", "champion", info.registered_model_version)
client.update_registered_model("iris-classifier", description="Iris logistic regression")
client.set_model_version_tag("iris-classifier", info.registered_model_version, "validated",
                             "true")

champion = mlflow.pyfunc.load_model("models:/iris-classifier@champion")
preds = champion.predict(X.head(5))
assert np.array_equal(np.asarray(preds), model.predict(X.head(5)))
native = mlflow.sklearn.load_model(info.model_uri)
assert (native.predict(X) == model.predict(X)).all()
mv = client.get_model_version_by_alias("iris-classifier", "champion")
assert mv.run_id == run.info.run_id
assert mv.version == 1  # MLflow 3 gives versions as ints
print("champion is version", mv.version)
