"""Tests of calcml.gradient_flow: backward norms against numdiff, the vanishing/exploding facts, the
float32/float64 step-size errors, the plots and the live explorer."""

from __future__ import annotations

from typing import Any

import ipywidgets
import matplotlib.colors as mcolors
import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from calcml import checks, gradient_flow, numdiff, plots

from .strategies import seeds
from .widget_helpers import assert_interactive, assert_static, shown_image

pytestmark = pytest.mark.filterwarnings("error")
ACTIVATIONS = sorted(gradient_flow.ACTIVATIONS)


# activations


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_derivatives_agree_with_sympy(name: str) -> None:
    z = sp.symbols("z", real=True)
    exprs = {"sigmoid": 1 / (1 + sp.exp(-z)), "tanh": sp.tanh(z), "relu": sp.Max(z, 0)}
    f = sp.lambdify(z, exprs[name], "numpy")
    df = sp.lambdify(z, sp.diff(exprs[name], z), "numpy")
    sigma, dsigma = gradient_flow.ACTIVATIONS[name]
    xs = np.array([-30.0, -2.5, -0.3, 0.4, 1.7, 30.0])
    np.testing.assert_allclose(sigma(xs), np.array([float(f(x)) for x in xs]), rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(dsigma(xs), np.array([float(df(x)) for x in xs]), rtol=1e-9, atol=1e-300)


def test_sigmoid_slope_is_at_most_a_quarter() -> None:
    _, dsigma = gradient_flow.ACTIVATIONS["sigmoid"]
    zs = np.linspace(-20, 20, 4001)
    assert dsigma(zs).max() == pytest.approx(0.25)


# backward norms


@settings(max_examples=25, deadline=None)
@given(seed=seeds, activation=st.sampled_from(ACTIVATIONS), depth=st.integers(1, 4))
def test_backward_norms_are_the_norms_of_numerical_gradients(seed: int, activation: str, depth: int) -> None:
    rng = np.random.default_rng(seed)
    widths = rng.integers(2, 5, size=depth + 1)
    weights = [rng.normal(size=(widths[k + 1], widths[k])) for k in range(depth)]
    x, u = rng.normal(size=widths[0]), rng.normal(size=widths[-1])
    sigma, _ = gradient_flow.ACTIVATIONS[activation]
    hs, pre = [x], []
    for w in weights:
        pre.append(w @ hs[-1])
        hs.append(sigma(pre[-1]))
    if activation == "relu" and min(np.min(np.abs(z)) for z in pre) < 1e-2:
        return  # too close to the kink of a ReLU for a finite difference
    norms = gradient_flow.backward_norms(weights, x, u, activation)
    assert norms.shape == (depth + 1,)
    for layer in range(depth + 1):  # the gradient with respect to h_layer, by differencing the rest of the chain
        def rest(v: np.ndarray, layer: int = layer) -> float:
            for w in weights[layer:]:
                v = sigma(w @ v)
            return float(u @ v)

        assert norms[layer] == pytest.approx(np.linalg.norm(numdiff.gradient(rest, hs[layer])), rel=1e-6, abs=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sigmoid_layers_shrink_the_gradient_by_at_least_four_times_the_weight_norm(seed: int) -> None:
    rng = np.random.default_rng(seed)
    weights = [rng.normal(scale=1 / 4, size=(16, 16)) for _ in range(12)]
    norms = gradient_flow.backward_norms(weights, rng.normal(size=16), rng.normal(size=16), "sigmoid")
    spectral = np.array([np.linalg.norm(w, 2) for w in weights])
    assert np.all(norms[:-1] <= spectral / 4 * norms[1:] * (1 + 1e-12))  # ‖Wᵀ(σ'⊙g)‖ ≤ ‖W‖ max σ' ‖g‖


def test_gradient_norms_start_from_a_unit_gradient_and_are_reproducible() -> None:
    norms = gradient_flow.gradient_norms("tanh", 7, 1.0, width=16, seed=3)
    assert norms.shape == (8,) and norms[-1] == pytest.approx(1.0)
    np.testing.assert_array_equal(norms, gradient_flow.gradient_norms("tanh", 7, 1.0, width=16, seed=3))


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_the_textbook_facts(seed: int) -> None:
    depth = 20
    sigmoid = gradient_flow.gradient_norms("sigmoid", depth, 1.0, width=128, seed=seed)[0]
    assert 4.0**-depth / 100 < sigmoid < 4.0**-depth * 100  # about 4^-L
    he = gradient_flow.gradient_norms("relu", depth, np.sqrt(2), width=128, seed=seed)[0]
    assert gradient_flow.verdict(he) == "stable"
    assert gradient_flow.verdict(gradient_flow.gradient_norms("relu", depth, 3.0, width=128, seed=seed)[0]) == \
        "exploding"


@settings(max_examples=20, deadline=None)
@given(seeds, st.lists(st.integers(1, 40), min_size=2, max_size=6), st.floats(0.5, 3.0))
def test_chain_weights_have_the_shapes_and_the_variance_gain_squared_over_fan_in(seed, widths, gain) -> None:
    weights = gradient_flow.chain_weights(np.random.default_rng(seed), widths, gain)
    assert [w.shape for w in weights] == [(n_out, n_in) for n_in, n_out in zip(widths, widths[1:], strict=False)]
    big = gradient_flow.chain_weights(np.random.default_rng(seed), [400, 300], gain)[0]
    assert np.var(big) == pytest.approx(gain**2 / 400, rel=0.05)


def test_a_random_chain_with_a_culprit_is_the_same_chain_with_one_layer_shrunk() -> None:
    widths = [5, 6, 4, 5]
    weights, x, u = gradient_flow.random_chain(np.random.default_rng(7), widths, 1.0)
    shrunk, x2, u2 = gradient_flow.random_chain(np.random.default_rng(7), widths, 1.0, culprit=2, shrink=0.1)
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(u, u2)
    np.testing.assert_array_equal(shrunk[1], 0.1 * weights[1])
    np.testing.assert_array_equal(shrunk[0], weights[0])
    assert x.shape == (5,) and u.shape == (5,) and np.linalg.norm(u) == pytest.approx(1.0, rel=1e-15)
    # The culprit's backward step shrinks the gradient ten times more than the same step in the plain chain.
    plain, culprit = (gradient_flow.backward_norms(w, x, u, "tanh") for w in (weights, shrunk))
    assert culprit[1] / culprit[2] < plain[1] / plain[2] / 5


def test_sigmoid_is_the_logistic_function_without_overflow() -> None:
    z = np.array([-800.0, -30.0, -1.0, 0.0, 2.5, 800.0])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        got = gradient_flow.sigmoid(z)
    expected = [0.0, 1 / (1 + np.exp(30.0)), 1 / (1 + np.e), 0.5, 1 / (1 + np.exp(-2.5)), 1.0]
    np.testing.assert_allclose(got, expected, rtol=1e-14, atol=0)
    assert gradient_flow.ACTIVATIONS["sigmoid"][0] is gradient_flow.sigmoid


@pytest.mark.parametrize(("ratio", "expected"), [(1e-3, "vanishing"), (0.0, "vanishing"), (0.5, "stable"),
                                                 (99.0, "stable"), (1e3, "exploding")])
def test_verdict_thresholds(ratio: float, expected: str) -> None:
    assert gradient_flow.verdict(ratio) == expected


def test_plot_gradient_norms_has_log_axes_labels_and_one_curve_per_run() -> None:
    runs = [("sigmoid", 1.0), ("relu", 2**0.5)]
    ax = gradient_flow.plot_gradient_norms(runs, depth=10, width=16)
    assert ax.get_xlabel() and ax.get_ylabel() and ax.get_yscale() == "log"
    lines = ax.get_lines()
    assert len(lines) == 2
    for line, (activation, gain) in zip(lines, runs, strict=True):
        assert activation in line.get_label()
        assert mcolors.to_hex(line.get_color()) in {mcolors.to_hex(c) for c in plots.PALETTE}
        np.testing.assert_allclose(line.get_ydata(), gradient_flow.gradient_norms(activation, 10, gain, width=16))


# float32 against float64


def test_central_difference_errors_are_relative_errors_of_the_quotient() -> None:
    steps = np.array([1e-1, 1e-3])
    errors = gradient_flow.central_difference_errors(np.exp, np.exp, 0.5, steps)
    quotient = (np.exp(0.5 + steps) - np.exp(0.5 - steps)) / (2 * steps)
    expected = [checks.relative_error(q, np.exp(0.5)) for q in quotient]
    np.testing.assert_allclose(errors, expected, rtol=1e-6)
    assert errors[0] == pytest.approx(0.1**2 / 6, rel=1e-2)  # truncation error h²f'''/(6f') of exp


@pytest.mark.parametrize("x0", [0.3, 1.0, -1.3])
@pytest.mark.parametrize(("f", "df"), [(np.exp, np.exp), (np.sin, np.cos)], ids=["exp", "sin"])
def test_the_best_step_moves_to_eps_to_the_third_in_each_dtype(f: Any, df: Any, x0: float) -> None:
    steps = np.logspace(-10, 0, 201)
    for dtype in (np.float64, np.float32):
        best = float(np.finfo(dtype).eps) ** (1 / 3)
        errors = gradient_flow.central_difference_errors(f, df, x0, steps, dtype)

        def typical(h: float, errors: np.ndarray = errors) -> float:  # median within 3x: round-off is noisy
            return float(np.median(errors[(steps > h / 3) & (steps < h * 3)]))

        assert typical(best) * 10 < min(typical(best / 100), typical(best * 100)), dtype
        if dtype is np.float64:
            assert typical(best) < 1e-9
        else:  # even at its best step, a float32 check is not far below checks.RTOL
            assert 1e-6 < typical(best) < 1e-4


def test_plot_step_size_by_dtype_draws_both_dtypes_on_log_axes() -> None:
    ax = gradient_flow.plot_step_size_by_dtype(np.sin, np.cos, 1.0, np.logspace(-8, 0, 33))
    assert ax.get_xlabel() and ax.get_ylabel()
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    labels = [line.get_label() for line in ax.get_lines()]
    assert "float32" in labels and "float64" in labels


# the explorer


def test_unknown_activation_is_refused() -> None:
    with pytest.raises(ValueError, match="activation"):
        gradient_flow.gradient_flow_explorer(activation="softsign")


@pytest.mark.usefixtures("static")
def test_static_explorer_draws_the_figure_and_makes_no_widget(widgets_made: list[ipywidgets.Widget]) -> None:
    explorer = gradient_flow.gradient_flow_explorer(depth=12, gain=1.0, activation="sigmoid", width=16)
    bundle = assert_static(explorer, widgets_made)
    assert explorer.depth is None and explorer.gain is None and explorer.activation is None
    assert bundle["text/plain"].startswith("Gradient flow: sigmoid, depth 12") and "vanishing" in bundle["text/plain"]
    assert explorer.ratio == pytest.approx(gradient_flow.gradient_norms("sigmoid", 12, 1.0, width=16)[0])
    assert explorer.update(activation="relu", gain=np.sqrt(2)) == pytest.approx(
        gradient_flow.gradient_norms("relu", 12, np.sqrt(2), width=16)[0])


@pytest.mark.usefixtures("interactive")
def test_moving_the_controls_updates_readout_and_figure() -> None:
    explorer = gradient_flow.gradient_flow_explorer(depth=20, gain=1.0, activation="sigmoid")
    assert "vanishing" in explorer.readout.value
    before = shown_image(explorer)
    explorer.activation.value = "relu"
    explorer.gain.value = 1.4
    assert "relu" in explorer.readout.value and "stable" in explorer.readout.value
    assert shown_image(explorer) != before
    explorer.gain.value = 3.0
    assert "exploding" in explorer.readout.value
    explorer.depth.value = 5
    assert "depth 5" in explorer.readout.value and explorer.norms.shape == (6,)
    (line,) = explorer.figure.axes[0].get_lines()
    np.testing.assert_allclose(line.get_ydata(), gradient_flow.gradient_norms("relu", 5, 3.0))


@pytest.mark.usefixtures("interactive")
def test_update_moves_the_controls_and_clips_them() -> None:
    explorer = gradient_flow.gradient_flow_explorer()
    explorer.update(depth=500, gain=1.5, activation="tanh")
    assert (explorer.depth.value, explorer.gain.value, explorer.activation.value) == (60, 1.5, "tanh")
    assert explorer.norms.shape == (61,) and "depth 60" in explorer.readout.value


@pytest.mark.usefixtures("interactive")
def test_explorer_is_findable_and_every_control_is_described() -> None:
    explorer = gradient_flow.gradient_flow_explorer()
    assert_interactive(explorer, "calcml-gradient-flow", [explorer.activation, explorer.depth, explorer.gain])
    assert "calcml-gradient-flow-readout" in explorer.readout._dom_classes


def _saturated_fraction(activation: str, depth: int, gain: float, width: int = 64, seed: int = 0) -> float:
    """The fraction of units, over all layers, whose σ'(z) is below a tenth of σ''s peak, for the chain
    `gradient_norms` draws (same generator, same order of draws)."""
    rng = np.random.default_rng(seed)
    weights = [rng.normal(scale=gain / np.sqrt(width), size=(width, width)) for _ in range(depth)]
    rng.normal(size=width)  # the upstream gradient
    h, slopes = rng.normal(size=width), []
    for w in weights:
        z = w @ h
        h = 1 / (1 + np.exp(-z))
        slopes.append(h * (1 - h))
    return float(np.mean(np.concatenate(slopes) < 0.025))


@pytest.mark.usefixtures("interactive")
def test_the_gain_slider_reaches_the_gain_where_a_saturated_sigmoid_chain_recovers() -> None:
    """With the slider stopping at 4, "no gain rescues a sigmoid chain" looked true; it is not (the ratio comes
    back near 1 around gain 13.7, with most units saturated), and the slider now reaches that gain and passes it."""
    explorer = gradient_flow.gradient_flow_explorer(depth=20, gain=1.0, activation="sigmoid")
    assert (explorer.gain.min, explorer.gain.max) == gradient_flow.GAIN_RANGE
    gains = np.round(np.arange(explorer.gain.min, explorer.gain.max + 1e-9, explorer.gain.step), 2)
    ratios = np.array([gradient_flow.gradient_norms("sigmoid", 20, g)[0] for g in gains])
    best = float(gains[np.argmin(np.abs(np.log(ratios)))])
    assert best < explorer.gain.max and np.max(ratios) > gradient_flow.EXPLODING  # reachable, and passed
    assert explorer.update(gain=best) == pytest.approx(ratios[np.argmin(np.abs(np.log(ratios)))])
    assert explorer.gain.value == pytest.approx(best) and "stable" in explorer.readout.value
    assert _saturated_fraction("sigmoid", 20, best) > 0.5 > _saturated_fraction("sigmoid", 20, 1.0)
