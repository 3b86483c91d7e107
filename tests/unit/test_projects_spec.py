"""MLproject parsing, parameter checks and command lines (no process is started here)."""

from __future__ import annotations

import logging
import shlex
import textwrap
from pathlib import Path

import pytest

from trackbook.projects import (
    EntryPointNotFoundError,
    ParameterError,
    ProjectSpecError,
    load_project,
)
from trackbook.projects.pythonenv import from_conda_yaml, load_python_env
from trackbook.projects.spec import parse_spec

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sklearn_elasticnet"

GOOD = """\
name: demo
entry_points:
  main:
    parameters:
      alpha: float
      epochs: {type: int, default: 10}
      label: {type: string, default: "a b"}
      data: {type: path, default: data.csv}
      where: {type: uri, default: "s3://bucket/x"}
    command: "python train.py --alpha {alpha} --epochs {epochs} --label {label} --data {data}"
  other:
    command: python other.py ${HOME} {{literal}}
"""


def parse(text: str, folder: Path | str = "/nonexistent") -> object:
    return parse_spec(textwrap.dedent(text), folder)


def test_parses_entry_points_types_and_defaults() -> None:
    spec = parse(GOOD)
    assert spec.name == "demo"
    main = spec.entry_point("main")
    assert {n: (q.type, q.default) for n, q in main.parameters.items()} == {
        "alpha": ("float", None), "epochs": ("int", "10"), "label": ("string", "a b"),
        "data": ("path", "data.csv"), "where": ("uri", "s3://bucket/x")}
    assert main.parameters["alpha"].required
    assert not main.parameters["epochs"].required
    assert main.parameters["alpha"].line == 5


def test_command_substitutes_quoted_values_and_appends_extra_parameters() -> None:
    main = parse(GOOD).entry_point("main")
    params, command = main.compute({"alpha": "0.5", "label": "x; rm -rf /", "note": "hi there"})
    assert params == {"alpha": "0.5", "epochs": "10", "label": "x; rm -rf /",
                      "data": "data.csv", "where": "s3://bucket/x", "note": "hi there"}
    assert shlex.split(command) == ["python", "train.py", "--alpha", "0.5", "--epochs", "10",
                                    "--label", "x; rm -rf /", "--data", "data.csv",
                                    "--note", "hi there"]
    # ${VAR} is left to the shell; doubled braces are literal braces.
    assert parse(GOOD).entry_point("other").compute({})[1] == \
        "python other.py ${HOME} {literal}"


@pytest.mark.parametrize(("value", "expected"), [(1, "1.0"), ("2.5", "2.5"), (1e-4, "0.0001")])
def test_float_values_are_normalised(value: object, expected: str) -> None:
    assert parse(GOOD).entry_point("main").compute({"alpha": value})[0]["alpha"] == expected


def test_path_and_uri_values_resolve_against_the_callers_folder(tmp_path: Path) -> None:
    (tmp_path / "train.csv").write_text("x\n")
    main = parse(GOOD).entry_point("main")
    params, _ = main.compute({"alpha": 1, "data": "train.csv", "where": "out"}, cwd=tmp_path)
    assert params["data"] == str(tmp_path / "train.csv")
    assert params["where"] == str(tmp_path / "out")
    with pytest.raises(ParameterError, match=r"'data' is the path 'missing.csv', but .* "
                                             "does not exist"):
        main.compute({"alpha": 1, "data": "missing.csv"}, cwd=tmp_path)


def test_bad_types_and_missing_required_parameters_are_all_reported() -> None:
    main = parse(GOOD).entry_point("main")
    with pytest.raises(ParameterError) as info:
        main.compute({"epochs": "ten", "label": ["a"], "bad key": 1})
    text = str(info.value)
    assert "entry point 'main'" in text
    assert "'alpha' (float) is required" in text
    assert "'epochs' must be an int, got 'ten'" in text
    assert "'label' must be a single string" in text
    assert "'bad key'" in text
    assert "Declared parameters: alpha (float), epochs (int, optional)" in text


@pytest.mark.parametrize(("value", "message"), [
    ("abc", "'alpha' must be a float, got 'abc'"),
    (True, "'alpha' must be a float, got the boolean True"),
    (None, "'alpha' must be a single float"),
])
def test_bad_float_values(value: object, message: str) -> None:
    with pytest.raises(ParameterError, match=message):
        parse(GOOD).entry_point("main").compute({"alpha": value})


@pytest.mark.parametrize(("value", "ok"), [(3, True), ("7", True), (4.0, True), ("1e2", True),
                                           (2.5, False), ("2.5", False), ("x", False)])
def test_int_values(value: object, ok: bool) -> None:
    main = parse(GOOD).entry_point("main")
    if ok:
        assert main.compute({"alpha": 1, "epochs": value})[0]["epochs"] == \
            str(int(float(value)))  # type: ignore[arg-type]
    else:
        with pytest.raises(ParameterError, match="'epochs' must be an int"):
            main.compute({"alpha": 1, "epochs": value})


BAD_SPECS = [
    ("entry_points:\n  main:\n    parameters:\n      a: flaot\n    command: x {a}\n",
     4, "entry_points.main.parameters.a", "unknown parameter type 'flaot'; use one of float"),
    ("entry_points:\n  main:\n    parameters:\n      a: {type: int, default: 1.5}\n"
     "    command: x\n", 4, "entry_points.main.parameters.a.default",
     "the default of int parameter 'a' must be an int, got 1.5"),
    ("entry_points:\n  main:\n    parameters:\n      a: float\n    command: x {b}\n",
     5, "entry_points.main.command", "uses {b}, which is not a parameter"),
    ("entry_points:\n  main:\n    parameters: {}\n", 3, "entry_points.main.command",
     "is missing"),
    ("entry_points:\n  main:\n    command: [python, x.py]\n", 3,
     "entry_points.main.command", "must be a non-empty string, got a list"),
    ("name: 3\nentry_points:\n  main:\n    command: x\n", 1, "name",
     "must be a non-empty string, got the number 3"),
    ("name: x\n", 1, "entry_points", "is missing"),
    ("entry_points: [main]\n", 1, "entry_points", "must be a mapping"),
    ("entry_points:\n  main:\n    command: a\n  main:\n    command: b\n", 4,
     "entry_points.main", "appears twice"),
    ("entry_points:\n  main:\n    command: a\ndocker_env:\n  image: x\n", 5, "docker_env",
     "not supported"),
    ("python_env: nope.yaml\nentry_points:\n  main:\n    command: a\n", 1, "python_env",
     "file 'nope.yaml' does not exist"),
    ("entry_points:\n  main:\n    parameters:\n      'bad name': float\n    command: a\n", 4,
     "entry_points.main.parameters.bad name", "must start with a letter"),
]


@pytest.mark.parametrize(("text", "line", "field", "message"), BAD_SPECS,
                         ids=[b[2] + ":" + b[3][:20] for b in BAD_SPECS])
def test_spec_errors_name_the_line_and_field(tmp_path: Path, text: str, line: int,
                                             field: str, message: str) -> None:
    with pytest.raises(ProjectSpecError) as info:
        parse(text, tmp_path)
    err = info.value
    assert (err.line, err.field) == (line, field)
    assert str(err).startswith(f"MLproject:{line}: {field}: ")
    assert message in str(err)


def test_yaml_syntax_errors_name_the_line(tmp_path: Path) -> None:
    (tmp_path / "MLproject").write_text("entry_points:\n  main:\n    command: [a, b\n")
    with pytest.raises(ProjectSpecError, match=r"MLproject:\d: not valid YAML") as info:
        load_project(tmp_path)
    assert info.value.path == str(tmp_path / "MLproject")


def test_unknown_keys_are_warned_about_not_fatal(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, "trackbook.projects.spec"):
        spec = parse("version: 1.0\nentry_points:\n  main:\n    command: x\n")
    assert spec.entry_point("main").command == "x"
    assert "MLproject:1: unknown key 'version' ignored" in caplog.text


def test_folder_without_mlproject_runs_python_files_with_arguments(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text("print('hi')\n")
    (tmp_path / "prep.sh").write_text("echo hi\n")
    spec = load_project(tmp_path)
    assert not spec.has_mlproject
    params, command = spec.entry_point("train.py").compute({"lr": 0.1, "name": "a b"})
    assert params == {"lr": "0.1", "name": "a b"}
    assert shlex.split(command) == ["python", "train.py", "--lr", "0.1", "--name", "a b"]
    assert spec.entry_point("prep.sh").command == "bash prep.sh"
    with pytest.raises(EntryPointNotFoundError, match=r"choose one of: prep.sh, train.py"):
        spec.entry_point("main")
    with pytest.raises(EntryPointNotFoundError):
        spec.entry_point("../outside.py")


def test_mlproject_entry_points_and_files_are_offered(tmp_path: Path) -> None:
    (tmp_path / "MLproject").write_text("entry_points:\n  train:\n    command: python t.py\n")
    (tmp_path / "extra.py").write_text("")
    spec = load_project(tmp_path)
    assert spec.entry_point("extra.py").command == "python extra.py"
    with pytest.raises(EntryPointNotFoundError, match=r"choose one of: train, extra\.py"):
        spec.entry_point("main")


def test_the_example_project_parses() -> None:
    spec = load_project(EXAMPLE)
    assert spec.name == "sklearn_elasticnet"
    assert spec.python_env == EXAMPLE / "python_env.yaml"
    train = spec.entry_point("train")
    assert {n: q.type for n, q in train.parameters.items()} == {
        "alpha": "float", "l1_ratio": "float", "epochs": "int", "seed": "int"}
    _, command = train.compute({"alpha": 0.5})
    assert command == ("python train.py --alpha 0.5 --l1-ratio 0.5 --epochs 20 --seed 0")
    env = load_python_env(spec.python_env)
    assert env.python is None
    assert [d.split(">")[0] for d in env.dependencies] == ["scikit-learn", "pandas"]


def test_python_env_errors_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "python_env.yaml"
    path.write_text("python: '3.11'\ndependencies:\n  - numpy\n  - 3\n")
    with pytest.raises(ProjectSpecError, match=r"python_env.yaml:4: dependencies\[1\]: must "
                                               "be a non-empty string, got the number 3"):
        load_python_env(path)
    path.write_text("python: three\n")
    with pytest.raises(ProjectSpecError, match=r":1: python: must be a version"):
        load_python_env(path)


def test_conda_yaml_gives_python_version_and_pip_requirements(tmp_path: Path) -> None:
    path = tmp_path / "conda.yaml"
    path.write_text("name: x\ndependencies:\n  - python=3.11.7\n  - pip\n  - numpy\n"
                    "  - pip:\n    - scikit-learn==1.5\n")
    env = from_conda_yaml(path)
    assert env.python == "3.11.7"
    assert env.dependencies == ["scikit-learn==1.5"]
