"""log_table/load_table and an image series with log_image(key=, step=)."""
import mlflow
import numpy as np

mlflow.set_experiment("tables-images")
rng = np.random.default_rng(0)

with mlflow.start_run(run_name="preds") as run:
    mlflow.log_table({"input": ["a", "b"], "score": [0.1, 0.9]}, artifact_file="preds.json")
    mlflow.log_table({"input": ["c"], "score": [0.5]}, artifact_file="preds.json")
    for step in range(3):
        image = (rng.random((16, 16, 3)) * 255).astype(np.uint8)
        mlflow.log_image(image, key="samples", step=step)
    mlflow.log_image(np.zeros((8, 8), dtype=np.uint8), artifact_file="plots/blank.png")

table = mlflow.load_table("preds.json", run_ids=[run.info.run_id])
assert list(table["input"]) == ["a", "b", "c"], table
print(table)
