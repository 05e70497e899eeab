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

import ast
import builtins
import contextlib
import dataclasses
import hashlib
import hmac
import importlib
import json
import os
import secrets
import signal
import stat
import subprocess
import symtable
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import nbformat
import numpy as np

from grading import manifest

RUNNER = Path(__file__).resolve().with_name("probe_runner.py")
REPORT_NAME = "integrity.json"
FORMAT = 1
CELL_TIMEOUT = 60.0  # seconds per notebook cell and per probe driver, as nbgrader's c.Execute.timeout
MAX_RESULT_CHARS = 2_000_000  # the largest JSON text one probe may return
MESSAGE_CHARS = 1500
RAISED = "Your code raised an error on the grader's inputs: "  # then the error, as the student's code worded it
MECHANISM_SECONDS = 20.0  # the longest a static check of one exercise may read the source; then it fails closed
MIN_PROBE_SECONDS = 5.0  # less time than this left in a submission's budget: the check cannot run, and fails


@dataclasses.dataclass(frozen=True)
class Probe:
    """The out-of-kernel check of one graded exercise.

    Attributes:
        driver: Python source run in (a copy of) the student's namespace, with `inputs` bound to the JSON
            inputs; it must assign `result`, plain data (numbers, lists, dicts, strings, booleans).
        inputs: `inputs(rng)` draws the hidden inputs from a NumPy generator seeded per student and exercise,
            as plain JSON. It runs in the grader's process.
        verify: `verify(inputs, result)` runs in the grader's process and raises (normally
            `calcml.checks.CheckFailure`, with a teaching message) when `result` is wrong.
        mechanism: Optional `mechanism(code)`, run in the grader's process on the submitted source
            (`grading.mechanism.StudentCode`) once `verify` passed; it raises when the answer gets its numbers
            the wrong way (recursion where the contract says iterative, say). Nothing the driver does inside the
            probe process is a check: a property of the mechanism is checked here, or shows in the numbers.
    """

    driver: str
    inputs: Callable[[np.random.Generator], Any]
    verify: Callable[[Any, Any], None]
    mechanism: Callable[[Any], None] | None = None


@dataclasses.dataclass(frozen=True)
class Verdict:
    """The out-of-kernel result of one exercise."""

    passed: bool
    message: str = ""


@dataclasses.dataclass(frozen=True)
class Flag:
    """A disagreement between the in-kernel (nbgrader) and the out-of-kernel result of one exercise.

    kind: "lowered" (in-kernel points, out-of-kernel failure: the score was lowered to the minimum) or
    "in_kernel_only_failed" (the out-of-kernel check passed where nbgrader gave less than full marks; the
    score is left alone, but the instructor may want to look).
    """

    grade_id: str
    kind: str
    in_kernel_score: float
    max_score: float
    out_of_kernel_passed: bool
    final_score: float
    message: str


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
# Specs and inputs


def load_spec(unit_id: str) -> dict[str, Probe]:
    """The probes of a unit: `PROBES` of `autograder/integrity/<unit_id>.py`."""
    module = importlib.import_module(f"integrity.{unit_id}")
    return dict(module.PROBES)


SECRET_NAME = ".seed_secret"
SEEDS = "hmac-sha256(course secret; course_id|student_id|grade_id)"


def course_secret(folder: str | os.PathLike | None = None) -> bytes:
    """The course's secret key for hidden inputs: `<folder>/.seed_secret` (default: `autograder/`).

    Created on first use with 32 random bytes, readable by the grader's user only; `.gitignore` keeps it out of
    git and no sandbox binds it. Keep it for the whole course: a regrade with another secret draws other inputs.
    A link or a file that is not a plain, private secret is refused (a student who could plant one could choose
    everyone's inputs).
    """
    path = Path(folder or manifest.ROOT / "autograder") / SECRET_NAME
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
    try:
        descriptor = os.open(path, flags)
    except FileNotFoundError:
        with contextlib.suppress(FileExistsError):
            created = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
            with os.fdopen(created, "w") as handle:
                handle.write(secrets.token_hex(32) + "\n")
        descriptor = os.open(path, flags)
    with os.fdopen(descriptor, "rb") as handle:
        info = os.fstat(handle.fileno())
        key = handle.read(4096).strip()
    if not stat.S_ISREG(info.st_mode) or info.st_mode & 0o077 or len(key) < 32:
        raise PermissionError(f"{path} must be a private regular file (mode 600) holding the course's secret; "
                              "delete it to create a new one")
    return key


def seed_for(course_id: str, student_id: str, grade_id: str, secret: bytes) -> int:
    """The seed of a student's hidden inputs for one exercise: stable across runs, different across students,
    and unknown to anyone without the course's secret."""
    digest = hmac.new(secret, f"{course_id}\x00{student_id}\x00{grade_id}".encode(), hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big")


def jsonable(value: Any) -> Any:
    """`value` with NumPy arrays and scalars (and tuples) turned into plain JSON data."""
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"not JSON data: {type(value).__name__}")


def make_inputs(unit_id: str, student_id: str, probes: Mapping[str, Probe] | None = None,
                course_id: str | None = None, secret: bytes | None = None) -> dict[str, Any]:
    """Every probe's hidden inputs for one student, exactly as the driver will see them (a JSON round trip)."""
    probes = load_spec(unit_id) if probes is None else probes
    course_id = course_id or manifest.load()["course_id"]
    secret = course_secret() if secret is None else secret
    inputs = {}
    for grade_id, probe in probes.items():
        rng = np.random.default_rng(seed_for(course_id, student_id, grade_id, secret))
        inputs[grade_id] = json.loads(json.dumps(jsonable(probe.inputs(rng)), allow_nan=False))
    return inputs


# ----------------------------------------------------------------------------------------------------------
# Helpers for verify functions


def close(actual: Any, expected: Any, *, what: str, where: str = "", rtol: float | None = None,
          hint: str = "", batch_size: int | None = None) -> None:
    """`calcml.checks.assert_close` on an untrusted JSON value (None, strings and ragged lists fail cleanly)."""
    from calcml import checks

    kwargs: dict[str, Any] = {"what": what, "where": where, "hint": hint, "batch_size": batch_size}
    if rtol is not None:
        kwargs["rtol"] = rtol
    if actual is None:
        raise checks.CheckFailure(f"Your {what}{' ' + where if where else ''} is missing (None)." +
                                  (f" {hint}" if hint else ""))
    try:
        checks.assert_close(actual, expected, **kwargs)
    except checks.CheckFailure:
        raise
    except (TypeError, ValueError) as error:
        raise checks.CheckFailure(f"Your {what}{' ' + where if where else ''} is not an array of numbers "
                                  f"({error}).") from None


def require(condition: Any, message: str) -> None:
    """Raise `CheckFailure(message)` unless `condition` is a true bool (not merely a truthy value, such as a
    non-empty string or list that came back from the student's process)."""
    from calcml import checks

    if not (isinstance(condition, (bool, np.bool_)) and condition):
        raise checks.CheckFailure(message)


# ----------------------------------------------------------------------------------------------------------
# The cells to run


def _nbgrader(cell: Any) -> dict[str, Any]:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return meta if isinstance(meta, dict) else {}


def _is_test(meta: dict[str, Any]) -> bool:
    return bool(meta.get("grade")) and not meta.get("solution")


def _source(cell: Any) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def notebook_cells(notebook: Any, entry: dict[str, Any], *, drivers: list[str] | None = None,
                   prune: bool = True) -> tuple[list[dict[str, str]], list[str]]:
    """What the probe process runs, in notebook order, and notes: `{"name", "source"}` pieces of code, and
    `{"probe": grade_id}` where each test cell stood (its probes run there, seeing what the test saw).

    Test cells are never run (recognised by their metadata, or by the source of a release test cell). Locked
    cells get their release source back, as nbgrader's OverwriteCells does. With `prune`, the top-level
    statements of pristine narrative cells (the release's own source, not a solution) that bind or change
    nothing the rest of the code and the drivers use are skipped: imports nobody needs, plots, widgets and demos
    cost time and decide nothing. Every solution cell and every cell the student added or edited runs whole.
    """
    release = nbformat.read(manifest.release_notebook(entry), as_version=4)
    locked = {}
    narrative = set()
    test_sources: dict[str, str] = {}
    for cell in release.cells:
        if cell.cell_type != "code":
            continue
        meta = _nbgrader(cell)
        if _is_test(meta):
            test_sources[cell.source.strip()] = meta.get("grade_id", "")
        elif meta.get("locked") and meta.get("grade_id"):
            locked[meta["grade_id"]] = cell.source
        elif not meta.get("solution"):
            narrative.add(cell.source)
    pieces: list[tuple[str, str, bool]] = []  # (name, source, pristine)
    order: list[int | str] = []  # an index into pieces, or the grade_id of a test cell
    dropped = 0
    for number, cell in enumerate(notebook.get("cells", []), start=1):
        if cell.get("cell_type") != "code":
            continue
        meta = _nbgrader(cell)
        source = _source(cell)
        if _is_test(meta) or source.strip() in test_sources:
            dropped += 1
            grade_id = meta.get("grade_id") if _is_test(meta) else test_sources[source.strip()]
            if grade_id and grade_id not in order:
                order.append(str(grade_id))
            continue
        name = f"cell {number}"
        if meta.get("locked") and meta.get("grade_id") in locked:
            source = locked[meta["grade_id"]]
            pristine = True
        else:
            pristine = source in narrative
        for statement in (_statements(source) if prune and pristine else [source]):
            order.append(len(pieces))
            pieces.append((name, statement, pristine))
    notes = [f"{dropped} test cell(s) not run"]
    keep = _needed(pieces, drivers or []) if prune else [True] * len(pieces)
    skipped = sum(not k for k in keep)
    if skipped:
        notes.append(f"{skipped} narrative statement(s) not needed by the exercises were skipped")
    out: list[dict[str, str]] = []
    for item in order:
        if isinstance(item, str):
            out.append({"probe": item})
        elif keep[item]:
            out.append({"name": pieces[item][0], "source": pieces[item][1]})
    return out, notes


def _statements(source: str) -> list[str]:
    """The top-level statements of a cell, each as its own source (the whole cell if it does not parse)."""
    try:
        tree = ast.parse(source)
    except Exception:  # noqa: BLE001 -- SyntaxError, or RecursionError/MemoryError on deep nesting
        return [source]
    lines = source.splitlines(keepends=True)
    out = []
    for node in tree.body:
        first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
        out.append("".join(lines[first - 1:node.end_lineno]))
    return out or [source]


# Calls that change interpreter-wide state: a cell making one at top level always runs.
_STATEFUL = {"setrecursionlimit", "seterr", "seed", "filterwarnings", "simplefilter", "resetwarnings", "setattr",
             "set_printoptions", "settrace", "setprofile", "setswitchinterval", "exec", "eval", "__import__",
             "globals", "register", "set_default_dtype", "chdir", "putenv", "update_wrapper", "delattr"}


@dataclasses.dataclass
class _CellNames:
    binds: set[str]
    touches: set[str]  # names whose object a statement may change: x.a = ..., x[i] = ..., x.method(...)
    passes: set[str]  # names passed to a call, which may change them (a function is not changed that way)
    defines: set[str]  # names bound by def (functions)
    loads: set[str]
    imports: set[str]
    stateful: bool
    parsed: bool


_BUILTINS = frozenset(dir(builtins))


def _global_loads(table: symtable.SymbolTable, top: bool) -> set[str]:
    names = set()
    for symbol in table.get_symbols():
        if symbol.is_referenced() and (top or symbol.is_global()):
            names.add(symbol.get_name())
    for child in table.get_children():
        names |= _global_loads(child, False)
    return names


def _global_binds(table: symtable.SymbolTable, top: bool) -> set[str]:
    names = set()
    for symbol in table.get_symbols():
        if top and (symbol.is_assigned() or symbol.is_imported() or symbol.is_namespace()):
            names.add(symbol.get_name())
        elif not top and symbol.is_declared_global() and symbol.is_assigned():
            names.add(symbol.get_name())
    for child in table.get_children():
        names |= _global_binds(child, False)
    return names


def _root(node: ast.AST) -> str | None:
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call, ast.Starred)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def _top_level_nodes(tree: ast.AST):
    """Every node executed when the cell runs (function and lambda bodies excluded; decorators, defaults and
    class bodies included)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            stack.extend(node.decorator_list)
            stack.extend(d for d in node.args.defaults + node.args.kw_defaults if d is not None)
        elif isinstance(node, ast.Lambda):
            stack.extend(d for d in node.args.defaults + node.args.kw_defaults if d is not None)
        else:
            stack.extend(ast.iter_child_nodes(node))


def _cell_names(source: str) -> _CellNames:
    """What a piece of code binds, changes and reads. Code that cannot be analysed (a syntax error, or nesting
    deep enough to exhaust the parser: RecursionError, MemoryError) comes back with `parsed` False."""
    try:
        return _analyse(source)
    except Exception:  # noqa: BLE001 -- hostile text may break the analysis any way; never let it escape
        return _CellNames(set(), set(), set(), set(), set(), set(), True, False)


def _analyse(source: str) -> _CellNames:
    tree = ast.parse(source)
    table = symtable.symtable(source, "<cell>", "exec")
    imports: set[str] = set()
    touches: set[str] = set()
    passes: set[str] = set()
    stateful = False
    for node in _top_level_nodes(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            imports |= {(alias.asname or alias.name).split(".")[0] for alias in node.names}
        elif isinstance(node, (ast.Attribute, ast.Subscript)) and isinstance(node.ctx, (ast.Store, ast.Del)):
            touches.add(_root(node) or "")
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            stateful |= name in _STATEFUL
            if isinstance(func, ast.Attribute):
                touches.add(_root(func.value) or "")
            for arg in [*node.args, *(k.value for k in node.keywords)]:
                passes.add(_root(arg) or "")
    defines = {node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}
    return _CellNames(_global_binds(table, True), touches - {""} - _BUILTINS, passes - {""} - _BUILTINS, defines,
                      _global_loads(table, True), imports, stateful, True)


def _needed(pieces: list[tuple[str, str, bool]], drivers: list[str]) -> list[bool]:
    """Which pieces to run: all but the pristine ones that bind or change nothing needed (a fixpoint).

    A pristine piece runs when it binds a needed name, changes a needed object (`x.a = ...`, `x[i] = ...`,
    `x.method(...)`, or passing `x` to a call, unless `x` is a module or a function), or changes the
    interpreter's state (`_STATEFUL`). Builtins are never "changed". When any code that runs cannot be analysed,
    nothing is skipped: the probe then sees exactly what the kernel ran.
    """
    infos = [_cell_names(source) for _, source, _ in pieces]
    if not all(info.parsed for info in infos):
        return [True] * len(pieces)
    modules = set().union(*(info.imports for info in infos)) if infos else set()
    functions = set().union(*(info.defines for info in infos)) if infos else set()
    keep = [not pristine or not info.parsed or info.stateful
            for (_, _, pristine), info in zip(pieces, infos, strict=True)]
    needed: set[str] = set()
    for driver in drivers:
        info = _cell_names(driver)
        needed |= info.loads - info.binds  # a driver assigns its own names before it reads them
    for info, k in zip(infos, keep, strict=True):
        if k:
            needed |= info.loads
    changed = True
    while changed:
        changed = False
        for i, info in enumerate(infos):
            if keep[i]:
                continue
            if info.binds & needed or (info.touches - modules) & needed or (info.passes - modules - functions) & needed:
                keep[i] = True
                needed |= info.loads
                changed = True
    return keep


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


def _remember(unit_id: str, student_id: str, output: RunOutput) -> None:
    if len(_LAST_RUN) > 256:
        _LAST_RUN.clear()
    _LAST_RUN[(unit_id, student_id)] = output


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


def last_run(unit_id: str, student_id: str) -> RunOutput | None:
    """The runner output of the last `check` of this submission in this process (for reports and tests)."""
    return _LAST_RUN.get((unit_id, student_id))


# ----------------------------------------------------------------------------------------------------------
# Reports: the hook of `grading.grade`, and `apply` for a plain `nbgrader autograde`


def in_kernel_results(notebook: Any) -> dict[str, bool]:
    """Whether each test cell passed in the kernel, read from an executed notebook: nbgrader gives a test cell
    its points exactly when it has no error output."""
    results = {}
    for cell in notebook.get("cells", []):
        meta = _nbgrader(cell)
        if cell.get("cell_type") == "code" and _is_test(meta) and meta.get("grade_id"):
            results[meta["grade_id"]] = not any(o.get("output_type") == "error" for o in cell.get("outputs", []))
    return results


def _isolation(sandboxed: bool, trusted: bool) -> str:
    if not sandboxed:
        return "none (not sandboxed: trusted local run)"
    from grading import sandbox

    ok, description = sandbox.available()
    return description if ok else f"none ({description}; allowed by --no-sandbox)"


def _runner_summary(output: RunOutput) -> dict[str, Any]:
    return {"status": output.status, "seconds": round(output.seconds, 3), "finished": output.finished,
            "notes": output.notes, "cell_errors": output.cell_errors}


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


def failed_closed(entry: dict[str, Any], reason: str, *, timed_out: bool = False) -> dict[str, Any]:
    """The report of a check that could not run: every exercise of the unit fails with `reason`."""
    exercises = {e["grade_id"]: {"points": 0.0, "max_points": float(e["points"]), "passed": False,
                                 "detail": reason, "in_kernel_passed": None} for e in entry["exercises"]}
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
    for exercise in entry["exercises"]:
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


def report_path(autograded_dir: str | os.PathLike, student_id: str, unit_id: str) -> Path:
    return Path(autograded_dir) / student_id / unit_id / REPORT_NAME


def apply(gradebook_path: str | os.PathLike, unit_id: str, student_id: str, verdicts: Mapping[str, Verdict], *,
          autograded_dir: str | os.PathLike | None = None, run: RunOutput | None = None,
          isolation: str | None = None) -> list[Flag]:
    """Apply verdicts to a gradebook filled by a plain `nbgrader autograde` (`grading.grade` does this itself
    from `check_submission`): lower nbgrader's auto_score of every exercise that failed out of kernel to 0 (the
    minimum of the two results; the grade is also marked for a manual look), flag every disagreement, and write
    `autograded/<student>/<unit>/integrity.json` in the same shape as `grading.grade` (module docstring).

    Applying twice is harmless: when the autograded notebook is the one the report was written for, the
    in-kernel scores recorded then are reused (the gradebook already holds the lowered ones).

    Returns:
        The flags, in the order of the unit's exercises.
    """
    from nbgrader.api import Gradebook

    gradebook_path = Path(gradebook_path).resolve()
    autograded_dir = Path(autograded_dir) if autograded_dir else gradebook_path.parent / "autograded"
    entry = manifest.unit(unit_id)
    notebook_id = entry["notebook"]
    target = report_path(autograded_dir, student_id, unit_id)
    notebook_file = target.parent / f"{notebook_id}.ipynb"
    fingerprint = hashlib.sha256(notebook_file.read_bytes()).hexdigest() if notebook_file.exists() else ""
    previous: dict[str, Any] = {}
    if target.exists() and fingerprint:
        with contextlib.suppress(OSError, ValueError, AttributeError):
            old = json.loads(target.read_text(encoding="utf-8"))["notebooks"][notebook_id]
            if old.get("autograded_sha256") == fingerprint:
                previous = old.get("exercises", {})
    run = run or _LAST_RUN.get((unit_id, student_id))
    exercises: dict[str, dict[str, Any]] = {}
    flags: list[Flag] = []
    with Gradebook(f"sqlite:///{gradebook_path}") as gradebook:
        submitted = gradebook.find_submission_notebook(notebook_id, unit_id, student_id)
        grades = {grade.name: grade for grade in submitted.grades}
        for exercise in entry["exercises"]:
            grade_id = exercise["grade_id"]
            grade = grades.get(grade_id)
            if grade is None:
                continue
            verdict = verdicts.get(grade_id, Verdict(False, "no out-of-kernel result"))
            max_score = float(grade.max_score or exercise["points"])
            in_kernel = float(grade.auto_score or 0.0)
            if grade_id in previous and in_kernel == 0.0:
                in_kernel = float(previous[grade_id].get("in_kernel_score", 0.0))
            final = in_kernel if verdict.passed else 0.0
            if not verdict.passed and (grade.auto_score or 0.0) > 0.0:
                grade.auto_score = 0.0
                grade.needs_manual_grade = True
            exercises[grade_id] = {"points": max_score if verdict.passed else 0.0, "max_points": max_score,
                                   "passed": verdict.passed, "detail": verdict.message,
                                   "in_kernel_passed": in_kernel >= max_score, "in_kernel_score": in_kernel,
                                   "final_score": final}
            if not verdict.passed and in_kernel > 0.0:
                flags.append(Flag(grade_id, "lowered", in_kernel, max_score, False, final, verdict.message))
            elif verdict.passed and in_kernel < max_score:
                flags.append(Flag(grade_id, "in_kernel_only_failed", in_kernel, max_score, True, final,
                                  "The out-of-kernel check passed, but nbgrader's tests did not give full marks."))
        gradebook.db.commit()
    report = {"ran": run is not None and run.status != "malformed", "format": FORMAT, "unit": unit_id,
              "student": student_id, "seeds": SEEDS, "isolation": isolation or "",
              "runner": _runner_summary(run) if run else None, "autograded_sha256": fingerprint,
              "exercises": exercises, "flags": [dataclasses.asdict(flag) for flag in flags]}
    document = {"student": student_id, "assignment": unit_id, "flags": [_flag_text(flag) for flag in flags],
                "notebooks": {notebook_id: report}}
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(temporary, target)
    return flags


def _flag_text(flag: Flag) -> str:
    if flag.kind == "lowered":
        return (f"{flag.grade_id}: passed in the kernel ({flag.in_kernel_score:g} pt) but the out-of-kernel check "
                f"gives 0 pt: {flag.message}")
    return (f"{flag.grade_id}: failed in the kernel but passes the out-of-kernel check on the grader's own inputs "
            "(the in-kernel score stands; worth a look)")


def check_and_apply(gradebook_path: str | os.PathLike, unit_id: str, student_id: str,
                    notebook_path: str | os.PathLike, *, sandboxed: bool = True, trusted: bool = False,
                    policy: Any = None, autograded_dir: str | os.PathLike | None = None) -> list[Flag]:
    """`check` one submission, then `apply` the verdicts to the gradebook (after a plain `nbgrader autograde`)."""
    verdicts = check(unit_id, student_id, notebook_path, sandboxed=sandboxed, trusted=trusted, policy=policy)
    return apply(gradebook_path, unit_id, student_id, verdicts, autograded_dir=autograded_dir,
                 isolation=_isolation(sandboxed, trusted))


def read_report(autograded_dir: str | os.PathLike, student_id: str, unit_id: str) -> dict[str, Any] | None:
    """The `integrity.json` of a submission, or None if there is none."""
    path = report_path(autograded_dir, student_id, unit_id)
    if not path.exists():
        return None
    return json.loads(path.read_text(encoding="utf-8"))
