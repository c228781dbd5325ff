"""A plain `pip install` of the wheel works away from the source tree: the built-in
templates and policies ship inside it (issue #19), and nothing of the tests does."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tests.conftest import COST, EXPORTS_AS_OF, GIT_ENV, MONOREPO, ROOT, UTILISATION, make_repo

pytestmark = pytest.mark.slow


def test_the_installed_wheel_plans_and_writes_prs_away_from_the_source_tree(tmp_path: Path):
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(wheels), "."],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    (wheel,) = wheels.glob("rightsizer-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {
        "bot/_data/templates/pr_body.md.j2",
        "bot/_data/templates/dashboard/base.html.j2",
        "bot/_data/policies/default.yaml",
        "bot/_data/policies/schema.json",
    } <= names
    assert not [name for name in names if name.startswith(("tests/", "fixtures/"))]

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    (site,) = venv.glob("lib/python3*/site-packages")
    # The dependencies are this environment's, added as a plain path: the .pth files there
    # (this checkout's editable install among them) are not read, so `bot` is the wheel's.
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install",
         "--quiet", "--no-deps", "--no-index", str(wheel)],
        check=True,
        capture_output=True,
    )  # fmt: skip

    repo = make_repo(MONOREPO, tmp_path / "elsewhere" / "monorepo")
    env = {**os.environ, **GIT_ENV, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    env.pop("PYTHONPATH", None)
    done = subprocess.run(
        [str(venv / "bin" / "rightsizer"), "run", "--forge", "local", "--repo", str(repo),
         "--utilisation", str(UTILISATION), "--cost", str(COST), "--as-of", EXPORTS_AS_OF],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    where = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import bot; print(bot.__file__)"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert where.startswith(str(site)), "the wheel's bot ran, not the checkout's"
    bodies = list((tmp_path / "pull-requests").glob("*.md"))
    assert bodies and all("rightsizer" in body.read_text().lower() for body in bodies)
