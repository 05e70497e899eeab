"""What the analysis knows about a notebook: its definitions, its bindings, and the code that defeats reading.

`program(code)` parses every cell once (cached) and records, by name, the functions, classes and lambdas, the
aliases that may hold a function (`again = walk`, `Node.go = step`, `d_softplus = lucky`), every binding of a
name, the names bound to modules, and what changes everybody's code (`grading.mechanism.hiding`). Code given to
`eval`/`exec` as a constant string is read as one more cell.
"""

from __future__ import annotations

import ast
import dataclasses

from .hiding import global_problem, new_meanings
from .source import StudentCode, callee, parse, parse_cells, plain_chain, target_names, walk

EVAL_DEPTH = 3  # eval("exec('...')") nested deeper is not read (and fails)
SHARED_MODULES = frozenset({"numpy", "math", "builtins", "calcml"})  # what everybody's code relies on
SHARED_NAMES = frozenset({"np", "numpy", "math", "builtins", "__builtins__", "calcml"})
TEXT_MAGICS = frozenset({"time", "timeit", "capture", "prun"})  # %%time: the cell's text runs as code


@dataclasses.dataclass
class Program:
    """The student's code, parsed once."""

    modules: list[tuple[int, ast.Module]]
    definitions: dict[str, list[ast.AST]] = dataclasses.field(default_factory=dict)  # def/class/lambda/aliases
    bindings: dict[str, list[ast.AST]] = dataclasses.field(default_factory=dict)  # every binding of a name
    module_names: set[str] = dataclasses.field(default_factory=set)  # variables bound outside functions
    module_aliases: set[str] = dataclasses.field(default_factory=lambda: {"builtins", "__builtins__"})
    shared: set[str] = dataclasses.field(default_factory=lambda: set(SHARED_NAMES))  # numpy, math, builtins, calcml
    imported: dict[str, set[str]] = dataclasses.field(default_factory=dict)  # alias -> the modules it may hold
    global_problems: list[str] = dataclasses.field(default_factory=list)
    rebound: dict[str, str] = dataclasses.field(default_factory=dict)  # PROTECTED names given a new meaning
    candidates: list[tuple[str, ast.AST]] = dataclasses.field(default_factory=list)


_CACHE: dict[tuple[str, ...], Program] = {}


def program(code: StudentCode) -> Program:
    """The `Program` of the student's code (cached by source).

    Raises:
        calcml.checks.CheckFailure: The code is too large or nested too deeply to be analysed.
    """
    cells = tuple(cell if isinstance(cell, str) else "" for cell in code.cells)
    if cells in _CACHE:
        return _CACHE[cells]
    found = Program(parse_cells(cells))
    _read_evaluated_strings(found)
    for _, tree in found.modules:
        _find_module_aliases(found, tree)
    for number, tree in found.modules:
        _index(found, number, tree)
    _resolve_aliases(found)
    if len(_CACHE) > 32:
        _CACHE.clear()
    _CACHE[cells] = found
    return found


def _code_text(node: ast.AST) -> tuple[str, str] | None:
    """The constant text that `node` runs as code, with what runs it: `eval("...")`, `exec("...")`, and the
    IPython magics that run their text (`%%time`, `%timeit`: `get_ipython().run_cell_magic("time", "", "...")`)."""
    if not (isinstance(node, ast.Call) and node.args):
        return None
    name, first, last = callee(node.func), node.args[0], node.args[-1]
    if isinstance(node.func, ast.Name) and name in ("eval", "exec"):
        return (first.value, name) if isinstance(first, ast.Constant) and isinstance(first.value, str) else None
    if name in ("run_cell_magic", "run_line_magic") and isinstance(first, ast.Constant) and (
            first.value in TEXT_MAGICS) and isinstance(last, ast.Constant) and isinstance(last.value, str):
        return last.value, f"%{first.value}"
    return None


def _read_evaluated_strings(found: Program) -> None:
    """Add the constant text given to `eval`/`exec` (or to a magic that runs it) as cells of their own."""
    pending = [(number, tree, 0) for number, tree in found.modules]
    while pending:
        number, tree, depth = pending.pop()
        for node in walk(tree):
            text = _code_text(node) if depth < EVAL_DEPTH else None
            if text is not None:
                inner = parse(text[0], f"the text given to {text[1]} in your cell {number}")
                if inner is not None:
                    found.modules.append((number, inner))
                    pending.append((number, inner, depth + 1))


def _find_module_aliases(found: Program, tree: ast.Module) -> None:
    for node in walk(tree):
        if isinstance(node, ast.Import):
            found.module_aliases.update(alias.asname or alias.name.split(".")[0] for alias in node.names)
            found.shared.update(alias.asname or alias.name.split(".")[0] for alias in node.names
                                if alias.name.split(".")[0] in SHARED_MODULES)
            for alias in node.names:
                found.imported.setdefault(alias.asname or alias.name.split(".")[0], set()).add(
                    alias.name if alias.asname else alias.name.split(".")[0])
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in SHARED_MODULES:
            found.shared.update(alias.asname or alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            found.module_aliases.update(alias.asname or alias.name for alias in node.names
                                        if (node.module or "").split(".")[0] in ("numpy", "scipy", "calcml", "os",
                                                                                 "sys", "importlib", "sympy"))
    changed = True
    while changed:  # m = np, m = __import__("numpy"), m = importlib.import_module(...), m = sys.modules[...]
        changed = False
        for node in walk(tree):
            if isinstance(node, (ast.Assign, ast.NamedExpr)):
                value = node.value
                is_module = (plain_chain(value) in found.module_aliases) or (
                    isinstance(value, ast.Call) and callee(value.func) in ("__import__", "import_module", "reload"))
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                shared = plain_chain(value) in found.shared or (isinstance(value, ast.Call) and callee(
                    value.func) in ("__import__", "import_module", "reload") and _shared_import(value))
                for name, is_attribute in (pair for target in targets for pair in target_names(target)):
                    if is_module and not is_attribute and name not in found.module_aliases:
                        found.module_aliases.add(name)
                        changed = True
                    if shared and not is_attribute and name not in found.shared:
                        found.shared.add(name)
                        changed = True


def _shared_import(call: ast.Call) -> bool:
    """Whether `__import__(...)`, `import_module(...)` or `reload(...)` may give numpy, math, builtins or calcml:
    a computed name may."""
    first = call.args[0] if call.args else None
    if isinstance(first, ast.Constant) and isinstance(first.value, str):
        return first.value.split(".")[0] in SHARED_MODULES
    return not isinstance(first, ast.Name) or first.id in SHARED_NAMES


_FUNCTION_NODES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)
_FUNCTION_VALUES = (ast.Lambda, ast.Name, ast.Attribute, ast.Call, ast.Subscript, ast.IfExp, ast.BoolOp, ast.Tuple,
                    ast.List, ast.Dict, ast.Set, ast.NamedExpr, ast.Starred)


def _index(found: Program, number: int, tree: ast.Module) -> None:
    """Record the definitions, bindings, candidate aliases and notebook-wide problems of one cell."""
    parents = {}
    stack: list[tuple[ast.AST, bool]] = [(tree, False)]
    while stack:
        node, in_function = stack.pop()
        problem = global_problem(found, node, parents.get(id(node)), in_function)
        where = f"(your cell {number}, line {getattr(node, 'lineno', 0)})"
        if problem:
            found.global_problems.append(f"{problem} {where}")
        for name, meaning in new_meanings(node, in_function):
            found.rebound.setdefault(name, f"{meaning} {where}")
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            found.definitions.setdefault(node.name, []).append(node)
            found.bindings.setdefault(node.name, []).append(node)
        if isinstance(node, (ast.Assign, ast.AnnAssign, ast.NamedExpr)) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                for name, is_attribute in target_names(target):
                    if isinstance(node.value, ast.Lambda):
                        found.definitions.setdefault(name, []).append(node.value)
                    elif (is_attribute or not in_function) and isinstance(node.value, _FUNCTION_VALUES):
                        found.candidates.append((name, node.value))
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                bound = alias.asname or alias.name.split(".")[0]
                found.bindings.setdefault(bound, []).append(node)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            found.bindings.setdefault(node.id, []).append(node)
            holder = parents.get(id(node))
            if not in_function and not (isinstance(holder, ast.Assign) and plain_chain(holder.value)
                                        in found.module_aliases):
                found.module_names.add(node.id)  # a variable (not `norm = np.linalg.norm`)
        elif isinstance(node, ast.arg):
            found.bindings.setdefault(node.arg, []).append(node)
        inner = in_function or isinstance(node, _FUNCTION_NODES)
        for child in ast.iter_child_nodes(node):
            parents[id(child)] = node
            stack.append((child, inner))


def _resolve_aliases(found: Program) -> None:
    """Keep the aliases that may hold a function: values that refer to a defined function or to another kept
    alias (`f = visit`, `Node.go = visit`, `table = {"a": visit}`), to a fixed point."""
    pending, changed = list(found.candidates), True
    while changed and pending:
        changed, rest = False, []
        for name, value in pending:
            if any((isinstance(n, ast.Name) and n.id in found.definitions)
                   or (isinstance(n, ast.Attribute) and n.attr in found.definitions) for n in walk(value)):
                found.definitions.setdefault(name, []).append(value)
                changed = True
            else:
                rest.append((name, value))
        pending = rest
