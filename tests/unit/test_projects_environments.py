"""Environment specs, keys and progress reporting (building real ones is in integration)."""

from __future__ import annotations

import io
import shutil
import sys
from pathlib import Path

import pytest

import trackbook
from trackbook.projects import EnvironmentCreationError, Progress, load_project
from trackbook.projects import environments as envs
from trackbook.projects.progress import TextReporter, Tracker, reporter


def project(tmp_path: Path, deps: str = "  - numpy\n") -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "MLproject").write_text("python_env: python_env.yaml\nentry_points:\n"
                                        "  main:\n    command: python main.py\n")
    (tmp_path / "python_env.yaml").write_text(f"dependencies:\n{deps}")
    return tmp_path


def test_local_environment_is_this_interpreter(tmp_path: Path) -> None:
    env = envs.prepare("local", load_project(project(tmp_path)))
    assert (env.manager, env.python, env.prefix, env.created) == \
        ("local", sys.executable, None, False)
    child = env.child_env({"PATH": "/usr/bin", "PYTHONHOME": "/x"})
    assert "PYTHONHOME" not in child
    python_dir = child["PATH"].split(":")[0]
    assert Path(python_dir, "python").exists()


def test_environment_key_follows_the_spec(tmp_path: Path) -> None:
    a = load_project(project(tmp_path / "a"))
    b = load_project(project(tmp_path / "b"))
    c = load_project(project(tmp_path / "c", "  - numpy\n  - pandas\n"))
    assert envs.spec_key("virtualenv", a) == envs.spec_key("virtualenv", b)
    assert envs.spec_key("virtualenv", a) != envs.spec_key("virtualenv", c)
    assert envs.spec_key("virtualenv", a) != envs.spec_key("uv", a)


def test_requirement_files_are_part_of_the_key(tmp_path: Path) -> None:
    folder = project(tmp_path, "  - -r requirements.txt\n")
    (folder / "requirements.txt").write_text("numpy\n")
    before = envs.spec_key("virtualenv", load_project(folder))
    (folder / "requirements.txt").write_text("numpy\npandas\n")
    assert envs.spec_key("virtualenv", load_project(folder)) != before


def test_environments_get_this_trackbook() -> None:
    req = envs.trackbook_requirement()
    root = Path(trackbook.__file__).resolve().parents[2]
    assert req in (["-e", str(root)], [str(root)], [f"trackbook=={trackbook.__version__}"])
    assert envs.trackbook_requirement(["numpy", "trackbook>=0.1"]) == []


def test_unavailable_python_version_is_explained() -> None:
    assert envs.interpreter(None) == str(Path(sys.executable).absolute())
    with pytest.raises(EnvironmentCreationError, match=r"asks for Python 2\.7.*env_manager"):
        envs.interpreter("2.7")


def test_unknown_manager_and_missing_tools(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="env_manager must be one of local, virtualenv"):
        envs.prepare("docker", load_project(project(tmp_path)))
    if shutil.which("conda") is None:
        with pytest.raises(EnvironmentCreationError, match="needs conda, which is not"):
            envs.find_tool("conda")


def test_text_progress_writes_lines_when_not_a_terminal() -> None:
    out = io.StringIO()
    tracker = Tracker(TextReporter(out, interval=0.0), "environment", "virtualenv env ab12",
                      total=3)
    tracker.update("create venv", 0)
    tracker.update("install numpy", 1)
    tracker.update("ready", 3, finished=True)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("trackbook: virtualenv env ab12: create venv [0/3] (")
    assert lines[-1].startswith("trackbook: virtualenv env ab12: ready [3/3]")
    assert len(lines) == 3


def test_progress_argument_accepts_callables_and_false() -> None:
    seen: list[Progress] = []
    assert reporter(seen.append) == seen.append
    reporter(False)(Progress("sweep", "s", "m"))  # silent
    Tracker(seen.append, "sweep", "sweep x", total=2).update("1 finished", 1)
    assert (seen[0].task, seen[0].done, seen[0].finished) == ("sweep", 1, False)
    assert "sweep x: 1 finished [1/2]" in seen[0].text()


def test_notebook_progress_is_one_display_updated_in_place(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import IPython.display

    from trackbook.projects import progress as progress_mod

    shown: list[object] = []

    class Handle:
        def update(self, obj: object) -> None:
            shown.append(obj)

    def fake_display(obj: object, display_id: bool = False) -> Handle:
        assert display_id is True
        shown.append(obj)
        return Handle()

    monkeypatch.setattr(IPython.display, "display", fake_display)
    monkeypatch.setattr(progress_mod, "in_notebook", lambda: True)
    callback = reporter(None)
    assert isinstance(callback, progress_mod.NotebookReporter)
    tracker = Tracker(callback, "sweep", "sweep grid", total=4)
    tracker.update("4 trials: 4 pending", 0)
    tracker.update("4 trials: 4 finished", 4, finished=True)
    assert len(shown) == 2
    html = shown[-1]._repr_html_()  # type: ignore[attr-defined]
    assert '<progress value="4" max="4"' in html
    assert "sweep grid: 4 trials: 4 finished [4/4]" in html
    assert repr(shown[0]).startswith("sweep grid: 4 trials: 4 pending [0/4]")
