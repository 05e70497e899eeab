"""The main side of grading: the gradebook, written by one process only.

`Bookkeeping` is the part of `grading.grader.Grader` that reads and writes nbgrader's gradebook: it registers
the assignment, runs the gradebook stage of the autograde pipeline on each executed notebook (SaveAutoGrades,
late penalties), writes the autograded copy that formgrader shows (sanitized), zeroes what could not run, and
applies the out-of-kernel verdicts, failing closed. Workers never touch the gradebook, so a parallel run gives
the scores of a sequential one and manual grades survive a regrade.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import nbformat

from grading.config import run_preprocessors
from grading.execution import Executed
from grading.sanitize import untrusted_notebook


def quiet_gradebook_warnings() -> None:
    """nbgrader's Gradebook makes SQLAlchemy warn about autoflush on every new submission; nbgrader's own
    autograde prints the same. They are noise for the instructor."""
    import warnings

    with contextlib.suppress(ImportError):
        from sqlalchemy.exc import SAWarning

        warnings.filterwarnings("ignore", category=SAWarning)


def _integrity_points(check: Any) -> float | None:
    """The out-of-kernel points of one exercise, or None when the entry is not a clear verdict."""
    if not isinstance(check, dict) or not isinstance(check.get("passed"), bool):
        return None
    points = check.get("points")
    if isinstance(points, bool) or not isinstance(points, (int, float)) or not points == points:
        return None
    return float(points) if check["passed"] else 0.0


class Bookkeeping:
    """The gradebook side of a `Grader` (which sets `assignment`, `options`, `config`, `coursedir`, `db_url`
    and `gradebook_stage`, and knows its folders: `source()`, `autograded(student)`)."""

    def gradebook(self):
        from nbgrader.api import Gradebook

        return Gradebook(self.db_url, self.coursedir.course_id)

    def ensure_assignment(self) -> list[str]:
        """The assignment's notebook ids, registering the assignment in the gradebook first if needed."""
        from nbgrader.api import MissingEntry

        with self.gradebook() as gb:
            try:
                notebooks = [nb.name for nb in gb.find_assignment(self.assignment).notebooks]
            except MissingEntry:
                notebooks = []
        if notebooks:
            return notebooks
        self._generate_assignment()
        with self.gradebook() as gb:
            try:
                return [nb.name for nb in gb.find_assignment(self.assignment).notebooks]
            except MissingEntry:
                raise SystemExit(f"assignment {self.assignment!r} is not in the gradebook and could not be "
                                 "generated; run `make release` first") from None

    def _generate_assignment(self) -> None:
        """Register the assignment (its cells, checksums and points) with `nbgrader generate_assignment`,
        writing its release copy to a temporary folder, never over release/."""
        source = self.source()
        with contextlib.suppress(Exception):
            from grading import manifest, release

            entry = manifest.unit(self.assignment)
            script = source / f"{entry['notebook']}.py"
            if script.exists() and not script.with_suffix(".ipynb").exists():
                release.build_source_notebook(script)
        with tempfile.TemporaryDirectory(prefix="calcml-release-") as target:
            command = [sys.executable, "-m", "nbgrader", "generate_assignment", self.assignment, "--force",
                       "--log-level=WARN", f"--CourseDirectory.release_directory={target}"]
            env = dict(os.environ)
            env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
            env["PYTHONPATH"] = str(Path(self.options.config).parent)
            result = subprocess.run(command, cwd=Path(self.options.config).parent, env=env, capture_output=True,
                                    text=True)
            if result.returncode != 0:
                raise SystemExit(f"nbgrader generate_assignment {self.assignment} failed:\n{result.stderr[-2000:]}")

    def roster(self) -> list[str]:
        with self.gradebook() as gb:
            return sorted(student.id for student in gb.students)

    def record_notebook(self, executed: Executed) -> None:
        """Run the gradebook stage on an executed notebook and write it to autograded/."""
        student, notebook_id = executed.student, executed.notebook
        notebook = nbformat.read(executed.path, as_version=4)
        resources = {"nbgrader": {"student": student, "assignment": self.assignment, "notebook": notebook_id,
                                  "db_url": self.db_url},
                     "metadata": {"path": str(Path(executed.path).parent), "name": notebook_id}}
        notebook, _ = run_preprocessors(self.gradebook_stage, notebook, resources, self.config)
        dest = self.autograded(student)
        dest.mkdir(parents=True, exist_ok=True)
        # Formgrader renders this copy: no script or rich output of the student's reaches an instructor's browser.
        nbformat.write(untrusted_notebook(notebook), dest / f"{notebook_id}.ipynb")
        if executed.not_run:
            with self.gradebook() as gb:
                for grade_id in executed.not_run:
                    with contextlib.suppress(Exception):
                        grade = gb.find_grade(grade_id, notebook_id, self.assignment, student)
                        grade.auto_score = 0
                        grade.needs_manual_grade = True
                gb.db.commit()
            self.assign_late_penalty(student, notebook_id)

    def zero_notebook(self, student: str, notebook_id: str) -> None:
        """A notebook that could not run: every grade 0, flagged for manual grading."""
        with self.gradebook() as gb:
            submission = gb.find_submission_notebook(notebook_id, self.assignment, student)
            for grade in submission.grades:
                grade.auto_score = 0
                grade.needs_manual_grade = True
            gb.db.commit()
        self.assign_late_penalty(student, notebook_id)

    def assign_late_penalty(self, student: str, notebook_id: str) -> None:
        """Set the notebook's late penalty again from its score as it now stands, with the configured
        `AssignLatePenalties` (its `plugin_class`, the assignment's due date and the submission's time in the
        gradebook), as nbgrader autograde does after SaveAutoGrades. The gradebook stage already ran it, but
        a score lowered since (tests that never ran, the out-of-kernel check, a notebook that could not run)
        changes what a penalty such as 'zero' or a fraction of the score comes to. Nothing if the configured
        pipeline has no late penalty."""
        from nbgrader.preprocessors import AssignLatePenalties

        stage = [cls for cls in self.gradebook_stage if isinstance(cls, type) and issubclass(cls, AssignLatePenalties)]
        if not stage:
            return
        resources = {"nbgrader": {"student": student, "assignment": self.assignment, "notebook": notebook_id,
                                  "db_url": self.db_url}}
        stage[0](config=self.config).preprocess(nbformat.v4.new_notebook(), resources)

    def apply_integrity(self, student: str, notebook_id: str, report: dict[str, Any] | None) -> list[str]:
        """Lower each auto score to the integrity points where those are lower; return the flags.

        Fails closed: every autograded test of the notebook needs a verdict from a check that ran. A report that
        is missing, says `ran: false`, lacks the exercise, or holds anything but a pass with numeric points
        scores that exercise 0, flags it, and marks it for a manual look. The report came from the worker,
        which runs nothing of the student's, but it is read here as data, never trusted for its shape.
        """
        report = report if isinstance(report, dict) else {}
        ran = report.get("ran") is True
        why = str(report.get("error") or "the out-of-kernel check did not run")[:500]
        exercises = report.get("exercises") if isinstance(report.get("exercises"), dict) else {}
        flags = report.get("flags")
        flags = [str(flag)[:1000] for flag in flags] if isinstance(flags, list) else []
        with self.gradebook() as gb:
            submission = gb.find_submission_notebook(notebook_id, self.assignment, student)
            for grade in submission.grades:
                if grade.cell.cell_type != "code":
                    continue  # a manually graded answer: no automatic score to check
                check = exercises.get(grade.name)
                verdict = _integrity_points(check) if ran else None
                auto = float(grade.auto_score or 0.0)
                if verdict is None:
                    detail = why if not ran else "the out-of-kernel check gave no usable result for this exercise"
                    flags.append(f"{grade.name}: not checked out of kernel ({detail}); scored 0 until an "
                                 "instructor looks at it")
                    grade.auto_score = 0.0
                    grade.needs_manual_grade = True
                elif verdict < auto:
                    flags.append(f"{grade.name}: passed in the kernel ({auto:g} pt) but the out-of-kernel check "
                                 f"gives {verdict:g} pt" + (f": {str(check.get('detail'))[:1000]}"
                                                              if check.get("detail") else ""))
                    grade.auto_score = verdict
                    grade.needs_manual_grade = True
            gb.db.commit()
        self.assign_late_penalty(student, notebook_id)
        return flags

    def scores(self, student: str, notebooks: list[str]) -> tuple[float, float, dict[str, dict[str, Any]]]:
        """(score, max score, per exercise) from the gradebook: manual grades count, as in nbgrader."""
        from nbgrader.api import MissingEntry

        total = maximum = 0.0
        exercises: dict[str, dict[str, Any]] = {}
        with self.gradebook() as gb:
            for notebook_id in notebooks:
                try:
                    submitted = gb.find_submission_notebook(notebook_id, self.assignment, student)
                except MissingEntry:
                    continue
                for grade in submitted.grades:
                    exercises[grade.name] = {"score": float(grade.score or 0), "max_score": float(grade.max_score),
                                             "auto_score": grade.auto_score, "manual_score": grade.manual_score,
                                             "needs_manual_grade": bool(grade.needs_manual_grade)}
                total += float(submitted.score or 0)
                maximum += float(submitted.max_score or 0)
        return total, maximum, exercises

    def max_score(self, notebooks: list[str]) -> float:
        with self.gradebook() as gb:
            return float(gb.find_assignment(self.assignment).max_score)
