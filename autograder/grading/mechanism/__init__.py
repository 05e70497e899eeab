"""Static checks of the student's source, run in the grader's process: properties of a mechanism.

Some exercises ask for a property that the returned numbers cannot show: *no recursion* (a recursive
`topological_sort` is right on every graph once the student raises the recursion limit), *no overflow* (a
formula that overflows only in the branch `np.where` throws away returns perfect numbers), *no division by zero*
(a `nan` repaired afterwards looks like a correct 0). In the kernel and in the probe process such properties can
only be observed by code that runs next to the student's code (an `np.errstate`, a counter, the recursion limit),
and that code is the student's to rewrite. So they are decided here, in the grader's process, from the source
text alone: nothing the student wrote runs here.

A correct answer never fails: each rule looks only at the code reachable from the exercise's function (and, in
the whole notebook, only at what changes everybody's code: numpy, builtins, shared namespaces), harmless dunders
and constant `getattr`/`eval` pass, and the overflow rule reports only exponentials that provably overflow.
Parsing is bounded: a cell too large or nested too deeply raises `calcml.checks.CheckFailure` ("could not be
analysed"), and every walk over a tree uses an explicit stack.

Modules, in reading order: `source` (the notebook, bounded parsing, reading trees), `hiding` (what changes
everybody's code, what hides calls), `program` (definitions, bindings, aliases), `calls` (call graph,
recursion), `scopes` and `signs` (exponentials that provably overflow), `repairs` (divisions repaired afterwards),
`tools` (the course's reference tools in an answer), `rules` (the checks for `Probe.mechanism`); for an engine of
classes (unit 05), `limits` (routes to the recursion limit) and the class-aware call graph: `protocols` (implicit
dunder calls), `objects` (functions, aliases, escaped functions), `kinds` (operands that run no student code),
`dunders` (the graph, recursion).

API:

- `StudentCode`, `student_code(notebook, release_notebook)`: what the student wrote (never raises);
- `parse(source)`, `walk(tree)`: bounded parsing and an explicit-stack walk;
- `dynamic_features(code)`: what in the notebook changes everybody's code, described;
- `recursion(code, name)` / `defines_recursion(code, name)`: a cycle among the functions reachable from `name`;
- `indirect_calls(code, name)`, `calls_any(code, names)`;
- `limit_route(code)`: the first construct that touches, or could touch, the recursion limit or the stack size;
- `implicit_recursion(code, roots, modules=release_imports(unit_id))`: a cycle reachable from `roots` in the
  class-aware call graph, implicit dunder calls and escaped functions included;
- mechanism checks for `Probe.mechanism`: `no_recursion(name)`, `no_overflowing_exp(name)`,
  `no_error_repair(name)`, and `own_work(names, unit)`, which every exercise has.
"""

from __future__ import annotations

from .calls import calls_any, defines_recursion, indirect_calls, recursion
from .dunders import implicit_recursion
from .limits import Route, limit_route
from .program import program
from .rules import no_error_repair, no_overflowing_exp, no_recursion
from .source import MAX_CODE_CHARS, StudentCode, parse, release_imports, student_code, walk


def dynamic_features(code: StudentCode) -> list[str]:
    """What in the student's notebook changes everybody's code (a change to numpy or builtins, a write into a
    shared namespace, frames, `eval` of computed text, ...), each with its cell and line."""
    return list(program(code).global_problems)


__all__ = [
    "MAX_CODE_CHARS", "Route", "StudentCode", "calls_any", "defines_recursion", "dynamic_features",
    "implicit_recursion", "indirect_calls", "limit_route", "no_error_repair", "no_overflowing_exp", "no_recursion",
    "parse", "recursion", "release_imports", "student_code", "walk",
]
