"""The one build step pyproject.toml cannot say: the top-level `templates/` and `policies/`
(kept there by the design card) copied into the wheel's `bot/_data/`, where an installed bot
reads them (`bot/resources.py`). Everything else is configured in pyproject.toml."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

DATA = ("templates", "policies")


class BuildWithData(build_py):
    def run(self) -> None:
        super().run()
        for name in DATA:
            target = Path(self.build_lib) / "bot" / "_data" / name
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(Path(__file__).parent / name, target)


setup(cmdclass={"build_py": BuildWithData})
