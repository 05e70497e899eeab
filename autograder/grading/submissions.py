"""Build student submissions from the source notebooks: solved, untouched, and with known-wrong answers.

The tests, the sample submissions and the benchmark all need notebooks as a student would hand them in.
They start from the release notebook (what the student received) and fill the solution cells.
"""

from __future__ import annotations

import copy
from pathlib import Path

import jupytext
import nbformat
from nbformat import NotebookNode

from grading import exercises, manifest


def solution_cells(entry: dict) -> dict[str, str]:
    """The instructor's source of every solution cell of a unit, by the cell's grade_id."""
    notebook = jupytext.read(manifest.source_script(entry))
    return {
        cell.metadata["nbgrader"]["grade_id"]: cell.source
        for cell in notebook.cells
        if cell.metadata.get("nbgrader", {}).get("solution")
    }


def wrong_answers(entry: dict) -> dict[str, list[str]]:
    """The known-wrong solution sources of a unit (its source's wrong-answer cells), by solution grade_id."""
    return exercises.wrong_answers(entry)


def release(entry: dict) -> NotebookNode:
    """The unit's release notebook, as a student receives it."""
    return nbformat.read(manifest.release_notebook(entry), as_version=4)


def fill(notebook: NotebookNode, answers: dict[str, str]) -> NotebookNode:
    """A copy of `notebook` whose solution cells named in `answers` hold those sources."""
    filled = copy.deepcopy(notebook)
    for cell in filled.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            cell.source = answers[grade_id]
    return filled


def solved(entry: dict) -> NotebookNode:
    """The release notebook with every solution filled in: it must earn full marks."""
    return fill(release(entry), solution_cells(entry))


def with_wrong_answer(entry: dict, solution_id: str, wrong_source: str) -> NotebookNode:
    """The solved notebook with one solution replaced by a known-wrong one."""
    answers = solution_cells(entry)
    answers[solution_id] = wrong_source
    return fill(release(entry), answers)


def write(notebook: NotebookNode, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, path)
    return path
