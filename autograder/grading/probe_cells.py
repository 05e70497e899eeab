"""The cells a probe run executes: the student's notebook without its test cells, locked cells restored from
the release, and pristine narrative code that no exercise needs skipped (read from the source, never run here)."""

from __future__ import annotations

import ast
import builtins
import dataclasses
import symtable
from typing import Any

import nbformat

from grading import manifest

# ----------------------------------------------------------------------------------------------------------
# The cells to run


def _nbgrader(cell: Any) -> dict[str, Any]:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return meta if isinstance(meta, dict) else {}


def _is_test(meta: dict[str, Any]) -> bool:
    return bool(meta.get("grade")) and not meta.get("solution")


def _source(cell: Any) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def notebook_cells(notebook: Any, entry: dict[str, Any], *, drivers: list[str] | None = None,
                   prune: bool = True) -> tuple[list[dict[str, str]], list[str]]:
    """What the probe process runs, in notebook order, and notes: `{"name", "source"}` pieces of code, and
    `{"probe": grade_id}` where each test cell stood (its probes run there, seeing what the test saw).

    Test cells are never run (recognised by their metadata, or by the source of a release test cell). Locked
    cells get their release source back, as nbgrader's OverwriteCells does. With `prune`, the top-level
    statements of pristine narrative cells (the release's own source, not a solution) that bind or change
    nothing the rest of the code and the drivers use are skipped: imports nobody needs, plots, widgets and demos
    cost time and decide nothing. Every solution cell and every cell the student added or edited runs whole.
    """
    release = nbformat.read(manifest.release_notebook(entry), as_version=4)
    locked = {}
    narrative = set()
    test_sources: dict[str, str] = {}
    for cell in release.cells:
        if cell.cell_type != "code":
            continue
        meta = _nbgrader(cell)
        if _is_test(meta):
            test_sources[cell.source.strip()] = meta.get("grade_id", "")
        elif meta.get("locked") and meta.get("grade_id"):
            locked[meta["grade_id"]] = cell.source
        elif not meta.get("solution"):
            narrative.add(cell.source)
    pieces: list[tuple[str, str, bool]] = []  # (name, source, pristine)
    order: list[int | str] = []  # an index into pieces, or the grade_id of a test cell
    dropped = 0
    for number, cell in enumerate(notebook.get("cells", []), start=1):
        if cell.get("cell_type") != "code":
            continue
        meta = _nbgrader(cell)
        source = _source(cell)
        if _is_test(meta) or source.strip() in test_sources:
            dropped += 1
            grade_id = meta.get("grade_id") if _is_test(meta) else test_sources[source.strip()]
            if grade_id and grade_id not in order:
                order.append(str(grade_id))
            continue
        name = f"cell {number}"
        if meta.get("locked") and meta.get("grade_id") in locked:
            source = locked[meta["grade_id"]]
            pristine = True
        else:
            pristine = source in narrative
        for statement in (_statements(source) if prune and pristine else [source]):
            order.append(len(pieces))
            pieces.append((name, statement, pristine))
    notes = [f"{dropped} test cell(s) not run"]
    keep = _needed(pieces, drivers or []) if prune else [True] * len(pieces)
    skipped = sum(not k for k in keep)
    if skipped:
        notes.append(f"{skipped} narrative statement(s) not needed by the exercises were skipped")
    out: list[dict[str, str]] = []
    for item in order:
        if isinstance(item, str):
            out.append({"probe": item})
        elif keep[item]:
            out.append({"name": pieces[item][0], "source": pieces[item][1]})
    return out, notes


def _statements(source: str) -> list[str]:
    """The top-level statements of a cell, each as its own source (the whole cell if it does not parse)."""
    try:
        tree = ast.parse(source)
    except Exception:  # noqa: BLE001 -- SyntaxError, or RecursionError/MemoryError on deep nesting
        return [source]
    lines = source.splitlines(keepends=True)
    out = []
    for node in tree.body:
        first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
        out.append("".join(lines[first - 1:node.end_lineno]))
    return out or [source]


# Calls that change interpreter-wide state: a cell making one at top level always runs.
_STATEFUL = {"setrecursionlimit", "seterr", "seed", "filterwarnings", "simplefilter", "resetwarnings", "setattr",
             "set_printoptions", "settrace", "setprofile", "setswitchinterval", "exec", "eval", "__import__",
             "globals", "register", "set_default_dtype", "chdir", "putenv", "update_wrapper", "delattr"}


@dataclasses.dataclass
class _CellNames:
    binds: set[str]
    touches: set[str]  # names whose object a statement may change: x.a = ..., x[i] = ..., x.method(...)
    passes: set[str]  # names passed to a call, which may change them (a function is not changed that way)
    defines: set[str]  # names bound by def (functions)
    loads: set[str]
    imports: set[str]
    stateful: bool
    parsed: bool


_BUILTINS = frozenset(dir(builtins))


def _global_loads(table: symtable.SymbolTable, top: bool) -> set[str]:
    names = set()
    for symbol in table.get_symbols():
        if symbol.is_referenced() and (top or symbol.is_global()):
            names.add(symbol.get_name())
    for child in table.get_children():
        names |= _global_loads(child, False)
    return names


def _global_binds(table: symtable.SymbolTable, top: bool) -> set[str]:
    names = set()
    for symbol in table.get_symbols():
        if top and (symbol.is_assigned() or symbol.is_imported() or symbol.is_namespace()):
            names.add(symbol.get_name())
        elif not top and symbol.is_declared_global() and symbol.is_assigned():
            names.add(symbol.get_name())
    for child in table.get_children():
        names |= _global_binds(child, False)
    return names


def _root(node: ast.AST) -> str | None:
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call, ast.Starred)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def _top_level_nodes(tree: ast.AST):
    """Every node executed when the cell runs (function and lambda bodies excluded; decorators, defaults and
    class bodies included)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            stack.extend(node.decorator_list)
            stack.extend(d for d in node.args.defaults + node.args.kw_defaults if d is not None)
        elif isinstance(node, ast.Lambda):
            stack.extend(d for d in node.args.defaults + node.args.kw_defaults if d is not None)
        else:
            stack.extend(ast.iter_child_nodes(node))


def _cell_names(source: str) -> _CellNames:
    """What a piece of code binds, changes and reads. Code that cannot be analysed (a syntax error, or nesting
    deep enough to exhaust the parser: RecursionError, MemoryError) comes back with `parsed` False."""
    try:
        return _analyse(source)
    except Exception:  # noqa: BLE001 -- hostile text may break the analysis any way; never let it escape
        return _CellNames(set(), set(), set(), set(), set(), set(), True, False)


def _analyse(source: str) -> _CellNames:
    tree = ast.parse(source)
    table = symtable.symtable(source, "<cell>", "exec")
    imports: set[str] = set()
    touches: set[str] = set()
    passes: set[str] = set()
    stateful = False
    for node in _top_level_nodes(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            imports |= {(alias.asname or alias.name).split(".")[0] for alias in node.names}
        elif isinstance(node, (ast.Attribute, ast.Subscript)) and isinstance(node.ctx, (ast.Store, ast.Del)):
            touches.add(_root(node) or "")
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            stateful |= name in _STATEFUL
            if isinstance(func, ast.Attribute):
                touches.add(_root(func.value) or "")
            for arg in [*node.args, *(k.value for k in node.keywords)]:
                passes.add(_root(arg) or "")
    defines = {node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}
    return _CellNames(_global_binds(table, True), touches - {""} - _BUILTINS, passes - {""} - _BUILTINS, defines,
                      _global_loads(table, True), imports, stateful, True)


def _needed(pieces: list[tuple[str, str, bool]], drivers: list[str]) -> list[bool]:
    """Which pieces to run: all but the pristine ones that bind or change nothing needed (a fixpoint).

    A pristine piece runs when it binds a needed name, changes a needed object (`x.a = ...`, `x[i] = ...`,
    `x.method(...)`, or passing `x` to a call, unless `x` is a module or a function), or changes the
    interpreter's state (`_STATEFUL`). Builtins are never "changed". When any code that runs cannot be analysed,
    nothing is skipped: the probe then sees exactly what the kernel ran.
    """
    infos = [_cell_names(source) for _, source, _ in pieces]
    if not all(info.parsed for info in infos):
        return [True] * len(pieces)
    modules = set().union(*(info.imports for info in infos)) if infos else set()
    functions = set().union(*(info.defines for info in infos)) if infos else set()
    keep = [not pristine or not info.parsed or info.stateful
            for (_, _, pristine), info in zip(pieces, infos, strict=True)]
    needed: set[str] = set()
    for driver in drivers:
        info = _cell_names(driver)
        needed |= info.loads - info.binds  # a driver assigns its own names before it reads them
    for info, k in zip(infos, keep, strict=True):
        if k:
            needed |= info.loads
    changed = True
    while changed:
        changed = False
        for i, info in enumerate(infos):
            if keep[i]:
                continue
            if info.binds & needed or (info.touches - modules) & needed or (info.passes - modules - functions) & needed:
                keep[i] = True
                needed |= info.loads
                changed = True
    return keep



def in_kernel_results(notebook: Any) -> dict[str, bool]:
    """Whether each test cell passed in the kernel, read from an executed notebook: nbgrader gives a test cell
    its points exactly when it has no error output."""
    results = {}
    for cell in notebook.get("cells", []):
        meta = _nbgrader(cell)
        if cell.get("cell_type") == "code" and _is_test(meta) and meta.get("grade_id"):
            results[meta["grade_id"]] = not any(o.get("output_type") == "error" for o in cell.get("outputs", []))
    return results
