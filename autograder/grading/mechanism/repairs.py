"""Divisions by zero repaired afterwards, read from the source.

At a stationary point the probes expect exact zeros; a division by zero leaves nan or inf there, so an answer
that divides by zero and still returns zeros must have repaired the result. What counts as a repair is what
acts on the result of a division (a "quotient": a value computed by a division, or from one):

- a selector or a cleaner applied to a quotient (`np.where(n > 0, g / n, 0)`, `np.nan_to_num(g / n)`, `np.fmax`,
  `np.nanmax`, ...), a nan/inf test of a quotient (`np.isnan(d)`, `np.isfinite(d)`, `d != d`, `d == np.inf`),
  a condition that reads a quotient (`if (abs(d) <= 1).all()`), an item assignment masked by one
  (`d[d != d] = 0`);
- `try`/`except`, `np.errstate`, warnings filters or `contextlib.suppress` around a division;
- a division done first and checked afterwards (`d = g / n` then `if n == 0: return zeros`): a division that
  no earlier `if` guards, followed by a test of its denominator or quotient.

A test BEFORE the division (`if np.isclose(n, 0): return zeros`, `if not np.any(g)`) is no repair.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable

from .calls import FUNCTION_NODES
from .program import Program
from .source import callee, root_name, target_names, walk, with_parents

DIVISIONS = frozenset({"divide", "true_divide", "floor_divide", "reciprocal", "remainder", "mod", "fmod", "divmod"})
SELECTORS = frozenset({"where", "select", "piecewise", "choose", "nan_to_num", "putmask", "place", "copyto", "fmax",
                       "fmin", "nanmax", "nanmin", "nansum", "nanmean", "nanargmax", "nanargmin", "nanmedian",
                       "nanquantile", "nanpercentile", "nanprod", "nanstd", "nanvar", "nancumsum"})
TESTS = frozenset({"isnan", "isinf", "isfinite", "isneginf", "isposinf", "isclose", "allclose", "array_equal",
                   "array_equiv"})
SILENCERS = frozenset({"errstate", "seterr", "seterrcall", "catch_warnings", "filterwarnings", "simplefilter",
                       "suppress"})
KNOWN = SELECTORS | TESTS | SILENCERS
NON_FINITE = frozenset({"nan", "NaN", "NAN", "inf", "Inf", "infty", "PINF", "NINF", "infinity"})
_DIVIDE_OPS = (ast.Div, ast.FloorDiv, ast.Mod)


def _constant(node: ast.AST) -> float | None:
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return float(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        value = _constant(node.operand)
        return None if value is None else -value
    return None


def _division(node: ast.AST, dividing: set[str]) -> ast.AST | None:
    """The denominator if `node` itself divides (by something that is not a non-zero constant), else None;
    the node itself for a call of a student function that divides."""
    if isinstance(node, (ast.BinOp, ast.AugAssign)) and isinstance(node.op, _DIVIDE_OPS):
        denominator = node.right if isinstance(node, ast.BinOp) else node.value
        return None if _constant(denominator) else denominator
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
        exponent = _constant(node.right)
        return None if exponent is not None and exponent >= 0 else node.left
    if isinstance(node, ast.Call):
        name = callee(node.func)
        if name in DIVISIONS and node.args:
            return node.args[-1]
        if name in ("power", "float_power") and len(node.args) >= 2:
            exponent = _constant(node.args[1])
            return None if exponent is not None and exponent >= 0 else node.args[0]
        if name in dividing:
            return node
    return None


def _divides(node: ast.AST, dividing: set[str]) -> bool:
    return any(_division(n, dividing) is not None for n in walk(node))


def dividing_functions(found: Program, bodies: Iterable[tuple[str, ast.AST]]) -> set[str]:
    """The reachable functions that divide, directly or through another one."""
    bodies = list(bodies)
    dividing: set[str] = set()
    changed = True
    while changed:
        changed = False
        for name, body in bodies:
            if name not in dividing and _divides(body, dividing):
                dividing.add(name)
                changed = True
    return dividing


def _aliases(trees: Iterable[ast.AST]) -> dict[str, str]:
    """The names and attributes that hold a selector, a test or a silencer: `quiet = np.errstate` (in a function,
    a cell or a class body: `_K.quiet`), `from numpy import errstate as quietly`."""
    out: dict[str, str] = {}
    for tree in trees:
        for node in walk(tree):
            if isinstance(node, ast.ImportFrom):
                out.update({a.asname or a.name: a.name for a in node.names if a.name in KNOWN})
            elif isinstance(node, ast.Assign) and isinstance(node.value, (ast.Name, ast.Attribute)) and (
                    callee(node.value) in KNOWN):
                out.update({n: callee(node.value) for t in node.targets for n, _ in target_names(t)})
    return out


class _Body:
    """One reachable body: its quotients, and the aliases of selectors, tests and silencers it makes."""

    def __init__(self, body: ast.AST, dividing: set[str], aliases: dict[str, str]):
        self.body, self.dividing = body, dividing
        self.aliases = {**aliases, **_aliases([body])}
        self.quotients: set[str] = set()
        changed = True
        while changed:
            changed = False
            for node in walk(body):
                value = getattr(node, "value", None) if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign,
                                                                          ast.NamedExpr)) else None
                if value is None and isinstance(node, (ast.For, ast.comprehension)):
                    value = node.iter
                if value is None or not (self.tainted(value) or (isinstance(node, ast.AugAssign)
                                                                 and isinstance(node.op, _DIVIDE_OPS))):
                    continue
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    for name in [root_name(target)] + [n.id for n in walk(target) if isinstance(n, ast.Name)]:
                        if name and name not in self.quotients:
                            self.quotients.add(name)
                            changed = True

    def name(self, func: ast.AST) -> str:
        name = callee(func)
        return name if isinstance(func, ast.Attribute) and name in KNOWN else self.aliases.get(name, name)


    def tainted(self, node: ast.AST) -> bool:
        return _divides(node, self.dividing) or any(isinstance(n, ast.Name) and n.id in self.quotients
                                                    for n in walk(node))


def _non_finite(node: ast.AST) -> bool:
    if isinstance(node, (ast.Name, ast.Attribute)) and callee(node) in NON_FINITE:
        return True
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value.strip().lstrip("+-").lower() in ("nan", "inf", "infinity")
    return isinstance(node, ast.Call) and any(_non_finite(a) for a in node.args)


def _repair(node: ast.AST, parent: ast.AST | None, body: _Body) -> str:  # noqa: C901 -- one rule per construct
    if isinstance(node, ast.Call):
        name = body.name(node.func)
        if name in SELECTORS and any(body.tainted(a) for a in node.args):
            return f"np.{name} on the result of a division"
        if name in TESTS and any(body.tainted(a) for a in node.args):
            return f"a {name} test of the result of a division"
    if isinstance(node, ast.Compare):
        operands = [node.left, *node.comparators]
        dumps = [ast.dump(o) for o in operands]
        if any(body.tainted(o) for o in operands) and (any(_non_finite(o) for o in operands)
                                                       or len(set(dumps)) < len(dumps)):
            return "a nan/inf test of the result of a division"
    if isinstance(node, (ast.If, ast.IfExp, ast.While, ast.Assert)) and body.tainted(node.test):
        return "a condition on the result of a division"
    if isinstance(node, ast.comprehension) and any(body.tainted(i) for i in node.ifs):
        return "a condition on the result of a division"
    if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Store) and root_name(node) in body.quotients \
            and body.tainted(node.slice):
        return "an assignment masked by the result of a division"
    if isinstance(node, (ast.Try, getattr(ast, "TryStar", ast.Try))) and any(
            _divides(statement, body.dividing) for statement in node.body):
        return "try/except around a division"
    if isinstance(node, (ast.With, ast.AsyncWith)) and any(
            isinstance(i.context_expr, ast.Call) and body.name(i.context_expr.func) in SILENCERS
            for i in node.items) and any(_divides(statement, body.dividing) for statement in node.body):
        return "a silenced division (errstate, warnings, suppress)"
    if isinstance(node, ast.Call) and body.name(node.func) in SILENCERS and not isinstance(parent, ast.withitem) \
            and _divides(body.body, body.dividing):
        return f"`{body.name(node.func)}` next to a division"
    return ""


def _exits(statement: ast.AST) -> bool:
    return isinstance(statement, ast.If) and bool(statement.body) and isinstance(statement.body[-1], (ast.Return,
                                                                                                     ast.Raise))


def _checked_afterwards(body: _Body) -> str:
    """A division no earlier `if` guards, followed by a test that reads its denominator or a quotient."""
    parents = {id(child): parent for child, parent in with_parents(body.body)}
    tests = [n for n in walk(body.body) if isinstance(n, (ast.If, ast.IfExp, ast.While))]
    for node in walk(body.body):
        denominator = _division(node, body.dividing)
        if denominator is None or _guarded(node, parents):
            continue
        names = {n.id for n in walk(denominator) if isinstance(n, ast.Name)} | body.quotients
        position = (node.lineno, node.col_offset)
        for test in tests:
            if (test.lineno, test.col_offset) > position and names & {
                    n.id for n in walk(test.test) if isinstance(n, ast.Name)}:
                return f"a division (line {node.lineno}) checked only afterwards (line {test.lineno})"
    return ""


def _guarded(node: ast.AST, parents: dict[int, ast.AST]) -> bool:
    child, current = node, parents.get(id(node))
    while current is not None:
        if isinstance(current, (ast.If, ast.IfExp, ast.While)) and child is not current.test:
            return True
        if isinstance(current, ast.BoolOp) and child is not current.values[0]:
            return True
        for field in ("body", "orelse", "finalbody"):
            block = getattr(current, field, None)
            if isinstance(block, list) and child in block:
                if any(_exits(s) for s in block[:block.index(child)]):
                    return True
        child, current = current, parents.get(id(current))
    return False


def repairs(found: Program, bodies: list[tuple[str, ast.AST]]) -> list[str]:
    """The repairs of divisions in the reachable `bodies`, each described with its function and line."""
    dividing = dividing_functions(found, bodies)
    aliases = _aliases(tree for _, tree in found.modules)
    out = []
    for current, body in bodies:
        if not isinstance(body, FUNCTION_NODES):
            continue
        reader = _Body(body, dividing, aliases)
        for node, parent in with_parents(body):
            found_here = _repair(node, parent, reader)
            if found_here:
                out.append(f"{found_here} (in {current}, line {getattr(node, 'lineno', '?')})")
        late = _checked_afterwards(reader)
        if late:
            out.append(f"{late} (in {current})")
    return out
