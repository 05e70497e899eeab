"""Running the probes in a fresh sandboxed process (`probe_runner.py`), reading its result channel, and the
verdicts the grader draws from the results in its own process."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from grading.exercises import Probe

RUNNER = Path(__file__).resolve().with_name("probe_runner.py")
CELL_TIMEOUT = 60.0  # seconds per notebook cell and per probe driver, as nbgrader's c.Execute.timeout
MAX_RESULT_CHARS = 2_000_000  # the largest JSON text one probe may return
MESSAGE_CHARS = 1500
RAISED = "Your code raised an error on the grader's inputs: "  # then the error, as the student's code worded it
MECHANISM_SECONDS = 20.0  # the longest a static check of one exercise may read the source; then it fails closed


@dataclasses.dataclass(frozen=True)
class Verdict:
    """The out-of-kernel result of one exercise."""

    passed: bool
    message: str = ""

@dataclasses.dataclass
class RunOutput:
    """What came back from one probe run: results and errors by grade_id, and how the process ended."""

    results: dict[str, Any]
    errors: dict[str, str]
    cell_errors: list[dict[str, Any]]
    status: str
    seconds: float
    notes: list[str]
    finished: bool

# ----------------------------------------------------------------------------------------------------------
# Running the probes


def default_policy():
    """The sandbox policy of a probe run: no network, 2 GiB, 64 processes, 10 minutes, 8 MiB of output."""
    from grading import sandbox

    return sandbox.SandboxPolicy(memory_bytes=2 * sandbox.GIB, wall_seconds=600.0, cpu_seconds=600,
                                 max_processes=64, max_output_bytes=8 * sandbox.MIB)


def run_probes(cells: list[dict[str, str]], probes: list[dict[str, Any]], *, sandboxed: bool = True,
               trusted: bool = False, policy: Any = None, cell_timeout: float = CELL_TIMEOUT) -> RunOutput:
    """Run `cells`, then the probes (`{"grade_id", "driver", "inputs"}`), in a fresh process; parse its report.

    Args:
        sandboxed: Run in `grading.sandbox` (the default). False runs a plain subprocess, for trusted local
            use only: the student's code then runs as the grader's user.
        trusted: Passed to the sandbox: allow running without isolation where none is available.
        policy: A `sandbox.SandboxPolicy` (default: `default_policy()`).
    """
    nonce = secrets.token_hex(16)
    request = json.dumps({"nonce": nonce, "cells": cells, "probes": probes, "cell_timeout": cell_timeout,
                          "max_result_chars": MAX_RESULT_CHARS})
    argv = [sys.executable, "-I", "-c", RUNNER.read_text(encoding="utf-8")]
    if sandboxed:
        from grading import sandbox

        completed = sandbox.run(argv, policy or default_policy(), input=request, trusted=trusted)
        status, stdout, seconds, notes = completed.status, completed.stdout, completed.wall, list(completed.notes)
    else:
        status, stdout, seconds, notes = _run_plain(argv, request, (policy or default_policy()).wall_seconds)
    return parse_output(stdout, nonce, [p.get("key", p["grade_id"]) for p in probes], status, seconds, notes)


def _run_plain(argv: list[str], request: str, wall: float) -> tuple[str, str, float, list[str]]:
    from grading import sandbox

    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="calcml-probe-") as home:
        process = subprocess.Popen(argv, cwd=home, env=sandbox.base_env(home), stdin=subprocess.PIPE,
                                   stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            stdout, _ = process.communicate(request.encode(), timeout=wall)
            status = "ok" if process.returncode == 0 else "error"
        except subprocess.TimeoutExpired:
            with contextlib.suppress(OSError):
                os.killpg(process.pid, signal.SIGKILL)
            stdout, _ = process.communicate()
            status = "timeout"
    notes = ["not sandboxed: the student's code ran as the grader's user"]
    return status, stdout.decode("utf-8", "replace"), time.monotonic() - start, notes


def parse_output(stdout: str, nonce: str, keys: list[str], status: str, seconds: float,
                 notes: list[str]) -> RunOutput:
    """Read the runner's channel: only lines carrying the nonce count; a result reported twice is a conflict.

    Results and errors are keyed by each probe's `key` (its grade_id unless the request named another).
    """
    results: dict[str, Any] = {}
    errors: dict[str, str] = {}
    seen: dict[str, int] = {}
    cell_errors: list[dict[str, Any]] = []
    finished = False
    prefix = nonce + " "
    for line in stdout.splitlines():
        if not line.startswith(prefix):
            continue
        try:
            event = json.loads(line[len(prefix):])
        except Exception:  # noqa: BLE001 -- not JSON, or nested deeply enough to exhaust the parser's recursion
            if len(notes) < 50:
                notes.append("a malformed line on the result channel was ignored")
            continue
        if not isinstance(event, dict):
            continue
        kind = event.get("event")
        if kind == "done":
            finished = True
        elif kind == "cell" and event.get("error") and len(cell_errors) < 50:
            cell_errors.append({"name": str(event.get("name", ""))[:40], "seconds": _seconds(event.get("seconds")),
                                "error": str(event.get("error", ""))[:MESSAGE_CHARS]})
        elif kind == "cell" and len(notes) < 50:
            notes.append(f"{str(event.get('name', ''))[:40]} took {_seconds(event.get('seconds'))} s")
        elif kind == "probe" and event.get("key") in keys:
            grade_id = event["key"]
            seen[grade_id] = seen.get(grade_id, 0) + 1
            if "error" in event:
                errors[grade_id] = str(event["error"])[:MESSAGE_CHARS]
            else:
                results[grade_id] = event.get("result")
    for grade_id, count in seen.items():
        if count > 1:
            results.pop(grade_id, None)
            errors[grade_id] = (f"the probe process reported {count} results for this exercise: something in the "
                                "notebook wrote to the grader's result channel")
    return RunOutput(results, errors, cell_errors, status, seconds, notes, finished)


def _seconds(value: Any) -> float | None:
    return round(float(value), 2) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _why_missing(output: RunOutput) -> str:
    if output.status == "timeout":
        return "the out-of-kernel run was stopped at its time limit before this exercise was checked"
    if output.status == "memory":
        return "the out-of-kernel run ran out of memory before this exercise was checked"
    if output.status == "output":
        return "the out-of-kernel run wrote too much output and was stopped"
    if output.status == "crashed":
        return "the out-of-kernel run crashed (" + "; ".join(output.notes) + ") before this exercise was checked"
    return "the out-of-kernel run ended before this exercise was checked (did the notebook exit the process?)"


def verify(probes: Mapping[str, Probe], inputs: Mapping[str, Any], output: RunOutput,
           code: Mapping[str, Any] | None = None, mechanism_seconds: float = MECHANISM_SECONDS) -> dict[str, Verdict]:
    """Compare every probe's result in this (trusted) process, then check the mechanism of the probes that have
    one on the student's source (`code[key]`, a `grading.mechanism.StudentCode`; no code fails them)."""
    from calcml import checks

    verdicts = {}
    for grade_id, probe in probes.items():
        if grade_id in output.errors:
            verdicts[grade_id] = Verdict(False, _shorten(RAISED + output.errors[grade_id]))
            continue
        if grade_id not in output.results:
            verdicts[grade_id] = Verdict(False, _why_missing(output))
            continue
        try:
            with np.errstate(all="ignore"):
                probe.verify(inputs[grade_id], output.results[grade_id])
            if probe.mechanism is not None:
                student_code = (code or {}).get(grade_id)
                if student_code is None:
                    raise checks.CheckFailure("the grader could not read your source to check how your answer "
                                              "works, so this exercise could not be checked")
                within(mechanism_seconds, probe.mechanism, student_code)
        except (checks.CheckFailure, AssertionError) as failure:
            verdicts[grade_id] = Verdict(False, _shorten(str(failure) or "the result is wrong"))
        except Exception as error:  # noqa: BLE001 -- an untrusted result may break a verify function any way
            verdicts[grade_id] = Verdict(False, _shorten(f"The result has the wrong form ({type(error).__name__}: "
                                                         f"{error})."))
        else:
            verdicts[grade_id] = Verdict(True, "")
    return verdicts


class AnalysisTimeout(BaseException):
    """Reading the submitted source took longer than the grader allows (a BaseException, so that no `except
    Exception` in the analysis swallows it)."""


def within(seconds: float, function: Callable[..., Any], *args: Any) -> Any:
    """`function(*args)`, stopped with `calcml.checks.CheckFailure` after `seconds` (source crafted to make the
    analysis slow fails closed instead of stalling the class). The limit needs the main thread, where a grading
    worker runs its jobs; elsewhere the call runs unlimited."""
    import threading

    from calcml import checks

    if threading.current_thread() is not threading.main_thread():
        return function(*args)

    def expire(signum: int, frame: Any) -> None:
        raise AnalysisTimeout

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        return function(*args)
    except AnalysisTimeout:
        raise checks.CheckFailure(f"Reading your source to check how your answer works took longer than "
                                  f"{seconds:g} s, so this exercise could not be checked; simplify the code the "
                                  "exercise's function uses.") from None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _shorten(text: str) -> str:
    return text if len(text) <= MESSAGE_CHARS else text[: MESSAGE_CHARS - 3] + "..."


_LAST_RUN: dict[tuple[str, str], RunOutput] = {}


def _remember(unit_id: str, student_id: str, output: RunOutput) -> None:
    if len(_LAST_RUN) > 256:
        _LAST_RUN.clear()
    _LAST_RUN[(unit_id, student_id)] = output


def last_run(unit_id: str, student_id: str) -> RunOutput | None:
    """The runner output of the last `check` of this submission in this process (for reports and tests)."""
    return _LAST_RUN.get((unit_id, student_id))


def _runner_summary(output: RunOutput) -> dict[str, Any]:
    return {"status": output.status, "seconds": round(output.seconds, 3), "finished": output.finished,
            "notes": output.notes, "cell_errors": output.cell_errors}
