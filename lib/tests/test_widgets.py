"""Tests of calcml.widgets: the tangent explorer, static and live."""

from __future__ import annotations

import math
from typing import Any

import ipywidgets
import numpy as np
import pytest

from calcml import widgets

from .widget_helpers import assert_interactive, assert_static, shown_image

pytestmark = pytest.mark.filterwarnings("error")


def _tangent_slope(explorer: widgets.TangentExplorer) -> float:
    (line,) = [line for line in explorer.figure.axes[0].get_lines() if line.get_gid() == "tangent"]
    x, y = line.get_data()
    return float((y[-1] - y[0]) / (x[-1] - x[0]))


# static mode


@pytest.mark.usefixtures("static")
def test_static_mode_makes_a_figure_and_no_widget(widgets_made: list[ipywidgets.Widget]) -> None:
    explorer = widgets.tangent_explorer(np.sin, x0=1.0, label="sin(x)")
    bundle = assert_static(explorer, widgets_made)
    assert explorer.slider is None
    assert bundle["text/plain"] == "Tangent line to sin(x): x₀ = 1.0000, f(x₀) = 0.8415, slope f′(x₀) = 0.5403"
    (ax,) = explorer.figure.axes
    assert ax.get_xlabel() == "x" and ax.get_ylabel() == "sin(x)"
    assert _tangent_slope(explorer) == pytest.approx(math.cos(1.0))


@pytest.mark.usefixtures("static")
def test_static_mode_can_still_be_moved() -> None:
    explorer = widgets.tangent_explorer(np.sin, df=np.cos)
    assert explorer.x0 == 0.0 and explorer.slope == pytest.approx(1.0)
    assert explorer.update(2.0) == pytest.approx(math.cos(2.0))
    assert _tangent_slope(explorer) == pytest.approx(math.cos(2.0))


# interactive mode


@pytest.mark.usefixtures("interactive")
@pytest.mark.parametrize("df", [None, np.cos], ids=["numdiff", "exact"])
def test_moving_the_slider_updates_readout_slope_and_figure(df: Any) -> None:
    explorer = widgets.tangent_explorer(np.sin, x0=-2.0, label="sin(x)", df=df)
    assert explorer.slider is not None and explorer.readout is not None
    before = shown_image(explorer)
    explorer.slider.value = 1.0
    assert explorer.x0 == 1.0
    assert explorer.slope == pytest.approx(math.cos(1.0), rel=1e-8)
    assert f"{math.cos(1.0):.4f}" in explorer.readout.value
    assert f"{math.sin(1.0):.4f}" in explorer.readout.value
    assert _tangent_slope(explorer) == pytest.approx(math.cos(1.0), rel=1e-8)
    assert shown_image(explorer) != before


@pytest.mark.usefixtures("interactive")
def test_update_moves_the_slider_and_clips_to_the_range() -> None:
    explorer = widgets.tangent_explorer(np.exp, x_range=(-1.0, 2.0), df=np.exp)
    assert explorer.x0 == 0.5
    assert explorer.update(0.0) == pytest.approx(1.0)
    assert explorer.slider.value == 0.0
    assert "1.0000" in explorer.readout.value
    explorer.update(10.0)
    assert explorer.slider.value == 2.0 and explorer.x0 == 2.0
    assert explorer.slope == pytest.approx(math.exp(2.0))


@pytest.mark.usefixtures("interactive")
def test_interactive_widgets_are_findable_and_accessible(widgets_made: list[ipywidgets.Widget]) -> None:
    explorer = widgets.tangent_explorer(np.sin, x_range=(-3.0, 3.0))
    assert explorer.widget in widgets_made and explorer.slider in widgets_made  # the spy sees widgets
    assert_interactive(explorer, "calcml-tangent-explorer", [explorer.slider])
    assert "calcml-slope-readout" in explorer.readout._dom_classes
    assert "calcml-x0-slider" in explorer.slider._dom_classes
    assert (explorer.slider.min, explorer.slider.max) == (-3.0, 3.0)


def test_an_empty_range_is_refused() -> None:
    with pytest.raises(ValueError, match="x_range"):
        widgets.tangent_explorer(np.sin, x_range=(1.0, 1.0))
