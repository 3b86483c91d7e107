"""How much of MLflow 3.17's non-GenAI API trackbook covers, tied to the README.

``tests/fixtures/mlflow/api_names.json`` (``make_api_names.py``, run with the real MLflow)
lists MLflow's fluent ``__all__``, the ``MlflowClient`` methods and the ``mlflow.<module>``
modules, with each function's parameters. Every non-GenAI name either exists here with a
signature that takes MLflow's arguments the way MLflow does (same names, MLflow's
positional order, optional where MLflow's are), or is listed in the README's "Use it as
MLflow" section as not supported and raises a TrackbookError subclass naming it. The
README's coverage figures must be the ones counted here.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import json
import re
from pathlib import Path

import pytest

import trackbook as tb
from trackbook._errors import TrackbookError, UnsupportedFeatureError
from trackbook.as_mlflow import UnsupportedMlflowModuleError

ROOT = Path(__file__).resolve().parents[2]
API = json.loads((ROOT / "tests" / "fixtures" / "mlflow" / "api_names.json").read_text())

# -- what is not counted, and why ------------------------------------------------------------
# GenAI is out of scope for trackbook (issue 14 counts the non-GenAI API).
_TRACING = "GenAI tracing (traces and spans of LLM applications)"
_ASSESS = "GenAI assessments and feedback on traces"
_PROMPTS = "GenAI prompt registry"
_MCP = "GenAI MCP server registry"
_GENAI_DATASETS = "GenAI evaluation datasets (mlflow.genai.datasets), not tracking datasets"
_GENAI_LIB = "autologging/flavor of a GenAI library (LLM, agent or LLM-provider SDK)"
GENAI_FLUENT: dict[str, str] = {
    **dict.fromkeys((
        "add_trace", "context", "delete_trace_tag", "flush_trace_async_logging",
        "get_active_trace_id", "get_current_active_span", "get_last_active_trace_id",
        "get_trace", "log_trace", "search_sessions", "search_traces", "set_trace_tag",
        "start_span", "start_span_no_context", "trace", "update_current_trace"), _TRACING),
    **dict.fromkeys((
        "delete_assessment", "get_assessment", "log_assessment", "log_expectation",
        "log_feedback", "log_issue", "override_feedback", "update_assessment"), _ASSESS),
    **dict.fromkeys(("delete_prompt_alias", "load_prompt", "register_prompt",
                     "search_prompts", "set_prompt_alias"), _PROMPTS),
    "gateway": "the GenAI AI gateway (LLM provider routes)",
}
GENAI_CLIENT: dict[str, str] = {
    **dict.fromkeys((
        "delete_trace_tag", "delete_traces", "end_span", "end_trace", "get_trace",
        "link_traces_to_run", "search_traces", "set_trace_tag", "start_span", "start_trace",
        "unlink_traces_from_run"), _TRACING),
    **dict.fromkeys((
        "create_prompt", "create_prompt_version", "delete_prompt", "delete_prompt_alias",
        "delete_prompt_tag", "delete_prompt_version", "delete_prompt_version_tag",
        "detach_prompt_from_run", "get_prompt", "get_prompt_version",
        "get_prompt_version_by_alias", "link_prompt_version_to_model",
        "link_prompt_version_to_run", "link_prompt_versions_to_trace", "list_logged_prompts",
        "load_prompt", "parse_prompt_uri", "register_prompt", "search_prompt_versions",
        "search_prompts", "set_prompt_alias", "set_prompt_tag", "set_prompt_version_tag"),
        _PROMPTS),
    **{name: _MCP for name in API["client"] if "mcp_" in name},
    **dict.fromkeys((
        "add_dataset_to_experiments", "create_dataset", "delete_dataset", "delete_dataset_tag",
        "get_dataset", "remove_dataset_from_experiments", "search_datasets",
        "set_dataset_tags"), _GENAI_DATASETS),
}
GENAI_MODULES: dict[str, str] = {
    **dict.fromkeys((
        "ag2", "agent", "agno", "anthropic", "autogen", "bedrock", "claude_code", "crewai",
        "dspy", "gemini", "groq", "haystack", "langchain", "litellm", "llama_index",
        "mistral", "openai", "pydantic_ai", "semantic_kernel", "smolagents", "strands"),
        _GENAI_LIB),
    **dict.fromkeys(("tracing", "otel"), _TRACING),
    "genai": "MLflow's GenAI evaluation and judges",
    "prompt": _PROMPTS,
    "gateway": "the GenAI AI gateway",
    "mcp": _MCP,
    "ai_commands": "AI-assistant command files for coding agents",
    "assistant": "MLflow's AI assistant",
    "demo": "GenAI demo generators (prompts, traces)",
    "evaluation": "legacy GenAI assessments (Assessment, Evaluation, log_evaluations)",
}
# MLflow's implementation modules: not an API MLflow documents for scripts to call.
INTERNAL_MODULES: dict[str, str] = {
    **dict.fromkeys(("protos", "utils", "store", "telemetry", "ml_package_versions",
                     "legacy_databricks_cli", "error_classification", "mismatch", "typesafe",
                     "rfunc", "version"), "MLflow's internals"),
}
# Names whose signature differs on purpose, each with the test that proves the behaviour.
SIGNATURE_EXCEPTIONS: dict[str, str] = {
    # TrackbookError takes (*args, error_code=...) for every trackbook error; MLflow's
    # MlflowException(message, error_code) call shapes are handled and tested below.
    "MlflowException": "test_mlflow_exception_takes_mlflows_arguments",
    # built only by set_active_model; exported for isinstance checks and `with` blocks
    "ActiveModel": "test_models_logged (set_active_model)",
}


def _ours_fluent(name: str) -> object:
    return getattr(tb, name)


def _signature_gaps(ours: object, theirs: list[list]) -> list[str]:
    """Why a call written for MLflow's signature ``theirs`` would fail on ``ours``."""
    target = ours.__init__ if inspect.isclass(ours) else ours  # type: ignore[misc]
    sig = inspect.signature(target)
    params = [p for p in sig.parameters.values() if p.name != "self"]
    by_name = {p.name: p for p in params}
    positional = [p.name for p in params
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    their_positional = [n for n, kind, _ in theirs
                        if kind in ("POSITIONAL_ONLY", "POSITIONAL_OR_KEYWORD")]
    gaps = []
    for name, kind, has_default in theirs:
        # MLflow's *args/**kwargs pass flavor options through; private "_x" are internal
        if kind in ("VAR_POSITIONAL", "VAR_KEYWORD") or name.startswith("_"):
            continue
        p = by_name.get(name)
        if p is None:
            gaps.append(f"no parameter {name!r}")
            continue
        if kind == "POSITIONAL_OR_KEYWORD":
            i = their_positional.index(name)
            if i >= len(positional) or positional[i] != name:
                gaps.append(f"{name!r} is not positional argument {i}")
        if has_default and p.default is p.empty:
            gaps.append(f"{name!r} is required here, optional in MLflow")
    names = {n for n, *_ in theirs}
    gaps += [f"extra required parameter {p.name!r}" for p in params
             if p.name not in names and p.default is p.empty
             and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    return gaps


# -- the README -------------------------------------------------------------------------------

def _readme_section() -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index("## Use it as MLflow")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def _readme_unsupported() -> dict[str, set[str]]:
    """The names in the section's "Not supported" list: ``mlflow.x()`` (fluent),
    ``MlflowClient.x()`` (client), ``mlflow.x`` (module)."""
    section = _readme_section()
    listing = section[section.index("**Not supported**"):]
    listing = listing[:listing.index("\n\n")]
    found: dict[str, set[str]] = {"fluent": set(), "client": set(), "modules": set()}
    for owner, name, call in re.findall(r"`(mlflow|MlflowClient)\.(\w+)(\(\))?`", listing):
        kind = "client" if owner == "MlflowClient" else "fluent" if call else "modules"
        found[kind].add(name)
    return found


def _readme_counts() -> dict[str, tuple[int, int]]:
    section = re.sub(r"\s+", " ", _readme_section())
    patterns = {"fluent": r"(\d+) of (\d+) fluent names",
                "client": r"(\d+) of (\d+) `MlflowClient` methods",
                "modules": r"(\d+) of (\d+) modules"}
    out = {}
    for kind, pattern in patterns.items():
        match = re.search(pattern, section)
        assert match, f"the README's 'Use it as MLflow' section states no {kind} coverage"
        out[kind] = (int(match.group(1)), int(match.group(2)))
    return out


# -- counting ---------------------------------------------------------------------------------

def _fluent() -> tuple[list[str], list[str], list[str]]:
    """(supported, missing, signature problems) over the non-GenAI fluent names."""
    supported, missing, problems = [], [], []
    from trackbook import _unsupported

    for name, info in API["fluent"].items():
        if name in GENAI_FLUENT:
            continue
        if name in _unsupported.FLUENT or not hasattr(tb, name):
            missing.append(name)
            continue
        ours = _ours_fluent(name)
        if info["kind"] == "module":
            assert inspect.ismodule(ours), f"tb.{name} should be a module"
        elif name not in SIGNATURE_EXCEPTIONS and info["kind"] in ("function", "class"):
            problems += [f"tb.{name}: {gap}" for gap in _signature_gaps(ours, info["params"])]
        supported.append(name)
    return supported, missing, problems


def _client() -> tuple[list[str], list[str], list[str]]:
    from trackbook import _unsupported

    supported, missing, problems = [], [], []
    for name, info in API["client"].items():
        if name in GENAI_CLIENT:
            continue
        if name in _unsupported.CLIENT or not hasattr(tb.MlflowClient, name):
            missing.append(name)
            continue
        ours = inspect.getattr_static(tb.MlflowClient, name)
        if info["kind"] == "other":  # a property, e.g. tracking_uri
            assert isinstance(ours, property), f"MlflowClient.{name} should be a property"
        else:
            problems += [f"MlflowClient.{name}: {gap}"
                         for gap in _signature_gaps(getattr(tb.MlflowClient, name),
                                                    info["params"])]
        supported.append(name)
    return supported, missing, problems


def _modules() -> tuple[list[str], list[str]]:
    supported, missing = [], []
    for name in API["modules"]:
        if name in GENAI_MODULES or name in INTERNAL_MODULES:
            continue
        if importlib.util.find_spec(f"trackbook.{name}") is not None:
            supported.append(name)
        else:
            missing.append(name)
    return supported, missing


def test_every_name_is_covered_or_listed_in_the_readme() -> None:
    fluent, fluent_missing, fluent_problems = _fluent()
    client, client_missing, client_problems = _client()
    modules, modules_missing = _modules()
    counts = {"fluent": (len(fluent), len(fluent) + len(fluent_missing)),
              "client": (len(client), len(client) + len(client_missing)),
              "modules": (len(modules), len(modules) + len(modules_missing))}
    print("MLflow", API["mlflow_version"], "non-GenAI coverage:",
          ", ".join(f"{k} {a}/{b}" for k, (a, b) in counts.items()))
    assert fluent_problems + client_problems == []
    listed = _readme_unsupported()
    assert sorted(listed["fluent"]) == sorted(fluent_missing)
    assert sorted(listed["client"]) == sorted(client_missing)
    assert sorted(listed["modules"]) == sorted(modules_missing)
    assert _readme_counts() == counts


def test_the_exclusion_lists_name_only_mlflow_names() -> None:
    # a typo here would silently exclude nothing; a name MLflow dropped should go too
    assert set(GENAI_FLUENT) <= set(API["fluent"])
    assert set(GENAI_CLIENT) <= set(API["client"])
    assert set(GENAI_MODULES) | set(INTERNAL_MODULES) <= set(API["modules"])
    from trackbook import _unsupported

    assert set(_unsupported.FLUENT) <= set(API["fluent"]) - set(GENAI_FLUENT)
    assert set(_unsupported.CLIENT) <= set(API["client"]) - set(GENAI_CLIENT)
    assert set(_unsupported.MODULES) <= set(API["modules"]) - set(GENAI_MODULES)


@pytest.mark.usefixtures("tb_store")
def test_unsupported_names_raise_naming_themselves() -> None:
    listed = _readme_unsupported()
    for name in sorted(listed["fluent"]):
        with pytest.raises(UnsupportedFeatureError, match=rf"mlflow\.{name}\(\)"):
            getattr(tb, name)("x")
    client = tb.MlflowClient()
    for name in sorted(listed["client"]):
        with pytest.raises(UnsupportedFeatureError, match=rf"MlflowClient\.{name}\(\)"):
            getattr(client, name)("x")
    for name in sorted(listed["modules"]):
        with pytest.raises(UnsupportedMlflowModuleError, match=rf"mlflow\.{name} "):
            getattr(tb, name)
        assert issubclass(UnsupportedMlflowModuleError, TrackbookError)
    assert not hasattr(tb, "no_such_name")  # other names still raise AttributeError


@pytest.mark.usefixtures("tb_store")
def test_unsupported_modules_raise_on_import_under_exec() -> None:
    from trackbook import as_mlflow

    as_mlflow.install()
    try:
        with pytest.raises(UnsupportedMlflowModuleError, match=r"mlflow\.h2o is not supported"):
            importlib.import_module("mlflow.h2o")
    finally:
        as_mlflow.uninstall()


def test_mlflow_exception_takes_mlflows_arguments() -> None:
    # MLflow 3.17.2: MlflowException(message, error_code=INTERNAL_ERROR, sqlstate=None, ...)
    e = tb.MlflowException("bad value", "INVALID_PARAMETER_VALUE")
    assert (e.message, e.error_code) == ("bad value", "INVALID_PARAMETER_VALUE")
    e = tb.MlflowException(message="gone", error_code="RESOURCE_DOES_NOT_EXIST")
    assert (e.message, e.error_code, str(e)) == ("gone", "RESOURCE_DOES_NOT_EXIST", "gone")
    assert tb.MlflowException("x").error_code == "INTERNAL_ERROR"


@pytest.mark.usefixtures("tb_store")
def test_client_tracking_uri_and_doctor(tb_store: Path, capsys: pytest.CaptureFixture[str]
                                        ) -> None:
    assert tb.MlflowClient().tracking_uri == tb.get_tracking_uri()
    assert tb.MlflowClient(str(tb_store)).tracking_uri == str(tb_store)
    with pytest.raises(UnsupportedFeatureError, match="workspace_store_uri"):
        tb.MlflowClient(workspace_store_uri="http://x")
    tb.doctor(mask_envs=True)
    out = capsys.readouterr().out
    assert f"Tracking URI: {tb.get_tracking_uri()}" in out
    assert "Python version:" in out


def test_mlflow_types_path() -> None:
    # MLflow 3.17.2: ColSpec(DataType.double, "a").to_dict() ==
    # {"type": "double", "name": "a", "required": True}
    from trackbook.types import ColSpec, DataType, Schema
    from trackbook.types.schema import ColSpec as SameColSpec

    assert ColSpec is SameColSpec
    schema = Schema([ColSpec(DataType.double, "a")])
    assert json.loads(schema.to_json()) == [{"type": "double", "name": "a", "required": True}]
    assert str(DataType.long) == "long"
