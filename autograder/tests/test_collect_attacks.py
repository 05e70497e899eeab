"""Hostile class archives and exchange folders: what a student controls never reaches another student.

Each test builds one attack of issue 9 (class 4: the zip collector; class 6: links in the nbgrader exchange)
in two or three variants, and checks that the victim keeps their notebook, that no student is invented, that
no submission time comes from a file the student wrote, and that a bad archive makes only its owner a
problem (reported with a readable reason) while the rest of the class is collected.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import stat
import unicodedata
import zipfile
from collections.abc import Callable
from pathlib import Path

import nbformat
import pytest

from grading import collect, manifest

# one worker builds this module's graded classes (session fixtures) once: `--dist loadgroup`
pytestmark = pytest.mark.xdist_group("collect_attacks")

A = "01_derivatives"
NB = "derivatives.ipynb"


def notebook(owner: str) -> bytes:
    """A tiny valid notebook whose content says who wrote it."""
    return json.dumps({"cells": [], "metadata": {"owner": owner}, "nbformat": 4, "nbformat_minor": 5}).encode()


def zip_bytes(entries: list[tuple[str, bytes]] | dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    items = entries.items() if isinstance(entries, dict) else entries
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, data in items:
            archive.writestr(name, data)
    return buffer.getvalue()


def patch(data: bytes, name: str, *, flags: int = 0, method: int | None = None, raw_name: bytes | None = None,
          local_only: bool = False, crc: bool = False) -> bytes:
    """Rewrite the headers of entry `name` the way a hostile tool would (zipfile never writes these)."""
    buffer = bytearray(data)
    encoded = name.encode()
    layouts = [(b"PK\x03\x04", 6, 8, 14, 26, 30)] + ([] if local_only else [(b"PK\x01\x02", 8, 10, 16, 28, 46)])
    for signature, flag_at, method_at, crc_at, length_at, name_at in layouts:
        position = buffer.find(signature)
        while position >= 0:
            length = int.from_bytes(buffer[position + length_at:position + length_at + 2], "little")
            if bytes(buffer[position + name_at:position + name_at + length]) == encoded:
                old = int.from_bytes(buffer[position + flag_at:position + flag_at + 2], "little")
                buffer[position + flag_at:position + flag_at + 2] = (old | flags).to_bytes(2, "little")
                if method is not None:
                    buffer[position + method_at:position + method_at + 2] = method.to_bytes(2, "little")
                if crc:
                    buffer[position + crc_at] ^= 0xFF
                if raw_name is not None:
                    assert len(raw_name) == length
                    buffer[position + name_at:position + name_at + length] = raw_name
            position = buffer.find(signature, position + 4)
    return bytes(buffer)


def class_archive(tmp_path: Path, entries: list[tuple[str, bytes]]) -> Path:
    path = tmp_path / "class.zip"
    path.write_bytes(zip_bytes(entries))
    return path


def owner_of(submitted: Path, student: str) -> str | None:
    path = submitted / student / A / NB
    return json.loads(path.read_bytes())["metadata"]["owner"] if path.exists() else None


def students_on_disk(submitted: Path) -> set[str]:
    return {p.name for p in submitted.iterdir()} if submitted.exists() else set()


def run(archive: Path, tmp_path: Path, **kwargs) -> tuple[collect.Collected, Path]:
    target = tmp_path / "submitted"
    return collect.collect(archive, A, target, notebooks=["derivatives"], **kwargs), target


# --------------------------------------------------------------------------------------------------------------
# Class 4: a student's nested zip belongs to that student and nobody else


@pytest.mark.parametrize("entry", [
    f"bob/{A}/{NB}",
    f"submitted/bob/{A}/{NB}",
    f"bob/{NB}",
    f"bob_{NB}",
    f"bob_attempt_2026-01-01-00-00-00_{NB}",
])
def test_a_nested_zip_cannot_overwrite_a_classmates_notebook(tmp_path, entry) -> None:
    archive = class_archive(tmp_path, [(f"bob_{NB}", notebook("bob")),
                                       ("alice.zip", zip_bytes({entry: notebook("alice")}))])
    result, submitted = run(archive, tmp_path)
    assert owner_of(submitted, "bob") == "bob", "alice's zip overwrote bob's notebook"
    assert owner_of(submitted, "alice") == "alice", "everything in alice's zip is alice's"
    assert students_on_disk(submitted) == {"alice", "bob"}
    assert result.problems == {}


@pytest.mark.parametrize("entry", ["../bob/" + NB, "/bob/" + NB, "..\\bob\\" + NB, f"{A}/../../bob/{A}/{NB}"])
def test_a_nested_zip_with_an_escaping_name_is_its_owners_problem(tmp_path, entry) -> None:
    archive = class_archive(tmp_path, [(f"bob_{NB}", notebook("bob")),
                                       ("alice.zip", zip_bytes({entry: notebook("alice")}))])
    result, submitted = run(archive, tmp_path)
    assert owner_of(submitted, "bob") == "bob"
    assert set(result.problems) == {"alice"} and "name" in result.problems["alice"]
    assert students_on_disk(submitted) == {"bob"}, "nothing of a problem student is written"


@pytest.mark.parametrize("entries", [
    {f"zed/{A}/{NB}": notebook("alice")},
    {f"mallory_{NB}": notebook("alice")},
    {f"submitted/zed/{A}/{NB}": notebook("alice"), "zed/notes.txt": b"hi"},
])
def test_a_nested_zip_cannot_invent_a_student(tmp_path, entries) -> None:
    archive = class_archive(tmp_path, [("alice.zip", zip_bytes(entries))])
    result, submitted = run(archive, tmp_path)
    assert students_on_disk(submitted) == {"alice"} and set(result.students) == {"alice"}
    assert owner_of(submitted, "alice") == "alice"


@pytest.mark.parametrize("layout", ["flat names", "zips", "nested folder", "lms zip names"])
def test_student_ids_are_matched_whole(tmp_path, layout) -> None:
    entries = {
        "flat names": [(f"anna_{NB}", notebook("anna")), (f"ann_{NB}", notebook("ann"))],
        "zips": [("anna_submission.zip", zip_bytes({NB: notebook("anna")})),
                 ("ann.zip", zip_bytes({NB: notebook("ann")}))],
        "nested folder": [(f"anna_{NB}", notebook("anna")),
                          ("ann.zip", zip_bytes([(f"anna/{A}/{NB}", notebook("ann"))]))],
        "lms zip names": [("anna_attempt_2026-01-02-10-00-00_x.zip", zip_bytes({NB: notebook("anna")})),
                          ("ann_attempt_2026-01-02-11-00-00_anna.zip", zip_bytes({f"anna_{NB}": notebook("ann")}))],
    }[layout]
    result, submitted = run(class_archive(tmp_path, entries), tmp_path)
    assert owner_of(submitted, "ann") == "ann" and owner_of(submitted, "anna") == "anna"
    assert students_on_disk(submitted) == {"ann", "anna"} and result.problems == {}


def test_student_ids_differing_only_by_case_are_both_flagged(tmp_path) -> None:
    archive = class_archive(tmp_path, [(f"Ann/{A}/{NB}", notebook("Ann")), (f"ann/{A}/{NB}", notebook("ann")),
                                       (f"bob/{A}/{NB}", notebook("bob"))])
    result, submitted = run(archive, tmp_path)
    assert set(result.problems) == {"Ann", "ann"} and "case" in result.problems["ann"]
    assert students_on_disk(submitted) == {"bob"}


# --------------------------------------------------------------------------------------------------------------
# Class 4: the submission time is the LMS's, never a file the student wrote


@pytest.mark.parametrize("entries, expected", [
    ([("alice.zip", zip_bytes({NB: notebook("alice"), "timestamp.txt": b"2020-01-01 00:00:00"}))], None),
    ([("alice_attempt_2026-01-11-09-30-00_hw.zip",
       zip_bytes({NB: notebook("alice"), f"submitted/alice/{A}/timestamp.txt": b"2020-01-01 00:00:00"}))],
     "2026-01-11-09-30-00"),
    ([(f"alice/{NB}", notebook("alice")), ("alice/timestamp.txt", b"2020-01-01 00:00:00")], None),
    ([("alice.zip", zip_bytes({f"alice/{A}/{NB}": notebook("alice"),
                               f"alice/{A}/timestamp.txt": b"2020-01-01 00:00:00"}))], None),
])
def test_a_student_cannot_set_their_own_submission_time(tmp_path, entries, expected) -> None:
    result, submitted = run(class_archive(tmp_path, entries), tmp_path)
    stamp = submitted / "alice" / A / "timestamp.txt"
    assert owner_of(submitted, "alice") == "alice"
    assert (stamp.read_text() if stamp.exists() else None) == expected
    assert any("timestamp.txt" in name for name, _ in result.refused), "the refused timestamp is listed"


def test_the_nbgrader_layout_timestamp_is_kept_but_must_be_a_date(tmp_path) -> None:
    archive = class_archive(tmp_path, [(f"submitted/alice/{A}/{NB}", notebook("alice")),
                                       (f"submitted/alice/{A}/timestamp.txt", b"2026-01-10 12:00:00"),
                                       (f"submitted/bob/{A}/{NB}", notebook("bob")),
                                       (f"submitted/bob/{A}/timestamp.txt", b"whenever I like")])
    result, submitted = run(archive, tmp_path)
    assert (submitted / "alice" / A / "timestamp.txt").read_text() == "2026-01-10 12:00:00"
    assert not (submitted / "bob" / A / "timestamp.txt").exists() and owner_of(submitted, "bob") == "bob"
    assert "not a date" in dict(result.refused)[f"submitted/bob/{A}/timestamp.txt"]


# --------------------------------------------------------------------------------------------------------------
# Class 4: one bad archive makes one student a problem; the class is still collected


def _nested(entries: dict[str, bytes], **how) -> Callable[[], bytes]:
    def build() -> bytes:
        data = zip_bytes(entries)
        return patch(data, next(iter(entries)), **how) if how else data
    return build


def _many_entries() -> bytes:
    return zip_bytes([(f"f{i}.txt", b"") for i in range(20_001)] + [(NB, notebook("mallory"))],
                     compression=zipfile.ZIP_STORED)


def _symlink_entry() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        info = zipfile.ZipInfo(NB)
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(info, "/etc/passwd")
    return buffer.getvalue()


def _corrupt_deflate() -> bytes:
    data = bytearray(zip_bytes({NB: notebook("mallory") * 50}))
    start = 30 + len(NB)
    data[start + 5:start + 25] = b"\xff" * 20
    return bytes(data)


CAFE_NFC = unicodedata.normalize("NFC", "café.csv")
CAFE_NFD = unicodedata.normalize("NFD", "café.csv")

BAD_ARCHIVES: dict[str, tuple[Callable[[], bytes], str]] = {
    "encrypted entry": (_nested({NB: notebook("mallory")}, flags=0x1), "encrypted"),
    "deflate64 (method 9)": (_nested({NB: notebook("mallory")}, method=9), "compression"),
    "bogus method 99": (_nested({NB: notebook("mallory")}, method=99), "compression"),
    "non-UTF-8 name": (_nested({"cafX.csv": b"x", NB: notebook("mallory")}, flags=0x800, raw_name=b"caf\xe9.csv"),
                       "name"),
    "NUL in name": (_nested({"derivatives.ipynb.exe": b"MZ"}, raw_name=b"derivatives.ipynb\x00exe"), "name"),
    "header name differs": (_nested({"derivatives.ipynb": notebook("mallory")}, local_only=True,
                                    raw_name=b"derivatives.ipynX"), "valid zip"),
    "bad CRC": (_nested({NB: notebook("mallory")}, crc=True), "valid zip"),
    "corrupt deflate stream": (_corrupt_deflate, "valid zip"),
    "backslash name": (_nested({"sub\\" + NB: notebook("mallory")}), "name"),
    "over-long name": (_nested({"a" * 300 + ".csv": b"x", NB: notebook("mallory")}), "long"),
    "over-long path": (_nested({("d" * 200 + "/") * 25 + NB: notebook("mallory")}), "long"),
    "names differing by case": (_nested({"data.csv": b"1", "DATA.csv": b"2", NB: notebook("mallory")}), "case"),
    "names differing by normalisation": (_nested({CAFE_NFC: b"1", CAFE_NFD: b"2", NB: notebook("mallory")}), "case"),
    "symlink entry": (_symlink_entry, "symlink"),
    "not a zip at all": (lambda: b"PK\x03\x04 this is not a zip", "valid zip"),
    "zip bomb": (_nested({NB: b" " * (16 << 20)}), "ratio"),
    "nested zip bomb": (_nested({"inner.zip": zip_bytes({NB: b" " * (16 << 20)}), NB: notebook("mallory")}),
                        "archive inside"),
    "20001 entries": (_many_entries, "entries"),
}


@pytest.mark.parametrize("attack", list(BAD_ARCHIVES))
def test_a_bad_nested_archive_makes_only_its_owner_a_problem(tmp_path, attack) -> None:
    build, keyword = BAD_ARCHIVES[attack]
    archive = class_archive(tmp_path, [(f"alice_{NB}", notebook("alice")), ("mallory.zip", build()),
                                       ("zoe.zip", zip_bytes({NB: notebook("zoe")}))])
    result, submitted = run(archive, tmp_path)
    assert set(result.problems) == {"mallory"}, result.problems
    reason = result.problems["mallory"]
    assert keyword in reason.lower() and "Traceback" not in reason and len(reason) < 400
    assert owner_of(submitted, "alice") == "alice" and owner_of(submitted, "zoe") == "zoe"
    assert students_on_disk(submitted) == {"alice", "zoe"}, "nothing of a problem student is written"
    assert sorted(result.students) == ["alice", "zoe"]


@pytest.mark.parametrize("how, keyword", [
    (dict(flags=0x1), "encrypted"),
    (dict(method=9), "compression"),
    (dict(crc=True), "valid zip"),
])
def test_an_unreadable_entry_of_the_class_archive_is_its_students_problem(tmp_path, how, keyword) -> None:
    victim = f"bob/{A}/{NB}"
    data = patch(zip_bytes([(victim, notebook("bob")), (f"alice/{A}/{NB}", notebook("alice"))]), victim, **how)
    (tmp_path / "class.zip").write_bytes(data)
    result, submitted = run(tmp_path / "class.zip", tmp_path)
    assert set(result.problems) == {"bob"} and keyword in result.problems["bob"].lower()
    assert students_on_disk(submitted) == {"alice"}


def test_a_class_archive_whose_student_file_is_a_corrupt_zip(tmp_path) -> None:
    archive = class_archive(tmp_path, [("bob.zip", b"this is not a zip"), (f"carol_{NB}", notebook("carol")),
                                       ("dave.zip", zip_bytes({NB: notebook("dave")}))])
    result, submitted = run(archive, tmp_path)
    assert set(result.problems) == {"bob"} and "valid zip" in result.problems["bob"]
    assert owner_of(submitted, "carol") == "carol" and owner_of(submitted, "dave") == "dave"


def test_the_cli_prints_the_problems(tmp_path, capsys) -> None:
    archive = class_archive(tmp_path, [("bob.zip", b"this is not a zip"), (f"carol_{NB}", notebook("carol"))])
    code = collect.main([A, str(archive), "--submitted", str(tmp_path / "submitted")])
    out = capsys.readouterr().out
    assert code == 0
    assert "problem bob:" in out and "valid zip" in out
    assert owner_of(tmp_path / "submitted", "carol") == "carol"


# --------------------------------------------------------------------------------------------------------------
# End to end: a hostile class zip through the grader


@pytest.mark.slow
def test_a_hostile_class_zip_still_grades_the_honest_students(tmp_path, capsys) -> None:
    from grading import grade, submissions, workspace

    entry = manifest.unit(A)
    root = workspace.create(tmp_path / "course")
    solved = nbformat.writes(submissions.solved(entry)).encode()
    stub = nbformat.writes(submissions.release(entry)).encode()
    hostile = zip_bytes({f"bob/{A}/{NB}": stub, "notes.txt": b"x"})
    hostile = patch(hostile, "notes.txt", flags=0x1)  # and one encrypted entry, which used to stop the class
    archive = class_archive(tmp_path, [(f"bob_{NB}", solved), ("mallory.zip", hostile),
                                       ("eve.zip", zip_bytes({("d" * 200 + "/") * 25 + NB: stub}))])
    options = grade.Options(workers=2, cell_timeout=60, notebook_timeout=400, integrity=False, report=False,
                            progress=False, students=("bob", "mallory", "eve"),
                            config=root / "autograder" / "nbgrader_config.py")
    results = {r.student: r for r in grade.grade(A, options, zip_path=archive)}
    assert results["bob"].status == "graded" and results["bob"].score == results["bob"].max_score > 0
    for student, why in (("mallory", "encrypted"), ("eve", "")):
        assert results[student].status == "malformed" and results[student].score == 0
        assert any("could not be collected" in note and why in note for note in results[student].notes)
    assert not (root / "autograder" / "submitted" / "mallory").exists()
    err = capsys.readouterr().err
    assert "problem mallory:" in err and "encrypted" in err and "problem eve:" in err


# --------------------------------------------------------------------------------------------------------------
# Class 6: links planted in the nbgrader exchange are never followed


# Tests run as root and cannot create Unix accounts: the course's owner check (`SafeExchangeCollect.owner_check`)
# is pointed at this stand-in, where a student's account is the uid in ACCOUNTS, and the test runner's otherwise.
ACCOUNTS = {"alice": 20001, "bob": 20002, "mallory": 20003, "carol": 20004}
ACCOUNTS_MODULE = f"""import os
ACCOUNTS = {ACCOUNTS!r}


def owner_matches(student, info):
    return info.st_uid == ACCOUNTS.get(student, os.getuid())
"""


@pytest.fixture(scope="session")
def course(tmp_path_factory) -> Path:
    from grading import workspace

    root = workspace.create(tmp_path_factory.mktemp("exchange") / "course")
    workspace.run_nbgrader(root, "generate_assignment", A, "--force")
    (root / "autograder" / "exchange_accounts.py").write_text(ACCOUNTS_MODULE)
    return root


@pytest.fixture
def inbound(course) -> Path:
    """An empty exchange inbound folder, laid out as nbgrader's own; students may write, not list, it."""
    for runtime in ("exchange", "submitted"):
        shutil.rmtree(course / "autograder" / runtime, ignore_errors=True)
    folder = course / "autograder" / "exchange" / manifest.load()["course_id"] / "inbound"
    folder.mkdir(parents=True)
    os.chmod(folder.parent.parent, 0o777)
    os.chmod(folder, 0o733)
    return folder


def submission(inbound: Path, student: str, stamp: str = "2026-01-10 12:00:00.000000 UTC") -> Path:
    """A submission folder as `nbgrader submit` makes it."""
    folder = inbound / f"{student}+{A}+{stamp}+{student[:3]}123"
    folder.mkdir()
    (folder / "timestamp.txt").write_text(stamp)
    return folder


def collect_exchange(course: Path, *options: str, accounts: bool = True) -> tuple[str, Path]:
    """Run `nbgrader collect`; with `accounts`, each student's Unix account is the one in ACCOUNTS."""
    from grading import workspace

    if accounts:
        options = ("--SafeExchangeCollect.owner_check=exchange_accounts.owner_matches", *options)
    return workspace.run_nbgrader(course, "collect", A, *options).stderr, course / "autograder" / "submitted"


@pytest.mark.slow
def test_nbgrader_collect_copies_no_linked_content(course, inbound) -> None:
    source = course / "source" / A / NB
    secret = source.read_bytes()
    (submission(inbound, "honest") / NB).write_bytes(notebook("honest"))
    (submission(inbound, "mallory") / NB).symlink_to(source)  # the notebook is a link to the instructor's source
    (inbound / f"trudy+{A}+2026-01-10 12:00:00.000000 UTC+tru123").symlink_to(source.parent, target_is_directory=True)
    oscar = submission(inbound, "oscar")
    (oscar / NB).write_bytes(notebook("oscar"))
    (oscar / "extra").mkdir()
    (oscar / "extra" / "solution.ipynb").symlink_to(source)  # a link inside a subfolder
    (submission(inbound, "peggy") / "data").symlink_to(source.parent, target_is_directory=True)  # a folder link

    log, submitted = collect_exchange(course)
    assert owner_of(submitted, "honest") == "honest"
    leaked = [str(p.relative_to(submitted)) for p in submitted.rglob("*")
              if p.is_symlink() or (p.is_file() and (p.read_bytes() == secret or b"BEGIN SOLUTION" in p.read_bytes()))]
    assert leaked == [], f"instructor content reached submitted/: {leaked}"
    for student in ("mallory", "trudy", "oscar", "peggy"):
        assert not (submitted / student / A).exists(), f"nothing of {student}'s linked submission is copied"
        assert f"student '{student}'" in log and "link" in log, f"the log names {student}"


@pytest.mark.slow
def test_one_bad_exchange_folder_does_not_stop_the_collect(course, inbound) -> None:
    (submission(inbound, "honest") / NB).write_bytes(notebook("honest"))
    (submission(inbound, "eve", stamp="not a time at all") / NB).write_bytes(notebook("eve"))
    (submission(inbound, "-rf") / NB).write_bytes(notebook("-rf"))  # not a student id nbgrader should use
    log, submitted = collect_exchange(course)
    assert owner_of(submitted, "honest") == "honest"
    assert not (submitted / "eve" / A).exists() and not (submitted / "-rf").exists()
    assert "'eve'" in log and "timestamp" in log and "'-rf'" in log


# --------------------------------------------------------------------------------------------------------------
# Class 6: a folder is collected only from the student it names, within bounds, at a time the student cannot set


def chown_tree(folder: Path, uid: int) -> Path:
    for path in [folder, *folder.rglob("*")]:
        os.lchown(path, uid, uid)
    return folder


def handed_in(inbound: Path, student: str, author: str | None = None, uid: int | None = None,
              stamp: str = "2026-01-10 12:00:00.000000 UTC") -> Path:
    """A submission folder claiming `student`, holding `author`'s notebook, owned by `uid` (the student's)."""
    folder = submission(inbound, student, stamp)
    (folder / NB).write_bytes(notebook(author or student))
    return chown_tree(folder, ACCOUNTS.get(student, os.getuid()) if uid is None else uid)


LATER = "2026-01-10 12:30:00.000000 UTC"


@pytest.mark.slow
@pytest.mark.parametrize("claimed", ["alice", "bob"])
def test_a_student_cannot_submit_as_a_classmate(course, inbound, claimed) -> None:
    handed_in(inbound, "alice")
    handed_in(inbound, "bob")
    fake = handed_in(inbound, claimed, author="mallory", uid=ACCOUNTS["mallory"], stamp=LATER)
    fake.rename(inbound / f"{claimed}+{A}+{LATER}+mal999")
    log, submitted = collect_exchange(course)
    assert owner_of(submitted, "alice") == "alice" and owner_of(submitted, "bob") == "bob"
    assert f"{claimed}+{A}+{LATER}+mal999" in log, "the refused folder is named"
    assert f"owned by uid 20003, not by '{claimed}'" in log, "the log names the owner and the claimed student"


@pytest.mark.slow
def test_a_student_cannot_invent_students(course, inbound) -> None:
    handed_in(inbound, "alice")
    for i in range(300):
        handed_in(inbound, f"ghost{i:04d}", author="mallory", uid=ACCOUNTS["mallory"])
    handed_in(inbound, "zoe", author="mallory", uid=ACCOUNTS["mallory"])  # a real classmate with no submission
    log, submitted = collect_exchange(course)
    assert students_on_disk(submitted) == {"alice"} and owner_of(submitted, "alice") == "alice"
    assert "'ghost0299'" in log and "'zoe'" in log


@pytest.fixture
def roster(course):
    """The gradebook lists alice, bob and mallory; restored afterwards."""
    from nbgrader.api import Gradebook

    database = course / "autograder" / "gradebook.db"
    saved = database.read_bytes()
    with Gradebook(f"sqlite:///{database}", manifest.load()["course_id"]) as gradebook:
        for student in ("alice", "bob", "mallory"):
            gradebook.add_student(student)
    yield
    database.write_bytes(saved)


@pytest.mark.slow
def test_only_students_on_the_roster_are_collected(course, inbound, roster) -> None:
    handed_in(inbound, "alice")
    handed_in(inbound, "bob")
    handed_in(inbound, "carol")  # carol's own account, but not in this course
    handed_in(inbound, "mallory2", author="mallory")  # owned as the stand-in says, not on the roster
    handed_in(inbound, "alice", author="mallory", uid=ACCOUNTS["mallory"], stamp=LATER).rename(
        inbound / f"alice+{A}+{LATER}+mal999")
    log, submitted = collect_exchange(course)
    assert students_on_disk(submitted) == {"alice", "bob"}
    assert owner_of(submitted, "alice") == "alice"
    assert "'carol' is not on the roster" in log and "'mallory2' is not on the roster" in log


@pytest.mark.slow
@pytest.mark.parametrize("folders, collected", [
    ([("root", 12345)], None),  # a folder claiming root's account, owned by another uid
    ([("root", 0)], "root"),  # root's own folder
    ([("root", 0), ("root", 12345)], "root"),  # root's folder, and a later one planted by uid 12345
    ([("daemon", 0)], None),  # owned by root, claiming another existing account
])
def test_the_default_owner_check_uses_the_unix_accounts(course, inbound, folders, collected) -> None:
    for i, (student, uid) in enumerate(folders):
        folder = handed_in(inbound, student, author=f"uid{uid}", uid=uid, stamp=f"2026-01-10 12:0{i}:00.000000 UTC")
        assert folder.stat().st_uid == uid
    log, submitted = collect_exchange(course, accounts=False)
    assert owner_of(submitted, folders[0][0]) == ("uid0" if collected else None)
    if collected is None or len(folders) > 1:
        assert f"not by '{folders[0][0]}'" in log


def nest(folder: Path, depth: int) -> None:
    """Nest `depth` folders under `folder` with relative mkdirs, so no path-length limit applies."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    for _ in range(depth):
        os.mkdir("d", dir_fd=fd)
        child = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = child
    os.close(fd)


@pytest.fixture
def deep_cleanup(inbound):
    yield
    import subprocess

    subprocess.run(["rm", "-rf", str(inbound)], check=False)  # shutil.rmtree recurses, and dies on a deep tree


@pytest.mark.slow
@pytest.mark.parametrize("depth, attacker", [(1200, "aaron"), (5000, "zz"), (33, "aaron")])
def test_a_deep_folder_is_refused_and_the_class_collected(course, inbound, deep_cleanup, depth, attacker) -> None:
    nest(handed_in(inbound, attacker), depth)
    handed_in(inbound, "bob")
    nest(handed_in(inbound, "zoe"), 32)  # as deep as allowed
    log, submitted = collect_exchange(course)
    assert owner_of(submitted, "bob") == "bob" and owner_of(submitted, "zoe") == "zoe"
    assert (submitted / "zoe" / A / ("d/" * 32).rstrip("/")).is_dir()
    assert not (submitted / attacker / A).exists() and f"student '{attacker}'" in log and "deep" in log


def spy_on_writes(monkeypatch) -> list[str]:
    """Record every file the collector creates."""
    created: list[str] = []
    real_open = os.open

    def recording_open(path, flags, *args, **kwargs):
        if flags & os.O_CREAT:
            created.append(str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", recording_open)
    return created


def collector(**coursedir):
    from nbgrader.coursedir import CourseDirectory

    from grading.exchange import SafeExchangeCollect

    return SafeExchangeCollect(coursedir=CourseDirectory(**coursedir))


@pytest.mark.parametrize("files", [
    {f"data{k}.csv": 60_000 for k in range(3)},  # sparse files, each under max_file_size, over the budget together
    {f"d{k}/part.csv": 30_000 for k in range(5)},  # spread over folders
    {f"data{k}.csv": 0 for k in range(1001)},  # more files than allowed, each empty
])
def test_an_oversized_submission_is_refused_before_anything_is_written(tmp_path, monkeypatch, files) -> None:
    src = tmp_path / f"spartacus+{A}+2026-01-10 12:00:00.000000 UTC+spa123"
    src.mkdir()
    (src / NB).write_bytes(notebook("spartacus"))
    for name, size in files.items():
        (src / name).parent.mkdir(exist_ok=True)
        with open(src / name, "wb") as sparse:
            sparse.truncate(size)
    created = spy_on_writes(monkeypatch)
    dest = tmp_path / "submitted" / "spartacus" / A
    collector(max_dir_size=100, max_file_size=100).do_copy(str(src), str(dest))
    assert created == [], f"written before refusing: {created[:3]}"
    assert not dest.exists()


@pytest.mark.slow
def test_an_exchange_folder_with_too_many_files_is_refused(course, inbound) -> None:
    flood = handed_in(inbound, "spartacus")
    for k in range(1500):
        (flood / f"f{k}.csv").write_bytes(b"")
    handed_in(inbound, "bob")
    log, submitted = collect_exchange(course)
    assert owner_of(submitted, "bob") == "bob" and not (submitted / "spartacus" / A).exists()
    assert "student 'spartacus'" in log and "more than 1000 files" in log


def recorded_time(submitted: Path, student: str):
    from nbgrader.utils import parse_utc

    return parse_utc((submitted / student / A / "timestamp.txt").read_text())


@pytest.mark.slow
@pytest.mark.parametrize("written", ["2020-01-01 00:00:00.000000 UTC", "2026-01-10 12:00:00.000000 UTC", None])
def test_the_submission_time_is_the_folders_not_the_students(course, inbound, written) -> None:
    import datetime

    before = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None) - datetime.timedelta(seconds=2)
    folder = handed_in(inbound, "zoe", stamp="2020-01-01 00:00:00.000000 UTC")  # name and file back-dated
    if written is None:
        (folder / "timestamp.txt").unlink()
    else:
        (folder / "timestamp.txt").write_text(written)
    handed_in(inbound, "bob")
    log, submitted = collect_exchange(course)
    after = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None) + datetime.timedelta(seconds=2)
    for student in ("zoe", "bob"):
        assert before <= recorded_time(submitted, student) <= after, "the time is when the folder was made"
    assert owner_of(submitted, "zoe") == "zoe"


@pytest.mark.slow
def test_the_latest_folder_is_the_one_made_last_whatever_its_name_says(course, inbound) -> None:
    import time

    early = handed_in(inbound, "zoe", author="zoe-first", stamp="2030-01-01 00:00:00.000000 UTC")
    time.sleep(0.05)
    late = handed_in(inbound, "zoe", author="zoe-second", stamp="2020-01-01 00:00:00.000000 UTC")
    log, submitted = collect_exchange(course)
    assert late.stat().st_ctime > early.stat().st_ctime
    assert owner_of(submitted, "zoe") == "zoe-second", "the folder named with a later time was made first"
