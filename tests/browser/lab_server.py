"""Start/stop a throwaway JupyterLab server for the browser tests.

Isolated: the caller's root dir, temp settings/workspaces/runtime dirs, a fixed token,
127.0.0.1 only, a free port. ``stop`` ends it (and its kernels) by its own PID and prints
the tail of the server + kernel log, which pytest shows for failing tests.
Adapted from shared/recipes/browser-widget-test/lab_server.py.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import IO, Any

# JupyterLab user settings applied to every test session.
LAB_SETTINGS = {
    # Render every cell (windowing can leave off-screen cells out of the DOM).
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
    # No "get Jupyter news?" toast / update check (no network, no overlay).
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false",
                                                    "checkForUpdates": False},
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LabServer:
    """A JupyterLab server rooted at ``root_dir``; use as a context manager."""

    def __init__(self, root_dir: str | os.PathLike[str], token: str = "test-token",
                 startup_timeout: float = 60) -> None:
        self.root_dir = Path(root_dir)
        self.token = token
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.startup_timeout = startup_timeout
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._state = tempfile.TemporaryDirectory(prefix="lab-state-")
        self.log_path = Path(self._state.name) / "server.log"

    def lab_url(self, path: str = "", workspace: str | None = None) -> str:
        """URL that opens ``path`` (relative to root_dir) in JupyterLab, logged in.

        A named ``workspace`` starts empty, so notebooks opened by earlier tests on this
        server are not restored next to (or in front of) this one.
        """
        prefix = f"/lab/workspaces/{workspace}" if workspace else "/lab"
        return f"{self.url}{prefix}/tree/{path}?token={self.token}"

    def start(self) -> LabServer:
        state = Path(self._state.name)
        for plugin, values in LAB_SETTINGS.items():
            pkg, name = plugin.rsplit("/", 1)
            f = state / "settings" / pkg / f"{name}.jupyterlab-settings"
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_text(json.dumps(values))
        env = dict(os.environ,
                   JUPYTER_RUNTIME_DIR=str(state / "runtime"),
                   JUPYTER_CONFIG_DIR=str(state / "config"),  # ignore ~/.jupyter
                   JUPYTER_PREFER_ENV_PATH="1",  # kernels use this venv's python
                   IPYTHONDIR=str(state / "ipython"))
        env.pop("TRACKBOOK_STORE", None)  # notebooks choose their own store
        cmd = [sys.executable, "-m", "jupyterlab", "--no-browser",
               "--allow-root",  # CI containers run as root
               "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={self.port}",
               "--ServerApp.port_retries=0",
               f"--IdentityProvider.token={self.token}",
               f"--ServerApp.root_dir={self.root_dir}",
               f"--LabApp.user_settings_dir={state / 'settings'}",
               f"--LabApp.workspaces_dir={state / 'workspaces'}",
               # exposes window.jupyterapp so tests can run commands / reach the kernel
               "--LabApp.expose_app_in_browser=True",
               "--LabApp.extension_manager=readonly",  # never query a package index
               "--ServerApp.terminals_enabled=False"]
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(cmd, env=env, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.stop()
                raise RuntimeError("jupyter exited early (log above)")
            try:
                with urllib.request.urlopen(f"{self.url}/api/status?token={self.token}",
                                            timeout=2):
                    return self
            except OSError:
                time.sleep(0.25)
        self.stop()
        raise TimeoutError(f"jupyter not up after {self.startup_timeout}s (log above)")

    def stop(self) -> None:
        # SIGTERM on the server's own PID: jupyter shuts its kernels down cleanly.
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._log is not None:
            self._log.close()
            self._log = None
            print("--- jupyter server log (tail) ---\n" + self.log_path.read_text()[-3000:])
        self._state.cleanup()

    def __enter__(self) -> LabServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
