"""Tests of calcml.decision: accuracy, the decision-boundary plot, training curves and the training explorer."""

from __future__ import annotations

from typing import Any

import ipywidgets
import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.collections import PathCollection

from calcml import data, decision, plots

from .widget_helpers import assert_interactive, assert_static, shown_image

pytestmark = pytest.mark.filterwarnings("error")


def line(P: np.ndarray) -> np.ndarray:
    """A linear score whose boundary is the vertical line x1 = 0.5."""
    return P[:, 0] - 0.5


# accuracy


def test_accuracy_in_both_label_conventions() -> None:
    assert decision.accuracy([2.0, -1.0, 0.5, -3.0], [1, -1, -1, -1]) == 0.75
    assert decision.accuracy([0.9, 0.2, 0.6], [1, 0, 0], threshold=0.5) == pytest.approx(2 / 3)
    assert decision.accuracy([0.0], [1]) == 0.0  # exactly on the threshold counts as negative


# plot_decision_boundary


def test_boundary_plot_is_labelled_and_shades_the_predicted_regions() -> None:
    X, y = data.moons(40, seed=1)
    ax = decision.plot_decision_boundary(line, X, y, grid=30, padding=0.25)
    assert ax.get_xlabel() and ax.get_ylabel()
    (image,) = [im for im in ax.get_images() if im.get_gid() == "regions"]
    regions = np.asarray(image.get_array())
    lo, hi = X.min(axis=0) - 0.25, X.max(axis=0) + 0.25
    x1 = np.linspace(lo[0], hi[0], 30)
    np.testing.assert_array_equal(regions, np.tile(x1 > 0.5, (30, 1)).astype(float))
    assert ax.get_xlim() == pytest.approx((lo[0], hi[0])) and ax.get_ylim() == pytest.approx((lo[1], hi[1]))


def test_boundary_is_drawn_where_the_score_is_zero() -> None:
    X, y = data.blobs(30, seed=2)
    ax = decision.plot_decision_boundary(line, X, y, grid=50)
    (boundary,) = [c for c in ax.collections if c.get_gid() == "boundary"]
    vertices = np.concatenate([p.vertices for p in boundary.get_paths()])
    np.testing.assert_allclose(vertices[:, 0], 0.5, atol=1e-9)


def test_no_boundary_and_no_warning_when_one_class_is_predicted_everywhere() -> None:
    X, y = data.blobs(20, seed=3)
    ax = decision.plot_decision_boundary(lambda P: np.ones(len(P)), X, y, grid=20)
    assert not [c for c in ax.collections if c.get_gid() == "boundary"]
    assert "50.0%" in ax.get_title()


def test_points_are_split_by_class_with_distinct_colours_and_markers() -> None:
    X, y = data.moons(31, seed=4, signed=False)
    ax = decision.plot_decision_boundary(line, X, y, grid=20, threshold=0.0)
    scatters = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert [len(s.get_offsets()) for s in scatters] == [int(np.sum(y == 0)), int(np.sum(y == 1))]
    colours = {tuple(np.round(s.get_facecolor()[0], 3)) for s in scatters}
    assert len(colours) == 2
    assert [t.get_text() for t in ax.get_legend().get_texts()][-2:] == ["class 0", "class 1"]
    expected = decision.accuracy(line(X), y)
    assert f"{expected:.1%}" in ax.get_title()


def test_boundary_plot_draws_on_given_axes_with_a_title() -> None:
    _, ax = plt.subplots()
    X, y = data.moons(20)
    assert decision.plot_decision_boundary(line, X, y, ax=ax, grid=10, title="mine") is ax
    assert ax.get_title() == "mine"


# plot_training_curve


def test_training_curve_with_accuracy_and_marker() -> None:
    losses, accs = [1.0, 0.5, 0.3, 0.2], [0.5, 0.6, 0.8, 0.9]
    ax = decision.plot_training_curve(losses, accuracies=accs, step=2)
    assert ax.get_xlabel() == "training step" and ax.get_ylabel() == "loss"
    (loss_line,) = [ln for ln in ax.get_lines() if ln.get_gid() == "loss"]
    np.testing.assert_array_equal(loss_line.get_ydata(), losses)
    (current,) = [ln for ln in ax.get_lines() if ln.get_gid() == "current"]
    assert tuple(current.get_xydata()[0]) == (2.0, 0.3)
    (twin,) = [a for a in ax.figure.axes if a is not ax]
    assert twin.get_ylabel() == "training accuracy"
    np.testing.assert_array_equal(twin.get_lines()[0].get_ydata(), accs)
    assert {t.get_text() for t in ax.get_legend().get_texts()} == {"training loss", "training accuracy"}


def test_overlaid_runs_get_different_palette_colours() -> None:
    ax = decision.plot_training_curve([3.0, 2.0, 1.0], label="numerical")
    decision.plot_training_curve([3.0, 2.1, 1.1], ax=ax, label="autograd", linestyle="--")
    runs = [ln for ln in ax.get_lines() if ln.get_gid() == "loss"]
    assert [ln.get_color() for ln in runs] == list(plots.PALETTE[:2])
    assert [ln.get_linestyle() for ln in runs] == ["-", "--"]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["numerical", "autograd"]


# training_explorer


def _run() -> tuple[list[np.ndarray], Any, np.ndarray, np.ndarray, list[float]]:
    """A fake training run: a vertical boundary x1 = c sliding from -1 to 1.5 over 11 steps."""
    X, y = data.moons(40, noise=0.05, seed=0)
    snapshots = [np.array([c]) for c in np.linspace(-1.0, 1.5, 11)]
    losses = [1.0 / (1 + k) for k in range(11)]
    return snapshots, lambda s, P: P[:, 0] - s[0], X, y, losses


@pytest.mark.usefixtures("static")
def test_static_explorer_shows_the_last_step_and_makes_no_widget(widgets_made: list[ipywidgets.Widget]) -> None:
    snapshots, predict, X, y, losses = _run()
    explorer = decision.training_explorer(snapshots, predict, X, y, losses)
    bundle = assert_static(explorer, widgets_made)
    assert explorer.slider is None and explorer.play is None
    assert explorer.step == 10
    assert bundle["text/plain"].startswith("Training run: step 10 of 10")
    expected = [decision.accuracy(predict(s, X), y) for s in snapshots]
    assert explorer.accuracies == expected
    for ax in explorer.figure.axes:
        assert ax.get_xlabel() or ax.get_ylabel()


@pytest.mark.usefixtures("static")
def test_static_explorer_can_still_be_moved_and_clips() -> None:
    snapshots, predict, X, y, losses = _run()
    explorer = decision.training_explorer(snapshots, predict, X, y, losses, step=3)
    assert explorer.update(7) == losses[7] and explorer.step == 7
    assert explorer.update(99) == losses[10] and explorer.update(-5) == losses[0]
    assert len(explorer.figure.axes) == 3, "redrawing must not pile up accuracy axes"


@pytest.mark.usefixtures("interactive")
def test_moving_the_slider_updates_readout_and_figure(widgets_made: list[ipywidgets.Widget]) -> None:
    snapshots, predict, X, y, losses = _run()
    explorer = decision.training_explorer(snapshots, predict, X, y, losses, step=0)
    assert explorer.slider is not None and explorer.readout is not None and explorer.play is not None
    assert_interactive(explorer, "calcml-training-explorer", [explorer.play, explorer.slider])
    assert "calcml-training-readout" in explorer.readout._dom_classes
    assert (explorer.slider.min, explorer.slider.max) == (0, 10)
    assert explorer.slider.value == explorer.play.value == 0  # the play button starts where the slider is
    before = shown_image(explorer)
    explorer.slider.value = 6
    assert explorer.step == 6
    assert f"loss {losses[6]:.4f}" in explorer.readout.value
    assert f"{explorer.accuracies[6]:.1%}" in explorer.readout.value
    assert shown_image(explorer) != before
    assert explorer.figure.axes[1].get_title().startswith(f"Loss {losses[6]:.4f}")
    explorer.update(2)
    assert explorer.slider.value == explorer.play.value == 2 and "step 2 of 10" in explorer.readout.value
    links = [w for w in widgets_made if isinstance(w, ipywidgets.widget_link.Link)]
    assert [(link.source, link.target) for link in links] == [((explorer.play, "value"), (explorer.slider, "value"))]


def test_one_loss_per_snapshot_is_required() -> None:
    snapshots, predict, X, y, losses = _run()
    with pytest.raises(ValueError, match="one loss per snapshot"):
        decision.training_explorer(snapshots, predict, X, y, losses[:-1])
