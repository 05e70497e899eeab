"""Tests of calcml.linear_maps: the circle and its images, the two-panel figure, the explorer, the cost plot."""

from __future__ import annotations

from typing import Any

import ipywidgets
import matplotlib.colors as mcolors
import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib.lines import Line2D

from calcml import linear_maps, plots

from .widget_helpers import assert_interactive, assert_static, shown_image

pytestmark = pytest.mark.filterwarnings("error")

# A map with a fold: det J = 1 - x2 cos(x1) changes sign, so orientation flips are exercised.
_u, _v = sp.symbols("u v")
_F = sp.Matrix([_u + _v**2 / 2, _v + sp.sin(_u)])
F = sp.lambdify([(_u, _v)], list(_F), "numpy")
J_EXACT = sp.lambdify([(_u, _v)], _F.jacobian([_u, _v]), "numpy")


def f(p: np.ndarray) -> np.ndarray:
    return np.array(F(p), dtype=float)


def _signed_area(points: np.ndarray) -> float:
    x, y = points[:, 0], points[:, 1]
    return 0.5 * float(np.sum(x[:-1] * y[1:] - x[1:] * y[:-1]))


def _line(ax: Any, gid: str) -> Line2D:
    (line,) = [line for line in ax.get_lines() if line.get_gid() == gid]
    return line


# local_images


@settings(max_examples=25, deadline=None)
@given(st.floats(-2, 2), st.floats(-2, 2), st.floats(0.01, 1.0))
def test_local_images_are_the_circle_its_image_and_the_linear_prediction(x1: float, x2: float, r: float) -> None:
    x = np.array([x1, x2])
    circle, image, prediction, J = linear_maps.local_images(f, x, r)
    np.testing.assert_allclose(J, np.array(J_EXACT(x), dtype=float), rtol=1e-8, atol=1e-9)  # sympy
    np.testing.assert_allclose(np.linalg.norm(circle - x, axis=1), r)
    np.testing.assert_allclose(circle[0], circle[-1], atol=1e-12)
    np.testing.assert_allclose(image, np.array([f(p) for p in circle]))
    np.testing.assert_allclose(prediction, f(x) + (circle - x) @ J.T, atol=1e-12)
    # The prediction is the linear image of the circle: signed area ratio det J, orientation included.
    assert _signed_area(prediction) == pytest.approx(np.linalg.det(J) * _signed_area(circle), rel=1e-9, abs=1e-12)


def test_the_gap_shrinks_like_r_squared() -> None:
    x = np.array([0.7, -0.4])
    gaps = []
    for r in (0.2, 0.1, 0.05, 0.025):
        _, image, prediction, _ = linear_maps.local_images(f, x, r)
        gaps.append(np.max(np.linalg.norm(image - prediction, axis=1)))
    ratios = np.array(gaps[1:]) / np.array(gaps[:-1])
    np.testing.assert_allclose(ratios, 0.25, atol=0.02)


def test_an_exact_jacobian_is_used_when_given() -> None:
    wrong = np.array([[2.0, 0.0], [0.0, 3.0]])
    *_, J = linear_maps.local_images(f, (0.1, 0.2), 0.3, jac=lambda x: wrong)
    np.testing.assert_array_equal(J, wrong)


@pytest.mark.parametrize(("x", "r"), [((0.0, 0.0, 0.0), 0.1), ((0.0, 0.0), 0.0), ((0.0, 0.0), -1.0)])
def test_bad_points_and_radii_are_refused(x: tuple[float, ...], r: float) -> None:
    with pytest.raises(ValueError, match="radius"):
        linear_maps.local_images(f, x, r)


# draw_local_map


def test_the_figure_is_labelled_coloured_and_shows_the_columns_of_j() -> None:
    x, r = np.array([0.5, 1.5]), 0.4
    left, right = linear_maps.draw_local_map(f, x, r)
    assert (left.get_xlabel(), left.get_ylabel()) == ("$x_1$", "$x_2$")
    assert (right.get_xlabel(), right.get_ylabel()) == ("$y_1$", "$y_2$")
    circle, image, prediction, J = linear_maps.local_images(f, x, r)
    np.testing.assert_allclose(np.column_stack(_line(left, "circle").get_data()), circle)
    np.testing.assert_allclose(np.column_stack(_line(right, "image").get_data()), image)
    np.testing.assert_allclose(np.column_stack(_line(right, "prediction").get_data()), prediction)
    palette = {mcolors.to_hex(c) for c in plots.PALETTE}
    assert {mcolors.to_hex(line.get_color()) for ax in (left, right) for line in ax.get_lines()} <= palette
    tips = [np.array(a.xy) - np.array(a.xyann) for a in right.texts]
    np.testing.assert_allclose(tips, [r * J[:, 0], r * J[:, 1]], atol=1e-12)
    assert right.get_legend() is not None


# the explorer


@pytest.mark.usefixtures("static")
def test_static_explorer_shows_a_figure_and_no_widget(widgets_made: list[ipywidgets.Widget]) -> None:
    explorer = linear_maps.linear_map_explorer(f, x0=(0.5, 1.5), radius=0.2)
    bundle = assert_static(explorer, widgets_made)
    assert explorer.sliders is None
    det = 1 - 1.5 * np.cos(0.5)
    assert f"det J = {det:.4f}" in bundle["text/plain"]


@pytest.mark.usefixtures("static")
def test_update_recomputes_jacobian_and_gap_and_clips() -> None:
    explorer = linear_maps.linear_map_explorer(f, x_range=(-1.0, 1.0))
    J = explorer.update((0.3, -0.2))
    np.testing.assert_allclose(J, np.array(J_EXACT((0.3, -0.2)), dtype=float), rtol=1e-8)
    explorer.update(radius=0.1)
    gap = explorer.gap
    explorer.update(radius=0.05)
    assert explorer.gap == pytest.approx(gap / 4, rel=0.1)
    explorer.update((5.0, -5.0), radius=7.0)
    np.testing.assert_array_equal(explorer.x, [1.0, -1.0])
    assert explorer.radius == 1.0


@pytest.mark.usefixtures("interactive")
def test_moving_a_slider_updates_jacobian_readout_and_figure() -> None:
    explorer = linear_maps.linear_map_explorer(f, x0=(0.0, 0.0), radius=0.3)
    assert explorer.sliders is not None and explorer.readout is not None
    before = shown_image(explorer)
    explorer.sliders["x2"].value = 1.2
    np.testing.assert_allclose(explorer.x, [0.0, 1.2])
    assert f"det J = {1 - 1.2:.4f}" in explorer.readout.value
    assert shown_image(explorer) != before
    gap = explorer.gap
    explorer.sliders["radius"].value = 0.15
    assert explorer.radius == 0.15 and explorer.gap < gap / 3
    assert "0.150" in explorer.readout.value


@pytest.mark.usefixtures("interactive")
def test_update_moves_the_sliders_and_redraws_once(monkeypatch: pytest.MonkeyPatch) -> None:
    explorer = linear_maps.linear_map_explorer(f)
    calls: list[int] = []
    real = linear_maps._draw_panels
    monkeypatch.setattr(linear_maps, "_draw_panels", lambda *a: calls.append(1) or real(*a))
    explorer.update((1.0, -1.0), radius=0.5)
    assert calls == [1]
    assert [s.value for s in explorer.sliders.values()] == [1.0, -1.0, 0.5]


@pytest.mark.usefixtures("interactive")
def test_interactive_explorer_is_findable_and_accessible() -> None:
    explorer = linear_maps.linear_map_explorer(f)
    assert_interactive(explorer, "calcml-linear-map-explorer", list(explorer.sliders.values()))
    assert list(explorer.sliders) == ["x1", "x2", "radius"]
    assert all(isinstance(s, ipywidgets.FloatSlider) for s in explorer.sliders.values())
    assert "calcml-jacobian-readout" in explorer.readout._dom_classes
    assert "monospace" in explorer.readout.value  # the rows of J line up


# plot_mode_costs


def test_mode_costs_plot_is_labelled_and_log_log() -> None:
    ns = [1, 10, 100]
    ax = linear_maps.plot_mode_costs(ns, [1e-5, 1e-4, 1e-3], [2e-5, 2e-5, 2e-5], xlabel="number of inputs n")
    assert ax.get_xlabel() == "number of inputs n" and ax.get_ylabel().strip()
    assert ax.get_xscale() == ax.get_yscale() == "log"
    forward, reverse = ax.get_lines()
    np.testing.assert_allclose(forward.get_ydata(), [1e-5, 1e-4, 1e-3])
    np.testing.assert_allclose(reverse.get_xdata(), ns)
    assert "forward" in forward.get_label() and "reverse" in reverse.get_label()
