"""What defeats reading the student's code: notebook-wide changes for everybody, and hiding in reachable code.

- `global_problem(found, node, parent, in_function)`, checked in the whole notebook: what changes the behaviour of
  everybody's code (a change to numpy, math or builtins, `setattr` on a module, a write into `globals()` or a
  module's `__dict__`, frames and code objects, `gc` referrers, `ctypes`, `eval`/`exec` of computed text);
  `new_meanings` records a new meaning for `np`, `abs`, `max`, ... outside functions (it fails the sign and
  repair rules only where the exercise's code reads that name); only a write into numpy, math, builtins or calcml
  (`found.shared`) changes everybody's code (`plt.rcParams[...] = ...` does not); `code_from_text`
  (`grading.mechanism.decoys`): what runs code from text (`builtins.exec`, `timeit`, `runpy`, ...);
- `reachable_problems(found, bodies)`, checked only in the code reachable from the exercise's function: what
  hides a call or a value there (`getattr` with a computed name, `globals()`, `eval`, `inspect`/`types`/`gc`,
  dangerous dunders such as `__globals__`, a store into a dunder attribute).

Harmless dunders (`__name__`, `__class__`, `__doc__`, `__init__`, `__repr__`, `__dict__` reads, ...),
`getattr` with a constant name and `eval` of a constant expression pass everywhere.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from typing import TYPE_CHECKING

from .decoys import code_from_text
from .source import callee, constant_getattr, imported_module, root_name, with_parents

if TYPE_CHECKING:
    from .program import Program

FRAME_ATTRIBUTES = frozenset({
    "f_back", "f_globals", "f_locals", "f_builtins", "f_code", "f_trace", "gi_frame", "cr_frame", "ag_frame",
    "tb_frame", "tb_next", "co_code", "cell_contents", "_getframe", "settrace", "setprofile", "_current_frames",
    "_current_exceptions", "__globals__", "__code__", "__closure__", "__builtins__", "__subclasses__",
    "get_objects", "get_referrers", "get_referents", "meta_path", "path_hooks",
})
NATIVE_MODULES = frozenset({"ctypes", "_ctypes", "_testcapi", "cffi"})
DYNAMIC_MODULES = frozenset({"inspect", "types", "gc", "importlib", "dis", "marshal", "pickle", "code", "codeop",
                             "runpy", "copyreg", *NATIVE_MODULES})
DANGEROUS_DUNDERS = frozenset({
    "__globals__", "__code__", "__closure__", "__builtins__", "__subclasses__", "__bases__", "__base__",
    "__mro__", "__self__", "__func__", "__wrapped__", "__defaults__", "__kwdefaults__", "__getattribute__",
    "__setattr__", "__delattr__", "__getattr__", "__import__", "__loader__", "__spec__", "__reduce__",
    "__reduce_ex__", "__setstate__", "__set_name__", "__init_subclass__", "__class_getitem__",
})
HIDING_NAMES = frozenset({"eval", "exec", "compile", "globals", "locals", "breakpoint", "__import__", "__builtins__"})
NAMESPACE_CALLS = frozenset({"globals", "locals", "vars"})
READ_ONLY_CALLS = frozenset({"len", "sorted", "list", "print", "dict", "set", "tuple", "repr", "str", "iter",
                             "enumerate", "any", "all", "display"})
READ_ONLY_METHODS = frozenset({"keys", "items", "values", "get", "copy", "__contains__"})
# Names whose meaning the sign and repair rules rely on: a new binding of one of them fails those rules.
PROTECTED = frozenset({"np", "numpy", "math", "abs", "min", "max", "float", "pow", "round", "builtins"})
TRUSTED_MODULES = {"np": "numpy", "numpy": "numpy", "math": "math"}
TRUSTED_NAMES = frozenset({"np", "numpy", "math", "builtins"})  # a local variable may shadow a builtin, not these


def _store_targets(node: ast.AST) -> list[ast.AST]:
    if isinstance(node, ast.Assign):
        roots = list(node.targets)
    elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
        roots = [node.target]
    elif isinstance(node, ast.Delete):
        roots = list(node.targets)
    else:
        return []
    out, stack = [], roots
    while stack:
        target = stack.pop()
        if isinstance(target, (ast.Tuple, ast.List)):
            stack.extend(target.elts)
        elif isinstance(target, ast.Starred):
            stack.append(target.value)
        else:
            out.append(target)
    return out


def _is_namespace(found: Program, node: ast.AST) -> bool:
    """`globals()`, `locals()`, `vars()`, `vars(module)`, `module.__dict__`: a namespace shared with everybody."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in NAMESPACE_CALLS:
        return not node.args or root_name(node.args[0]) in found.module_aliases
    return isinstance(node, ast.Attribute) and node.attr == "__dict__" and root_name(node.value) in found.module_aliases


def global_problem(found: Program, node: ast.AST, parent: ast.AST | None, in_function: bool) -> str:  # noqa: C901
    """What in `node` changes the behaviour of everybody's code, or ''."""
    running = code_from_text(found, node, parent)
    if running:
        return running
    if isinstance(node, ast.Name) and node.id in ("__builtins__", "__import__"):
        return f"`{node.id}`"
    if isinstance(node, ast.Name) and node.id in ("eval", "exec") and not (
            isinstance(parent, ast.Call) and parent.func is node and parent.args
            and isinstance(parent.args[0], ast.Constant) and isinstance(parent.args[0].value, str)):
        return f"`{node.id}` of a text the grader cannot read"
    if isinstance(node, ast.Attribute):
        if node.attr in FRAME_ATTRIBUTES:
            return f"`.{node.attr}`"
        if node.attr == "modules" and root_name(node.value) == "sys":
            return "`sys.modules`"
    native = imported_module(node, NATIVE_MODULES)
    if native:
        return f"the module `{native}`"
    for target in _store_targets(node):
        if isinstance(target, (ast.Attribute, ast.Subscript)) and root_name(target) in found.shared:
            return f"a change to the module `{root_name(target)}`"
        chain = target
        while isinstance(chain, (ast.Attribute, ast.Subscript)):
            chain = chain.value
            if _is_namespace(found, chain):
                return "a write into a shared namespace (`globals()`, `vars()`, a module's `__dict__`)"
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.args:
        name, first = node.func.id, node.args[0]
        computed = len(node.args) < 2 or not (isinstance(node.args[1], ast.Constant)
                                              and isinstance(node.args[1].value, str))
        if name in ("setattr", "delattr") and (root_name(first) in found.shared or (
                computed and not root_name(first))):
            return f"`{name}` on a module or with a computed name"
        if name == "getattr" and computed and root_name(first) in found.module_aliases:
            return "`getattr` of a module with a computed name"
    if _is_namespace(found, node) and not _read_only_use(node, parent):
        return "a shared namespace (`globals()`, `vars()`, a module's `__dict__`) used other than for reading"
    return ""


def new_meanings(node: ast.AST, in_function: bool) -> list[tuple[str, str]]:
    """The PROTECTED names that `node` binds outside functions (a def, an assignment, an import), described."""
    if in_function:
        return []
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        meaning = _imported_meaning(node)
        return [(meaning.split("`")[1], meaning)] if meaning else []
    names = [node.name] if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) else [
        node.id] if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)) else []
    return [(name, f"a new meaning for `{name}`") for name in names if name in PROTECTED]


def _imported_meaning(node: ast.AST) -> str:
    """An import that gives `np`, `math`, `abs`, ... a meaning of its own, or ''."""
    for alias in node.names:
        bound = alias.asname or alias.name.split(".")[0]
        if bound not in PROTECTED or bound == "builtins":
            continue
        source = alias.name if isinstance(node, ast.Import) else (node.module or "")
        if isinstance(node, ast.Import) and TRUSTED_MODULES.get(bound) == alias.name:
            continue
        if isinstance(node, ast.ImportFrom) and source.split(".")[0] in ("numpy", "math", "builtins"):
            continue
        return f"a new meaning for `{bound}` (imported from `{source}`)"
    return ""


def _read_only_use(node: ast.AST, parent: ast.AST | None) -> bool:
    if isinstance(parent, ast.Subscript) and parent.value is node:
        return isinstance(parent.ctx, ast.Load)
    if isinstance(parent, ast.Attribute) and parent.value is node:
        return parent.attr in READ_ONLY_METHODS
    if isinstance(parent, ast.Call) and node in parent.args:
        return isinstance(parent.func, ast.Name) and parent.func.id in READ_ONLY_CALLS
    return isinstance(parent, (ast.Compare, ast.comprehension, ast.For, ast.Expr, ast.FormattedValue))


def reachable_problems(found: Program, bodies: Iterable[ast.AST], *, protect: bool = False) -> list[str]:
    """What hides a call or a value in `bodies` (the code reachable from an exercise's function), each with its
    line. With `protect`, a local new meaning for `np`, `numpy` or `math` counts too (the sign and repair rules
    rely on them; a local `max` or `abs` is read as the variable it is)."""
    out = []
    for body in bodies:
        for node, parent in with_parents(body):
            problem = _hiding(found, node, parent, protect)
            if problem:
                out.append(f"{problem} (line {getattr(node, 'lineno', '?')})")
    return out


def _hiding(found: Program, node: ast.AST, parent: ast.AST | None, protect: bool) -> str:  # noqa: C901
    if isinstance(node, ast.Name):
        if node.id in HIDING_NAMES:
            return f"`{node.id}`"
        if isinstance(node.ctx, ast.Load) and node.id in found.module_aliases and any(
                isinstance(b, (ast.Import, ast.ImportFrom)) and _imports_dynamic(b, node.id)
                for b in found.bindings.get(node.id, [])):
            return f"the module `{node.id}`"
        if protect and isinstance(node.ctx, (ast.Store, ast.Del)) and node.id in TRUSTED_NAMES:
            return f"a new meaning for `{node.id}`"
        if protect and isinstance(node.ctx, ast.Load) and node.id in found.rebound:
            return f"`{node.id}`, which has {found.rebound[node.id]}"
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        dynamic = imported_module(node, DYNAMIC_MODULES)
        if dynamic:
            return f"the module `{dynamic}`"
        if protect and any((a.asname or a.name.split(".")[0]) in PROTECTED for a in node.names):
            return _imported_meaning(node)
    if isinstance(node, ast.Attribute):
        if node.attr in DANGEROUS_DUNDERS:
            return f"the attribute `.{node.attr}`"
        if isinstance(node.ctx, (ast.Store, ast.Del)) and node.attr.startswith("__") and node.attr.endswith("__"):
            return f"a change to the attribute `.{node.attr}`"
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("getattr", "setattr",
                                                                                             "delattr"):
        if not constant_getattr(node) and not (len(node.args) >= 2 and isinstance(node.args[1], ast.Constant)):
            return f"`{node.func.id}` with a computed attribute name"
        if isinstance(node.args[1].value, str) and node.args[1].value in DANGEROUS_DUNDERS:
            return f"`{node.func.id}(..., {node.args[1].value!r})`"
    if isinstance(node, ast.Subscript) and not isinstance(node.slice, ast.Constant) and (
            (isinstance(node.value, ast.Attribute) and node.value.attr == "__dict__")
            or (isinstance(node.value, ast.Call) and callee(node.value.func) == "vars")):
        return "a namespace looked up with a computed name"
    return ""


def _imports_dynamic(node: ast.AST, name: str) -> bool:
    for alias in node.names:
        if (alias.asname or alias.name.split(".")[0]) != name:
            continue
        module = alias.name if isinstance(node, ast.Import) else (node.module or "")
        if module.split(".")[0] in DYNAMIC_MODULES:
            return True
    return False
