"""A real PostgreSQL on 127.0.0.1 for the state tests: Debian's server, a throwaway cluster.

PostgreSQL refuses to run as root, so as root the cluster belongs to the `postgres` user the
package creates; as anyone else it is theirs. Without the binaries the tests skip, naming
the fix, except under CI (see `tests.prometheus_server.binary`).
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.prometheus_server import binary


def _bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else binary(name, "postgres-server")


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    initdb, server = _bin("initdb"), _bin("postgres")
    # Not under pytest's tmp_path: as root that is private to root, and the server cannot
    # reach its own files there.
    data = Path(tempfile.mkdtemp(prefix="rightsizer-postgres-")) / "data"
    as_user: list[str] = []
    if os.geteuid() == 0:
        as_user = ["runuser", "-u", "postgres", "--"]
        shutil.chown(data.parent, "postgres")
    subprocess.run(
        [*as_user, initdb, "-D", str(data), "-A", "trust", "-U", "rightsizer", "--no-sync"],
        check=True,
        capture_output=True,
    )
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    options = ["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"]
    process = subprocess.Popen(
        [*as_user, server, "-D", str(data), "-p", str(port), "-k", str(data), *options],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"postgresql+psycopg://rightsizer@127.0.0.1:{port}/postgres"
    try:
        _wait(port, process)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)
        shutil.rmtree(data.parent, ignore_errors=True)


def _wait(port: int, process: subprocess.Popen[bytes]) -> None:
    import psycopg

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError("postgres exited at start")
        try:
            with psycopg.connect(host="127.0.0.1", port=port, user="rightsizer", dbname="postgres"):
                return
        except psycopg.OperationalError:
            time.sleep(0.1)
    raise AssertionError("postgres did not start within 30 s")
