"""Autograding with nbgrader: solutions earn every point, the untouched release earns none, and every
known-wrong answer of the sources (their wrong-answer cells) loses the points of its exercise."""

from __future__ import annotations

import pytest

from grading import submissions, workspace

pytestmark = pytest.mark.slow


@pytest.fixture
def graded(unit, tmp_path_factory, once_per_unit):
    """One nbgrader run per unit over the solved notebook, the untouched release and every wrong answer."""
    return once_per_unit("graded", unit["id"], lambda: grade_unit(unit, tmp_path_factory.mktemp("course")))


def grade_unit(unit: dict, folder) -> tuple[dict, dict]:
    students = {"solved": submissions.solved(unit), "untouched": submissions.release(unit)}
    targets = {}
    for solution_id, sources in submissions.wrong_answers(unit).items():
        for k, source in enumerate(sources):
            name = f"wrong-{solution_id.removesuffix('-solution').split('-', 1)[1]}-{k}"
            students[name] = submissions.with_wrong_answer(unit, solution_id, source)
            targets[name] = solution_id.removesuffix("-solution")
    root = workspace.create(folder / "course")
    scores = workspace.autograde(root, unit["id"], students)
    scores["manual"] = needs_manual_grade(root, unit, "solved")
    return scores, targets


def needs_manual_grade(root, unit: dict, student: str) -> dict[str, bool]:
    """What formgrader will ask an instructor to grade: nbgrader's `needs_manual_grade` of each graded cell."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{root / 'autograder' / 'gradebook.db'}") as gradebook:
        submitted = gradebook.find_submission_notebook(unit["notebook"], unit["id"], student)
        return {grade.name: bool(grade.needs_manual_grade) for grade in submitted.grades}


def test_solutions_earn_full_marks(unit, graded) -> None:
    scores, _ = graded
    full = {exercise["grade_id"]: exercise["points"] for exercise in unit["exercises"] if not exercise.get("manual")}
    manual = {exercise["grade_id"] for exercise in unit["exercises"] if exercise.get("manual")}
    assert {k: v for k, v in scores["solved"].items() if k != "total" and k not in manual} == full


def test_manual_cells_wait_for_an_instructor(unit, graded) -> None:
    """nbgrader leaves a manually graded cell to formgrader: no automatic score, flagged for manual grading."""
    scores, _ = graded
    for exercise in unit["exercises"]:
        if exercise.get("manual"):
            assert scores["manual"][exercise["grade_id"]] is True, exercise["grade_id"]
            assert not scores["solved"][exercise["grade_id"]], "a manual cell got an automatic score"


def test_untouched_release_scores_zero(unit, graded) -> None:
    scores, _ = graded
    assert scores["untouched"]["total"] == 0, scores["untouched"]


def test_every_exercise_has_a_known_wrong_answer(unit) -> None:
    covered = {solution_id.removesuffix("-solution") for solution_id in submissions.wrong_answers(unit)}
    assert covered == {exercise["grade_id"] for exercise in unit["exercises"] if not exercise.get("manual")}


def test_known_wrong_answers_lose_their_points(unit, graded) -> None:
    scores, targets = graded
    kept = {student: grade_id for student, grade_id in targets.items() if scores[student][grade_id] > 0}
    assert not kept, f"these wrong answers kept their points: {kept}"
