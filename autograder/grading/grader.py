"""The grading run of one assignment: `Grader`, with its `Options`, and each submission's `StudentResult`.

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
gradebook and a parallel run gives the scores of a sequential one. With `--scheduler`, the workers of a Dask
cluster execute instead (`grading.dask_pool`), and the main process records their results the same way.

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

import concurrent.futures as futures
import contextlib
import dataclasses
import datetime
import json
import os
import sys
import tempfile
import time
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from grading import dask_pool, intake, report, sandbox, workers
from grading.bookkeeping import Bookkeeping, quiet_gradebook_warnings
from grading.config import (
    DEFAULT_CONFIG,
    INTEGRITY_FILE,
    STATUS_FILE,
    STATUSES,
    course_directory,
    load_config,
    pipeline,
)
from grading.execution import Executed, Job
from grading.preparation import Preparation

STALL_POLL = 5.0  # seconds between the main process's looks at the running jobs


# --------------------------------------------------------------------------------------------------------------
# Options and results


@dataclasses.dataclass
class Options:
    """How to grade. Limits default to the nbgrader config (`c.Execute.timeout`) and `SandboxPolicy`."""

    workers: int = 0  # 0: one per core
    trusted: bool = False  # --no-sandbox
    scheduler: str | None = None  # --scheduler: a Dask scheduler's address; None: the local pool
    resume: bool = False  # --resume: skip the submissions that already have a verdict (see `Grader.students`)
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
    submission_digest: str = ""  # of the files graded (`intake.submission_digest`): --resume skips them unchanged

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# --------------------------------------------------------------------------------------------------------------
# The grader


class Grader(Preparation, Bookkeeping):
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
        # On a Dask cluster the workers run the student code, and each is checked when the run starts.
        self.isolation = sandbox.isolation() if options.scheduler else sandbox.require(options.trusted)
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
    # ---- which students

    def students(self) -> tuple[list[str], list[str]]:
        """(students with a submission folder, students without one) to grade in this run."""
        root = Path(self.coursedir.format_path(self.coursedir.submitted_directory, ".", ".")).resolve()
        present = sorted(p.parent.name for p in root.glob(f"*/{self.assignment}") if p.is_dir())
        present += [s for s in self.collect_problems if s not in present]
        if self.options.students:
            wanted = list(dict.fromkeys(self.options.students))
        else:
            wanted = sorted(set(present) | set(self.roster()))
        if self.options.resume:
            wanted = [s for s in wanted if not self.has_verdict(s)]
        return [s for s in wanted if s in present], [s for s in wanted if s not in present]

    def has_verdict(self, student: str) -> bool:
        """Whether a run ended this very submission (its files' digest) graded, timeout or malformed (`--resume` skips
        it). A run stopped midway leaves no status file; a crash or a missing submission is always run again."""
        status_file, submitted = self.autograded(student) / STATUS_FILE, self.submitted(student)
        try:  # any doubt grades it again: a path that cannot be read, a status file handed in (copied as data)
            verdict, digest = json.loads(status_file.read_text()), intake.submission_digest(submitted)  # not times
        except (OSError, ValueError, AttributeError):
            return False
        return (verdict.get("status") in ("graded", "timeout", "malformed") and bool(digest)
                and verdict.get("submission_digest") == digest and not (submitted / STATUS_FILE).exists())

    def write_status(self, result: StudentResult, integrity: dict[str, Any] | None = None) -> None:
        result.sandbox = (self.isolation.describe() if self.isolation.ok
                          else "NONE: graded with --no-sandbox, student code ran unisolated")
        dest = self.autograded(result.student)
        dest.mkdir(parents=True, exist_ok=True)
        result.submission_digest = intake.submission_digest(self.submitted(result.student))  # for --resume
        (dest / STATUS_FILE).write_text(json.dumps(result.to_json(), indent=1, default=str) + "\n")
        integrity_path = dest / INTEGRITY_FILE
        if integrity is not None:
            integrity_path.write_text(json.dumps(integrity, indent=1, default=str) + "\n")

    # ---- the whole run

    def run(self) -> list[StudentResult]:
        pool = self._pool()
        # Private (0700): it holds every notebook with its hidden tests. Sandboxes reach their own `run/` folder
        # through a bind mount, under parent folders that bwrap makes inside the sandbox.
        self.scratch = Path(tempfile.mkdtemp(prefix="calcml-grade-"))
        try:
            return self._run(pool)
        finally:
            pool.shutdown()
            sandbox.remove_tree(self.scratch)

    def _pool(self) -> workers.Pool:
        """The local worker processes, or with `--scheduler` a Dask cluster's workers (`grading.dask_pool`)."""
        if self.options.scheduler:
            cluster = dask_pool.DaskPool(self.options.scheduler, self.options.trusted)
            self.isolation = cluster.isolation  # what the workers offer, for the status files
            return cluster  # type: ignore[return-value] -- the same submit/stop/shutdown, futures of Executed
        if self.isolation.ok:
            sandbox.sweep_stale_cgroups()
        # Even one worker is a separate process: a job that hangs or dies there never takes the run with it.
        pool = workers.Pool(self.options.workers or len(os.sched_getaffinity(0)))
        pool.warm_up()
        return pool

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
            except (workers.PoolUnavailable, sandbox.SandboxUnavailable):
                raise  # the cluster is gone or unsafe: the run ends, what was recorded stays
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
        if any(done.notebook == executed.notebook for done in state["done"]):
            return False  # recorded once already: a notebook never counts twice
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

