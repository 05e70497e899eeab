"""Every visible test teaches: run against a known-wrong answer, it fails with a message that says why.

The unit's kernel walk (`tests/kernel_walk.py`) tries every known-wrong answer at its test cell, in exactly the
state a learner's notebook would be in; here we read what the visible test said to each.
"""

from __future__ import annotations

import kernel_walk
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from grading import exercises, manifest, release, submissions

pytestmark = pytest.mark.slow

#: Exceptions a visible test raises on purpose: `calcml.checks.CheckFailure` is an AssertionError.
TEACHING_ERRORS = {"AssertionError", "CheckFailure"}
#: A message shorter than this is a bare number or a word, not an explanation.
SHORTEST_MESSAGE = 40


def problems(results: dict[str, kernel_walk.TestCell]) -> list[str]:
    """What the walk found wrong, one line each: a visible test that fails on the solution, crashes instead of
    explaining, explains in too few words, or lets every known-wrong answer of its exercise pass."""
    found = []
    for grade_id, result in results.items():
        if result.visible is not None:
            found.append(f"{grade_id}: the visible test fails on the solution: {result.visible}")
            continue
        caught = 0
        for attempt in result.attempts:
            k = attempt.index
            if attempt.defining is not None:
                found.append(f"{grade_id}: wrong answer {k} does not even define its function: {attempt.defining}")
            elif attempt.visible is not None:
                caught += 1
                name, message = attempt.visible
                if name not in TEACHING_ERRORS:
                    found.append(f"{grade_id}: on wrong answer {k} the visible test crashed with {name}: "
                                 f"{message[:200]!r} instead of failing a check that explains the mistake")
                elif len(message.strip()) < SHORTEST_MESSAGE:
                    found.append(f"{grade_id}: on wrong answer {k} the visible test fails with {name}: "
                                 f"{message!r}, which does not say what is wrong")
        if result.attempts and not caught:
            found.append(f"{grade_id}: the visible test passes every known-wrong answer; "
                         "only the hidden tests would tell the learner")
    return found


def test_visible_tests_explain_every_known_mistake(unit, walked) -> None:
    assert set(walked) == {exercise["grade_id"] for exercise in unit["exercises"] if not exercise.get("manual")}
    found = problems(walked)
    assert not found, "\n".join(found)


def test_the_walk_tells_a_teaching_test_from_a_bare_one(tmp_path, monkeypatch) -> None:
    def graded(source: str, grade_id: str, **flags):
        cell = new_code_cell(source)
        cell.metadata["nbgrader"] = {"grade_id": grade_id, "grade": False, "solution": False, **flags}
        return cell

    def exercise(grade_id: str, wrong: list[str]) -> exercises.Exercise:
        solution_id = f"{grade_id}-solution"
        return exercises.Exercise(grade_id, grade_id, 1, 1, (solution_id,), "", {solution_id: tuple(wrong)})

    cells = [
        graded("def double(x):\n    return 2 * x", "99_demo-taught-solution", solution=True),
        graded("assert double(3) == 6, f'double(3) is {double(3)}, but 6 was expected: multiply x by 2'",
               "99_demo-taught", grade=True, points=1),
        graded("def half(x):\n    return x / 2", "99_demo-bare-solution", solution=True),
        graded("assert half(4) == 2", "99_demo-bare", grade=True, points=1),
        graded("def third(x):\n    return x / 3", "99_demo-lenient-solution", solution=True),
        graded("assert third(0) == 0, 'third(0) must be 0: divide x, do not shift it'", "99_demo-lenient",
               grade=True, points=1),
    ]
    notebook = new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                                  "language": "python"}})
    monkeypatch.setattr(manifest, "source_script", lambda entry: tmp_path / "demo.py")
    monkeypatch.setattr(release, "source_notebook", lambda script: notebook)
    monkeypatch.setattr(submissions, "release", lambda entry: notebook)
    monkeypatch.setattr(exercises, "read", lambda entry: (
        exercise("99_demo-taught", ["def double(x):\n    return x * x - x", "def double(x):\n    return x"]),
        exercise("99_demo-bare", ["def half(x):\n    return x * 2"]),
        exercise("99_demo-lenient", ["def third(x):\n    return x * 0"])))
    results = kernel_walk.walk({"id": "99_demo"}, tmp_path)
    assert [attempt.visible is not None for attempt in results["99_demo-taught"].attempts] == [False, True]
    # here the whole test cell is the visible one: what it let pass keeps its points, and the right answer is back
    assert [attempt.graded is None for attempt in results["99_demo-lenient"].attempts] == [True]
    assert all(cell.restored is None and cell.graded is None for cell in results.values())
    assert problems(results) == [
        "99_demo-bare: on wrong answer 0 the visible test fails with AssertionError: '', which does not say "
        "what is wrong",
        "99_demo-lenient: the visible test passes every known-wrong answer; only the hidden tests would tell "
        "the learner"]
