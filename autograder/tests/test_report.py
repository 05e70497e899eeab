"""grades.csv and the class report: statuses, scores per exercise, failing checks, integrity flags, plots."""

from __future__ import annotations

import csv
import json

import pytest

from grading import grade, manifest, report, samples, submissions, workspace
from grading.config import INTEGRITY_FILE

# one worker builds this module's graded classes (session fixtures) once: `--dist loadgroup`
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("report")]

UNIT = "01_derivatives"
ENTRY = manifest.unit(UNIT)
NOTEBOOK = f"{ENTRY['notebook']}.ipynb"
FULL = sum(exercise["points"] for exercise in ENTRY["exercises"])
FIRST = ENTRY["exercises"][0]["grade_id"]


@pytest.fixture(scope="session")
def graded(tmp_path_factory):
    root = workspace.create(tmp_path_factory.mktemp("report") / "course")
    autograder = root / "autograder"
    for student in ("correct", "wrong"):
        submissions.write(samples.samples(ENTRY)[student], autograder / "submitted" / student / UNIT / NOTEBOOK)
    (autograder / "submitted" / "broken" / UNIT).mkdir(parents=True)
    (autograder / "submitted" / "broken" / UNIT / NOTEBOOK).write_text("{ not json")
    config = autograder / "nbgrader_config.py"
    grader = grade.Grader(UNIT, grade.Options(workers=2, integrity=False, report=False, progress=False, config=config))
    grader.ensure_assignment()
    with grader.gradebook() as gb:
        gb.add_student("absent")
    grader.run()
    return root, config


def read_csv(root):
    with open(root / "autograder" / "grades.csv", newline="") as handle:
        return {row["student_id"]: row for row in csv.DictReader(handle)}


def test_without_integrity_files_the_report_says_the_checks_did_not_run(graded) -> None:
    root, config = graded
    _, reports = report.write_all(config, [UNIT])
    assert "Integrity checks were not run" in reports[0].read_text()


def test_csv_has_one_row_per_student_with_status_and_score(graded) -> None:
    root, config = graded
    report.write_all(config, csv_only=True)
    rows = read_csv(root)
    assert set(rows) == {"correct", "wrong", "broken", "absent"}
    assert list(next(iter(rows.values()))) == report.CSV_FIELDS
    got = {s: (r["status"], float(r["score"]), float(r["max_score"])) for s, r in rows.items()}
    assert got == {"correct": ("graded", FULL, FULL), "wrong": ("graded", 0.0, FULL),
                   "broken": ("malformed", 0.0, FULL), "absent": ("missing", 0.0, FULL)}
    assert "not valid JSON" in rows["broken"]["notes"] and rows["absent"]["notes"]
    assert rows["broken"]["needs_manual_grade"] == "True"


def test_the_export_follows_manual_grades(graded) -> None:
    from nbgrader.api import Gradebook

    root, config = graded
    with Gradebook(f"sqlite:///{root / 'autograder' / 'gradebook.db'}") as gb:
        gb.find_grade(FIRST, ENTRY["notebook"], UNIT, "wrong").manual_score = 1.0
        gb.db.commit()
    try:
        report.write_all(config, csv_only=True)
        assert float(read_csv(root)["wrong"]["score"]) == 1.0
    finally:
        with Gradebook(f"sqlite:///{root / 'autograder' / 'gradebook.db'}") as gb:
            gb.find_grade(FIRST, ENTRY["notebook"], UNIT, "wrong").manual_score = None
            gb.db.commit()


def test_report_shows_statuses_exercises_failing_checks_integrity_and_plots(graded) -> None:
    root, config = graded
    flag = f"{FIRST}: passed in the kernel (2 pt) but the out-of-kernel check gives 0 pt"
    integrity = root / "autograder" / "autograded" / "wrong" / UNIT / INTEGRITY_FILE
    integrity.write_text(json.dumps({"student": "wrong", "assignment": UNIT, "flags": [flag],
                                     "notebooks": {ENTRY["notebook"]: {"ran": True}}}))
    try:
        _, reports = report.write_all(config, [UNIT])
    finally:
        integrity.unlink()
    text = reports[0].read_text()
    folder = reports[0].parent
    assert "| graded | 2 |" in text and "| malformed | 1 |" in text and "| missing | 1 |" in text
    for exercise in ENTRY["exercises"]:
        assert f"`{exercise['grade_id']}`" in text
    failing = text.split("## Checks that fail most")[1].split("## Integrity")[0]
    assert "CheckFailure: Your" in failing and "#" in failing  # the wrong sample's messages, numbers masked
    integrity_part = text.split("## Integrity")[1].split("##")[0]
    assert "1 flagged" in integrity_part and report.inert_markdown(flag) in integrity_part
    attention = text.split("## Submissions that need a look")[1]
    assert "broken | malformed" in attention and "absent | missing" in attention
    for name in ("statuses.png", "scores.png", "exercises.png"):
        data = (folder / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
        assert f"]({name})" in text


def test_failure_lines_group_the_same_mistake() -> None:
    a = {"ename": "CheckFailure", "evalue": "Your slope at x = 0.5 is 1.2, but 2.4 was expected.\nmore"}
    b = {"ename": "CheckFailure", "evalue": "Your slope at x = -3 is 7e-3, but 1.4e-2 was expected."}
    assert report.mask(report.failure_line(a)) == report.mask(report.failure_line(b)) \
        == "CheckFailure: Your slope at x = # is #, but # was expected."


def test_a_check_that_could_not_run_is_not_counted_as_checked(graded) -> None:
    root, config = graded
    integrity = root / "autograder" / "autograded" / "wrong" / UNIT / INTEGRITY_FILE
    integrity.write_text(json.dumps({"student": "wrong", "assignment": UNIT, "flags": [],
                                     "notebooks": {ENTRY["notebook"]: {"ran": False, "error": "killed"}}}))
    try:
        _, reports = report.write_all(config, [UNIT])
        rows = read_csv(root)
    finally:
        integrity.unlink()
    part = reports[0].read_text().split("## Integrity")[1].split("##")[0]
    assert "ran for 0 submissions" in part and "could not run for 1 submissions (wrong)" in part
    assert rows["wrong"]["integrity"] == "failed"
