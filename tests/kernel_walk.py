"""One kernel per unit meets every known-wrong answer, exactly where a student's notebook would meet it.

The source notebook (solutions, and test cells with their hidden regions, as nbgrader's autograde runs them)
runs top to bottom in one kernel. At each graded test cell, every known-wrong answer of its exercise is swapped
in for its solution cell, the cells from there to the test run again, and then two tests run: the visible one
(what the student sees, from the release notebook) and the whole test cell (what nbgrader grades). Then the
right answers are restored, the test cell must pass again (so a wrong answer cannot leave the kernel broken for
the next one), and the notebook goes on.

This is what nbgrader does to a submission, without one kernel start and one full notebook run per wrong answer:
a test cell that ends in an error scores 0 (`tests/test_grading.py` proves that on nbgrader itself).
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
from pathlib import Path

from nbclient import NotebookClient
from nbformat import NotebookNode
from nbformat.v4 import new_code_cell

from grading import exercises, manifest, release, submissions

#: A cell running longer than this fails the walk (nbgrader's own limit per cell is 60 s).
CELL_TIMEOUT = 120

Error = tuple[str, str] | None


@dataclasses.dataclass(frozen=True)
class Attempt:
    """One known-wrong answer tried at its test cell."""

    solution_id: str
    index: int
    defining: Error  # the error its cells raised on the way to the test (None: they ran)
    visible: Error  # the error of the visible test (None: it passed)
    graded: Error  # the error of the whole test cell, hidden region included (None: it keeps its points)


@dataclasses.dataclass(frozen=True)
class TestCell:
    """What the walk saw at one graded test cell."""

    visible: Error  # with the right answer
    graded: Error  # with the right answer
    restored: Error  # with the right answer put back after the wrong ones
    attempts: tuple[Attempt, ...]


def error_of(cell: NotebookNode) -> Error:
    """The (name, message) of the error a cell raised, or None if it ran cleanly."""
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            return output.get("ename", ""), output.get("evalue", "")
    return None


def walk(entry: dict, folder: Path) -> dict[str, TestCell]:
    """Walk one unit (see the module docstring); the result maps each autograded test cell's grade_id."""
    notebook = release.source_notebook(manifest.source_script(entry))
    visible = {cell.metadata["nbgrader"]["grade_id"]: cell.source for cell in submissions.release(entry).cells
               if cell.metadata.get("nbgrader", {}).get("grade") and cell.cell_type == "code"}
    by_test = {exercise.grade_id: exercise for exercise in exercises.read(entry) if not exercise.manual}
    # nbclient puts each cell it runs at its index in the notebook: keep the notebook's own cells aside.
    cells = list(notebook.cells)
    position = {cell.metadata.get("nbgrader", {}).get("grade_id"): index for index, cell in enumerate(cells)}
    env = {key: value for key, value in os.environ.items() if key != "MPLBACKEND"}
    env["CALCML_STATIC"] = "1"
    client = NotebookClient(notebook, timeout=CELL_TIMEOUT, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(folder)}})

    def run(source: str, index: int) -> Error:
        cell = new_code_cell(source)
        client.execute_cell(cell, index)
        return error_of(cell)

    def run_up_to_test(start: int, test: int, replaced: dict[str, str]) -> Error:
        """Run the cells from `start` to just before the test, with `replaced` sources by grade_id."""
        for index in range(start, test):
            cell = cells[index]
            if cell.cell_type == "code":
                error = run(replaced.get(cell.metadata.get("nbgrader", {}).get("grade_id"), cell.source), index)
                if error is not None:
                    return error
        return None

    results: dict[str, TestCell] = {}
    with client.setup_kernel(env=env, stderr=subprocess.DEVNULL):
        for index, cell in enumerate(cells):
            if cell.cell_type != "code":
                continue
            client.execute_cell(cell, index)
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
            if grade_id not in by_test:
                continue
            exercise = by_test[grade_id]
            start = min((position[s] for s in exercise.solution_ids), default=index)
            attempts = []
            for solution_id, sources in exercise.wrong_answers.items():
                for k, source in enumerate(sources):
                    defining = run_up_to_test(start, index, {solution_id: source})
                    attempts.append(Attempt(solution_id, k, defining, run(visible[grade_id], index),
                                            run(cell.source, index)))
            restored = error_of(cell)
            if attempts:
                restored = run_up_to_test(start, index, {}) or run(cell.source, index)
            results[grade_id] = TestCell(run(visible[grade_id], index), error_of(cell), restored, tuple(attempts))
    return results
