"""ruff is clean over the whole repository (lib, tests, grading tools and the jupytext sources)."""

from __future__ import annotations

import subprocess
import sys

from grading import manifest


def test_ruff_is_clean() -> None:
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "."], cwd=manifest.ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
