"""Issue 9, class 5: one submission can neither stop nor stall the class.

Every failure stays with its submission: an error while preparing one student, a notebook that spends its time
just under each limit, an output too large to hold, a worker process that dies. One wall-clock budget covers a
submission's kernel and its out-of-kernel check together.
"""

from __future__ import annotations

import os
from pathlib import Path

import hostile
import pytest

from grading import grade, sandbox

# one worker builds this module's graded classes (session fixtures) once: `--dist loadgroup`
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("containment")]

CELL_TIMEOUT = 10
BUDGET = 60  # seconds per submission, kernel and out-of-kernel check together
# `get_ipython()` is a real shell in the kernel and a falsy stub in the probe process: each cell sleeps in one.
SLEEP_IN_KERNEL = "import time\nif get_ipython():\n    time.sleep(9)"
SLEEP_IN_PROBE = "import time\nif not get_ipython():\n    time.sleep(9)"
SLEEP_EVERYWHERE = "import time\ntime.sleep(9)"
DEEP_TREE = ("import os\n_here = os.getcwd()\nfor _ in range(1100):\n    os.mkdir('d')\n    os.chdir('d')\n"
             "os.chdir(_here)")


def deep_folder(base: Path, depth: int = 24) -> None:
    """Nested folders whose full path is longer than the system allows (PATH_MAX), with a data file at the end."""
    descriptor = os.open(base, os.O_RDONLY)
    try:
        for _ in range(depth):
            os.mkdir("d" * 200, dir_fd=descriptor)
            inner = os.open("d" * 200, os.O_RDONLY, dir_fd=descriptor)
            os.close(descriptor)
            descriptor = inner
        with open(os.open("deep.csv", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=descriptor), "w") as handle:
            handle.write("1,2\n")
    finally:
        os.close(descriptor)


@pytest.fixture(scope="session")
def graded(tmp_path_factory):
    root = hostile.course(tmp_path_factory, "containment")
    solved = hostile.solved()
    hostile.write(root, {
        "honest": solved,
        "long_path": solved,
        "fifo": solved,
        "sleeps_in_kernel": hostile.inject(solved, *[SLEEP_IN_KERNEL] * 3),
        "sleeps_in_probe": hostile.inject(solved, *[SLEEP_IN_PROBE] * 7),
        "sleeps_everywhere": hostile.inject(solved, *[SLEEP_EVERYWHERE] * 4),
        "huge_message": hostile.inject(solved, "print('x' * (100 << 20))"),
        # A tree deeper than Python's recursion limit in the kernel's folder, which the grader cleans up.
        "deep_tree": hostile.inject(solved, DEEP_TREE),
        "broken_by_prepare": solved,
    })
    deep_folder(hostile.submission_folder(root, "long_path"))
    os.mkfifo(hostile.submission_folder(root, "fifo") / "data.csv")
    real = grade.Grader._prepare

    def prepare(self, student, notebooks):
        scratch_modes.add(self.scratch.stat().st_mode & 0o777)
        if student == "broken_by_prepare":
            raise OSError(36, "File name too long")
        return real(self, student, notebooks)

    scratch_modes: set[int] = set()

    grade.Grader._prepare = prepare
    try:
        results = hostile.run(root, cell_timeout=CELL_TIMEOUT, notebook_timeout=BUDGET)
    finally:
        grade.Grader._prepare = real
    assert scratch_modes == {0o700}, "the scratch folder holds every hidden test: no other user may list it"
    return root, results


def test_the_honest_student_is_graded_in_full(graded) -> None:
    _, results = graded
    assert (results["honest"].status, results["honest"].score) == ("graded", hostile.FULL)


@pytest.mark.parametrize("student", ["long_path", "fifo"])
def test_an_odd_extra_file_is_left_out_with_a_note_and_costs_nothing(graded, student) -> None:
    _, results = graded
    result = results[student]
    assert (result.status, result.score) == ("graded", hostile.FULL), result.notes
    assert any("only the notebook was graded" in n or "left out of grading" in n for n in result.notes), result.notes


def test_an_error_while_preparing_one_student_is_contained_to_that_student(graded) -> None:
    _, results = graded
    result = results["broken_by_prepare"]
    assert (result.status, result.score) == ("malformed", 0)
    assert any("could not be prepared" in note and "File name too long" in note for note in result.notes)


def test_sleeping_within_the_budget_in_the_kernel_only_is_allowed(graded) -> None:
    _, results = graded
    assert results["sleeps_in_kernel"].score == hostile.FULL, results["sleeps_in_kernel"].notes


@pytest.mark.parametrize("student", ["sleeps_in_probe", "sleeps_everywhere"])
def test_a_submission_that_spends_its_budget_loses_what_was_not_checked(graded, student) -> None:
    root, results = graded
    result = results[student]
    assert result.status == "timeout", result.notes
    assert result.score == 0, f"{student} kept {result.score} points without an out-of-kernel check"
    assert result.integrity == "failed"
    assert result.wall < BUDGET + 20, f"{student} took {result.wall:.0f} s, past its budget of {BUDGET} s"


def test_a_huge_output_message_costs_only_its_own_submission(graded) -> None:
    _, results = graded
    assert results["huge_message"].status in ("graded", "timeout")
    assert all(results[s].score == hostile.FULL for s in ("honest", "long_path", "fifo"))


def run_with_worker_fault(root: Path, fault: Path, **changes) -> dict[str, grade.StudentResult]:
    """Grade `root`'s class, where the worker that takes the student "faulty"'s job loads `fault` as its nbgrader
    config: a stand-in for anything that breaks a worker process from outside the sandbox."""
    real = grade.Grader._prepare

    def prepare(self, student, notebooks):
        jobs, problems, notes = real(self, student, notebooks)
        for job in jobs if student == "faulty" else []:
            job.config_path = str(fault)
        return jobs, problems, notes

    grade.Grader._prepare = prepare
    try:
        return hostile.run(root, **changes)
    finally:
        grade.Grader._prepare = real


@pytest.mark.parametrize("fault", ["import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n",
                                   "import os\nos._exit(0)\n"], ids=["sigkill", "exit"])
def test_a_worker_that_dies_is_blamed_only_on_the_job_that_killed_it(tmp_path_factory, tmp_path, fault) -> None:
    """A job whose worker dies in every pool it runs in ends `crashed`; the jobs beside it are graded."""
    root = hostile.course(tmp_path_factory, "blame")
    hostile.write(root, {"honest": hostile.solved(), "faulty": hostile.solved(), "honest2": hostile.solved()})
    (tmp_path / "fault.py").write_text(fault)
    results = run_with_worker_fault(root, tmp_path / "fault.py")
    for student in ("honest", "honest2"):
        assert (results[student].status, results[student].score) == ("graded", hostile.FULL), results[student].notes
    assert results["faulty"].status == "crashed"
    assert any("died while running this notebook alone" in note for note in results["faulty"].notes)


def test_a_worker_stuck_outside_the_sandbox_is_stopped_and_the_class_goes_on(tmp_path_factory, tmp_path) -> None:
    root = hostile.course(tmp_path_factory, "stuck")
    hostile.write(root, {"honest": hostile.solved(), "faulty": hostile.solved()})
    (tmp_path / "fault.py").write_text("import time\ntime.sleep(100_000)\n")
    results = run_with_worker_fault(root, tmp_path / "fault.py", notebook_timeout=30, stall_grace=5)
    assert (results["honest"].status, results["honest"].score) == ("graded", hostile.FULL), results["honest"].notes
    assert results["faulty"].status == "crashed"
    assert any("its worker was stopped" in note for note in results["faulty"].notes)


def test_a_tree_deeper_than_the_recursion_limit_is_cleaned_up(graded, tmp_path) -> None:
    _, results = graded
    assert results["deep_tree"].score == hostile.FULL  # and the run above returned at all
    folder = tmp_path / "deep"
    folder.mkdir()
    deep_folder(folder, depth=24)
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        for _ in range(1100):
            os.mkdir("d", dir_fd=descriptor)
            inner = os.open("d", os.O_RDONLY, dir_fd=descriptor)
            os.close(descriptor)
            descriptor = inner
    finally:
        os.close(descriptor)
    sandbox.remove_tree(folder)
    assert not folder.exists()
