"""The widgets' JS bundles: built by hatch_build.py, shipped in the wheel, clear when missing."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
WIDGETS = ("runs_table", "curves", "compare", "registry")


def _hook_module() -> ModuleType:
    pytest.importorskip("hatchling")
    spec = importlib.util.spec_from_file_location("trackbook_hatch_build", ROOT / "hatch_build.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_widget_has_a_fresh_bundle() -> None:
    hook = _hook_module()
    assert sorted(hook.entries(ROOT)) == sorted(WIDGETS)
    assert hook.stale_bundles(ROOT) == [], "run `pip install -e .` (or npm run build in js/)"
    for name in WIDGETS:
        text = (ROOT / "src" / "trackbook" / "static" / f"{name}.js").read_text()
        assert "export" in text  # an ES module anywidget can import
        # everything is bundled: no module is fetched from the network at runtime
        assert not re.search(r"""(import|from)\s*\(?\s*["']https?://""", text)


def test_missing_node_fails_with_a_clear_message(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    hook = _hook_module()
    (tmp_path / "js" / "src").mkdir(parents=True)
    (tmp_path / "js" / "package.json").write_text("{}")
    (tmp_path / "js" / "src" / "w.ts").write_text("export default {};")
    monkeypatch.setattr(hook.shutil, "which", lambda name: None)
    with pytest.raises(hook.JsBuildError, match="node and npm is not on PATH"):
        hook.build_js(tmp_path)


def test_missing_bundle_error_says_how_to_build(monkeypatch: pytest.MonkeyPatch,
                                                tmp_path: Path) -> None:
    from trackbook.widgets import _bundle

    monkeypatch.setattr(_bundle, "STATIC_DIR", tmp_path)
    with pytest.raises(_bundle.WidgetBundleMissingError, match="npm ci && npm run build"):
        _bundle.read_bundle("runs_table")


@pytest.mark.slow
def test_wheel_ships_the_bundles(tmp_path: Path) -> None:
    """What CI guards: a wheel built from the checkout contains every widget's bundle."""
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(tmp_path),
           str(ROOT)]
    if importlib.util.find_spec("hatchling") is not None:
        cmd.insert(4, "--no-build-isolation")  # no index needed
    subprocess.run(cmd, check=True, env=dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1"),
                   timeout=600)
    wheel = next(tmp_path.glob("trackbook-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in WIDGETS:
        assert f"trackbook/static/{name}.js" in names
