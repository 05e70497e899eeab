"""Build the student notebooks: `source/NN/topic.py` -> `source/NN/topic.ipynb` -> `release/NN/topic.ipynb`.

Usage: `python -m grading.release [UNIT_ID ...]` (every unit of the manifest when none is named).

The jupytext percent source is the one truth. Its `.ipynb` twin is generated (and ignored by git), then
`nbgrader generate_assignment` strips the solutions and hidden tests into `release/`. The build is
deterministic: running it twice gives the same bytes, which is how CI proves `release/` is in sync.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import jupytext
import nbformat

from grading import exercises, manifest
from grading.feedback import is_test_cell

CONFIG = Path(__file__).resolve().parents[1] / "nbgrader_config.py"
# jupytext keeps layout hints in cell metadata; they mean nothing to a student and are dropped.
JUPYTEXT_CELL_KEYS = ("lines_to_next_cell", "lines_to_end_of_cell_marker", "cell_marker")


def build_source_notebook(script: Path) -> Path:
    """Convert a unit's jupytext source to its `.ipynb` twin beside it, and return the twin's path."""
    target = script.with_suffix(".ipynb")
    nbformat.write(source_notebook(script), target)
    return target


def source_notebook(script: Path) -> nbformat.NotebookNode:
    """A unit's jupytext source as the notebook nbgrader releases and grades from: the solutions, the test cells
    with their hidden regions in kernel form, no known-wrong answers, no jupytext layout hints."""
    notebook = jupytext.read(script)
    notebook.metadata.pop("jupytext", None)
    # Known-wrong answers are for the tests (grading.exercises), never for students.
    notebook.cells = [cell for cell in notebook.cells if exercises.WRONG_ANSWER not in cell.metadata]
    defined: list[str] = []  # what the solution cells since the last test cell define
    for index, cell in enumerate(notebook.cells):
        for key in JUPYTEXT_CELL_KEYS:
            cell.metadata.pop(key, None)
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution") and not meta.get("grade") and cell.cell_type == "code":
            defined += exercises.defined_names(cell.source)
        if is_test_cell(cell):
            cell.source = exercises.kernel_cell(cell.source, tuple(defined))
            defined = []
        # jupytext draws random cell ids; stable ones keep the build byte-for-byte reproducible.
        cell.id = cell.metadata.get("nbgrader", {}).get("grade_id") or f"cell-{index:03d}"
    return notebook


def generate_release(unit_id: str) -> None:
    """Run `nbgrader generate_assignment` for one unit, replacing its release folder."""
    command = [sys.executable, "-m", "nbgrader", "generate_assignment", unit_id, "--force", "--log-level=WARN"]
    result = subprocess.run(command, cwd=CONFIG.parent, env=nbgrader_env(), capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"nbgrader generate_assignment {unit_id} failed:\n{result.stdout}\n{result.stderr}")


def nbgrader_env() -> dict[str, str]:
    """The environment for an nbgrader subprocess: it finds our config in its working folder (autograder/),
    and it calls the `alembic` script of this Python's environment, so that folder must be on PATH."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["PYTHONPATH"] = os.pathsep.join([str(CONFIG.parent), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("units", nargs="*", help="unit ids such as 01_derivatives (default: all)")
    args = parser.parse_args(argv)
    entries = manifest.load()["units"]
    chosen = [e for e in entries if not args.units or e["id"] in args.units]
    unknown = set(args.units) - {e["id"] for e in entries}
    if unknown:
        raise SystemExit(f"unknown unit(s): {', '.join(sorted(unknown))}; see course/units.yml")
    for entry in chosen:
        build_source_notebook(manifest.source_script(entry))
        generate_release(entry["id"])
        print(f"released {manifest.release_notebook(entry).relative_to(manifest.ROOT)}")


if __name__ == "__main__":
    main()
