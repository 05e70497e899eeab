"""Integrity: every graded exercise is checked again outside the student's kernel.

nbgrader runs the test cells inside the student's kernel, where the student's own code has run first: it can
replace `np.testing.assert_allclose`, patch `builtins`, install IPython input transformers or hooks, call
`sys.settrace`, override `showtraceback`, or return objects whose `__eq__` is always true. None of that can
reach the check below, because the comparison happens in the grader's process:

1. **Inputs** are drawn by the grader, from a generator seeded with an HMAC, keyed by the course's secret
   (`course_secret`: created on first use beside the nbgrader config, kept out of git and out of every
   sandbox), of the course id, the student id and the exercise's grade_id (`seed_for`): each student gets
   different hidden inputs, nobody can compute them offline from public values, so answers hard-coded to the
   visible tests fail, and a regrade draws the very same inputs.
2. **A fresh sandboxed process** (`grading.sandbox.run`: no network, no course files, limits on time, memory,
   processes and output) runs `grading/probe_runner.py`. It executes the student's notebook without its test
   cells (locked cells are restored from the release, pristine narrative code that the exercises do not need
   is skipped) and, where each test cell stood, that exercise's probe *driver*, in a forked child: it calls
   the student's functions on the inputs and returns plain numbers. Only JSON crosses the boundary, in both
   directions.
3. **The grader compares** those numbers itself (`Probe.verify`), against `calcml.numdiff`, sympy, mpmath or
   an independent identity, and never with the student's code or values from a solution.
4. **Fail closed.** An exercise whose check could not run (the notebook could not be read or analysed, the
   probe process crashed or ran out of time, the grader's own code raised) fails: 0 points, flagged, marked
   for a manual look. `check_submission` never raises and always reports every exercise of the unit.
5. **The final score** of an exercise is the lower of the two results: an exercise that fails out of kernel
   loses its in-kernel points (nbgrader's `auto_score` becomes 0: `grading.grade` does it with what
   `check_submission` returns, `apply` after a plain `nbgrader autograde`), and every disagreement, in either
   direction, is flagged for the instructor in `integrity.json`.

What a tamperer can still do in the probe process gains nothing: the student's code may read the inputs (by
walking the stack) but must still compute the right numbers for them; a line forged on the result channel needs
the per-run nonce, and a second result for an exercise fails it; killing the process fails every exercise not
yet reported. Patches of numpy, builtins or calcml only change the student's own numbers.

Modules: `grading.exercises` reads the probes from the units' sources; `grading.seeds` draws the hidden inputs;
`grading.probe_cells` chooses the cells a probe run executes; `grading.probe_process` runs them in the sandbox
and turns results into verdicts; `grading.integrity_reports` writes `integrity.json` and `apply`; this module
ties them together. Their public names are importable from here too.

API (used by the grading CLI `grading.grade` and the tests):

- `check_submission(*, assignment, student, notebook_path, workdir, trusted) -> dict`: the hook that each
  worker of `grading.grade` calls after the kernel ran; `grading.grade` lowers the scores and writes the report;
- `check(unit_id, student_id, notebook_path, *, sandboxed=True, trusted=False) -> dict[grade_id, Verdict]`;
- `apply(gradebook_path, unit_id, student_id, verdicts) -> list[Flag]`: the same lowering and report after a
  plain `nbgrader autograde`; `check_and_apply(...)` does both; `read_report(...)` reads a report back;
- `check_many(unit_id, notebook_path, trials)`: many probe trials (students, known-wrong answers) in one
  process, for the tests; `seed_for`, `make_inputs`: the hidden inputs.

The report `autograder/autograded/<student>/<unit>/integrity.json` (UTF-8 JSON, written by `grading.grade`, or
by `apply`)::

    {
      "student": "alice", "assignment": "01_derivatives",
      "flags": ["01_derivatives-d_ratio: passed in the kernel (2 pt) but the out-of-kernel check gives 0 pt: ...",
                "01_derivatives-d_softplus: failed in the kernel but passes the out-of-kernel check ..."],
      "notebooks": {
        "derivatives": {                                    # one report per notebook (check_submission's result)
          "ran": true,                                      # false: the notebook could not be read, no probes...
          "format": 1, "unit": "01_derivatives", "student": "alice",
          "seeds": SEEDS, # how the hidden inputs were drawn
          "isolation": "bubblewrap (privileged): ...",      # or "none (...)" under --no-sandbox
          "runner": {"status": "ok", "seconds": 0.4, "finished": true, "notes": ["..."],
                     "cell_errors": [{"name": "cell 7", "seconds": 0.1, "error": "NameError: ..."}]},
          "exercises": {
            "<grade_id>": {"points": 0.0,                   # out-of-kernel score: max_points if passed, else 0
                           "max_points": 2.0, "passed": false,
                           "detail": "Your d_ratio at ... is ..., but ... was expected ...",  # "" if passed
                           "in_kernel_passed": true}        # from the test cell's outputs (null if unknown)
          },
          "flags": ["..."]                                  # disagreements found here (in-kernel-only failures)
        }
      }
    }

`apply` adds `in_kernel_score`, `final_score` (the minimum of the two) and `autograded_sha256` per report, and
structured flags (`Flag`). `grading.grade` adds its own flag for every score it lowered, and marks that grade
for a manual look. The `detail` texts describe the student's result on the hidden inputs (what was wrong,
where); they never contain test source or solution code, so they may be shown in feedback.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import nbformat

from grading import exercises, manifest
from grading.exercises import Probe
from grading.integrity_reports import FORMAT, REPORT_NAME, Flag, _flag_text, apply, read_report, report_path  # noqa: F401
from grading.probe_cells import _cell_names, _is_test, _nbgrader, _needed, in_kernel_results, notebook_cells  # noqa: F401
from grading.probe_process import (  # noqa: F401
    _LAST_RUN,
    CELL_TIMEOUT,
    MAX_RESULT_CHARS,
    MECHANISM_SECONDS,
    MESSAGE_CHARS,
    RAISED,
    RUNNER,
    RunOutput,
    Verdict,
    _remember,
    _runner_summary,
    _shorten,
    _why_missing,
    default_policy,
    last_run,
    parse_output,
    run_probes,
    verify,
    within,
)
from grading.seeds import SECRET_NAME, SEEDS, course_secret, make_inputs, seed_for  # noqa: F401

MIN_PROBE_SECONDS = 5.0  # less time than this left in a submission's budget: the check cannot run, and fails


# ----------------------------------------------------------------------------------------------------------
# Specs and inputs


def load_spec(unit_id: str) -> dict[str, Probe]:
    """The probes of a unit, by grade_id, read from the hidden regions of its source (`grading.exercises`)."""
    return exercises.load_probes(unit_id)


def student_code(notebook: Any, entry: dict[str, Any]) -> Any:
    """What the student wrote (`grading.mechanism.StudentCode`), for the probes' mechanism checks."""
    from grading import mechanism

    release = nbformat.read(manifest.release_notebook(entry), as_version=4)
    return mechanism.student_code(notebook, release)


def with_prelude(code: Any, grade_id: str, prelude: str) -> Any:
    """`code` as if the exercise's solution cell held `prelude` (a trial of `check_many`)."""
    if not prelude:
        return code
    solutions = dict(code.solutions)
    solutions[f"{grade_id}-solution"] = prelude
    return dataclasses.replace(code, solutions=solutions, cells=(*code.cells, prelude))


def _check(unit_id: str, student_id: str, notebook_path: str | os.PathLike, *, sandboxed: bool, trusted: bool,
           policy: Any, prune: bool, course_id: str | None,
           secret: bytes | None = None) -> tuple[dict[str, Verdict], RunOutput, Any]:
    entry = manifest.unit(unit_id)
    probes = load_spec(unit_id)
    try:
        notebook = nbformat.read(str(notebook_path), as_version=4)
    except Exception as error:  # noqa: BLE001 -- malformed JSON, a wrong nbformat, a missing file
        reason = _shorten(f"the notebook could not be read ({type(error).__name__}: {error})")
        output = RunOutput({}, {}, [], "malformed", 0.0, [reason], False)
        return {grade_id: Verdict(False, reason) for grade_id in probes}, output, None
    inputs = make_inputs(unit_id, student_id, probes, course_id, secret)
    cells, notes = notebook_cells(notebook, entry, drivers=[p.driver for p in probes.values()], prune=prune)
    payload = [{"grade_id": g, "driver": p.driver, "inputs": inputs[g]} for g, p in probes.items()]
    output = run_probes(cells, payload, sandboxed=sandboxed, trusted=trusted, policy=policy)
    output.notes[:0] = notes
    code = None
    if any(p.mechanism is not None for p in probes.values()):
        code = dict.fromkeys(probes, student_code(notebook, entry))
    return verify(probes, inputs, output, code), output, notebook


def check(unit_id: str, student_id: str, notebook_path: str | os.PathLike, *, sandboxed: bool = True,
          trusted: bool = False, policy: Any = None, prune: bool = True,
          course_id: str | None = None, secret: bytes | None = None) -> dict[str, Verdict]:
    """Check every graded exercise of one submission out of kernel.

    Args:
        unit_id: e.g. "01_derivatives".
        student_id: The student's id, which seeds the hidden inputs.
        notebook_path: The submitted (or autograded) notebook.
        sandboxed: Run the student's code in `grading.sandbox` (default). False: a plain subprocess.
        trusted: Let the sandbox run without isolation where none is available (the `--no-sandbox` opt-out).
        policy: The sandbox policy (default `default_policy()`).
        prune: Skip pristine narrative code the exercises do not need (see `notebook_cells`).
        secret: The course's secret, which seeds the hidden inputs (default: `course_secret()`).

    Returns:
        A `Verdict` for every exercise of the unit, by grade_id. A notebook that cannot be read fails all.

    Raises:
        grading.sandbox.SandboxUnavailable: `sandboxed` and no isolation here, unless `trusted`.
    """
    verdicts, output, _ = _check(unit_id, student_id, notebook_path, sandboxed=sandboxed, trusted=trusted,
                                 policy=policy, prune=prune, course_id=course_id, secret=secret)
    _remember(unit_id, student_id, output)
    return verdicts


def check_many(unit_id: str, notebook_path: str | os.PathLike, trials: list[dict[str, Any]], *,
               sandboxed: bool = True, trusted: bool = False, policy: Any = None,
               course_id: str | None = None) -> tuple[dict[str, Verdict], RunOutput]:
    """Run one notebook once, then many probe trials in the same process, each in its own forked child.

    For the tests: one process tries a probe for many students, or many known-wrong answers.

    Args:
        trials: `{"key": unique label, "grade_id": ..., "student": student id for the inputs,
            "prelude": optional source run before the driver (e.g. a wrong solution cell)}`.

    Returns:
        The verdict of every trial by key, and the run's output.
    """
    entry = manifest.unit(unit_id)
    probes = load_spec(unit_id)
    notebook = nbformat.read(str(notebook_path), as_version=4)
    cells, notes = notebook_cells(notebook, entry, drivers=[p.driver for p in probes.values()])
    course_id = course_id or manifest.load()["course_id"]
    inputs_by_student: dict[str, dict[str, Any]] = {}
    payload = []
    for trial in trials:
        student = trial["student"]
        if student not in inputs_by_student:
            inputs_by_student[student] = make_inputs(unit_id, student, probes, course_id)
        grade_id = trial["grade_id"]
        payload.append({"key": trial["key"], "grade_id": grade_id, "driver": probes[grade_id].driver,
                        "inputs": inputs_by_student[student][grade_id], "prelude": trial.get("prelude", "")})
    output = run_probes(cells, payload, sandboxed=sandboxed, trusted=trusted, policy=policy)
    output.notes[:0] = notes
    by_key = {t["key"]: probes[t["grade_id"]] for t in trials}
    inputs = {t["key"]: inputs_by_student[t["student"]][t["grade_id"]] for t in trials}
    code = None
    if any(probe.mechanism is not None for probe in by_key.values()):
        base = student_code(notebook, entry)
        code = {t["key"]: with_prelude(base, t["grade_id"], t.get("prelude", "")) for t in trials}
    return verify(by_key, inputs, output, code), output


# ----------------------------------------------------------------------------------------------------------
# The hook of `grading.grade`


def _isolation(sandboxed: bool, trusted: bool) -> str:
    if not sandboxed:
        return "none (not sandboxed: trusted local run)"
    from grading import sandbox

    ok, description = sandbox.available()
    return description if ok else f"none ({description}; allowed by --no-sandbox)"


def check_submission(*, assignment: str, student: str, notebook_path: str | os.PathLike,
                     workdir: str | os.PathLike | None = None, trusted: bool = False, sandboxed: bool = True,
                     policy: Any = None, secret: bytes | None = None,
                     wall_seconds: float | None = None) -> dict[str, Any]:
    """The integrity step of `grading.grade`: called by each worker after the kernel ran, outside the kernel.

    Returns the JSON-able report `grading.grade` expects and stores per notebook in `integrity.json`:
    `{"ran": bool, "exercises": {grade_id: {"points", "max_points", "passed", "detail", "in_kernel_passed"}},
    "flags": [str, ...], ...}` plus the seeds, the isolation and the probe run's summary. `points` is the
    out-of-kernel score (all or nothing); the grader lowers nbgrader's auto score to it where it is lower and
    flags that. The flags returned here are the other disagreements: exercises that failed in the kernel but
    pass out of it (the in-kernel 0 stands).

    It fails closed and never raises: whatever goes wrong (no probes for the unit, an unreadable notebook, an
    error in the grader's own analysis, a probe run out of time) fails every exercise it leaves unchecked, with
    `ran` False and the reason.

    Args:
        secret: The course's secret (default: `course_secret()`).
        wall_seconds: What is left of the submission's time budget for the probe run (default: the policy's).
    """
    del workdir  # the probe process gets a fresh private folder of its own
    try:
        entry = manifest.unit(assignment)
    except Exception as error:  # noqa: BLE001
        return {"ran": False, "error": _shorten(f"no out-of-kernel probes for {assignment}: {error}"),
                "exercises": {}, "flags": []}
    try:
        return _checked(entry, student, notebook_path, trusted=trusted, sandboxed=sandboxed, policy=policy,
                        secret=secret, wall_seconds=wall_seconds)
    except Exception as error:  # noqa: BLE001 -- RecursionError, MemoryError, a bug: the check fails closed
        reason = _shorten(f"the out-of-kernel check could not run ({type(error).__name__}: {error}); this "
                          "exercise scores 0 until an instructor looks at it")
        return failed_closed(entry, reason)


def autograded(entry: dict[str, Any]) -> list[dict[str, Any]]:
    """The exercises of a manifest unit that the grader scores: all but those an instructor grades by hand."""
    return [exercise for exercise in entry["exercises"] if not exercise.get("manual")]


def failed_closed(entry: dict[str, Any], reason: str, *, timed_out: bool = False) -> dict[str, Any]:
    """The report of a check that could not run: every exercise of the unit fails with `reason`."""
    exercises = {e["grade_id"]: {"points": 0.0, "max_points": float(e["points"]), "passed": False,
                                 "detail": reason, "in_kernel_passed": None} for e in autograded(entry)}
    return {"ran": False, "error": reason, "timed_out": timed_out, "format": FORMAT, "unit": entry["id"],
            "seeds": SEEDS, "exercises": exercises, "flags": []}


def _checked(entry: dict[str, Any], student: str, notebook_path: str | os.PathLike, *, trusted: bool,
             sandboxed: bool, policy: Any, secret: bytes | None, wall_seconds: float | None) -> dict[str, Any]:
    assignment = entry["id"]
    policy = policy or default_policy()
    if wall_seconds is not None:
        if wall_seconds < MIN_PROBE_SECONDS:
            return failed_closed(entry, "the submission used up its whole time budget in the kernel, so the "
                                        "out-of-kernel check could not run", timed_out=True)
        policy = policy.replace(wall_seconds=min(policy.wall_seconds, wall_seconds))
    verdicts, output, notebook = _check(assignment, student, notebook_path, sandboxed=sandboxed, trusted=trusted,
                                        policy=policy, prune=True, course_id=None, secret=secret)
    _remember(assignment, student, output)
    in_kernel = in_kernel_results(notebook) if notebook is not None else {}
    exercises: dict[str, dict[str, Any]] = {}
    flags: list[str] = []
    for exercise in autograded(entry):
        grade_id, points = exercise["grade_id"], float(exercise["points"])
        verdict = verdicts.get(grade_id, Verdict(False, "no out-of-kernel result"))
        exercises[grade_id] = {"points": points if verdict.passed else 0.0, "max_points": points,
                               "passed": verdict.passed, "detail": verdict.message,
                               "in_kernel_passed": in_kernel.get(grade_id)}
        if verdict.passed and in_kernel.get(grade_id) is False:
            flags.append(f"{grade_id}: failed in the kernel but passes the out-of-kernel check on the grader's own "
                         "inputs (the in-kernel 0 stands; worth a look)")
    return {"ran": notebook is not None and output.finished, "timed_out": output.status == "timeout",
            "error": "" if output.finished else _why_missing(output), "format": FORMAT, "unit": assignment,
            "student": student, "seeds": SEEDS, "isolation": _isolation(sandboxed, trusted),
            "runner": _runner_summary(output), "exercises": exercises, "flags": flags}

def check_and_apply(gradebook_path: str | os.PathLike, unit_id: str, student_id: str,
                    notebook_path: str | os.PathLike, *, sandboxed: bool = True, trusted: bool = False,
                    policy: Any = None, autograded_dir: str | os.PathLike | None = None) -> list[Flag]:
    """`check` one submission, then `apply` the verdicts to the gradebook (after a plain `nbgrader autograde`)."""
    verdicts = check(unit_id, student_id, notebook_path, sandboxed=sandboxed, trusted=trusted, policy=policy)
    return apply(gradebook_path, unit_id, student_id, verdicts, autograded_dir=autograded_dir,
                 isolation=_isolation(sandboxed, trusted))
