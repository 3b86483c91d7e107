"""Datasets as run inputs: from_pandas/from_numpy, log_input, search by dataset name."""
import mlflow
import numpy as np
import pandas as pd

mlflow.set_experiment("datasets")
rng = np.random.default_rng(0)
df = pd.DataFrame({"x1": rng.normal(size=20).round(3), "x2": np.arange(20),
                   "label": np.arange(20) % 2})

train = mlflow.data.from_pandas(df.iloc[:15], source="data/train.csv", name="toy-train",
                                targets="label")
test = mlflow.data.from_pandas(df.iloc[15:], source="data/test.csv", name="toy-test",
                               targets="label")
arr = mlflow.data.from_numpy(df[["x1", "x2"]].to_numpy(), targets=df["label"].to_numpy(),
                             name="toy-array", source="data/arr.npy")

with mlflow.start_run(run_name="with-data") as run:
    mlflow.log_input(train, context="training")
    mlflow.log_input(test, context="testing", tags={"split": "holdout"})
    mlflow.log_param("rows", len(df))
with mlflow.start_run(run_name="array-data"):
    mlflow.log_input(arr, context="training")
with mlflow.start_run(run_name="no-data"):
    mlflow.log_param("rows", 0)

inputs = mlflow.get_run(run.info.run_id).inputs.dataset_inputs
assert sorted(i.dataset.name for i in inputs) == ["toy-test", "toy-train"]
assert {i.dataset.digest for i in inputs} == {train.digest, test.digest}
found = mlflow.search_runs(filter_string="datasets.name = 'toy-train'", output_format="list")
assert [r.info.run_name for r in found] == ["with-data"]
found = mlflow.search_runs(filter_string="datasets.context = 'training'", output_format="list")
assert sorted(r.info.run_name for r in found) == ["array-data", "with-data"]
print("digests", train.digest, test.digest, arr.digest)
