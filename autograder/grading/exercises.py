"""Every graded exercise, read from its one place: the unit's jupytext source `source/NN_topic/topic.py`.

An exercise there is a markdown heading `### Exercise N · Title (P points)`, a solution cell, a locked test cell
whose hidden region defines the hidden checks once (`calcml.probes.exercise`), and its known-wrong answers:
cells marked `active="py" wrong_answer="<solution grade_id>"`, which jupytext makes raw (never run) cells of
the notebook and the release build drops. This module reads all of it back for the grader, the manifest, the
sample submissions and the tests; nothing about an exercise is written anywhere else.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import io
import re
import textwrap
import tokenize
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jupytext
import numpy as np
from nbformat import NotebookNode

from calcml import probes
from grading import manifest
from grading.feedback import BEGIN, END, hidden_lines, is_test_cell
from grading.mechanism import rules

PRIVATE = "_hidden_checks"  # the one name a test cell's hidden region binds in the kernel, and deletes again
HEADING = re.compile(r"^#+\s*Exercise\s+\d+\s*·\s*(?P<title>.+?)\s*\((?P<points>\d+(?:\.\d+)?) points?\)\s*$", re.M)
WRONG_ANSWER = "wrong_answer"
EDIT = re.compile(r"^### REPLACE\n(?P<old>.*?)\n### WITH\n(?P<new>.*?)\n### END$", re.M | re.S)


@dataclasses.dataclass(frozen=True)
class Probe:
    """The out-of-kernel check of one graded exercise, as the grader runs it.

    Attributes:
        driver: Python source run in (a copy of) the student's namespace, with `inputs` bound to the JSON
            inputs; it must assign `result`, plain data (numbers, lists, dicts, strings, booleans).
        inputs: `inputs(rng)` draws the hidden inputs from a NumPy generator seeded per student and exercise,
            as plain JSON. It runs in the grader's process.
        verify: `verify(inputs, result)` runs in the grader's process and raises (normally
            `calcml.checks.CheckFailure`, with a teaching message) when `result` is wrong.
        mechanism: Optional `mechanism(code)`, run in the grader's process on the submitted source
            (`grading.mechanism.StudentCode`) once `verify` passed; it raises when the answer gets its numbers
            the wrong way (recursion where the contract says iterative, say).
    """

    driver: str
    inputs: Callable[[np.random.Generator], Any]
    verify: Callable[[Any, Any], None]
    mechanism: Callable[[Any], None] | None = None


@dataclasses.dataclass(frozen=True)
class Exercise:
    """One graded exercise of a unit, as its source defines it.

    A manually graded exercise (`manual`) is one markdown cell with nbgrader's `grade` and `solution` flags (the
    student's answer, which an instructor grades in formgrader): it has no test cell, no hidden region, no probe
    and no wrong answers, and its grade_id is the cell's own.
    """

    grade_id: str
    title: str
    points: float
    heading_points: float
    solution_ids: tuple[str, ...]
    hidden: str
    wrong_answers: dict[str, tuple[str, ...]]
    manual: bool = False


def _nbgrader(cell: NotebookNode) -> dict[str, Any]:
    meta = cell.metadata.get("nbgrader", {})
    return meta if isinstance(meta, dict) else {}


@functools.lru_cache(maxsize=32)
def _read(path: Path, mtime_ns: int) -> tuple[Exercise, ...]:
    notebook = jupytext.read(path)
    sources = {_nbgrader(c).get("grade_id"): c.source for c in notebook.cells if _nbgrader(c).get("solution")}
    found: list[Exercise] = []
    title, heading_points, solutions = "", 0.0, []
    for cell in notebook.cells:
        meta = _nbgrader(cell)
        match = HEADING.search(cell.source) if cell.cell_type == "markdown" else None
        if match:
            title, heading_points, solutions = match["title"].replace("`", ""), float(match["points"]), []
        elif meta.get("solution") and not meta.get("grade"):
            solutions.append(meta["grade_id"])
        elif meta.get("solution") and meta.get("grade") and cell.cell_type == "markdown":
            found.append(Exercise(meta["grade_id"], title, float(meta["points"]), heading_points, (), "", {},
                                  manual=True))
        elif is_test_cell(cell):
            found.append(Exercise(meta["grade_id"], title, float(meta["points"]), heading_points, tuple(solutions),
                                  "\n".join(hidden_lines(cell.source)), {}))
    # Each wrong answer belongs to the exercise that owns the solution cell it replaces.
    by_solution = {sid: i for i, ex in enumerate(found) for sid in ex.solution_ids}
    collected: dict[int, dict[str, list[str]]] = {}
    for cell in notebook.cells:
        if cell.cell_type == "raw" and WRONG_ANSWER in cell.metadata:
            solution_id = str(cell.metadata[WRONG_ANSWER])
            if solution_id not in by_solution:
                raise ValueError(f"{path}: a wrong answer names {solution_id!r}, which is no solution cell's grade_id")
            wrong = _edited(sources[solution_id], cell.source, f"{path}: a wrong answer for {solution_id}")
            collected.setdefault(by_solution[solution_id], {}).setdefault(solution_id, []).append(wrong)
    return tuple(dataclasses.replace(ex, wrong_answers={k: tuple(v) for k, v in collected.get(i, {}).items()})
                 for i, ex in enumerate(found))


def _edited(solution: str, cell: str, where: str) -> str:
    """A wrong-answer cell's source: the cell itself, or, when it is made of `### REPLACE` / `### WITH` /
    `### END` blocks, the solution with each block's text replaced (each must occur exactly once)."""
    edits = list(EDIT.finditer(cell))
    if not edits:
        return cell + "\n"
    for edit in edits:
        old, new = edit["old"] + "\n", edit["new"] + "\n"
        if solution.count(old) != 1:
            raise ValueError(f"{where}: the text to replace occurs {solution.count(old)} times in the solution")
        solution = solution.replace(old, new)
    return solution


def kernel_region(region: str, functions: tuple[str, ...] = ()) -> str:
    """A hidden region as the student's kernel runs it: inside a function called at once, so that its helpers,
    `_inputs`, `_driver` and `_verify` stay its own and never replace the student's names. The lines inside
    multi-line strings (the driver's source) are left as they are. With `functions` (what the exercise's solution
    cells define), it ends with `calcml.own_work.check` on them: no reference tool does the exercise."""
    if functions:
        region += (f"\n\n\nfrom calcml import own_work as _own_work\n\n"
                   f"_own_work.check(globals(), {tuple(functions)!r})")
    inside, starts = set(), []
    for token in tokenize.generate_tokens(io.StringIO(region).readline):
        if token.type == getattr(tokenize, "FSTRING_START", None):  # Python 3.12+ splits f-strings into tokens
            starts.append(token.start[0])
        elif token.type == getattr(tokenize, "FSTRING_END", None):
            inside.update(range(starts.pop() + 1, token.end[0] + 1))
        elif token.type == tokenize.STRING:
            inside.update(range(token.start[0] + 1, token.end[0] + 1))
    body = ["    " + line if line.strip() and number not in inside else line
            for number, line in enumerate(region.split("\n"), start=1)]
    # The builtins it reads become its own names first: a student's variable `sum` or `min` must not change them.
    read = probes.builtins_read(region)
    imports = textwrap.wrap(", ".join(read), 100, initial_indent="    from builtins import (",
                            subsequent_indent="        ") if read else []
    if imports:
        imports[-1] += ")"
    return "\n".join([f"def {PRIVATE}():", *imports, *body, "", "", "try:", f"    {PRIVATE}()", "finally:",
                      f"    del {PRIVATE}"])


def kernel_cell(source: str, functions: tuple[str, ...] = ()) -> str:
    """A test cell's source with its hidden region in `kernel_region` form (what the source notebook and the
    gradebook hold; the jupytext source keeps the region flat, as the grader reads it)."""
    lines = source.split("\n")
    begin = next((i for i, line in enumerate(lines) if BEGIN in line), None)
    if begin is None:
        return source
    end = next(i for i in range(begin + 1, len(lines)) if END in lines[i])
    return "\n".join([*lines[: begin + 1], kernel_region("\n".join(lines[begin + 1:end]), functions), *lines[end:]])


def read(entry: dict[str, Any]) -> tuple[Exercise, ...]:
    """The graded exercises of a manifest unit entry, in notebook order."""
    path = manifest.source_script(entry)
    return _read(path, path.stat().st_mtime_ns)


def wrong_answers(entry: dict[str, Any]) -> dict[str, list[str]]:
    """The known-wrong sources of a unit's solution cells, by solution grade_id, in source order."""
    return {solution_id: list(sources) for exercise in read(entry)
            for solution_id, sources in exercise.wrong_answers.items()}


def defined_names(source: str) -> tuple[str, ...]:
    """The functions and classes a solution cell defines at its top level: what the exercise's checks call."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return ()
    return tuple(node.name for node in tree.body
                 if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)))


@functools.lru_cache(maxsize=32)
def _solutions(path: Path, mtime_ns: int) -> dict[str, str]:
    notebook = jupytext.read(path)
    return {_nbgrader(c)["grade_id"]: c.source for c in notebook.cells
            if _nbgrader(c).get("solution") and not _nbgrader(c).get("grade")}


def functions(entry: dict[str, Any], exercise: Exercise) -> tuple[str, ...]:
    """What the solution cells of `exercise` define (its functions and classes), in order."""
    path = manifest.source_script(entry)
    sources = _solutions(path, path.stat().st_mtime_ns)
    return tuple(name for sid in exercise.solution_ids for name in defined_names(sources.get(sid, "")))


def _all_of(*rules_: Callable[[Any], None] | None) -> Callable[[Any], None] | None:
    present = [rule for rule in rules_ if rule is not None]
    if not present:
        return None

    def check(code: Any) -> None:
        for one in present:
            one(code)

    return check


def probe(exercise: Exercise, functions: tuple[str, ...] = ()) -> Probe:
    """The exercise's out-of-kernel probe: its hidden region run here, with `calcml.probes` recording. With
    `functions`, its mechanism ends with `rules.own_work` on them (no reference tool does the exercise), after the
    exercise's own rule, whose message is the more specific."""
    with probes.recording() as recorded:
        exec(compile(exercise.hidden, f"<hidden tests of {exercise.grade_id}>", "exec"),
             {"__name__": f"hidden_{exercise.grade_id}"})
    if len(recorded) != 1:
        raise ValueError(f"the hidden tests of {exercise.grade_id} must end in exactly one "
                         f"probes.exercise(...) call, not {len(recorded)}")
    parts = recorded[0]
    unit = exercise.grade_id.split("-")[0]
    own = rules.own_work(functions, unit) if functions else None
    return Probe(parts.driver, parts.inputs, parts.verify, _all_of(rules.from_spec(parts.mechanism), own))


def load_probes(unit_id: str) -> dict[str, Probe]:
    """Every probe of a unit, by grade_id."""
    entry = manifest.unit(unit_id)
    return {exercise.grade_id: probe(exercise, functions(entry, exercise)) for exercise in read(entry)
            if not exercise.manual}  # a manually graded cell has no probe
