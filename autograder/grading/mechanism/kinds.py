"""What an expression may be, for the class-aware call graph: plainly a number or a built-in container.

An operation whose operands are plainly numbers, strings or built-in containers runs no student code (`self.data
+ other.data`, `stack.pop()` on a list `stack`, `len(order)`); any other operand may be one of the student's
objects, whose dunder methods the operation may call (`grading.mechanism.dunders`). `ValueKinds` decides it from
the bindings of each local name (flow-insensitively) and from every store into an attribute of that name, to a
fixed point.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterable, Sequence

from .calls import parameters
from .objects import Definitions, stored_names, stored_pairs
from .protocols import COMMON_METHODS, CONTAINER_BUILTINS, SCALAR_BUILTINS

Seen = frozenset  # the (name, id of its function) pairs being decided: a cycle of bindings
NOTHING_SEEN: Seen = frozenset()
SCALAR_LITERALS = (ast.Constant, ast.JoinedStr)
SCALAR_OF_SCALARS = frozenset({"abs", "min", "max", "round", "pow"})  # numbers in, a number out, no student code
CONTAINER_LITERALS = (ast.List, ast.Tuple, ast.Set, ast.Dict, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


class ValueKinds(Definitions):
    """`Definitions`, with what each expression may be.

    Attributes:
        scalar_attrs: The attribute names that only ever hold numbers, strings or bools.
        container_attrs: The attribute names that only ever hold built-in containers.
    """

    def __init__(self, trees: Sequence[ast.AST], modules: Iterable[str]) -> None:
        super().__init__(trees, modules)
        self._locals: dict[int | None, dict[str, list]] = {}
        self._enclosing: dict[int, ast.AST] = {}  # a nested function -> the function around it (its free names)
        for tree in trees:
            for outer in ast.walk(tree):
                if isinstance(outer, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                    for inner in ast.walk(outer):
                        if inner is not outer and isinstance(inner, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                                     ast.Lambda)):
                            self._enclosing[id(inner)] = outer  # outer functions come first: the last is nearest
        self.scalar_attrs: set[str] = set()
        self.container_attrs: set[str] = set()
        self.scalar_attrs = self._attributes("scalar_attrs", self.scalar)
        self.container_attrs = self._attributes("container_attrs", self.container)
        self._locals = {}

    def _local(self, owner: ast.AST | None) -> dict[str, list]:
        """The bindings of each local name of a function (None: a parameter, or a value not known)."""
        key = id(owner) if owner is not None else None
        if key not in self._locals:
            names: dict[str, list] = {}
            if owner is not None:
                for parameter in parameters(owner):
                    names.setdefault(parameter, []).append(None)
                stack = list(owner.body) if isinstance(owner.body, list) else [owner.body]
                while stack:
                    node = stack.pop()
                    if isinstance(node, (ast.Global, ast.Nonlocal)):
                        for name in node.names:
                            names.setdefault(name, []).append(None)
                    elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.NamedExpr)):
                        for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                            for stored, value in stored_pairs(target, node.value):
                                if isinstance(stored, ast.Name):
                                    names.setdefault(stored.id, []).append(value)
                    elif isinstance(node, (ast.For, ast.AsyncFor, ast.comprehension)):
                        ranged = (isinstance(node.iter, ast.Call) and isinstance(node.iter.func, ast.Name)
                                  and node.iter.func.id == "range" and "range" not in self.bound)
                        for stored, _ in stored_pairs(node.target, None):
                            if isinstance(stored, ast.Name):
                                names.setdefault(stored.id, []).append(ast.Constant(0) if ranged else None)
                    elif isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
                        names.setdefault(node.id, [])  # bound by with/except/match/import: see below
                    elif isinstance(node, (ast.withitem, ast.ExceptHandler, ast.Import, ast.ImportFrom)):
                        for stored in stored_names(node.optional_vars) if isinstance(node, ast.withitem) and (
                                node.optional_vars is not None) else [getattr(node, "name", None) or ""]:
                            names.setdefault(stored, []).append(None)
                    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                        names.setdefault(node.name, []).append(None)
                        continue  # another scope
                    if isinstance(node, ast.Lambda):
                        continue
                    stack.extend(ast.iter_child_nodes(node))
            self._locals[key] = names
        return self._locals[key]

    def _name_is(self, name: str, owner: ast.AST | None, test: Callable[..., bool], seen: Seen) -> bool:
        values = self._local(owner).get(name)
        while values is None and owner is not None and id(owner) in self._enclosing:
            owner = self._enclosing[id(owner)]  # a free name of a closure: its bindings in the enclosing function
            values = self._local(owner).get(name)
        if not values or (name, id(owner)) in seen:
            return bool(values)  # unknown (a global, a free variable): no; a cycle: as its other values say
        seen = seen | {(name, id(owner))}
        return all(v is not None and test(v, owner, seen) for v in values)

    def _literal_or_named(self, node: ast.AST, owner: ast.AST | None, seen: Seen, literals: tuple[type, ...],
                          attributes: set[str], test: Callable[..., bool]) -> bool | None:
        """Whether `node` is of a kind, when it is a literal (`literals`), an attribute (its name in `attributes`) or
        a local name (every binding passes `test`); None for any other expression."""
        if isinstance(node, literals):
            return True
        if isinstance(node, ast.Attribute):
            return node.attr in attributes
        if isinstance(node, ast.Name):
            return self._name_is(node.id, owner, test, seen)
        return None

    def scalar(self, node: ast.AST, owner: ast.AST | None, seen: Seen = NOTHING_SEEN) -> bool:
        """`node` is a number, a string or a bool whatever the student's classes do."""
        known = self._literal_or_named(node, owner, seen, SCALAR_LITERALS, self.scalar_attrs, self.scalar)
        if known is not None:
            return known
        if isinstance(node, (ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.Compare, ast.IfExp)):
            parts = [c for c in ast.iter_child_nodes(node) if isinstance(c, ast.expr)]
            return all(self.scalar(p, owner, seen) for p in parts)
        if not isinstance(node, ast.Call):
            return False
        if isinstance(node.func, ast.Name) and node.func.id in SCALAR_OF_SCALARS and node.func.id not in self.bound:
            return not node.keywords and all(self.scalar(a, owner, seen) for a in node.args)  # abs(x) of a number
        if isinstance(node.func, ast.Name):
            return node.func.id in SCALAR_BUILTINS and node.func.id not in self.bound
        return (isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "math" and "math" in self.modules)

    def container(self, node: ast.AST, owner: ast.AST | None, seen: Seen = NOTHING_SEEN) -> bool:
        """`node` is a built-in list, tuple, set, dict, deque or iterator (its items may be anything)."""
        known = self._literal_or_named(node, owner, seen, CONTAINER_LITERALS, self.container_attrs, self.container)
        if known is not None:
            return known
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            if isinstance(func, ast.Attribute) and not (isinstance(func.value, ast.Name)
                                                        and func.value.id in self.modules):
                return False
            return name in CONTAINER_BUILTINS and (name in self.modules or name not in self.bound
                                                   or isinstance(func, ast.Attribute))
        if isinstance(node, ast.BinOp):
            return self.container(node.left, owner, seen) and self.container(node.right, owner, seen)
        return False

    def plain(self, node: ast.AST, owner: ast.AST | None) -> bool:
        """`node` is plainly a number, a string, a bool or a built-in container (`scalar` or `container`)."""
        return self.scalar(node, owner) or self.container(node, owner)

    def _attributes(self, field: str, test: Callable[..., bool]) -> set[str]:
        """The attribute names every store of which passes `test`, from all of them down to a fixed point (so
        `self.grad += out.grad` keeps `grad` a number). An augmented store keeps the kind (documented: a `+=` of
        an object into a number attribute is not followed)."""
        names = {attr for attr, *_ in self.attr_stores}
        while True:
            self._locals = {}
            setattr(self, field, names)
            bad = {attr for attr, value, owner, aug in self.attr_stores
                   if attr in names and not (aug or (value is not None and test(value, owner)))}
            if not bad:
                return names
            names = names - bad


    def bound_method(self, name: str, owner: ast.AST | None) -> bool:
        """`name` only ever holds a method of a built-in container (`push = stack.append`)."""
        values = self._local(owner).get(name)
        return bool(values) and all(isinstance(v, ast.Attribute) and v.attr in COMMON_METHODS
                                    and self.container(v.value, owner) for v in values)
