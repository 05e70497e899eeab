"""Tests of calcml.gradient_field: grid evaluation, the gradient field plot and the gradient explorer."""

from __future__ import annotations

from typing import Any

import ipywidgets
import matplotlib.pyplot as plt
import numpy as np
import pytest
import sympy as sp
from matplotlib.quiver import Quiver

from calcml import gradient_field

from .widget_helpers import assert_interactive, assert_static, shown_image

pytestmark = pytest.mark.filterwarnings("error")

S = np.array([[2.0, 0.8], [0.8, 1.0]])


def bowl(x: Any) -> Any:
    """x1^2 + 3 x2^2, elementwise on arrays of shape (2, ...)."""
    return x[0] ** 2 + 3.0 * x[1] ** 2


def bowl_grad(x: Any) -> Any:
    return np.array([2.0 * x[0], 6.0 * x[1]])


def tilted(x: Any) -> float:
    """x^T S x + sin(x1): works on one point only (matrix products and float())."""
    return float(x @ S @ x + np.sin(x[0]))


def tilted_grad(x: Any) -> Any:
    return 2.0 * S @ x + np.array([np.cos(x[0]), 0.0])


def _by_gid(ax: plt.Axes, gid: str) -> list[Any]:
    return [artist for artist in ax.get_children() if artist.get_gid() == gid]


def _arrow(ax: plt.Axes, gid: str) -> np.ndarray:
    (annotation,) = [text for text in ax.texts if text.get_gid() == gid]
    return np.asarray(annotation.xy) - np.asarray(annotation.xyann)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


# evaluate_points and field_data


def test_vectorised_and_pointwise_functions_give_the_same_grid() -> None:
    x1, x2 = np.meshgrid(np.linspace(-1, 2, 7), np.linspace(-3, 1, 5))
    loop = np.array([[tilted(np.array([a, b])) for a, b in zip(r1, r2, strict=True)] for r1, r2 in zip(x1, x2,
                                                                                                        strict=True)])
    np.testing.assert_allclose(gradient_field.evaluate_points(tilted, x1, x2), loop, rtol=1e-14)
    np.testing.assert_allclose(gradient_field.evaluate_points(bowl, x1, x2), x1**2 + 3 * x2**2, rtol=1e-14)


def test_a_function_that_only_seems_vectorised_is_evaluated_point_by_point() -> None:
    def sneaky(x: Any) -> Any:  # right shape on a grid, wrong values: x.size is 2 only for one point
        return x[0] + x[1] * np.size(x)

    x1, x2 = np.meshgrid(np.linspace(0, 1, 4), np.linspace(1, 2, 4))
    np.testing.assert_allclose(gradient_field.evaluate_points(sneaky, x1, x2), x1 + 2 * x2)


def test_field_arrows_are_the_partial_derivatives() -> None:
    xs, ys, z, ax_, ay_, u, v = gradient_field.field_data(tilted, (-1.0, 2.0), (-2.0, 1.0), resolution=9,
                                                          arrows=5)
    assert z.shape == (9, 9) and u.shape == v.shape == ax_.shape == (5, 5)
    assert z[2, 3] == pytest.approx(tilted(np.array([xs[3], ys[2]])))
    expected = np.array([[tilted_grad(np.array([a, b])) for a, b in zip(r1, r2, strict=True)]
                         for r1, r2 in zip(ax_, ay_, strict=True)])
    np.testing.assert_allclose(u, expected[..., 0], rtol=1e-8, atol=1e-9)
    np.testing.assert_allclose(v, expected[..., 1], rtol=1e-8, atol=1e-9)
    assert ax_.min() > -1.0 and ax_.max() < 2.0  # arrows sit inside the plot, at cell centres


def test_field_arrows_match_sympy() -> None:
    a, b = sp.symbols("a b")
    expr = sp.sin(a) * sp.exp(b / 2) + a * b**2
    f = sp.lambdify([a, b], expr, "numpy")
    grad = sp.lambdify([a, b], [sp.diff(expr, a), sp.diff(expr, b)], "numpy")
    *_, ax_, ay_, u, v = gradient_field.field_data(lambda x: f(x[0], x[1]), (-2.0, 2.0), (-1.0, 1.0), arrows=6)
    du, dv = grad(ax_, ay_)
    np.testing.assert_allclose(u, du, rtol=1e-8, atol=1e-9)
    np.testing.assert_allclose(v, dv, rtol=1e-8, atol=1e-9)


# plot_field


def test_plot_field_labels_axes_and_draws_contours_and_arrows() -> None:
    ax = gradient_field.plot_field(bowl, (-1.0, 1.0), (-2.0, 2.0), arrows=4, title="bowl")
    assert ax.get_xlabel() == "$x_1$" and ax.get_ylabel() == "$x_2$" and ax.get_title() == "bowl"
    assert _by_gid(ax, "contours")
    (field,) = [c for c in ax.collections if isinstance(c, Quiver)]
    assert field.get_gid() == "field" and field.N == 16
    points = field.get_offsets()
    np.testing.assert_allclose(np.column_stack([field.U, field.V]), bowl_grad(points.T).T, rtol=1e-8, atol=1e-9)
    assert ax.get_aspect() == 1.0 and ax.get_xlim() == (-1.0, 1.0) and ax.get_ylim() == (-2.0, 2.0)


def test_plot_field_needs_a_function_or_data() -> None:
    with pytest.raises(ValueError, match="function"):
        gradient_field.plot_field(None)


# the explorer: the mathematics it shows


@pytest.mark.usefixtures("static")
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_readout_numbers_obey_the_directional_derivative_identity(seed: int) -> None:
    rng = np.random.default_rng(seed)
    point, angle = rng.uniform(-1.5, 1.5, 2), rng.uniform(0, 360)
    explorer = gradient_field.gradient_explorer(tilted, point=tuple(point), angle=angle)
    u = np.array([np.cos(np.radians(angle)), np.sin(np.radians(angle))])
    np.testing.assert_allclose(explorer.direction, u)
    assert explorer.value == pytest.approx(tilted(point))
    np.testing.assert_allclose(explorer.grad, tilted_grad(point), rtol=1e-8)
    assert explorer.slope == pytest.approx(tilted_grad(point) @ u, rel=1e-7, abs=1e-9)
    # computed along the line t -> f(x + t u), without the gradient: the identity D_u f = grad f . u
    assert explorer.slope_along_line == pytest.approx(explorer.slope, rel=1e-7, abs=1e-9)
    text = explorer.readout_text()
    assert f"{explorer.value:.4f}" in text and f"{np.linalg.norm(explorer.grad):.4f}" in text
    assert f"{explorer.grad[0]:.4f}" in text and f"{explorer.slope:.4f}" in text


@pytest.mark.usefixtures("static")
def test_slope_is_largest_along_the_gradient_and_zero_along_the_level_set() -> None:
    point = np.array([0.7, -0.4])
    g = tilted_grad(point)
    best = np.degrees(np.arctan2(g[1], g[0])) % 360
    explorer = gradient_field.gradient_explorer(tilted, point=tuple(point), angle=best)
    assert explorer.slope == pytest.approx(np.linalg.norm(g), rel=1e-8)
    assert "cos(angle) = 1.000" in explorer.readout_text()
    explorer.update(angle=(best + 90) % 360)
    assert abs(explorer.slope) < 1e-8 * np.linalg.norm(g)
    explorer.update(angle=(best + 180) % 360)
    assert explorer.slope == pytest.approx(-np.linalg.norm(g), rel=1e-8)
    (curve,) = _by_gid(explorer.figure.axes[1], "slopes")
    thetas, slopes = curve.get_data()
    assert slopes.max() == pytest.approx(np.linalg.norm(g), rel=1e-3)
    assert thetas[np.argmax(slopes)] == pytest.approx(best, abs=1.0)
    (current,) = _by_gid(explorer.figure.axes[1], "current")
    assert current.get_xdata()[0] == pytest.approx((best + 180) % 360)
    assert current.get_ydata()[0] == pytest.approx(explorer.slope)


@pytest.mark.usefixtures("static")
def test_gradient_arrow_and_tangent_line_are_drawn_where_the_theory_says() -> None:
    point = np.array([-0.5, 0.9])
    explorer = gradient_field.gradient_explorer(tilted, point=tuple(point), angle=200.0)
    ax, g = explorer.figure.axes[0], tilted_grad(point)
    np.testing.assert_allclose(_unit(_arrow(ax, "gradient")), _unit(g), atol=1e-8)
    np.testing.assert_allclose(_unit(_arrow(ax, "direction")), explorer.direction, atol=1e-12)
    (tangent,) = _by_gid(ax, "tangent")
    xs, ys = tangent.get_data()
    along = _unit(np.array([xs[1] - xs[0], ys[1] - ys[0]]))
    assert abs(along @ _unit(g)) < 1e-8  # the tangent is orthogonal to the gradient
    assert np.mean([xs[0], xs[1]]) == pytest.approx(point[0]) and np.mean([ys[0], ys[1]]) == pytest.approx(point[1])
    for s in (1e-2, 1e-3):  # f is constant to first order along it: the change shrinks like s^2
        assert abs(tilted(point + s * along) - tilted(point)) < 10 * s**2
    assert _by_gid(ax, "level_set") and _by_gid(ax, "point")
    assert ax.get_xlabel() and ax.get_ylabel()
    assert explorer.figure.axes[1].get_xlabel() and explorer.figure.axes[1].get_ylabel()


@pytest.mark.usefixtures("static")
def test_a_stationary_point_has_no_steepest_direction() -> None:
    explorer = gradient_field.gradient_explorer(bowl, point=(0.0, 0.0), angle=45.0)
    assert np.linalg.norm(explorer.grad) < gradient_field.STATIONARY
    assert "stationary" in explorer.readout_text()
    ax = explorer.figure.axes[0]
    assert not _by_gid(ax, "tangent") and not [t for t in ax.texts if t.get_gid() == "gradient"]
    assert not _by_gid(explorer.figure.axes[1], "best")
    explorer.update(x1=1.0)
    assert "stationary" not in explorer.readout_text() and _by_gid(explorer.figure.axes[0], "tangent")


# the explorer: static and interactive modes


@pytest.mark.usefixtures("static")
def test_static_mode_makes_a_figure_and_no_widget(widgets_made: list[ipywidgets.Widget]) -> None:
    explorer = gradient_field.gradient_explorer({"bowl": bowl, "tilted": tilted})
    bundle = assert_static(explorer, widgets_made)
    assert explorer.function is None and explorer.x1 is None
    assert bundle["text/plain"].startswith("Gradient of bowl: ")
    assert "f(x) = 1.7500" in bundle["text/plain"]  # bowl at (1, 0.5)
    before = explorer.png()
    explorer.update(name="tilted", x1=5.0)
    assert explorer.png() != before  # the figure follows the state
    assert explorer._repr_mimebundle_()["text/plain"].startswith("Gradient of tilted: ")
    assert explorer.point[0] == 2.0 and explorer.value == pytest.approx(tilted(np.array([2.0, 0.5])))


@pytest.mark.usefixtures("interactive")
def test_moving_the_controls_updates_readout_and_figure() -> None:
    explorer = gradient_field.gradient_explorer({"bowl": bowl, "tilted": tilted}, point=(1.0, 0.5))
    assert explorer.readout is not None and explorer.x1 is not None
    before, image = explorer.readout.value, shown_image(explorer)
    explorer.x1.value = -0.5
    assert explorer.point[0] == -0.5 and "∇f(x) = (-1.0000, 3.0000)" in explorer.readout.value
    explorer.x2.value = 1.0
    assert "f(x) = 3.2500" in explorer.readout.value
    explorer.theta.value = 90.0
    assert explorer.slope == pytest.approx(6.0) and "∇f·u = 6.0000" in explorer.readout.value
    explorer.function.value = "tilted"
    assert explorer.name == "tilted"
    assert explorer.value == pytest.approx(tilted(np.array([-0.5, 1.0])))
    assert f"{explorer.value:.4f}" in explorer.readout.value and explorer.readout.value != before
    assert explorer.figure.axes[0].get_title().startswith("tilted")
    assert shown_image(explorer) != image


@pytest.mark.usefixtures("interactive")
def test_update_moves_the_controls_and_clips() -> None:
    explorer = gradient_field.gradient_explorer({"bowl": bowl, "tilted": tilted}, xlim=(-1.0, 1.0))
    explorer.update(x1=3.0, x2=-0.25, angle=30.0, name="tilted")
    assert explorer.x1.value == 1.0 and explorer.x2.value == -0.25 and explorer.theta.value == 30.0
    assert explorer.function.value == "tilted" and explorer.name == "tilted"
    assert explorer.value == pytest.approx(tilted(np.array([1.0, -0.25])))
    assert "x = (1.000, -0.250)" in explorer.readout.value
    with pytest.raises(KeyError, match="nope"):
        explorer.update(name="nope")


@pytest.mark.usefixtures("interactive")
def test_interactive_widgets_are_findable_and_accessible(widgets_made: list[ipywidgets.Widget]) -> None:
    explorer = gradient_field.gradient_explorer({"bowl": bowl, "tilted": tilted})
    assert explorer.widget in widgets_made
    controls = [explorer.function, explorer.x1, explorer.x2, explorer.theta]
    assert_interactive(explorer, "calcml-gradient-explorer", controls)
    assert "calcml-gradient-readout" in explorer.readout._dom_classes
    assert isinstance(explorer.function, ipywidgets.Dropdown) and explorer.function.options == ("bowl", "tilted")
    assert (explorer.theta.min, explorer.theta.max) == (0.0, 360.0)


@pytest.mark.usefixtures("interactive")
def test_a_single_function_needs_no_dropdown() -> None:
    explorer = gradient_field.gradient_explorer(bowl, name="bowl")
    assert explorer.function is None and explorer.name == "bowl"
    assert not [c for c in explorer.widget.children if isinstance(c, ipywidgets.Dropdown)]


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="at least one"):
        gradient_field.gradient_explorer({})
    with pytest.raises(ValueError, match="low < high"):
        gradient_field.gradient_explorer(bowl, xlim=(1.0, 1.0))
