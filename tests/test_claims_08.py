"""Unit 08 (pitfalls): every number and claim in the prose, checked independently of the code that prints it.

The narrative cells of the source notebook (everything before "## Exercises") are executed once into a
namespace, so the claims about the unit's own engine are checked on that engine.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import jupytext
import matplotlib
import numpy as np
import pytest

from calcml import checks, gradient_flow, numdiff

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

SOURCE = Path(__file__).resolve().parents[1] / "source" / "08_pitfalls" / "pitfalls.py"
STEPS = np.logspace(-12, 0, 121)  # the step range of the notebook's plot (plot_step_size_by_dtype's default)


def _cells():
    return jupytext.read(SOURCE).cells


def _grade_id(cell) -> str:
    return cell.metadata.get("nbgrader", {}).get("grade_id", "")


def _run(cells, namespace: dict) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        for cell in cells:
            exec(compile(cell.source, str(SOURCE), "exec"), namespace)  # noqa: S102
    plt.close("all")
    return out.getvalue()


def _narrative_cells():
    cells = _cells()
    end = next(i for i, c in enumerate(cells) if c.cell_type == "markdown" and c.source.startswith("## Exercises"))
    return [c for c in cells[:end] if c.cell_type == "code"]


@pytest.fixture(scope="module")
def narrative() -> tuple[dict, str]:
    namespace: dict = {"__name__": "pitfalls"}
    printed = _run(_narrative_cells(), namespace)
    return namespace, printed


def _prose() -> str:
    return "\n".join(c.source for c in _cells() if c.cell_type == "markdown")


# section 1: the relative error


def test_a_zero_component_comes_out_as_rounding_noise_of_about_1e_13() -> None:
    def f(x):
        return np.sum(x**2 * np.sin(x))

    noise = []
    for seed in range(10):
        x = np.random.default_rng(seed).normal(size=5)
        x[2] = 0.0  # d/dx_2 of x_2² sin x_2 is 0 there
        e = numdiff.gradient(f, x)
        noise.append(abs(e[2]))
        a = 2 * x * np.sin(x) + x**2 * np.cos(x)
        if e[2] != 0:  # on its own scale, a 100% error
            assert abs(a[2] - e[2]) / max(abs(a[2]), abs(e[2])) == 1.0
        assert abs(a[2] - e[2]) / max(np.max(np.abs(a)), np.max(np.abs(e))) < 1e-12
    assert 1e-14 < max(noise) < 1e-12


def test_the_worked_example_and_the_scaling(narrative) -> None:
    ns, printed = narrative
    x = np.random.default_rng(0).normal(size=5)
    numeric = numdiff.gradient(ns["f"], x)
    assert checks.relative_error(ns["grad_f"](x), numeric) <= checks.RTOL
    assert checks.relative_error(ns["grad_f_buggy"](x), numeric) > checks.SUSPICIOUS
    absolute, relative = [], []
    for scale in [1e-6, 1.0, 1e6]:
        e = numdiff.gradient(lambda v, s=scale: s * ns["f"](v), x)
        a = scale * ns["grad_f"](x)
        absolute.append(np.max(np.abs(a - e)))
        relative.append(checks.relative_error(a, e))
    assert 11.5 < np.log10(absolute[2] / absolute[0]) < 12.5  # "twelve orders of magnitude"
    assert max(relative) < 1.2 * min(relative)  # "does not move"


# section 1: the step, float32 against float64


def _float32_errors(steps: np.ndarray) -> np.ndarray:
    """The relative error of the float32 central difference of sin at x = 1, computed here, not by lib."""
    x, h = np.float32(1.0), steps.astype(np.float32)
    quotient = ((np.sin(x + h) - np.sin(x - h)) / (np.float32(2) * h)).astype(np.float64)
    exact = np.cos(np.float64(x))
    return np.abs(quotient - exact) / np.maximum(np.abs(quotient), abs(exact))


def _float64_errors(steps: np.ndarray) -> np.ndarray:
    quotient = (np.sin(1.0 + steps) - np.sin(1.0 - steps)) / (2 * steps)
    return np.abs(quotient - np.cos(1.0)) / np.maximum(np.abs(quotient), np.cos(1.0))


def test_the_best_steps_and_errors_of_each_dtype() -> None:
    eps64, eps32 = float(np.finfo(np.float64).eps), float(np.finfo(np.float32).eps)
    assert f"{eps64:.1e}" == "2.2e-16" and f"{eps32:.1e}" == "1.2e-07"
    assert f"{eps64 ** (1 / 3):.0e}" == "6e-06" and f"{eps32 ** (1 / 3):.0e}" == "5e-03"
    assert f"{eps32 ** (2 / 3):.0e}" == "2e-05" and 1 < eps32 ** (2 / 3) / checks.RTOL < 3  # "right on RTOL"
    assert _float64_errors(STEPS).min() < 1e-11  # "can go down to 1e-11"
    assert _float64_errors(np.array([1e-6]))[0] < 1e-10  # "the usual choice h = 1e-6 is close"


def test_float32_zigzags_across_rtol_near_its_best_step() -> None:
    """The sentence that replaced "float32's best error is above RTOL": its own plot dips below it."""
    errors = _float32_errors(STEPS)
    (cell,) = [c for c in _narrative_cells() if "plot_step_size_by_dtype" in c.source]
    namespace = {"np": np, "gradient_flow": gradient_flow}
    exec(cell.source, namespace)  # noqa: S102
    (line32,) = [line for line in namespace["ax"].get_lines() if line.get_label() == "float32"]
    np.testing.assert_allclose(line32.get_xdata(), STEPS)  # the notebook's plot: these very steps ...
    np.testing.assert_allclose(line32.get_ydata(), errors, rtol=1e-6)  # ... and these very errors
    plt.close("all")
    h_star = float(np.finfo(np.float32).eps) ** (1 / 3)
    near = (STEPS > h_star / 3) & (STEPS < h_star * 3)
    best = int(np.argmin(errors))
    assert near[best] and errors[best] < checks.RTOL  # the best float32 error is BELOW RTOL ...
    assert f"{errors[best]:.0e}" == "3e-07" and f"{STEPS[best]:.0e}" == "4e-03"
    assert f"{errors[near].max():.0e}" == "3e-05" and errors[near].max() > checks.RTOL  # ... its neighbours above
    assert f"{_float32_errors(np.array([1e-6]))[0]:.1%}" == "0.7%"  # the float64 habit, in float32


def test_the_rule_of_thumb_step_range_is_flat_in_float64() -> None:
    inside = np.logspace(-6, -5, 21)
    assert _float64_errors(inside).max() < 1e-9  # "stays below 1e-9" between 1e-6 and 1e-5


# section 1: kinks


def test_the_kink_demos(narrative) -> None:
    ns, printed = narrative
    assert "relative error 0.90" in printed  # |x| at 1e-7, h = 1e-6
    estimate = (abs(1e-7 + 1e-6) - abs(1e-7 - 1e-6)) / 2e-6
    assert estimate == pytest.approx(0.1) and checks.relative_error(1.0, estimate) > checks.SUSPICIOUS
    rng = np.random.default_rng(8)  # the notebook's point (its `x` is reused later)
    W, x = rng.normal(size=(4, 3)), rng.normal(size=3)
    W[2, 1] = 0.1
    W[2, 0] = (3e-7 - W[2, 1:] @ x[1:]) / x[0]
    np.testing.assert_array_equal(W, ns["W"])
    z = W @ x
    assert z[2] == pytest.approx(3e-7, rel=1e-6) and abs(W[2, 1]) * 1e-6 < abs(z[2])  # component 1 cannot cross
    numeric = numdiff.gradient(ns["relu_layer"], x, h=1e-6, order=2)
    analytic = W.T @ (z > 0)
    assert checks.relative_error(analytic, numeric) > checks.SUSPICIOUS  # "WRONG", a false alarm
    steps = 1e-6 * np.eye(3)
    flagged = [i for i in range(3) if np.any(np.sign(W @ (x + steps[i])) != np.sign(W @ (x - steps[i])))]
    assert flagged == [0, 2]
    disagree = [i for i in range(3) if abs(analytic[i] - numeric[i]) > 1e-6]
    assert disagree == flagged  # "the flagged components, and only those, disagree"
    assert checks.relative_error(analytic[[1]], numeric[[1]]) < 1e-10  # "agree to 1e-11"


# section 2: vanishing and exploding


def _sigmoid_chain(gain: float, depth: int = 20, width: int = 64, seed: int = 0):
    """The widget's chain (same generator, same draws), pushed forward and back without lib: the ratio
    ‖g_0‖/‖g_L‖ from the product of the local Jacobians, and σ'(z) and σ(z) of every unit."""
    rng = np.random.default_rng(seed)
    weights = [rng.normal(scale=gain / np.sqrt(width), size=(width, width)) for _ in range(depth)]
    u = rng.normal(size=width)
    u /= np.linalg.norm(u)
    h, jacobian, slopes, outputs = rng.normal(size=width), np.eye(width), [], []
    for w in weights:
        z = w @ h
        h = 0.5 * (1 + np.tanh(z / 2))  # σ(z), another formula than lib's
        slope = h * (1 - h)
        jacobian = (slope[:, None] * w) @ jacobian  # d h_l / d h_0
        slopes.append(slope)
        outputs.append(h)
    return float(np.linalg.norm(jacobian.T @ u)), np.concatenate(slopes), np.concatenate(outputs)


def test_a_large_gain_balances_a_sigmoid_chain_only_by_saturating_it() -> None:
    gains = np.round(np.arange(0.25, 16.0 + 1e-9, 0.05), 2)  # the explorer's slider
    ratios = np.array([_sigmoid_chain(g)[0] for g in gains])
    best = float(gains[np.argmin(np.abs(np.log(ratios)))])
    assert best == pytest.approx(13.7)  # "near 13.7 the ratio comes back to 1"
    ratio, slopes, outputs = _sigmoid_chain(best)
    assert 0.95 < ratio < 1.05
    assert np.mean(np.minimum(outputs, 1 - outputs) < 0.03) > 0.5  # most outputs within 0.03 of 0 or 1
    assert f"{np.median(slopes):.3f}" == "0.002" and 80 < 0.25 / np.median(slopes) < 150  # a hundredth of 1/4
    assert round(best) == 14  # weights 14 times larger than at gain 1 (std gain/√n)
    assert 30 < _sigmoid_chain(15.0)[0] / ratio < 50  # "grows 40-fold"
    assert _sigmoid_chain(15.0)[0] == pytest.approx(gradient_flow.gradient_norms("sigmoid", 20, 15.0)[0], rel=1e-6)
    assert ratio == pytest.approx(gradient_flow.gradient_norms("sigmoid", 20, best)[0], rel=1e-6)
    assert gradient_flow.GAIN_RANGE[1] > best  # the slider reaches it
    # At gain 1: each layer divides by about 4, twenty by about 4^20 ≈ 1e12.
    assert f"{4.0**20:.0e}" == "1e+12"
    assert 4.0**-20 / 10 < _sigmoid_chain(1.0)[0] < 4.0**-20 * 10


def test_the_tanh_and_relu_bullets() -> None:
    depths = range(1, 61)  # the explorer's depth slider
    tanh1 = [gradient_flow.gradient_norms("tanh", d, 1.0)[0] for d in depths]
    he = [gradient_flow.gradient_norms("relu", d, np.sqrt(2))[0] for d in depths]
    assert all(gradient_flow.verdict(r) == "stable" for r in tanh1)  # gain 1 is nearly neutral
    assert all(gradient_flow.verdict(r) == "stable" for r in he)  # He: the same order at every depth up to 60
    shrink = [gradient_flow.gradient_norms("tanh", d, 0.8)[0] for d in (10, 20, 40, 60)]
    assert all(b < a / 5 for a, b in zip(shrink, shrink[1:], strict=False))  # below gain 1, geometric decay
    for d in (20, 40, 60):  # above it, growth slower than the gain alone
        assert 1 < gradient_flow.gradient_norms("tanh", d, 2.0)[0] < 2.0**d / 1e3


# sections 3 and 4: the engine


def test_the_version_counter_sees_assignments_to_data_but_not_writes_into_it(narrative) -> None:
    ns, _ = narrative
    Tensor = ns["Tensor"]
    t = Tensor(np.array([1.0, 2.0, 3.0]))
    t.add_(1.0)
    t.mul_(2.0)
    t.data = t.data + 1.0
    t.data -= 1.0
    assert t._version == 4  # add_, mul_, `t.data = v`, `t.data -= v`
    t.data[0] = 5.0
    np.copyto(t.data, np.zeros(3))
    shared = Tensor(t.data)  # another tensor on the same memory (a detach)
    shared.add_(1.0)
    assert t._version == 4 and np.array_equal(t.data, np.ones(3))  # changed three times, counted none
    # The silent wrong gradient of a write into the array, printed by the notebook.
    y = Tensor(np.array([1.0, 2.0, 3.0]))
    loss = (y**2).sum()
    y.data[0] = 2.0
    loss.backward()
    assert y._version == 0 and np.array_equal(y.grad, [4.0, 4.0, 6.0])  # the true gradient is [2, 4, 6]


def test_version_hooks_catch_add_but_not_item_assignment(narrative) -> None:
    """Exercise 4's check (written here as the contract states it) sees what the counter sees, no more."""
    ns, _ = narrative
    Tensor, using_hooks = ns["Tensor"], ns["using_hooks"]

    def save(*tensors):
        return [(t, t._version) for t in tensors]

    def unpack(saved, op):
        if any(t._version != v for t, v in saved):
            raise RuntimeError(f"{op} modified")
        return [t.data for t, _ in saved]

    with using_hooks(save, unpack):
        x = Tensor(np.array([1.0, 2.0, 3.0]))
        loss = (x**2).sum()
        x.add_(1.0)
        with pytest.raises(RuntimeError, match="pow"):
            loss.backward()
        a, b = Tensor(np.ones(2)), Tensor(np.ones(2))
        loss = (a + b).sum()
        a.add_(1.0)  # our engine saves the inputs of every op, even add's
        with pytest.raises(RuntimeError, match="add"):
            loss.backward()
        x = Tensor(np.array([1.0, 2.0, 3.0]))
        loss = (x**2).sum()
        x.data[0] = 2.0
        loss.backward()  # no error
        assert np.array_equal(x.grad, [4.0, 4.0, 6.0])


def test_the_training_loop_pitfalls(narrative) -> None:
    ns, printed = narrative
    assert "after backward #2: w.grad = [ -8. -20.]" in printed  # two backward passes double the gradient
    counts = [ns["nodes_kept"](ns["leaky_loop"](n)) for n in (1, 10, 100)]
    assert counts[0] < counts[1] < counts[2] and (counts[2] - counts[1]) == 10 * (counts[1] - counts[0])  # linear
    assert ns["nodes_kept"](ns["fixed_loop"](100)) == 0
    x = ns["Tensor"](np.array([1.0, 2.0, 3.0]))
    loss = (x**2).sum()
    x.add_(1.0)
    loss.backward()
    assert np.array_equal(x.grad, [4.0, 6.0, 8.0]) and x._version == 1


# exercise 1 and the advice on the step


ABSOLUTE = '''
def gradient_check(f, grad_f, x, h=1e-6):
    """Central differences with the absolute step h for every component (the contract before issue 11)."""
    x = np.array(x, dtype=float)
    a = np.asarray(grad_f(x.copy()), dtype=float)
    e = np.empty_like(x)
    for i in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[i] += h
        down[i] -= h
        e[i] = (f(up) - f(down)) / (2 * h)
    diff = np.abs(a - e)
    worst = np.unravel_index(int(np.argmax(diff)), x.shape)
    return float(diff[worst] / max(np.abs(a).max(), np.abs(e).max(), 1e-6)), tuple(int(k) for k in worst)
'''

ADVISED = ABSOLUTE.replace("up[i] += h", "up[i] += h * max(1.0, abs(x[i]))").replace(
    "down[i] -= h", "down[i] -= h * max(1.0, abs(x[i]))").replace(
    "e[i] = (f(up) - f(down)) / (2 * h)", "e[i] = (f(up) - f(down)) / (2 * h * max(1.0, abs(x[i])))")


def _run_exercise_1(solution: str) -> list[float]:
    """Run the notebook up to exercise 1's test cell (visible and hidden tests) with `solution` in place of
    the solution cell; return the largest |x_i| each call saw."""
    namespace: dict = {"__name__": "pitfalls"}
    cells = _cells()
    end = next(i for i, c in enumerate(cells) if _grade_id(c) == "08_pitfalls-gradient_check")
    seen: list[float] = []
    replaced = []
    for cell in cells[: end + 1]:
        if cell.cell_type != "code":
            continue
        if _grade_id(cell) == "08_pitfalls-gradient_check-solution":
            cell = cell.copy()
            cell.source = solution + (
                "\n_inner = gradient_check\n"
                "def gradient_check(f, grad_f, x, h=1e-6):\n"
                "    _SEEN.append(float(np.max(np.abs(x))))\n"
                "    return _inner(f, grad_f, x, h)\n")
            namespace["_SEEN"] = seen
        replaced.append(cell)
    _run(replaced, namespace)
    return seen


def test_a_gradient_check_written_as_the_text_advises_passes_exercise_1() -> None:
    """The rule of thumb (step h max(1, |x_i|)) is the contract of Exercise 1, and it is tested where it matters."""
    seen = _run_exercise_1(ADVISED)
    assert len(seen) > 20 and max(seen) > 3  # the hidden inputs include an |x_i| > 1 (3 to 8) by construction


def test_an_absolute_step_loses_the_points() -> None:
    """A step that does not grow with |x_i| is caught (by the cubic at |x_0| > 1 with h = 1e-2)."""
    with pytest.raises(AssertionError, match="h = 1e-2"):
        _run_exercise_1(ABSOLUTE)


def test_the_cubic_identity_of_the_hidden_step_check() -> None:
    """((x + s)³ - (x - s)³) / (6s) = x² + s²/3, the identity the hidden check of Exercise 1 uses."""
    sp = pytest.importorskip("sympy")
    x, s = sp.symbols("x s", positive=True)
    assert sp.simplify(((x + s) ** 3 - (x - s) ** 3) / (6 * s) - (x**2 + s**2 / 3)) == 0


# exercises 6 and 7: the claims of their statements


def test_the_smallest_norm_is_not_the_layer_that_kills_the_gradient() -> None:
    """"The smallest norm is not the answer: in a vanishing chain the norms keep shrinking after the culprit." On the
    visible test's chain (tanh, depth 5, layer 3 with weights 50 times too small), and on random ones."""
    rng = np.random.default_rng(86)
    for widths, gain in [([5, 5, 5, 5], 1.0), ([4, 6, 3, 5, 4], 2.0), ([6, 8, 5, 7], np.sqrt(2))]:
        gradient_flow.random_chain(rng, widths, gain)  # the visible test's draws before the chain with a culprit
    weights, x0, u = gradient_flow.random_chain(rng, [5, 5, 5, 5, 5, 5], 1.0, culprit=3)
    assert f"{1 / 0.02:g}" == "50"
    norms = gradient_flow.backward_norms(weights, x0, u, "tanh")
    ratios = norms[:-1] / norms[1:]
    assert int(np.argmin(ratios)) + 1 == 3 and int(np.argmin(norms)) < 3
    for seed in range(20):
        weights, x0, u = gradient_flow.random_chain(np.random.default_rng(seed), [6] * 8, 1.0, culprit=4)
        norms = gradient_flow.backward_norms(weights, x0, u, "tanh")
        assert int(np.argmin(norms[:-1] / norms[1:])) + 1 == 4 and int(np.argmin(norms)) < 4


def test_the_graph_cut_example(narrative) -> None:
    """Exercise 7's step: b2.grad is zero (the cut); a ReLU that is off gives zero gradients that are no cut."""
    ns, _ = narrative
    (cell,) = [c for c in _cells() if c.cell_type == "code" and "def cut_step" in c.source]
    scope = dict(ns)
    _run([cell], scope)
    grads = {name: t.grad for name, t in scope["params"].items()}
    assert not np.any(grads["b2"]) and all(np.all(grads[n] != 0) for n in ("w1", "b1", "w2", "scale"))
    order = {id(node) for node in ns["topological_order"](scope["cut_step"](scope["params"]))}
    assert id(scope["params"]["b2"]) not in order and all(id(scope["params"][n]) in order for n in ("w1", "scale"))
    Tensor = ns["Tensor"]
    w = Tensor(np.array([0.3, -0.2]))
    loss = ((w * 1.0).tanh() - 10.0).relu().sum()  # a ReLU that is off
    loss.backward()
    assert not np.any(w.grad) and id(w) in {id(n) for n in ns["topological_order"](loss)}
    v = Tensor(np.array([0.3, -0.2]))
    with ns["using_rules"](mul=lambda inputs, out, up: (up * inputs[1], up * inputs[0])):
        loss = (v * 0.0).sum()  # multiplied by 0: connected, and its gradient is 0 (with a correct mul rule)
        loss.backward()
    assert not np.any(v.grad) and id(v) in {id(n) for n in ns["topological_order"](loss)}


def test_the_prose_no_longer_makes_the_false_claims() -> None:
    prose = _prose()
    for false in ["already above `checks.RTOL`", "Can any gain rescue", "bumped by every in-place change",
                  "that is $\\varepsilon^{1/3}\\max(1,|x|)$ as you derived", "suspicious: a kink",
                  "keeps the norm about constant at any depth", "some sit within $h$ of 0",
                  "uses the absolute step `h` it is given", "Exercise 1 works at"]:
        assert false not in prose, false
