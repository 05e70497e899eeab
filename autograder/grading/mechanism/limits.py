"""Routes to the recursion limit: what in the student's code could change Python's recursion limit or stack size.

A recursive function passes every test once the recursion limit is raised, so an exercise that asks for no recursion
also forbids touching the limit. `limit_route(code)` finds, cell by cell, the first construct that names the limit
or the stack size (`sys.setrecursionlimit`, `threading.stack_size`, also in a string or a string folded from
constants: `"setrecursion" + "limit"`) or takes a dynamic route that could reach them without naming them (`getattr`
with a computed name, `vars`, `__dict__`, `exec`/`eval`/`compile`, `__import__`, importlib, ctypes, gc, pickle,
frames, `sys`/`os`/`threading` passed on as values, ...). It reads the whole notebook: the limit is everybody's.
"""

from __future__ import annotations

import ast
import re
from typing import NamedTuple

from .calls import reachable
from .decoys import rebindings
from .program import Program, program
from .source import StudentCode, callee, imported_module, text_cells, walk, with_parents

SETTERS = frozenset({"setrecursionlimit", "setrlimit", "prlimit", "setswitchinterval"})  # whole identifiers
ENGINE_ROOTS = ("Value", "topological_order", "backward")
# Harmless outside the engine (in a scratch cell: `vars = [...]`, `import inspect`, `open(path, "w")`, ...).
ENGINE_ONLY = frozenset({"vars", "wraps", "update_wrapper", "import_module", "write_text", "write_bytes"})
ENGINE_ONLY_MODULES = frozenset({"inspect", "types", "importlib", "weakref", "atexit", "pydoc", "gc"})
LIMIT_LIBRARIES = frozenset({"hypothesis", "psutil", "resource", "_thread"})  # they set the limit themselves

# Rule 1: routes to the recursion limit (or to any name, from a string) that the analysis cannot follow.
FORBIDDEN_NAMES = frozenset({
    "exec", "eval", "compile", "__import__", "globals", "locals", "vars", "__builtins__", "breakpoint",
    "attrgetter", "methodcaller", "Formatter", "wraps", "update_wrapper", "import_module", "getframe",
})
FORBIDDEN_ATTRIBUTES = frozenset({
    "__dict__", "__getattribute__", "__getattr__", "__setattr__", "__delattr__", "__globals__", "__builtins__",
    "__subclasses__", "__import__", "__loader__", "__spec__", "__code__", "__self__", "__func__", "__closure__",
    "__bases__", "__base__", "__mro__", "__reduce__", "__reduce_ex__", "__wrapped__", "exec", "eval", "compile",
    "globals", "locals", "vars", "getattr", "setattr", "delattr", "import_module", "modules", "_getframe",
    "f_globals", "f_locals", "f_back", "f_builtins", "f_code", "tb_frame", "gi_frame", "cr_frame", "ag_frame",
    "cell_contents", "co_code", "system", "popen", "fork", "spawnv", "execv", "execve", "execl", "write_text",
    "write_bytes", "format_map", "attrgetter", "methodcaller", "settrace", "setprofile",
})
FORBIDDEN_MODULES = frozenset({
    "ctypes", "_ctypes", "cffi", "importlib", "imp", "inspect", "gc", "pickle", "_pickle", "marshal", "shelve",
    "copyreg", "dill", "cloudpickle", "joblib", "code", "codeop", "runpy", "types", "builtins", "_thread", "pydoc",
    "subprocess", "multiprocessing", "concurrent", "pty", "pdb", "bdb", "_testcapi", "_xxsubinterpreters",
    "_interpreters", "zipimport", "_imp", "faulthandler", "resource", "weakref", "atexit",
})
GUARDED_MODULES = frozenset({"sys", "threading", "os"})  # usable only as `module.name`, never passed on
RENAMING_ATTRIBUTES = frozenset({"__name__", "__qualname__", "__class__", "__code__"})  # never assigned


def _folded(node: ast.AST) -> str | None:
    """The text of a string expression built from constants: "a" "b" (the parser joins it), "a" + "b",
    "".join(["a", "b"]), "ba"[::-1], f"a{'b'}"; else None."""
    if isinstance(node, ast.Constant):
        return node.value if isinstance(node.value, str) else (
            node.value.decode("latin-1") if isinstance(node.value, bytes) else None)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _folded(node.left), _folded(node.right)
        return None if left is None or right is None else left + right
    if isinstance(node, ast.JoinedStr):
        return "".join(n.value for n in walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str))
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "join"
            and len(node.args) == 1 and isinstance(node.args[0], (ast.List, ast.Tuple))):
        parts = [_folded(e) for e in node.args[0].elts]
        return None if None in parts else "".join(parts)
    if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Slice):
        text = _folded(node.value)
        return text[::-1] if text is not None else None
    return None


def _words(node: ast.AST) -> list[str]:
    """The identifiers and string texts of one node."""
    if isinstance(node, ast.Name):
        return [node.id]
    if isinstance(node, ast.Attribute):
        return [node.attr]
    if isinstance(node, ast.alias):
        return [node.name, node.asname or ""]
    if isinstance(node, ast.arg):
        return [node.arg]
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [node.name]
    if isinstance(node, ast.keyword):
        return [node.arg or ""]
    if isinstance(node, ast.ImportFrom):
        return [node.module or ""]
    if isinstance(node, (ast.Global, ast.Nonlocal)):
        return list(node.names)
    foldable = (ast.Constant, ast.BinOp, ast.JoinedStr, ast.Call, ast.Subscript)
    text = _folded(node) if isinstance(node, foldable) else None
    return [text] if text else []


def _dynamic(node: ast.AST, callees: set[int], guarded: set[str], engine: bool, variables: set[str]) -> str:
    """What makes `node` a dynamic route, or '' (outside the engine, the ENGINE_ONLY features pass)."""
    if not engine and (
            (isinstance(node, ast.Name) and (node.id in ENGINE_ONLY or node.id in variables))
            or (isinstance(node, ast.Attribute) and node.attr in ENGINE_ONLY)
            or (isinstance(node, ast.Call) and callee(node.func) == "open")
            or imported_module(node, ENGINE_ONLY_MODULES)):
        return ""
    if isinstance(node, ast.Name):
        if node.id in FORBIDDEN_NAMES:
            return f"`{node.id}`"
        if node.id in ("getattr", "setattr", "delattr") and id(node) not in callees:
            return f"`{node.id}` passed on as a value"
    if isinstance(node, ast.Attribute):
        if node.attr in FORBIDDEN_ATTRIBUTES or node.attr.startswith(("spawn", "exec", "posix_spawn")):
            return f"`.{node.attr}`"
        if isinstance(node.ctx, ast.Store) and node.attr in RENAMING_ATTRIBUTES:
            return f"an assignment to `.{node.attr}`"
        if node.attr in ("path", "meta_path", "path_hooks") and isinstance(node.value, ast.Name) and (
                node.value.id == "sys"):
            return f"`sys.{node.attr}`"
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        name, args = node.func.id, node.args
        if name in ("getattr", "setattr", "delattr"):
            constant = len(args) >= 2 and isinstance(args[1], ast.Constant) and isinstance(args[1].value, str)
            renamed = (name == "setattr" and len(args) == 3 and isinstance(args[1], ast.Attribute)
                       and args[1].attr == "__name__" and isinstance(args[1].value, ast.Name)
                       and isinstance(args[2], ast.Name) and args[1].value.id == args[2].id)  # add_method's idiom
            if not (constant or renamed) or node.keywords:
                return f"`{name}` with a computed attribute name"
        if name == "type" and len(args) == 3:
            return "`type(name, bases, namespace)`"
        if name == "open":
            mode = args[1] if len(args) > 1 else next((k.value for k in node.keywords if k.arg == "mode"), None)
            if mode is not None and not (isinstance(mode, ast.Constant) and isinstance(mode.value, str)
                                         and not set(mode.value) & set("wax+")):
                return "`open` for writing"
    forbidden = imported_module(node, FORBIDDEN_MODULES)
    if forbidden:
        return f"the module `{forbidden}`"
    if isinstance(node, ast.ImportFrom):
        for alias in node.names:
            if alias.name == "*" and (node.module or "").split(".")[0] in GUARDED_MODULES:
                return f"`from {node.module} import *`"
            if alias.name in FORBIDDEN_NAMES or alias.name in FORBIDDEN_ATTRIBUTES:
                return f"`{alias.name}` imported from `{node.module}`"
    return ""


class Route(NamedTuple):
    """A construct that reaches, or could reach, the recursion limit.

    Attributes:
        kind: "limit" (the recursion limit or the stack size is named) or "dynamic" (a route the analysis cannot
            follow, which could reach them).
        description: The construct and where it is, e.g. "`setrecursionlimit` (cell 2, line 4)".
    """

    kind: str
    description: str


def limit_route(code: StudentCode) -> Route | None:
    """The first route to the recursion limit or the stack size in the student's code, or None.

    Notebook-wide: what sets the limit or the stack size (whole identifiers: `setrecursionlimit`, `setrlimit`,
    `threading.stack_size(n)`, also in a string), what changes everybody's code or runs code from text
    (`Program.global_problems`), a library that sets the limit itself (`hypothesis`, `psutil`, `resource`), and
    `sys`/`threading`/`os` passed on as values. In the engine only (`engine_nodes`: `Value`, its methods, and what
    they refer to): the broad list of dynamic features (`vars`, `inspect`, `open` for writing, ...); reading the
    limit (`sys.getrecursionlimit()`) is fine everywhere. Cells are read in order; in the first cell with one, the
    construct on the earliest line is reported, a named limit before a dynamic route on the same line.

    Raises:
        calcml.checks.CheckFailure: The code cannot be read (a cell not text, too large, nested too deeply).
    """
    text_cells(code)
    found = program(code)
    if found.global_problems:
        return Route("dynamic", found.global_problems[0].replace("(your cell", "(cell"))
    for name in ENGINE_ROOTS[1:]:
        again = rebindings(found, name)
        if again:
            text = f"`{name}` bound more than once ({'; '.join(again[:2])})"
            return Route("dynamic", text.replace("your cell", "cell"))
    engine = engine_nodes(found)
    variables = {n.id for _, tree in found.modules for n in walk(tree)
                 if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store) and n.id in ENGINE_ONLY}  # vars = [...]
    for number, tree in found.modules:
        callees = {id(n.func): n for n in walk(tree) if isinstance(n, ast.Call)}
        parents = {id(node): parent for node, parent in with_parents(tree) if parent is not None}
        guarded: set[str] = set()
        for node in walk(tree):
            if isinstance(node, ast.Import):
                guarded.update(a.asname or a.name.split(".")[0] for a in node.names
                               if a.name.split(".")[0] in GUARDED_MODULES)
            elif isinstance(node, ast.ImportFrom):
                guarded.update(a.asname or a.name for a in node.names if a.name in GUARDED_MODULES)
        found_here = []
        for node in walk(tree):
            position = (getattr(node, "lineno", 0), getattr(node, "col_offset", 0))
            where = f"cell {number}, line {position[0] or '?'}"
            word = _setting(node, callees)
            if word:
                found_here.append(((position[0], 0, position[1]), "limit", f"`{word[:60]}` ({where})"))
            problem = _notebook_wide(node, guarded, parents) or _dynamic(node, set(callees), guarded,
                                                                          id(node) in engine, variables)
            if problem:
                found_here.append(((position[0], 1, position[1]), "dynamic", f"{problem} ({where})"))
        if found_here:
            _, kind, description = min(found_here)  # the first line of the cell with one; the limit named first
            return Route(kind, description)
    return None


def _setting(node: ast.AST, callees: dict[int, ast.Call]) -> str:
    """The identifier by which `node` sets the recursion limit or the stack size, or ''."""
    words = [w for w in _words(node) if w] if not isinstance(node, ast.Constant) else []
    if isinstance(node, (ast.Constant, ast.BinOp, ast.JoinedStr, ast.Call, ast.Subscript)):
        text = _folded(node)
        words += re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text) if text else []
    hit = next((w for w in words if w in SETTERS), "")
    if hit or not isinstance(node, (ast.Attribute, ast.alias)):
        return hit
    if isinstance(node, ast.Attribute) and node.attr == "stack_size":
        call = callees.get(id(node))
        return "" if call is not None and not call.args and not call.keywords else "stack_size"  # reading is fine
    return "stack_size" if isinstance(node, ast.alias) and node.name == "stack_size" else ""


def _notebook_wide(node: ast.AST, guarded: set[str], parents: dict[int, ast.AST]) -> str:
    """What in `node` is a route to the limit in any cell: a library that sets it, a guarded module passed on."""
    library = imported_module(node, LIMIT_LIBRARIES)
    if library:
        return f"the module `{library}` (it can change the recursion limit or the stack size)"
    if isinstance(node, ast.Name) and node.id in guarded:
        parent = parents.get(id(node))
        if not (isinstance(parent, ast.Attribute) and parent.value is node):
            return f"the module `{node.id}` used as a value"
    if isinstance(node, ast.ImportFrom) and any(a.name == "*" for a in node.names) and (
            (node.module or "").split(".")[0] in GUARDED_MODULES):
        return f"`from {node.module} import *`"
    return ""


def engine_nodes(found: Program) -> set[int]:
    """The ids of the nodes of the engine: the class `Value` (and `topological_order`, `backward`), the functions
    added to it (`@add_method(Value)`), and every definition they refer to."""
    roots = set(ENGINE_ROOTS)
    for _, tree in found.modules:
        roots.update(n.name for n in walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and any(
            isinstance(d, ast.Name) and d.id == "Value" for dec in n.decorator_list for d in walk(dec)))
    out: set[int] = set()
    for root in sorted(roots):
        for name in reachable(found, root):
            for body in found.definitions.get(name, []):
                out.update(id(n) for n in walk(body))
    return out
