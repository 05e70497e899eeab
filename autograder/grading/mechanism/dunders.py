"""A class-aware call graph of the student's code, with the dunder methods Python calls implicitly, and recursion.

`implicit_recursion(code, roots)` is the shortest cycle of calls reachable from the functions named `roots` (e.g.
"topological_order"). Besides the calls by name and alias (`grading.mechanism.objects`), an edge goes

- from a call the analysis cannot name (a variable, a parameter, an item, a call's result) to every escaped
  function;
- from an operation to the dunder methods it may call (`p[k]` -> `__getitem__`, `for q in p` -> `__iter__`,
  `p + q` -> `__add__`, `sorted(p)` -> `__lt__`, `Value(x)` -> `__init__`, ...: `grading.mechanism.protocols`),
  unless its operands are plainly numbers or built-in containers (`grading.mechanism.kinds`); inside an
  arithmetic dunder, its own operands count as plain (`self + (-other)` in `__sub__`);
- from a numpy call with an operand that may be a Value (`np.rint(child)`) to every method (numpy calls
  `child.rint()`);
- from anywhere to `__del__` (the garbage collector may run it).

It is the check for an engine of classes (unit 05's `Value`), where recursion may hide in an operator. The name
graph of `grading.mechanism.calls` (`no_recursion`) stays the check of unit 04: it fails every call it cannot name
("call functions by their own names"), which this graph follows instead, and it reads names in strings.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Sequence

from .calls import FUNCTION_NODES
from .kinds import ValueKinds
from .protocols import (
    ARITHMETIC_DUNDERS,
    ATTRIBUTE_DUNDERS,
    BINARY_OPERATORS,
    BUILTIN_PROTOCOLS,
    COMMON_METHODS,
    COMPARISON_DUNDERS,
    CONSTRUCTION_DUNDERS,
    CONTAINMENT_DUNDERS,
    CONTEXT_DUNDERS,
    FORMAT_DUNDERS,
    GENERIC_DUNDERS,
    HASH_DUNDERS,
    ITEM_DUNDERS,
    ITERATION_DUNDERS,
    TRUTH_DUNDERS,
    UNARY_DUNDERS,
)
from .source import StudentCode, parse_cells, text_cells, walk

NUMPY = frozenset({"np", "numpy"})  # a numpy call on an object calls the method of the same name


class DunderCallGraph(ValueKinds):
    """The call graph of the student's functions (by `id` of their nodes), implicit dunder calls included."""

    def __init__(self, trees: Sequence[ast.AST], modules: Iterable[str]) -> None:
        super().__init__(trees, modules)
        self._edges: dict[int, set[int]] = {}

    def _arithmetic_operand(self, node: ast.AST, owner: ast.AST | None) -> bool:
        """A plain operand, or, inside an arithmetic dunder, its own operands (`self + (-other)` in `__sub__`)."""
        if self.plain(node, owner):
            return True
        dunder = owner
        while dunder is not None and not (isinstance(dunder, (ast.FunctionDef, ast.AsyncFunctionDef))
                                          and dunder.name in ARITHMETIC_DUNDERS):
            dunder = self.owner.get(id(dunder))
        if dunder is None:
            return False
        params = {a.arg for a in (*dunder.args.posonlyargs, *dunder.args.args)}
        if isinstance(node, ast.Name):
            return node.id in params
        if isinstance(node, (ast.UnaryOp, ast.BinOp)):
            return all(self._arithmetic_operand(c, owner) for c in ast.iter_child_nodes(node)
                       if isinstance(c, ast.expr))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in self.classes:
            return all(self._arithmetic_operand(a, owner) for a in node.args) and not node.keywords
        return False

    def _implicit(self, node: ast.AST, owner: ast.AST | None) -> set[str]:  # noqa: C901 -- one rule per construct
        """The dunder methods that `node` may call without naming them."""
        out: set[str] = set()

        def unless_plain(expr: ast.AST | None, group: Iterable[str]) -> None:
            if expr is not None and not self.plain(expr, owner):
                out.update(group)

        if isinstance(node, (ast.BinOp, ast.AugAssign)):
            left, right = (node.left, node.right) if isinstance(node, ast.BinOp) else (node.target, node.value)
            op = BINARY_OPERATORS.get(type(node.op), "")
            if not self._arithmetic_operand(left, owner):
                out |= {f"__{op}__"} | ({f"__i{op}__"} if isinstance(node, ast.AugAssign) else set())
            if not self._arithmetic_operand(right, owner):
                out.add(f"__r{op}__")
        elif isinstance(node, ast.UnaryOp) and not self._arithmetic_operand(node.operand, owner):
            out |= UNARY_DUNDERS.get(type(node.op), set())
        elif isinstance(node, ast.Compare):
            for op, (a, b) in zip(node.ops, zip([node.left, *node.comparators], node.comparators, strict=False),
                                  strict=True):
                if isinstance(op, (ast.In, ast.NotIn)):
                    if not self.scalar(b, owner):
                        out |= CONTAINMENT_DUNDERS
                elif not isinstance(op, (ast.Is, ast.IsNot)) and not (self.scalar(a, owner) and self.scalar(b, owner)):
                    out |= COMPARISON_DUNDERS
        elif isinstance(node, ast.Subscript):
            unless_plain(node.value, ITEM_DUNDERS)
            if not self.scalar(node.slice, owner) and not isinstance(node.slice, ast.Slice):
                out |= HASH_DUNDERS | {"__index__"}
        elif isinstance(node, ast.Attribute):
            if not (isinstance(node.value, ast.Name) and node.value.id in self.modules):
                unless_plain(node.value, ATTRIBUTE_DUNDERS)
        elif isinstance(node, (ast.For, ast.AsyncFor, ast.comprehension)):
            unless_plain(node.iter, ITERATION_DUNDERS)
        elif isinstance(node, (ast.Starred, ast.YieldFrom, ast.Await)):
            unless_plain(node.value, ITERATION_DUNDERS | {"__await__"})
        elif isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                if isinstance(target, (ast.Tuple, ast.List)):
                    unless_plain(node.value, ITERATION_DUNDERS)
        elif isinstance(node, (ast.If, ast.While, ast.IfExp, ast.Assert)):
            unless_plain(node.test, TRUTH_DUNDERS)
        elif isinstance(node, ast.BoolOp):
            for value in node.values:
                unless_plain(value, TRUTH_DUNDERS)
        elif isinstance(node, ast.FormattedValue):
            if not self.scalar(node.value, owner):
                out |= FORMAT_DUNDERS
        elif isinstance(node, (ast.With, ast.AsyncWith)):
            out |= CONTEXT_DUNDERS
        elif isinstance(node, ast.Delete):
            out |= {"__del__", "__delitem__", "__delattr__"}
        elif isinstance(node, ast.Match):
            out |= COMPARISON_DUNDERS | ITEM_DUNDERS | ITERATION_DUNDERS | ATTRIBUTE_DUNDERS | CONSTRUCTION_DUNDERS
        elif isinstance(node, (ast.Set, ast.Dict)):
            keys = node.elts if isinstance(node, ast.Set) else [k for k in node.keys if k is not None]
            if not all(self.scalar(k, owner) for k in keys):
                out |= HASH_DUNDERS
        elif isinstance(node, ast.ClassDef):  # a class statement runs its bases' hooks and its metaclass
            out |= CONSTRUCTION_DUNDERS | {"__prepare__", "__mro_entries__", "__set_name__", "__class_getitem__"}
        elif isinstance(node, ast.Call):
            out |= self._call_protocols(node, owner)
        return out

    def _call_protocols(self, node: ast.Call, owner: ast.AST | None) -> set[str]:
        """The dunder methods a call may run on its arguments, or on a callable object (`__call__`)."""
        args = [*node.args, *(k.value for k in node.keywords)]
        loose = [a for a in args if not self.plain(a, owner)]
        func = node.func
        if isinstance(func, ast.Name) and func.id not in self.known and func.id not in self.classes:
            if func.id in self.modules:
                return set(GENERIC_DUNDERS) if loose else set()
            if func.id not in self.bound:  # a builtin, or a function of the release
                return set(BUILTIN_PROTOCOLS.get(func.id, GENERIC_DUNDERS)) if loose else set()
            if self.bound_method(func.id, owner):
                return set(HASH_DUNDERS | COMPARISON_DUNDERS | ITERATION_DUNDERS) if loose else set()
            return {"__call__"}
        if isinstance(func, ast.Attribute):
            if isinstance(func.value, ast.Name) and func.value.id in self.modules:
                return set(GENERIC_DUNDERS) | ({"<methods>"} if func.value.id in NUMPY else set()) if loose else set()
            return set(HASH_DUNDERS | COMPARISON_DUNDERS | ITERATION_DUNDERS) if loose else set()
        if isinstance(func, ast.Name):
            return set()
        return {"__call__"}

    def edges(self, f: ast.AST) -> set[int]:
        """The functions that running `f` (its nested functions included) may call."""
        if id(f) in self._edges:
            return self._edges[id(f)]
        out: set[int] = set()
        implicit: set[str] = {"__del__"}  # the garbage collector may run a __del__ anywhere
        body = f.body if isinstance(f.body, list) else [f.body]  # not its decorators and defaults: they ran
        for node in (n for statement in body for n in walk(statement)):
            if isinstance(node, FUNCTION_NODES):
                out.add(id(node))  # a nested function may run when f does
            owner = self.owner.get(id(node), f)
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                out |= self.known.get(node.id, set())
                out |= self.constructors.get(node.id, set())
            elif isinstance(node, ast.Attribute):
                if not (isinstance(node.value, ast.Name) and node.value.id in self.modules):
                    out |= self.known.get(node.attr, set())
            if isinstance(node, ast.Call):
                func = node.func
                if isinstance(func, ast.Name) and func.id in ("getattr", "hasattr") and len(node.args) >= 2 and (
                        isinstance(node.args[1], ast.Constant)):
                    out |= self.known.get(str(node.args[1].value), set())
                unnamed = (not isinstance(func, (ast.Name, ast.Attribute))
                           or (isinstance(func, ast.Name) and func.id in self.bound and func.id not in self.known
                               and func.id not in self.modules and func.id not in self.classes
                               and not self.bound_method(func.id, owner))
                           or (isinstance(func, ast.Attribute) and func.attr not in COMMON_METHODS
                               and not (isinstance(func.value, ast.Name) and func.value.id in self.modules)))
                if unnamed:
                    out |= self.escaped  # a variable, an item, a call's result: any function used as a value
            implicit |= self._implicit(node, owner)
        for name in implicit:
            out |= self.dunders.get(name, set()) if name != "<methods>" else self._methods()
        self._edges[id(f)] = out
        return out

    def _methods(self) -> set[int]:
        """Every method (a function whose first parameter is `self`): numpy calls `v.rint()` for `np.rint(v)`."""
        return {i for i, f in self.functions.items() if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
                and f.args.args and f.args.args[0].arg == "self"}

    def label(self, node_id: int) -> str:
        """The name of a function, or of a lambda the name it is known by ("a lambda (line 3)" if none)."""
        f = self.functions[node_id]
        if not isinstance(f, ast.Lambda):
            return f.name
        names = sorted(name for name, ids in self.known.items() if node_id in ids)
        return names[0] if names else f"a lambda (line {f.lineno})"

    def cycle(self, roots: Iterable[str]) -> list[str] | None:
        """The shortest cycle of the call graph among the functions reachable from those known by `roots`, as
        names, or None."""
        order = sorted({i for name in roots for i in self.known.get(name, set())})
        reachable = set(order)
        for current in order:  # grows while it is walked: breadth first
            for nxt in sorted(self.edges(self.functions[current]) - reachable):
                reachable.add(nxt)
                order.append(nxt)
        best: list[int] | None = None
        for start in order:
            back = {nxt: start for nxt in self.edges(self.functions[start])}
            frontier = list(back)
            while frontier and start not in back:
                step = []
                for current in frontier:
                    for nxt in sorted(self.edges(self.functions[current])):
                        if nxt not in back:
                            back[nxt] = current
                            step.append(nxt)
                frontier = step
            if start in back:
                path, current = [start], back[start]
                while current != start:
                    path.append(current)
                    current = back[current]
                path = [start, *reversed(path[1:]), start]
                if best is None or len(path) < len(best):
                    best = path
        return [self.label(i) for i in best] if best else None


def implicit_recursion(code: StudentCode, roots: Iterable[str], *, modules: Iterable[str] = ()) -> list[str]:
    """The shortest cycle of calls among the functions reachable from those named `roots`, e.g. ["walk", "walk"],
    or [] (see the module's docstring).

    Args:
        code: The student's code.
        roots: The names of the exercise's functions (and their aliases).
        modules: Names that hold modules in every cell (the release's imports, `release_imports`).

    Raises:
        calcml.checks.CheckFailure: The code cannot be read (a cell not text, too large, nested too deeply).
    """
    trees = [tree for _, tree in parse_cells(text_cells(code))]
    return DunderCallGraph(trees, modules).cycle(tuple(roots)) or []
