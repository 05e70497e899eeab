"""A class's rules in `make grade`: feedback released through the exchange, the late penalty as configured, a
second submission that counts while the first is kept, and a notebook the student renamed.

One small class is graded once (a student on time, one late, one who renamed the notebook, one whose
submission holds two candidates); the exchange tests run `nbgrader collect` on a course of their own.
"""

from __future__ import annotations

import csv
import json
import os
import time
from pathlib import Path

import pytest

from grading import feedback, grade, intake, manifest, report, samples, submissions, workspace

# one worker builds this module's graded classes (session fixtures) once: `--dist loadgroup`
pytestmark = pytest.mark.xdist_group("class_rules")

UNIT = "01_derivatives"
ENTRY = manifest.unit(UNIT)
NOTEBOOK_ID = ENTRY["notebook"]
NOTEBOOK = f"{NOTEBOOK_ID}.ipynb"
COURSE_ID = manifest.load()["course_id"]
DUE = "2026-01-15 00:00:00 UTC"
ON_TIME, LATE = "2026-01-10 12:00:00.000000 UTC", "2026-01-20 12:00:00.000000 UTC"
SECRETS = {"ontime": "a1" * 64, "late": "b2" * 64, "renamed": "c3" * 64, "ambiguous": "d4" * 64}


# --------------------------------------------------------------------------------------------------------------
# Matching a renamed notebook, and the submission's records (no grading)


@pytest.mark.parametrize("names, notebooks, matched", [
    ([NOTEBOOK], [NOTEBOOK_ID], NOTEBOOK),
    ([f"{NOTEBOOK_ID} (1).ipynb"], [NOTEBOOK_ID], f"{NOTEBOOK_ID} (1).ipynb"),
    ([f"{NOTEBOOK_ID.capitalize()}.ipynb"], [NOTEBOOK_ID], f"{NOTEBOOK_ID.capitalize()}.ipynb"),
    ([f"{NOTEBOOK_ID}-Copy1.ipynb"], [NOTEBOOK_ID], f"{NOTEBOOK_ID}-Copy1.ipynb"),
    (["Untitled.ipynb"], [NOTEBOOK_ID], "Untitled.ipynb"),  # the only notebook of a one-notebook assignment
    ([NOTEBOOK, f"{NOTEBOOK_ID} (1).ipynb"], [NOTEBOOK_ID], NOTEBOOK),  # its own name wins
    ([f"{NOTEBOOK_ID} (1).ipynb", "notes.ipynb"], [NOTEBOOK_ID], f"{NOTEBOOK_ID} (1).ipynb"),
])
def test_a_renamed_notebook_is_matched_when_unambiguous(tmp_path, names, notebooks, matched) -> None:
    for name in names:
        (tmp_path / name).write_text("{}")
    paths, problems, notes = intake.match_notebooks(tmp_path, notebooks)
    assert problems == {} and paths == {NOTEBOOK_ID: tmp_path / matched}
    assert notes == ([] if matched == NOTEBOOK else [f"{matched} graded as {NOTEBOOK} (the notebook was renamed; "
                                                     f"keep the name {NOTEBOOK} next time)"])


@pytest.mark.parametrize("names, notebooks, starts", [
    ([f"{NOTEBOOK_ID} (1).ipynb", f"{NOTEBOOK_ID.capitalize()}.ipynb"], [NOTEBOOK_ID], f"{NOTEBOOK} is not in"),
    (["Untitled.ipynb", "notes.ipynb"], [NOTEBOOK_ID], f"{NOTEBOOK} is not in"),
    (["Untitled.ipynb"], [NOTEBOOK_ID, "other"], f"{NOTEBOOK} is not in"),  # two notebooks wanted: no guess
    (["data.csv"], [NOTEBOOK_ID], f"no {NOTEBOOK} in the submission"),  # nothing to grade: missing
])
def test_an_ambiguous_or_absent_notebook_is_a_clear_problem(tmp_path, names, notebooks, starts) -> None:
    for name in names:
        (tmp_path / name).write_text("{}")
    paths, problems, _ = intake.match_notebooks(tmp_path, notebooks)
    assert NOTEBOOK_ID not in paths and problems[NOTEBOOK_ID].startswith(starts)
    if not starts.startswith("no "):
        assert all(name in problems[NOTEBOOK_ID] for name in names if name.endswith(".ipynb"))
        assert f"rename the right one to {NOTEBOOK}" in problems[NOTEBOOK_ID]


def test_the_records_are_copied_as_regular_files_only(tmp_path) -> None:
    src, dest, outside = tmp_path / "src", tmp_path / "dest", tmp_path / "solution.txt"
    src.mkdir(), dest.mkdir(), outside.write_text("a" * 128)
    (src / "timestamp.txt").write_text(ON_TIME)
    (src / "submission_secret.txt").write_text(SECRETS["ontime"])
    (src / "data.csv").write_text("x\n")
    assert intake.copy_records(src, dest) == []
    assert {p.name: p.read_text() for p in dest.iterdir()} == {"timestamp.txt": ON_TIME,
                                                               "submission_secret.txt": SECRETS["ontime"]}
    kernel = tmp_path / "run"
    kernel.mkdir()
    intake.copy_files(src, kernel, student=True)
    assert sorted(p.name for p in kernel.iterdir()) == ["data.csv"], "the records never reach the kernel"
    for name, make in (("link", lambda p: p.symlink_to(outside)), ("fifo", os.mkfifo),
                       ("big", lambda p: p.write_text("a" * 4096)), ("odd", lambda p: p.write_text("no secret"))):
        bad, out = tmp_path / f"bad-{name}", tmp_path / f"out-{name}"
        bad.mkdir(), out.mkdir()
        make(bad / "submission_secret.txt")
        (bad / "timestamp.txt").write_text("not a time" if name == "odd" else ON_TIME)
        notes = intake.copy_records(bad, out)
        assert not (out / "submission_secret.txt").exists(), name
        assert notes and all("cannot be released" in note for note in notes), (name, notes)
        assert (out / "timestamp.txt").exists() == (name != "odd")


# --------------------------------------------------------------------------------------------------------------
# A graded class: late penalty, renamed notebook, feedback released


def hand_in(root: Path, student: str, notebook, name: str = NOTEBOOK, stamp: str | None = ON_TIME) -> Path:
    folder = root / "autograder" / "submitted" / student / UNIT
    submissions.write(notebook, folder / name)
    if stamp:
        (folder / "timestamp.txt").write_text(stamp)
    (folder / "submission_secret.txt").write_text(SECRETS[student])
    return folder


@pytest.fixture(scope="session")
def graded(tmp_path_factory):
    root = workspace.create(tmp_path_factory.mktemp("rules") / "course")
    config = root / "autograder" / "nbgrader_config.py"
    with open(config, "a") as handle:
        handle.write('\nc.LateSubmissionPlugin.penalty_method = "zero"\n')
    # The due date, set before the first grade as the README says; generating the assignment keeps it.
    workspace.run_nbgrader(root, "db", "assignment", "add", UNIT, f"--duedate={DUE}")
    correct = samples.samples(ENTRY)["correct"]
    hand_in(root, "ontime", correct)
    hand_in(root, "late", correct, stamp=LATE)
    hand_in(root, "renamed", correct, name=f"{NOTEBOOK_ID} (1).ipynb")
    hand_in(root, "ambiguous", correct, name=f"{NOTEBOOK_ID} (1).ipynb")
    second = f"{NOTEBOOK_ID.capitalize()}.ipynb"
    submissions.write(correct, root / "autograder" / "submitted" / "ambiguous" / UNIT / second)
    options = grade.Options(workers=2, integrity=False, report=False, progress=False, config=config)
    results = {r.student: r for r in grade.Grader(UNIT, options).run()}
    report.write_all(config, assignments=[UNIT], csv_only=True)
    return root, config, results


def gradebook(root: Path) -> dict[str, tuple[float, float]]:
    """(raw score, late penalty) of each submission, from the gradebook."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{root / 'autograder' / 'gradebook.db'}", COURSE_ID) as gb:
        return {s.student.id: (float(s.score), float(s.late_submission_penalty or 0))
                for s in gb.find_assignment(UNIT).submissions}


@pytest.mark.slow
def test_a_late_submission_gets_the_configured_penalty(graded) -> None:
    root, _, results = graded
    scores = gradebook(root)
    full = results["ontime"].max_score
    assert results["ontime"].status == results["late"].status == "graded"
    assert scores["ontime"] == (full, 0.0), "on time: no penalty"
    assert scores["late"] == (full, full), "late, with penalty_method 'zero': the whole score"
    with open(root / "autograder" / "grades.csv", newline="") as handle:
        rows = {row["student_id"]: row for row in csv.DictReader(handle)}
    assert float(rows["late"]["late_penalty"]) == full and float(rows["ontime"]["late_penalty"]) == 0
    assert rows["late"]["timestamp"].startswith("2026-01-20 12:00:00")


@pytest.mark.slow
def test_a_renamed_notebook_is_graded_and_an_ambiguous_one_is_malformed(graded) -> None:
    root, _, results = graded
    renamed, ambiguous = results["renamed"], results["ambiguous"]
    assert renamed.status == "graded" and renamed.score == results["ontime"].score > 0
    assert f"{NOTEBOOK_ID} (1).ipynb graded as {NOTEBOOK}" in " ".join(renamed.notes)
    assert (root / "autograder" / "autograded" / "renamed" / UNIT / NOTEBOOK).exists()
    assert ambiguous.status == "malformed" and ambiguous.score == 0
    note = " ".join(ambiguous.notes)
    assert "cannot be told apart" in note and f"{NOTEBOOK_ID.capitalize()}.ipynb" in note, note
    status = json.loads((root / "autograder" / "autograded" / "ambiguous" / UNIT / "grading.json").read_text())
    assert status["status"] == "malformed"


@pytest.mark.slow
def test_feedback_is_released_to_the_exchange_under_the_submissions_secret(graded, capsys) -> None:
    from nbgrader.utils import notebook_hash

    root, config, _ = graded
    for student in ("ontime", "late", "renamed"):  # make grade keeps what release_feedback needs, as nbgrader
        folder = root / "autograder" / "autograded" / student / UNIT
        assert (folder / "submission_secret.txt").read_text() == SECRETS[student]
        assert (folder / "timestamp.txt").is_file()
    assert feedback.main([UNIT, "--config", str(config)]) == 0
    (root / "autograder" / "exchange").mkdir(mode=0o777)  # nbgrader's exchange, as the class hub makes it
    assert feedback.main([UNIT, "--release", "--config", str(config)]) == 0
    released = root / "autograder" / "exchange" / COURSE_ID / "feedback"
    for student in ("ontime", "late", "renamed"):
        page = released / f"{notebook_hash(secret=SECRETS[student], notebook_id=NOTEBOOK_ID)}.html"
        made = root / "autograder" / "feedback" / student / UNIT / f"{NOTEBOOK_ID}.html"
        assert page.read_bytes() == made.read_bytes(), student
    assert len(list(released.glob("*.html"))) == 3
    assert "released for: late, ontime, renamed" in capsys.readouterr().out

    # A student whose feedback lacks the records (handed in through a zip) is named and left out, not fatal.
    (root / "autograder" / "feedback" / "renamed" / UNIT / "submission_secret.txt").unlink()
    for page in released.glob("*.html"):
        page.unlink()
    assert feedback.main([UNIT, "--release", "--config", str(config)]) == 0
    out = capsys.readouterr()
    assert "not released: renamed" in out.err and "released for: late, ontime" in out.out
    assert len(list(released.glob("*.html"))) == 2


@pytest.mark.slow
def test_the_penalty_follows_a_score_the_out_of_kernel_check_lowers(graded) -> None:
    """The gradebook stage sets the penalty before the out-of-kernel verdicts; it is set again after them."""
    from nbgrader.api import Gradebook

    root, config, results = graded
    with Gradebook(f"sqlite:///{root / 'autograder' / 'gradebook.db'}", COURSE_ID) as gb:
        grades = gb.find_submission_notebook(NOTEBOOK_ID, UNIT, "late").grades
        verdicts = {g.name: {"passed": True, "points": float(g.max_score)}
                    for g in grades if g.cell.cell_type == "code"}
    first = sorted(verdicts)[0]
    verdicts[first] = {"passed": False, "points": 0.0}
    grader = grade.Grader(UNIT, grade.Options(workers=1, integrity=False, progress=False, config=config))
    assert grader.apply_integrity("late", NOTEBOOK_ID, {"ran": True, "exercises": verdicts})
    score, penalty = gradebook(root)["late"]
    assert 0 < score < results["late"].max_score and penalty == score, (score, penalty)
    assert gradebook(root)["ontime"] == (results["ontime"].max_score, 0.0)


# --------------------------------------------------------------------------------------------------------------
# A student who submits twice, in the exchange


ACCOUNTS_MODULE = "import os\n\n\ndef owner_matches(student, info):\n    return info.st_uid == os.getuid()\n"


@pytest.fixture(scope="session")
def exchange_course(tmp_path_factory) -> Path:
    root = workspace.create(tmp_path_factory.mktemp("twice") / "course")
    (root / "autograder" / "rules_accounts.py").write_text(ACCOUNTS_MODULE)
    inbound = root / "autograder" / "exchange" / COURSE_ID / "inbound"
    inbound.mkdir(parents=True)
    return root


def submit(root: Path, student: str, author: str, stamp: str) -> Path:
    """A folder as `nbgrader submit` makes it, its notebook saying who wrote it; ctimes need a moment apart."""
    time.sleep(0.05)
    folder = root / "autograder" / "exchange" / COURSE_ID / "inbound" / f"{student}+{UNIT}+{stamp}+abc123"
    folder.mkdir()
    (folder / "timestamp.txt").write_text(stamp)
    (folder / NOTEBOOK).write_text(json.dumps({"cells": [], "metadata": {"author": author}, "nbformat": 4,
                                               "nbformat_minor": 5}))
    return folder


def collect(root: Path, *options: str) -> str:
    workspace.run_nbgrader(root, "collect", UNIT, "--SafeExchangeCollect.owner_check=rules_accounts.owner_matches",
                           *options)
    return json.loads((root / "autograder" / "submitted" / "zoe" / UNIT / NOTEBOOK).read_text())["metadata"]["author"]


@pytest.mark.slow
def test_the_later_submission_counts_and_the_earlier_stays_in_the_exchange(exchange_course) -> None:
    first = submit(exchange_course, "zoe", "first", "2026-01-10 12:00:00.000000 UTC")
    second = submit(exchange_course, "zoe", "second", "2026-01-10 12:30:00.000000 UTC")
    assert collect(exchange_course) == "second"
    assert first.is_dir() and second.is_dir(), "collect copies; the earlier submission stays in the exchange"
    third = submit(exchange_course, "zoe", "third", "2026-01-10 13:00:00.000000 UTC")
    assert collect(exchange_course) == "second", "without --update, what was collected stays"
    assert collect(exchange_course, "--update") == "third", "--update takes the newer submission"
    assert all(json.loads((folder / NOTEBOOK).read_text())["metadata"]["author"] == author
               for folder, author in ((first, "first"), (second, "second"), (third, "third")))
