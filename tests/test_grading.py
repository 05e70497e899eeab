"""Autograding: solutions earn every point, the untouched release earns none, and every known-wrong answer of
the sources (their wrong-answer cells) loses the points of its exercise.

nbgrader itself grades three notebooks per unit: the solved one, the untouched release, and one with the first
known-wrong answer of every exercise at once. Every known-wrong answer on its own meets the graded test cell in
the unit's kernel walk (`tests/kernel_walk.py`): a test cell that ends in an error is what nbgrader scores 0.
"""

from __future__ import annotations

import pytest

from grading import submissions, workspace

pytestmark = pytest.mark.slow


@pytest.fixture
def graded(unit, tmp_path_factory, once_per_unit):
    """One nbgrader run per unit over the solved notebook, the untouched release and the first wrong answers."""
    return once_per_unit("graded", unit["id"], lambda: grade_unit(unit, tmp_path_factory.mktemp("course")))


def first_wrong_answers(unit: dict) -> dict[str, str]:
    """The first known-wrong answer of each solution cell that has one."""
    return {solution_id: sources[0] for solution_id, sources in submissions.wrong_answers(unit).items()}


def grade_unit(unit: dict, folder) -> dict[str, dict]:
    students = {"solved": submissions.solved(unit), "untouched": submissions.release(unit),
                "wrong": submissions.fill(submissions.solved(unit), first_wrong_answers(unit))}
    root = workspace.create(folder / "course")
    scores = workspace.autograde(root, unit["id"], students)
    scores["manual"] = needs_manual_grade(root, unit, "solved")
    return scores


def needs_manual_grade(root, unit: dict, student: str) -> dict[str, bool]:
    """What formgrader will ask an instructor to grade: nbgrader's `needs_manual_grade` of each graded cell."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{root / 'autograder' / 'gradebook.db'}") as gradebook:
        submitted = gradebook.find_submission_notebook(unit["notebook"], unit["id"], student)
        return {grade.name: bool(grade.needs_manual_grade) for grade in submitted.grades}


def autograded(unit: dict) -> set[str]:
    return {exercise["grade_id"] for exercise in unit["exercises"] if not exercise.get("manual")}


def test_solutions_earn_full_marks(unit, graded) -> None:
    full = {exercise["grade_id"]: exercise["points"] for exercise in unit["exercises"] if not exercise.get("manual")}
    assert {k: v for k, v in graded["solved"].items() if k in full} == full


def test_manual_cells_wait_for_an_instructor(unit, graded) -> None:
    """nbgrader leaves a manually graded cell to formgrader: no automatic score, flagged for manual grading."""
    for exercise in unit["exercises"]:
        if exercise.get("manual"):
            assert graded["manual"][exercise["grade_id"]] is True, exercise["grade_id"]
            assert not graded["solved"][exercise["grade_id"]], "a manual cell got an automatic score"


def test_untouched_release_scores_zero(unit, graded) -> None:
    assert graded["untouched"]["total"] == 0, graded["untouched"]


def test_nbgrader_takes_the_points_of_wrong_answers(unit, graded) -> None:
    kept = {grade_id: graded["wrong"][grade_id] for grade_id in autograded(unit) if graded["wrong"][grade_id] > 0}
    assert not kept, f"nbgrader kept these exercises' points with their first wrong answers in: {kept}"


def test_every_exercise_has_a_known_wrong_answer(unit) -> None:
    covered = {solution_id.removesuffix("-solution") for solution_id in submissions.wrong_answers(unit)}
    assert covered == autograded(unit)


def test_solutions_pass_the_graded_test_cells_in_the_walk(unit, walked) -> None:
    assert set(walked) == autograded(unit)
    failing = {grade_id: (cell.graded, cell.restored) for grade_id, cell in walked.items()
               if cell.graded is not None or cell.restored is not None}
    assert not failing, f"the right answer fails these test cells (first run, after the wrong answers): {failing}"


def test_known_wrong_answers_lose_their_points(unit, walked) -> None:
    kept = [f"{grade_id}: wrong answer {a.index} of {a.solution_id}" for grade_id, cell in walked.items()
            for a in cell.attempts if a.graded is None]
    broken = [f"{grade_id}: wrong answer {a.index} of {a.solution_id} fails before its test: {a.defining}"
              for grade_id, cell in walked.items() for a in cell.attempts if a.defining is not None]
    assert not kept, "these wrong answers keep their points:\n" + "\n".join(kept)
    assert not broken, "these wrong answers lose their points for the wrong reason:\n" + "\n".join(broken)
