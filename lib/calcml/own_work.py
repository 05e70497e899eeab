"""In the student's kernel: does an exercise's code do its own work, or call a tool that does it?

`calcml` (numdiff, checks, ...), sympy, mpmath, scipy and `numpy.gradient` check answers; they must not be the
answer. `check(namespace, names)` follows the exercise's functions and classes through what their code loads
(globals, attributes of modules, closures, defaults, methods, the notebook's other functions) and raises
`checks.CheckFailure` at the first tool it reaches. The grader makes the same check out of the kernel, from the
source (`grading.mechanism.tools`), where the student's code cannot interfere; this one gives the same message
while the student works.
"""

from __future__ import annotations

import builtins
import dis
import functools
import importlib
import re
import sys
import types
from typing import Any

import numpy as np

from calcml import checks

TOOL_PACKAGES = ("calcml", "sympy", "mpmath", "scipy", "jax", "torch", "autograd", "tensorflow")
TOOL_FUNCTIONS = ("numpy.gradient",)  # a finite difference in numpy
# What of calcml only draws, logs or signals: a student's helper may draw a graph, note a backward step or raise
# CheckFailure. A module here covers its own names, not what they lead to (`graph_explorer.np` is numpy).
HARMLESS = ("calcml.explorer", "calcml.graph_explorer", "calcml.data", "calcml.decision", "calcml.progress",
            "calcml.graph.draw", "calcml.graph.figure_size", "calcml.plots.new_axes", "calcml.plots.COLORS",
            "calcml.plots.PALETTE", "calcml.checks.CheckFailure")
CONSTANT = re.compile(r"[A-Z][A-Z0-9_]*")
MAX_OBJECTS = 20_000  # the most objects one check visits (numbers, strings and arrays are not visited)
_PLAIN = (str, bytes, int, float, complex, np.ndarray, np.generic)
_LOADS = {"LOAD_GLOBAL", "LOAD_NAME"}
_ATTRIBUTES = {"LOAD_ATTR", "LOAD_METHOD"}
_SKIPPED = {"CACHE", "PRECALL", "PUSH_NULL", "EXTENDED_ARG"}  # between a load and the attribute read of it


def is_tool_path(path: str) -> bool:
    """Whether the dotted `path` (e.g. "calcml.numdiff.derivative", "numpy.gradient") is, or lies inside, a
    reference tool. What is `HARMLESS` passes, and so do constants: an ALL_CAPS name of calcml whose value is a
    number or a string (`checks.RTOL`; not `gradient_flow.ACTIVATIONS`, a table of derivatives)."""
    parts = path.split(".")
    if any(path == harmless or (path.startswith(harmless + ".") and "." not in path[len(harmless) + 1:])
           for harmless in HARMLESS):
        return False
    if parts[0] in TOOL_PACKAGES:
        return not (parts[0] == "calcml" and len(parts) == 3 and _plain_constant(parts[1], parts[2]))
    return any(path == tool or path.startswith(tool + ".") for tool in TOOL_FUNCTIONS)


@functools.lru_cache(maxsize=256)
def _plain_constant(module: str, name: str) -> bool:
    if not CONSTANT.fullmatch(name):
        return False
    try:
        value = getattr(importlib.import_module(f"calcml.{module}"), name)
    except (ImportError, AttributeError):
        return False
    return isinstance(value, (bool, int, float, str))


def _is_tool(value: Any) -> bool:
    if isinstance(value, types.FunctionType) and value.__code__.co_filename.startswith("<lambdifygenerated"):
        return True  # written by sympy's lambdify
    if isinstance(value, (types.ModuleType, type)) or callable(value):
        return is_tool_path(_name(value))
    return is_tool_path(_name(type(value)))  # an instance: a sympy expression, a calcml object (numbers pass)


def _name(value: Any) -> str:
    """The dotted path of a module, function or class ("calcml.numdiff.derivative")."""
    if isinstance(value, types.ModuleType):
        return value.__name__
    module = getattr(value, "__module__", None)
    qualname = getattr(value, "__qualname__", None)
    if not isinstance(qualname, str):
        qualname = type(value).__qualname__
    return f"{module}.{qualname}" if isinstance(module, str) else qualname


def _loaded(code: types.CodeType, namespace: dict[str, Any]) -> list[Any]:
    """What `code` (and the code nested in it) loads from `namespace`: each global, followed through the attribute
    reads of modules (`numdiff.derivative`, `np.gradient`, `checks.RTOL`), and each module it imports."""
    out: list[Any] = []
    pending = [code]
    while pending:
        current = pending.pop()
        pending += [const for const in current.co_consts if isinstance(const, types.CodeType)]
        held: Any = None  # the end of the chain being read, while it is a module
        owner: types.ModuleType | None = None  # the module `held` was read from, if any
        modules: dict[str, types.ModuleType] = {}  # local names that hold a module (`import calcml.checks as C`)
        for instruction in dis.get_instructions(current):
            name = instruction.argval if isinstance(instruction.argval, str) else ""
            if isinstance(held, types.ModuleType) and instruction.opname in _ATTRIBUTES:
                owner, held = held, getattr(held, name, None)
                continue
            if isinstance(held, types.ModuleType) and instruction.opname == "IMPORT_FROM":
                owner, held = held, getattr(held, name, held)  # `import a.b as c` imports a.b, then reads b
                continue
            if instruction.opname in _SKIPPED:
                continue
            if isinstance(held, types.ModuleType) and instruction.opname in ("STORE_FAST", "STORE_DEREF"):
                modules[name] = held  # judged by what is read from it
                held = None
                continue
            out.append(_worth_following(held, owner))
            held, owner = None, None
            if instruction.opname in _LOADS:
                held = namespace[name] if name in namespace else getattr(builtins, name, None)
            elif instruction.opname in ("LOAD_FAST", "LOAD_DEREF") and name in modules:
                held = modules[name]
            elif instruction.opname == "IMPORT_NAME":
                held = sys.modules.get(name) or types.ModuleType(name)
        out.append(_worth_following(held, owner))
    return out


def _worth_following(value: Any, owner: types.ModuleType | None) -> Any:
    """`value`, unless it is data of a library that is no tool (`warnings.filters` holds sympy's warning classes;
    numpy's tables hold numpy's functions): its modules, classes and functions are still judged."""
    if owner is None or is_tool_path(owner.__name__) or owner is sys:  # sys.modules holds every module
        return value
    return value if isinstance(value, (types.ModuleType, type)) or callable(value) else None


def _inside(value: Any, namespace: dict[str, Any]) -> list[Any]:
    """The objects a value of the notebook leads to: what a function's code loads, its closure, defaults and
    attributes; a class's members; an instance's class and attributes; a container's items."""
    if isinstance(value, (staticmethod, classmethod)):
        return [value.__func__]
    if isinstance(value, property):
        return [value.fget, value.fset, value.fdel]
    if isinstance(value, functools.partial):
        return [value.func, *value.args, *value.keywords.values()]
    if isinstance(value, types.MethodType):
        return [value.__func__, value.__self__]
    if isinstance(value, (list, tuple, set, frozenset)):
        return list(value)
    if isinstance(value, dict):
        return list(value.values())
    if isinstance(value, types.FunctionType):
        if value.__globals__ is not namespace:
            return []  # a library's function (a tool's is reported before this)
        cells = [cell.cell_contents for cell in value.__closure__ or () if _filled(cell)]
        return [*_loaded(value.__code__, value.__globals__), *cells, *(value.__defaults__ or ()),
                *(value.__kwdefaults__ or {}).values(), *vars(value).values()]
    if isinstance(value, type):
        return list(vars(value).values()) if _of_notebook(value, namespace) else []
    if isinstance(value, np.vectorize):
        return [value.pyfunc]
    if _of_notebook(type(value), namespace):
        return [type(value), *getattr(value, "__dict__", {}).values()]
    if type(value) is types.SimpleNamespace:
        return list(vars(value).values())
    return []  # a module, or an object of a library (its own state is not the student's code)


def _of_notebook(cls: type, namespace: dict[str, Any]) -> bool:
    """Whether a class was defined in the notebook: one of its own functions has the notebook's globals."""
    return any(isinstance(member, types.FunctionType) and member.__globals__ is namespace
               for member in vars(cls).values()) or cls.__module__ == namespace.get("__name__", "__main__")


def _filled(cell: types.CellType) -> bool:
    try:
        cell.cell_contents  # noqa: B018 -- an empty cell raises
    except ValueError:
        return False
    return True


def tools_reached(namespace: dict[str, Any], names: tuple[str, ...]) -> list[str]:
    """The reference tools that the exercise's `names` reach in `namespace`, by name (e.g. "calcml.numdiff")."""
    pending = [namespace[name] for name in names if name in namespace]
    seen: set[int] = set()
    found: list[str] = []
    while pending and len(seen) < MAX_OBJECTS:
        value = pending.pop()
        if id(value) in seen or value is None or isinstance(value, _PLAIN):
            continue
        seen.add(id(value))
        if _is_tool(value):
            found.append(_name(value))
            continue
        pending += _inside(value, namespace)
    return found


def check(namespace: dict[str, Any], names: tuple[str, ...]) -> None:
    """Raise `checks.CheckFailure` when the exercise's functions or classes (`names`) reach a reference tool."""
    found = tools_reached(namespace, names)
    if found:
        raise checks.CheckFailure(
            f"{names[0]} uses {found[0]}: calcml (numdiff, checks, ...), sympy, mpmath, scipy and np.gradient check "
            "an answer; they cannot be the answer. This exercise asks you to compute it yourself, by the method "
            "the unit teaches. Use NumPy and the functions you wrote in this notebook.")
