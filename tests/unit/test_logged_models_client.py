"""``MlflowClient``'s logged-model methods (MLflow 3): create, get, search (paged), change,
finalize, delete, and the model's own files, with MLflow's signatures and returns."""

from __future__ import annotations

from pathlib import Path

import pytest

import trackbook as tb
from trackbook.models._errors import LoggedModelNotFoundError
from trackbook.tracking.entities import PagedList


def test_create_fill_finalize_and_read_a_logged_model(tb_store: Path, tmp_path: Path) -> None:
    c = tb.MlflowClient()
    exp = c.create_experiment("x")
    run = c.create_run(exp)
    m = c.create_logged_model(exp, name="a", source_run_id=run.info.run_id,
                              tags={"t": 2}, params={"p": 1}, model_type="agent")
    assert isinstance(m, tb.LoggedModel)
    assert m.status == tb.LoggedModelStatus.PENDING
    assert (m.tags, m.params) == ({"t": "2"}, {"p": "1"})  # no context tags, as MLflow
    assert m.artifact_location == str(tb_store / "models" / m.model_id / "artifacts")

    (tmp_path / "f.txt").write_text("hi")
    (tmp_path / "d" / "sub").mkdir(parents=True)
    (tmp_path / "d" / "sub" / "g.txt").write_text("g")
    c.log_model_artifact(m.model_id, str(tmp_path / "f.txt"))
    c.log_model_artifact(m.model_id, tmp_path / "f.txt", "x/y")
    c.log_model_artifacts(m.model_id, str(tmp_path / "d"))
    c.log_model_artifacts(m.model_id, str(tmp_path / "d"), "dd")
    listed = [(f.path, f.is_dir, f.file_size) for f in c.list_logged_model_artifacts(m.model_id)]
    assert listed == [("dd", True, None), ("f.txt", False, 2), ("sub", True, None),
                      ("x", True, None)]  # what MLflow 3.17 lists for the same calls
    assert [f.path for f in c.list_logged_model_artifacts(m.model_id, "x")] == ["x/y"]
    assert c.list_logged_model_artifacts(m.model_id, "nope") == []
    assert (Path(m.artifact_location) / "dd" / "sub" / "g.txt").read_text() == "g"

    c.set_logged_model_tags(m.model_id, {"k": 1, "gone": "x"})
    c.delete_logged_model_tag(m.model_id, "gone")
    c.log_model_params(m.model_id, {"q": 2.5})
    done = c.finalize_logged_model(m.model_id, "READY")
    assert done.status == tb.LoggedModelStatus.READY
    got = c.get_logged_model(m.model_id)
    assert got.tags == {"t": "2", "k": "1"}
    assert got.params == {"p": "1", "q": "2.5"}
    assert (got.source_run_id, got.model_type, got.name) == (run.info.run_id, "agent", "a")
    assert c.finalize_logged_model(m.model_id, tb.LoggedModelStatus.FAILED).status == "FAILED"


def test_search_pages_like_mlflow_and_deleted_models_vanish(tb_store: Path) -> None:
    c = tb.MlflowClient()
    exp = c.create_experiment("x")
    made = [c.create_logged_model(exp, name=f"m{i}").model_id for i in range(5)]
    first = c.search_logged_models([exp], max_results=2)
    assert isinstance(first, PagedList)
    assert [m.model_id for m in first] == made[:-3:-1]  # newest first
    second = c.search_logged_models([exp], max_results=2, page_token=first.token)
    third = c.search_logged_models([exp], max_results=2, page_token=second.token)
    assert [m.model_id for m in [*first, *second, *third]] == made[::-1]
    assert third.token is None
    assert [m.name for m in c.search_logged_models([exp], filter_string="name = 'm3'")] == ["m3"]
    c.delete_logged_model(made[0])
    assert len(c.search_logged_models([exp])) == 4
    with pytest.raises(LoggedModelNotFoundError):
        c.get_logged_model(made[0])
    with pytest.raises(LoggedModelNotFoundError):
        c.set_logged_model_tags(made[0], {"a": "b"})
    with pytest.raises(tb.TrackbookError, match="list of strings"):
        c.search_logged_models(exp)  # type: ignore[arg-type]
    with pytest.raises(tb.TrackbookError, match="non-empty string"):
        c.log_model_params("", {"a": 1})
    with pytest.raises(tb.TrackbookError, match="page_token"):
        c.search_logged_models([exp], page_token="x")
    with pytest.raises(tb.TrackbookError, match="no experiment"):
        c.create_logged_model("12345")
