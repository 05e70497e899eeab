"""Numbers typed by hand: an answer that must be worked out with pen and paper, not computed by code.

`literal_problem(tree, names)` reads one cell: how it computes one of `names` instead of typing it (a call of
numdiff, sympy, an engine or the student's own functions, a variable, a loop...), or None. Reading the values is
fine (printing them, `forward["u"]`, `.items()`). The grader applies it to every cell of the submission
(`grading.mechanism.rules.literal_values`); in the kernel, `check_in_kernel` applies it to the last cell that
assigned each name, from IPython's input history, and says the same thing while the student works.
"""

from __future__ import annotations

import ast

from calcml import checks

_LITERAL_CONSTANTS = frozenset({"math.pi", "math.e", "np.pi", "np.e", "numpy.pi", "numpy.e"})
_LITERAL_OPERATORS = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow, ast.USub, ast.UAdd)
_READ_ONLY_METHODS = frozenset({"keys", "values", "items", "get", "copy"})
_READ_ONLY_CALLS = frozenset({"print", "display", "len", "repr", "str", "sorted", "list", "dict", "set", "tuple"})


def _not_literal(node: ast.AST | None) -> ast.AST | None:
    """The first part of `node` that is not a number typed by hand (int and float literals, + - * / ** and
    parentheses, math.pi and math.e), or None."""
    stack = [node]
    while stack:
        part = stack.pop()
        if isinstance(part, ast.Constant) and type(part.value) in (int, float):
            continue
        if isinstance(part, ast.UnaryOp) and isinstance(part.op, _LITERAL_OPERATORS):
            stack.append(part.operand)
        elif isinstance(part, ast.BinOp) and isinstance(part.op, _LITERAL_OPERATORS):
            stack += [part.left, part.right]
        elif not (isinstance(part, (ast.Name, ast.Attribute)) and ast.unparse(part) in _LITERAL_CONSTANTS):
            return part if part is not None else node
    return None


def _literal_mapping(value: ast.AST) -> ast.AST | None:
    """The first part of a dict display (or `dict(k=v, ...)`) that is not a string key or a hand-typed number;
    `value` itself when it is no such display."""
    if isinstance(value, ast.Dict):
        for key, item in zip(value.keys, value.values, strict=True):
            if not (isinstance(key, ast.Constant) and isinstance(key.value, str)):
                return key if key is not None else item
            if _not_literal(item) is not None:
                return item  # the whole value, as the student wrote it
        return None
    if (isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id == "dict"
            and not value.args and all(keyword.arg for keyword in value.keywords)):
        return next((_not_literal(k.value) for k in value.keywords if _not_literal(k.value) is not None), None)
    return value


def literal_problem(tree: ast.Module, names: frozenset[str]) -> tuple[str, ast.AST] | None:
    """How a cell computes one of `names` instead of typing it: (the name, the offending expression)."""
    parents: dict[int, ast.AST] = {}
    for node in ast.walk(tree):
        for child in ast.iter_child_nodes(node):
            parents[id(child)] = node
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            bound = [alias.asname or alias.name.split(".")[0] for alias in node.names]
            if names.intersection(bound):
                return next(n for n in bound if n in names), node
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name in names:
            return node.name, node
        if isinstance(node, (ast.Global, ast.Nonlocal)) and names.intersection(node.names):
            return next(n for n in node.names if n in names), node
        if not (isinstance(node, ast.Name) and node.id in names):
            continue
        holder = parents.get(id(node))
        if isinstance(node.ctx, (ast.Store, ast.Del)):
            targets = holder.targets if isinstance(holder, ast.Assign) else [getattr(holder, "target", None)]
            if isinstance(holder, (ast.Assign, ast.AnnAssign)) and node in targets:
                if any(not (isinstance(t, ast.Name) and t.id in names) for t in targets):
                    return node.id, holder  # `alias = forward = {...}`: the alias could change it later
                problem = _literal_mapping(holder.value) if holder.value is not None else holder
                if problem is not None:
                    return node.id, problem
                continue
            return node.id, holder or node
        # A read: looking at the values is fine; what could change them is not.
        if isinstance(holder, ast.Subscript) and holder.value is node:
            if isinstance(holder.ctx, ast.Load):
                continue
            statement = parents.get(id(holder))
            if isinstance(statement, (ast.Assign, ast.AugAssign, ast.AnnAssign)) and statement.value is not None:
                key = holder.slice
                if not (isinstance(key, ast.Constant) and isinstance(key.value, str)):
                    return node.id, key
                if _not_literal(statement.value) is not None:
                    return node.id, _not_literal(statement.value)
                continue
            return node.id, statement or holder
        if isinstance(holder, ast.Attribute) and holder.value is node and holder.attr in _READ_ONLY_METHODS:
            continue
        if isinstance(holder, ast.Expr) or (isinstance(holder, ast.Call) and node in holder.args
                                            and isinstance(holder.func, ast.Name)
                                            and holder.func.id in _READ_ONLY_CALLS):
            continue
        if isinstance(holder, (ast.Compare, ast.FormattedValue, ast.JoinedStr)):
            continue
        return node.id, holder or node
    return None


def message(name: str, node: ast.AST, where: str) -> str:
    """What to tell a student whose cell (`where`) computes `name` with `node`."""
    text = ast.unparse(node) if isinstance(node, ast.expr) else type(node).__name__.lower()
    text = text if len(text) <= 60 else text[:57] + "..."
    return (f"{name} must hold numbers worked out by hand, and {where} (line {getattr(node, 'lineno', 0)}) computes "
            f"it with `{text}`. Type each value as a number (arithmetic of numbers is fine: `2 * -3`, `-8 * 2`), "
            f"in one assignment `{name} = {{...}}`: no variables, no calls of numdiff, sympy, an engine or your own "
            "functions. Check your numbers with them in another cell if you like.")


def check_in_kernel(names: list[str] | tuple[str, ...]) -> None:
    """Raise `checks.CheckFailure` when the last input cell that assigned one of `names` computes it. Outside
    IPython, or when no cell assigned it, there is nothing to read (the grader reads the submission itself)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    history = shell.user_ns.get("_ih", []) if shell is not None else []
    for name in names:
        for source in reversed(history):
            if not isinstance(source, str) or "### BEGIN HIDDEN TESTS" in source or "_hidden_checks" in source:
                continue
            try:
                tree = ast.parse(source)
            except SyntaxError:
                continue
            if any(isinstance(node, ast.Name) and node.id == name and isinstance(node.ctx, ast.Store)
                   for node in ast.walk(tree)):
                problem = literal_problem(tree, frozenset([name]))
                if problem:
                    raise checks.CheckFailure(message(*problem, "the cell that assigns it"))
                break
