"""The mechanism checks for `Probe.mechanism`: each a `Callable[[StudentCode], None]` raising `CheckFailure`.

Each reads the notebook (`program`), fails on what changes everybody's code (`Program.global_problems`), then
looks only at the code reachable from the exercise's function: what hides calls or values there fails closed,
and the rule itself decides the rest.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterable

from calcml import checks, typed_by_hand

from .calls import indirect_calls, reachable_bodies, recursion
from .decoys import rebindings
from .dunders import implicit_recursion
from .hiding import reachable_problems
from .limits import limit_route
from .program import Program, program
from .repairs import repairs
from .signs import overflowing
from .source import StudentCode, release_imports
from .tools import release_bindings, tool_names, tool_uses

_REMOVE = ("Remove it (getattr with a computed name, eval of computed text, globals(), frames, gc, ctypes, changes to "
           "numpy or builtins) so that the check can be made.")


def _readable(code: StudentCode, name: str, what: str, *, ignore: Iterable[str] = (),
              protect: bool = False) -> tuple[Program, list[tuple[str, ast.AST]]]:
    """The program and the bodies reachable from `name`, or `CheckFailure` if they cannot be read."""
    found = program(code)
    if found.global_problems:
        raise checks.CheckFailure(f"The grader checks {what} by reading your code, and your code uses "
                                  f"{found.global_problems[0]}, which it cannot follow. {_REMOVE}")
    again = rebindings(found, name)
    if again:
        raise checks.CheckFailure(f"The grader checks {what} by reading the definition of {name}, and your code binds "
                                  f"{name} more than once ({'; '.join(again[:3])}), so the grader cannot tell which "
                                  f"one runs. Define {name} once, with `def {name}(...):`, and bind nothing else to "
                                  "that name.")
    if name not in found.definitions:
        raise checks.CheckFailure(f"The grader could not find the definition of {name} in your code "
                                  "(write it as `def " + name + "(...):`).")
    bodies = reachable_bodies(found, name, ignore)
    hidden = reachable_problems(found, [body for _, body in bodies], protect=protect)
    if hidden:
        raise checks.CheckFailure(f"The grader checks {what} by reading your code, and the code {name} runs uses "
                                  f"{hidden[0]}, which it cannot follow. {_REMOVE}")
    return found, bodies


def no_recursion(name: str, *, ignore: Iterable[str] = ()) -> Callable[[StudentCode], None]:
    """A `Probe.mechanism` that fails unless `name` and everything it refers to are free of recursion.

    Args:
        name: The exercise's function, e.g. "topological_sort".
        ignore: Functions of other exercises that `name` may call (they are checked by their own exercise).
    """
    skip = tuple(ignore)

    def check(code: StudentCode) -> None:
        _readable(code, name, f"that {name} does not recurse", ignore=skip)
        cycle = recursion(code, name, ignore=skip)
        if cycle:
            raise checks.CheckFailure(
                f"{name} is recursive ({' -> '.join(cycle)}): a deep graph would exceed Python's call stack, and "
                "raising the recursion limit does not count. Keep your own stack in a list, or walk a topological "
                "order.")
        hidden = indirect_calls(code, name, ignore=skip)
        if hidden:
            raise checks.CheckFailure(
                f"The grader cannot check that {name} does not recurse: it calls {hidden[0]}, a function held in a "
                "variable. Call functions by their own names.")

    return check


def no_overflowing_exp(name: str) -> Callable[[StudentCode], None]:
    """A `Probe.mechanism` that fails when the code reachable from `name` computes an exponential that provably
    overflows on the exercise's inputs (x = ±1000): `np.exp(x)`, `np.exp(-x)`, `np.cosh(x)`, `np.e ** -x` of
    the raw input, in `np.where` or anywhere else. A formula that overflows only in the branch `np.where`
    discards gives perfect numbers; this is how the grader sees it. Any exponential whose argument is not known
    to grow passes (`-np.abs(x)`, `np.minimum(x, 0)`, `x - np.logaddexp(0, x)`, `x - x.max()`, `x[mask]`, ...)."""

    def check(code: StudentCode) -> None:
        found, bodies = _readable(code, name, f"that {name} computes no overflowing exponential", protect=True)
        problems = overflowing(found, name, bodies)
        if problems:
            raise checks.CheckFailure(
                f"{name} computes {problems[0]}, an exponential of a number that can be large and positive: it "
                "overflows for x = ±1000 (np.where computes both of its branches everywhere, so the branch it "
                "throws away must be safe too). Exponentiate only numbers <= 0, e.g. np.exp(-np.abs(x)).")

    return check


def no_error_repair(name: str) -> Callable[[StudentCode], None]:
    """A `Probe.mechanism` that fails if the code reachable from `name` divides by zero and repairs the result
    afterwards (see `grading.mechanism.repairs`). With no repair, a division by zero leaves a nan or an inf in
    the returned numbers, where the grader sees it."""

    def check(code: StudentCode) -> None:
        found, bodies = _readable(code, name, f"that {name} never divides by zero", protect=True)
        found_repairs = repairs(found, bodies)
        if found_repairs:
            raise checks.CheckFailure(
                f"{name} uses {found_repairs[0]}: at a stationary point the gradient is exactly zero, so test its "
                "length with `if` and return zeros BEFORE dividing, rather than dividing by zero and repairing the "
                "result (np.where computes both of its branches, the division included).")

    return check


_ITERATIVE_HINT = "Walk the graph with an explicit stack (a list you append to and pop from)."
_ENGINE_CONTRACT = ("The contract: topological_order must not recurse, and your engine must not change Python's "
                    "recursion limit or stack size or run code built from strings.")


def iterative_engine(unit: str, roots: Iterable[str]) -> Callable[[StudentCode], None]:
    """A `Probe.mechanism` for an engine of classes (unit 05): no cell touches the recursion limit or the stack
    size or takes a dynamic route that could (`limit_route`), and no recursion is reachable from `roots` in the
    class-aware call graph, implicit dunder calls and escaped functions included (`implicit_recursion`).

    Args:
        unit: The unit id, whose release notebook's imports are the modules the engine may use.
        roots: The methods that must not recurse, e.g. ("topological_order",).
    """
    starts = tuple(roots)

    def check(code: StudentCode) -> None:
        route = limit_route(code)
        if route and route.kind == "limit":
            raise checks.CheckFailure(f"Your code touches Python's recursion limit or the stack size "
                                      f"({route.description}): the topological sort must work at the default "
                                      f"recursion limit of 1000, without recursion. {_ENGINE_CONTRACT} "
                                      f"{_ITERATIVE_HINT}")
        if route:
            raise checks.CheckFailure(f"Your code uses {route.description}, a dynamic route (to names, modules or code "
                                      "built from strings) that could change Python's recursion limit, and the grader "
                                      f"does not allow it in this notebook. {_ENGINE_CONTRACT}")
        cycle = implicit_recursion(code, starts, modules=release_imports(unit))
        if cycle:
            raise checks.CheckFailure(f"Your {starts[0]} recurses ({' -> '.join(cycle)}): a graph 10,000 operations "
                                      "deep needs more than Python's recursion limit of 1000 frames. "
                                      f"{_ENGINE_CONTRACT} {_ITERATIVE_HINT}")

    return check


_TOOLS = "calcml (numdiff, checks, ...), sympy, mpmath, scipy or np.gradient"


def own_work(names: Iterable[str], unit: str) -> Callable[[StudentCode], None]:
    """The `Probe.mechanism` every exercise has: the code reachable from its functions (`names`, what its
    solution cells define) uses none of the course's reference tools (`grading.mechanism.tools`). A name the
    student binds to a tool instead of defining it fails too; a name not defined at all is left to the numbers.

    Args:
        names: The exercise's functions and classes, e.g. ("d_ratio",) or ("Value",).
        unit: The unit id, whose release notebook's imports bind names such as `numdiff` and `sp`.
    """
    wanted = tuple(names)

    def check(code: StudentCode) -> None:
        # What the reading misses, the probe process stops (`probe_runner.disarm_tools` makes every tool raise);
        # what changes everybody's code could undo that there, so it fails here.
        found = program(code)
        what = f"that {wanted[0]} does its own work"
        if found.global_problems:
            raise checks.CheckFailure(f"The grader checks {what} by reading your code, and your code uses "
                                      f"{found.global_problems[0]}, which it cannot follow. {_REMOVE}")
        tools = tool_names(found, release_bindings(unit))
        for name in wanted:
            if any(isinstance(node, (ast.Import, ast.ImportFrom)) for node in found.bindings.get(name, [])) or (
                    name in tools and name not in found.definitions):
                raise checks.CheckFailure(f"{name} is imported or assigned from another module, so the grader "
                                          f"cannot read it: write it yourself, with `def {name}(...):`.")
        bodies = [body for name in wanted for _, body in reachable_bodies(found, name)]
        hidden = reachable_problems(found, bodies)
        if hidden:
            raise checks.CheckFailure(f"The grader checks {what} by reading your code, and the code it runs uses "
                                      f"{hidden[0]}, which it cannot follow. {_REMOVE}")
        uses = tool_uses(tools, bodies)
        if uses:
            drafts = [name for name in wanted if len(found.definitions.get(name, [])) > 1]
            raise checks.CheckFailure(
                f"The code {wanted[0]} runs uses {uses[0]}: {_TOOLS} check an answer; they cannot be the answer. "
                "This exercise asks you to compute it yourself, by the method the unit teaches. Use NumPy and the "
                "functions you wrote in this notebook." + (
                    f" (Your notebook defines {drafts[0]} more than once, and the grader reads every definition: "
                    "delete the drafts.)" if drafts else ""))

    return check


def literal_values(names: Iterable[str]) -> Callable[[StudentCode], None]:
    """A `Probe.mechanism` for values worked out by hand: every assignment to `names` (a dict of numbers, as
    `forward = {"x": 2, "u": 2 * -3}`) holds numbers typed by hand (literals, + - * / **, math.pi and math.e), never a
    call (numdiff, sympy, an engine, a function of the student's) or a variable. Reading the values (printing
    them, `forward["u"]`, `.items()`) is fine; changing them any other way (`update`, an alias, a loop) fails.

    Args:
        names: The answer's variables, e.g. ("forward",).
    """
    wanted = frozenset(names)
    shown = ", ".join(sorted(wanted))

    def check(code: StudentCode) -> None:
        found = program(code)
        if found.global_problems:
            raise checks.CheckFailure(f"The grader checks that {shown} are typed by hand by reading your code, and "
                                      f"your code uses {found.global_problems[0]}, which it cannot follow. {_REMOVE}")
        for number, tree in found.modules:
            problem = typed_by_hand.literal_problem(tree, wanted)
            if problem:
                raise checks.CheckFailure(typed_by_hand.message(*problem, f"your cell {number}"))

    return check


RULES: dict[str, Callable[..., Callable[[StudentCode], None]]] = {
    "no_recursion": no_recursion, "no_overflowing_exp": no_overflowing_exp, "no_error_repair": no_error_repair,
    "iterative_engine": iterative_engine, "own_work": own_work,
    "literal_values": literal_values,
}


def from_spec(spec: dict | None) -> Callable[[StudentCode], None] | None:
    """The check a hidden region names with `mechanism={"rule": name, **arguments}` (None stays None)."""
    if spec is None:
        return None
    arguments = dict(spec)
    name = arguments.pop("rule")
    if name not in RULES:
        raise ValueError(f"no mechanism rule {name!r}; the rules are {', '.join(RULES)}")
    return RULES[name](**arguments)
