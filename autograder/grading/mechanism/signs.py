"""Exponentials that provably overflow on an exercise's inputs, read from the source.

The exercise's inputs are unbounded both ways (the probes pass x = ±1000 and ±1e300), so its parameters are
"unbounded above and below". Facts flow through what keeps them (`np.asarray`, `-x`, `2 * x`, `x + 1`, `abs`,
`np.maximum(x, 0)`, `np.logaddexp(0, x)`, ...); anything else (`x[mask]`, `x - x.max()`, `-np.abs(x)`,
`np.minimum(x, 0)`, `x - np.logaddexp(0, x)`, a call of a library function) is simply not known to grow. An
exponential is reported only when its argument is KNOWN to grow without bound: when in doubt, the rule accepts
(the probes already check the numbers at extreme inputs). Exponentials in an `if`/`else` branch whose test reads
their argument are guarded and accepted; `np.where` computes both of its branches, so an exponential in one of
its arguments never is.

Functions the student wrote are followed: a helper called with `-np.abs(x)` is read with that argument, one
called with `x` with an unbounded parameter. Variables are read flow-insensitively: a name has the facts common
to every value it is ever given in its function.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable

from . import scopes
from .calls import FUNCTION_NODES, parameters
from .program import Program
from .scopes import ANY, DOWN, GE, LE, TOP, UNBOUNDED, UP, Facts, Scope, constant, flip, of_constant
from .source import callee, root_name, walk, with_parents

EXPONENTIALS = frozenset({"exp", "exp2", "expm1", "cosh", "sinh", "power", "float_power", "pow", "ldexp"})
KEEPERS = frozenset({"asarray", "asanyarray", "array", "float", "float64", "copy", "ravel", "flatten", "reshape",
                     "astype", "squeeze", "atleast_1d", "atleast_2d", "asfarray", "longdouble", "float128", "view",
                     "transpose", "ascontiguousarray", "asfortranarray", "real", "conj", "conjugate"})
VIEWS = frozenset({"T", "mT", "real", "flat", "base"})  # attributes that keep the values
EAGER = frozenset({"where", "select", "piecewise", "choose"})
MAX_DEPTH = 200  # deeper expressions are not read (not known to grow)
MAX_CALL_DEPTH = 8
BUDGET = 200_000  # expression visits per check; past it, nothing more is reported


class Overflows:
    """The analysis of one exercise: `problems` lists the exponentials that provably overflow."""

    def __init__(self, found: Program):
        self.found = found
        self.problems: list[str] = []
        self.reported: set[int] = set()
        self.analysed: set[tuple[int, tuple]] = set()
        self.memo: dict[tuple[int, str], Facts] = {}
        self.returns: dict[tuple[int, tuple], Facts] = {}
        self.scopes: list[Scope] = []  # kept alive: the memo is keyed by their ids
        self.active = 0  # calls being read, one inside the other
        self.budget = BUDGET
        self.aliases = scopes.exponential_aliases(found, EXPONENTIALS)  # e = np.exp, from numpy import exp as grow

    def run(self, body: ast.AST, where: str, params: Facts | dict[str, Facts], parent: Scope | None = None) -> Facts:
        """Read one body with its parameters' facts (one set for all, or by name); the facts of what it returns."""
        names = parameters(body)
        bound = params if isinstance(params, dict) else dict.fromkeys(names, params)
        key = (id(body), tuple(sorted((k, tuple(sorted(v))) for k, v in bound.items())))
        if key in self.returns or self.active > MAX_CALL_DEPTH or self.budget <= 0:
            return self.returns.get(key, ANY)
        self.returns[key] = ANY  # recursion: not known
        self.active += 1
        try:
            scope = Scope(body, bound, parent)
            self.scopes.append(scope)
            for node, parent_node in scope.nodes:
                self._check(node, parent_node, scope, where)
            for name, function in scope.functions.items():
                self.run(function, f"{name} in {where}", ANY, scope)
            for node, _ in scope.nodes:
                if isinstance(node, ast.Lambda):
                    self.run(node, f"a lambda in {where}", ANY, scope)
            if isinstance(body, ast.Lambda):
                result = self.of(body.body, scope)
            else:
                results = [self.of(n.value, scope) if n.value is not None else ANY
                           for n, _ in scope.nodes if isinstance(n, ast.Return)]
                result = frozenset.intersection(*results) if results else ANY
        finally:
            self.active -= 1
        self.returns[key] = result
        return result

    def _check(self, node: ast.AST, parent: ast.AST | None, scope: Scope, where: str) -> None:
        kind, args = "", []
        if isinstance(node, ast.Call):
            kind, args = self._exponential(node.func, scope), list(node.args)
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
            kind, args = "power", [node.left, node.right]
        elif isinstance(node, (ast.Attribute, ast.Name)) and isinstance(node.ctx, ast.Load) and not (
                isinstance(parent, ast.Call) and parent.func is node) and not isinstance(parent, ast.Assign):
            if self._exponential(node, scope) and (isinstance(node, ast.Name) or root_name(node) in
                                                   self.found.module_aliases):
                self._report(node, where, "passed on as a function")
            return
        if not kind or not args or any(isinstance(a, ast.Starred) for a in args):
            return
        facts = [self.of(a, scope) for a in args]
        grows = False
        if kind in ("exp", "exp2", "expm1"):
            grows = UP in facts[0]
        elif kind in ("cosh", "sinh"):
            grows = bool(facts[0] & UNBOUNDED)
        elif kind == "ldexp" and len(args) >= 2:
            grows = UP in facts[1]
        elif len(args) >= 2:
            base = constant(args[0])
            grows = base is not None and ((base > 1 and UP in facts[1]) or (0 < base < 1 and DOWN in facts[1]))
        if grows and not self._guarded(node, args, scope):
            self._report(node, where, "")

    def _report(self, node: ast.AST, where: str, how: str) -> None:
        if id(node) in self.reported:
            return
        self.reported.add(id(node))
        try:
            text = ast.unparse(node)
        except Exception:  # noqa: BLE001 -- RecursionError on deep trees
            text = type(node).__name__
        text = text if len(text) <= 80 else text[:77] + "..."
        self.problems.append(f"`{text}`{' ' + how if how else ''} in {where} (line {getattr(node, 'lineno', '?')})")

    def _exponential(self, func: ast.AST, scope: Scope, seen: int = 0) -> str:
        name = callee(func)
        if isinstance(func, ast.Name):
            owner, values = scope.lookup(name)
            if owner is not None:  # a variable: an exponential if every value given to it is one
                nodes = [v for v in values if isinstance(v, ast.AST)]
                kinds = {self._exponential(v, owner, seen + 1) if seen < 5 else "" for v in nodes}
                return kinds.pop() if len(nodes) == len(values) and len(kinds) == 1 else ""
            return self.aliases.get(name, "")
        if isinstance(func, ast.Attribute) or callee(func):
            return name if name in EXPONENTIALS else self.aliases.get(name, "")
        return ""

    def _guarded(self, node: ast.AST, args: list[ast.AST], scope: Scope) -> bool:
        """Whether `node` sits in a branch of an `if` whose test reads its argument (and in no `np.where`)."""
        used = {n.id for a in args for n in walk(a) if isinstance(n, ast.Name)}
        parents = {id(child): parent for child, parent in with_parents(scope.body)}
        guarded, child, current = False, node, parents.get(id(node))
        while current is not None:
            if isinstance(current, ast.Call) and callee(current.func) in EAGER:
                return False
            if isinstance(current, (ast.If, ast.IfExp, ast.While)) and child is not current.test:
                guarded = guarded or bool(used & {n.id for n in walk(current.test) if isinstance(n, ast.Name)})
            child, current = current, parents.get(id(current))
        return guarded

    def of(self, node: ast.AST, scope: Scope, depth: int = 0) -> Facts:  # noqa: C901 -- one rule per construct
        """What is known of `node`: a subset of {UP, DOWN, GE, LE}."""
        self.budget -= 1
        if depth > MAX_DEPTH or self.budget <= 0:
            return ANY
        value = constant(node)
        if value is not None:
            return of_constant(value)
        if isinstance(node, ast.Name):
            return self._name(node.id, scope, depth)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            inner = self.of(node.operand, scope, depth + 1)
            return flip(inner) if isinstance(node.op, ast.USub) else inner
        if isinstance(node, ast.BinOp):
            return self._binary(node, scope, depth)
        if isinstance(node, ast.IfExp):
            return self.of(node.body, scope, depth + 1) & self.of(node.orelse, scope, depth + 1)
        if isinstance(node, ast.Subscript) and scopes.whole(node.slice):
            return self.of(node.value, scope, depth + 1)  # x[:], x[...], x[()]
        if isinstance(node, ast.Attribute) and node.attr in VIEWS:
            return self.of(node.value, scope, depth + 1)  # x.T, x.real
        if isinstance(node, ast.Call):
            return self._call(node, scope, depth)
        return ANY

    def _name(self, name: str, scope: Scope, depth: int) -> Facts:
        owner, values = scope.lookup(name)
        if owner is None or not values:
            return ANY  # a global or a builtin: not an input
        key = (id(owner), name)
        if key in self.memo:
            return self.memo[key]
        self.memo[key] = TOP  # while in progress: x = np.asarray(x) keeps what x was
        facts = TOP
        for value in values:
            facts &= value if isinstance(value, frozenset) else self.of(value, owner, depth + 1)
            if not facts:
                break
        self.memo[key] = facts
        return facts

    def _binary(self, node: ast.BinOp, scope: Scope, depth: int) -> Facts:
        left, right = self.of(node.left, scope, depth + 1), self.of(node.right, scope, depth + 1)
        if isinstance(node.op, ast.Sub):
            right, node_op = flip(right), ast.Add()
        else:
            node_op = node.op
        if isinstance(node_op, ast.Add):
            out = {f for f in (GE, LE) if f in left and f in right}
            for grow, bound in ((UP, GE), (DOWN, LE)):
                if (grow in left and (bound in right or constant(node.right) is not None)) or (
                        grow in right and (bound in left or constant(node.left) is not None)):
                    out.add(grow)
            return frozenset(out)
        if isinstance(node_op, (ast.Mult, ast.Div)):
            for facts, other in ((left, node.right), (right, node.left)):
                scale = constant(other)
                if scale and not (isinstance(node_op, ast.Div) and other is node.left):
                    return facts if scale > 0 else flip(facts)
            same = (LE in left and LE in right) or (GE in left and GE in right)
            return frozenset({GE}) if same else ANY
        if isinstance(node_op, ast.Pow):
            exponent = constant(node.right)
            if exponent is not None and exponent > 0 and exponent == int(exponent) and int(exponent) % 2 == 0:
                return frozenset({GE} | ({UP} if left & UNBOUNDED else set()))
        return ANY

    def _call(self, node: ast.Call, scope: Scope, depth: int) -> Facts:  # noqa: C901
        func, name = node.func, callee(node.func)
        if any(isinstance(a, ast.Starred) for a in node.args):
            return ANY
        args = [self.of(a, scope, depth + 1) for a in node.args]
        if isinstance(func, ast.Attribute) and name in KEEPERS and not args:
            return self.of(func.value, scope, depth + 1)  # x.copy(), x.ravel()
        if isinstance(func, ast.Attribute) and name in ("astype", "reshape", "view", "transpose"):
            return self.of(func.value, scope, depth + 1)
        if isinstance(func, ast.Name) and scope.lookup(name)[0] is not None and name not in scope.functions:
            name = self._local_callee(name, scope)  # a local `max = np.maximum`; a local value: not known
        student = self._student_function(func, scope)
        if student is not None:
            body, owner, offset = student
            names = parameters(body)[offset:]
            bound = {n: args[k] if k < len(args) else ANY for k, n in enumerate(names)}
            bound.update({k.arg: self.of(k.value, scope, depth + 1) for k in node.keywords if k.arg in bound})
            return self.run(body, callee(func) or "a function", bound, owner)
        if not args:
            return ANY
        first = args[0]
        if name in KEEPERS:
            return first
        if name in ("abs", "absolute", "fabs"):
            return frozenset({GE} | ({UP} if first & UNBOUNDED else set()))
        if name in ("square",):
            return frozenset({GE} | ({UP} if first & UNBOUNDED else set()))
        if name == "negative":
            return flip(first)
        if name in ("exp", "exp2", "expm1", "cosh", "logaddexp", "logaddexp2"):
            grows = any(UP in a for a in args) or (name == "cosh" and bool(first & UNBOUNDED))
            return frozenset(({GE} if name != "expm1" else set()) | ({UP} if grows else set()))
        if name in ("maximum", "fmax", "max") and len(args) >= 2:
            return frozenset(({UP} if any(UP in a for a in args) else set())
                             | ({DOWN} if all(DOWN in a for a in args) else set())
                             | ({GE} if any(GE in a for a in args) else set()))
        if name in ("minimum", "fmin", "min") and len(args) >= 2:
            return frozenset(({DOWN} if any(DOWN in a for a in args) else set())
                             | ({UP} if all(UP in a for a in args) else set())
                             | ({LE} if any(LE in a for a in args) else set()))
        if name == "where" and len(args) == 3:
            return args[1] & args[2]
        return ANY

    def _local_callee(self, name: str, scope: Scope) -> str:
        """The function a local variable holds when every value given to it names the same one, else ''."""
        values = scope.lookup(name)[1]
        names = {callee(v) if isinstance(v, (ast.Name, ast.Attribute)) else "" for v in values}
        return names.pop() if len(names) == 1 and not any(isinstance(v, frozenset) for v in values) else ""

    def _student_function(self, func: ast.AST, scope: Scope) -> tuple[ast.AST, Scope | None, int] | None:
        """The body a call goes to when the student wrote it (a nested or module-level def, a named lambda, a
        method), with the scope it was defined in and how many leading parameters the call does not give."""
        if isinstance(func, ast.Name):
            current: Scope | None = scope
            while current is not None:
                if func.id in current.functions:
                    return current.functions[func.id], current, 0
                if func.id in current.values:
                    return None  # a variable
                current = current.parent
            bodies = [b for b in self.found.definitions.get(func.id, []) if isinstance(b, FUNCTION_NODES)]
            return (bodies[0], None, 0) if len(bodies) == 1 else None
        if isinstance(func, ast.Attribute) and root_name(func) not in self.found.module_aliases:
            bodies = [b for b in self.found.definitions.get(func.attr, []) if isinstance(b, FUNCTION_NODES)]
            if len(bodies) == 1 and parameters(bodies[0])[:1] in (["self"], ["cls"]):
                return bodies[0], None, 1
        return None


def exercise_bodies(found: Program, name: str) -> list[ast.AST]:
    """The functions that may be the exercise's `name`: its defs and lambdas, and those its aliases name
    (`d_softplus = lucky`, `d_softplus = np.vectorize(lambda v: ...)`)."""
    out, seen, pending = [], set(), [name]
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        for body in found.definitions.get(current, []):
            if isinstance(body, FUNCTION_NODES):
                out.append(body)
            elif not isinstance(body, ast.ClassDef):
                out.extend(n for n in walk(body) if isinstance(n, ast.Lambda))
                pending.extend(n.id for n in walk(body) if isinstance(n, ast.Name) and n.id in found.definitions)
    return out


def overflowing(found: Program, name: str, reachable: Iterable[tuple[str, ast.AST]]) -> list[str]:
    """The exponentials reachable from `name` that provably overflow on its (unbounded) inputs."""
    analysis = Overflows(found)
    for body in exercise_bodies(found, name):
        analysis.run(body, name, UNBOUNDED)
    for current, body in reachable:
        if isinstance(body, FUNCTION_NODES):
            analysis.run(body, current, ANY)
    return analysis.problems
