"""The autologging machinery every framework integration is built from, on a real module
imported from disk: patch on import, nested calls, run handling, safety, disable."""

from __future__ import annotations

import importlib
import sys
import textwrap
import warnings

import pytest

import trackbook as tb
from trackbook.autologging import AutologWarning, _config, _enable, _patch, _runs, _safety


@pytest.fixture
def framework(tmp_path, monkeypatch, store):
    """A tiny 'framework' module, not yet imported, whose Model.fit calls an inner fit."""
    name = f"fakefw_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent("""
        __version__ = "1.2.0"
        class Model:
            def fit(self, x, inner=None):
                if inner is not None:
                    inner.fit(x)
                if x == "boom":
                    raise RuntimeError("training failed")
                return self
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    calls: list = []

    def install(module):
        def fit(original, self, x, inner=None):
            with _runs.training_run("fakefw") as run:
                calls.append((x, run.info.run_id if run else None))
                with _safety.guard("fakefw", "log params"):
                    if x == "log-fails":
                        raise OSError("disk on fire")
                    tb.log_param("x", x)
                return original(self, x, inner)
        _patch.patch("fakefw", module.Model, "fit", fit)

    yield name, install, calls
    _patch.unpatch_all("fakefw")
    _config._configs.pop("fakefw", None)
    sys.modules.pop(name, None)


def test_patches_a_framework_imported_after_autolog(framework):
    name, install, calls = framework
    _enable.enable("fakefw", name, install, {})
    assert name not in sys.modules
    module = importlib.import_module(name)
    module.Model().fit(1, inner=module.Model())  # the inner fit must not log a second run
    assert len(calls) == 1
    run = tb.get_run(calls[0][1])
    assert run.data.tags[_runs.AUTOLOG_TAG] == "fakefw"
    assert run.data.params == {"x": "1"}
    assert run.info.status == "FINISHED"


def test_logs_into_the_active_run_and_leaves_it_open(framework):
    name, install, calls = framework
    module = importlib.import_module(name)
    _enable.enable("fakefw", name, install, {})
    with tb.start_run() as run:
        module.Model().fit(2)
        assert tb.active_run().info.run_id == run.info.run_id
    assert calls == [(2, run.info.run_id)]
    assert _runs.AUTOLOG_TAG not in tb.get_run(run.info.run_id).data.tags


def test_exclusive_never_logs_into_a_user_run(framework):
    name, install, calls = framework
    module = importlib.import_module(name)
    _enable.enable("fakefw", name, install, {"exclusive": True})
    with tb.start_run():
        module.Model().fit(3)
    assert calls == [(3, None)]


def test_failed_training_ends_its_run_failed_and_raises(framework):
    name, install, calls = framework
    module = importlib.import_module(name)
    _enable.enable("fakefw", name, install, {})
    with pytest.raises(RuntimeError, match="training failed"):
        module.Model().fit("boom")
    assert tb.get_run(calls[0][1]).info.status == "FAILED"
    assert tb.active_run() is None


def test_a_logging_failure_warns_and_training_goes_on(framework):
    name, install, _calls = framework
    module = importlib.import_module(name)
    _enable.enable("fakefw", name, install, {})
    with pytest.warns(AutologWarning, match="could not log params.*disk on fire"):
        assert isinstance(module.Model().fit("log-fails"), module.Model)
    _enable.enable("fakefw", name, install, {"silent": True})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        module.Model().fit("log-fails")


def test_disable_and_unpatch_restore_plain_calls(framework):
    name, install, calls = framework
    module = importlib.import_module(name)
    original = module.Model.fit
    _enable.enable("fakefw", name, install, {})
    assert module.Model.fit is not original
    _enable.enable("fakefw", name, install, {"disable": True})
    module.Model().fit(4)
    assert calls == []
    _patch.unpatch_all("fakefw")
    assert module.Model.fit is original


def test_unsupported_versions_warn_or_stay_off(framework):
    name, install, calls = framework
    module = importlib.import_module(name)
    with pytest.warns(AutologWarning, match="outside the versions"):
        _enable.enable("fakefw", name, install, {}, supported=("2.0", "3.0"))
    _patch.unpatch_all("fakefw")
    _enable.enable("fakefw", name, install, {"disable_for_unsupported_versions": True},
                   supported=("2.0", "3.0"))
    module.Model().fit(5)
    assert calls == []


def test_autolog_rejects_unknown_flavors():
    with pytest.raises(tb.TrackbookError, match=r"exclude_flavors.*nosuch"):
        tb.autolog(exclude_flavors=["nosuch"])
