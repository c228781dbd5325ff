"""The committed exports are exactly what the committed generator writes (fixed seed)."""

import subprocess
import sys

from tests.conftest import COST, FIXTURES, UTILISATION


def test_generator_reproduces_the_committed_exports(tmp_path):
    subprocess.run(
        [sys.executable, str(FIXTURES / "generate_exports.py"), str(tmp_path)],
        check=True,
        capture_output=True,
    )
    assert (tmp_path / "utilisation.csv").read_bytes() == UTILISATION.read_bytes()
    assert (tmp_path / "cost.csv").read_bytes() == COST.read_bytes()
