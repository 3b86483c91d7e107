"""A lean S3 client for the store's hot calls: SigV4-signed HTTP/1.1 requests over
pooled keep-alive sockets.

boto3 spends ~1.5-2 ms of CPU per request (building the request through botocore's event
hooks, signing, parsing), under the GIL of a training loop; this client ~0.3 ms, most of
it the system calls (one ``sendall`` per request, headers and body together).
It speaks the handful of calls :class:`~trackbook.store.objects.S3Objects` needs (PUT,
conditional PUT, GET, ranged GET, HEAD, DELETE, LIST v2) and retries what boto3's
"standard" mode retries (connection errors, 5xx, throttling) with exponential backoff.

Configuration, the usual AWS way:

- endpoint: ``AWS_ENDPOINT_URL_S3`` or ``AWS_ENDPOINT_URL`` (path-style addressing,
  what S3-compatible services expect); without one, AWS S3 itself
  (``https://<bucket>.s3.<region>.amazonaws.com``, path-style for bucket names with
  dots), following the bucket's region when AWS says it lives elsewhere.
- region: ``AWS_REGION``/``AWS_DEFAULT_REGION``, else the profile's, else us-east-1.
- credentials: ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY`` (``AWS_SESSION_TOKEN``)
  read directly; anything else (``AWS_PROFILE``, SSO, web identity, instance roles, ...)
  through botocore's credential chain, refreshed as botocore refreshes it.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import http.client
import os
import random
import socket
import ssl
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import datetime
from typing import Any, NamedTuple
from urllib.parse import quote, urlsplit

_RETRY_STATUS = {500, 502, 503, 504, 429}
_RETRY_CODES = {"SlowDown", "RequestTimeout", "RequestTimeTooSkewed", "InternalError",
                "ServiceUnavailable", "Throttling", "ThrottlingException"}
_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
_S3_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


class S3HttpError(Exception):
    """A request failed; ``response`` has boto3's shape (``["Error"]["Code"]``)."""

    def __init__(self, code: str, status: int, message: str = "") -> None:
        super().__init__(f"{code} ({status}){': ' + message if message else ''}")
        self.code = code
        self.status = status
        self.response = {"Error": {"Code": code, "Message": message},
                         "ResponseMetadata": {"HTTPStatusCode": status}}


class EndpointConnectionError(S3HttpError):
    """The endpoint could not be reached (the name boto3 gives this, for ``explain``)."""

    def __init__(self, endpoint: str, exc: BaseException) -> None:
        super().__init__("EndpointConnectionError", 0, f"cannot reach {endpoint}: {exc}")


class NoCredentialsError(S3HttpError):
    """No credentials were found (the name boto3 gives this, for ``explain``)."""

    def __init__(self) -> None:
        super().__init__("NoCredentialsError", 0, "no AWS credentials found")


class Reply(NamedTuple):
    status: int
    headers: dict[str, str]
    body: bytes


class Credentials(NamedTuple):
    access_key: str
    secret_key: str
    token: str | None


def _env(*names: str) -> str | None:
    for name in names:
        value = os.environ.get(name)
        if value:
            return value
    return None


class CredentialSource:
    """Where credentials come from: fixed (the environment) or botocore's chain."""

    def __init__(self) -> None:
        akid, secret = _env("AWS_ACCESS_KEY_ID"), _env("AWS_SECRET_ACCESS_KEY")
        self._fixed = Credentials(akid, secret, _env("AWS_SESSION_TOKEN")) \
            if akid and secret else None
        self._botocore: Any = None
        self.region = _env("AWS_REGION", "AWS_DEFAULT_REGION")
        if self._fixed is None or self.region is None:
            with contextlib.suppress(ImportError):
                import botocore.session

                session = botocore.session.Session()
                if self._fixed is None:
                    self._botocore = session.get_credentials()
                self.region = self.region or session.get_config_variable("region")
        self.region = self.region or "us-east-1"

    def get(self) -> Credentials:
        if self._fixed is not None:
            return self._fixed
        if self._botocore is None:
            raise NoCredentialsError
        c = self._botocore.get_frozen_credentials()
        return Credentials(c.access_key, c.secret_key, c.token)


class S3Http:
    """Signed requests to one bucket, over a pool of keep-alive connections."""

    def __init__(self, bucket: str, endpoint: str | None = None, region: str | None = None,
                 timeout: float = 60.0, max_attempts: int = 5) -> None:
        self.bucket = bucket
        self._creds = CredentialSource()
        self.region = region or self._creds.region
        self.timeout = timeout
        self.max_attempts = max_attempts
        self._endpoint = endpoint or _env("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")
        self._set_region(self.region)
        self._pool: list[_Connection] = []
        self._pool_lock = threading.Lock()
        self._keys: dict[tuple[str, str, str], bytes] = {}

    def _set_region(self, region: str) -> None:
        self.region = region
        if self._endpoint:
            parts = urlsplit(self._endpoint)
            self._https = parts.scheme == "https"
            self._host = parts.netloc
            self._base = parts.path.rstrip("/") + "/" + quote(self.bucket, safe="")
        else:  # AWS: virtual-hosted style, unless the name's dots would break TLS
            self._https = True
            suffix = f"s3.{region}.amazonaws.com"
            if "." in self.bucket:
                self._host, self._base = suffix, "/" + self.bucket
            else:
                self._host, self._base = f"{self.bucket}.{suffix}", ""
        with contextlib.suppress(AttributeError):
            self._close_all()

    @property
    def endpoint(self) -> str:
        return f"{'https' if self._https else 'http'}://{self._host}"

    # -- connections -----------------------------------------------------------------------

    def _connection(self, fresh: bool = False) -> _Connection:
        if not fresh:
            with self._pool_lock:
                if self._pool:
                    return self._pool.pop()
        return _Connection(self._host, self._https, self.timeout)

    def _release(self, con: _Connection) -> None:
        with self._pool_lock:
            if len(self._pool) < 64:
                self._pool.append(con)
                return
        con.close()

    def _close_all(self) -> None:
        with self._pool_lock:
            pool, self._pool = self._pool, []
        for con in pool:
            con.close()

    # -- signing ---------------------------------------------------------------------------

    def _signing_key(self, secret: str, day: str) -> bytes:
        cache_key = (secret, day, self.region)
        key = self._keys.get(cache_key)
        if key is None:
            key = ("AWS4" + secret).encode()
            for part in (day, self.region, "s3", "aws4_request"):
                key = hmac.new(key, part.encode(), hashlib.sha256).digest()
            self._keys = {cache_key: key}
        return key

    def _sign(self, method: str, path: str, query: str, headers: dict[str, str],
              payload_hash: str) -> None:
        creds = self._creds.get()
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        headers["host"] = self._host
        headers["x-amz-date"] = stamp
        headers["x-amz-content-sha256"] = payload_hash
        if creds.token:
            headers["x-amz-security-token"] = creds.token
        names = sorted(headers)
        signed = ";".join(names)
        canonical = "\n".join((method, path, query,
                               "".join(f"{n}:{headers[n]}\n" for n in names),
                               signed, payload_hash))
        scope = f"{stamp[:8]}/{self.region}/s3/aws4_request"
        to_sign = "\n".join(("AWS4-HMAC-SHA256", stamp, scope,
                             hashlib.sha256(canonical.encode()).hexdigest()))
        signature = hmac.new(self._signing_key(creds.secret_key, stamp[:8]),
                             to_sign.encode(), hashlib.sha256).hexdigest()
        headers["authorization"] = (f"AWS4-HMAC-SHA256 Credential={creds.access_key}/{scope}, "
                                    f"SignedHeaders={signed}, Signature={signature}")

    # -- requests --------------------------------------------------------------------------

    def request(self, method: str, key: str = "", query: dict[str, str] | None = None,
                headers: dict[str, str] | None = None, body: bytes = b"",
                ok: tuple[int, ...] = (200, 204, 206)) -> Reply:
        """Send one request (retrying transient failures); return the reply when its status
        is in ``ok``, else raise :class:`S3HttpError` with S3's error code."""
        path = self._base + "/" + quote(key, safe="/-_.~") if key else self._base or "/"
        q = "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}"
                     for k, v in sorted((query or {}).items()))
        payload_hash = hashlib.sha256(body).hexdigest() if body else _EMPTY_SHA256
        redirected = False
        for attempt in range(self.max_attempts):
            h = {k.lower(): v for k, v in (headers or {}).items()}
            if body or method == "PUT":
                h["content-length"] = str(len(body))
            self._sign(method, path, q, h, payload_hash)
            try:
                reply = self._send(method, path + ("?" + q if q else ""), h, body)
            except (OSError, http.client.HTTPException) as exc:
                if attempt + 1 == self.max_attempts:
                    raise EndpointConnectionError(self.endpoint, exc) from exc
                self._backoff(attempt)
                continue
            if reply.status in ok:
                return reply
            error = _error(reply)
            region = reply.headers.get("x-amz-bucket-region")
            if not self._endpoint and region and region != self.region and not redirected:
                redirected = True  # the bucket lives in another AWS region: follow it
                self._set_region(region)
                return self.request(method, key, query, headers, body, ok)
            if (reply.status in _RETRY_STATUS or error.code in _RETRY_CODES) \
                    and attempt + 1 < self.max_attempts:
                self._backoff(attempt)
                continue
            raise error
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def _backoff(attempt: int) -> None:
        time.sleep(min(20.0, random.random() * 2 ** attempt * 0.1))

    def _send(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Reply:
        con = self._connection()
        try:
            try:
                reply, keep = con.exchange(method, target, headers, body)
            except ConnectionError:
                if not con.used:
                    raise
                # The server closed the idle pooled connection: once more on a new one.
                con.close()
                con = self._connection(fresh=True)
                reply, keep = con.exchange(method, target, headers, body)
        except BaseException:
            con.close()
            raise
        if keep:
            self._release(con)
        else:
            con.close()
        return reply

    # -- the calls S3Objects makes ---------------------------------------------------------

    def list(self, prefix: str, start_after: str | None = None,
             page_size: int = 1000) -> Iterator[tuple[str, int, float]]:
        """(key, size, mtime) of every object under ``prefix`` (LIST v2, paged)."""
        query = {"list-type": "2", "prefix": prefix, "max-keys": str(page_size)}
        if start_after is not None:
            query["start-after"] = start_after
        while True:
            root = ET.fromstring(self.request("GET", "", query).body)
            ns = _S3_NS if root.tag.startswith(_S3_NS) else ""
            for item in root.iter(f"{ns}Contents"):
                yield (item.findtext(f"{ns}Key") or "",
                       int(item.findtext(f"{ns}Size") or 0),
                       _timestamp(item.findtext(f"{ns}LastModified") or ""))
            token = root.findtext(f"{ns}NextContinuationToken")
            if root.findtext(f"{ns}IsTruncated") != "true" or not token:
                return
            query.pop("start-after", None)
            query["continuation-token"] = token


class _Connection:
    """One keep-alive HTTP/1.1 connection: a request goes out in one ``sendall``; the
    reply is read with Content-Length or chunked framing."""

    _context: ssl.SSLContext | None = None

    def __init__(self, host: str, https: bool, timeout: float) -> None:
        self.host = host
        self.https = https
        self.timeout = timeout
        self._sock: socket.socket | None = None
        self._file: Any = None
        self.used = False  # has answered a request (so may have been closed while idle)

    def _connect(self) -> None:
        name, _, port = self.host.rpartition(":") if self.host.rsplit(":", 1)[-1].isdigit() \
            else (self.host, "", "")
        name = name.strip("[]")  # an IPv6 literal
        sock = socket.create_connection((name, int(port or (443 if self.https else 80))),
                                        timeout=self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.https:
            if _Connection._context is None:
                _Connection._context = ssl.create_default_context()
            sock = _Connection._context.wrap_socket(sock, server_hostname=name)
        self._sock = sock
        self._file = sock.makefile("rb")

    def close(self) -> None:
        for closable in (self._file, self._sock):
            if closable is not None:
                with contextlib.suppress(OSError):
                    closable.close()
        self._sock = self._file = None

    def exchange(self, method: str, target: str, headers: dict[str, str],
                 body: bytes) -> tuple[Reply, bool]:
        """Send one request, read its reply; return it and whether the connection stays
        open. A connection the server closed while idle raises ConnectionError."""
        if self._sock is None:
            self._connect()
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        message = f"{method} {target} HTTP/1.1\r\n{head}\r\n".encode("latin-1")
        self._sock.sendall(message + body if len(body) < 1 << 16 else message)  # type: ignore[union-attr]
        if len(body) >= 1 << 16:
            self._sock.sendall(body)  # type: ignore[union-attr]
        f = self._file
        line = f.readline(65537)
        if not line:
            raise ConnectionError("the server closed the connection")
        parts = line.split(None, 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/"):
            raise http.client.BadStatusLine(repr(line))
        status = int(parts[1])
        keep = parts[0] == b"HTTP/1.1"
        reply_headers: dict[str, str] = {}
        while True:
            line = f.readline(65537)
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            reply_headers[name.strip().lower()] = value.strip()
        if reply_headers.get("connection", "").lower() == "close":
            keep = False
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            data = b""
        elif "chunked" in reply_headers.get("transfer-encoding", "").lower():
            data = self._read_chunked()
        elif "content-length" in reply_headers:
            n = int(reply_headers["content-length"])
            data = f.read(n)
            if len(data) < n:
                raise http.client.IncompleteRead(data, n - len(data))
        else:  # the body ends with the connection
            data, keep = f.read(), False
        self.used = True
        return Reply(status, reply_headers, data), keep

    def _read_chunked(self) -> bytes:
        f, parts = self._file, []
        while True:
            size = int(f.readline(65537).split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while f.readline(65537) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(parts)
            chunk = f.read(size)
            if len(chunk) < size:
                raise http.client.IncompleteRead(chunk, size - len(chunk))
            parts.append(chunk)
            f.readline(65537)


def _timestamp(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() if text else 0.0


def _error(reply: Reply) -> S3HttpError:
    code, message = "", ""
    if reply.body:
        with contextlib.suppress(ET.ParseError):
            root = ET.fromstring(reply.body)
            code = root.findtext("Code") or ""
            message = root.findtext("Message") or ""
    if not code:
        code = {404: "NoSuchKey", 412: "PreconditionFailed", 403: "AccessDenied",
                416: "InvalidRange"}.get(reply.status, str(reply.status))
    return S3HttpError(code, reply.status, message)
