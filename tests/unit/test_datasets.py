"""trackbook.data and log_input against MLflow 3.17: the same frames give the same digest,
source, schema and profile JSON; run.inputs, dedupe rules, search filters, limits."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import trackbook as tb
from mlflow_env import run_mlflow
from trackbook.data import DatasetError, UnsupportedDatasetSourceError
from trackbook.entities import Dataset, DatasetInput, InputTag

# Builds the same datasets with `data` = mlflow.data or trackbook.data and returns their
# to_dict()s. Run as is in MLflow's venv and in this process.
CASES = r'''
import json, warnings
import numpy as np, pandas as pd, polars as pl
warnings.filterwarnings("ignore")

def cases(data):
    rng = np.random.default_rng(7)
    frames = {
        "basic": pd.DataFrame({"a": [1, 2, 3], "b": [0.5, 1.5, 2.5], "c": ["x", "y", "z"]}),
        "nan": pd.DataFrame({"a": [1.0, None, 3.0], "s": ["x", None, "z"]}),
        "types": pd.DataFrame({"i32": np.array([1, 2], dtype="int32"), "b": [True, False],
                               "t": pd.to_datetime(["2020-01-01", "2021-01-01"]),
                               "f32": np.array([1, 2], dtype="float32"),
                               "u8": np.array([1, 2], dtype="uint8")}),
        "intcols": pd.DataFrame(np.arange(6).reshape(3, 2)),
        "big": pd.DataFrame({"x": np.arange(20000), "y": rng.random(20000)}),
        "unordered": pd.DataFrame({"z": [1, 2], "a": ["p", "q"], "m": [0.1, 0.2]}),
        "mixed": pd.DataFrame({"o": [1, "a"], "n": [1, 2]}),
        "objints": pd.DataFrame({"o": pd.Series([1, 2], dtype=object)}),
        "lists": pd.DataFrame({"l": [[1], [2]], "s": ["a", "b"]}),
        "late_non_str": pd.DataFrame({"s": ["a"] * 10001 + [5], "n": np.arange(10002)}),
    }
    out = {}
    for k, df in frames.items():
        out["pd_" + k] = data.from_pandas(df, source="/tmp/x.csv", name=k).to_dict()
    arrays = {
        "f": (np.arange(12).reshape(4, 3).astype(float), None),
        "ft": (np.arange(12).reshape(4, 3).astype(float), np.array([0, 1, 0, 1])),
        "dict": ({"b": np.ones((2, 2)), "a": np.zeros(3, dtype="int32")},
                 {"y": np.array([1, 2])}),
        "big": (rng.random((10000, 3)), None),
        "str": (np.array(["a", "bb"]), None),
        "obj": (np.array([1, "a"], dtype=object), None),
    }
    for k, (f, t) in arrays.items():
        out["np_" + k] = data.from_numpy(f, targets=t, source="s3://bucket/x.npy").to_dict()
    p = pl.DataFrame({"a": [1, 2, 3], "b": [0.5, None, 2.5], "c": ["x", "y", "z"]})
    out["pl"] = data.from_polars(p, source="https://example.com/d.csv").to_dict()
    for src in ["file:///tmp/a.csv", "relative/path.csv", "gs://b/x", "http://h/x.csv"]:
        d = data.from_pandas(frames["basic"], source=src).to_dict()
        out["src_" + src] = [d["source_type"], d["source"]]
    return out
'''


def test_same_frames_same_records_as_mlflow() -> None:
    theirs = run_mlflow(CASES + "import mlflow.data\nprint('@@' + json.dumps(cases(mlflow.data)))",
                        extra=["polars"])
    ns: dict = {}
    exec(CASES, ns)
    ours = json.loads(json.dumps(ns["cases"](tb.data)))
    assert set(ours) == set(theirs)
    for key in theirs:
        assert ours[key] == theirs[key], key


def test_recorded_digests() -> None:
    # Observed with MLflow 3.17.2 (pandas 3.1, numpy 2.4): mlflow.data.from_pandas(...).digest
    df = pd.DataFrame({"a": [1, 2, 3], "b": [0.5, 1.5, 2.5], "c": ["x", "y", "z"]})
    assert tb.data.from_pandas(df).digest == "daa55b8f"
    assert tb.data.from_pandas(df.head(2)).digest == "bcb45709"
    x = np.arange(12).reshape(4, 3).astype(float)
    assert tb.data.from_numpy(x).digest == "4ccdccbc"
    assert tb.data.from_numpy(x, targets=np.array([0, 1, 0, 1])).digest == "929378ba"


def test_dataset_objects() -> None:
    df = pd.DataFrame({"a": [1, 2], "y": [0, 1]})
    ds = tb.data.from_pandas(df, source="/data/train.csv", targets="y", name="train")
    assert (ds.name, ds.targets, ds.predictions) == ("train", "y", None)
    assert ds.df is df
    assert ds.profile == {"num_rows": 2, "num_elements": 4}
    assert ds.schema.input_names() == ["a", "y"]
    assert ds.source.uri == "/data/train.csv"
    assert ds.source._get_source_type() == "local"
    assert tb.data.from_pandas(df, digest="custom").digest == "custom"
    code = tb.data.from_pandas(df).source
    assert code._get_source_type() == "code"
    assert "mlflow.user" in code.to_dict()["tags"]
    n = tb.data.from_numpy(np.zeros((3, 2)), targets=np.ones(3))
    assert n.features.shape == (3, 2)
    assert n.targets.shape == (3,)
    assert n.schema.to_dict()["mlflow_tensorspec"]["targets"] is not None
    with pytest.raises(DatasetError, match="no targets column 'nope'"):
        tb.data.from_pandas(df, targets="nope")
    for bad in ("dbfs:/x", "runs:/abc/x", "hf://d", 42):
        with pytest.raises(UnsupportedDatasetSourceError, match="cannot use the dataset source"):
            tb.data.from_pandas(df, source=bad)
    with pytest.raises(UnsupportedDatasetSourceError, match="from_huggingface"):
        tb.data.from_huggingface(object())


def _df(n: int = 3) -> pd.DataFrame:
    return pd.DataFrame({"a": np.arange(n), "b": np.arange(n) * 0.5})


def test_log_input_round_trip_and_first_wins(store: Path) -> None:
    train = tb.data.from_pandas(_df(), source="/data/train.csv", name="train")
    with tb.start_run() as run:
        tb.log_input(train, context="training", tags={"k": "v"})
        tb.log_input(train, context="eval")  # same name and digest: the first use stays
        tb.log_input(tb.data.from_numpy(np.ones((4, 2)), name="test"), context="testing")
    got = tb.get_run(run.info.run_id).inputs
    assert [d.dataset.name for d in got.dataset_inputs] == ["train", "test"]
    first = got.dataset_inputs[0]
    assert first.dataset == train._to_mlflow_entity()
    assert first.tags == [InputTag("k", "v"), InputTag("mlflow.data.context", "training")]
    assert json.loads(got.dataset_inputs[1].dataset.profile)["features_shape"] == [4, 2]
    assert tb.data.get_source(first).uri == "/data/train.csv"
    assert got.to_dictionary()["dataset_inputs"][0]["tags"]["mlflow.data.context"] == "training"
    # A later run's dataset with the same name and digest points at the experiment's first
    # record (its source stays /data/train.csv), as MLflow links one dataset row.
    with tb.start_run() as run2:
        tb.log_input(tb.data.from_pandas(_df(), source="/elsewhere.csv", name="train"))
    again = tb.get_run(run2.info.run_id).inputs.dataset_inputs
    assert [json.loads(d.dataset.source) for d in again] == [{"uri": "/data/train.csv"}]
    assert again[0].tags == []
    tb.Client().store.catalog.rebuild()  # the index rebuilds from the logs
    assert tb.get_run(run.info.run_id).inputs == got


def test_client_log_inputs_and_checks(client) -> None:
    exp = client.create_experiment("ds")
    run_id = client.create_run(exp).info.run_id
    entity = Dataset("d", "abc", "local", '{"uri": "x"}', None, None)
    client.log_inputs(run_id, datasets=[DatasetInput(entity, [InputTag("t", "1")]),
                                        DatasetInput(entity)])  # dedup in one batch
    inputs = client.get_run(run_id).inputs.dataset_inputs
    assert len(inputs) == 1
    assert inputs[0].tags == [InputTag("t", "1")]
    assert inputs[0].dataset.schema is None
    with pytest.raises(tb.TrackbookError, match="dataset name is 501 characters"):
        client.log_inputs(run_id, [DatasetInput(Dataset("n" * 501, "d", "local", "{}"))])
    with pytest.raises(tb.TrackbookError, match="lone surrogate"):
        client.log_inputs(run_id, [DatasetInput(Dataset("bad\udc80", "d", "local", "{}"))])
    with pytest.raises(tb.TrackbookError, match="input tag 'k' of dataset 'd' is 501"):
        client.log_inputs(run_id, [DatasetInput(entity, [InputTag("k", "v" * 501)])])
    with pytest.raises(tb.TrackbookError, match=r"takes trackbook\.entities\.DatasetInput"):
        client.log_inputs(run_id, [entity])
    assert len(client.get_run(run_id).inputs.dataset_inputs) == 1


def test_fluent_argument_rules(store: Path) -> None:
    with tb.start_run():
        with pytest.raises(tb.TrackbookError, match="`dataset` must be given"):
            tb.log_input(context="training")
        with pytest.raises(tb.TrackbookError, match="the same length"):
            tb.log_inputs([tb.data.from_pandas(_df())], contexts=[], tags_list=[])
        with pytest.raises(tb.TrackbookError, match=r"models=.*refused"):
            tb.log_inputs([], [], [], models=[object()])
        tb.log_inputs([tb.data.from_pandas(_df(), name="a"), tb.data.from_pandas(_df(4))],
                      contexts=["train", None], tags_list=[None, {"x": "y"}])
        run_id = tb.active_run().info.run_id
    got = tb.get_run(run_id).inputs.dataset_inputs
    assert [(d.dataset.name, [t.key for t in d.tags]) for d in got] == [
        ("a", ["mlflow.data.context"]), ("dataset", ["x"])]


def test_search_by_datasets(store: Path) -> None:
    ids = {}
    for name, context in (("train", "training"), ("eval", "testing"), (None, None)):
        with tb.start_run() as run:
            if name:
                tb.log_input(tb.data.from_pandas(_df(), name=name), context=context)
        ids[name] = run.info.run_id

    def found(flt: str) -> set:
        return {r.info.run_id for r in tb.search_runs(filter_string=flt, output_format="list")}

    digest = tb.data.from_pandas(_df()).digest
    assert found("datasets.name = 'train'") == {ids["train"]}
    assert found("dataset.name != 'train'") == {ids["eval"]}
    assert found("datasets.context IN ('training', 'testing')") == {ids["train"], ids["eval"]}
    assert found("datasets.name NOT IN ('train')") == {ids["eval"]}
    assert found("datasets.name LIKE 'tr%' OR datasets.context ILIKE 'TEST%'") == {
        ids["train"], ids["eval"]}
    assert found(f"datasets.digest = '{digest}' AND datasets.name = 'eval'") == {ids["eval"]}
    assert found("datasets.name = 'x'' OR 1=1 --'") == set()
    for bad, why in (("datasets.name > 'a'", "cannot be used"),
                     ("datasets.schema = 'x'", "unknown dataset key"),
                     ("datasets.name = 1", "quoted strings"),
                     ("datasets.name IS NULL", "cannot be used")):
        with pytest.raises(tb.TrackbookError, match=why):
            tb.search_runs(filter_string=bad)
    with pytest.raises(tb.TrackbookError, match="cannot order by"):
        tb.search_runs(order_by=["datasets.name"])


def test_a_hand_edited_inputs_record_does_not_stop_the_fold(store: Path) -> None:
    with tb.start_run() as run:
        tb.log_input(tb.data.from_pandas(_df(), name="ok"))
    session = tb.Client().store.session
    session.record("inputs", run=run.info.run_id, exp="0",
                   datasets=[{"digest": "no name"}, "junk", {"name": 3, "digest": "x"}])
    session.record("inputs", run=run.info.run_id)  # no experiment
    names = [d.dataset.name for d in tb.get_run(run.info.run_id).inputs.dataset_inputs]
    assert names == ["ok"]


def test_detail_pane_lists_the_run_datasets(store: Path) -> None:
    from trackbook.widgets._detail import run_detail

    with tb.start_run() as run:
        tb.log_input(tb.data.from_pandas(_df(5), name="train"), context="training")
        tb.log_input(tb.data.from_numpy(np.ones((7, 3)), name="x"))
    detail, _ = run_detail(tb.Client().store, run.info.run_id)
    assert detail["datasets"] == [
        {"name": "train", "digest": tb.data.from_pandas(_df(5)).digest, "context": "training",
         "source_type": "code", "rows": 5, "cols": 2},
        {"name": "x", "digest": tb.data.from_numpy(np.ones((7, 3))).digest, "context": None,
         "source_type": "code", "rows": 7, "cols": 3}]
