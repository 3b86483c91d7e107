"""Hatchling build hook: bundle the widgets' JavaScript (js/) into src/trackbook/static/.

Runs for wheels and editable installs. It rebuilds only when a bundle is missing or older
than the sources (js/src/*, package.json, package-lock.json, build.mjs), installing the
npm dependencies first (``npm ci`` with a lockfile, else ``npm install``). Node and npm are
needed then; set ``TRACKBOOK_SKIP_JS_BUILD=1`` to install without them (the widgets will
then explain how to build their bundles when displayed).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class JsBuildError(RuntimeError):
    """The widget bundles could not be built."""


def _sources(js: Path) -> list[Path]:
    files = [js / "package.json", js / "package-lock.json", js / "build.mjs"]
    files += sorted((js / "src").rglob("*.ts"))
    return [f for f in files if f.exists()]


def entries(root: Path) -> list[str]:
    """Widget bundles to build: js/src/*.ts not starting with "_" (same rule as build.mjs)."""
    return sorted(p.stem for p in (root / "js" / "src").glob("*.ts") if not p.name.startswith("_"))


def stale_bundles(root: Path) -> list[str]:
    """Names of the bundles that are missing or older than any JS source."""
    js = root / "js"
    static = root / "src" / "trackbook" / "static"
    newest = max((f.stat().st_mtime for f in _sources(js)), default=0.0)
    out = []
    for name in entries(root):
        bundle = static / f"{name}.js"
        if not bundle.exists() or bundle.stat().st_mtime < newest:
            out.append(name)
    return out


def _run(cmd: list[str], cwd: Path) -> None:
    try:
        subprocess.run(cmd, cwd=cwd, check=True)
    except subprocess.CalledProcessError as exc:
        raise JsBuildError(f"`{' '.join(cmd)}` failed in {cwd} (exit {exc.returncode}); "
                           "see its output above") from exc


def build_js(root: Path, force: bool = False) -> bool:
    """Build the bundles if needed; return whether a build ran."""
    js = root / "js"
    if not (js / "package.json").exists():
        if any((root / "src" / "trackbook" / "static").glob("*.js")):
            return False  # e.g. a wheel built from an sdist that already carries them
        raise JsBuildError(f"no js/package.json under {root}: cannot build the widget bundles")
    if not force and not stale_bundles(root):
        return False
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        missing = " and ".join(n for n, p in (("node", node), ("npm", npm)) if p is None)
        raise JsBuildError(
            f"trackbook's notebook widgets are bundled with esbuild at install time, but "
            f"{missing} is not on PATH. Install Node.js >= 18 with npm (e.g. "
            "`apt-get install nodejs npm`) and retry, or set TRACKBOOK_SKIP_JS_BUILD=1 to "
            "install without the widgets' JavaScript.")
    lock = js / "package-lock.json"
    installed = js / "node_modules" / ".package-lock.json"
    outdated = lock.exists() and installed.exists() and \
        installed.stat().st_mtime < lock.stat().st_mtime
    if not installed.exists() or outdated:
        _run([npm, "ci" if lock.exists() else "install", "--no-audit", "--no-fund"], js)
    _run([node, "build.mjs"], js)
    still = stale_bundles(root)
    if still:
        raise JsBuildError(f"the JS build ran but did not produce: {', '.join(still)}")
    return True


class CustomBuildHook(BuildHookInterface):  # type: ignore[misc]
    """Build the JS bundles before hatchling collects the wheel's files."""

    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel":
            return  # the sdist ships js/ sources; the wheel built from it bundles them
        if os.environ.get("TRACKBOOK_SKIP_JS_BUILD"):
            self.app.display_warning("TRACKBOOK_SKIP_JS_BUILD is set: widget bundles not built")
            return
        if build_js(Path(self.root)):
            self.app.display_info("built the widget bundles into src/trackbook/static/")
