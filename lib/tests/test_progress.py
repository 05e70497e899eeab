"""progress: exercises are reported passed, failing or not started from the learner's own notebooks."""

from __future__ import annotations

import os

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from calcml import progress


def graded(source: str, grade_id: str, points: int = 2):
    cell = new_code_cell(source)
    cell.metadata["nbgrader"] = {"grade": True, "grade_id": grade_id, "points": points, "solution": False,
                                 "locked": True, "schema_version": 3}
    return cell


def answer(source: str, grade_id: str):
    cell = new_code_cell(source)
    cell.metadata["nbgrader"] = {"grade": False, "grade_id": grade_id, "solution": True, "locked": False,
                                 "schema_version": 3}
    return cell


@pytest.fixture
def course(tmp_path):
    notebook = new_notebook(cells=[
        new_code_cell("def done():\n    return 1\n\ndef todo():\n    raise NotImplementedError()"),
        graded("assert done() == 1", "01_demo-done"),
        graded("assert todo() == 1", "01_demo-todo", 1),
        graded("assert done() == 2, 'your answer is 1 too small'", "01_demo-wrong", 3),
        answer("raise NotImplementedError()", "01_demo-value-solution"),
        graded("assert value == 4", "01_demo-value", 1),
        answer("typed = 5", "01_demo-typed-solution"),
        graded("assert typed == 4", "01_demo-typed", 1),
    ], metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    (tmp_path / "release" / "01_demo").mkdir(parents=True)
    nbformat.write(notebook, tmp_path / "release" / "01_demo" / "demo.ipynb")
    (tmp_path / "course").mkdir()
    return tmp_path


def test_each_exercise_gets_its_status(course) -> None:
    statuses = {e.grade_id: (e.status, e.points) for e in progress.collect(course / "release")}
    assert statuses == {"01_demo-done": (progress.PASSED, 2), "01_demo-todo": (progress.NOT_STARTED, 1),
                        "01_demo-wrong": (progress.FAILING, 3),
                        # an untouched answer cell that defines a value leaves a NameError in its test: not started
                        "01_demo-value": (progress.NOT_STARTED, 1), "01_demo-typed": (progress.FAILING, 1)}


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


def test_exercises_carry_their_titles_from_the_manifest(course) -> None:
    (course / "course" / "units.yml").write_text(
        "units:\n  - id: 01_demo\n    exercises:\n      - grade_id: 01_demo-done\n        title: A finished one\n",
        encoding="utf-8")
    titles = {e.grade_id: e.title for e in progress.collect(course / "release")}
    assert titles["01_demo-done"] == "A finished one" and titles["01_demo-todo"] == titles["01_demo-wrong"] == ""


def test_checking_kernels_get_their_own_environment(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("CALCML_STATIC", raising=False)
    notebook = new_notebook(cells=[graded("import os\nassert os.environ['CALCML_STATIC'] == '1', 'not static'",
                                          "01_env-static")])
    (tmp_path / "release" / "01_env").mkdir(parents=True)
    nbformat.write(notebook, tmp_path / "release" / "01_env" / "env.ipynb")
    assert [e.status for e in progress.collect(tmp_path / "release")] == [progress.PASSED]
    assert "CALCML_STATIC" not in os.environ  # the learner's own kernel is left as it was


def test_a_notebook_that_stops_still_reports_every_exercise(tmp_path) -> None:
    notebook = new_notebook(cells=[
        graded("assert 1 + 1 == 2, 'arithmetic'", "01_slow-first"),
        new_code_cell("import time\ntime.sleep(60)"),
        graded("assert True", "01_slow-after"),
    ])
    (tmp_path / "01_slow").mkdir()
    nbformat.write(notebook, tmp_path / "01_slow" / "slow.ipynb")
    first, after = progress.check_notebook(tmp_path / "01_slow" / "slow.ipynb", timeout=3)
    assert first.status == progress.PASSED
    assert after.status == progress.FAILING and "stopped before this test ran" in after.reason


def test_table_shows_what_a_failing_test_said_escaped() -> None:
    rows = [progress.Exercise("01", "01-a", 2, progress.FAILING, "CheckFailure: x < 0 is wrong", "A title"),
            progress.Exercise("01", "01-b", 1, progress.NOT_STARTED, "NotImplementedError: ")]
    text = progress.table_html(rows)
    assert "CheckFailure: x &lt; 0 is wrong" in text and "A title" in text
    assert "NotImplementedError" not in text  # not started is not a failure to explain


def test_show_reports_each_unit_while_it_checks_then_the_table(course, monkeypatch) -> None:
    import IPython.display

    shown: list[str] = []

    class Handle:
        def update(self, obj) -> None:
            shown.append(obj.data)

    def display(obj, display_id=False):
        shown.append(obj.data)
        return Handle()

    monkeypatch.setattr(IPython.display, "display", display)
    exercises = progress.show(course / "release")
    assert len(exercises) == 5
    assert "Checking your notebooks" in shown[0] and "Checking 01_demo (1 of 1)" in shown[1]
    assert shown[-1].startswith("<table class='calcml-progress'>")


def test_long_messages_are_shortened_visibly() -> None:
    cell = graded("", "01_demo-long")
    cell.outputs = [{"output_type": "error", "ename": "CheckFailure", "evalue": "x" * 2000, "traceback": []}]
    cell.execution_count = 1
    reason = progress._status("01_demo", cell).reason
    assert len(reason) == progress.REASON_CHARS and reason.endswith("…")
