"""A real Prometheus on 127.0.0.1 holding a history we wrote, and small local HTTP servers.

The history is written as OpenMetrics text and backfilled with `promtool tsdb
create-blocks-from openmetrics` before the server starts, so queries read exactly what a test
wrote. Retention is set to a century: Prometheus deletes blocks older than its retention (15
days by default) counted back from the newest sample, and the history has fixed dates.

Prometheus has basic auth (`--web.config.file`, bcrypt hashes) but no bearer tokens; a bearer
token is checked by `LocalServer.proxy` in front of it, which also records what was asked.
`LocalServer.scripted` answers like Prometheus's API does when things go wrong.

Without the binaries the tests skip, naming the fix; with CI set they fail instead, so a CI
image that lost Prometheus cannot turn the suite green by skipping it.
"""

from __future__ import annotations

import base64
import os
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

BASIC_USER = "rightsizer"
BASIC_PASSWORD = "correct horse"
BASIC_HASH = "$2b$04$uZ3LZPP6y8EtyUkHuSAMduRTKWxTtxSw7VafGHRHd4FVCxVzWef7a"
"""bcrypt (cost 4, fast) of BASIC_PASSWORD. Made once with Python 3.11's `crypt`, which 3.13
removed: the standard library can no longer make one, so it is written down here."""
READY_WITHIN = 15.0


@dataclass(frozen=True)
class Series:
    """One series of the history: its name, labels and (unix seconds, value) samples."""

    name: str
    labels: dict[str, str]
    samples: list[tuple[int, float]]


def openmetrics(series: Iterable[Series]) -> str:
    """The OpenMetrics text promtool backfills: one line a sample, ending in `# EOF`."""
    lines = []
    for one in sorted(series, key=lambda s: s.name):
        labels = ",".join(f'{key}="{value}"' for key, value in sorted(one.labels.items()))
        lines += [f"{one.name}{{{labels}}} {value!r} {stamp}" for stamp, value in one.samples]
    return "\n".join([*lines, "# EOF", ""])


def basic_header(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def binary(name: str, make_target: str = "prometheus-server") -> str:
    """The path of `name`; skip (fail under CI) when it is not installed, naming the make
    target that installs it."""
    path = shutil.which(name) or shutil.which(name, path="/usr/bin")
    if path:
        return path
    reason = f"{name} is not installed: `make {make_target}` installs Debian's (as root)"
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI must run the server tests")
    pytest.skip(reason)


StartPrometheus = Callable[..., str]


@pytest.fixture(scope="session")
def start_prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StartPrometheus]:
    """`start(history, basic_auth=False) -> url`: a real Prometheus serving `history` (a list
    of Series). Every server started is stopped at the end of the session."""
    prometheus, promtool = binary("prometheus"), binary("promtool")
    processes: list[subprocess.Popen[bytes]] = []

    def start(history: Iterable[Series], basic_auth: bool = False) -> str:
        root = tmp_path_factory.mktemp("prometheus")
        _backfill(promtool, openmetrics(history), root)
        process, url = _serve(prometheus, root, basic_auth)
        processes.append(process)
        return url

    yield start
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def _backfill(promtool: str, text: str, root: Path) -> None:
    history = root / "history.om"
    history.write_text(text)
    done = subprocess.run(
        [promtool, "tsdb", "create-blocks-from", "openmetrics", "--max-block-duration=24h",
         "--quiet", str(history), str(root / "data")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    if done.returncode:
        pytest.fail(f"promtool could not backfill {history}:\n{done.stderr}")


def _serve(prometheus: str, root: Path, basic_auth: bool) -> tuple[subprocess.Popen[bytes], str]:
    (root / "prometheus.yml").write_text("global: {}\n")
    port = free_port()
    command = [
        prometheus,
        f"--config.file={root / 'prometheus.yml'}",
        f"--storage.tsdb.path={root / 'data'}",
        "--storage.tsdb.retention.time=100y",
        f"--web.listen-address=127.0.0.1:{port}",
        "--log.level=warn",
    ]
    headers = {}
    if basic_auth:
        (root / "web.yml").write_text(f'basic_auth_users:\n  {BASIC_USER}: "{BASIC_HASH}"\n')
        command.append(f"--web.config.file={root / 'web.yml'}")
        headers["Authorization"] = basic_header(BASIC_USER, BASIC_PASSWORD)
    log = (root / "prometheus.log").open("wb")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    _wait_ready(process, url, headers, root / "prometheus.log")
    return process, url


def _wait_ready(
    process: subprocess.Popen[bytes], url: str, headers: dict[str, str], log: Path
) -> None:
    deadline = time.monotonic() + READY_WITHIN
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"prometheus exited with {process.returncode}:\n{log.read_text()}")
        try:
            request = urllib.request.Request(f"{url}/-/ready", headers=headers)
            with urllib.request.urlopen(request, timeout=1) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            time.sleep(0.05)
    process.kill()
    pytest.fail(f"prometheus was not ready within {READY_WITHIN:g} s:\n{log.read_text()}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    form: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    """Seconds to wait before answering, to outlast a client's timeout."""


def api_error(status: int, kind: str, error: str, **headers: str) -> Reply:
    """An error as Prometheus's API writes it."""
    body = f'{{"status":"error","errorType":"{kind}","error":"{error}"}}'.encode()
    return Reply(status, body, {"Content-Type": "application/json", **headers})


class LocalServer:
    """An HTTP server on 127.0.0.1 in a thread, answering with `answer(request)`; it records
    every request. Use as a context manager."""

    def __init__(self, answer: Callable[[Request], Reply]) -> None:
        self.requests: list[Request] = []
        self._answer = answer
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    @classmethod
    def scripted(cls, *replies: Reply) -> LocalServer:
        """Answers with `replies` in turn, repeating the last one."""
        queue = list(replies)
        return cls(lambda _: queue.pop(0) if len(queue) > 1 else queue[0])

    @classmethod
    def proxy(
        cls, upstream: str, authorization: str | None = None, first: Iterable[Reply] = ()
    ) -> LocalServer:
        """Forwards to `upstream` when the Authorization header is `authorization` (any
        when None), else answers 401 as Prometheus does. The `first` requests get the
        `first` replies instead, to stand for a server that is briefly overloaded."""
        pending = list(first)

        def forward(request: Request) -> Reply:
            if pending:
                return pending.pop(0)
            if authorization is not None and request.headers.get("Authorization") != authorization:
                return Reply(401, b"Unauthorized\n", {"Content-Type": "text/plain"})
            outgoing = urllib.request.Request(
                upstream + request.path,
                data=request.body or None,
                headers={"Content-Type": request.headers.get("Content-Type", "")},
                method=request.method,
            )
            try:
                with urllib.request.urlopen(outgoing, timeout=10) as response:
                    return Reply(
                        response.status, response.read(), {"Content-Type": "application/json"}
                    )
            except urllib.error.HTTPError as error:
                with error:
                    return Reply(error.code, error.read(), {"Content-Type": "application/json"})

        return cls(forward)

    def __enter__(self) -> LocalServer:
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self._respond()

            def do_POST(self) -> None:
                self._respond()

            def _respond(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                form = dict(urllib.parse.parse_qsl(body.decode()))
                request = Request(self.command, self.path, dict(self.headers), form, body)
                server.requests.append(request)
                reply = server._answer(request)
                time.sleep(reply.delay)
                try:
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test): nobody to answer

            def log_message(self, format: str, *args: object) -> None:
                """Quiet: pytest shows what matters when a test fails."""

        return Handler
