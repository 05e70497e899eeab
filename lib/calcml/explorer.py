r"""Interactive explorers (ipywidgets) that fall back to a static figure when nobody can interact.

Every explorer is an `Explorer`: it draws its figure for the initial state first, so the figure is never
missing. How it is shown depends on `has_frontend`:

- **Interactive** (a Jupyter kernel, by default): the explorer is displayed as a widget (controls, a
  live readout and the figure as an image that is redrawn when a control moves). Its display data also
  carries the figure as a plain `image/png`, so where widgets cannot render (nbconvert HTML without widget
  state, nbviewer, an untrusted notebook) the static figure is shown instead.
- **Static** (plain Python, pytest, terminal IPython, or `CALCML_STATIC=1`): no widget is created at
  all; the explorer displays as its PNG figure.

Nothing ever waits for input, so executing a notebook headless (nbclient, nbconvert, nbgrader) never
blocks. Set the environment variable `CALCML_STATIC=1` (also `true`, `yes`, `on`) to force static mode,
for example in the grader, to keep outputs small and create no widget comms.

Figures are `matplotlib.figure.Figure` objects that pyplot does not manage, so they are never shown
twice by the inline backend, and no ipympl is needed. Each explorer lives in the module of its topic
(`widgets` holds the tangent-line explorer) and is made by a function of that module, such as
`widgets.tangent_explorer`.
"""

from __future__ import annotations

import abc
import base64
import html
import io
import os
from collections.abc import Sequence
from typing import Any, ClassVar

import ipywidgets
from IPython import get_ipython
from matplotlib.figure import Figure

#: The environment variable that forces static figures when set to 1, true, yes or on.
STATIC_ENV = "CALCML_STATIC"

_TRUE = {"1", "true", "yes", "on"}


def has_frontend() -> bool:
    """Whether a front end that can render widgets may be attached.

    False when `CALCML_STATIC` is set to a true value, when not running under IPython, or under an
    IPython shell without a kernel (terminal IPython). True inside a Jupyter kernel: the kernel cannot
    tell JupyterLab from a headless client, so explorers also carry a static PNG for the headless case.

    Returns:
        True if explorers should create their widgets.
    """
    if os.environ.get(STATIC_ENV, "").strip().lower() in _TRUE:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def control_options() -> dict[str, Any]:
    """The keyword arguments every explorer gives its controls: a description as wide as its text, and a
    width that fits a narrow screen."""
    return {"style": {"description_width": "initial"}, "layout": ipywidgets.Layout(width="min(100%, 560px)")}


class Explorer(abc.ABC):
    """What every explorer shares: the figure as PNG, the static or interactive display, the live readout.

    A subclass sets its state, then ends its constructor with `self._start(interactive)`. It draws the
    current state into `figure` (`_draw`), words it (`readout_text`) and, for the interactive mode, makes
    its controls (`_build_controls`) and copies the state from and to them (`_read_controls`,
    `_write_controls`). Its `update(...)` sets the state and calls `_show`. A moved control updates the
    state and redraws; `update` moves the controls without them reacting, and redraws once.

    Attributes:
        figure: The matplotlib figure, always drawn for the current state.
        caption: What the explorer shows, the first words of its plain-text representation.
        readout: The `HTML` readout (`role="status"`, `aria-live="polite"`), or None in static mode.
        widget: The container (controls, readout, image; CSS class `css_class`), or None in static mode.
    """

    #: The CSS class `calcml-<name>` of the container, so a browser test can find it.
    css_class: ClassVar[str]
    #: The CSS class of the readout.
    readout_class: ClassVar[str]
    #: The resolution of the PNG figure, in dots per inch.
    dpi: ClassVar[int] = 100
    #: Whether the readout is set in a monospace font, so that rows of numbers line up.
    monospace: ClassVar[bool] = False

    def __init__(self, figure: Figure, caption: str) -> None:
        self.figure, self.caption = figure, caption
        self.readout: ipywidgets.HTML | None = None
        self.widget: ipywidgets.VBox | None = None
        self._image: ipywidgets.Image | None = None
        self._png: bytes | None = None
        self._syncing = False

    @abc.abstractmethod
    def readout_text(self) -> str:
        """The readout as plain text."""

    def png(self) -> bytes:
        """The figure as PNG bytes (rendered once per state)."""
        if self._png is None:
            buffer = io.BytesIO()
            self.figure.savefig(buffer, format="png", dpi=self.dpi)
            self._png = buffer.getvalue()
        return self._png

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        data: dict[str, Any] = {} if self.widget is None else dict(self.widget._repr_mimebundle_())
        data["image/png"] = base64.b64encode(self.png()).decode("ascii")
        data["text/plain"] = f"{self.caption}: {self.readout_text()}"
        return data

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.readout_text()})"

    def _start(self, interactive: bool) -> None:
        """Build the widget if `interactive`, then show the state set by the constructor."""
        if interactive:
            controls = self._build_controls()
            self.readout = ipywidgets.HTML()
            self.readout.add_class(self.readout_class)
            self._image = ipywidgets.Image(format="png", layout=ipywidgets.Layout(max_width="100%"))
            self.widget = ipywidgets.VBox([*self._arrange(controls), self.readout, self._image])
            self.widget.add_class(self.css_class)
            for control in controls:
                control.observe(self._on_control, names="value")
        self._show()

    def _show(self) -> None:
        """Move the controls to the current state (they may clip it: theirs is the last word), then redraw."""
        if self.widget is not None:
            self._syncing = True  # the observers stay quiet: one redraw below, not one per control
            try:
                self._write_controls()
            finally:
                self._syncing = False
            self._read_controls()
        self._refresh()

    def _on_control(self, change: dict[str, Any]) -> None:
        if not self._syncing:
            self._read_controls()
            self._refresh()

    def _refresh(self) -> None:
        self._draw()
        self._png = None
        if self.readout is not None:
            font = "font-family: monospace; " if self.monospace else ""
            self.readout.value = (f'<div role="status" aria-live="polite" style="{font}white-space: pre-wrap; '
                                  f'line-height: 1.4">{html.escape(self.readout_text(), quote=False)}</div>')
        if self._image is not None:
            self._image.value = self.png()

    @abc.abstractmethod
    def _draw(self) -> None:
        """Compute what the state implies and draw it into `figure`."""

    @abc.abstractmethod
    def _build_controls(self) -> list[ipywidgets.ValueWidget]:
        """Make the controls (their values are set by `_write_controls`); each is observed."""

    def _arrange(self, controls: Sequence[ipywidgets.Widget]) -> list[ipywidgets.Widget]:
        """The rows shown above the readout; by default one control per row."""
        return list(controls)

    @abc.abstractmethod
    def _read_controls(self) -> None:
        """Set the state from the controls' values."""

    @abc.abstractmethod
    def _write_controls(self) -> None:
        """Set the controls' values from the state."""
