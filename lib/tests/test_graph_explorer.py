"""Tests of calcml.graph_explorer: replaying a backward pass step by step, static and interactive."""

from __future__ import annotations

from typing import Any

import ipywidgets
import matplotlib.colors as mcolors
import pytest

from calcml import graph_explorer, plots
from calcml.graph_explorer import BackwardStep

from .widget_helpers import assert_interactive, assert_static, shown_image

pytestmark = pytest.mark.filterwarnings("error")


class V:
    def __init__(self, data: float, label: str, prev: Any = (), op: str = "") -> None:
        self.data, self.grad, self._prev, self._op, self.label = data, 0.0, prev, op, label


def fan_out() -> tuple[dict[str, V], list[BackwardStep]]:
    """L = (a + b) * a at a = 3, b = -1, and its backward pass written out by hand.

    dL/ds = a = 3, dL/da = s + a * 1 = 2 + 3 = 5 (two contributions: fan-out), dL/db = a = 3.
    """
    a, b = V(3.0, "a"), V(-1.0, "b")
    s = V(2.0, "s", (a, b), "+")
    L = V(6.0, "L", (s, a), "*")
    steps = [
        BackwardStep(s, L, 3.0, 1.0, 3.0),  # dL/ds = a
        BackwardStep(a, L, 2.0, 1.0, 2.0),  # direct use of a: dL/da += s
        BackwardStep(a, s, 1.0, 3.0, 5.0),  # through s: dL/da += 1 * dL/ds
        BackwardStep(b, s, 1.0, 3.0, 3.0),
    ]
    return {"a": a, "b": b, "s": s, "L": L}, steps


def grad_texts(explorer: graph_explorer.BackwardExplorer) -> list[str]:
    return sorted(t.get_text() for t in explorer.figure.axes[0].texts if t.get_text().startswith("grad"))


@pytest.mark.usefixtures("static")
def test_static_mode_draws_the_seed_and_makes_no_widget(widgets_made: list[ipywidgets.Widget]) -> None:
    nodes, steps = fan_out()
    explorer = graph_explorer.backward_explorer(nodes["L"], steps)
    bundle = assert_static(explorer, widgets_made)
    assert explorer.slider is None
    assert explorer.step == 0 and "seed L.grad = 1" in explorer.readout_text()
    assert bundle["text/plain"] == f"Backward pass: {explorer.readout_text()}"
    assert grad_texts(explorer) == ["grad 1.000"] + ["grad ?"] * 3


@pytest.mark.usefixtures("static")
def test_steps_fill_in_gradients_and_accumulate_at_fan_out() -> None:
    nodes, steps = fan_out()
    explorer = graph_explorer.backward_explorer(nodes["L"], steps, start=2)
    assert explorer.grad_at(nodes["a"]) == 2.0 and explorer.grad_at(nodes["b"]) is None
    text = explorer.readout_text()
    assert "a.grad += local ∂L/∂a 2 × upstream 1 = contribution 2" in text
    assert "contribution 1 of 2: fan-out" in text
    text = explorer.update(3)
    assert "a.grad = 5" in text and "contribution 2 of 2" in text
    assert explorer.update(99) and explorer.step == 4
    assert grad_texts(explorer) == ["grad 1.000", "grad 3.000", "grad 3.000", "grad 5.000"]


@pytest.mark.usefixtures("static")
def test_the_focus_and_the_child_are_outlined() -> None:
    nodes, steps = fan_out()
    explorer = graph_explorer.backward_explorer(nodes["L"], steps, start=3)
    ax = explorer.figure.axes[0]
    edges = [mcolors.to_hex(p.get_edgecolor()).upper() for p in ax.patches if p.get_gid() == "value"]
    assert edges.count(plots.COLORS["vermillion"]) == 1 and edges.count(plots.COLORS["bluish_green"]) == 1
    assert ax.get_title() == "Backward pass, step 3 of 4"


@pytest.mark.usefixtures("interactive")
def test_moving_the_slider_updates_readout_and_figure() -> None:
    nodes, steps = fan_out()
    explorer = graph_explorer.backward_explorer(nodes["L"], steps, title="fan-out")
    before = shown_image(explorer)
    explorer.slider.value = 4
    assert explorer.step == 4
    assert "b.grad = 3" in explorer.readout.value
    assert shown_image(explorer) != before
    explorer.update(1)
    assert explorer.slider.value == 1 and "s.grad = 3" in explorer.readout.value
    assert explorer.figure.axes[0].get_title() == "fan-out"


@pytest.mark.usefixtures("interactive")
def test_widgets_are_findable_and_accessible(widgets_made: list[ipywidgets.Widget]) -> None:
    nodes, steps = fan_out()
    explorer = graph_explorer.backward_explorer(nodes["L"], steps)
    assert explorer.widget in widgets_made
    assert_interactive(explorer, "calcml-backward-explorer", [explorer.slider])
    assert "calcml-step-readout" in explorer.readout._dom_classes
    assert (explorer.slider.min, explorer.slider.max) == (0, 4)


def test_steps_must_name_nodes_of_the_graph() -> None:
    nodes, steps = fan_out()
    stranger = V(0.0, "z")
    with pytest.raises(ValueError, match="step 1"):
        graph_explorer.backward_explorer(nodes["L"], [steps[0], (stranger, nodes["L"], 1.0, 1.0, 1.0)])
