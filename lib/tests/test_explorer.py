"""Tests of calcml.explorer: front-end detection and the mechanism every explorer shares, on a minimal explorer."""

from __future__ import annotations

from types import SimpleNamespace

import ipywidgets
import pytest
from matplotlib.figure import Figure

from calcml import explorer

from .widget_helpers import PNG_MAGIC, assert_interactive, assert_static, shown_image

pytestmark = pytest.mark.filterwarnings("error")


class Bar(explorer.Explorer):
    """The smallest explorer: a slider for a height `n` from 0 to 5, drawn as one bar."""

    css_class = "calcml-bar"
    readout_class = "calcml-bar-readout"

    def __init__(self, n: int, interactive: bool) -> None:
        super().__init__(Figure(figsize=(2.0, 2.0)), "One bar")
        self._ax = self.figure.add_subplot()
        self.n, self.draws = n, 0
        self.slider: ipywidgets.IntSlider | None = None
        self._start(interactive)

    def update(self, n: int) -> None:
        self.n = n
        self._show()

    def readout_text(self) -> str:
        return f"height n = {self.n} (< 5 & > -1)"

    def _build_controls(self) -> list[ipywidgets.ValueWidget]:
        self.slider = ipywidgets.IntSlider(min=0, max=5, description="height n", **explorer.control_options())
        return [self.slider]

    def _read_controls(self) -> None:
        self.n = self.slider.value

    def _write_controls(self) -> None:
        self.slider.value = self.n

    def _draw(self) -> None:
        self.draws += 1
        self._ax.clear()
        self._ax.bar([0], [self.n])


def _height(bar: Bar) -> float:
    (patch,) = bar.figure.axes[0].patches
    return float(patch.get_height())


# has_frontend


def _fake_shell(monkeypatch: pytest.MonkeyPatch, *, kernel: bool) -> None:
    shell = SimpleNamespace(kernel=object()) if kernel else SimpleNamespace()
    monkeypatch.setattr(explorer, "get_ipython", lambda: shell)


def test_no_frontend_outside_ipython(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(explorer.STATIC_ENV, raising=False)
    monkeypatch.setattr(explorer, "get_ipython", lambda: None)
    assert explorer.has_frontend() is False


def test_no_frontend_in_terminal_ipython(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(explorer.STATIC_ENV, raising=False)
    _fake_shell(monkeypatch, kernel=False)
    assert explorer.has_frontend() is False


@pytest.mark.parametrize(("value", "expected"), [(None, True), ("", True), ("0", True), ("false", True),
                                                 ("1", False), ("true", False), (" YES ", False), ("on", False)])
def test_frontend_in_a_kernel_unless_forced_static(
    monkeypatch: pytest.MonkeyPatch, value: str | None, expected: bool
) -> None:
    if value is None:
        monkeypatch.delenv(explorer.STATIC_ENV, raising=False)
    else:
        monkeypatch.setenv(explorer.STATIC_ENV, value)
    _fake_shell(monkeypatch, kernel=True)
    assert explorer.has_frontend() is expected


# control_options


def test_control_options_give_each_control_its_own_narrow_layout() -> None:
    first, second = explorer.control_options(), explorer.control_options()
    assert first["style"] == {"description_width": "initial"}
    assert first["layout"] is not second["layout"] and "100%" in first["layout"].width


# the shared mechanism


def test_an_explorer_must_say_how_it_draws() -> None:
    with pytest.raises(TypeError, match="abstract"):
        explorer.Explorer(Figure(), "nothing")  # type: ignore[abstract]


def test_static_mode_draws_once_and_makes_no_widget(widgets_made: list[ipywidgets.Widget]) -> None:
    bar = Bar(3, interactive=False)
    bundle = assert_static(bar, widgets_made)
    assert set(bundle) == {"image/png", "text/plain"}
    assert bundle["text/plain"] == "One bar: height n = 3 (< 5 & > -1)"
    assert repr(bar) == "Bar(height n = 3 (< 5 & > -1))"
    assert bar.draws == 1 and _height(bar) == 3.0
    bar.update(4)
    assert bar.draws == 2 and _height(bar) == 4.0 and "n = 4" in bar._repr_mimebundle_()["text/plain"]


def test_the_png_is_rendered_once_per_state(monkeypatch: pytest.MonkeyPatch) -> None:
    bar = Bar(1, interactive=False)
    renders: list[int] = []
    savefig = bar.figure.savefig
    monkeypatch.setattr(bar.figure, "savefig", lambda *a, **k: (renders.append(1), savefig(*a, **k))[1])
    first = bar.png()
    assert first.startswith(PNG_MAGIC) and bar.png() is first and bar._repr_mimebundle_() and renders == [1]
    bar.update(5)
    assert bar.png() != first and renders == [1, 1]


def test_interactive_mode_assembles_controls_readout_and_image() -> None:
    bar = Bar(2, interactive=True)
    assert_interactive(bar, "calcml-bar", [bar.slider])
    assert list(bar.widget.children) == [bar.slider, bar.readout, bar._image]
    assert "calcml-bar-readout" in bar.readout._dom_classes
    assert bar.slider.value == 2 and bar.draws == 1
    assert "height n = 2 (&lt; 5 &amp; &gt; -1)" in bar.readout.value  # the readout text is escaped
    assert "monospace" not in bar.readout.value
    assert shown_image(bar) == bar.png()


def test_moving_a_control_updates_state_readout_and_image() -> None:
    bar = Bar(2, interactive=True)
    before = shown_image(bar)
    bar.slider.value = 5
    assert bar.n == 5 and bar.draws == 2 and _height(bar) == 5.0
    assert "n = 5" in bar.readout.value and shown_image(bar) != before


def test_update_moves_the_controls_redraws_once_and_takes_their_clipping() -> None:
    bar = Bar(2, interactive=True)
    bar.update(4)
    assert bar.slider.value == 4 and bar.draws == 2
    bar.update(99)  # beyond the slider: the slider clips, and the state follows it
    assert bar.slider.value == 5 and bar.n == 5 and bar.draws == 3 and "n = 5" in bar.readout.value


def test_a_failing_control_does_not_leave_the_observers_muted(monkeypatch: pytest.MonkeyPatch) -> None:
    bar = Bar(2, interactive=True)

    def broken() -> None:
        raise RuntimeError("cannot move")

    monkeypatch.setattr(bar, "_write_controls", broken)
    with pytest.raises(RuntimeError):
        bar.update(3)
    monkeypatch.undo()
    bar.slider.value = 1
    assert bar.n == 1 and "n = 1" in bar.readout.value


def test_a_monospace_readout_says_so() -> None:
    class Table(Bar):
        monospace = True

    assert "font-family: monospace" in Table(1, interactive=True).readout.value

