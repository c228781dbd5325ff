"""A plain `pip install` of the wheel works away from the source tree: the built-in
templates and policies ship inside it (issue #19), and nothing of the tests does. The wheel
is built from what the Dockerfile's build stage copies, so the image's wheel is this one."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tests.conftest import COST, EXPORTS_AS_OF, GIT_ENV, MONOREPO, ROOT, UTILISATION, make_repo

pytestmark = pytest.mark.slow


def _stages() -> list[list[str]]:
    """The Dockerfile's stages, each its instruction lines (continuations joined)."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines()]
    stages: list[list[str]] = []
    for line in lines:
        if line.startswith("FROM "):
            stages.append([])
        if stages and line and not line.startswith("#"):
            stages[-1].append(line)
    return stages


def test_the_image_runs_the_wheel_with_no_source_tree_tests_or_fixtures():
    build, final = _stages()
    assert build[0].endswith(" AS build") and "pip wheel --no-deps" in " ".join(build)
    copied = [line for line in final if line.startswith("COPY")]
    assert copied == [
        "COPY pyproject.toml /tmp/pyproject.toml",  # its dependency list, then removed
        "COPY --from=build /wheels /wheels",
    ]
    runs = " ".join(line for line in final if line.startswith("RUN"))
    assert "pip install --no-deps /wheels/*.whl" in runs and " -e " not in runs
    assert any(line.startswith("USER ") and line != "USER root" for line in final)


def test_the_installed_wheel_plans_and_writes_prs_away_from_the_source_tree(tmp_path: Path):
    source = tmp_path / "source"  # only what the Dockerfile's build stage copies
    build, _ = _stages()
    for line in build:
        if line.startswith("COPY "):
            *paths, target = line.split()[1:]
            for path in paths:
                into = (
                    source
                    / (target if target != "./" else "")
                    / (Path(path).name if target in ("./", ".") else "")
                )
                copy = shutil.copytree if (ROOT / path).is_dir() else shutil.copy
                into.parent.mkdir(parents=True, exist_ok=True)
                copy(ROOT / path, into)
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(wheels), "."],
        cwd=source,
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
