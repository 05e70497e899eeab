"""A learner's progress: which exercises pass their visible tests in the learner's own notebooks.

`progress.show()` runs each of the learner's release notebooks in a fresh kernel (a subprocess, so nothing
in the learner's session changes, and nothing is written to their files), and reports every graded exercise
as passed, failing or not started, with the first words of the test's message when it fails. It only runs
what the learner can already see: release notebooks hold no hidden tests. It reads the notebooks as they are
saved on disk, so save first.
"""

from __future__ import annotations

import html
import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import nbformat

PASSED, FAILING, NOT_STARTED = "passed", "failing", "not started"
#: Status words with marks that every common font has (no emoji font needed).
SYMBOLS = {PASSED: "✓ passed", FAILING: "✗ failing", NOT_STARTED: "– not started"}
#: How much of a failing test's message the table shows.
REASON_CHARS = 600
#: Environment of the checking kernels: widgets draw static figures and no window ever opens.
KERNEL_ENV = {"CALCML_STATIC": "1", "MPLBACKEND": "Agg"}


@dataclass(frozen=True)
class Exercise:
    """One graded exercise of a notebook and its status."""

    unit: str
    grade_id: str
    points: float
    status: str
    reason: str = ""
    title: str = ""


def find_release(start: Path | None = None) -> Path:
    """The `release/` folder of the course, searched for upwards from `start` (default: the working folder)."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "release").is_dir():
            return folder / "release"
    raise FileNotFoundError(f"no release/ folder above {here}; open START_HERE.ipynb from the course folder")


def check_notebook(path: Path, timeout: int = 120) -> list[Exercise]:
    """Run one notebook in a fresh kernel and read off the status of each graded test cell.

    The kernel is a subprocess with its own environment (`KERNEL_ENV`); its own log lines are discarded, so
    the learner sees only the table. A notebook that cannot finish (a cell running past `timeout` seconds, a
    crashed kernel) still gets a row per exercise: the test cells it never reached are reported as failing.
    """
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    stopped = ""
    try:
        NotebookClient(notebook, timeout=timeout, allow_errors=True, kernel_name="python3",
                       resources={"metadata": {"path": str(path.parent)}}).execute(
            env={**os.environ, **KERNEL_ENV}, stderr=subprocess.DEVNULL)
    except Exception as error:  # whatever stopped the run, the table must still appear
        stopped = _shorten(f"the notebook stopped before this test ran ({type(error).__name__}: {error})")
    untouched = {cell.metadata["nbgrader"].get("grade_id") for cell in notebook.cells
                 if cell.metadata.get("nbgrader", {}).get("solution") and _raised(cell) == "NotImplementedError"}
    return [_status(path.parent.name, cell, stopped, f"{cell.metadata['nbgrader']['grade_id']}-solution" in untouched)
            for cell in notebook.cells
            if cell.metadata.get("nbgrader", {}).get("grade") and cell.cell_type == "code"]


def collect(release: Path | None = None,
            on_unit: Callable[[int, int, Path], None] | None = None) -> list[Exercise]:
    """The status of every exercise of every unit, in course order.

    Args:
        release: The release folder; None searches upwards from the working folder.
        on_unit: Called as `on_unit(index, count, path)` before each notebook is checked.
    """
    release = release or find_release()
    paths = sorted(release.glob("*/*.ipynb"))
    titles = _titles(release.parent / "course" / "units.yml")
    exercises: list[Exercise] = []
    for index, path in enumerate(paths, start=1):
        if on_unit is not None:
            on_unit(index, len(paths), path)
        exercises.extend(Exercise(e.unit, e.grade_id, e.points, e.status, e.reason, titles.get(e.grade_id, ""))
                         for e in check_notebook(path))
    return exercises


def table_html(exercises: list[Exercise]) -> str:
    """An HTML table: one row per exercise, with its unit, name, points, status and what the test said."""
    left = "style='text-align: left'"
    rows = "".join(
        f"<tr><td {left}>{html.escape(e.unit)}</td><td {left}>{html.escape(e.title or e.grade_id)}<br>"
        f"<code>{html.escape(e.grade_id)}</code></td><td>{e.points:g}</td>"
        f"<td style='text-align: left; white-space: nowrap'>{SYMBOLS[e.status]}</td>"
        f"<td {left}>{html.escape(e.reason) if e.status == FAILING else ''}</td></tr>"
        for e in exercises)
    earned = sum(e.points for e in exercises if e.status == PASSED)
    total = sum(e.points for e in exercises)
    head = "".join(f"<th scope='col' {'' if name == 'points' else left}>{name}</th>"
                   for name in ("unit", "exercise", "points", "status", "what the test said"))
    return (f"<table class='calcml-progress'><caption>Your exercises and their visible tests</caption>"
            f"<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
            f"<p>{earned:g} of {total:g} points pass their visible tests. Hidden tests may still find more.</p>")


def show(release: Path | None = None) -> list[Exercise]:
    """Check every unit and display the progress table; return the exercises for further use."""
    from IPython.display import HTML, display

    handle = display(HTML("<p>Checking your notebooks…</p>"), display_id=True)

    def on_unit(index: int, count: int, path: Path) -> None:
        if handle is not None:
            handle.update(HTML(f"<p role='status'>Checking {html.escape(path.parent.name)} "
                               f"({index} of {count})…</p>"))

    exercises = collect(release, on_unit)
    if handle is not None:
        handle.update(HTML(table_html(exercises)))
    else:
        display(HTML(table_html(exercises)))
    return exercises


def _titles(manifest: Path) -> dict[str, str]:
    """Exercise titles by grade_id from the course manifest, if it and PyYAML are there."""
    try:
        import yaml
    except ImportError:
        return {}
    try:
        data = yaml.safe_load(manifest.read_text(encoding="utf-8"))
        return {x["grade_id"]: x.get("title", "") for unit in data["units"] for x in unit["exercises"]}
    except (OSError, KeyError, TypeError, yaml.YAMLError):
        return {}


def _raised(cell: nbformat.NotebookNode) -> str | None:
    """The name of the exception the cell's run ended with, or None."""
    errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    return errors[0].get("ename") if errors else None


def _status(unit: str, cell: nbformat.NotebookNode, stopped: str = "", untouched: bool = False) -> Exercise:
    """The status of one test cell; `untouched` says its answer cell still raises NotImplementedError.

    An answer that defines a value rather than a function (`forward = {...}`) leaves its test cell a NameError
    while untouched: that is "not started" too, not a failure to explain.
    """
    meta = cell.metadata["nbgrader"]
    points = float(meta.get("points", 0))
    errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    if not errors:
        if cell.get("execution_count") is None:  # never ran: the notebook stopped before it
            return Exercise(unit, meta["grade_id"], points, FAILING, stopped or "this test did not run")
        return Exercise(unit, meta["grade_id"], points, PASSED)
    error = errors[0]
    status = NOT_STARTED if untouched or error.get("ename") == "NotImplementedError" else FAILING
    reason = _shorten(f"{error.get('ename')}: {error.get('evalue', '')}")
    return Exercise(unit, meta["grade_id"], points, status, reason)


def _shorten(text: str, limit: int = REASON_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
