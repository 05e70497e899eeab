"""Reading the student's notebook, and parsing it with bounds: what the mechanism checks analyse.

- `StudentCode`, `student_code(notebook, release_notebook)`: the cells the student wrote (never raises);
- `parse(source)`: the syntax tree, as the probe process compiles the cell (IPython magics included), or
  `calcml.checks.CheckFailure` ("could not be analysed") when it is too large or nested too deeply;
- `parse_cells(cells)`, `text_cells(code)`: every cell parsed, numbered; the cells, when all are text;
- `release_cells(unit_id)`, `release_imports(unit_id)`: a unit's release notebook, parsed; the names it imports
  (modules in the student's cells too); `import_bindings(tree)`: what each imported name may hold;
- `walk(tree)`: every node, depth first, with an explicit stack (no recursion on hostile trees);
- `with_parents`, `callee`, `root_name`, `plain_chain`, `target_names`, `constant_getattr`, `imported_module`:
  reading trees.
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import functools
from collections.abc import Collection, Iterable, Iterator, Mapping
from typing import Any

from calcml import checks

MAX_CODE_CHARS = 1_000_000  # the most student code (all cells together) the grader analyses


@dataclasses.dataclass(frozen=True)
class StudentCode:
    """Everything the student wrote in one notebook.

    Attributes:
        solutions: The source of every solution cell, by its nbgrader grade_id
            (e.g. "01_derivatives-d_ratio-solution").
        cells: The source of every code cell that is neither a test cell nor a pristine release cell (its source
            unchanged from the release, or a locked cell, which the grader restores from the release), in
            notebook order: solution cells and every cell the student added or edited.
    """

    solutions: dict[str, str]
    cells: tuple[str, ...]


# ----------------------------------------------------------------------------------------------------------
# Reading the notebook


def _cells(notebook: Any) -> list[Any]:
    try:
        cells = notebook.get("cells", []) if isinstance(notebook, Mapping) else []
    except Exception:  # noqa: BLE001 -- a hostile mapping
        return []
    return [cell for cell in cells if isinstance(cell, Mapping)] if isinstance(cells, list) else []


def _meta(cell: Mapping) -> dict[str, Any]:
    metadata = cell.get("metadata", {})
    meta = metadata.get("nbgrader", {}) if isinstance(metadata, Mapping) else {}
    return dict(meta) if isinstance(meta, Mapping) else {}


def _text(cell: Mapping) -> str:
    source = cell.get("source", "")
    if isinstance(source, str):
        return source
    if isinstance(source, list):
        return "".join(part for part in source if isinstance(part, str))
    return ""


def _is_code(cell: Mapping) -> bool:
    return cell.get("cell_type") == "code"


def _is_test(meta: Mapping) -> bool:
    return bool(meta.get("grade")) and not meta.get("solution")


def student_code(notebook: Any, release_notebook: Any) -> StudentCode:
    """What the student wrote in `notebook`, compared with the release it was made from.

    Test cells (by their metadata, or by the source of a release test cell) are left out, as are pristine cells
    (a release code cell's exact source, or a locked release cell, whose release source the probe runs). Never
    raises: sources that are not text count as empty, missing or odd metadata as none.

    Args:
        notebook: The submitted notebook (an `nbformat.NotebookNode` or a plain dict).
        release_notebook: The release notebook the student received.

    Returns:
        The `StudentCode` of the submission.
    """
    pristine: set[str] = set()
    tests: set[str] = set()
    locked: set[str] = set()
    for cell in _cells(release_notebook):
        if not _is_code(cell):
            continue
        meta, source = _meta(cell), _text(cell)
        if _is_test(meta):
            tests.add(source.strip())
        elif meta.get("solution"):
            continue
        else:
            pristine.add(source)
            if meta.get("locked") and isinstance(meta.get("grade_id"), str):
                locked.add(meta["grade_id"])
    solutions: dict[str, str] = {}
    cells: list[str] = []
    for cell in _cells(notebook):
        if not _is_code(cell):
            continue
        meta, source = _meta(cell), _text(cell)
        if _is_test(meta) or source.strip() in tests:
            continue
        grade_id = meta.get("grade_id")
        if meta.get("solution") and isinstance(grade_id, str) and grade_id not in solutions:
            solutions[grade_id] = source
        if meta.get("locked") and grade_id in locked and not meta.get("solution"):
            continue  # the probe runs the release's source of a locked cell
        if source in pristine and not meta.get("solution"):
            continue
        cells.append(source)
    return StudentCode(solutions=solutions, cells=tuple(cells))


@functools.lru_cache(maxsize=16)
def release_cells(unit_id: str) -> tuple[tuple[ast.Module, bool], ...]:
    """The code cells of the release notebook of `unit_id` that parse, each with whether it is a test cell.
    Empty when the release cannot be read. Cached: the release does not change during a grading run."""
    import nbformat

    from grading import manifest

    cells: list[tuple[ast.Module, bool]] = []
    with contextlib.suppress(OSError, ValueError, KeyError):
        release = nbformat.read(manifest.release_notebook(manifest.unit(unit_id)), as_version=4)
        for cell in release.cells:
            if cell.cell_type == "code":
                with contextlib.suppress(SyntaxError, ValueError):
                    cells.append((ast.parse(cell.source), bool(cell.metadata.get("nbgrader", {}).get("grade"))))
    return tuple(cells)


def import_bindings(tree: ast.AST) -> dict[str, set[str]]:
    """The dotted module paths each name may hold after the imports in `tree`."""
    bound: dict[str, set[str]] = {}
    for node in walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                name = alias.asname or alias.name.split(".")[0]
                bound.setdefault(name, set()).add(alias.name if alias.asname else alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                bound.setdefault(alias.asname or alias.name, set()).add(f"{node.module}.{alias.name}")
    return bound


def release_imports(unit_id: str) -> frozenset[str]:
    """The names that the release notebook of `unit_id` imports (math, np, ...), with math, np, numpy and sys:
    in the student's cells they hold modules (`math.log` is not a call of a method `log`)."""
    names = {"math", "np", "numpy", "sys"}
    for tree, _ in release_cells(unit_id):
        names.update(import_bindings(tree))
    return frozenset(names)


# ----------------------------------------------------------------------------------------------------------
# Bounded parsing


def _transform_magics(source: str) -> str | None:
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except Exception:  # noqa: BLE001 -- IPython missing or broken: no magics
        return None
    try:
        return TransformerManager().transform_cell(source)
    except Exception:  # noqa: BLE001
        return None


def parse(source: str, name: str = "a cell") -> ast.Module | None:
    """The syntax tree of `source`, as the probe process would compile it (IPython magics included).

    Returns:
        The module, or None if the source is not Python (the probe process cannot run it either).

    Raises:
        calcml.checks.CheckFailure: The source is too large or too deeply nested to be analysed.
    """
    if len(source) > MAX_CODE_CHARS:
        raise checks.CheckFailure(f"Your code could not be analysed: {name} has {len(source):,} characters "
                                  f"(at most {MAX_CODE_CHARS:,}).")
    for text in (source, None):
        if text is None:
            text = _transform_magics(source)
            if text is None:
                return None
        try:
            return ast.parse(text)
        except (SyntaxError, ValueError):
            continue  # not Python (or NUL bytes): the probe process records an error and runs nothing
        except (RecursionError, MemoryError):
            raise checks.CheckFailure(f"Your code could not be analysed: {name} is nested too deeply for the "
                                      "grader to read it.") from None
    return None


def parse_cells(cells: Iterable[str]) -> list[tuple[int, ast.Module]]:
    """Every cell that is Python, parsed (`parse`), with its number in the student's code (from 1).

    Raises:
        calcml.checks.CheckFailure: The cells together, or one of them, are too large, or one is nested too deeply.
    """
    cells = tuple(cells)
    total = sum(len(cell) for cell in cells)
    if total > MAX_CODE_CHARS:
        raise checks.CheckFailure(f"Your code could not be analysed: the notebook's code has {total:,} characters "
                                  f"(at most {MAX_CODE_CHARS:,}).")
    trees = ((number, parse(source, f"your cell {number}")) for number, source in enumerate(cells, start=1))
    return [(number, tree) for number, tree in trees if tree is not None]


def text_cells(code: StudentCode) -> tuple[str, ...]:
    """The cells of `code`, or `calcml.checks.CheckFailure` if one is not text (the grader cannot read it)."""
    cells = tuple(getattr(code, "cells", ()))
    if not all(isinstance(cell, str) for cell in cells):
        raise checks.CheckFailure("The grader could not read your source: a cell of your code is not text.")
    return cells


def walk(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node under `tree` (itself included), depth first, with an explicit stack (no recursion)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(reversed(list(ast.iter_child_nodes(node))))


def callee(func: ast.AST) -> str:
    """The name a call goes to: `f` for `f(...)`, `exp` for `np.exp(...)` and for `getattr(np, "exp")(...)`."""
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    if constant_getattr(func):
        return func.args[1].value
    return ""


def constant_getattr(node: ast.AST) -> bool:
    """Whether `node` is `getattr(obj, "name")` (an attribute read under another spelling)."""
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr"
            and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str))


def root_name(node: ast.AST) -> str:
    """The variable at the root of `a.b[c].d`, or ''."""
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Starred)) or constant_getattr(node):
        node = node.args[0] if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else ""


def target_names(target: ast.AST) -> list[tuple[str, bool]]:
    """The names an assignment target binds: (name, is_attribute)."""
    out, stack = [], [target]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Name):
            out.append((node.id, False))
        elif isinstance(node, ast.Attribute):
            out.append((node.attr, True))
        elif isinstance(node, (ast.Tuple, ast.List)):
            stack.extend(node.elts)
        elif isinstance(node, ast.Starred):
            stack.append(node.value)
    return out


def with_parents(tree: ast.AST) -> Iterator[tuple[ast.AST, ast.AST | None]]:
    """Every node under `tree` with its parent, depth first, with an explicit stack."""
    stack: list[tuple[ast.AST, ast.AST | None]] = [(tree, None)]
    while stack:
        node, parent = stack.pop()
        yield node, parent
        stack.extend((child, node) for child in reversed(list(ast.iter_child_nodes(node))))


def plain_chain(node: ast.AST) -> str:
    """The root of `a.b.c` (names and attributes only), or ''."""
    while isinstance(node, ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else ""


def imported_module(node: ast.AST, packages: Collection[str]) -> str:
    """The module an `import` or `from ... import` statement takes from one of `packages` ("ctypes.util" for
    `import ctypes.util` and packages {"ctypes"}), or ''."""
    if isinstance(node, ast.Import):
        modules = [alias.name for alias in node.names]
    elif isinstance(node, ast.ImportFrom):
        modules = [node.module or ""]
    else:
        return ""
    return next((module for module in modules if module.split(".")[0] in packages), "")
