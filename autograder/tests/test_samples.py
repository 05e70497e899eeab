"""The sample submissions are up to date, and nbgrader gives each the score it should."""

from __future__ import annotations

import nbformat
import pytest

from grading import manifest, samples, workspace

SAMPLE_UNITS = [entry["id"] for entry in manifest.load()["units"]
                if samples.sample_path("correct", entry).exists()]


@pytest.fixture(params=SAMPLE_UNITS)
def entry(request) -> dict:
    return manifest.unit(request.param)


def test_samples_are_up_to_date(entry) -> None:
    for student, notebook in samples.samples(entry).items():
        committed = nbformat.read(samples.sample_path(student, entry), as_version=4)
        assert committed == notebook, f"samples/{student}/{entry['id']} is stale: run `make samples`"


@pytest.mark.slow
def test_samples_get_full_zero_zero_and_partial_marks(entry, tmp_path) -> None:
    students = {student: nbformat.read(samples.sample_path(student, entry), as_version=4)
                for student in ("correct", "wrong", "untouched", "partial")}
    scores = workspace.autograde(workspace.create(tmp_path / "course"), entry["id"], students)
    points = {exercise["grade_id"]: exercise["points"] for exercise in entry["exercises"]
              if not exercise.get("manual")}  # a manually graded cell waits for an instructor
    assert scores["correct"]["total"] == sum(points.values())
    assert scores["wrong"]["total"] == 0
    assert scores["untouched"]["total"] == 0
    assert scores["partial"]["total"] == sum(points[g] for g in samples.partial_exercises(entry))


def test_at_least_one_unit_has_samples() -> None:
    assert SAMPLE_UNITS, "autograder/samples/ is empty: run `make samples`"
