"""Shared pytest setup for the calcml tests: an off-screen backend, closed figures, and the explorer modes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import ipywidgets
import matplotlib
import matplotlib.pyplot as plt
import pytest

from calcml import explorer

# Draw off screen: tests never open windows, and they run the same on a headless CI machine.
matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def _close_figures() -> Iterator[None]:
    yield
    plt.close("all")


@pytest.fixture
def static(monkeypatch: pytest.MonkeyPatch) -> None:
    """Explorers made during the test are static, as under `CALCML_STATIC=1`."""
    monkeypatch.setenv(explorer.STATIC_ENV, "1")


@pytest.fixture
def interactive(monkeypatch: pytest.MonkeyPatch) -> None:
    """Explorers made during the test build their widgets, as in a Jupyter kernel."""
    monkeypatch.delenv(explorer.STATIC_ENV, raising=False)
    monkeypatch.setattr(explorer, "has_frontend", lambda: True)


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
