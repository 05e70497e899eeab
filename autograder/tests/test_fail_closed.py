"""Issue 9, class 1: the out-of-kernel check fails closed.

A student who blanks the in-kernel tests (an input transformer) and then makes the grader's own check of the
notebook break must not keep the in-kernel marks. Any exception, timeout, missing exercise or `ran: false` in
the check scores the exercise 0, marks it for a manual look, flags it, and `grading.json` says `failed`.
"""

from __future__ import annotations

import hostile
import pytest

from grading import grade, integrity

# one worker builds this module's graded classes (session fixtures) once: `--dist loadgroup`
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("fail_closed")]

# Code the kernel shrugs off (the cell raises) but that exhausts a recursive parser: RecursionError...
DEEP_SUM = "x = " + "+".join(["1"] * 20_000)
# ...and MemoryError.
DEEP_UNARY = "y = " + "-" * 100_000 + "1"


@pytest.fixture(scope="session")
def graded(tmp_path_factory):
    root = hostile.course(tmp_path_factory, "fail-closed")
    untouched = hostile.untouched()
    hostile.write(root, {
        "honest": hostile.solved(),
        # A correct notebook with a cell nobody can compile or analyse.
        "unreadable_cell": hostile.inject(hostile.solved(), DEEP_SUM),
        "recursion": hostile.inject(untouched, hostile.BLANK_TESTS, DEEP_SUM),
        "memory": hostile.inject(untouched, hostile.BLANK_TESTS, DEEP_UNARY),
        # A cell the grader's analysis cannot parse at all, in a notebook that otherwise only blanks its tests.
        "syntax": hostile.inject(untouched, hostile.BLANK_TESTS, "def broken(:\n    pass"),
    })
    return root, hostile.run(root)


def test_the_honest_student_beside_the_attacks_keeps_full_marks(graded) -> None:
    _, results = graded
    assert (results["honest"].status, results["honest"].score) == ("graded", hostile.FULL), results["honest"].notes
    assert results["honest"].integrity == "ok"


def test_a_cell_nobody_can_analyse_costs_only_the_exercises_whose_mechanism_is_checked(graded) -> None:
    """The probe process survives the cell (it fails, as in the kernel), but every exercise reads the source (each
    must do its own work, `rules.own_work`), so every exercise fails closed, and says why."""
    root, results = graded
    exercises = batch_exercises(root, "unreadable_cell")
    mechanism = {g for g, e in exercises.items() if "could not be analysed" in e["detail"]}
    assert mechanism == set(hostile.POINTS), exercises
    assert results["unreadable_cell"].score == 0


def batch_exercises(root, student: str) -> dict:
    return hostile.integrity_doc(root, student)["notebooks"]["derivatives"]["exercises"]


@pytest.mark.parametrize("student", ["recursion", "memory"])
def test_a_check_broken_by_deep_nesting_scores_zero_and_is_flagged(graded, student) -> None:
    root, results = graded
    result = results[student]
    doc = hostile.integrity_doc(root, student)
    in_kernel = [e["in_kernel_passed"] for e in doc["notebooks"]["derivatives"]["exercises"].values()]
    assert all(in_kernel), f"the attack did not fool the kernel ({in_kernel}); the test proves nothing"
    assert result.score == 0, f"{student}: {result.score} points with no answers: {result.notes}"
    assert result.integrity in ("flagged", "failed")
    for grade_id in hostile.POINTS:
        assert hostile.gradebook_grade(root, student, grade_id) == (0.0, True)


def test_code_the_analysis_cannot_parse_still_gets_checked(graded) -> None:
    root, results = graded
    assert results["syntax"].score == 0
    assert results["syntax"].integrity in ("flagged", "failed")


@pytest.mark.parametrize("report", [
    None,
    {"ran": False, "error": "the probe process was killed", "exercises": {}, "flags": []},
    {"ran": True, "exercises": {}, "flags": []},
    {"ran": True, "exercises": {g: {"passed": "yes", "points": "2"} for g in hostile.POINTS}, "flags": []},
    {"ran": True, "exercises": {g: {"passed": True, "points": float("nan")} for g in hostile.POINTS}},
    {"ran": "true", "exercises": {g: {"passed": True, "points": 9.0} for g in hostile.POINTS}, "flags": []},
    ["not", "a", "report"],
], ids=["none", "did-not-run", "no-exercises", "strings", "nan", "ran-is-a-string", "a-list"])
def test_a_report_that_is_not_a_clear_pass_scores_zero(graded, report) -> None:
    """The main process reads the worker's report as data: anything but a clear verdict costs the points."""
    root, _ = graded
    grader = grade.Grader(hostile.UNIT, hostile.options(root))
    flags = grader.apply_integrity("honest", "derivatives", report)
    for grade_id in hostile.POINTS:
        assert hostile.gradebook_grade(root, "honest", grade_id) == (0.0, True)
        assert any(flag.startswith(grade_id) for flag in flags), flags


@pytest.mark.parametrize("error", [RecursionError("deep"), MemoryError(), KeyError("cells")])
def test_check_submission_never_raises_and_fails_every_exercise(monkeypatch, tmp_path, error) -> None:
    def broken(*args, **kwargs):
        raise error

    monkeypatch.setattr(integrity, "_check", broken)
    report = integrity.check_submission(assignment=hostile.UNIT, student="eve", notebook_path=tmp_path / "x.ipynb",
                                        sandboxed=False, secret=b"k" * 32)
    assert report["ran"] is False
    assert set(report["exercises"]) == set(hostile.POINTS)
    assert not any(e["passed"] for e in report["exercises"].values())
    assert type(error).__name__ in report["error"]


def test_the_pruning_analysis_keeps_everything_when_a_cell_cannot_be_analysed() -> None:
    pieces = [("cell 1", "import math\nunused = math.pi", True), ("cell 2", DEEP_SUM, False)]
    assert integrity._needed(pieces, ["result = 1"]) == [True, True]
    assert integrity._cell_names(DEEP_UNARY).parsed is False


def test_a_static_check_that_runs_too_long_fails_closed_instead_of_stalling() -> None:
    """Source crafted to make the grader's analysis slow costs the exercise, never the class's time."""
    import time

    from calcml import checks

    def endless(code) -> None:
        while True:
            try:
                time.sleep(0.01)
            except Exception:  # noqa: BLE001 -- an analysis that swallows errors must still be stopped
                pass

    probe = integrity.Probe(driver="result = 1", inputs=lambda rng: {}, verify=lambda inputs, result: None,
                            mechanism=endless)
    output = integrity.RunOutput({"x": 1}, {}, [], "ok", 0.0, [], True)
    start = time.monotonic()
    verdicts = integrity.verify({"x": probe}, {"x": {}}, output, {"x": object()}, mechanism_seconds=0.5)
    assert time.monotonic() - start < 5
    assert not verdicts["x"].passed and "took longer than" in verdicts["x"].message
    with pytest.raises(checks.CheckFailure):
        integrity.within(0.2, time.sleep, 5)
