"""A learner's progress: which exercises pass their visible tests in the learner's own notebooks.

`progress.show()` runs each of the learner's release notebooks in a fresh kernel (a subprocess, so nothing
in the learner's session changes), and reports every graded exercise as passed, failing, or not started.
It only runs what the learner can already see: release notebooks hold no hidden tests.
"""

from __future__ import annotations

import html
import os
from dataclasses import dataclass
from pathlib import Path

import nbformat

PASSED, FAILING, NOT_STARTED = "passed", "failing", "not started"
SYMBOLS = {PASSED: "✅ passed", FAILING: "❌ failing", NOT_STARTED: "· not started"}


@dataclass(frozen=True)
class Exercise:
    """One graded exercise of a notebook and its status."""

    unit: str
    grade_id: str
    points: float
    status: str
    reason: str = ""


def find_release(start: Path | None = None) -> Path:
    """The `release/` folder of the course, searched for upwards from `start` (default: the working folder)."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "release").is_dir():
            return folder / "release"
    raise FileNotFoundError(f"no release/ folder above {here}; open START_HERE.ipynb from the course folder")


def check_notebook(path: Path, timeout: int = 120) -> list[Exercise]:
    """Run one notebook in a fresh kernel and read off the status of each graded test cell."""
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    env_backup = {key: os.environ.get(key) for key in ("CALCML_STATIC", "MPLBACKEND")}
    os.environ.update(CALCML_STATIC="1", MPLBACKEND="Agg")  # the kernel inherits these: no widgets, no windows
    try:
        NotebookClient(notebook, timeout=timeout, allow_errors=True, kernel_name="python3",
                       resources={"metadata": {"path": str(path.parent)}}).execute()
    finally:
        for key, value in env_backup.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return [_status(path.parent.name, cell) for cell in notebook.cells
            if cell.metadata.get("nbgrader", {}).get("grade") and cell.cell_type == "code"]


def collect(release: Path | None = None) -> list[Exercise]:
    """The status of every exercise of every unit, in course order."""
    release = release or find_release()
    exercises: list[Exercise] = []
    for path in sorted(release.glob("*/*.ipynb")):
        exercises.extend(check_notebook(path))
    return exercises


def table_html(exercises: list[Exercise]) -> str:
    """An HTML table: one row per exercise, with the unit, the exercise, its points and its status."""
    rows = "".join(
        f"<tr><td>{html.escape(e.unit)}</td><td><code>{html.escape(e.grade_id)}</code></td>"
        f"<td>{e.points:g}</td><td title='{html.escape(e.reason)}'>{SYMBOLS[e.status]}</td></tr>"
        for e in exercises)
    earned = sum(e.points for e in exercises if e.status == PASSED)
    total = sum(e.points for e in exercises)
    return ("<table class='calcml-progress'><thead><tr><th>unit</th><th>exercise</th><th>points</th>"
            f"<th>status</th></tr></thead><tbody>{rows}</tbody></table>"
            f"<p>{earned:g} of {total:g} points pass their visible tests. Hidden tests may still find more.</p>")


def show(release: Path | None = None) -> list[Exercise]:
    """Check every unit and display the progress table; return the exercises for further use."""
    from IPython.display import HTML, display

    exercises = collect(release)
    display(HTML(table_html(exercises)))
    return exercises


def _status(unit: str, cell: nbformat.NotebookNode) -> Exercise:
    meta = cell.metadata["nbgrader"]
    errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    if not errors:
        return Exercise(unit, meta["grade_id"], float(meta.get("points", 0)), PASSED)
    error = errors[0]
    status = NOT_STARTED if error.get("ename") == "NotImplementedError" else FAILING
    return Exercise(unit, meta["grade_id"], float(meta.get("points", 0)), status,
                    f"{error.get('ename')}: {error.get('evalue', '')}"[:300])
