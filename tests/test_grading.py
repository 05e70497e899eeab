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
    scores = workspace.autograde(workspace.create(folder / "course"), unit["id"], students)
    return scores, targets


def test_solutions_earn_full_marks(unit, graded) -> None:
    scores, _ = graded
    full = {exercise["grade_id"]: exercise["points"] for exercise in unit["exercises"]}
    assert {k: v for k, v in scores["solved"].items() if k != "total"} == full


def test_untouched_release_scores_zero(unit, graded) -> None:
    scores, _ = graded
    assert scores["untouched"]["total"] == 0, scores["untouched"]


def test_every_exercise_has_a_known_wrong_answer(unit) -> None:
    covered = {solution_id.removesuffix("-solution") for solution_id in submissions.wrong_answers(unit)}
    assert covered == {exercise["grade_id"] for exercise in unit["exercises"]}


def test_known_wrong_answers_lose_their_points(unit, graded) -> None:
    scores, targets = graded
    kept = {student: grade_id for student, grade_id in targets.items() if scores[student][grade_id] > 0}
    assert not kept, f"these wrong answers kept their points: {kept}"
