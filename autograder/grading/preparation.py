"""The main side of grading, before anything runs: one submission made ready for the workers.

`Preparation` is the part of `grading.grader.Grader` that prepares a submission in the main process: it
registers it in the gradebook, refuses what the zip collector refused or what is reached through a link, reads
each notebook (`grading.intake`: regular files only, within size limits), sanitizes it with nbgrader's own
sanitize preprocessors into a private scratch folder, and makes the `Job`s the workers execute. Any error is
contained to that student.
"""

from __future__ import annotations

from pathlib import Path

import nbformat

from grading import intake, sandbox
from grading.config import run_preprocessors, warnings_suppressed
from grading.execution import Job


class Preparation:
    """Paths of a submission, and its preparation (a mixin of `Grader`, which sets the attributes used here)."""

    def submitted(self, student: str) -> Path:
        return Path(self.coursedir.format_path(self.coursedir.submitted_directory, student, self.assignment))

    def autograded(self, student: str) -> Path:
        return Path(self.coursedir.format_path(self.coursedir.autograded_directory, student, self.assignment))

    def source(self) -> Path:
        return Path(self.coursedir.format_path(self.coursedir.source_directory, ".", self.assignment))

    def _linked(self, student: str) -> str:
        root = Path(self.coursedir.format_path(self.coursedir.submitted_directory, ".", ".")).resolve()
        return intake.linked_submission(root, student, self.assignment)

    def prepare(self, student: str, notebooks: list[str]) -> tuple[list[Job], dict[str, str], list[str]]:
        """Register the submission and sanitize its notebooks into the scratch folder.

        Returns the jobs to execute, the per-notebook problems (malformed), and notes. Any error is contained
        to this student: its notebooks become problems, and the rest of the class is graded.
        """
        with self.gradebook() as gb:
            gb.update_or_create_student(student)
            gb.update_or_create_submission(self.assignment, student)
        try:
            return self._prepare(student, notebooks)
        except Exception as error:  # noqa: BLE001 -- one submission's trouble never stops the class
            reason = f"the submission could not be prepared for grading: {type(error).__name__}: {str(error)[:200]}"
            return [], dict.fromkeys(notebooks, reason), []

    def _prepare(self, student: str, notebooks: list[str]) -> tuple[list[Job], dict[str, str], list[str]]:
        if student in self.collect_problems:
            return [], dict.fromkeys(notebooks, f"the submission could not be collected: "
                                                f"{self.collect_problems[student]}"), []
        linked = self._linked(student)
        if linked:
            return [], dict.fromkeys(notebooks, linked), []
        submitted = self.submitted(student)
        timestamp = intake.submission_timestamp(submitted)
        if timestamp:
            with self.gradebook() as gb:
                gb.update_or_create_submission(self.assignment, student, timestamp=timestamp)
        # The kernel sees only `run/`; the notebook it executes (test cells restored with their hidden tests)
        # stays one level up, out of the sandbox.
        notebook_dir = self.scratch / student / self.assignment
        sandbox.remove_tree(notebook_dir)
        workdir = notebook_dir / "run"
        workdir.mkdir(parents=True)
        notes = intake.copy_files(submitted, workdir, student=True, ignore=self.coursedir.ignore)
        intake.copy_files(self.source(), workdir, student=False, ignore=self.coursedir.ignore)
        # As `nbgrader autograde --force`: a fresh autograded folder with the student's other files and the
        # instructor's (data files of source/, never notebooks or *.py), copied before anything runs.
        dest = self.autograded(student)
        sandbox.remove_tree(dest)
        dest.mkdir(parents=True)
        intake.copy_files(submitted, dest, student=True, ignore=self.coursedir.ignore)
        intake.copy_files(self.source(), dest, student=False, ignore=self.coursedir.ignore)
        # The submission's time and secret, which `nbgrader release_feedback` reads beside the feedback.
        notes += intake.copy_records(submitted, dest)
        jobs: list[Job] = []
        paths, problems, renamed = intake.match_notebooks(submitted, notebooks)
        notes += renamed
        for notebook_id in notebooks:
            if notebook_id not in paths:
                continue
            path = paths[notebook_id]
            try:
                notebook = intake.read_submission(path)
                resources = {"nbgrader": {"student": student, "assignment": self.assignment,
                                          "notebook": notebook_id, "db_url": self.db_url},
                             "metadata": {"path": str(workdir), "name": notebook_id}}
                with warnings_suppressed():
                    notebook, _ = run_preprocessors(self.sanitize_stage, notebook, resources, self.config)
            except intake.Malformed as error:
                problems[notebook_id] = str(error)
                continue
            except Exception as error:  # noqa: BLE001 -- CheckCellMetadata, schema errors, checksums, deep nesting
                problems[notebook_id] = f"{path.name} cannot be sanitized: {type(error).__name__}: {str(error)[:200]}"
                continue
            if notebook.get("nbformat_minor", 0) >= 5:  # cells nbgrader restored have no id yet
                for index, cell in enumerate(notebook.cells):
                    cell.setdefault("id", f"restored-{index}")
            nbformat.write(notebook, notebook_dir / f"{notebook_id}.ipynb")
            jobs.append(Job(student, self.assignment, notebook_id, str(workdir), str(notebook_dir), self.policy,
                            self.options.trusted, self.cell_timeout, self.notebook_timeout,
                            str(self.options.config), self.options.integrity, self.secret))
        return jobs, problems, notes
