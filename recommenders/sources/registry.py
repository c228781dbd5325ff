"""Every format by name, and the choice of format from a file's header.

Detection keeps the common case free of flags; when two formats claim a file, or none does,
the error lists the candidates and the flag that settles it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TypeVar

from recommenders.errors import InputError
from recommenders.sources import opencost
from recommenders.sources.base import CostFormat, UtilisationFormat
from recommenders.sources.cost.aws_cur import AWS_CUR, AWS_CUR2
from recommenders.sources.cost.azure import AZURE
from recommenders.sources.cost.daily import DailyFormat
from recommenders.sources.cost.focus import FocusFormat
from recommenders.sources.cost.gcp import GCP
from recommenders.sources.cost.oci import OCI
from recommenders.sources.frames import Cost, Usage
from recommenders.sources.utilisation.tabular import LongFormat, WideFormat
from recommenders.sources.validate import read_header

COST_FORMATS: dict[str, CostFormat] = {
    f.name: f
    for f in (
        FocusFormat(),
        AWS_CUR,
        AWS_CUR2,
        AZURE,
        GCP,
        OCI,
        *opencost.COST_FORMATS,
        DailyFormat(),
    )
}
UTILISATION_FORMATS: dict[str, UtilisationFormat] = {
    f.name: f for f in (LongFormat(), WideFormat(), *opencost.USAGE_FORMATS)
}

F = TypeVar("F", CostFormat, UtilisationFormat)


def load_cost(path: Path, format_name: str | None = None) -> Cost:
    return _choose(path, COST_FORMATS, format_name, "--cost-format").load(path)


def load_utilisation(path: Path, format_name: str | None = None) -> Usage:
    return _choose(path, UTILISATION_FORMATS, format_name, "--utilisation-format").load(path)


def _choose(path: Path, formats: Mapping[str, F], name: str | None, flag: str) -> F:
    if name is not None:
        if name not in formats:
            raise InputError(flag, f"unknown format {name!r}; known: {', '.join(formats)}")
        return formats[name]
    header = read_header(path)
    matches = [fmt for fmt in formats.values() if fmt.detect(header)]
    if len(matches) == 1:
        return matches[0]
    if matches:
        names = ", ".join(fmt.name for fmt in matches)
        raise InputError(str(path), f"the header fits several formats ({names}); pass {flag}")
    shown = ", ".join(sorted(header)[:12]) + (", ..." if len(header) > 12 else "")
    raise InputError(
        str(path),
        f"no known format has these columns ({shown}); known: {', '.join(formats)} "
        f"(pass {flag} to name one and see what it misses)",
    )
