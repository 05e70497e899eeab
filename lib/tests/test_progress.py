"""progress: exercises are reported passed, failing or not started from the learner's own notebooks."""

from __future__ import annotations

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from calcml import progress


def graded(source: str, grade_id: str, points: int = 2):
    cell = new_code_cell(source)
    cell.metadata["nbgrader"] = {"grade": True, "grade_id": grade_id, "points": points, "solution": False,
                                 "locked": True, "schema_version": 3}
    return cell


@pytest.fixture
def course(tmp_path):
    notebook = new_notebook(cells=[
        new_code_cell("def done():\n    return 1\n\ndef todo():\n    raise NotImplementedError()"),
        graded("assert done() == 1", "01_demo-done"),
        graded("assert todo() == 1", "01_demo-todo", 1),
        graded("assert done() == 2, 'your answer is 1 too small'", "01_demo-wrong", 3),
    ], metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    (tmp_path / "release" / "01_demo").mkdir(parents=True)
    nbformat.write(notebook, tmp_path / "release" / "01_demo" / "demo.ipynb")
    (tmp_path / "course").mkdir()
    return tmp_path


def test_each_exercise_gets_its_status(course) -> None:
    statuses = {e.grade_id: (e.status, e.points) for e in progress.collect(course / "release")}
    assert statuses == {"01_demo-done": (progress.PASSED, 2), "01_demo-todo": (progress.NOT_STARTED, 1),
                        "01_demo-wrong": (progress.FAILING, 3)}


def test_a_failing_exercise_keeps_the_teaching_message(course) -> None:
    wrong = [e for e in progress.collect(course / "release") if e.grade_id == "01_demo-wrong"][0]
    assert "1 too small" in wrong.reason


def test_release_is_found_from_the_course_folder(course) -> None:
    assert progress.find_release(course / "course") == (course / "release").resolve()


def test_missing_release_folder_says_what_to_do(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="START_HERE"):
        progress.find_release(tmp_path)


def test_table_counts_only_passed_points() -> None:
    rows = [progress.Exercise("01", "a", 2, progress.PASSED), progress.Exercise("01", "b", 3, progress.FAILING)]
    text = progress.table_html(rows)
    assert "2 of 5 points" in text and text.count("<tr>") == 3
