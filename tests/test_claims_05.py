"""Every number and claim stated in the prose of unit 05 (autograd), checked independently.

The references are mpmath, sympy and a two-hidden-layer network with its exact gradient written here in NumPy
(backpropagation by hand), never the notebook's own code. Two tests do run code taken from the source notebook,
because the claim is about that code: the stable logistic loss of section 1 and of the reference engine.
"""

from __future__ import annotations

import ast
import math
import subprocess
import sys

import jupytext
import mpmath
import numpy as np
import pytest
import sympy

from calcml import data, numdiff
from grading import manifest

SIZES = (2, 6, 6, 1)
LEARNING_RATE, STEPS = 2.0, 30
MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")


def cells() -> list:
    return jupytext.read(manifest.source_script(manifest.unit("05_autograd"))).cells


def solution(grade_id: str) -> str:
    return next(c.source for c in cells() if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def narrative_function(name: str) -> str:
    """The source of the top-level function `name` defined in a narrative code cell."""
    for cell in cells():
        if cell.cell_type != "code" or cell.metadata.get("nbgrader"):
            continue
        for node in ast.parse(cell.source).body:
            if isinstance(node, ast.FunctionDef) and node.name == name:
                return ast.get_source_segment(cell.source, node)
    raise LookupError(name)


def exact_logistic(m: float) -> float:
    """log(1 + e^(−m)) to 50 digits, rounded to the nearest double (0.0 when it underflows)."""
    with mpmath.workdps(50):
        return float(mpmath.log1p(mpmath.exp(-mpmath.mpf(m))))


# ------------------------------------------------------------------ an independent network, exact gradient
def init(seed: int = 0) -> np.ndarray:
    """Layer by layer, neuron by neuron: nin weights uniform in [−1, 1], then a zero bias (section 1's order)."""
    rng = np.random.default_rng(seed)
    return np.concatenate([np.append(rng.uniform(-1.0, 1.0, nin), 0.0)
                           for nin, nout in zip(SIZES[:-1], SIZES[1:], strict=True) for _ in range(nout)])


def blocks(theta: np.ndarray) -> list[np.ndarray]:
    out, start = [], 0
    for nin, nout in zip(SIZES[:-1], SIZES[1:], strict=True):
        out.append(theta[start:start + nout * (nin + 1)].reshape(nout, nin + 1))
        start += nout * (nin + 1)
    return out


def loss_and_gradient(theta: np.ndarray, X: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean log(1 + e^(−y s)) and its exact gradient, by a hand-written backward pass."""
    W = blocks(theta)
    hs = [X]
    for k, w in enumerate(W):
        z = hs[-1] @ w[:, :-1].T + w[:, -1]
        hs.append(np.tanh(z) if k < len(W) - 1 else z)
    m = y * hs[-1][:, 0]
    loss = float(np.mean(np.logaddexp(0.0, -m)))
    upstream = (-y * np.exp(-np.logaddexp(0.0, m)) / len(y))[:, None]   # dL/ds = −y σ(−m) / N
    grads = []
    for k in reversed(range(len(W))):
        if k < len(W) - 1:
            upstream = upstream * (1 - hs[k + 1] ** 2)                 # through tanh
        grads.append(np.hstack([upstream.T @ hs[k], upstream.sum(axis=0)[:, None]]))
        upstream = upstream @ W[k][:, :-1]
    return loss, np.concatenate([g.ravel() for g in reversed(grads)])


@pytest.fixture(scope="module")
def moons() -> tuple[np.ndarray, np.ndarray]:
    return data.moons(40, noise=0.1, seed=1)


def test_05_exact_gradient_reference_is_right(moons) -> None:
    X, y = moons
    theta = init()
    assert np.allclose(loss_and_gradient(theta, X, y)[1],
                       numdiff.gradient(lambda t: loss_and_gradient(t, X, y)[0], theta), rtol=1e-8, atol=1e-10)


def test_05_parameter_count_and_268_evaluations_per_step() -> None:
    """6·3 + 6·7 + 1·7 = 67 parameters, and the 4th-order stencil costs 4 evaluations each: 268 per step."""
    assert 6 * 3 + 6 * 7 + 1 * 7 == 67 == init().size
    calls = []
    numdiff.gradient(lambda t: calls.append(1) or float(np.sum(np.sin(t))), np.linspace(0, 1, 67))
    assert len(calls) == 268 == 4 * 67
    assert 4 * 10**7 == 4 * 10**7  # 10⁷ parameters × 4 evaluations: 4 × 10⁷ forward passes per step


def test_05_finite_differences_accurate_to_about_12_digits(moons) -> None:
    X, y = moons
    theta = init()
    exact = loss_and_gradient(theta, X, y)[1]
    numerical = numdiff.gradient(lambda t: loss_and_gradient(t, X, y)[0], theta)
    relative = np.max(np.abs(numerical - exact)) / np.max(np.abs(exact))
    assert 1e-13 < relative < 1e-11, f"relative error {relative:.1e} is not about 12 digits"


def test_05_training_runs_agree_to_about_12_digits_and_zig_zag(moons) -> None:
    """GD with η = 2 for 30 steps, with numerical and with exact gradients: the losses agree to about 12 digits,
    fall from 0.968 to 0.128, and from step 6 on rise at every other step."""
    X, y = moons
    runs = {}
    for name in ("numerical", "exact"):
        theta, losses = init(), []
        for _ in range(STEPS):
            loss, grad = loss_and_gradient(theta, X, y)
            if name == "numerical":
                grad = numdiff.gradient(lambda t: loss_and_gradient(t, X, y)[0], theta)
            losses.append(loss)
            theta = theta - LEARNING_RATE * grad
        losses.append(loss_and_gradient(theta, X, y)[0])
        runs[name] = np.array(losses)
    gap = np.max(np.abs(runs["numerical"] - runs["exact"]))
    assert 1e-14 < gap < 1e-11, f"the two runs differ by {gap:.1e}, not about 12 digits"
    losses = runs["exact"]
    assert round(losses[0], 3) == 0.968 and round(losses[-1], 3) == 0.128
    rises = [k for k in range(STEPS) if losses[k + 1] > losses[k]]
    assert rises == list(range(6, STEPS, 2)), rises


def test_05_eta_lambda_max_is_about_2_6_at_the_start(moons) -> None:
    """The Hessian of the loss at the initial weights (central differences of the exact gradient)."""
    X, y = moons
    theta, h = init(), 1e-5
    columns = [(loss_and_gradient(theta + h * e, X, y)[1] - loss_and_gradient(theta - h * e, X, y)[1]) / (2 * h)
               for e in np.eye(theta.size)]
    H = np.array(columns)
    top = np.linalg.eigvalsh((H + H.T) / 2)[-1]
    assert round(LEARNING_RATE * top, 1) == 2.6 and LEARNING_RATE * top > 2


def test_05_section_1_loss_is_stable_at_margins_of_1000() -> None:
    """The narrative loss of section 1, np.logaddexp(0, −m): finite and correct at m = ±1000 (and across)."""
    namespace = {"np": np}
    exec(narrative_function("stable_logistic"), namespace)  # noqa: S102 - the course's own source
    stable_logistic = namespace["stable_logistic"]
    margins = np.array([-1000.0, -745.0, -40.0, -1.0, 0.0, 1.0, 40.0, 745.0, 1000.0])
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # underflow to 0.0 is the right answer
        got = stable_logistic(margins)
    assert np.all(np.isfinite(got))
    for m, value in zip(margins, got, strict=True):
        assert value == pytest.approx(exact_logistic(m), rel=1e-12, abs=0.0), f"at m = {m}"
    with np.errstate(over="ignore"):
        assert np.isinf(np.log1p(np.exp(1000.0)))  # the naive form at m = −1000


def engine() -> dict:
    """The reference engine of the source notebook (exercises 1-3) and its logistic_loss (exercise 4)."""
    namespace = {"math": math, "np": np}
    helper = next(c.source for c in cells() if c.cell_type == "code" and "def add_method" in c.source)
    for source in [helper, solution("05_autograd-value_core-solution"), solution("05_autograd-arithmetic-solution"),
                   solution("05_autograd-functions-solution"), solution("05_autograd-softplus-solution"),
                   solution("05_autograd-mlp-solution")]:
        exec(source, namespace)  # noqa: S102 - the course's own source
    return namespace


@pytest.mark.parametrize("margin", [-1000.0, -40.0, -0.5, 0.0, 0.5, 40.0, 1000.0])
def test_05_engine_logistic_loss_is_stable_at_margins_of_1000(margin) -> None:
    """logistic_loss built from Value operations: finite, correct value and gradient −σ(−m) at m = ±1000."""
    ns = engine()
    score = ns["Value"](margin)
    loss = ns["logistic_loss"](lambda x: score * 1.0, [[0.0]], [1.0])
    loss.backward()
    assert math.isfinite(loss.data) and math.isfinite(score.grad)
    # At |m| = 1000, 1e-12 relative error (e^−1000 rounds to 0.0, exactly as the exact value does). In between,
    # log(1 + e^−m) with e^−m below 1e-16 rounds to 0 as well: right to 1e-16 absolute, not relative.
    tolerance = 0.0 if abs(margin) == 1000 else 1e-16
    assert loss.data == pytest.approx(exact_logistic(margin), rel=1e-12, abs=tolerance)
    with mpmath.workdps(50):
        slope = float(-1 / (1 + mpmath.exp(mpmath.mpf(margin))))
    assert score.grad == pytest.approx(slope, rel=1e-12, abs=0.0)
    score.grad = 0.0
    flipped = ns["logistic_loss"](lambda x: score * 1.0, [[0.0]], [-1.0])  # y = −1: the margin is −s
    flipped.backward()
    assert flipped.data == pytest.approx(exact_logistic(-margin), rel=1e-12, abs=tolerance)
    with mpmath.workdps(50):
        assert score.grad == pytest.approx(float(1 / (1 + mpmath.exp(-mpmath.mpf(margin)))), rel=1e-12, abs=0.0)


def test_05_math_exp_800_overflows_and_sigmoid_minus_800_is_almost_0() -> None:
    with pytest.raises(OverflowError):
        math.exp(800)
    assert float(1 / (1 + mpmath.exp(800))) < 1e-300


def test_05_python_default_recursion_limit_is_1000() -> None:
    result = subprocess.run([sys.executable, "-c", "import sys; print(sys.getrecursionlimit())"],
                            capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "1000"


def test_05_engine_fits_in_under_200_lines() -> None:
    """The engine of exercises 1-4 (and the add_method helper), solution markers left out."""
    helper = next(c.source for c in cells() if c.cell_type == "code" and "def add_method" in c.source)
    names = ("value_core", "arithmetic", "functions", "softplus")
    sources = [helper] + [solution(f"05_autograd-{name}-solution") for name in names]
    lines = [line for source in sources for line in source.splitlines() if line.strip() not in MARKERS]
    assert len(lines) < 200, len(lines)


def test_05_forward_and_reverse_costs_grow_with_slopes_2_and_1() -> None:
    """Section 8: count the operations of the ring f(x) = Σ tanh(x_i x_{i+1}): n forward passes of size ∝ n,
    against one forward and one backward pass of size ∝ n."""
    class Counted:
        ops = 0

        def __init__(self, v):
            self.v = v

        def _new(self, v):
            Counted.ops += 1
            return Counted(v)

        def __mul__(self, other):
            return self._new(self.v * other.v)

        def __radd__(self, other):
            return self._new(other + self.v)

        def __add__(self, other):
            return self._new(self.v + (other.v if isinstance(other, Counted) else other))

        def tanh(self):
            return self._new(math.tanh(self.v))

    def ring(xs):
        total = 0.0
        for i in range(len(xs)):
            total = total + (xs[i] * xs[(i + 1) % len(xs)]).tanh()
        return total

    sizes = np.array([64, 128, 256, 512])
    forward, reverse = [], []
    for n in sizes:
        Counted.ops = 0
        ring([Counted(0.1) for _ in range(n)])
        graph = Counted.ops                   # nodes of one pass
        forward.append(n * graph)             # one forward pass per input direction
        reverse.append(2 * graph)             # one forward pass to build the graph, one backward pass
    slope = lambda cost: np.polyfit(np.log(sizes), np.log(cost), 1)[0]  # noqa: E731
    assert abs(slope(forward) - 2) < 1e-9 and abs(slope(reverse) - 1) < 1e-9


# ------------------------------------------------------------------ exercise 4 (softplus) and exercise 6 (Dual)
def test_05_logistic_loss_is_softplus_of_minus_the_margin() -> None:
    """Exercise 4: log(1 + e^(−m)) = softplus(−m), with softplus(a) = ln(1 + e^a)."""
    m = sympy.Symbol("m", real=True)
    softplus = sympy.Lambda(sympy.Symbol("a"), sympy.log(1 + sympy.exp(sympy.Symbol("a"))))
    assert sympy.simplify(sympy.log(1 + sympy.exp(-m)) - softplus(-m)) == 0


def test_05_softplus_800_is_800_to_double_precision_and_e_800_overflows() -> None:
    with pytest.raises(OverflowError):
        math.exp(800)
    with mpmath.workdps(400):  # enough digits to see the excess e^−800 ≈ 4e-348 over 800
        exact = mpmath.log1p(mpmath.exp(800))
        # far below half an ulp of 800 (about 6e-14)
        assert float(exact) == 800.0 and 0 < exact - 800 < mpmath.mpf("1e-340")


def test_05_softplus_solution_is_one_node_exact_and_finite() -> None:
    """The reference softplus of exercise 4: one node, its value and slope σ(a) right to 1e-15 across ±1000."""
    ns = engine()
    for a in [-1000.0, -800.0, -40.0, -1.0, 0.0, 0.7, 40.0, 800.0, 1000.0]:
        x = ns["Value"](a)
        out = x.softplus()
        assert out._prev == (x,)
        out.backward()
        with mpmath.workdps(50):
            value = float(mpmath.log1p(mpmath.exp(a)))
            slope = float(1 / (1 + mpmath.exp(-mpmath.mpf(a))))
        assert out.data == pytest.approx(value, rel=1e-15, abs=1e-300)
        assert x.grad == pytest.approx(slope, rel=1e-15, abs=1e-300)


EXACT_RANGES = {"exp": (np.exp, mpmath.exp, 18.0, 25.0), "log": (np.log, lambda x: 1 / x, 0.01, 0.03),
                "tanh": (np.tanh, lambda x: 1 / mpmath.cosh(x) ** 2, 3.5, 4.5),
                "sin": (np.sin, mpmath.cos, 40.0, 60.0)}
FORMULAS = {"exp": [math.exp], "log": [lambda x: 1 / x],
            "tanh": [lambda x: 1 - math.tanh(x) ** 2, lambda x: (1 - math.tanh(x)) * (1 + math.tanh(x)),
                     lambda x: 1 / math.cosh(x) ** 2],
            "sin": [math.cos]}


def _relative_errors(name: str, derivative) -> np.ndarray:
    f, exact, lo, hi = EXACT_RANGES[name]
    errors = []
    with mpmath.workdps(40):
        for x in np.linspace(lo, hi, 301):
            want = float(exact(mpmath.mpf(float(x))))
            errors.append(abs(float(derivative(float(x))) - want) / abs(want))
    return np.array(errors)


@pytest.mark.parametrize("name", list(EXACT_RANGES))
def test_05_derivative_formulas_are_right_to_12_digits_where_the_dual_tests_check(name) -> None:
    """Exercise 6's hidden points: each derivative formula (as a Dual would compute it) is right to 1e-12."""
    for formula in FORMULAS[name]:
        assert np.max(_relative_errors(name, formula)) < 1e-12


@pytest.mark.parametrize("name", list(EXACT_RANGES))
def test_05_numdiff_falls_short_of_12_digits_where_the_dual_tests_check(name) -> None:
    f = EXACT_RANGES[name][0]
    for order in (2, 4):
        assert np.min(_relative_errors(name, lambda x, order=order: numdiff.derivative(f, x, order=order))) > 1e-12


@pytest.mark.parametrize("name", ["exp", "sin"])
def test_05_any_finite_difference_falls_short_of_12_digits_for_exp_and_sin(name) -> None:
    """Central and forward differences with every step h = 10^−k, k = 1..12: none reaches 1e-12 anywhere."""
    f = EXACT_RANGES[name][0]
    for k in range(1, 13):
        h = 10.0**-k
        central = _relative_errors(name, lambda x, h=h: (f(x + h) - f(x - h)) / (2 * h))
        forward = _relative_errors(name, lambda x, h=h: (f(x + h) - f(x)) / h)
        assert np.min(central) > 1e-12 and np.min(forward) > 1e-12, h
