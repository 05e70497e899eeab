"""Build hostile submissions and grade them in a throwaway copy of the course, for the attack tests.

Every attack test starts from the unit's solved notebook (`grading.submissions`), changes it the way a student
who has read the grader would, grades a whole batch through `grading.grade` (sandbox and integrity on), and
reads back what the grader wrote: `grading.json`, `integrity.json` and the gradebook.
"""

from __future__ import annotations

import copy
import json
import textwrap
from pathlib import Path
from typing import Any

from nbformat import NotebookNode
from nbformat.v4 import new_code_cell

from grading import grade, manifest, submissions, workspace

UNIT = "01_derivatives"
ENTRY = manifest.unit(UNIT)
POINTS = {e["grade_id"]: float(e["points"]) for e in ENTRY["exercises"]}
FULL = sum(POINTS.values())

# An IPython input transformer that blanks every test cell (restored by the grader with its hidden tests) before
# it runs: in the kernel, every test passes whatever the answers.
BLANK_TESTS = """
    def _blank(lines):
        return ["pass\\n"] if "HIDDEN TESTS" in "".join(lines) else lines

    get_ipython().input_transformers_post.append(_blank)
"""


def index_of(notebook: NotebookNode, grade_id: str) -> int:
    for index, cell in enumerate(notebook.cells):
        if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
            return index
    raise KeyError(grade_id)


def inject(notebook: NotebookNode, *sources: str, after: str | None = None) -> NotebookNode:
    """A copy of `notebook` with code cells holding `sources` after the cell `after` (default: the setup cell)."""
    nb = copy.deepcopy(notebook)
    first_code = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")
    position = index_of(nb, after) + 1 if after else first_code + 1
    for offset, source in enumerate(sources):
        nb.cells.insert(position + offset, new_code_cell(textwrap.dedent(source)))
    return nb


def untouched() -> NotebookNode:
    return submissions.release(ENTRY)


def solved() -> NotebookNode:
    return submissions.solved(ENTRY)


def course(tmp_path_factory, name: str) -> Path:
    return workspace.create(tmp_path_factory.mktemp(name) / "course")


def submission_folder(root: Path, student: str, unit_id: str = UNIT) -> Path:
    return root / "autograder" / "submitted" / student / unit_id


def notebook_path(root: Path, student: str, unit_id: str = UNIT) -> Path:
    return submission_folder(root, student, unit_id) / f"{manifest.unit(unit_id)['notebook']}.ipynb"


def write(root: Path, students: dict[str, NotebookNode], unit_id: str = UNIT) -> None:
    for student, notebook in students.items():
        submissions.write(notebook, notebook_path(root, student, unit_id))


def options(root: Path, **changes: Any) -> grade.Options:
    settings: dict[str, Any] = {"workers": 2, "cell_timeout": 60, "notebook_timeout": 600, "integrity": True,
                                "report": False, "progress": False,
                                "config": root / "autograder" / "nbgrader_config.py"}
    settings.update(changes)
    return grade.Options(**settings)


def run(root: Path, unit_id: str = UNIT, **changes: Any) -> dict[str, grade.StudentResult]:
    """Grade every submission of `unit_id` in the copy at `root`; the results by student."""
    return {result.student: result for result in grade.Grader(unit_id, options(root, **changes)).run()}


def autograded(root: Path, student: str, unit_id: str = UNIT) -> Path:
    return root / "autograder" / "autograded" / student / unit_id


def integrity_doc(root: Path, student: str, unit_id: str = UNIT) -> dict[str, Any]:
    return json.loads((autograded(root, student, unit_id) / "integrity.json").read_text(encoding="utf-8"))


def gradebook_grade(root: Path, student: str, grade_id: str, unit_id: str = UNIT) -> tuple[float, bool]:
    """(auto score, needs manual grade) of one exercise, from the gradebook."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{root / 'autograder' / 'gradebook.db'}") as gb:
        row = gb.find_grade(grade_id, manifest.unit(unit_id)["notebook"], unit_id, student)
        return float(row.auto_score or 0.0), bool(row.needs_manual_grade)
