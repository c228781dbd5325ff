"""Digests of what a plan reads, for the caches that answer from an earlier run: the files
of a repository as they are on disk, an input file, and this code with what it runs.

Why one module: the plan answers (bot/plan_cache.py) and the render cache
(bot/manifests/render_cache.py) must agree on what "unchanged" means.
"""

from __future__ import annotations

import errno
import hashlib
import importlib.metadata
import os
import stat
import time
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path

from blake3 import blake3
from loky import cpu_count

from bot.manifests.helm.charts import CACHE_VARIABLE
from bot.manifests.render import kustomize_command

ROOT = Path(__file__).resolve().parent.parent
CODE = ("bot", "recommenders", "templates", "policies")
CHUNK = 16 * 2**20
"""Bytes read at a time: enough for BLAKE3 to share each among the cores (a 1.6 GB export
took 0.47 s in 4 MiB reads here, 0.40 s in 16 MiB, 0.52 s in 64 MiB)."""
SMALLEST_READ = 64 * 2**10
"""Bytes read at a time at least, whatever the file's size when opened: one rewritten in
place grows while it is read (from nothing, if it was emptied first)."""
Stamp = tuple[str, int, int, int, int, int]
"""A file's path, then its size, modification and change times (ns), inode and device, as
`stat` says following symlinks (an export is often a link into a mounted ConfigMap)."""
SETTLED_NS = 3_000_000_000
"""How long before it was stamped a file must have been left alone for its digest to be
reused by its stamp: a write in the filesystem's clock tick (a few ms; 1-2 s on FAT, HFS+
or some network filesystems) can leave the stamp as it was, as `git` knows ("racy"
entries), so a file changed that recently is read again."""


class FileDigests:
    """Digests of files (`file_digest`), each taken from `known` while the file's stamp is
    the one it was hashed under. Why: the key of a rerun read every file of a 5,000-workload
    repository and the 1.5 GB export again, 2.5 s of a 5 s answer. A write changes the
    change time (`ctime`), which no program can set back, and a file replaced by another
    has another inode: so a stamp that still matches is the same bytes, unless the file was
    written in the tick it was stamped in (`SETTLED_NS`), or a network filesystem answers
    from a stale attribute cache (it would serve `git status` the same mistake)."""

    def __init__(self, known: Mapping[Stamp, str] | None = None) -> None:
        self.known = known or {}
        self.stamps: list[Stamp] = []
        """Every file read, stamped before it was read."""
        self.found: dict[Stamp, str] = {}
        """The digests that a later run may take by their stamps."""

    def of(self, path: Path) -> str:
        """Raises OSError for what cannot be read, or is not a regular file (`file_digest`)."""
        now, before = time.time_ns(), stamp(path)
        self.stamps.append(before)
        digest = self.known.get(before)
        if digest is None:
            digest = file_digest(path)
            if stamp(path) != before:  # written while read: the stamp is not of these bytes
                return digest
        if now - max(before[2], before[3]) >= SETTLED_NS:
            self.found[before] = digest
        return digest

    def link(self, path: Path) -> str:
        """A symlink's text, which is read whole every time."""
        self.stamps.append(stamp(path))
        return os.readlink(path)

    def learned(self) -> bool:
        """Whether a later run could reuse digests this one had to compute."""
        return any(self.known.get(key) != digest for key, digest in self.found.items())


def repository_digest(repo: Path, digests: FileDigests | None = None) -> str:
    """Every file under `repo` but `.git`, by relative path and content (a symlink by its
    text: one leading out of the repository is refused anyway). `digests` reads the files
    and keeps their stamps."""
    digests = digests or FileDigests()
    digest = hashlib.sha256()
    for path in sorted_files(repo, skip=".git"):
        name = str(path.relative_to(repo))
        content = digests.link(path) if path.is_symlink() else digests.of(path)
        digest.update(f"{len(name)}:{name}{len(content)}:{content}".encode())
    return digest.hexdigest()


def render_context(files: str) -> str:
    """What kustomize reads besides a batch's directory names: the repository's files (their
    `repository_digest`), this code (the Helm engine it calls is ours) with kustomize
    itself, and the chart cache."""
    chart_cache = f"{CACHE_VARIABLE}={os.environ.get(CACHE_VARIABLE)}"
    return hashlib.sha256("\n".join([files, code_digest(), chart_cache]).encode()).hexdigest()


def sorted_files(root: Path, skip: str) -> Iterator[Path]:
    """Every file and symlink under `root` in a fixed order, without following links."""
    for directory, folders, files in os.walk(root):
        folders[:] = sorted(f for f in folders if f != skip)
        here = Path(directory)
        for name in sorted(files):
            yield here / name
        yield from (here / f for f in folders if (here / f).is_symlink())


def file_digest(path: Path) -> str:
    """BLAKE3, read in `CHUNK`s that it hashes on every core. Why: the next day's key hashes
    a changed 1.6 GB export before anything else can start; SHA-256 (which the CPU computes,
    SHA-NI) takes 0.72 s a GiB here, this 0.26 s (`benchmarks/digest.py`). Read, not mapped
    (0.10 s): a mapped file truncated meanwhile kills the process (SIGBUS). Only of
    a regular file, as it is when opened (without waiting for a writer): a FIFO left in a
    repository would hold the plan until something wrote to it, and a pipe's bytes (an
    export given as `/dev/stdin`) would be used up before its reader saw them."""
    with open(os.open(path, os.O_RDONLY | os.O_NONBLOCK), "rb", buffering=0) as handle:
        found = os.fstat(handle.fileno())
        if not stat.S_ISREG(found.st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        os.set_blocking(handle.fileno(), True)  # a filesystem that honours it on a file
        # (FUSE, some network ones) would end a read early, and the digest with it
        digest = _hasher(threads(found.st_size))
        buffer = memoryview(bytearray(min(CHUNK, max(found.st_size, SMALLEST_READ))))
        while read := handle.readinto(buffer):
            digest.update(buffer[:read])
        return digest.hexdigest()


_threads_fail = False
"""Set once a pool could not start in this process: it is not tried again."""


def _hasher(count: int) -> blake3:
    """A hasher on `count` threads, or on this one where they cannot start: blake3 then
    panics (pyo3's PanicException, a BaseException) instead of raising, as a service run
    at its address-space limit (`bot/service/isolated.py`) found. The digest is the same
    either way, only slower; Rust has said why on standard error, once."""
    global _threads_fail
    if count > 1 and not _threads_fail:
        try:
            return blake3(max_threads=count)
        except BaseException as exc:
            if type(exc).__name__ != "PanicException":
                raise
            _threads_fail = True
    return blake3()


def threads(size: int) -> int:
    """Threads to hash `size` bytes with: one below a `CHUNK`, where more do not pay for
    their start, else the CPUs this process may use (affinity and quota). A count, not
    `blake3.AUTO`: that starts a pool that lasts for the process's life, and a child
    forked from it later would wait forever on its first large digest (rayon#708); a
    count's pool ends with its digest."""
    return 1 if size < CHUNK else max(1, cpu_count())


def stamp(path: Path) -> Stamp:
    """The stamp of what `path` leads to (a symlink's target; the link itself when it
    leads nowhere), or of nothing."""
    try:
        found = path.stat()
    except OSError:
        try:
            found = path.lstat()
        except OSError:
            return (str(path), -1, -1, -1, -1, -1)
    return (
        str(path), found.st_size, found.st_mtime_ns, found.st_ctime_ns, found.st_ino,
        found.st_dev,
    )  # fmt: skip


@cache
def code_digest() -> str:
    """This code, the kustomize it runs and every installed distribution's version."""
    digest = hashlib.sha256()
    for name in CODE:
        for path in sorted_files(ROOT / name, skip="__pycache__"):
            digest.update(f"{path.relative_to(ROOT)}:{file_digest(path)}\n".encode())
    versions = sorted(
        f"{d.metadata['Name']}=={d.version}" for d in importlib.metadata.distributions()
    )
    digest.update("\n".join([*versions, *kustomize_command()]).encode())
    return digest.hexdigest()
