"""Grade a class: `python -m grading.grade A [--workers N] [--zip FILE] [--no-sandbox] [--student S ...]`.

nbgrader stays the engine: its gradebook, its checksums and cell restoring (OverwriteCells), its score rules
(SaveAutoGrades), late penalties, manual grading and formgrader all work on what this writes. The grader
changes how the notebooks run, and says how each submission ended:

**Parallel execution, sequential bookkeeping.** The main process reads each submission, checks that it is a
valid nbformat-4 notebook, registers it in the gradebook and sanitizes it with nbgrader's own sanitize
preprocessors (clear outputs, restore locked and deleted test cells from the gradebook, kernelspec), into a
private scratch folder. N worker processes (default: one per core; each lives for the whole batch, so Python
and nbgrader start once per worker, not once per student) execute the sanitized notebooks, each in a fresh
sandboxed kernel (`grading.sandbox`), and run the pure-notebook preprocessors of the configured autograde
pipeline (stderr is not failure, LimitOutput...). The main process then runs the gradebook preprocessors
(SaveAutoGrades, AssignLatePenalties, CheckCellMetadata) on each executed notebook as it arrives, so only one
process ever writes the sqlite gradebook: it is never locked or corrupted, and a parallel run gives the same
scores as a sequential one.

**Statuses.** Every submission ends as one of:

- `graded`: every cell ran (a cell may have raised: that is a wrong answer, not a grading failure);
- `timeout`: a cell hit the per-cell limit (it was interrupted and the rest still ran), or the notebook hit
  its wall-time or CPU limit (the kernel was killed; tests that never ran score 0);
- `crashed`: the kernel died (`os._exit`, a segfault, the memory cgroup); tests that never ran score 0;
- `malformed`: not JSON, not nbformat 4, or invalid nbgrader metadata: nothing ran, every test scores 0;
- `missing`: a student of the gradebook, or named with `--student`, who has no submission.

Tests that never ran, and every test of a malformed submission, are marked `needs_manual_grade` in the
gradebook, so formgrader shows them too. No zero is silent.

**Files.** For each student and assignment, `autograder/autograded/<student>/<A>/` holds nbgrader's graded
notebook plus `grading.json` (status, scores per exercise, notes, wall time; see `StudentResult`) and, when
the integrity step ran, `integrity.json`. `autograder/grades.csv` (one row per student x assignment) and the
Markdown report `autograder/report/<A>/report.md` are rewritten after each run (see `grading.report`).

**Integrity hook.** If `grading.integrity` defines `check_submission(*, assignment, student, notebook_path,
workdir, trusted)`, each worker calls it after executing a notebook (outside the kernel) and returns what it
gives: a JSON-able dict `{"ran": bool, "exercises": {grade_id: {"points": float, "max_points": float,
"passed": bool, "detail": str}}, "flags": [str, ...]}`. The main process writes it to `integrity.json`, lowers
each exercise's auto score to the integrity points where they are lower (the final score is the lower of the
two), marks that grade `needs_manual_grade` and adds a flag. `--no-integrity` skips it.
"""

from __future__ import annotations

import argparse
import concurrent.futures as futures
import contextlib
import dataclasses
import datetime
import fnmatch
import importlib
import json
import multiprocessing
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Iterable, Sequence
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

import nbformat
from nbformat import NotebookNode

from grading import sandbox

AUTOGRADER = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = AUTOGRADER / "nbgrader_config.py"
STATUSES = ("graded", "timeout", "crashed", "malformed", "missing")
STATUS_FILE = "grading.json"
INTEGRITY_FILE = "integrity.json"
KERNEL_ARGS = ["--HistoryManager.hist_file=:memory:"]
# Preprocessors that read or write the gradebook run in the main process; the ones before them in the
# configured autograde pipeline (Execute and pure notebook transforms) run in the workers.
GRADEBOOK_STAGE_START = "SaveAutoGrades"


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
    integrity: str = "not run"  # 'not run' | 'ok' | 'flagged'
    graded_at: str = ""
    sandbox: str = ""  # the isolation in force, as `sandbox.Isolation.describe()` says

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# --------------------------------------------------------------------------------------------------------------
# nbgrader configuration and course folders


def load_config(path: Path = DEFAULT_CONFIG):
    """The nbgrader config of the course (a traitlets Config), loaded as nbgrader loads it."""
    from traitlets.config.loader import PyFileConfigLoader

    saved = list(sys.path)  # the config puts its own autograder/ first; keep this process's `grading`
    try:
        return PyFileConfigLoader(Path(path).name, path=str(Path(path).parent)).load_config()
    finally:
        sys.path[:] = saved


def course_directory(config):
    from nbgrader.coursedir import CourseDirectory

    return CourseDirectory(config=config)


def _class_name(item: Any) -> str:
    return item if isinstance(item, str) else item.__name__


def _resolve(item: Any) -> type:
    if not isinstance(item, str):
        return item
    module, _, name = item.rpartition(".")
    return getattr(importlib.import_module(module), name)


def pipeline(config) -> tuple[list[type], list[type], list[type]]:
    """(sanitize, worker, gradebook) preprocessor classes, from the configured Autograde lists."""
    from nbgrader.converters.autograde import Autograde

    traits = Autograde.class_traits()
    sanitize = config.Autograde.get("sanitize_preprocessors", traits["sanitize_preprocessors"].default())
    autograde = config.Autograde.get("autograde_preprocessors", traits["autograde_preprocessors"].default())
    names = [_class_name(item) for item in autograde]
    if GRADEBOOK_STAGE_START not in names:
        raise SystemExit(f"the autograde pipeline in the nbgrader config has no {GRADEBOOK_STAGE_START}")
    cut = names.index(GRADEBOOK_STAGE_START)
    return ([_resolve(p) for p in sanitize], [_resolve(p) for p in autograde[:cut]],
            [_resolve(p) for p in autograde[cut:]])


def _run_preprocessors(classes: Iterable[type], nb: NotebookNode, resources: dict, config,
                       **overrides: Any) -> tuple[NotebookNode, dict]:
    for cls in classes:
        preprocessor = overrides.get(cls.__name__) or cls(config=config)
        nb, resources = preprocessor(nb, resources)
    return nb, resources


# --------------------------------------------------------------------------------------------------------------
# Reading a submission


class Malformed(Exception):
    """The submission cannot be graded as it is; the message says why."""


def read_submission(path: Path) -> NotebookNode:
    """Parse a submitted notebook strictly: JSON, nbformat 4, valid against the schema."""
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise Malformed(f"cannot read {path.name}: {error.strerror}") from None
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise Malformed(f"{path.name} is not valid JSON ({str(error)[:120]})") from None
    if not isinstance(data, dict) or "cells" not in data:
        raise Malformed(f"{path.name} is JSON but not a notebook (no 'cells')")
    major = data.get("nbformat")
    if major != 4:
        raise Malformed(f"{path.name} is nbformat {major!r}; this course's notebooks are nbformat 4 "
                        "(re-save it with a current Jupyter)")
    try:
        with warnings_suppressed():
            notebook = nbformat.reads(raw.decode("utf-8"), as_version=4)
            nbformat.validate(notebook)
    except Exception as error:  # nbformat's ValidationError, or a structure from_dict rejects
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise Malformed(f"{path.name} is not a valid nbformat 4 notebook: {message[:200]}") from None
    return notebook


@contextlib.contextmanager
def warnings_suppressed():
    """Silence library warnings (nbformat's validation chatter, SQLAlchemy's autoflush notes from nbgrader)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


# --------------------------------------------------------------------------------------------------------------
# The worker side: execute one sanitized notebook in a sandboxed kernel


@dataclasses.dataclass
class Job:
    student: str
    assignment: str
    notebook: str  # notebook id (file name without .ipynb)
    workdir: str  # the kernel's working folder: a private copy of the student's other files
    notebook_dir: str  # beside it, never visible in the sandbox: the sanitized notebook (with hidden tests)
    policy: sandbox.SandboxPolicy
    trusted: bool
    cell_timeout: float
    notebook_timeout: float
    config_path: str
    integrity: bool


@dataclasses.dataclass
class Executed:
    student: str
    assignment: str
    notebook: str
    path: str | None  # the executed notebook, or None if nothing could run
    timed_out_cells: list[int] = dataclasses.field(default_factory=list)
    notebook_timeout: bool = False
    kernel_died: bool = False
    not_run: list[str] = dataclasses.field(default_factory=list)  # grade_ids of tests that never ran
    output_truncated: bool = False
    notes: list[str] = dataclasses.field(default_factory=list)
    wall: float = 0.0
    integrity: dict[str, Any] | None = None
    error: str = ""


_WORKER_CONFIG: dict[str, Any] = {}


def _worker_config(path: str):
    if path not in _WORKER_CONFIG:
        _WORKER_CONFIG[path] = load_config(Path(path))
    return _WORKER_CONFIG[path]


def _worker_init() -> None:
    """Each worker: ignore Ctrl-C (the main process handles it), and warm the imports up once."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, "1")
    import nbclient  # noqa: F401
    import nbgrader.preprocessors  # noqa: F401


def _sandboxed_execute_class():
    from nbclient.exceptions import DeadKernelError  # noqa: F401
    from nbgrader.preprocessors import Execute

    class SandboxedExecute(Execute):
        """nbgrader's Execute in a sandboxed kernel, with a cap on the bytes of output kept, a record of
        the cells that ran and the cells that timed out."""

        def __init__(self, *, job: Job, **kwargs: Any):
            kwargs["kernel_manager_class"] = sandbox.SandboxedKernelManager.configured(job.policy, job.trusted)
            super().__init__(**kwargs)
            self.job = job
            self.output_budget = job.policy.max_output_bytes
            self.output_truncated = False
            self.ran: set[int] = set()
            self.timed_out: list[int] = []
            self.kernel_manager = None  # kept after nbclient drops `km`, for its diagnosis
            self.strays = 0  # processes left behind by cells, killed when their cell ended

        def create_kernel_manager(self):
            self.kernel_manager = super().create_kernel_manager()
            return self.kernel_manager

        def output(self, outs, msg, display_id, cell_index):
            size = len(json.dumps(msg.get("content", {}), default=str))
            if self.output_truncated:
                return None
            self.output_budget -= size
            if self.output_budget < 0:
                self.output_truncated = True
                notice = nbformat.v4.new_output(
                    "stream", name="stdout",
                    text=f"\n[output truncated by the grader: this notebook printed more than "
                         f"{self.job.policy.max_output_bytes} bytes]\n")
                outs.append(notice)
                return None
            return super().output(outs, msg, display_id, cell_index)

        def on_cell_executed(self, **kwargs: Any) -> None:
            km = self.kernel_manager
            if km is not None and hasattr(km, "kill_strays"):
                killed = km.kill_strays()
                if killed:
                    self.strays += killed
            reply = kwargs.get("execute_reply") or {}
            content = reply.get("content", {})
            if content.get("ename") == self.error_on_timeout.get("ename"):
                self.timed_out.append(kwargs["cell_index"])
            else:
                self.ran.add(kwargs["cell_index"])
            super().on_cell_executed(**kwargs)

    return SandboxedExecute


def _kill_kernel(executor) -> None:
    """Kill the sandbox of `executor`'s kernel (its bwrap, hence its whole pid namespace)."""
    km = getattr(executor, "km", None) or getattr(executor, "kernel_manager", None)
    process = getattr(getattr(km, "provisioner", None), "process", None)
    if process is not None:
        with contextlib.suppress(OSError):
            os.killpg(process.pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            process.kill()
    jail = getattr(km, "jail", None)
    if jail is not None:
        jail.kill_all()


def execute_job(job: Job) -> Executed:
    """Run in a worker: execute the sanitized notebook of `job` and the pure-notebook preprocessors."""
    start = time.monotonic()
    result = Executed(job.student, job.assignment, job.notebook, None)
    config = _worker_config(job.config_path)
    _, worker_stage, _ = pipeline(config)
    path = Path(job.notebook_dir) / f"{job.notebook}.ipynb"
    notebook = nbformat.read(path, as_version=4)
    resources = {"metadata": {"path": job.workdir, "name": job.notebook},
                 "nbgrader": {"student": job.student, "assignment": job.assignment, "notebook": job.notebook}}
    executor = _sandboxed_execute_class()(
        job=job, config=config, timeout=int(job.cell_timeout), interrupt_on_timeout=True,
        extra_arguments=KERNEL_ARGS, startup_timeout=120)
    watchdog_fired = threading.Event()

    def watchdog() -> None:
        watchdog_fired.set()
        _kill_kernel(executor)

    timer = threading.Timer(job.notebook_timeout, watchdog)
    timer.daemon = True
    timer.start()
    failure: BaseException | None = None
    try:
        notebook, resources = executor(notebook, resources)
        for cls in worker_stage:
            if cls.__name__ == "Execute":
                continue
            notebook, resources = cls(config=config)(notebook, resources)
    except Exception as error:  # DeadKernelError, CellTimeoutError, a kernel that never started...
        failure = error
    finally:
        timer.cancel()
        _kill_kernel(executor)
    km = executor.kernel_manager
    diagnosis = (getattr(km, "last_diagnosis", None) or (km.diagnosis() if km is not None and km.jail else None)) \
        if km is not None else None
    result.output_truncated = executor.output_truncated
    result.timed_out_cells = sorted(executor.timed_out)
    if executor.strays:
        result.notes.append(f"{executor.strays} process(es) left running by cells were killed when their cell ended")
    if executor.output_truncated:
        result.notes.append(f"output truncated after {job.policy.max_output_bytes} bytes")
    if watchdog_fired.is_set():
        result.notebook_timeout = True
        result.notes.append(f"the notebook hit its wall-time limit of {job.notebook_timeout:g} s; "
                            "its kernel was killed")
    elif failure is not None:
        name = type(failure).__name__
        if name == "DeadKernelError" or "died" in str(failure).lower():
            result.kernel_died = True
            why = "the kernel died"
            out_of_memory = any(o.get("ename") == "MemoryError" for c in notebook.cells for o in c.get("outputs", []))
            if (diagnosis and diagnosis.get("oom_killed")) or out_of_memory:
                why += " (out of memory: it used more than its memory limit)"
            elif diagnosis and diagnosis.get("process_limit"):
                why += " (after reaching its process limit)"
            result.notes.append(why)
        elif name == "CellTimeoutError":
            result.notebook_timeout = True
            result.notes.append("the kernel stopped answering after a cell timed out; it was killed")
        else:
            result.kernel_died = True
            result.notes.append(f"execution failed: {name}: {str(failure)[:300]}")
        log = (diagnosis or {}).get("log", "").strip()
        if log:
            result.notes.append("kernel log: " + log.splitlines()[-1][:300])
    if result.timed_out_cells:
        result.notes.append("cell(s) hit the per-cell time limit of "
                            f"{job.cell_timeout:g} s and were interrupted: "
                            f"{', '.join(map(str, result.timed_out_cells))}")
    reason = ("the notebook was stopped at its time limit before this test ran" if result.notebook_timeout
              else "the kernel died before this test ran")
    for index, cell in enumerate(notebook.cells):
        nbg = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code" or not nbg.get("grade") or nbg.get("solution"):
            continue
        if index not in executor.ran and index not in executor.timed_out:
            result.not_run.append(nbg.get("grade_id", f"cell {index}"))
            cell.outputs = [o for o in cell.get("outputs", []) if o.get("output_type") != "error"] + [
                nbformat.v4.new_output("error", ename="NotExecuted", evalue=reason,
                                       traceback=[f"NotExecuted: {reason}"])]
    out = Path(job.notebook_dir) / f"{job.notebook}.executed.ipynb"
    nbformat.write(notebook, out)
    result.path = str(out)
    if job.integrity:
        result.integrity = _integrity(job, out)
    result.wall = time.monotonic() - start
    return result


def _integrity(job: Job, executed: Path) -> dict[str, Any] | None:
    """The out-of-kernel checks of `grading.integrity`, if that module provides them; None if not."""
    try:
        module = importlib.import_module("grading.integrity")
    except ImportError:
        return None
    check = getattr(module, "check_submission", None)
    if check is None:
        return None
    try:
        return check(assignment=job.assignment, student=job.student, notebook_path=str(executed),
                     workdir=job.workdir, trusted=job.trusted)
    except Exception as error:  # the integrity step must never stop the batch
        return {"ran": False, "error": f"{type(error).__name__}: {error}", "exercises": {}, "flags": []}


# --------------------------------------------------------------------------------------------------------------
# The main side: registering, sanitizing and recording


def _quiet_gradebook_warnings() -> None:
    """nbgrader's Gradebook makes SQLAlchemy warn about autoflush on every new submission; nbgrader's own
    autograde prints the same. They are noise for the instructor."""
    import warnings

    with contextlib.suppress(ImportError):
        from sqlalchemy.exc import SAWarning

        warnings.filterwarnings("ignore", category=SAWarning)


def _warm() -> int:
    return os.getpid()


class _Pool:
    """The worker processes, forked from a server that imported the heavy modules once; rebuilt when a worker
    process dies."""

    PRELOAD = ["grading.grade", "grading.sandbox", "nbclient", "nbgrader.preprocessors", "jupyter_client.manager"]

    def __init__(self, workers: int):
        self.workers = workers
        self.generation = 0
        self.attempts: dict[tuple[str, str], int] = {}
        self.pool = self._new()

    def _new(self) -> futures.ProcessPoolExecutor:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(self.PRELOAD)
        return futures.ProcessPoolExecutor(max_workers=self.workers, mp_context=context, initializer=_worker_init)

    def warm_up(self) -> None:
        """Start every worker now (each import happens once, in the fork server), while the main process
        reads the config, the gradebook and the submissions."""
        for _ in range(self.workers):
            self.pool.submit(_warm)

    def submit(self, job: Job) -> futures.Future:
        key = (job.student, job.notebook)
        self.attempts[key] = self.attempts.get(key, 0) + 1
        try:
            return self.pool.submit(execute_job, job)
        except BrokenProcessPool:
            self.restart(self.generation)
            return self.pool.submit(execute_job, job)

    def restart(self, generation: int) -> None:
        """Replace the pool, once per breakage (every future of a broken pool reports it)."""
        if generation != self.generation:
            return
        self.pool.shutdown(wait=False, cancel_futures=True)
        sandbox.sweep_stale_cgroups()
        self.pool = self._new()
        self.generation += 1

    def shutdown(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


class Grader:
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
        _quiet_gradebook_warnings()
        # nbgrader creates a new gradebook with the `alembic` script of this Python's environment.
        bin_dir = str(Path(sys.executable).parent)
        if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
            os.environ["PATH"] = os.pathsep.join([bin_dir, os.environ.get("PATH", "")])
        self.scratch = Path(tempfile.gettempdir())  # replaced by a private folder for each run

    # ---- paths

    def submitted(self, student: str) -> Path:
        return Path(self.coursedir.format_path(self.coursedir.submitted_directory, student, self.assignment))

    def autograded(self, student: str) -> Path:
        return Path(self.coursedir.format_path(self.coursedir.autograded_directory, student, self.assignment))

    def source(self) -> Path:
        return Path(self.coursedir.format_path(self.coursedir.source_directory, ".", self.assignment))

    # ---- the gradebook

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
        import subprocess

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

    def students(self) -> tuple[list[str], list[str]]:
        """(students with a submission folder, students without one) to grade in this run."""
        root = Path(self.coursedir.format_path(self.coursedir.submitted_directory, ".", ".")).resolve()
        present = sorted(p.parent.name for p in root.glob(f"*/{self.assignment}") if p.is_dir())
        if self.options.students:
            wanted = list(dict.fromkeys(self.options.students))
        else:
            wanted = sorted(set(present) | set(self.roster()))
        return [s for s in wanted if s in present], [s for s in wanted if s not in present]

    # ---- preparing one submission (main process)

    def _ignored(self, name: str) -> bool:
        return any(fnmatch.fnmatch(name, pattern) for pattern in self.coursedir.ignore)

    def _copy_files(self, src: Path, dest: Path, skip_notebooks: bool = True) -> None:
        """Copy the non-notebook files of `src` into `dest` (symlinks are never followed)."""
        if not src.is_dir():
            return
        for path in sorted(src.rglob("*")):
            relative = path.relative_to(src)
            if any(self._ignored(part) for part in relative.parts) or path.is_symlink() or not path.is_file():
                continue
            if skip_notebooks and path.suffix == ".ipynb":
                continue
            if relative.name == "timestamp.txt" and relative.parent == Path("."):
                continue
            target = dest / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileNotFoundError):
                target.unlink()
            shutil.copyfile(path, target)

    def prepare(self, student: str, notebooks: list[str]) -> tuple[list[Job], StudentResult | None, dict]:
        """Register the submission and sanitize its notebooks into the scratch folder.

        Returns the jobs to execute, or a final result (malformed), and per-notebook problems.
        """
        submitted = self.submitted(student)
        timestamp = None
        with contextlib.suppress(Exception):
            timestamp = self.coursedir.get_existing_timestamp(str(submitted))
        with self.gradebook() as gb:
            gb.update_or_create_student(student)
            if timestamp:
                gb.update_or_create_submission(self.assignment, student, timestamp=timestamp)
            else:
                gb.update_or_create_submission(self.assignment, student)
        # The kernel sees only `run/`; the notebook it executes (test cells restored with their hidden tests)
        # stays one level up, out of the sandbox.
        notebook_dir = self.scratch / student / self.assignment
        if notebook_dir.exists():
            shutil.rmtree(notebook_dir)
        workdir = notebook_dir / "run"
        workdir.mkdir(parents=True)
        self._copy_files(submitted, workdir)
        self._copy_files(self.source(), workdir)
        # As `nbgrader autograde --force`: a fresh autograded folder with the student's other files and the
        # instructor's (data files of source/, never notebooks or *.py), copied before anything runs.
        dest = self.autograded(student)
        if dest.exists():
            shutil.rmtree(dest)
        dest.mkdir(parents=True)
        self._copy_files(submitted, dest)
        self._copy_files(self.source(), dest)
        jobs: list[Job] = []
        problems: dict[str, str] = {}
        for notebook_id in notebooks:
            path = submitted / f"{notebook_id}.ipynb"
            if not path.exists():
                found = sorted(p.name for p in submitted.glob("*.ipynb"))
                problems[notebook_id] = (f"no {notebook_id}.ipynb in the submission"
                                         + (f" (found: {', '.join(found)})" if found else ""))
                continue
            try:
                notebook = read_submission(path)
                resources = {"nbgrader": {"student": student, "assignment": self.assignment,
                                          "notebook": notebook_id, "db_url": self.db_url},
                             "metadata": {"path": str(workdir), "name": notebook_id}}
                with warnings_suppressed():
                    notebook, _ = _run_preprocessors(self.sanitize_stage, notebook, resources, self.config)
            except Malformed as error:
                problems[notebook_id] = str(error)
                continue
            except Exception as error:  # CheckCellMetadata, schema errors, inconsistent checksums...
                problems[notebook_id] = f"{path.name} cannot be sanitized: {type(error).__name__}: {str(error)[:200]}"
                continue
            if notebook.get("nbformat_minor", 0) >= 5:  # cells nbgrader restored have no id yet
                for index, cell in enumerate(notebook.cells):
                    cell.setdefault("id", f"restored-{index}")
            nbformat.write(notebook, notebook_dir / f"{notebook_id}.ipynb")
            jobs.append(Job(student, self.assignment, notebook_id, str(workdir), str(notebook_dir), self.policy,
                            self.options.trusted,
                            self.cell_timeout, self.notebook_timeout, str(self.options.config),
                            self.options.integrity))
        return jobs, None, problems

    # ---- recording results (main process)

    def record_notebook(self, executed: Executed) -> None:
        """Run the gradebook stage on an executed notebook and write it to autograded/."""
        student, notebook_id = executed.student, executed.notebook
        notebook = nbformat.read(executed.path, as_version=4)
        resources = {"nbgrader": {"student": student, "assignment": self.assignment, "notebook": notebook_id,
                                  "db_url": self.db_url},
                     "metadata": {"path": str(Path(executed.path).parent), "name": notebook_id}}
        notebook, _ = _run_preprocessors(self.gradebook_stage, notebook, resources, self.config)
        dest = self.autograded(student)
        dest.mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook, dest / f"{notebook_id}.ipynb")
        if executed.not_run:
            with self.gradebook() as gb:
                for grade_id in executed.not_run:
                    with contextlib.suppress(Exception):
                        grade = gb.find_grade(grade_id, notebook_id, self.assignment, student)
                        grade.auto_score = 0
                        grade.needs_manual_grade = True
                gb.db.commit()

    def zero_notebook(self, student: str, notebook_id: str) -> None:
        """A notebook that could not run: every grade 0, flagged for manual grading."""
        with self.gradebook() as gb:
            submission = gb.find_submission_notebook(notebook_id, self.assignment, student)
            for grade in submission.grades:
                grade.auto_score = 0
                grade.needs_manual_grade = True
            gb.db.commit()

    def apply_integrity(self, student: str, notebook_id: str, report: dict[str, Any]) -> list[str]:
        """Lower each auto score to the integrity points where those are lower; return the flags."""
        flags = list(report.get("flags", []))
        with self.gradebook() as gb:
            for grade_id, check in (report.get("exercises") or {}).items():
                try:
                    grade = gb.find_grade(grade_id, notebook_id, self.assignment, student)
                except Exception:
                    continue
                points = check.get("points")
                if points is None or grade.auto_score is None:
                    continue
                if float(points) < float(grade.auto_score):
                    flags.append(f"{grade_id}: passed in the kernel ({grade.auto_score:g} pt) but the "
                                 f"out-of-kernel check gives {float(points):g} pt"
                                 + (f": {check.get('detail')}" if check.get("detail") else ""))
                    grade.auto_score = float(points)
                    grade.needs_manual_grade = True
            gb.db.commit()
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
        self.scratch = Path(tempfile.mkdtemp(prefix="calcml-grade-"))
        os.chmod(self.scratch, 0o755)  # the sandboxes must traverse it to reach their own folder
        if self.isolation.ok:
            sandbox.sweep_stale_cgroups()
        workers = self.options.workers or len(os.sched_getaffinity(0))
        pool = _Pool(workers) if workers > 1 else None
        if pool is not None:
            pool.warm_up()
        try:
            return self._run(pool)
        finally:
            if pool is not None:
                pool.shutdown()
            shutil.rmtree(self.scratch, ignore_errors=True)

    def _run(self, pool: _Pool | None) -> list[StudentResult]:
        notebooks = self.ensure_assignment()
        with_submission, without = self.students()
        total = len(with_submission) + len(without)
        bar = Progress(total, enabled=self.options.progress)
        results: list[StudentResult] = []
        now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        for student in without:
            result = StudentResult(student, self.assignment, "missing", 0.0, self.max_score(notebooks),
                                   notes=[f"no submission in {self.submitted(student)}"], graded_at=now)
            self.write_status(result)
            results.append(result)
            bar.advance(result.status)
        pending: dict[str, dict[str, Any]] = {}
        running: dict[futures.Future, tuple[Job, int]] = {}

        def record(executed: Executed) -> None:
            if self._collect(executed, pending, notebooks, results):
                bar.advance(results[-1].status)

        def harvest(future: futures.Future) -> None:
            job, generation = running.pop(future)
            try:
                record(future.result())
            except BrokenProcessPool:
                # A worker process died (killed from outside, out of memory...). Every job it held fails with
                # it; each is run again in a fresh pool, and a job that breaks the pool twice is a crash.
                pool.restart(generation)
                if pool.attempts[(job.student, job.notebook)] < 2:
                    running[pool.submit(job)] = (job, pool.generation)
                else:
                    record(Executed(job.student, job.assignment, job.notebook, None, kernel_died=True,
                                    error="the grading worker process died twice while running this notebook"))
            except Exception as error:  # an error outside the kernel
                record(Executed(job.student, job.assignment, job.notebook, None, kernel_died=True,
                                error=f"{type(error).__name__}: {error}"))

        try:
            for student in with_submission:
                jobs, _, problems = self.prepare(student, notebooks)
                state = {"jobs": len(jobs), "done": [], "problems": problems, "start": time.monotonic()}
                pending[student] = state
                for notebook_id in problems:
                    self.zero_notebook(student, notebook_id)
                if not jobs:
                    results.append(self.finish(student, notebooks, state))
                    bar.advance(results[-1].status)
                    continue
                for job in jobs:
                    if pool is None:
                        record(self._safe_execute(job))
                    else:
                        running[pool.submit(job)] = (job, pool.generation)
                # Record what has finished meanwhile, so bookkeeping overlaps execution.
                for future in [f for f in running if f.done()]:
                    harvest(future)
            while running:
                done, _ = futures.wait(list(running), return_when=futures.FIRST_COMPLETED)
                for future in done:
                    harvest(future)
        finally:
            bar.close()
        return sorted(results, key=lambda r: r.student)

    def _safe_execute(self, job: Job) -> Executed:
        try:
            return execute_job(job)
        except Exception as error:
            return Executed(job.student, job.assignment, job.notebook, None, kernel_died=True,
                            error=f"{type(error).__name__}: {error}", notes=[traceback.format_exc(limit=3)[-500:]])

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
        notes: list[str] = []
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
            if executed.integrity is not None:
                integrity_reports[executed.notebook] = executed.integrity
                if executed.path and executed.integrity.get("exercises"):
                    flags += self.apply_integrity(student, executed.notebook, executed.integrity)
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
            ran = all(r.get("ran", True) for r in integrity_reports.values())
            integrity_status = ("flagged" if flags else "ok") if ran else "not run"
            integrity_doc = {"student": student, "assignment": self.assignment, "flags": flags,
                             "notebooks": integrity_reports}
        result = StudentResult(student, self.assignment, status, score, maximum, exercises, notes,
                               round(wall, 2), integrity_status,
                               datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"))
        self.write_status(result, integrity_doc)
        return result


# --------------------------------------------------------------------------------------------------------------
# Progress bar


class Progress:
    """A one-line text progress bar on stderr (a line per update when stderr is not a terminal)."""

    def __init__(self, total: int, enabled: bool = True, width: int = 30, stream=None):
        self.total, self.done, self.width, self.enabled = total, 0, width, enabled
        self.stream = stream or sys.stderr
        self.counts: dict[str, int] = {}
        self.start = time.monotonic()
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        if enabled and total:
            self._draw()

    def line(self) -> str:
        filled = int(self.width * self.done / self.total) if self.total else self.width
        counts = " ".join(f"{status} {self.counts[status]}" for status in STATUSES if self.counts.get(status))
        elapsed = time.monotonic() - self.start
        eta = ""
        if 0 < self.done < self.total:
            eta = f" eta {_duration(elapsed / self.done * (self.total - self.done))}"
        return (f"grading [{'#' * filled}{'.' * (self.width - filled)}] {self.done}/{self.total} "
                f"{_duration(elapsed)}{eta}{' | ' + counts if counts else ''}")

    def _draw(self) -> None:
        if self.tty:
            self.stream.write("\r" + self.line().ljust(100))
        else:
            self.stream.write(self.line() + "\n")
        self.stream.flush()

    def advance(self, status: str) -> None:
        self.done += 1
        self.counts[status] = self.counts.get(status, 0) + 1
        if self.enabled:
            self._draw()

    def close(self) -> None:
        if self.enabled and self.tty:
            self.stream.write("\n")
            self.stream.flush()


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


# --------------------------------------------------------------------------------------------------------------
# CLI


def grade(assignment: str, options: Options | None = None, zip_path: Path | None = None) -> list[StudentResult]:
    """Grade `assignment`; with `zip_path`, first collect the submissions from that zip (see grading.collect)."""
    options = options or Options()
    grader = Grader(assignment, options)
    if zip_path is not None:
        from grading import collect

        notebooks = grader.ensure_assignment()
        target = Path(grader.coursedir.format_path(grader.coursedir.submitted_directory, ".", ".")).resolve()
        collected = collect.collect(zip_path, assignment, target, notebooks=notebooks, config=grader.config)
        for line in collected.messages():
            print(line, file=sys.stderr)
    results = grader.run()
    if options.report:
        from grading import report

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
    parser.add_argument("--notebook-timeout", type=float, help="seconds per notebook (default: 600)")
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
    except sandbox.SandboxUnavailable as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(summary(results))
    iso = sandbox.isolation()
    print(f"sandbox: {iso.describe()}" if iso.ok else "sandbox: NONE (--no-sandbox): student code ran unisolated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
