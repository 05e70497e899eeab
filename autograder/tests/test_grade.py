"""The grading CLI: parallel equals sequential (and plain nbgrader), the gradebook stays sound, manual grades
survive a regrade, zips are collected, missing students are reported, and no sandbox means no grading."""

from __future__ import annotations

import io
import json
import sqlite3
import zipfile
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import nbformat
import pytest

from grading import execution, grade, grader, intake, manifest, samples, sandbox, submissions, workers, workspace

# one worker builds this module's graded classes (session fixtures) once: `--dist loadgroup`
pytestmark = pytest.mark.xdist_group("grade")

UNIT = "01_derivatives"
ENTRY = manifest.unit(UNIT)
NOTEBOOK = f"{ENTRY['notebook']}.ipynb"
STUDENTS = ("correct", "wrong", "untouched", "partial")


def options(root, **changes) -> grade.Options:
    base = dict(workers=2, cell_timeout=60, notebook_timeout=400, integrity=False, report=False, progress=False,
                config=root / "autograder" / "nbgrader_config.py")
    base.update(changes)
    return grade.Options(**base)


def gradebook_scores(root) -> dict[str, dict[str, float]]:
    from nbgrader.api import Gradebook

    out = {}
    with Gradebook(f"sqlite:///{root / 'autograder' / 'gradebook.db'}") as gb:
        for student in STUDENTS:
            submitted = gb.find_submission_notebook(ENTRY["notebook"], UNIT, student)
            out[student] = {g.name: g.score for g in submitted.grades} | {"total": submitted.score}
    return out


@pytest.fixture(scope="session")
def class_notebooks():
    return {student: notebook for student, notebook in samples.samples(ENTRY).items() if student in STUDENTS}


@pytest.fixture(scope="session")
def parallel(tmp_path_factory, class_notebooks):
    root = workspace.create(tmp_path_factory.mktemp("parallel") / "course")
    for student, notebook in class_notebooks.items():
        submissions.write(notebook, root / "autograder" / "submitted" / student / UNIT / NOTEBOOK)
    results = grade.Grader(UNIT, options(root, workers=2)).run()
    return root, {r.student: r for r in results}


@pytest.mark.slow
def test_parallel_scores_equal_plain_sequential_nbgrader(parallel, class_notebooks, tmp_path) -> None:
    root, results = parallel
    vanilla = workspace.autograde(workspace.create(tmp_path / "vanilla"), UNIT, class_notebooks)
    assert gradebook_scores(root) == vanilla
    assert {s: r.score for s, r in results.items()} == {s: vanilla[s]["total"] for s in STUDENTS}
    assert all(r.status == "graded" for r in results.values())


@pytest.mark.slow
def test_the_gradebook_is_sound_after_a_parallel_run(parallel) -> None:
    root, _ = parallel
    database = root / "autograder" / "gradebook.db"
    with sqlite3.connect(database) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert not list(database.parent.glob("gradebook.db-*")), "a journal was left behind: an unfinished write"
    for student in STUDENTS:
        assert (root / "autograder" / "autograded" / student / UNIT / NOTEBOOK).exists()


@pytest.mark.slow
def test_a_sequential_regrade_keeps_the_scores_and_the_manual_grades(parallel) -> None:
    from nbgrader.api import Gradebook

    root, results = parallel
    before = gradebook_scores(root)
    target = ENTRY["exercises"][0]["grade_id"]
    with Gradebook(f"sqlite:///{root / 'autograder' / 'gradebook.db'}") as gb:
        grade_row = gb.find_grade(target, ENTRY["notebook"], UNIT, "wrong")
        grade_row.manual_score = 1.5
        comment = gb.find_comment(f"{target}-solution", ENTRY["notebook"], UNIT, "wrong")
        comment.manual_comment = "Close: check the denominator."
        gb.db.commit()
    regraded = {r.student: r for r in grade.Grader(UNIT, options(root, workers=1)).run()}
    after = gradebook_scores(root)
    with Gradebook(f"sqlite:///{root / 'autograder' / 'gradebook.db'}") as gb:
        grade_row = gb.find_grade(target, ENTRY["notebook"], UNIT, "wrong")
        assert grade_row.manual_score == 1.5
        assert grade_row.score == 1.5
        assert gb.find_comment(f"{target}-solution", ENTRY["notebook"], UNIT, "wrong").manual_comment \
            == "Close: check the denominator."
    expected = {s: dict(v) for s, v in before.items()}
    expected["wrong"][target] = 1.5
    expected["wrong"]["total"] = before["wrong"]["total"] - before["wrong"][target] + 1.5
    assert after == expected
    assert regraded["wrong"].score == expected["wrong"]["total"]
    assert {s: r.status for s, r in regraded.items()} == {s: "graded" for s in STUDENTS}


@pytest.fixture(scope="session")
def fresh(tmp_path_factory):
    """A course copy with the assignment registered and nothing submitted."""
    root = workspace.create(tmp_path_factory.mktemp("fresh") / "course")
    grade.Grader(UNIT, options(root)).ensure_assignment()
    return root


@pytest.mark.slow
def test_a_zip_is_collected_safely_then_graded(fresh, capsys) -> None:
    release = submissions.release(ENTRY)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(f"zoe_{NOTEBOOK}", nbformat.writes(release))
        archive.writestr(f"../../evil_{NOTEBOOK}", nbformat.writes(release))
    path = fresh / "class.zip"
    path.write_bytes(buffer.getvalue())
    results = grade.grade(UNIT, options(fresh, students=("zoe",)), zip_path=path)
    assert [(r.student, r.status, r.score) for r in results] == [("zoe", "graded", 0.0)]
    assert not (fresh.parent / f"evil_{NOTEBOOK}").exists() and not (fresh / f"evil_{NOTEBOOK}").exists()
    assert "refused '../../evil_" in capsys.readouterr().err


@pytest.mark.slow
def test_cli_reports_a_named_student_without_submission_as_missing(fresh, capsys) -> None:
    config = fresh / "autograder" / "nbgrader_config.py"
    code = grade.main([UNIT, "--student", "nobody", "--quiet", "--config", str(config)])
    out = capsys.readouterr().out
    assert code == 0
    assert "nobody" in out and "missing" in out
    assert (fresh / "autograder" / "grades.csv").read_text().count("nobody,missing") == 1
    assert (fresh / "autograder" / "report" / UNIT / "report.md").exists()


def test_no_sandbox_means_no_grading_unless_trusted(monkeypatch, tmp_path, capsys) -> None:
    monkeypatch.setattr(sandbox, "isolation", lambda: sandbox.Isolation(False, "bwrap not found", "none", None, None))
    code = grade.main([UNIT, "--config", str(manifest.ROOT / "autograder" / "nbgrader_config.py")])
    err = capsys.readouterr().err
    assert code == 2
    assert "bwrap not found" in err and "bubblewrap" in err and "--no-sandbox" in err
    with pytest.raises(sandbox.SandboxUnavailable):
        grade.Grader(UNIT, grade.Options())
    assert grade.Grader(UNIT, grade.Options(trusted=True)).isolation.ok is False


def test_progress_bar_counts_statuses(monkeypatch) -> None:
    stream = io.StringIO()
    monkeypatch.setattr(grader.sys, "stderr", stream)
    bar = grader.progress_bar(3)
    for status in ("graded", "timeout", "graded"):
        grader.advance(bar, status)
    bar.close()
    last = stream.getvalue().replace("\r", "\n").strip().splitlines()[-1]
    assert "3/3" in last and "graded 2" in last and "timeout 1" in last, last


def test_read_submission_rejects_what_is_not_an_nbformat_4_notebook(tmp_path) -> None:
    cases = {"empty.ipynb": "", "list.ipynb": "[1, 2]", "v3.ipynb": '{"nbformat": 3, "cells": [], "worksheets": []}',
             "bad.ipynb": '{"nbformat": 4, "nbformat_minor": 5, "cells": [{"cell_type": "nope"}], "metadata": {}}'}
    for name, text in cases.items():
        (tmp_path / name).write_text(text)
        with pytest.raises(intake.Malformed):
            intake.read_submission(tmp_path / name)
    good = tmp_path / "good.ipynb"
    nbformat.write(submissions.release(ENTRY), good)
    assert intake.read_submission(good).nbformat == 4


@pytest.mark.slow
def test_a_dead_worker_process_is_replaced_and_its_job_run_again(tmp_path) -> None:
    """If a worker process dies (killed from outside, say), its notebook runs again in a fresh pool."""
    import os
    import signal
    import time

    from nbformat.v4 import new_code_cell, new_notebook

    folder = tmp_path / "job"
    (folder / "run").mkdir(parents=True)
    notebook = new_notebook(cells=[new_code_cell("import time\ntime.sleep(3)\nprint('done')")],
                            metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                     "language": "python"}})
    nbformat.write(notebook, folder / "tiny.ipynb")
    job = execution.Job("alice", "A", "tiny", str(folder / "run"), str(folder), sandbox.SandboxPolicy(), False, 30, 120,
                    str(manifest.ROOT / "autograder" / "nbgrader_config.py"), False)
    pool = workers.Pool(1)
    try:
        future = pool.submit(job)
        deadline = time.monotonic() + 60
        while not pool.pool._processes and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1.0)
        killed = list(pool.pool._processes)
        for pid in killed:
            os.kill(pid, signal.SIGKILL)
        with pytest.raises(BrokenProcessPool):
            future.result(timeout=120)
        pool.restart(0)
        assert pool.generation == 1
        stale = [p for pid in killed for p in Path("/sys/fs/cgroup/pids").glob(f"calcml-{pid}-*")]
        assert not stale, f"the dead worker's cgroups were not swept: {stale}"
        pool.restart(0)  # a second report of the same breakage does not replace the new pool
        assert pool.generation == 1
        executed = pool.submit(job).result(timeout=300)
    finally:
        pool.shutdown()
    assert executed.path and not executed.kernel_died, executed
    assert "done" in json.dumps(nbformat.read(executed.path, as_version=4).cells[0].outputs)
