"""Measure each source notebook's execution time and peak memory, and numdiff's accuracy; print the figures.

Usage: `python -m grading.notebook_costs [UNIT_ID ...]` (part of `make bench`). The goals (a unit runs in
≤15 s and ≤500 MB on the 2-core reference machine) are measured here and printed, never asserted in a test.
Each notebook runs in a fresh interpreter whose kernel is a child of it, so `wait4` reports the peak
resident memory of the largest process of the run (the kernel) and the wall time includes kernel start.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

from grading import manifest, release

EXECUTE = """
import sys, nbformat
from nbclient import NotebookClient
notebook = nbformat.read(sys.argv[1], as_version=4)
NotebookClient(notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": sys.argv[2]}}).execute()
"""


def notebook_cost(entry: dict) -> tuple[float, float]:
    """Wall seconds and peak MB of executing one unit's source notebook top to bottom."""
    path = release.build_source_notebook(manifest.source_script(entry))
    with tempfile.TemporaryDirectory() as scratch:
        start = time.perf_counter()
        # The kernel's log (e.g. ipykernel's note about unencrypted local TCP) goes to a file, shown on failure.
        with tempfile.TemporaryFile("w+") as log:
            process = subprocess.Popen([sys.executable, "-c", EXECUTE, str(path), scratch], stderr=log)
            _, status, usage = os.wait4(process.pid, 0)
            wall = time.perf_counter() - start
            if os.waitstatus_to_exitcode(status) != 0:
                log.seek(0)
                raise SystemExit(f"{entry['id']}: the notebook failed to run\n{log.read()}")
    return wall, usage.ru_maxrss / 1024


def smooth_pairs(a: float, b: float) -> list[tuple]:
    """Smooth functions with their analytic derivatives, for the accuracy figure."""
    return [(lambda t: np.exp(a * t), lambda t: a * np.exp(a * t)),
            (lambda t: np.sin(a * t + b), lambda t: a * np.cos(a * t + b)),
            (lambda t: np.tanh(a * t + b), lambda t: a / np.cosh(a * t + b) ** 2),
            (lambda t: np.log1p(a * t**2), lambda t: 2 * a * t / (1 + a * t**2))]


def numdiff_accuracy(draws: int = 20, seed: int = 0) -> float:
    """The largest relative error (floor 1) of numdiff.derivative over smooth functions at random points."""
    from calcml import checks, numdiff

    rng = np.random.default_rng(seed)
    worst = 0.0
    for _ in range(draws):
        a, b = rng.uniform(0.2, 2.0, size=2)
        x = rng.uniform(-3, 3, size=100)
        for f, df in smooth_pairs(a, b):
            worst = max(worst, checks.relative_error(numdiff.derivative(f, x), df(x), floor=1.0))
    return worst


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("units", nargs="*", help="unit ids (default: all)")
    args = parser.parse_args(argv)
    print(f"numdiff.derivative: largest relative error {numdiff_accuracy():.1e} (goal ≤ 1e-8), "
          "over 8,000 points of exp, sin, tanh and log1p(a x²)")
    print(f"{'unit':<26}{'wall s':>8}{'peak MB':>9}   goal: ≤15 s, ≤500 MB on 2 cores")
    for entry in manifest.load()["units"]:
        if not args.units or entry["id"] in args.units:
            wall, peak = notebook_cost(entry)
            print(f"{entry['id']:<26}{wall:>8.1f}{peak:>9.0f}", flush=True)


if __name__ == "__main__":
    main()
