"""Grade a class: `python -m grading.grade A [--workers N] [--zip FILE] [--no-sandbox] [--student S ...]`.

nbgrader stays the engine: its gradebook, its checksums and cell restoring (OverwriteCells), its score rules
(SaveAutoGrades), late penalties, manual grading and formgrader all work on what this writes. The grader
changes how the notebooks run, and says how each submission ended:

**Parallel execution, sequential bookkeeping.** The main process reads each submission (`grading.intake`:
regular files only, never through a link, within size limits), registers it in the gradebook and sanitizes
it with nbgrader's own sanitize preprocessors (clear outputs, restore locked and deleted test cells from the
gradebook, kernelspec), into a private scratch folder. Worker processes (`grading.workers`; one per core by
default, each living for the whole batch) execute the sanitized notebooks, each in a fresh sandboxed kernel,
then check every exercise again out of kernel (`grading.execution`, `grading.integrity`). The main process
records each executed notebook as it arrives (`grading.bookkeeping`), so only one process ever writes the
gradebook and a parallel run gives the scores of a sequential one.

**Containment.** One submission's trouble stays with it: an error while preparing it makes it `malformed`;
one time budget (`--notebook-timeout`) covers its kernel and its out-of-kernel check together; a worker that
dies has each of its jobs run again alone, so only the job that kills a worker of its own is `crashed`; a
worker stuck past twice the budget (plus `Options.stall_grace`) is stopped and its job is `crashed`.

**Statuses.** Every submission ends as one of:

- `graded`: every cell ran (a cell may have raised: that is a wrong answer, not a grading failure);
- `timeout`: a cell hit the per-cell limit (it was interrupted and the rest still ran), or the submission used
  up its time budget (the kernel was killed, or the out-of-kernel check could not finish: what was not run or
  not checked scores 0);
- `crashed`: the kernel died (`os._exit`, a segfault, the memory cgroup), or its grading worker did; tests
  that never ran score 0;
- `malformed`: not a regular file, not JSON, not nbformat 4, invalid nbgrader metadata, or refused by the zip
  collector: nothing ran, every test scores 0;
- `missing`: a student of the gradebook, or named with `--student`, who has no submission.

Tests that never ran, and every test of a malformed submission, are marked `needs_manual_grade` in the
gradebook, so formgrader shows them too. No zero is silent.

**The out-of-kernel check fails closed.** Every autograded test needs a passing verdict from a check that ran
(`Bookkeeping.apply_integrity`): a missing, failed or unreadable verdict scores the exercise 0, marks it for a
manual look and flags it; `grading.json` then says `integrity: failed`. The lower of the two scores counts.
`--no-integrity` skips the check (and says `not run`).

**Files.** For each student and assignment, `autograder/autograded/<student>/<A>/` holds nbgrader's graded
notebook (sanitized: no script or rich output of the student's), `grading.json` (status, scores per exercise,
notes, wall time; see `StudentResult`) and `integrity.json`. `autograder/grades.csv` (one row per student x
assignment) and the Markdown report `autograder/report/<A>/report.md` are rewritten after each run.
"""

from __future__ import annotations

import argparse
import concurrent.futures as futures
import contextlib
import dataclasses
import datetime
import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

import nbformat

from grading import collect, intake, report, sandbox, workers
from grading.bookkeeping import Bookkeeping, quiet_gradebook_warnings
from grading.config import (
    DEFAULT_CONFIG,
    INTEGRITY_FILE,
    STATUS_FILE,
    STATUSES,
    course_directory,
    load_config,
    pipeline,
    run_preprocessors,
    warnings_suppressed,
)
from grading.execution import Executed, Job

STALL_POLL = 5.0  # seconds between the main process's looks at the running jobs


# --------------------------------------------------------------------------------------------------------------
# Options and results


@dataclasses.dataclass
class Options:
    """How to grade. Limits default to the nbgrader config (`c.Execute.timeout`) and `SandboxPolicy`."""

    workers: int = 0  # 0: one per core
    trusted: bool = False  # --no-sandbox
    students: tuple[str, ...] = ()
    cell_timeout: float | None = None
    notebook_timeout: float | None = None
    memory_mb: int | None = None
    max_output_bytes: int | None = None
    stall_grace: float = 120.0  # seconds past twice the budget before a job's worker is presumed stuck
    integrity: bool = True
    report: bool = True
    progress: bool = True
    config: Path = DEFAULT_CONFIG


@dataclasses.dataclass
class StudentResult:
    """How one submission ended: what `grading.json` holds."""

    student: str
    assignment: str
    status: str
    score: float = 0.0
    max_score: float = 0.0
    exercises: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    notes: list[str] = dataclasses.field(default_factory=list)
    wall: float = 0.0
    integrity: str = "not run"  # 'not run' (--no-integrity) | 'ok' | 'flagged' | 'failed' (could not run: 0 pt)
    graded_at: str = ""
    sandbox: str = ""  # the isolation in force, as `sandbox.Isolation.describe()` says

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# --------------------------------------------------------------------------------------------------------------
# The grader


class Grader(Bookkeeping):
    """Grades one assignment of the course described by an nbgrader config."""

    def __init__(self, assignment: str, options: Options):
        self.assignment = assignment
        self.options = options
        self.config = load_config(options.config)
        self.coursedir = course_directory(self.config)
        self.coursedir.assignment_id = assignment
        self.db_url = self.coursedir.db_url
        self.sanitize_stage, self.worker_stage, self.gradebook_stage = pipeline(self.config)
        execute = self.config.get("Execute", {})
        self.cell_timeout = float(options.cell_timeout or execute.get("timeout", 60) or 60)
        policy = sandbox.SandboxPolicy()
        changes: dict[str, Any] = {}
        if options.memory_mb:
            changes["memory_bytes"] = int(options.memory_mb) << 20
        if options.max_output_bytes:
            changes["max_output_bytes"] = int(options.max_output_bytes)
        self.policy = policy.replace(**changes) if changes else policy
        self.notebook_timeout = float(options.notebook_timeout or self.policy.wall_seconds)
        self.policy = self.policy.replace(wall_seconds=self.notebook_timeout,
                                          cpu_seconds=max(self.policy.cpu_seconds, int(self.notebook_timeout) + 5))
        self.isolation = sandbox.require(options.trusted)
        self.secret = b""
        if options.integrity:
            from grading import integrity

            self.secret = integrity.course_secret(Path(options.config).parent)
        quiet_gradebook_warnings()
        # nbgrader creates a new gradebook with the `alembic` script of this Python's environment.
        bin_dir = str(Path(sys.executable).parent)
        if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
            os.environ["PATH"] = os.pathsep.join([bin_dir, os.environ.get("PATH", "")])
        self.scratch = Path(tempfile.gettempdir())  # replaced by a private folder for each run
        # Students whose files the zip collector refused (`grading.collect`): malformed, with the reason.
        self.collect_problems: dict[str, str] = {}

    # ---- paths

    def submitted(self, student: str) -> Path:
        return Path(self.coursedir.format_path(self.coursedir.submitted_directory, student, self.assignment))

    def autograded(self, student: str) -> Path:
        return Path(self.coursedir.format_path(self.coursedir.autograded_directory, student, self.assignment))

    def source(self) -> Path:
        return Path(self.coursedir.format_path(self.coursedir.source_directory, ".", self.assignment))

    def students(self) -> tuple[list[str], list[str]]:
        """(students with a submission folder, students without one) to grade in this run."""
        root = Path(self.coursedir.format_path(self.coursedir.submitted_directory, ".", ".")).resolve()
        present = sorted(p.parent.name for p in root.glob(f"*/{self.assignment}") if p.is_dir())
        present += [s for s in self.collect_problems if s not in present]
        if self.options.students:
            wanted = list(dict.fromkeys(self.options.students))
        else:
            wanted = sorted(set(present) | set(self.roster()))
        return [s for s in wanted if s in present], [s for s in wanted if s not in present]

    # ---- preparing one submission (main process)

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
        jobs: list[Job] = []
        problems: dict[str, str] = {}
        for notebook_id in notebooks:
            path = submitted / f"{notebook_id}.ipynb"
            if not path.exists() and not path.is_symlink():
                found = sorted(p.name for p in submitted.glob("*.ipynb"))
                problems[notebook_id] = (f"no {notebook_id}.ipynb in the submission"
                                         + (f" (found: {', '.join(found)})" if found else ""))
                continue
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

    def write_status(self, result: StudentResult, integrity: dict[str, Any] | None = None) -> None:
        result.sandbox = (self.isolation.describe() if self.isolation.ok
                          else "NONE: graded with --no-sandbox, student code ran unisolated")
        dest = self.autograded(result.student)
        dest.mkdir(parents=True, exist_ok=True)
        (dest / STATUS_FILE).write_text(json.dumps(result.to_json(), indent=1, default=str) + "\n")
        integrity_path = dest / INTEGRITY_FILE
        if integrity is not None:
            integrity_path.write_text(json.dumps(integrity, indent=1, default=str) + "\n")

    # ---- the whole run

    def run(self) -> list[StudentResult]:
        # Private (0700): it holds every notebook with its hidden tests. Sandboxes reach their own `run/` folder
        # through a bind mount, under parent folders that bwrap makes inside the sandbox.
        self.scratch = Path(tempfile.mkdtemp(prefix="calcml-grade-"))
        if self.isolation.ok:
            sandbox.sweep_stale_cgroups()
        # Even one worker is a separate process: a job that hangs or dies there never takes the run with it.
        pool = workers.Pool(self.options.workers or len(os.sched_getaffinity(0)))
        pool.warm_up()
        try:
            return self._run(pool)
        finally:
            pool.shutdown()
            sandbox.remove_tree(self.scratch)

    def _run(self, pool: workers.Pool) -> list[StudentResult]:
        notebooks = self.ensure_assignment()
        with_submission, without = self.students()
        total = len(with_submission) + len(without)
        bar = progress_bar(total, enabled=self.options.progress)
        results: list[StudentResult] = []
        now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        for student in without:
            result = StudentResult(student, self.assignment, "missing", 0.0, self.max_score(notebooks),
                                   notes=[f"no submission in {self.submitted(student)}"], graded_at=now)
            self.write_status(result)
            results.append(result)
            advance(bar, result.status)
        pending: dict[str, dict[str, Any]] = {}
        running: dict[futures.Future, tuple[Job, int | None]] = {}  # the pool generation; None: run alone

        def record(executed: Executed) -> None:
            if self._collect(executed, pending, notebooks, results):
                advance(bar, results[-1].status)

        def harvest(future: futures.Future) -> None:
            job, generation = running.pop(future)
            try:
                record(future.result())
            except BrokenProcessPool:
                # A worker process died (out of memory, killed from outside...). Every job the pool held fails
                # with it, so each runs again alone; only a job that kills a worker of its own is to blame.
                if generation is not None:
                    pool.restart(generation)
                    running[pool.isolate(job)] = (job, None)
                else:
                    record(Executed(job.student, job.assignment, job.notebook, None, kernel_died=True,
                                    error="the grading worker process died while running this notebook alone (it "
                                          "used more memory than a grading worker may, or was killed)"))
            except Exception as error:  # an error outside the kernel
                record(Executed(job.student, job.assignment, job.notebook, None, kernel_died=True,
                                error=f"{type(error).__name__}: {error}"))

        try:
            for student in with_submission:
                jobs, problems, notes = self.prepare(student, notebooks)
                state = {"jobs": len(jobs), "done": [], "problems": problems, "notes": notes}
                pending[student] = state
                for notebook_id in problems:
                    self.zero_notebook(student, notebook_id)
                if not jobs:
                    results.append(self.finish(student, notebooks, state))
                    advance(bar, results[-1].status)
                    continue
                for job in jobs:
                    running[pool.submit(job)] = (job, pool.generation)
                # Record what has finished meanwhile, so bookkeeping overlaps execution.
                for future in [f for f in running if f.done()]:
                    harvest(future)
            started: dict[futures.Future, float] = {}
            while running:
                done, _ = futures.wait(list(running), timeout=STALL_POLL, return_when=futures.FIRST_COMPLETED)
                for future in done:
                    harvest(future)
                for future in self._stuck(running, started):
                    job, generation = running.pop(future)
                    pool.stop(future, generation)
                    record(Executed(job.student, job.assignment, job.notebook, None, kernel_died=True,
                                    error=f"grading this notebook did not end within {self._stall_limit():g} s "
                                          "(its budget is far less); its worker was stopped"))
        finally:
            bar.close()
        return sorted(results, key=lambda r: r.student)

    def _stuck(self, running: dict, started: dict[futures.Future, float]) -> list[futures.Future]:
        """The jobs running past their budget and a grace period: something blocks their worker outside the
        sandbox's own limits (which end the kernel and the check in time), so the worker is presumed stuck."""
        now = time.monotonic()
        for future in running:
            if future.running():
                started.setdefault(future, now)
        return [f for f in running if f in started and now - started[f] > self._stall_limit()]

    def _stall_limit(self) -> float:
        # A job queued for a busy worker already counts as running, up to one budget before it starts.
        return 2 * self.notebook_timeout + self.options.stall_grace

    def _collect(self, executed: Executed, pending: dict, notebooks: list[str], results: list) -> bool:
        """Record one executed notebook; return True when its student is complete (appended to results)."""
        state = pending[executed.student]
        try:
            if executed.path:
                self.record_notebook(executed)
            else:
                self.zero_notebook(executed.student, executed.notebook)
        except Exception as error:
            executed.error = executed.error or f"recording failed: {type(error).__name__}: {error}"
            with contextlib.suppress(Exception):
                self.zero_notebook(executed.student, executed.notebook)
        state["done"].append(executed)
        if len(state["done"]) < state["jobs"]:
            return False
        results.append(self.finish(executed.student, notebooks, state))
        return True

    def finish(self, student: str, notebooks: list[str], state: dict) -> StudentResult:
        """The status and scores of a student whose notebooks are all recorded."""
        notes: list[str] = list(state.get("notes", []))
        status = "graded"
        if state["problems"]:
            status = "malformed"
            notes += list(state["problems"].values())
        integrity_reports: dict[str, Any] = {}
        flags: list[str] = []
        wall = 0.0
        for executed in state["done"]:
            wall += executed.wall
            notes += executed.notes
            if executed.error:
                notes.append(executed.error)
            if self.options.integrity and executed.path:
                integrity_reports[executed.notebook] = executed.integrity or {"ran": False}
                flags += self.apply_integrity(student, executed.notebook, executed.integrity)
                if (executed.integrity or {}).get("timed_out") is True and status == "graded":
                    status = "timeout"
                    notes.append("the out-of-kernel check ran out of the submission's time budget "
                                 f"({self.notebook_timeout:g} s for kernel and check together)")
            if status == "graded" or status == "timeout":
                if executed.kernel_died or (executed.path is None):
                    status = "crashed"
                elif executed.notebook_timeout or executed.timed_out_cells:
                    status = "timeout"
        if state["problems"] and all(m.startswith("no ") for m in state["problems"].values()) \
                and len(state["problems"]) == len(notebooks):
            status = "missing"  # a submission folder without the assignment's notebook
        score, maximum, exercises = self.scores(student, notebooks)
        if not maximum:
            maximum = self.max_score(notebooks)
        if executed_not_run := sorted({g for e in state["done"] for g in e.not_run}):
            notes.append(f"tests that never ran score 0 and need a manual look: {', '.join(executed_not_run)}")
        integrity_status = "not run"
        integrity_doc = None
        if integrity_reports:
            integrity_doc = {"student": student, "assignment": self.assignment, "flags": flags,
                             "notebooks": integrity_reports}
            integrity_status = report.integrity_state(integrity_doc)
        result = StudentResult(student, self.assignment, status, score, maximum, exercises, notes,
                               round(wall, 2), integrity_status,
                               datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"))
        self.write_status(result, integrity_doc)
        return result


# --------------------------------------------------------------------------------------------------------------
# Progress


def progress_bar(total: int, enabled: bool = True):
    """A tqdm bar on stderr that counts the submissions graded and shows the statuses so far."""
    from tqdm import tqdm

    return tqdm(total=total, disable=not enabled or not total, unit="submission", desc="grading",
                file=sys.stderr, dynamic_ncols=True)


def advance(bar, status: str) -> None:
    counts = getattr(bar, "statuses", {})
    counts[status] = counts.get(status, 0) + 1
    bar.statuses = counts
    bar.set_postfix_str(" ".join(f"{s} {counts[s]}" for s in STATUSES if counts.get(s)), refresh=False)
    bar.update(1)


# --------------------------------------------------------------------------------------------------------------
# CLI


def grade(assignment: str, options: Options | None = None, zip_path: Path | None = None) -> list[StudentResult]:
    """Grade `assignment`; with `zip_path`, first collect the submissions from that zip (see grading.collect)."""
    options = options or Options()
    grader = Grader(assignment, options)
    if zip_path is not None:
        notebooks = grader.ensure_assignment()
        target = Path(grader.coursedir.format_path(grader.coursedir.submitted_directory, ".", ".")).resolve()
        collected = collect.collect(zip_path, assignment, target, notebooks=notebooks, config=grader.config)
        for line in collected.messages():
            print(line, file=sys.stderr)
        grader.collect_problems = dict(collected.problems)
    results = grader.run()
    if options.report:
        report.write_all(options.config, assignments=[assignment])
    return results


def summary(results: Sequence[StudentResult]) -> str:
    lines = [f"{'student':<24} {'status':<10} {'score':>11}  notes"]
    for r in results:
        note = r.notes[0][:70] if r.notes else ""
        lines.append(f"{r.student:<24} {r.status:<10} {r.score:>5g} / {r.max_score:<4g} {note}")
    counts = {s: sum(r.status == s for r in results) for s in STATUSES}
    lines.append("statuses: " + ", ".join(f"{k} {v}" for k, v in counts.items() if v))
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> tuple[str, Options, Path | None]:
    parser = argparse.ArgumentParser(prog="python -m grading.grade", description=__doc__.splitlines()[0])
    parser.add_argument("assignment", help="the assignment (unit id), e.g. 01_derivatives")
    parser.add_argument("--workers", type=int, default=0, help="parallel kernels (default: one per core)")
    parser.add_argument("--zip", type=Path, help="collect the submissions from this zip first (zip-collect layout)")
    parser.add_argument("--no-sandbox", action="store_true",
                        help="allow grading WITHOUT isolation when bubblewrap is unavailable (trusted local use only)")
    parser.add_argument("--student", action="append", default=[], help="grade only this student (repeatable); "
                        "a named student without a submission is reported missing")
    parser.add_argument("--cell-timeout", type=float, help="seconds per cell (default: c.Execute.timeout)")
    parser.add_argument("--notebook-timeout", type=float, help="seconds per notebook, its kernel and its "
                        "out-of-kernel check together (default: 600)")
    parser.add_argument("--memory-mb", type=int, help="memory per kernel in MiB (default: 2048)")
    parser.add_argument("--no-integrity", action="store_true", help="skip the out-of-kernel integrity checks")
    parser.add_argument("--no-report", action="store_true", help="do not rewrite grades.csv and the report")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="the nbgrader config file")
    args = parser.parse_args(argv)
    options = Options(workers=args.workers, trusted=args.no_sandbox, students=tuple(args.student),
                      cell_timeout=args.cell_timeout, notebook_timeout=args.notebook_timeout,
                      memory_mb=args.memory_mb, integrity=not args.no_integrity, report=not args.no_report,
                      progress=not args.quiet, config=args.config.resolve())
    return args.assignment, options, args.zip


def main(argv: Sequence[str] | None = None) -> int:
    assignment, options, zip_path = parse_args(argv)
    try:
        results = grade(assignment, options, zip_path)
    except (sandbox.SandboxUnavailable, collect.UnsafeArchive) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(summary(results))
    iso = sandbox.isolation()
    print(f"sandbox: {iso.describe()}" if iso.ok else "sandbox: NONE (--no-sandbox): student code ran unisolated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
