"""The worker side of grading: execute one sanitized notebook in a sandboxed kernel, then check it out of kernel.

A worker process (`grading.workers`) runs `execute_job` for each `Job`: nbgrader's Execute in a kernel made
by `grading.sandbox`, with a cap on the output it keeps and a record of the cells that ran and timed out, then
the pure-notebook preprocessors of the configured autograde pipeline, then the out-of-kernel check of
`grading.integrity` with what is left of the submission's time budget. Nothing here writes the gradebook: the
main process records each `Executed` it gets back (`grading.bookkeeping`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import nbformat

from grading import sandbox
from grading.config import load_config, pipeline
from grading.kernel_manager import SandboxedKernelManager

KERNEL_ARGS = ["--HistoryManager.hist_file=:memory:"]


@dataclasses.dataclass
class Job:
    """One notebook to execute: everything a worker process needs, sent to it by pickle."""

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
    secret: bytes = b""  # the course's secret, which seeds the out-of-kernel check's hidden inputs


@dataclasses.dataclass
class Executed:
    """How the execution of one notebook ended, sent back to the main process."""

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


def _sandboxed_execute_class():
    from nbclient.exceptions import DeadKernelError  # noqa: F401
    from nbgrader.preprocessors import Execute

    class SandboxedExecute(Execute):
        """nbgrader's Execute in a sandboxed kernel, with a cap on the bytes of output kept, a record of
        the cells that ran and the cells that timed out."""

        def __init__(self, *, job: Job, **kwargs: Any):
            kwargs["kernel_manager_class"] = SandboxedKernelManager.configured(job.policy, job.trusted)
            # Widget state arrives in comm messages, which the output budget does not see: keep none of it (a
            # flood of it once swelled the executed notebook to 200 MB).
            kwargs["store_widget_state"] = False
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
            if self.output_truncated:
                return None
            size = _content_size(msg.get("content", {}))
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


def _content_size(content: Any) -> int:
    """About how many bytes a message's content holds, without serialising it again (an explicit stack, so a
    deeply nested content cannot exhaust the recursion limit)."""
    size, stack = 0, [content]
    while stack:
        item = stack.pop()
        if isinstance(item, (str, bytes)):
            size += len(item)
        elif isinstance(item, dict):
            size += 2 * len(item)
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            size += len(item)
            stack.extend(item)
        else:
            size += 8
    return size


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
        result.integrity = _integrity(job, out, job.notebook_timeout - (time.monotonic() - start))
    result.wall = time.monotonic() - start
    return result


def _integrity(job: Job, executed: Path, seconds_left: float) -> dict[str, Any]:
    """The out-of-kernel check of `grading.integrity` with what is left of the submission's time budget.

    It never fails open: a missing hook or an error is a report with `ran` False, which scores every exercise
    of the notebook 0 (`Grader.apply_integrity`).
    """
    try:
        from grading import integrity

        return integrity.check_submission(assignment=job.assignment, student=job.student,
                                          notebook_path=str(executed), workdir=job.workdir, trusted=job.trusted,
                                          secret=job.secret, wall_seconds=seconds_left)
    except Exception as error:  # noqa: BLE001 -- the integrity step must never stop the batch, nor pass it
        return {"ran": False, "error": f"{type(error).__name__}: {str(error)[:300]}", "exercises": {}, "flags": []}
