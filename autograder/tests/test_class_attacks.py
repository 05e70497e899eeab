"""A student attacking the class rules of 42dde34: the renamed-notebook match, the submission's records
(`timestamp.txt`, `submission_secret.txt`) kept for `nbgrader release_feedback`, and the release itself.

The student controls every name and byte of their submission folder. What must hold: nothing outside that
folder is ever graded as theirs; their own files only cost themselves, with a message; the late penalty
follows the collector's time, never the student's; the release still works for everyone else and never puts
one student's feedback where another's is fetched. Unit-level where possible; the release tests run
`nbgrader release_feedback` once or twice on a course copy (no grading).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from test_class_rules import COURSE_ID, NOTEBOOK, NOTEBOOK_ID, ON_TIME, SECRETS, UNIT

from grading import feedback, intake, workspace

# --------------------------------------------------------------------------------------------------------------
# Matching: nothing outside the student's folder, nothing that raises, nothing lost (held)


def test_a_link_named_as_a_renamed_notebook_never_grades_a_classmates_work(tmp_path) -> None:
    """`Derivatives.ipynb -> ../classmate/derivatives.ipynb` is matched by name, but read it is refused."""
    classmate = tmp_path / "classmate" / NOTEBOOK
    classmate.parent.mkdir()
    classmate.write_text('{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}')
    mine = tmp_path / "me"
    mine.mkdir()
    for name in (f"{NOTEBOOK_ID.capitalize()}.ipynb", f"{NOTEBOOK_ID} (1).ipynb"):
        for old in mine.iterdir():
            old.unlink()
        (mine / name).symlink_to(classmate)
        paths, problems, _ = intake.match_notebooks(mine, [NOTEBOOK_ID])
        assert problems == {}
        with pytest.raises(intake.Malformed, match="symbolic link"):
            intake.read_submission(paths[NOTEBOOK_ID])


@pytest.mark.parametrize("name", [
    "derivatіves.ipynb",  # a Cyrillic i: not the notebook's name, but the only notebook of the unit
    "d" * 249 + ".ipynb",  # the longest name the file system allows
    "line\nbreak (1).ipynb", "..ipynb", " .ipynb", "-Copy1.ipynb", "(1).ipynb",
    "<img src=x onerror=alert(1)>.ipynb", "=cmd|' calc'!A0.ipynb",
])
def test_odd_names_never_raise_and_only_the_students_own_file_is_taken(tmp_path, name) -> None:
    (tmp_path / name).write_text("{}")
    paths, problems, notes = intake.match_notebooks(tmp_path, [NOTEBOOK_ID])
    assert problems == {} and paths == {NOTEBOOK_ID: tmp_path / name} and len(notes) == 1


def test_a_pathological_name_is_matched_quickly(tmp_path) -> None:
    names = [" 1" * 120 + ".ipynb", "-" * 200 + "x.ipynb", " (1)" * 60 + ".ipynb", "copy" * 60 + ".ipynb"]
    for name in names:
        (tmp_path / name).write_text("{}")
    start = time.monotonic()
    _, problems, _ = intake.match_notebooks(tmp_path, [NOTEBOOK_ID])
    assert time.monotonic() - start < 1.0 and NOTEBOOK_ID in problems  # four candidates: ambiguous, a message


def test_a_scratch_notebook_beside_the_right_one_costs_nothing(tmp_path) -> None:
    for name in (NOTEBOOK, "Untitled.ipynb", f"{NOTEBOOK_ID}-Copy1.ipynb", f"{NOTEBOOK_ID.upper()}.ipynb"):
        (tmp_path / name).write_text("{}")
    assert intake.match_notebooks(tmp_path, [NOTEBOOK_ID]) == ({NOTEBOOK_ID: tmp_path / NOTEBOOK}, {}, [])


def test_an_unlistable_folder_is_a_message_not_a_crash(tmp_path) -> None:
    (tmp_path / "sub").mkdir()
    paths, problems, _ = intake.match_notebooks(tmp_path / "sub" / "gone", [NOTEBOOK_ID])
    assert paths == {} and problems[NOTEBOOK_ID].startswith("no ")


@pytest.mark.parametrize("name", [f"alice/{NOTEBOOK_ID.capitalize()}.ipynb", f"alice/{NOTEBOOK_ID} (1).ipynb",
                                  f"alice/{NOTEBOOK_ID}-Copy1.ipynb"])
def test_a_renamed_notebook_handed_in_through_the_lms_is_graded(tmp_path, name) -> None:
    import zipfile

    from grading import collect

    archive = tmp_path / "class.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr(name, '{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}')
    result = collect.collect(archive, UNIT, tmp_path / "submitted", notebooks=[NOTEBOOK_ID])
    folder = tmp_path / "submitted" / "alice" / UNIT
    assert not result.refused and folder.is_dir()
    paths, problems, notes = intake.match_notebooks(folder, [NOTEBOOK_ID])
    assert problems == {} and len(notes) == 1, "graded as the unit's notebook, with a note"


@pytest.mark.parametrize("broken", ["copy_records", "match_notebooks"])
def test_a_record_or_match_that_raises_costs_only_that_student_with_a_message(monkeypatch, broken) -> None:
    """`Preparation.prepare` contains whatever the submission makes the intake raise."""
    import contextlib

    from grading.preparation import Preparation

    class Book:
        def update_or_create_student(self, *args, **kwargs) -> None: ...
        def update_or_create_submission(self, *args, **kwargs) -> None: ...

    class Stub(Preparation):
        assignment = UNIT

        @contextlib.contextmanager
        def gradebook(self):
            yield Book()

        def _prepare(self, student, notebooks):
            getattr(intake, broken)(Path("/nonexistent"), notebooks)
            return [], {}, []

    def boom(*args, **kwargs):
        raise OSError("a name the file system will not take")

    monkeypatch.setattr(intake, broken, boom)
    jobs, problems, _ = Stub().prepare("mallory", [NOTEBOOK_ID])
    assert jobs == [] and "could not be prepared" in problems[NOTEBOOK_ID] and "file system" in problems[NOTEBOOK_ID]


# --------------------------------------------------------------------------------------------------------------
# The records: special files, odd content; the student's timestamp is never the submission time (held)


@pytest.mark.parametrize("secret", [
    b"", b"   \n", b"a" * 15, "é".encode() * 20, b"a" * 64 + b"\n" + b"b" * 64, b"a" * 64 + b"\x00",
    b"a" * 2000,
])
def test_an_odd_secret_is_left_out_with_a_note(tmp_path, secret) -> None:
    src, dest = tmp_path / "src", tmp_path / "dest"
    src.mkdir(), dest.mkdir()
    (src / "submission_secret.txt").write_bytes(secret)
    notes = intake.copy_records(src, dest)
    assert not (dest / "submission_secret.txt").exists()
    assert len(notes) == 1 and "cannot be released" in notes[0]


@pytest.mark.parametrize("make", ["directory", "dangling link", "link to /dev/zero", "fifo"])
def test_a_special_record_is_left_out_and_never_blocks(tmp_path, make) -> None:
    src, dest = tmp_path / "src", tmp_path / "dest"
    src.mkdir(), dest.mkdir()
    for name in intake.SUBMISSION_RECORDS:
        path = src / name
        {"directory": path.mkdir, "dangling link": lambda p=path: p.symlink_to(tmp_path / "nowhere"),
         "link to /dev/zero": lambda p=path: p.symlink_to("/dev/zero"),
         "fifo": lambda p=path: os.mkfifo(p)}[make]()
    notes = intake.copy_records(src, dest)
    assert list(dest.iterdir()) == [] and len(notes) == 2


def test_records_that_cannot_be_written_cost_a_note_only(tmp_path) -> None:
    (tmp_path / "timestamp.txt").write_text(ON_TIME)
    (tmp_path / "submission_secret.txt").write_text(SECRETS["ontime"])
    notes = intake.copy_records(tmp_path, tmp_path / "no" / "such" / "folder")
    assert len(notes) == 2 and all("cannot be released" in note for note in notes)


def test_the_students_own_timestamp_never_reaches_the_submitted_folder(tmp_path) -> None:
    """The gradebook's time (hence the late penalty) is `submitted/<s>/<a>/timestamp.txt`, which the exchange
    collector writes from the folder's ctime; the student's own file at the top is not even copied."""
    from nbgrader.exchange.default.collect import ExchangeCollect  # noqa: F401 -- nbgrader importable

    from grading import exchange

    src = tmp_path / "inbound"
    src.mkdir()
    (src / "timestamp.txt").write_text("2000-01-01 00:00:00.000000 UTC")
    (src / NOTEBOOK).write_text("{}")
    fd = os.open(src, exchange.OPEN_DIRECTORY)
    try:
        plan, newest = exchange._scan(fd, str(src), lambda folder, names: [], 1 << 20, 4, 10)
    finally:
        os.close(fd)
    assert [path for path, _ in plan] == [NOTEBOOK] and newest > time.time() - 3600


# --------------------------------------------------------------------------------------------------------------
# The release: one student's records never stop it or aim it at another student


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> tuple[Path, Path]:
    root = workspace.create(tmp_path_factory.mktemp("attacks") / "course")
    (root / "autograder" / "exchange").mkdir(mode=0o777)
    return root, root / "autograder" / "nbgrader_config.py"


def feedback_of(root: Path, student: str, secret: bytes | None, page: str = "") -> Path:
    """A feedback folder as `make feedback` leaves it (or as plain nbgrader autograde would, unchecked)."""
    folder = root / "autograder" / "feedback" / student / UNIT
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{NOTEBOOK_ID}.html").write_text(page or f"<html>feedback of {student}</html>")
    (folder / "timestamp.txt").write_text(ON_TIME)
    if secret is not None:
        (folder / "submission_secret.txt").write_bytes(secret)
    return folder


def released(root: Path) -> dict[str, str]:
    from nbgrader.utils import notebook_hash

    folder = root / "autograder" / "exchange" / COURSE_ID / "feedback"
    pages = {p.name: p.read_text() for p in folder.glob("*.html")} if folder.is_dir() else {}
    names = {f"{notebook_hash(secret=s, notebook_id=NOTEBOOK_ID)}.html": s for s in SECRETS.values()}
    return {names.get(name, name): text for name, text in pages.items()}


def reset(root: Path) -> None:
    import shutil

    shutil.rmtree(root / "autograder" / "feedback", ignore_errors=True)
    shutil.rmtree(root / "autograder" / "exchange" / COURSE_ID, ignore_errors=True)


def test_a_copied_secret_never_puts_ones_feedback_where_anothers_is_fetched(course, capsys) -> None:
    """hole: the release wrote every page to md5(secret + notebook id) without looking for a secret two students
    share; a student who copied a classmate's submission_secret.txt (or whose classmate shared it) had their
    page overwrite the classmate's, or be overwritten: the classmate fetches the attacker's feedback."""
    root, config = course
    reset(root)
    feedback_of(root, "victim", SECRETS["ontime"].encode())
    feedback_of(root, "attacker", SECRETS["ontime"].encode(), "<html>the attacker's page</html>")
    feedback_of(root, "bystander", SECRETS["late"].encode())
    assert feedback.release(config, UNIT) == 0
    err = capsys.readouterr().err
    assert released(root) == {SECRETS["late"]: "<html>feedback of bystander</html>"}
    assert "not released: attacker" in err and "not released: victim" in err


def test_an_invalid_secret_beside_the_feedback_costs_only_its_student(course, capsys) -> None:
    """hole: the release checked only that the records are regular files; an empty secret (feedback made after a
    plain `nbgrader autograde`, which copies the student's file unchecked) made nbgrader's notebook_hash assert
    and stopped the release of the whole class."""
    root, config = course
    reset(root)
    feedback_of(root, "aaa", b"")  # sorted first: nbgrader stops at it
    feedback_of(root, "bbb", b"\xff" * 40)
    feedback_of(root, "ontime", SECRETS["ontime"].encode())
    feedback_of(root, "zzz", b"")
    assert feedback.release(config, UNIT) == 0
    err = capsys.readouterr().err
    assert released(root) == {SECRETS["ontime"]: "<html>feedback of ontime</html>"}
    assert all(f"not released: {student}" in err for student in ("aaa", "bbb", "zzz"))
