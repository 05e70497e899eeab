"""The definitions of a class-aware call graph: functions known by their names and aliases, and those that escape.

`Definitions(trees, modules)` reads every cell once. Functions are ast nodes (defs and lambdas), known by their
names and by every alias (`f = walk`, `Value.go = walk`, a keyword `go=walk`, a dict key, `setattr(obj, "go",
walk)`, a default value), to a fixed point. A function used as a value any other way (passed as an argument,
returned, put in a container, given a decorator of the student's) *escapes*: a call the analysis cannot name may
reach it. Each class's constructor hooks (`__init__`, `__new__`, ...) are found, its bases' included. The
attribute stores are kept for `grading.mechanism.kinds`, the dunders for `grading.mechanism.dunders`.

Unlike `grading.mechanism.program` (the name graph of `no_recursion`, which fails on every call of a variable),
this graph follows calls it cannot name to the escaped functions, so that a correct object-oriented engine passes.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Sequence

from .calls import FUNCTION_NODES
from .protocols import CONSTRUCTION_DUNDERS, SAFE_DECORATORS
from .source import target_names, walk


class Definitions:
    """What the student wrote, for a conservative call graph (see the module's docstring).

    Attributes:
        functions: Every def and lambda, by `id` of its node.
        owner: For `id` of every node, the innermost function around it (None at module level).
        parent: For `id` of every node, its parent.
        classes: The names of the student's classes.
        bound: Every name the student binds, imports included; rebound: those bound otherwise than by an import.
        modules: The names that hold modules (the given ones and the student's imports), unless rebound.
        known: For each name, the functions it may hold (by their names and aliases).
        escaped: The functions used as values other than by a call or a plain alias.
        constructors: For each class, the hooks that calling it may run.
        dunders: The known names of the form `__name__`, with their functions.
        attr_stores: Every store into an attribute: (name, value or None, owner, augmented).
    """

    def __init__(self, trees: Sequence[ast.AST], modules: Iterable[str]) -> None:
        """Read `trees` (the student's cells); `modules` are names that hold modules in every cell (the release's
        imports: `math.log` is not a call of `Value.log`)."""
        self.functions: dict[int, ast.AST] = {}
        self.owner: dict[int, ast.AST | None] = {}  # id(node) -> the innermost function around it
        self.parent: dict[int, ast.AST] = {}
        self.classes: set[str] = set()
        self.bound: set[str] = set()  # every name the student binds, imports included
        self.rebound: set[str] = set()  # the names bound otherwise than by an import
        self.trees = trees
        imported: set[str] = set(modules)
        bindings: list[tuple[list[str], ast.AST]] = []  # (names, value): aliases
        self.attr_stores: list[tuple[str, ast.AST | None, ast.AST | None, bool]] = []  # (attr, value, owner, aug)
        for tree in trees:
            stack: list[tuple[ast.AST, ast.AST | None, bool]] = [(tree, None, False)]
            while stack:
                node, owner, in_class = stack.pop()
                self._record(node, owner, in_class, bindings, imported)
                inner = node if isinstance(node, FUNCTION_NODES) else owner
                for child in ast.iter_child_nodes(node):
                    self.parent[id(child)] = node
                    self.owner[id(child)] = inner
                    stack.append((child, inner, isinstance(node, ast.ClassDef)))
        self.modules = imported - self.rebound  # `math.log` is not Value.log
        self.known: dict[str, set[int]] = {}
        for f in self.functions.values():
            if not isinstance(f, ast.Lambda):
                self.known.setdefault(f.name, set()).add(id(f))
        changed = True
        while changed:  # aliases, to a fixed point: `g = f` after `f = walk`
            changed = False
            for names, value in bindings:
                found = self.mentioned(value)
                for name in names:
                    if found - self.known.get(name, set()):
                        self.known.setdefault(name, set()).update(found)
                        changed = True
        self.escaped = self._escaped()
        self.constructors = self._constructors()
        self.dunders = {name: ids for name, ids in self.known.items() if name.startswith("__") and name.endswith("__")}

    def _record(self, node: ast.AST, owner: ast.AST | None, in_class: bool, bindings: list[tuple[list[str], ast.AST]],
                imported: set[str]) -> None:  # noqa: C901 -- one rule per construct
        """Definitions, bindings, attribute stores and imports of one node."""
        if isinstance(node, FUNCTION_NODES):
            self.functions[id(node)] = node
            arguments = node.args
            params = [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs, arguments.vararg,
                      arguments.kwarg]
            names = {a.arg for a in params if a is not None} | ({node.name} if hasattr(node, "name") else set())
            self.bound |= names
            self.rebound |= names
            defaults = [*arguments.defaults, *(d for d in arguments.kw_defaults if d is not None)]
            for param, default in zip(params[::-1], defaults[::-1], strict=False):
                if param is not None:
                    bindings.append(([param.arg], default))
        if isinstance(node, ast.ClassDef):
            self.classes.add(node.name)
            self.bound.add(node.name)
            self.rebound.add(node.name)
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = {a.asname or a.name.split(".")[0] for a in node.names if a.name != "*"}
            imported.update(names)
            self.bound.update(names)
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            self.bound.add(node.id)
            self.rebound.add(node.id)
        targets: list[tuple[ast.AST, ast.AST | None]] = []
        if isinstance(node, ast.Assign):
            targets = [(t, node.value) for t in node.targets]
        elif isinstance(node, (ast.AnnAssign, ast.NamedExpr)):
            targets = [(node.target, node.value)]
            if isinstance(node, ast.AnnAssign) and in_class and isinstance(node.target, ast.Name):
                self.attr_stores.append((node.target.id, None, owner, False))  # a dataclass field
        elif isinstance(node, ast.AugAssign):
            targets = [(node.target, node.value)]
        elif isinstance(node, (ast.For, ast.AsyncFor, ast.comprehension)):
            targets = [(node.target, None)]
            bindings.append((stored_names(node.target), node.iter))
        elif isinstance(node, ast.withitem) and node.optional_vars is not None:
            targets = [(node.optional_vars, None)]
            bindings.append((stored_names(node.optional_vars), node.context_expr))
        for target, value in targets:
            if value is not None:
                bindings.append((stored_names(target), value))
            for name, attribute_value in stored_pairs(target, value):
                if isinstance(name, ast.Attribute):
                    self.attr_stores.append((name.attr, attribute_value, owner, isinstance(node, ast.AugAssign)))
                elif in_class and isinstance(name, ast.Name) and owner is None:
                    self.attr_stores.append((name.id, attribute_value, owner, isinstance(node, ast.AugAssign)))
        if isinstance(node, ast.Call):
            func = node.func
            callee = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            for keyword in node.keywords:
                if keyword.arg:
                    bindings.append(([keyword.arg], keyword.value))
                    if callee not in self.classes:  # a namespace: SimpleNamespace(go=f)
                        self.attr_stores.append((keyword.arg, keyword.value, owner, False))
            if callee == "setattr" and len(node.args) == 3 and isinstance(node.args[1], ast.Constant):
                bindings.append(([str(node.args[1].value)], node.args[2]))
                self.attr_stores.append((str(node.args[1].value), node.args[2], owner, False))
            if callee in ("namedtuple", "make_dataclass", "NamedTuple", "SimpleNamespace", "Enum", "type"):
                for n in walk(node):
                    if isinstance(n, ast.Constant) and isinstance(n.value, str):
                        for word in n.value.replace(",", " ").split():
                            self.attr_stores.append((word, None, owner, False))
        if isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if isinstance(key, ast.Constant) and isinstance(key.value, str):
                    bindings.append(([key.value], value))

    # -- what a function may be called as

    def mentioned(self, value: ast.AST) -> set[int]:
        """The functions an expression may hold: those it names (by a name or an attribute name they are known by)
        other than to call them, and its lambdas."""
        found: set[int] = set()
        for node in walk(value):
            parent = self.parent.get(id(node))
            if isinstance(parent, ast.Call) and parent.func is node:
                continue  # `v = self.topological_order()` holds the result, not the method
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                found |= self.known.get(node.id, set())
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load):
                found |= self.known.get(node.attr, set())
            elif isinstance(node, ast.Lambda):
                found.add(id(node))
        return found

    def _escaped(self) -> set[int]:
        """The functions used as values other than by a call or a plain alias (`f = walk`, `Value.go = walk`):
        passed as an argument, returned, put in a container, given a decorator of the student's."""
        out: set[int] = set()
        for f in self.functions.values():
            if isinstance(f, ast.Lambda):
                continue
            for decorator in f.decorator_list:
                func = decorator.func if isinstance(decorator, ast.Call) else decorator
                name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
                if name not in SAFE_DECORATORS or name in self.known:
                    out.add(id(f))
        for node_id, node in [(i, n) for i, n in self.functions.items() if isinstance(n, ast.Lambda)]:
            if not self._used_in_place(node):
                out.add(node_id)
        for tree in self.trees:
            for node in walk(tree):
                if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id in self.known:
                    found = self.known[node.id]
                elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load) and node.attr in self.known:
                    found = self.known[node.attr]
                else:
                    continue
                if not self._used_in_place(node):
                    out |= found
        return out

    def _constructors(self) -> dict[str, set[int]]:
        """The `__init__`, `__new__`, ... each class runs when called, its bases' included; those the analysis
        cannot attach to a class count for every class."""
        own: dict[str, set[int]] = {}
        bases: dict[str, set[str]] = {}
        for tree in self.trees:
            for node in walk(tree):
                if isinstance(node, ast.ClassDef):
                    bases.setdefault(node.name, set()).update(b.id for b in node.bases if isinstance(b, ast.Name))
                    for item in node.body:
                        if (isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef))
                                and item.name in CONSTRUCTION_DUNDERS):
                            own.setdefault(node.name, set()).add(id(item))
                        elif isinstance(item, ast.Assign):
                            names = {t.id for t in item.targets if isinstance(t, ast.Name)} & CONSTRUCTION_DUNDERS
                            if names:
                                own.setdefault(node.name, set()).update(self.mentioned(item.value))
                elif isinstance(node, ast.Assign):
                    for target in node.targets:
                        if (isinstance(target, ast.Attribute) and target.attr in CONSTRUCTION_DUNDERS
                                and isinstance(target.value, ast.Name)):
                            own.setdefault(target.value.id, set()).update(self.mentioned(node.value))
                elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in CONSTRUCTION_DUNDERS:
                    for decorator in node.decorator_list:
                        if isinstance(decorator, ast.Call) and decorator.args and isinstance(decorator.args[0],
                                                                                              ast.Name):
                            own.setdefault(decorator.args[0].id, set()).add(id(node))
        attached = set().union(*own.values()) if own else set()
        unowned = {i for name in CONSTRUCTION_DUNDERS for i in self.known.get(name, set())} - attached
        out = {}
        for name in self.classes:
            found, todo, seen = set(unowned), [name], set()
            while todo:
                current = todo.pop()
                if current not in seen:
                    seen.add(current)
                    found |= own.get(current, set())
                    todo.extend(bases.get(current, set()))
            out[name] = found
        return out

    def _used_in_place(self, node: ast.AST) -> bool:
        """Whether a reference to a function is called, aliased whole, or only asked for its name."""
        parent = self.parent.get(id(node))
        if isinstance(parent, ast.Call) and parent.func is node:
            return True
        if isinstance(parent, ast.Attribute) and parent.value is node:
            return parent.attr in ("__name__", "__doc__", "__qualname__", "__module__")
        if isinstance(parent, (ast.Assign, ast.AnnAssign, ast.NamedExpr)) and parent.value is node:
            targets = parent.targets if isinstance(parent, ast.Assign) else [parent.target]
            return all(isinstance(t, (ast.Name, ast.Attribute)) for t in targets)
        if isinstance(parent, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            return node in parent.decorator_list
        return False


def stored_names(target: ast.AST) -> list[str]:
    """The names and attribute names an assignment target stores into (`a, self.b = ...` -> ["a", "b"])."""
    return [name for name, _ in target_names(target)]


def stored_pairs(target: ast.AST, value: ast.AST | None) -> list[tuple[ast.AST, ast.AST | None]]:
    """(stored Name or Attribute, its value or None when unknown), element by element for `a, b = x, y`."""
    if isinstance(target, (ast.Name, ast.Attribute)):
        return [(target, value)]
    if (isinstance(target, (ast.Tuple, ast.List)) and isinstance(value, (ast.Tuple, ast.List))
            and len(target.elts) == len(value.elts)
            and not any(isinstance(e, ast.Starred) for e in (*target.elts, *value.elts))):
        return [pair for t, v in zip(target.elts, value.elts, strict=True) for pair in stored_pairs(t, v)]
    return [(n, None) for n in walk(target) if isinstance(n, (ast.Name, ast.Attribute))
            and isinstance(n.ctx, ast.Store)]
