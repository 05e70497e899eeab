"""Issue 9, class 2, units 01-04: the probe process is the student's process, so nothing a driver does there is
a check. Each test is an attack: a known-wrong answer plus code that rewrites what a driver observed (an
`np.errstate`, a helper such as `np.array_equal` or `repr`, the recursion limit). Every one of them passed the
out-of-kernel check before the probes decided from the returned numbers and from the source (`grading.mechanism`).

The attacks run as preludes of `integrity.check_many` (code run in the probe's own child, just before the driver,
as a cell before the test cell would be; the mechanism checks see it as a cell of the notebook), without the
sandbox, which is irrelevant here.
"""

from __future__ import annotations

import textwrap

import pytest

from grading import integrity, manifest, submissions

LUCKY_SOFTPLUS = """
def d_softplus(x):
    x = np.asarray(x, dtype=float)
    return np.where(x >= 0, 1 / (1 + np.exp(-x)), np.exp(x) / (1 + np.exp(x)))
"""
NAIVE_SOFTPLUS = """
def d_softplus(x):
    return 1 / (1 + np.exp(-np.asarray(x, dtype=float)))
"""
NO_ERRSTATE = """
import contextlib
np.errstate = lambda *args, **kwargs: contextlib.nullcontext()
"""
MUTATING_GRADIENT = """
def numerical_gradient(f, x, h=1e-5):
    point = np.array(x, dtype=float)
    grad = np.zeros_like(point)
    for index in np.ndindex(point.shape):
        step = np.zeros_like(point)
        step[index] = h
        grad[index] = (f(point + step) - f(point - step)) / (2 * h)
    if isinstance(x, np.ndarray) and h != 1e-5:
        x[...] = 0  # the caller's x is wiped (after the last call the driver makes with it)
    return grad
"""
NAN_AT_ZERO = """
def directional_derivative(grad_f, x, u):
    u = np.asarray(u, dtype=float)
    return float(np.asarray(grad_f(x), dtype=float) @ u / np.linalg.norm(u))
"""
WHERE_STEEPEST = """
def steepest_ascent_direction(grad_f, x):
    g = np.asarray(grad_f(x), dtype=float)
    n = np.linalg.norm(g)
    return np.where(n > 0, g / n, 0.0)
"""
NAN_TO_NUM_STEEPEST = """
def steepest_ascent_direction(grad_f, x):
    g = np.asarray(grad_f(x), dtype=float)
    return np.nan_to_num(g / np.linalg.norm(g))
"""
IN_PLACE_SOFTMAX = """
def softmax_jacobian(z):
    z -= np.max(z)  # changes the caller's z
    e = np.exp(z)
    p = e / e.sum()
    return np.diag(p) - np.outer(p, p)
"""
CHAIN_NUMDIFF = """
from calcml import numdiff


def chain_derivative(f, df, g, dg):
    return lambda x: numdiff.derivative(lambda t: f(g(t)), x)
"""
CHAIN_SYMPY = """
import sympy as sp
from calcml import numdiff


def chain_derivative(f, df, g, dg):
    z = sp.Symbol("z")
    table = {np.sin: sp.sin, np.cos: sp.cos, np.exp: sp.exp, np.tanh: sp.tanh, np.arctan: sp.atan}

    def derivative(x):
        try:
            outer, inner = table.get(f, f), table.get(g, g)
            slope = sp.lambdify(z, sp.diff(outer(inner(z)), z), "numpy")
            return slope(np.asarray(x, dtype=float)) * np.ones_like(np.asarray(x, dtype=float))
        except Exception:  # a numpy-only lambda: numerically, then
            return numdiff.derivative(lambda t: f(g(t)), x)

    return derivative
"""
CHAIN_FINITE_DIFFERENCE = """
def chain_derivative(f, df, g, dg):
    def derivative(x):
        x = np.asarray(x, dtype=float)
        h = 1e-5 * np.maximum(1.0, np.abs(x))
        return (-f(g(x + 2 * h)) + 8 * f(g(x + h)) - 8 * f(g(x - h)) + f(g(x - 2 * h))) / (12 * h)

    return derivative
"""
RECURSIVE_SORT = """
import sys
sys.setrecursionlimit(200_000)


def topological_sort(root):
    order, seen = [], set()

    def visit(node):
        if node not in seen:
            seen.add(node)
            for parent in node._prev:
                visit(parent)
            order.append(node)

    visit(root)
    return order
"""


def _trial(key: str, grade_id: str, *parts: str) -> dict:
    return {"key": key, "grade_id": grade_id, "student": "mallory",
            "prelude": "\n".join(textwrap.dedent(part) for part in parts)}


ATTACKS = {
    "01_derivatives": [
        # np.where overflows in the branch it throws away; the driver's errstate(over="raise") is made a no-op
        _trial("softplus-errstate-patched", "01_derivatives-d_softplus", LUCKY_SOFTPLUS, NO_ERRSTATE),
        # the same overflow, silenced from inside the function: a driver-side errstate cannot see it
        _trial("softplus-errstate-inside", "01_derivatives-d_softplus", """
            def d_softplus(x):
                x = np.asarray(x, dtype=float)
                with np.errstate(over="ignore", invalid="ignore"):
                    return np.where(x >= 0, 1 / (1 + np.exp(-x)), np.exp(x) / (1 + np.exp(x)))
            """),
        # exp(-x) overflows for x < -709.8 and gives 0 there, where e^x is a subnormal float
        _trial("softplus-naive-patched", "01_derivatives-d_softplus", NAIVE_SOFTPLUS, NO_ERRSTATE),
        # the chain rule never applied: f∘g differentiated by itself, ignoring the df and dg it is given (the probe
        # also passes made-up derivatives, and expects exactly df(g(x)) * dg(x))
        _trial("chain-numdiff", "01_derivatives-chain_derivative", CHAIN_NUMDIFF),
        _trial("chain-sympy", "01_derivatives-chain_derivative", CHAIN_SYMPY),
        _trial("chain-finite-difference", "01_derivatives-chain_derivative", CHAIN_FINITE_DIFFERENCE),
    ],
    "02_gradients": [
        # the caller's x is changed, and the driver's np.array_equal is made to say it is not
        _trial("gradient-array-equal", "02_gradients-numerical_gradient", MUTATING_GRADIENT,
               "np.array_equal = lambda *args, **kwargs: True"),
        _trial("gradient-array-equal-setattr", "02_gradients-numerical_gradient", MUTATING_GRADIENT,
               "import functools\nsetattr(np, 'array_' + 'equal', functools.partial(lambda *a: True))"),
        # nan for u = 0, no ValueError: the driver's repr of the returned value raises ValueError instead
        _trial("directional-repr", "02_gradients-directional_derivative", NAN_AT_ZERO, """
            import builtins
            def _repr(value):
                raise ValueError("not me")
            builtins.repr = _repr
            """),
        _trial("directional-object", "02_gradients-directional_derivative", """
            class Slope(float):
                def __repr__(self):
                    raise ValueError("not me either")

            def directional_derivative(grad_f, x, u):
                u = np.asarray(u, dtype=float)
                n = np.linalg.norm(u)
                return float(np.asarray(grad_f(x), dtype=float) @ u / n) if n else Slope(0.0)
            """),
        # divides by zero at a stationary point, repaired afterwards; the driver's errstate(all="raise") disarmed
        _trial("steepest-where", "02_gradients-steepest_ascent", WHERE_STEEPEST, NO_ERRSTATE),
        _trial("steepest-nan-to-num", "02_gradients-steepest_ascent", NAN_TO_NUM_STEEPEST, NO_ERRSTATE),
        _trial("steepest-errstate-inside", "02_gradients-steepest_ascent", """
            def steepest_ascent_direction(grad_f, x):
                g = np.asarray(grad_f(x), dtype=float)
                with np.errstate(all="ignore"):
                    d = g / np.linalg.norm(g)
                d[d != d] = 0.0
                return d
            """),
    ],
    "03_jacobians": [
        # z is changed in place, and the driver's comparison is rewritten
        _trial("softmax-array-equal", "03_jacobians-softmax_jacobian", IN_PLACE_SOFTMAX,
               "np.array_equal = lambda *args, **kwargs: True"),
        # ... or the inputs the driver compares with are changed to match, through the driver's frame
        _trial("softmax-inputs", "03_jacobians-softmax_jacobian", """
            import sys

            def softmax_jacobian(z):
                z -= np.max(z)
                frame = sys._getframe(1)
                if frame.f_globals.get("z") is z:  # the driver's own z: make its inputs agree
                    frame.f_globals["inputs"]["untouched"][:] = z.tolist()
                e = np.exp(z)
                p = e / e.sum()
                return np.diag(p) - np.outer(p, p)
            """),
    ],
    "04_computational_graphs": [
        # recursion, made to work on the 20,000-deep chain by raising the recursion limit
        _trial("sort-recursive-limit", "04_computational_graphs-topological_sort", RECURSIVE_SORT),
        _trial("sort-recursive-inside", "04_computational_graphs-topological_sort", """
            def topological_sort(root):
                import sys
                sys.setrecursionlimit(200_000)
                order, seen = [], set()
                def visit(node):
                    if node not in seen:
                        seen.add(node)
                        for parent in node._prev:
                            visit(parent)
                        order.append(node)
                visit(root)
                return order
            """),
        _trial("sort-recursive-alias", "04_computational_graphs-topological_sort", """
            import sys
            sys.setrecursionlimit(200_000)

            def walk(node, seen, order):
                if node not in seen:
                    seen.add(node)
                    for parent in node._prev:
                        again(parent, seen, order)
                    order.append(node)

            again = walk

            def topological_sort(root):
                order = []
                walk(root, set(), order)
                return order
            """),
        _trial("backward-recursive", "04_computational_graphs-backward", """
            import sys
            sys.setrecursionlimit(200_000)

            def backward(root, order=None):
                if order is None:
                    order = topological_sort(root)
                root.grad = 1.0

                def sweep(k):
                    if k >= 0:
                        node = order[k]
                        for parent, local in zip(node._prev, node._local_grads):
                            parent.grad += local * node.grad
                        sweep(k - 1)

                sweep(len(order) - 1)
            """),
        # memoised recursion: linear, but 6,000 calls deep on the chain, with the limit raised
        _trial("count-recursive", "04_computational_graphs-count_paths", """
            import sys
            sys.setrecursionlimit(200_000)

            def count_paths(root, node, order=None):
                memo, users = {}, {}
                for n in (order if order is not None else topological_sort(root)):
                    for parent in n._prev:
                        users.setdefault(parent, []).append(n)

                def up(n):
                    if n is root:
                        return 1
                    if n not in memo:
                        memo[n] = sum(up(user) for user in users.get(n, []))
                    return memo[n]

                return up(node) if node in users or node is root else 0
            """),
    ],
}


@pytest.fixture(scope="module")
def solved(tmp_path_factory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("solved")
    return {unit: str(submissions.write(submissions.solved(manifest.unit(unit)), folder / unit / "nb.ipynb"))
            for unit in ATTACKS}


_RESULTS: dict[str, dict] = {}


def results(unit: str, path: str) -> dict:
    if unit not in _RESULTS:
        _RESULTS[unit], _ = integrity.check_many(unit, path, ATTACKS[unit], sandboxed=False)
    return _RESULTS[unit]


CASES = [(unit, trial["key"]) for unit, trials in ATTACKS.items() for trial in trials]


@pytest.mark.slow
@pytest.mark.parametrize(("unit", "key"), CASES, ids=[key for _, key in CASES])
def test_an_attack_on_a_driver_fails_the_exercise(unit, key, solved) -> None:
    verdict = results(unit, solved[unit])[key]
    assert not verdict.passed, f"{key}: a known-wrong answer passed once the driver's observation was rewritten"
    assert verdict.message


@pytest.mark.slow
@pytest.mark.parametrize("unit", list(ATTACKS))
def test_the_solved_notebook_still_passes_every_probe_out_of_kernel(unit, solved) -> None:
    verdicts = integrity.check(unit, "zeno", solved[unit], sandboxed=False)
    assert {g: v.message for g, v in verdicts.items() if not v.passed} == {}
