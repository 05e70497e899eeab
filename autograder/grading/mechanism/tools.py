"""The course's reference tools in an answer: what checks an exercise, used to do it.

Every exercise asks the student to compute something by a method: a central difference, the chain rule, a
backward pass. `calcml` (numdiff, checks, the reference engines), sympy, mpmath, scipy and `numpy.gradient` give
the same numbers without the method, so the code reachable from an exercise's functions may not use them.
`tool_uses(tool_names(found, release_bindings(unit)), bodies)` lists each use, e.g. "numdiff.derivative (line 3)".

A name holds a tool when an import binds it (`from calcml import numdiff`, `import sympy as sp`, `from sympy
import diff`), in the release's own cells or the student's, or when an assignment anywhere gives it a value
that refers to one (`nd = numdiff`, `table = {"d": numdiff.derivative}`, `self.d = sp.diff`), to a fixed point.
What is a tool is decided once, by `calcml.own_work.is_tool_path` (the kernel's check uses it too): constants pass
(`checks.RTOL` is a number), and so does what of calcml only draws or logs (`graph.draw`, `graph_explorer`).
"""

from __future__ import annotations

import ast
import functools
import sys
from collections.abc import Iterable

from calcml.own_work import is_tool_path as is_tool

from .calls import local_names
from .program import Program
from .source import import_bindings, release_cells, target_names, walk

_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


@functools.lru_cache(maxsize=16)
def release_bindings(unit_id: str) -> dict[str, frozenset[str]]:
    """What the release notebook of `unit_id` binds to a tool, or to a module: its imports, and its own helpers
    that use a tool (`def show(f): ... numdiff.derivative ...`). Its pristine cells are not the student's, so
    `StudentCode` leaves them out, yet the student's code may call them. `np` is numpy in every unit."""
    trees = [tree for tree, test_cell in release_cells(unit_id) if not test_cell]
    bound: dict[str, set[str]] = {"np": {"numpy"}, "numpy": {"numpy"}}
    for tree in trees:
        for name, paths in import_bindings(tree).items():
            bound.setdefault(name, set()).update(paths)
    changed = True
    while changed:
        changed = False
        for node in (node for tree in trees for node in tree.body):
            if isinstance(node, _SCOPES):  # a helper function or class of the release
                uses, named = _tools_in(node, bound, local_names(node)), [node.name]
            elif isinstance(node, ast.Assign) and isinstance(node.value, (ast.Name, ast.Attribute, ast.Lambda)):
                uses = _tools_in(node.value, bound, set())  # an alias, not data computed with a tool
                named = [name for target in node.targets for name, _ in target_names(target)]
            else:
                continue
            for name in named:
                if uses and not any(is_tool(path) for path in bound.get(name, ())):
                    bound.setdefault(name, set()).add("calcml")  # the release's helper uses a tool
                    changed = True
    return {name: frozenset(paths) for name, paths in bound.items()}


def _dotted(node: ast.AST) -> tuple[str, list[str]]:
    """`a.b.c` as ("a", ["b", "c"]), or ("", []) when its root is not a name."""
    attributes: list[str] = []
    while isinstance(node, ast.Attribute):
        attributes.insert(0, node.attr)
        node = node.value
    return (node.id, attributes) if isinstance(node, ast.Name) else ("", [])


def _tools_in(node: ast.AST, bound: dict[str, set[str]], local: set[str]) -> list[tuple[str, ast.AST]]:
    """Each use of a tool in `node`: the longest name or attribute chain whose root holds a tool."""
    found: list[tuple[str, ast.AST]] = []
    inner: set[int] = set()
    for child in walk(node):
        if id(child) in inner or not isinstance(child, (ast.Name, ast.Attribute)):
            continue
        root, attributes = _dotted(child)
        if not root or root in local or root not in bound:
            continue
        current = child
        while isinstance(current, ast.Attribute):
            inner.add(id(current.value))
            current = current.value
        for path in sorted(bound[root]):
            full = ".".join([path, *attributes])
            if is_tool(full):
                found.append((".".join([root, *attributes]), child))
                break
    return found


KNOWN_PACKAGES = frozenset({"numpy", "matplotlib", "ipywidgets", "IPython", "calcml", "sympy", "mpmath", "scipy"})
UNREADABLE = "calcml.unreadable"  # what a name holds when it comes from a module the grader cannot read


def _bindings_in_order(found: Program) -> list[tuple[ast.AST, bool]]:
    """The statements that bind the notebook's names, in the order the notebook runs them, each with whether it
    runs when it is reached (at module level) or whenever a function declaring the name `global` is called."""
    out: list[tuple[ast.AST, bool]] = []
    for _, tree in found.modules:
        found_here: list[tuple[ast.AST, bool]] = []
        stack: list[tuple[ast.AST, frozenset[str] | None]] = [(tree, None)]
        while stack:
            node, declared = stack.pop()
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                if declared is None and not isinstance(node, ast.Lambda):
                    found_here.append((node, True))
                names = frozenset(name for inner in walk(node) if isinstance(inner, ast.Global) for name in inner.names)
                stack += [(child, names) for child in ast.iter_child_nodes(node)]
                continue
            if isinstance(node, _BINDINGS) and (declared is None or _binds_any(node, declared)):
                found_here.append((node, declared is None))
            stack += [(child, declared) for child in ast.iter_child_nodes(node)]
        out += sorted(found_here, key=lambda pair: (getattr(pair[0], "lineno", 0), getattr(pair[0], "col_offset", 0)))
    return out


_BINDINGS = (ast.Assign, ast.AnnAssign, ast.NamedExpr, ast.AugAssign, ast.Call, ast.Import, ast.ImportFrom,
             ast.ClassDef)


def _binds_any(node: ast.AST, names: frozenset[str]) -> bool:
    targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
    return any(name in names for target in targets if target is not None for name, _ in target_names(target))


def tool_names(found: Program, release: dict[str, frozenset[str]]) -> dict[str, set[str]]:
    """Every name that may hold a tool when the probe runs, with what it holds. The release's imports come first;
    then the student's statements in notebook order: an import binds what it imports (a module the grader does
    not know, a file the student wrote, say, holds `UNREADABLE`), a `def` or a plain assignment gives the name a
    new meaning (the last one counts), and an assignment from a tool, or a call or store that hands one to a
    container or an object (`T["d"] = tool`, `table.append(tool)`, `setattr(obj, "d", tool)`), marks it."""
    tools = {name: {p for p in paths if _tracked(p)} for name, paths in release.items()}
    for node, in_order in _bindings_in_order(found):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for name, paths in import_bindings(node).items():
                tools[name] = {p for p in paths if _tracked(p)} | (
                    {UNREADABLE} if any(_unknown(p) for p in paths) else set())
            continue
        if isinstance(node, _SCOPES):
            tools.pop(node.name, None)
            continue
        filled = _filled_names(node, tools)
        if in_order and not filled and isinstance(node, (ast.Assign, ast.AnnAssign, ast.NamedExpr)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name):
                    tools.pop(target.id, None)  # a new meaning, computed without a tool
        for name in filled:
            tools.setdefault(name, set()).add("calcml")  # holds a tool, whichever one
    return {name: paths for name, paths in tools.items() if paths}


def _tracked(path: str) -> bool:
    return is_tool(path) or path.split(".")[0] == "numpy"  # numpy.gradient is a tool, reached through `np`


def _unknown(path: str) -> bool:
    top = path.split(".")[0]
    return top not in KNOWN_PACKAGES and top not in sys.stdlib_module_names


def _filled_names(node: ast.AST, tools: dict[str, set[str]]) -> list[str]:
    """The names that `node` fills with a tool: the targets of an assignment from one (for `T["d"] = ...` or
    `obj.d = ...`, the container or object, `T` or `obj`), and the object a call hands one to
    (`table.append(tool)`, `setattr(obj, "d", tool)`)."""
    if isinstance(node, ast.Call):
        if not any(_tools_in(argument, tools, set()) for argument in [*node.args, *node.keywords]):
            return []
        holder = node.args[0] if isinstance(node.func, ast.Name) and node.args else node.func
        return [name for name in [_root(holder)] if name]
    if isinstance(node, _SCOPES) or getattr(node, "value", None) is None or not _tools_in(node.value, tools, set()):
        return []
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    return [name for target in targets for name in _roots(target) if name]


def _roots(target: ast.AST) -> list[str]:
    if isinstance(target, (ast.Tuple, ast.List)):
        return [name for element in target.elts for name in _roots(element)]
    return [_root(target)]


def _root(node: ast.AST) -> str:
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Starred, ast.Call)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else ""


def tool_uses(tools: dict[str, set[str]], bodies: Iterable[ast.AST]) -> list[str]:
    """Each use of a reference tool in `bodies` (the code reachable from an exercise's functions), with its line:
    a name or attribute that holds a tool (`tools`, from `tool_names`, or an import inside the body), or a star
    import of a tool."""
    uses: list[str] = []
    for body in bodies:
        inner: dict[str, set[str]] = {}
        for node in walk(body):
            if isinstance(node, ast.ImportFrom) and any(alias.name == "*" for alias in node.names) and (
                    is_tool(node.module or "")):
                uses.append(f"`from {node.module} import *` (line {node.lineno})")
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                for name, paths in import_bindings(node).items():
                    inner.setdefault(name, set()).update(p for p in paths if _tracked(p))
        local = local_names(body) if isinstance(body, (*_SCOPES, ast.Lambda)) else set()
        seen = {**tools, **{name: paths for name, paths in inner.items() if paths}}
        uses += [f"{text} (line {getattr(node, 'lineno', '?')})"
                 for text, node in _tools_in(body, seen, local - set(inner))]
    return uses
