"""Decoys: code that the grader would read, while other code, run from text or bound later, is what runs.

A checked function is read from its `def`. That reading is worth nothing if the notebook can define another
function at run time from text (`builtins.exec(text)`, `timeit.timeit(text)`, `doctest`, `code.interact`,
`runpy`, `compile` + `types.FunctionType`, `pickle`), or bind the name again (a second `def`, an assignment, a
class attribute, `setattr`). Both fail the source-read checks closed, with the reason:

- `code_from_text(found, node, parent)`: what in `node` runs code built from text, or '' (checked in the whole
  notebook). `eval`/`exec` of a constant string stays allowed: the grader reads that text as one more cell;
- `rebindings(found, name)`: the bindings of `name`, when one of several binds what the grader does not read.
"""

from __future__ import annotations

import ast
import re
from typing import TYPE_CHECKING

from .source import constant_getattr, imported_module, root_name, target_names, walk

if TYPE_CHECKING:
    from .program import Program

# Modules that run code given as text (or as bytes), or rebuild functions from it.
CODE_MODULES = frozenset({"timeit", "doctest", "code", "codeop", "runpy", "pdb", "bdb", "pickle", "_pickle",
                          "marshal", "shelve", "dill", "cloudpickle", "cProfile", "profile", "trace", "py_compile",
                          "compileall", "zipimport", "_imp", "imp"})
CODE_TYPES = frozenset({"FunctionType", "CodeType", "LambdaType", "new_class", "exec_module", "exec_source"})
IMPORTLIB_SAFE = frozenset({"import_module", "reload", "invalidate_caches"})  # `importlib.util` & co. are not
RUNNING_ATTRIBUTES = frozenset({"exec", "eval", "compile", "run_cell", "run_code", "run_source", "runsource",
                                "runcode", "safe_execfile", "safe_execfile_ipy", "safe_run_module", "ex", "ev",
                                "exec_module", "exec_lines", "exec_files", "run_module", "run_path"})
RUNNING_MAGICS = frozenset({"run", "load", "script", "python", "python3", "pypy", "debug", "pdb", "macro", "rerun",
                            "recall", "edit", "loadpy", "pycat"})
REGEX_MODULES = frozenset({"re", "regex"})  # re.compile compiles a pattern, not code


def _running(found: Program, node: ast.AST, parent: ast.AST | None) -> str:
    if isinstance(node, ast.Name) and node.id == "compile" and isinstance(node.ctx, ast.Load):
        return "`compile`"
    if isinstance(node, ast.Attribute) and node.attr in RUNNING_ATTRIBUTES:
        modules = found.imported.get(root_name(node.value), set())
        if node.attr == "compile" and modules and all(m.split(".")[0] in REGEX_MODULES for m in modules):
            return ""  # re.compile compiles a pattern
        return f"`.{node.attr}`, which runs code from text"
    if isinstance(node, ast.Attribute) and node.attr in CODE_TYPES:
        return f"`.{node.attr}`, which builds a function from code"
    if constant_getattr(node) and node.args[1].value in RUNNING_ATTRIBUTES | CODE_TYPES:
        return f"`getattr(..., {node.args[1].value!r})`"
    if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) and (
            node.func.attr if isinstance(node.func, ast.Attribute) else "") in ("run_cell_magic", "run_line_magic"):
        if str(node.args[0].value).split(" ")[0] in RUNNING_MAGICS:
            return f"the magic `%{node.args[0].value}`, which runs code the grader cannot read"
    return ""


def code_from_text(found: Program, node: ast.AST, parent: ast.AST | None) -> str:
    """What in `node` runs code built from text (a module, an attribute, a builtin), described, or ''."""
    module = imported_module(node, CODE_MODULES)
    if module:
        return f"the module `{module}`, which runs code from text"
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
        names = [a.name for a in node.names] if isinstance(node, ast.ImportFrom) else []
        if any(m.startswith("importlib.") for m in modules) or (
                modules == ["importlib"] and any(n not in IMPORTLIB_SAFE for n in names)):
            return "`importlib`'s loaders, which run code the grader cannot read"
        if any(n in CODE_TYPES | RUNNING_ATTRIBUTES or n in ("exec", "eval", "compile") for n in names):
            return f"`{next(n for n in names if n in CODE_TYPES | RUNNING_ATTRIBUTES)}`, which runs code from text"
    if isinstance(node, ast.Attribute) and node.attr not in IMPORTLIB_SAFE and isinstance(node.value, ast.Name) \
            and "importlib" in found.imported.get(node.value.id, set()):
        return f"`importlib.{node.attr}`, which can run code the grader cannot read"
    return _running(found, node, parent)


def _binds(node: ast.AST, name: str) -> bool:
    """Whether `node` (outside any function) binds `name` as a global or stores it as an attribute."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return node.name == name
    if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
        return node.id == name
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return any((a.asname or a.name.split(".")[0]) == name for a in node.names)
    return False


def _read(found: Program, value: ast.AST | None) -> bool:
    """Whether the grader reads what `value` binds: it names a function the student defined, or is a lambda."""
    return value is not None and any(isinstance(n, ast.Lambda) or (isinstance(n, ast.Name) and any(
        isinstance(d, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)) for d in found.definitions.get(n.id, [])))
        for n in walk(value))


def rebindings(found: Program, name: str) -> list[str]:
    """The bindings of `name` when there are several and one binds what the grader does not read, described, else
    []. Read: every `def`, and an assignment of a defined function or a lambda (`Value.name = name`, `name =
    np.vectorize(name)`, read as aliases); not read: an import, a global statement, any other value."""
    out, unread = [], False
    for number, tree in found.modules:
        stack: list[tuple[ast.AST, bool]] = [(tree, False)]
        while stack:
            node, inner = stack.pop()
            where = f"(your cell {number}, line {getattr(node, 'lineno', '?')})"
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name:
                out.append(f"a definition of `{name}` {where}")
            elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.NamedExpr)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                if any(n == name and (attribute or not inner) for t in targets for n, attribute in target_names(t)):
                    out.append(f"an assignment to `{name}` {where}")
                    unread = unread or isinstance(node, ast.AugAssign) or not _read(found, node.value)
            elif (not inner and isinstance(node, (ast.Import, ast.ImportFrom, ast.ClassDef))
                  and _binds(node, name)) or (
                    isinstance(node, ast.Global) and name in node.names):
                out.append(f"a binding of `{name}` {where}")
                unread = True
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in (
                    "setattr", "delattr") and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant) and (
                    node.args[1].value == name):
                out.append(f"`{node.func.id}(..., {name!r}, ...)` {where}")
                unread = unread or len(node.args) < 3 or not _read(found, node.args[2])
            nested = inner or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            stack.extend((child, nested) for child in ast.iter_child_nodes(node))
    return sorted(out, key=_position) if len(out) > 1 and unread else []


def _position(text: str) -> tuple[int, int]:
    numbers = re.findall(r"cell (\d+), line (\d+|\?)", text)
    return (int(numbers[-1][0]), int(numbers[-1][1]) if numbers[-1][1].isdigit() else 0) if numbers else (0, 0)


def text_names(node: ast.AST) -> list[str]:
    """The identifiers that the string constants under `node` spell (for a route given as text)."""
    return [word for n in walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)
            for word in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", n.value)]
