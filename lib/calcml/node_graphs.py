"""Expression graphs as recipes, for the hidden checks of unit 04 (and any unit that builds graphs of nodes).

A graph travels as a *recipe*, plain JSON: leaf values and a list of steps `[op, i, j]` (op in add, mul, tanh; i and
j index earlier nodes, leaves first; tanh ignores j). `BUILD` is driver source that builds it from its own node
class, with the attributes of the notebook's `Node` (data, grad, _prev, _local_grads, _op, label), so nothing the
notebook redefines can change the graph; `value` evaluates the same expression as plain floats. Nothing here
orders a graph, walks it backwards or counts its paths: those are the exercises.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from calcml import checks

#: Driver source: `ProbeNode` and `build(graph)`, the graph's nodes in creation order (leaves first, root last).
BUILD = """
import math

class ProbeNode:
    def __init__(self, data, label="", _prev=(), _local_grads=(), _op=""):
        self.data = float(data)
        self.grad = 0.0
        self._prev = tuple(_prev)
        self._local_grads = tuple(float(g) for g in _local_grads)
        self._op = _op
        self.label = label

    def __repr__(self):
        return f"Node({self.label}: data={self.data:.4g}, grad={self.grad:.4g})"

def build(graph):
    nodes = [ProbeNode(v, f"x{i}") for i, v in enumerate(graph["leaves"])]
    for k, (op, i, j) in enumerate(graph["recipe"]):
        p, q = nodes[i], nodes[j]
        if op == "tanh":
            t = math.tanh(p.data)
            nodes.append(ProbeNode(t, f"n{k}", (p,), (1.0 - t * t,), "tanh"))
        elif op == "add":
            nodes.append(ProbeNode(p.data + q.data, f"n{k}", (p, q), (1.0, 1.0), "+"))
        else:
            nodes.append(ProbeNode(p.data * q.data, f"n{k}", (p, q), (q.data, p.data), "*"))
    return nodes
"""


def random_graph(rng: np.random.Generator, n_leaves: int = 4, n_ops: int = 12) -> dict[str, Any]:
    """A random DAG with fan-out (nodes reused, sometimes twice by one op) whose every node reaches the root."""
    leaves = rng.uniform(-1.5, 1.5, size=n_leaves)
    recipe, used = [], set()
    for k in range(n_ops):
        size = n_leaves + k
        i = int(rng.integers(max(0, size - 4), size))
        j = int(rng.integers(0, size))
        op = str(rng.choice(["add", "mul", "tanh"], p=[0.35, 0.35, 0.3]))
        recipe.append([op, i, j])
        used.update({i} if op == "tanh" else {i, j})
    sinks = [k for k in range(n_leaves + n_ops) if k not in used]
    total = sinks[0]
    for k in sinks[1:]:
        recipe.append(["add", total, k])
        total = n_leaves + len(recipe) - 1
    return {"leaves": leaves.tolist(), "recipe": recipe}


def chain(depth: int, start: float) -> dict[str, Any]:
    """x -> tanh -> tanh -> ...: a graph `depth` operations deep."""
    return {"leaves": [start], "recipe": [["tanh", k, k] for k in range(depth)]}


def diamonds(count: int, start: float) -> dict[str, Any]:
    """`count` diamonds x -> tanh(x) + x·x in a row: each triples the number of paths to the root."""
    recipe = []
    for k in range(count):
        top = 3 * k
        recipe += [["tanh", top, top], ["mul", top, top], ["add", top + 1, top + 2]]
    return {"leaves": [start], "recipe": recipe}


def comb(length: int, a: float, w: float) -> dict[str, Any]:
    """a·w·w·...·w: w is used `length + 1` times."""
    return {"leaves": [a, w], "recipe": [["mul", 0, 1]] + [["mul", k + 2, 1] for k in range(length)]}


def size(graph: dict[str, Any]) -> int:
    """The number of nodes, leaves included."""
    return len(graph["leaves"]) + len(graph["recipe"])


def inputs_of(graph: dict[str, Any]) -> list[list[int]]:
    """The inputs of every node, by index (a leaf has none; tanh has one)."""
    n = len(graph["leaves"])
    return [[] for _ in range(n)] + [[i] if op == "tanh" else [i, j] for op, i, j in graph["recipe"]]


# ----------------------------------------------------------------------------------------------------------
# A graph worked by hand: named nodes, fixed numbers, and what the grader says about a wrong value

#: The pen-and-paper graph of unit 04: u = x·y, v = u + z, w = v·x, L = w², at x = 2, y = -3, z = 4. Each step is
#: [name, op, first input, second input] with op in add, mul, square (square has one input). x is used twice.
BY_HAND: dict[str, Any] = {"leaves": {"x": 2, "y": -3, "z": 4},
                           "steps": [["u", "mul", "x", "y"], ["v", "add", "u", "z"], ["w", "mul", "v", "x"],
                                     ["L", "square", "w", None]]}

_SYMBOLS = {"add": "+", "mul": "·"}


def names(graph: dict[str, Any]) -> list[str]:
    """The node names in creation order (a topological order): leaves first, the output last."""
    return [*graph["leaves"], *(step[0] for step in graph["steps"])]


def _formula(step: list[Any]) -> str:
    name, op, i, j = step
    return f"{name} = {i}²" if op == "square" else f"{name} = {i} {_SYMBOLS[op]} {j}"


def _apply(op: str, a: float, b: float | None) -> float:
    return a * a if op == "square" else a + b if op == "add" else a * b


def hand_values(graph: dict[str, Any], replace: tuple[str, Any] | None = None) -> dict[str, Any]:
    """Every node's value, by a plain forward pass; `replace=(name, t)` forces that node to `t` (a number or a
    sympy symbol), so that the output becomes a function of that one node."""
    values = dict(graph["leaves"])
    if replace is not None and replace[0] in values:
        values[replace[0]] = replace[1]
    for name, op, i, j in graph["steps"]:
        values[name] = (replace[1] if replace is not None and replace[0] == name
                        else _apply(op, values[i], values[j] if j is not None else None))
    return values


def hand_adjoints(graph: dict[str, Any]) -> dict[str, float]:
    """dL/d(node) for every node, by central differences (`calcml.numdiff`): the output as a function of the node
    alone, its inputs held fixed. Independent of any backward pass (the graph is a polynomial, so the error is
    rounding only, about 1e-9 here)."""
    from calcml import numdiff

    values, out = hand_values(graph), names(graph)[-1]
    return {name: float(numdiff.derivative(lambda t, name=name: hand_values(graph, (name, t))[out], values[name]))
            for name in names(graph)}


def _uses(graph: dict[str, Any], node: str) -> list[tuple[list[Any], int]]:
    """Every use of `node`: (the step that uses it, the position of the input, 0 or 1); x·x is two uses."""
    return [(step, k) for step in graph["steps"] for k, inp in enumerate(step[2:]) if inp == node]


def _local(step: list[Any], k: int, values: dict[str, Any]) -> float:
    """d(step's node)/d(its input number k), at `values`."""
    _, op, i, j = step
    return 2 * values[i] if op == "square" else 1.0 if op == "add" else values[j if k == 0 else i]


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if np.isfinite(number) else None


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-6 * max(1.0, abs(b))


def _missing(got: Any, graph: dict[str, Any], what: str) -> str | None:
    if not isinstance(got, dict):
        return f"{what} should be a dict from node name to number, e.g. {{'x': 2, ...}}, not a {type(got).__name__}."
    absent = [name for name in names(graph) if name not in got]
    if absent:
        return f"{what} has no value for node {', '.join(repr(n) for n in absent)}: give one for every node."
    extra = [name for name in got if name not in names(graph)]
    if extra:
        return f"{what} has a value for {', '.join(repr(str(n)) for n in extra[:3])}, which is no node of the graph."
    bad = [name for name in names(graph) if _number(got[name]) is None]
    if bad:
        return f"{what}[{bad[0]!r}] is {got[bad[0]]!r}, not a number."
    return None


def diagnose_values(graph: dict[str, Any], got: Any) -> str | None:
    """What is wrong with hand-computed node values `got` (name -> number), or None when all are right. Checks in
    topological order and names the first wrong node, with the likely cause."""
    problem = _missing(got, graph, "forward")
    if problem:
        return problem
    values = hand_values(graph)
    for name in graph["leaves"]:
        if not _close(_number(got[name]), values[name]):
            return (f"forward[{name!r}] is {got[name]!r}, but the input {name} is {values[name]}: copy the inputs as "
                    "they are given.")
    for step in graph["steps"]:
        name, op, i, j = step
        answer, right = _number(got[name]), values[name]
        if _close(answer, right):
            continue
        cause = f"with {i} = {values[i]}" + (f" and {j} = {values[j]}" if j is not None else "")
        if _close(answer, -right):
            cause += ": the sign is wrong (mind the product of negative numbers)"
        elif op == "square" and _close(answer, 2 * values[i]):
            cause += f": a square is {i}·{i}, not 2·{i}"
        elif op != "square" and _close(answer, _apply("add" if op == "mul" else "mul", values[i], values[j])):
            cause += f": {'a product, not a sum' if op == 'mul' else 'a sum, not a product'}"
        elif op == "mul" and (_close(answer, values[i]) or _close(answer, values[j])):
            lost = j if _close(answer, values[i]) else i
            cause += f": the factor {lost} is missing (a node used elsewhere too is still an input here)"
        return f"forward[{name!r}] is {got[name]!r}, but {_formula(step)} is {right:g} {cause}."
    return None


def diagnose_adjoints(graph: dict[str, Any], got: Any) -> str | None:
    """What is wrong with hand-computed adjoints `got` (name -> dL/d(node)), or None when all are right.

    Checks from the output back to the inputs (reverse topological order) and names the first wrong node, so that
    a mistake is reported where it was made, not where it propagated, with the likely cause: a missing path (a
    node used twice given one use's contribution), a local derivative taken at the wrong point (evaluated at
    another node's value), the other factor of a product swapped for the node's own value, or a sign."""
    problem = _missing(got, graph, "adjoint")
    if problem:
        return problem
    values, expected = hand_values(graph), hand_adjoints(graph)
    for name in reversed(names(graph)):
        answer, right = _number(got[name]), expected[name]
        if _close(answer, right):
            continue
        bar = f"adjoint[{name!r}] is {got[name]!r}, but ∂L/∂{name} = {right:g}"
        uses = _uses(graph, name)
        if not uses:
            return f"{bar}: the seed of the backward pass is ∂L/∂L = 1."
        parts = [(step, k, expected[step[0]] * _local(step, k, values)) for step, k in uses]
        terms = " + ".join(f"{step[0]}̄·∂{step[0]}/∂{name}" for step, _, _ in parts)
        if len(parts) > 1:
            for step, _, part in parts:
                if _close(answer, part):
                    times = "twice" if len(parts) == 2 else f"{len(parts)} times"
                    return (f"{bar}: {got[name]!r} is only the contribution of the path through {step[0]} "
                            f"({_formula(step)}). {name} is used {times}, so ∂L/∂{name} is the SUM of one "
                            f"contribution per use: {terms}. A path is missing.")
        if _close(answer, -right):
            return f"{bar}: the sign is wrong. ∂L/∂{name} = {terms}; check each factor's sign."
        for index, (step, k, _) in enumerate(parts):
            rest = sum(p for n, (_, _, p) in enumerate(parts) if n != index)
            upstream, (out, op, i, j) = expected[step[0]], step
            if op == "mul" and _close(answer, rest + upstream * values[name]):
                return (f"{bar}: the local derivative ∂{out}/∂{name} of the product {_formula(step)} is the OTHER "
                        f"factor, {j if k == 0 else i} = {values[j if k == 0 else i]:g}, not {name} itself.")
            for other, value in values.items():
                slope = 2 * value if op == "square" else value if op == "mul" else None
                at = step[2] if op == "square" else (j if k == 0 else i)
                if slope is not None and other != at and _close(answer, rest + upstream * slope):
                    local = f"2·{at}" if op == "square" else at
                    return (f"{bar}: the local derivative ∂{out}/∂{name} = {local} was taken at the wrong point, "
                            f"at {other} = {value:g} instead of at {at} = {values[at]:g} ({_formula(step)}).")
        return (f"{bar}: ∂L/∂{name} = {terms}, each local derivative taken at the forward values "
                f"(∂L/∂{names(graph)[-1]} = 1 seeds the pass).")
    return None


# ----------------------------------------------------------------------------------------------------------
# The hidden checks of a graph worked by hand: the same three parts for the values and for the adjoints


def hand_inputs(rng: np.random.Generator) -> dict[str, Any]:
    """The hidden inputs of an exercise on `BY_HAND`: the graph (one for everybody, it is printed in the notebook)
    and a random order of its node names, the only thing that varies.

    Args:
        rng: The generator of the hidden inputs.

    Returns:
        `{"graph": BY_HAND, "order": [node names, permuted]}`.
    """
    return {"graph": BY_HAND, "order": [str(name) for name in rng.permutation(names(BY_HAND))]}


def hand_driver(answer: str) -> str:
    """Driver source that reports the student's dict `answer` (node name -> number) as plain data.

    The nodes are read in the order `inputs["order"]`, then any other key; a value that is not an int or a float
    is reported as its `repr`, so that the verifier can say what it is.

    Args:
        answer: The name of the student's dict, e.g. "forward" or "adjoint".

    Returns:
        Python source that assigns `result`, a dict from node name to number (or text).
    """
    if not answer.isidentifier():
        raise ValueError(f"answer must be a variable name, not {answer!r}")
    return f"""
answer = dict({answer})
result = {{str(name): answer[name] for name in inputs["order"] if name in answer}}
result.update({{str(name): value for name, value in answer.items() if str(name) not in result}})
result = {{name: (value if isinstance(value, (int, float)) else repr(value)) for name, value in result.items()}}
"""


def check_values(inputs: dict[str, Any], result: Any) -> None:
    """The verifier of hand-computed node values: `diagnose_values` on the inputs' graph.

    Raises:
        checks.CheckFailure: With `diagnose_values`'s message, when a value is wrong or missing.
    """
    _fail_with(diagnose_values(inputs["graph"], result))


def check_adjoints(inputs: dict[str, Any], result: Any) -> None:
    """The verifier of hand-computed adjoints: `diagnose_adjoints` on the inputs' graph.

    Raises:
        checks.CheckFailure: With `diagnose_adjoints`'s message, when an adjoint is wrong or missing.
    """
    _fail_with(diagnose_adjoints(inputs["graph"], result))


def _fail_with(problem: str | None) -> None:
    if problem:
        raise checks.CheckFailure(problem)
