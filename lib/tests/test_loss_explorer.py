"""Tests of calcml.loss_explorer: the softmax/cross-entropy explorer and the ridge contour plot."""

from __future__ import annotations

import ipywidgets
import matplotlib.colors as mcolors
import numpy as np
import pytest
import sympy as sp
from matplotlib.axes import Axes
from numpy.typing import NDArray

from calcml import loss_explorer, plots

from .widget_helpers import assert_interactive, assert_static, shown_image

pytestmark = pytest.mark.filterwarnings("error")


def _softmax(Z: NDArray[np.float64]) -> NDArray[np.float64]:
    """The textbook (naive) softmax of each row; fine for the small logits used here."""
    E = np.exp(Z)
    return E / E.sum(axis=1, keepdims=True)


def _sympy_loss_and_grad(z: NDArray[np.float64], c: int) -> tuple[float, NDArray[np.float64]]:
    """-log softmax(z)_c and its gradient, differentiated symbolically by sympy."""
    s = sp.symbols(f"z0:{z.size}")
    loss = -sp.log(sp.exp(s[c]) / sum(sp.exp(v) for v in s))
    at = dict(zip(s, (sp.Float(v) for v in z), strict=True))
    return float(loss.subs(at)), np.array([float(sp.diff(loss, v).subs(at)) for v in s])


def _heights(ax: Axes, gid: str) -> NDArray[np.float64]:
    return np.array([patch.get_height() for patch in ax.patches if patch.get_gid() == gid])


# the explorer, static


@pytest.mark.usefixtures("static")
def test_static_mode_draws_labelled_figure_and_makes_no_widget(widgets_made: list[ipywidgets.Widget]) -> None:
    explorer = loss_explorer.loss_explorer(_softmax)
    bundle = assert_static(explorer, widgets_made)
    assert explorer.sliders is None and explorer.dropdown is None
    assert bundle["text/plain"].startswith("Softmax + cross-entropy: loss −log p_1 = ")
    left, right = explorer.figure.axes
    assert (left.get_xlabel(), left.get_ylabel()) == ("class k", "probability $p_k$")
    assert (right.get_xlabel(), right.get_ylabel()) == ("class k", r"gradient $\partial\ell/\partial z_k$")


@pytest.mark.usefixtures("static")
@pytest.mark.parametrize(("logits", "c"), [((2.0, 0.5, -1.0), 1), ((0.0, 0.0, 0.0), 0), ((-3.0, 4.0, 1.5, 0.2), 3)])
def test_loss_and_numerical_gradient_match_sympy(logits: tuple[float, ...], c: int) -> None:
    explorer = loss_explorer.loss_explorer(_softmax, logits=logits, true_class=c)
    loss, grad = _sympy_loss_and_grad(np.array(logits), c)
    assert explorer.loss == pytest.approx(loss, rel=1e-12)
    np.testing.assert_allclose(explorer.numeric_grad, grad, atol=1e-9)
    np.testing.assert_allclose(explorer.grad, explorer.numeric_grad)


@pytest.mark.usefixtures("static")
def test_gradient_pushes_true_class_up_and_others_down_in_proportion_to_p() -> None:
    explorer = loss_explorer.loss_explorer(_softmax, logits=(1.0, -0.5, 2.5), true_class=0)
    g, p = explorer.grad, explorer.p
    assert g[0] == pytest.approx(p[0] - 1.0, abs=1e-9) and g[0] < 0
    np.testing.assert_allclose(g[1:], p[1:], atol=1e-9)
    assert abs(g.sum()) < 1e-9


@pytest.mark.usefixtures("static")
def test_bars_show_p_and_gradient_and_highlight_the_true_class() -> None:
    explorer = loss_explorer.loss_explorer(_softmax, logits=(0.3, 1.2, -2.0), true_class=2)
    left, right = explorer.figure.axes
    np.testing.assert_allclose(_heights(left, "p"), explorer.p)
    np.testing.assert_allclose(_heights(right, "grad"), explorer.grad)
    np.testing.assert_allclose(_heights(right, "p-outline"), explorer.p)
    colours = [mcolors.to_hex(patch.get_facecolor()) for patch in left.patches if patch.get_gid() == "p"]
    assert colours[2] == plots.COLORS["vermillion"].lower() and colours[0] == plots.COLORS["blue"].lower()
    assert all(colour.upper() in plots.PALETTE for colour in colours)


@pytest.mark.usefixtures("static")
def test_update_changes_state_and_figure() -> None:
    explorer = loss_explorer.loss_explorer(_softmax)
    before = explorer.png()
    grad = explorer.update(logits=(0.0, 10.0, -10.0), true_class=0)
    np.testing.assert_array_equal(explorer.logits, [0.0, 6.0, -6.0])  # clipped to logit_range
    assert explorer.true_class == 0 and grad is explorer.grad
    assert explorer.loss == pytest.approx(-np.log(_softmax(np.array([[0.0, 6.0, -6.0]]))[0, 0]))
    assert explorer.png() != before


@pytest.mark.usefixtures("static")
def test_a_given_grad_fn_is_shown_and_compared_with_numdiff() -> None:
    calls: list[tuple[tuple[int, ...], NDArray[np.int64]]] = []

    def flipped(Z: NDArray[np.float64], y: NDArray[np.int64]) -> NDArray[np.float64]:
        calls.append((Z.shape, y))
        P = _softmax(Z)
        P[np.arange(len(y)), y] -= 1.0
        return -P  # a sign error, which the readout must expose

    explorer = loss_explorer.loss_explorer(_softmax, flipped, true_class=2)
    assert calls[-1][0] == (1, 3) and calls[-1][1].tolist() == [2]
    np.testing.assert_allclose(explorer.grad, -explorer.numeric_grad, atol=1e-9)
    text = explorer.readout_text()
    assert "your grad_fn" in text
    assert text.endswith(f"= {2 * np.max(np.abs(explorer.numeric_grad)):.1e}")


def test_true_class_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError, match="true_class"):
        loss_explorer.loss_explorer(_softmax, true_class=3)


@pytest.mark.parametrize("smoothing", [-0.1, 1.0])
def test_smoothing_out_of_range_is_refused(smoothing: float) -> None:
    with pytest.raises(ValueError, match="smoothing"):
        loss_explorer.loss_explorer(_softmax, smoothing=smoothing)


@pytest.mark.usefixtures("static")
@pytest.mark.parametrize(("logits", "c", "s"), [((2.0, 0.5, -1.0), 1, 0.1), ((-3.0, 4.0, 1.5, 0.2), 3, 0.3)])
def test_label_smoothing_loss_and_gradient_match_sympy(logits: tuple[float, ...], c: int, s: float) -> None:
    """With smoothing s the loss is -Σ t_k log p_k with t = (1 - s) onehot(c) + s/K, differentiated by sympy."""
    K = len(logits)
    zs = sp.symbols(f"z0:{K}")
    total = sum(sp.exp(v) for v in zs)
    s_exact = sp.nsimplify(s)
    t = [(1 - s_exact) * int(k == c) + s_exact / K
         for k in range(K)]
    loss = -sum(t[k] * sp.log(sp.exp(zs[k]) / total) for k in range(K))
    at = dict(zip(zs, (sp.Float(v) for v in logits), strict=True))
    explorer = loss_explorer.loss_explorer(_softmax, logits=logits, true_class=c, smoothing=s)
    np.testing.assert_allclose(explorer.targets().sum(), 1.0)
    assert explorer.loss == pytest.approx(float(loss.subs(at)), rel=1e-12)
    np.testing.assert_allclose(explorer.numeric_grad, [float(sp.diff(loss, v).subs(at)) for v in zs], atol=1e-9)
    assert f"(s = {s:g})" in explorer.readout_text()


# the explorer, interactive


@pytest.mark.usefixtures("interactive")
def test_controls_are_findable_accessible_and_in_the_container() -> None:
    explorer = loss_explorer.loss_explorer(_softmax)
    assert explorer.sliders is not None and explorer.dropdown is not None
    assert len(explorer.sliders) == 3
    assert_interactive(explorer, "calcml-loss-explorer", [*explorer.sliders, explorer.dropdown])
    assert "calcml-loss-readout" in explorer.readout._dom_classes
    assert [s.value for s in explorer.sliders] == [2.0, 0.5, -1.0] and explorer.dropdown.value == 1


@pytest.mark.usefixtures("interactive")
def test_moving_a_slider_updates_readout_and_image() -> None:
    explorer = loss_explorer.loss_explorer(_softmax)
    before_text, before_image = explorer.readout.value, shown_image(explorer)
    explorer.sliders[1].value = 4.0
    assert explorer.logits[1] == 4.0
    expected = -np.log(_softmax(np.array([[2.0, 4.0, -1.0]]))[0, 1])
    assert explorer.loss == pytest.approx(expected)
    assert f"{expected:.4f}" in explorer.readout.value and explorer.readout.value != before_text
    assert shown_image(explorer) != before_image


@pytest.mark.usefixtures("interactive")
def test_the_dropdown_changes_the_true_class() -> None:
    explorer = loss_explorer.loss_explorer(_softmax)
    explorer.dropdown.value = 0
    assert explorer.true_class == 0
    assert "p_0" in explorer.readout.value
    assert explorer.grad[0] < 0 < explorer.grad[1]


@pytest.mark.usefixtures("interactive")
def test_update_moves_the_controls_and_redraws_once(monkeypatch: pytest.MonkeyPatch) -> None:
    explorer = loss_explorer.loss_explorer(_softmax)
    redraws: list[int] = []
    original = explorer._draw
    monkeypatch.setattr(explorer, "_draw", lambda: (redraws.append(1), original())[1])
    explorer.update(logits=(1.0, 2.0, 3.0), true_class=2)
    assert [s.value for s in explorer.sliders] == [1.0, 2.0, 3.0] and explorer.dropdown.value == 2
    assert len(redraws) == 1 and "p_2" in explorer.readout.value


# ridge


def test_ridge_loss_grid_matches_the_formula_point_by_point() -> None:
    rng = np.random.default_rng(3)
    X, y = rng.normal(size=(7, 2)), rng.normal(size=7)
    w1, w2 = rng.normal(size=(2, 4, 5))
    grid = loss_explorer.ridge_loss_grid(X, y, 0.7, w1, w2)
    for idx in np.ndindex(w1.shape):
        w = np.array([w1[idx], w2[idx]])
        assert grid[idx] == pytest.approx(np.sum((X @ w - y) ** 2) / 7 + 0.7 * w @ w, rel=1e-12)


def test_ridge_contours_are_labelled_and_their_minimum_shrinks_towards_zero() -> None:
    rng = np.random.default_rng(4)
    x1 = rng.normal(size=30)
    X = np.column_stack([x1, x1 + 0.3 * rng.normal(size=30)])
    y = X @ np.array([1.5, -0.5]) + 0.1 * rng.normal(size=30)
    alphas = [0.0, 0.3, 3.0]
    axes = loss_explorer.ridge_contours(X, y, alphas)
    assert len(axes) == 3
    norms = []
    for ax, alpha in zip(axes, alphas, strict=True):
        assert (ax.get_xlabel(), ax.get_ylabel()) == ("weight w₁", "weight w₂")
        assert ax.get_title() == f"α = {alpha:g}"
        (marker,) = [line for line in ax.get_lines() if line.get_gid() == "min"]
        w_grid = np.array([marker.get_xdata()[0], marker.get_ydata()[0]])
        # Independent reference: ridge is least squares on data augmented with sqrt(N alpha) I.
        A = np.vstack([X, np.sqrt(30 * alpha) * np.eye(2)])
        w_best = np.linalg.lstsq(A, np.concatenate([y, np.zeros(2)]), rcond=None)[0]
        assert np.max(np.abs(w_grid - w_best)) <= 0.03 + 1e-12  # one grid step of 6/200
        norms.append(np.linalg.norm(w_grid))
    assert norms[0] > norms[1] > norms[2]
