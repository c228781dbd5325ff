"""Git's smart HTTP protocol served by the real `git http-backend`, for the forge test servers.

A forge serves `https://host/OWNER/NAME.git`; the test servers route those paths here, after
checking the credentials the forge would check. `git http-backend` is run as the CGI program it
is; the request body is un-chunked first (git sends pushes over 1 MiB chunked, and CGI needs a
length), and its `Status:` line becomes the HTTP status.
"""

from __future__ import annotations

import os
import subprocess
from http.server import BaseHTTPRequestHandler
from pathlib import Path

BACKEND = "/usr/lib/git-core/git-http-backend"


def read_body(handler: BaseHTTPRequestHandler) -> bytes:
    """The request body, whether sent with a length or chunked."""
    if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
        parts: list[bytes] = []
        while True:
            size = int(handler.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                handler.rfile.readline()
                return b"".join(parts)
            parts.append(handler.rfile.read(size))
            handler.rfile.readline()
    length = int(handler.headers.get("Content-Length") or 0)
    return handler.rfile.read(length) if length else b""


def serve_git(
    handler: BaseHTTPRequestHandler, root: Path, path: str, query: str, user: str, body: bytes
) -> None:
    """Answer one smart-HTTP request for `path` (`/OWNER/NAME.git/...`) under `root`.

    `user` is who the forge authenticated; pushes (receive-pack) need one, as on a forge.
    """
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "GIT_PROJECT_ROOT": str(root),
        "GIT_HTTP_EXPORT_ALL": "1",
        "GIT_CONFIG_NOSYSTEM": "1",
        "HOME": str(root),
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "REQUEST_METHOD": handler.command,
        "CONTENT_TYPE": handler.headers.get("Content-Type", ""),
        "CONTENT_LENGTH": str(len(body)),
        "REMOTE_USER": user,
        "REMOTE_ADDR": "127.0.0.1",
        "GIT_PROTOCOL": handler.headers.get("Git-Protocol", ""),
        "HTTP_CONTENT_ENCODING": handler.headers.get("Content-Encoding", ""),
    }
    result = subprocess.run([BACKEND], input=body, env=env, capture_output=True, check=False)
    head, _, payload = result.stdout.partition(b"\r\n\r\n")
    status, headers = 200, []
    for line in head.decode("latin-1").split("\r\n"):
        name, _, value = line.partition(":")
        if name.lower() == "status":
            status = int(value.strip().split()[0])
        elif name:
            headers.append((name, value.strip()))
    handler.send_response(status)
    for name, value in headers:
        handler.send_header(name, value)
    handler.send_header("Content-Length", str(len(payload)))
    handler.end_headers()
    handler.wfile.write(payload)


def bare_repository(root: Path, owner: str, name: str, source: Path) -> Path:
    """`root/OWNER/NAME.git`, a bare clone of the repository at `source`, as a forge holds it."""
    target = root / owner / f"{name}.git"
    target.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["git", "clone", "--quiet", "--bare", str(source), str(target)],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        ["git", "config", "http.receivepack", "true"], cwd=target, check=True, capture_output=True
    )
    return target
