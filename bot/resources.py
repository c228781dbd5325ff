"""Where the built-in templates and policies are read from.

The design card keeps `templates/` and `policies/` at the top of the repository, beside the
packages, where a source checkout (and an editable install) reads them. A wheel has no such
place: `setup.py`'s build step copies both into the package as `bot/_data/`, and an
installed bot reads them there. One lookup serves both, so nothing else needs to know.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

PACKAGE = files("bot")
"""The installed package as importlib.resources finds it: a wheel's files, unpacked."""


def data_dir(name: str) -> Path:
    """`templates` or `policies`: the installed copy when there is one, else the source's.
    A directory on disk either way, which jinja2's loaders and the schema reader open."""
    installed = PACKAGE / "_data" / name
    if installed.is_dir():
        return Path(str(installed))
    return Path(str(PACKAGE)).parent / name
