"""Every visible test teaches: run against a known-wrong answer, it fails with a message that says why.

For each unit, the solved release notebook (what a learner sees: no hidden tests) runs top to bottom in one
kernel. At each graded test cell, every known-wrong answer of the unit's source is swapped in,
the visible test cell runs again, and then the right answer is restored before the notebook goes on. So each
visible test meets each mistake in exactly the state a learner's notebook would be in.
"""

from __future__ import annotations

import os
import subprocess

import pytest
from nbclient import NotebookClient
from nbformat import NotebookNode
from nbformat.v4 import new_code_cell, new_notebook

from grading import submissions

pytestmark = pytest.mark.slow

#: Exceptions a visible test raises on purpose: `calcml.checks.CheckFailure` is an AssertionError.
TEACHING_ERRORS = {"AssertionError", "CheckFailure"}
#: A message shorter than this is a bare number or a word, not an explanation.
SHORTEST_MESSAGE = 40


def error_of(cell: NotebookNode) -> tuple[str, str] | None:
    """The (name, message) of the error a cell raised, or None if it ran cleanly."""
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            return output.get("ename", ""), output.get("evalue", "")
    return None


def walk_visible_tests(entry: dict, folder) -> dict[str, dict]:
    """Run the solved release notebook, trying every known-wrong answer at each test cell.

    Returns:
        For each test cell's grade_id: `solved`, its error with the right answer (None when it passes), and
        `wrong`, a list of (index of the wrong answer, error defining it, error of the visible test).
    """
    notebook = submissions.solved(entry)
    right = submissions.solution_cells(entry)
    wrong = submissions.wrong_answers(entry)
    env = {key: value for key, value in os.environ.items() if key != "MPLBACKEND"}
    env["CALCML_STATIC"] = "1"
    client = NotebookClient(notebook, timeout=120, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(folder)}})
    results: dict[str, dict] = {}
    with client.setup_kernel(env=env, stderr=subprocess.DEVNULL):
        for index, cell in enumerate(notebook.cells):
            if cell.cell_type != "code":
                continue
            client.execute_cell(cell, index)
            meta = cell.metadata.get("nbgrader", {})
            if not meta.get("grade"):
                continue
            solution_id = f"{meta['grade_id']}-solution"
            tried = []
            for k, source in enumerate(wrong.get(solution_id, [])):
                definition = new_code_cell(source)
                client.execute_cell(definition, index)
                test = new_code_cell(cell.source)
                client.execute_cell(test, index)
                tried.append((k, error_of(definition), error_of(test)))
            if solution_id in right:
                client.execute_cell(new_code_cell(right[solution_id]), index)  # the right answer again
            results[meta["grade_id"]] = {"solved": error_of(cell), "wrong": tried}
    return results


def problems(results: dict[str, dict]) -> list[str]:
    """What the walk found wrong, one line each: a visible test that fails on the solution, crashes instead of
    explaining, explains in too few words, or lets every known-wrong answer of its exercise pass."""
    found = []
    for grade_id, result in results.items():
        if result["solved"] is not None:
            found.append(f"{grade_id}: the visible test fails on the solution: {result['solved']}")
            continue
        caught = 0
        for k, defining, failure in result["wrong"]:
            if defining is not None:
                found.append(f"{grade_id}: wrong answer {k} does not even define its function: {defining}")
            elif failure is not None:
                caught += 1
                name, message = failure
                if name not in TEACHING_ERRORS:
                    found.append(f"{grade_id}: on wrong answer {k} the visible test crashed with {name}: "
                                 f"{message[:200]!r} instead of failing a check that explains the mistake")
                elif len(message.strip()) < SHORTEST_MESSAGE:
                    found.append(f"{grade_id}: on wrong answer {k} the visible test fails with {name}: "
                                 f"{message!r}, which does not say what is wrong")
        if result["wrong"] and not caught:
            found.append(f"{grade_id}: the visible test passes every known-wrong answer; "
                         "only the hidden tests would tell the learner")
    return found


def test_visible_tests_explain_every_known_mistake(unit, tmp_path) -> None:
    results = walk_visible_tests(unit, tmp_path)
    assert set(results) == {exercise["grade_id"] for exercise in unit["exercises"] if not exercise.get("manual")}
    found = problems(results)
    assert not found, "\n".join(found)


def test_the_walk_tells_a_teaching_test_from_a_bare_one(tmp_path, monkeypatch) -> None:
    def graded(source: str, grade_id: str, **flags):
        cell = new_code_cell(source)
        cell.metadata["nbgrader"] = {"grade_id": grade_id, "grade": False, "solution": False, **flags}
        return cell

    solution = "def double(x):\n    return 2 * x"
    notebook = new_notebook(cells=[
        graded(solution, "99_demo-taught-solution", solution=True),
        graded("assert double(3) == 6, f'double(3) is {double(3)}, but 6 was expected: multiply x by 2'",
               "99_demo-taught", grade=True, points=1),
        graded("def half(x):\n    return x / 2", "99_demo-bare-solution", solution=True),
        graded("assert half(4) == 2", "99_demo-bare", grade=True, points=1),
        graded("assert half(0) == 0, 'half(0) must be 0: halve x, do not shift it'", "99_demo-lenient",
               grade=True, points=1),
    ], metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    monkeypatch.setattr(submissions, "solved", lambda entry: notebook)
    monkeypatch.setattr(submissions, "solution_cells", lambda entry: {
        "99_demo-taught-solution": solution, "99_demo-bare-solution": "def half(x):\n    return x / 2"})
    monkeypatch.setattr(submissions, "wrong_answers", lambda entry: {
        "99_demo-taught-solution": ["def double(x):\n    return x * x - x", "def double(x):\n    return x"],
        "99_demo-bare-solution": ["def half(x):\n    return x * 2"],
        "99_demo-lenient-solution": ["def half(x):\n    return x * 0"]})
    results = walk_visible_tests({"id": "99_demo"}, tmp_path)
    assert [failure is not None for _, _, failure in results["99_demo-taught"]["wrong"]] == [False, True]
    assert problems(results) == [
        "99_demo-bare: on wrong answer 0 the visible test fails with AssertionError: '', which does not say "
        "what is wrong",
        "99_demo-lenient: the visible test passes every known-wrong answer; only the hidden tests would tell "
        "the learner"]
