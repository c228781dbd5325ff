"""Where the built-in templates and policies are read from.

The design card keeps `templates/` and `policies/` at the top of the repository, beside the
packages, where a source checkout (and an editable install) reads them. A wheel has no such
place: `setup.py`'s build step copies both into the package as `bot/_data/`, and an
installed bot reads them there. One lookup serves both, so nothing else needs to know.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    """`templates` or `policies`: the installed copy when there is one, else the source's."""
    installed = PACKAGE / "_data" / name
    return installed if installed.is_dir() else PACKAGE.parent / name
