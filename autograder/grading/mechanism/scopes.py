"""Facts about values, and the variables of one function, for the overflow rule (`grading.mechanism.signs`).

A fact is one of UP (the value is unbounded above on the exercise's inputs), DOWN (unbounded below), GE (>= 0) and
LE (<= 0); what is known of an expression is a set of facts, `ANY` (the empty set) when nothing is. A `Scope`
holds every value given to each variable of one function body (nested functions excluded), flow-insensitively.
"""

from __future__ import annotations

import ast
import math
from typing import TYPE_CHECKING

from .calls import FUNCTION_NODES, parameters
from .source import callee, root_name, target_names, walk

if TYPE_CHECKING:
    from .program import Program

UP, DOWN, GE, LE = "up", "down", "ge", "le"  # unbounded above / below on the inputs; >= 0; <= 0
Facts = frozenset
ANY: Facts = frozenset()
TOP: Facts = frozenset({UP, DOWN, GE, LE})  # a variable while its own value is read (optimistic)
UNBOUNDED: Facts = frozenset({UP, DOWN})


def flip(facts: Facts) -> Facts:
    return frozenset({UP: DOWN, DOWN: UP, GE: LE, LE: GE}[f] for f in facts)


def constant(node: ast.AST) -> float | None:
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return float(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = constant(node.operand)
        if value is not None:
            return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.Attribute) and node.attr == "e" and root_name(node.value) in ("np", "numpy", "math"):
        return math.e
    return None


def of_constant(value: float) -> Facts:
    return frozenset(({LE} if value <= 0 else set()) | ({GE} if value >= 0 else set()))


class Scope:
    """The variables of one function body (nested functions excluded), with its parameters' facts."""

    def __init__(self, body: ast.AST, params: dict[str, Facts], parent: Scope | None):
        self.body, self.parent = body, parent
        self.values: dict[str, list[ast.AST | Facts]] = {name: [facts] for name, facts in params.items()}
        self.functions: dict[str, ast.AST] = {}
        self.nodes: list[tuple[ast.AST, ast.AST | None]] = []
        stack = [(child, body) for child in ast.iter_child_nodes(body)] if isinstance(body, FUNCTION_NODES) else [
            (body, None)]
        for name in parameters(body):
            self.values.setdefault(name, [ANY])
        while stack:
            node, parent_node = stack.pop()
            if isinstance(node, ast.arguments):
                continue
            self.nodes.append((node, parent_node))
            if isinstance(node, (*FUNCTION_NODES, ast.ClassDef)):
                if not isinstance(node, ast.Lambda):
                    self.functions[node.name] = node
                    self.values.setdefault(node.name, []).append(ANY)
                continue
            self._record(node)
            stack.extend((child, node) for child in ast.iter_child_nodes(node))

    def _record(self, node: ast.AST) -> None:
        if isinstance(node, (ast.Assign, ast.AnnAssign, ast.NamedExpr)) and node.value is not None:
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                if isinstance(target, ast.Name):
                    self.values.setdefault(target.id, []).append(node.value)
                    if isinstance(node.value, ast.Lambda):
                        self.functions[target.id] = node.value
                else:
                    for inner in walk(target):
                        if isinstance(inner, ast.Name) and isinstance(inner.ctx, ast.Store):
                            self.values.setdefault(inner.id, []).append(ANY)
        elif isinstance(node, (ast.For, ast.AsyncFor, ast.comprehension, ast.With, ast.AugAssign, ast.ExceptHandler,
                               ast.Import, ast.ImportFrom, ast.Delete)):
            names = [node.name] if isinstance(node, ast.ExceptHandler) and node.name else []
            names += [a.asname or a.name.split(".")[0] for a in getattr(node, "names", []) if hasattr(a, "name")]
            for part in (getattr(node, "target", None), *[i.optional_vars for i in getattr(node, "items", [])],
                         *getattr(node, "targets", [])):
                names += [n.id for n in walk(part) if isinstance(n, ast.Name)] if part is not None else []
            for name in names:
                if isinstance(name, str):
                    self.values.setdefault(name, []).append(ANY)

    def lookup(self, name: str) -> tuple[Scope | None, list[ast.AST | Facts]]:
        scope = self
        while scope is not None:
            if name in scope.values:
                return scope, scope.values[name]
            scope = scope.parent
        return None, []


def whole(index: ast.AST) -> bool:
    """Whether `x[index]` is all of x: `x[:]`, `x[...]`, `x[()]`."""
    return (isinstance(index, ast.Slice) and index.lower is None and index.upper is None and index.step is None) or (
        isinstance(index, ast.Constant) and index.value is Ellipsis) or (isinstance(index, ast.Tuple)
                                                                         and not index.elts)


def exponential_aliases(found: Program, exponentials: frozenset[str]) -> dict[str, str]:
    """The names and attributes that hold an exponential anywhere in the notebook: `e = np.exp` (in a cell or a
    class body), `K.grow = np.exp`, `from numpy import exp as grow`."""
    out: dict[str, str] = {}
    for _, tree in found.modules:
        for node in walk(tree):
            if isinstance(node, ast.ImportFrom):
                out.update({a.asname or a.name: a.name for a in node.names if a.name in exponentials})
            elif isinstance(node, ast.Assign) and not isinstance(node.value, ast.Call) and (
                    callee(node.value) in exponentials) and isinstance(node.value, (ast.Name, ast.Attribute)):
                out.update({n: callee(node.value) for t in node.targets for n, _ in target_names(t)})
    return out
