"""Tests of calcml.plots: labelled axes, the palette, tangent lines and the step-size error plot."""

from __future__ import annotations

import math
from collections.abc import Iterator

import matplotlib.colors as mcolors
import matplotlib.pyplot as plt
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib.axes import Axes
from matplotlib.lines import Line2D

from calcml import plots

pytestmark = pytest.mark.filterwarnings("error")

EPS = float(np.finfo(float).eps)
OKABE_ITO = {"#000000", "#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7"}


@pytest.fixture(autouse=True)
def _close_figures() -> Iterator[None]:
    yield
    plt.close("all")


def _line(ax: Axes, gid: str) -> Line2D:
    (line,) = [line for line in ax.get_lines() if line.get_gid() == gid]
    return line


def test_palette_is_the_eight_okabe_ito_colours() -> None:
    assert len(plots.PALETTE) == 8
    assert len({mcolors.to_hex(c) for c in plots.PALETTE}) == 8
    assert {c.upper() for c in plots.PALETTE} == OKABE_ITO


def test_method_colours_come_from_the_palette_and_differ() -> None:
    colours = list(plots.METHOD_COLORS.values())
    assert set(colours) <= set(plots.PALETTE)
    assert len(set(colours)) == len(colours)


def test_new_axes_labels_and_uses_the_palette() -> None:
    ax = plots.new_axes("x", "y", title="t")
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_title()) == ("x", "y", "t")
    first, second = ax.plot([0, 1], [0, 1]), ax.plot([0, 1], [1, 0])
    assert mcolors.to_hex(first[0].get_color()) == mcolors.to_hex(plots.PALETTE[0])
    assert mcolors.to_hex(second[0].get_color()) == mcolors.to_hex(plots.PALETTE[1])


def test_new_axes_draws_on_given_axes() -> None:
    _, ax = plt.subplots()
    assert plots.new_axes("a", "b", ax=ax) is ax


@pytest.mark.parametrize(("xlabel", "ylabel"), [("", "y"), ("x", ""), ("  ", "y")])
def test_new_axes_refuses_empty_labels(xlabel: str, ylabel: str) -> None:
    with pytest.raises(ValueError, match="label"):
        plots.new_axes(xlabel, ylabel)


@pytest.mark.parametrize(
    "draw",
    [
        lambda: plots.tangent_line(np.sin, 1.0, math.cos(1.0)),
        lambda: plots.tangent_line(np.exp, 0.0),
        lambda: plots.step_size_error(np.exp, np.exp, 1.0),
        lambda: plots.step_size_error(np.sin, np.cos, 0.5, methods=("backward",)),
    ],
    ids=["tangent", "tangent-numdiff", "step-size", "step-size-backward"],
)
def test_every_plot_labels_both_axes(draw) -> None:
    ax = draw()
    assert isinstance(ax, Axes)
    assert ax.get_xlabel().strip() and ax.get_ylabel().strip()
    assert ax.get_legend() is not None


def test_tangent_line_has_the_given_slope_and_touches_the_curve() -> None:
    ax = plots.tangent_line(np.sin, 1.0, 0.25, xlim=(-3, 3), label="sin(x)")
    x, y = _line(ax, "tangent").get_data()
    assert (y[-1] - y[0]) / (x[-1] - x[0]) == pytest.approx(0.25)
    assert np.interp(1.0, x, y) == pytest.approx(math.sin(1.0))
    assert _line(ax, "point").get_data()[1][0] == pytest.approx(math.sin(1.0))
    assert ax.get_xlim() == pytest.approx((-3, 3))
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("x", "sin(x)")
    assert "0.25" in ax.get_title()


def test_tangent_line_computes_the_slope_when_none_is_given() -> None:
    ax = plots.tangent_line(np.sin, 1.0)
    x, y = _line(ax, "tangent").get_data()
    assert (y[-1] - y[0]) / (x[-1] - x[0]) == pytest.approx(math.cos(1.0), rel=1e-8)


def test_tangent_line_accepts_a_function_of_floats_only() -> None:
    ax = plots.tangent_line(math.exp, 0.0, 1.0)
    x, y = _line(ax, "curve").get_data()
    np.testing.assert_allclose(y, np.exp(x))


def test_tangent_line_skips_points_where_f_is_undefined() -> None:
    ax = plots.tangent_line(np.log, 1.0, 1.0, xlim=(-1.0, 3.0))
    low, high = ax.get_ylim()
    assert np.isfinite(low) and np.isfinite(high)


@settings(max_examples=30, deadline=None)
@given(x0=st.floats(-5, 5), slope=st.floats(-100, 100))
def test_tangent_line_slope_reads_back(x0: float, slope: float) -> None:
    ax = plots.tangent_line(lambda x: 0.5 * x**2, x0, slope)
    x, y = _line(ax, "tangent").get_data()
    assert (y[-1] - y[0]) / (x[-1] - x[0]) == pytest.approx(slope, abs=1e-9)
    plt.close("all")


def test_optimal_steps_are_the_textbook_ones() -> None:
    assert plots.optimal_step("forward") == pytest.approx(math.sqrt(EPS))
    assert plots.optimal_step("backward") == pytest.approx(math.sqrt(EPS))
    assert plots.optimal_step("central") == pytest.approx(EPS ** (1 / 3))


@pytest.mark.parametrize("method", ["forward", "central"])
def test_error_is_smallest_near_the_optimal_step(method: str) -> None:
    steps = np.logspace(-16, 0, 161)
    errors = plots.finite_difference_errors(np.exp, np.exp, 1.0, steps, method)
    best = steps[np.argmin(errors)]
    assert plots.optimal_step(method) / 100 <= best <= plots.optimal_step(method) * 100


def test_central_beats_forward_and_truncation_errors_have_the_right_order() -> None:
    steps = np.array([1e-2, 1e-3])
    forward = plots.finite_difference_errors(np.exp, np.exp, 1.0, steps, "forward")
    central = plots.finite_difference_errors(np.exp, np.exp, 1.0, steps, "central")
    assert forward[1] / forward[0] == pytest.approx(0.1, rel=0.05)  # O(h)
    assert central[1] / central[0] == pytest.approx(0.01, rel=0.05)  # O(h^2)
    # Truncation terms: e/2 * h for forward, e/6 * h^2 for central.
    assert forward[0] == pytest.approx(math.e / 2 * 1e-2, rel=0.01)
    assert central[0] == pytest.approx(math.e / 6 * 1e-4, rel=0.01)


def test_backward_difference_mirrors_forward() -> None:
    steps = np.array([1e-2])
    backward = plots.finite_difference_errors(np.exp, np.exp, 1.0, steps, "backward")
    assert backward[0] == pytest.approx(math.e / 2 * 1e-2, rel=0.02)


def test_unknown_method_is_refused() -> None:
    with pytest.raises(ValueError, match="method"):
        plots.finite_difference_errors(np.exp, np.exp, 1.0, [1e-3], "sideways")
    with pytest.raises(ValueError, match="method"):
        plots.step_size_error(np.exp, np.exp, 1.0, methods=("sideways",))


def test_step_size_error_draws_curves_optimal_steps_and_log_axes() -> None:
    ax = plots.step_size_error(np.exp, np.exp, 1.0)
    assert ax.get_xscale() == ax.get_yscale() == "log"
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("step size h", "absolute error |approx - exact|")
    labels = [line.get_label() for line in ax.get_lines()]
    assert "forward difference" in labels and "central difference" in labels
    verticals = {
        float(line.get_xdata()[0]) for line in ax.get_lines() if np.ptp(np.asarray(line.get_xdata())) == 0
    }
    assert verticals == {plots.optimal_step("forward"), plots.optimal_step("central")}
    (forward,) = [line for line in ax.get_lines() if line.get_label() == "forward difference"]
    expected = plots.finite_difference_errors(np.exp, np.exp, 1.0, np.logspace(-16, 0, 161), "forward")
    np.testing.assert_allclose(forward.get_ydata(), np.where(expected > 0, expected, np.nan))
