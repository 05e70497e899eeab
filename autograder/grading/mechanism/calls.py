"""The call graph of the student's code, by name, and recursion in it.

A body refers to a defined function (or class, or alias) when it names it: a call or a load by name, an
attribute of that name (`self.visit`, `Node.go`), or a string constant equal to the name (`getattr(self,
"visit")`, `globals()["f"]`, `type(self).__dict__["visit"]`). What it cannot name (a call of a variable holding a
function, of an item, of a call's result) is reported by `indirect_calls`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator

from .program import Program, program
from .source import StudentCode, walk

FUNCTION_NODES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)
SCOPE_NODES = (*FUNCTION_NODES, ast.ClassDef)


def local_names(body: ast.AST) -> set[str]:
    """Names bound inside a function (its parameters and those of nested functions included)."""
    names: set[str] = set()
    declared_global: set[str] = set()
    for node in walk(body):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update(alias.asname or alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node is not body:
            names.add(node.name)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
        elif isinstance(node, ast.Global):
            declared_global.update(node.names)
    return names - declared_global


def parameters(body: ast.AST) -> list[str]:
    """The parameters of a function or lambda, in order (positional first), or []."""
    if not isinstance(body, FUNCTION_NODES):
        return []
    arguments = body.args
    every = [*arguments.posonlyargs, *arguments.args, arguments.vararg, *arguments.kwonlyargs, arguments.kwarg]
    return [arg.arg for arg in every if arg is not None]


def references(found: Program, body: ast.AST) -> set[str]:
    """The defined names (functions, classes, aliases) that `body` refers to."""
    local = local_names(body) if isinstance(body, SCOPE_NODES) else set()
    functions = {name for name, nodes in found.definitions.items() if any(isinstance(n, SCOPE_NODES) for n in nodes)}
    out: set[str] = set()
    for node in walk(body):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id in found.definitions:
            if node.id in functions or node.id not in local:
                out.add(node.id)
        elif isinstance(node, ast.Attribute) and node.attr in found.definitions:
            out.add(node.attr)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in functions:
            out.add(node.value)
    return out


def reachable(found: Program, name: str, ignore: Iterable[str] = ()) -> list[str]:
    """The defined names reachable from `name` (itself first), following references; `ignore` is not
    followed."""
    skip = set(ignore)
    seen, order, stack = {name}, [name], [name]
    while stack:
        current = stack.pop()
        for body in found.definitions.get(current, []):
            for other in sorted(references(found, body) - skip):
                if other not in seen:
                    seen.add(other)
                    order.append(other)
                    stack.append(other)
    return order


def reachable_bodies(found: Program, name: str, ignore: Iterable[str] = ()) -> list[tuple[str, ast.AST]]:
    """Every body (def, lambda, class, alias value) reachable from `name`, with the name it was reached by."""
    return [(current, body) for current in reachable(found, name, ignore)
            for body in found.definitions.get(current, [])]


def recursion(code: StudentCode, name: str, *, ignore: Iterable[str] = ()) -> list[str]:
    """A cycle of references among the functions reachable from `name`, e.g. ["visit", "visit"], or [].

    A function that refers to itself (a call, a method `.visit`, a module-level alias, its name as a string) or
    to another function that refers back is recursive. Names in `ignore` are not followed (another exercise's
    function, checked on its own).

    Raises:
        calcml.checks.CheckFailure: The code could not be parsed (too large, too deeply nested).
    """
    found = program(code)
    skip = set(ignore)
    nodes = reachable(found, name, skip)
    edges = {node: sorted(set().union(*(references(found, body) for body in found.definitions.get(node, [])))
                          - skip) for node in nodes}
    colour: dict[str, int] = {}
    for start in nodes:
        if colour.get(start):
            continue
        path = [start]
        stack: list[tuple[str, Iterator[str]]] = [(start, iter(edges.get(start, [])))]
        colour[start] = 1
        while stack:
            current, children = stack[-1]
            child = next(children, None)
            if child is None:
                colour[current] = 2
                stack.pop()
                path.pop()
            elif colour.get(child) == 1:
                return path[path.index(child):] + [child]
            elif not colour.get(child):
                colour[child] = 1
                path.append(child)
                stack.append((child, iter(edges.get(child, []))))
    return []


def defines_recursion(code: StudentCode, function_name: str, *, ignore: Iterable[str] = ()) -> bool:
    """Whether `function_name`, or a function it refers to, is recursive (see `recursion`)."""
    return bool(recursion(code, function_name, ignore=ignore))


def indirect_calls(code: StudentCode, name: str, *, ignore: Iterable[str] = ()) -> list[str]:
    """Calls in the code reachable from `name` whose callee the analysis cannot name: a local variable or a
    module-level variable holding a function, a parameter of an inner function, the result of a call
    (`f(x)(y)`), an item (`table[k](x)`), a lambda. The parameters of `name` itself (the functions the grader
    passes, such as `grad_f`) may be called, and so may `getattr(obj, "name")`."""
    found = program(code)
    out = []
    for current, body in reachable_bodies(found, name, ignore):
        local = local_names(body) if isinstance(body, SCOPE_NODES) else set()
        given = set(parameters(body)) if current == name else set()
        for node in walk(body):
            if not isinstance(node, ast.Call) or isinstance(node.func, ast.Attribute):
                continue
            func = node.func
            if isinstance(func, ast.Name):
                if func.id in found.definitions or func.id in given:
                    continue
                if func.id not in local and func.id not in found.module_names:
                    continue  # a builtin, an import, a release function
                out.append(f"`{func.id}(...)` in {current} (line {node.lineno})")
            elif not (isinstance(func, ast.Call) and isinstance(func.func, ast.Name) and func.func.id == "getattr"
                      and len(func.args) >= 2 and isinstance(func.args[1], ast.Constant)):
                out.append(f"a call of {type(func).__name__.lower()} in {current} (line {node.lineno})")
    return out


def dotted(node: ast.AST) -> str:
    """`np.linalg.norm` for that attribute chain, '' for anything else."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return ""


def calls_any(code: StudentCode, names: Iterable[str]) -> list[str]:
    """Which of `names` the student's code refers to. A plain name ("errstate") matches a name or an attribute
    anywhere (`np.errstate`, `errstate`); a dotted one ("sys.setrecursionlimit") matches that exact spelling."""
    wanted = set(names)
    found = set()
    for _, tree in program(code).modules:
        for node in walk(tree):
            if isinstance(node, ast.Name):
                if node.id in wanted:
                    found.add(node.id)
            elif isinstance(node, ast.Attribute):
                if node.attr in wanted:
                    found.add(node.attr)
                if dotted(node) in wanted:
                    found.add(dotted(node))
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                found.update(alias.name for alias in node.names if alias.name in wanted)
    return sorted(found)
