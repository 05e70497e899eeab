"""Tests of calcml.widgets: front-end detection, the static fallback and the live tangent explorer."""

from __future__ import annotations

import base64
import math
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import ipywidgets
import matplotlib.pyplot as plt
import numpy as np
import pytest

from calcml import widgets

pytestmark = pytest.mark.filterwarnings("error")

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def _close_figures() -> Iterator[None]:
    yield
    plt.close("all")


@pytest.fixture
def static(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(widgets.STATIC_ENV, "1")


@pytest.fixture
def interactive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(widgets.STATIC_ENV, raising=False)
    monkeypatch.setattr(widgets, "has_frontend", lambda: True)


@pytest.fixture
def widgets_made(monkeypatch: pytest.MonkeyPatch) -> list[ipywidgets.Widget]:
    """Every ipywidget constructed during the test."""
    made: list[ipywidgets.Widget] = []
    original = ipywidgets.Widget.__init__

    def spy(self: ipywidgets.Widget, **kwargs: Any) -> None:
        made.append(self)
        original(self, **kwargs)

    monkeypatch.setattr(ipywidgets.Widget, "__init__", spy)
    return made


def _tangent_slope(explorer: widgets.TangentExplorer) -> float:
    (line,) = [line for line in explorer.figure.axes[0].get_lines() if line.get_gid() == "tangent"]
    x, y = line.get_data()
    return float((y[-1] - y[0]) / (x[-1] - x[0]))


# has_frontend


def _fake_shell(monkeypatch: pytest.MonkeyPatch, *, kernel: bool) -> None:
    shell = SimpleNamespace(kernel=object()) if kernel else SimpleNamespace()
    monkeypatch.setattr(widgets, "get_ipython", lambda: shell)


def test_no_frontend_outside_ipython(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(widgets.STATIC_ENV, raising=False)
    monkeypatch.setattr(widgets, "get_ipython", lambda: None)
    assert widgets.has_frontend() is False


def test_no_frontend_in_terminal_ipython(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(widgets.STATIC_ENV, raising=False)
    _fake_shell(monkeypatch, kernel=False)
    assert widgets.has_frontend() is False


@pytest.mark.parametrize(("value", "expected"), [(None, True), ("", True), ("0", True), ("false", True),
                                                 ("1", False), ("true", False), (" YES ", False), ("on", False)])
def test_frontend_in_a_kernel_unless_forced_static(
    monkeypatch: pytest.MonkeyPatch, value: str | None, expected: bool
) -> None:
    if value is None:
        monkeypatch.delenv(widgets.STATIC_ENV, raising=False)
    else:
        monkeypatch.setenv(widgets.STATIC_ENV, value)
    _fake_shell(monkeypatch, kernel=True)
    assert widgets.has_frontend() is expected


# static mode


@pytest.mark.usefixtures("static")
def test_static_mode_makes_a_figure_and_no_widget(widgets_made: list[ipywidgets.Widget]) -> None:
    explorer = widgets.tangent_explorer(np.sin, x0=1.0, label="sin(x)")
    assert widgets_made == []
    assert explorer.widget is None and explorer.slider is None and explorer.readout is None
    bundle = explorer._repr_mimebundle_()
    assert WIDGET_VIEW not in bundle
    assert base64.b64decode(bundle["image/png"]).startswith(PNG_MAGIC)
    assert "0.5403" in bundle["text/plain"]
    (ax,) = explorer.figure.axes
    assert ax.get_xlabel() == "x" and ax.get_ylabel() == "sin(x)"
    assert _tangent_slope(explorer) == pytest.approx(math.cos(1.0))


@pytest.mark.usefixtures("static")
def test_static_mode_can_still_be_moved() -> None:
    explorer = widgets.tangent_explorer(np.sin, df=np.cos)
    assert explorer.x0 == 0.0 and explorer.slope == pytest.approx(1.0)
    assert explorer.update(2.0) == pytest.approx(math.cos(2.0))
    assert _tangent_slope(explorer) == pytest.approx(math.cos(2.0))


@pytest.mark.usefixtures("static")
def test_static_figure_is_not_left_to_pyplot() -> None:
    widgets.tangent_explorer(np.sin)
    assert plt.get_fignums() == []


# interactive mode


@pytest.mark.usefixtures("interactive")
@pytest.mark.parametrize("df", [None, np.cos], ids=["numdiff", "exact"])
def test_moving_the_slider_updates_readout_slope_and_figure(df: Any) -> None:
    explorer = widgets.tangent_explorer(np.sin, x0=-2.0, label="sin(x)", df=df)
    assert explorer.slider is not None and explorer.readout is not None
    before = explorer._image.value
    explorer.slider.value = 1.0
    assert explorer.x0 == 1.0
    assert explorer.slope == pytest.approx(math.cos(1.0), rel=1e-8)
    assert f"{math.cos(1.0):.4f}" in explorer.readout.value
    assert f"{math.sin(1.0):.4f}" in explorer.readout.value
    assert _tangent_slope(explorer) == pytest.approx(math.cos(1.0), rel=1e-8)
    assert bytes(explorer._image.value) != bytes(before)
    assert bytes(explorer._image.value).startswith(PNG_MAGIC)


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
    assert "calcml-tangent-explorer" in explorer.widget._dom_classes
    assert "calcml-slope-readout" in explorer.readout._dom_classes
    assert explorer.slider in explorer.widget.children and explorer.readout in explorer.widget.children
    assert explorer.slider.description.strip()
    assert (explorer.slider.min, explorer.slider.max) == (-3.0, 3.0)
    assert 'aria-live="polite"' in explorer.readout.value
    bundle = explorer._repr_mimebundle_()
    assert bundle[WIDGET_VIEW]["model_id"] == explorer.widget.model_id
    assert base64.b64decode(bundle["image/png"]).startswith(PNG_MAGIC)  # the static fallback


def test_an_empty_range_is_refused() -> None:
    with pytest.raises(ValueError, match="x_range"):
        widgets.tangent_explorer(np.sin, x_range=(1.0, 1.0))
