"""Checks that every explorer test makes: the static fallback, the accessible widget, the image it shows."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

import ipywidgets
import matplotlib.pyplot as plt

from calcml import explorer

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def assert_static(shown: explorer.Explorer, widgets_made: list[ipywidgets.Widget]) -> dict[str, Any]:
    """Assert that `shown` made no widget and displays as its PNG figure; return its display data."""
    assert widgets_made == []
    assert shown.widget is None and shown.readout is None
    bundle = shown._repr_mimebundle_()
    assert WIDGET_VIEW not in bundle
    assert base64.b64decode(bundle["image/png"]).startswith(PNG_MAGIC)
    assert plt.get_fignums() == []  # the figure is not left to pyplot, so it is never shown twice
    return bundle


def assert_interactive(shown: explorer.Explorer, css_class: str, controls: Sequence[ipywidgets.Widget]) -> None:
    """Assert that the container of `shown` has `css_class` and shows every control (described), a live
    readout and the image, and that its display data carries the widget and the PNG fallback."""
    assert shown.widget is not None and css_class in shown.widget._dom_classes
    rows = shown.widget.children
    visible = [*rows, *(child for row in rows if isinstance(row, ipywidgets.Box) for child in row.children)]
    for control in controls:
        assert control in visible and control.description.strip()
    assert shown.readout in rows and shown._image in rows
    assert 'role="status"' in shown.readout.value and 'aria-live="polite"' in shown.readout.value
    bundle = shown._repr_mimebundle_()
    assert bundle[WIDGET_VIEW]["model_id"] == shown.widget.model_id
    assert base64.b64decode(bundle["image/png"]).startswith(PNG_MAGIC)


def shown_image(shown: explorer.Explorer) -> bytes:
    """The PNG that the widget of `shown` displays now."""
    assert shown._image is not None
    image = bytes(shown._image.value)
    assert image.startswith(PNG_MAGIC)
    return image
