"""descent_playground: the stability bounds against companion-matrix eigenvalues, and the playground's behaviour.

The tests drive the playground with fake optimisers (no heavy-ball code lives in lib or its tests): they record
how they are called and return a known path, so each test can check that the playground draws and reports
exactly what the optimiser returned.
"""

from __future__ import annotations

from typing import Any

import ipywidgets
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from calcml import descent_playground as dp
from calcml import functions

from .widget_helpers import assert_interactive, assert_static, shown_image

pytestmark = pytest.mark.filterwarnings("error")


class Recorder:
    """A fake optimiser: x_k = x0 * (factor**lr)**k, recording every call."""

    def __init__(self, factor: float = 0.5) -> None:
        self.factor, self.calls = factor, []

    def __call__(self, grad: Any, x0: np.ndarray, lr: float, beta: float, steps: int) -> np.ndarray:
        self.calls.append({"grad": grad, "x0": x0.copy(), "lr": lr, "beta": beta, "steps": steps})
        return x0 * (self.factor**lr) ** np.arange(steps + 1)[:, None]


def _companion_radius(lr: float, beta: float, lam: np.ndarray) -> float:
    return max(np.max(np.abs(np.linalg.eigvals(np.array([[1 + beta - lr * x, -beta], [1.0, 0.0]])))) for x in lam)


def _line(ax: Any, label: str) -> np.ndarray:
    (line,) = [line for line in ax.get_lines() if line.get_label() == label]
    return np.column_stack(line.get_data())


# The bounds


@settings(max_examples=300, deadline=None)
@given(st.floats(1e-3, 5.0), st.floats(0.0, 0.99), st.lists(st.floats(1e-2, 2.0), min_size=1, max_size=5))
def test_spectral_radius_matches_the_companion_matrices(lr: float, beta: float, lam: list[float]) -> None:
    assert dp._spectral_radius(lr, beta, lam) == pytest.approx(_companion_radius(lr, beta, np.array(lam)),
                                                              rel=1e-6, abs=1e-6)


@settings(max_examples=300, deadline=None)
@given(st.floats(1e-3, 5.0), st.floats(0.0, 0.99), st.lists(st.floats(1e-2, 2.0), min_size=1, max_size=5))
def test_stability_bound_agrees_with_the_spectral_radius(lr: float, beta: float, lam: list[float]) -> None:
    radius = _companion_radius(lr, beta, np.array(lam))
    if abs(radius - 1.0) > 1e-6:  # on the boundary itself round-off decides
        assert dp.heavy_ball_is_stable(lr, beta, lam) is bool(radius < 1.0)


def test_plain_gd_radius_and_bound() -> None:
    lam = [0.1, 1.0]
    assert dp._spectral_radius(1.5, 0.0, lam) == pytest.approx(0.85)  # max(|1 - 0.15|, |1 - 1.5|)
    assert dp.heavy_ball_is_stable(1.99, 0.0, lam) and not dp.heavy_ball_is_stable(2.01, 0.0, lam)
    assert dp.heavy_ball_is_stable(2.99, 0.5, lam) and not dp.heavy_ball_is_stable(3.01, 0.5, lam)
    assert not dp.heavy_ball_is_stable(1.0, 1.0, lam) and not dp.heavy_ball_is_stable(1.0, -0.1, lam)
    assert not dp.heavy_ball_is_stable(-0.1, 0.0, lam)


def test_complex_roots_contract_by_root_beta() -> None:
    # eta = 1, beta = 1/2: z^2 - (1/2 + 1 - lambda) z + 1/2 has complex roots of modulus sqrt(1/2) for both.
    assert dp._spectral_radius(1.0, 0.5, [0.1, 1.0]) == pytest.approx(np.sqrt(0.5))


# Static mode


@pytest.mark.usefixtures("static")
def test_static_mode_draws_the_optimiser_path_and_makes_no_widget(widgets_made: list[ipywidgets.Widget]) -> None:
    recorder = Recorder()
    play = dp.playground(recorder, beta=0.0, steps=7)
    bundle = assert_static(play, widgets_made)
    assert play.controls == {}
    assert bundle["text/plain"] == f"Descent playground: {play.readout_text()}"
    assert len(recorder.calls) == 1  # beta = 0: no separate reference run
    call = recorder.calls[0]
    assert (call["lr"], call["beta"], call["steps"]) == (1.0, 0.0, 7)
    np.testing.assert_array_equal(call["x0"], dp.PROBLEMS["quadratic"]["x0"])
    np.testing.assert_allclose(_line(play.figure.axes[0], "gradient descent"), play.trajectory)
    np.testing.assert_allclose(play.trajectory[3], call["x0"] / 8)


@pytest.mark.usefixtures("static")
def test_axes_are_labelled_and_loss_is_on_a_log_scale() -> None:
    play = dp.playground(Recorder())
    left, right = play.figure.axes
    assert left.get_xlabel() and left.get_ylabel() and right.get_xlabel() and right.get_ylabel()
    assert right.get_yscale() == "log"


@pytest.mark.usefixtures("static")
def test_the_grad_passed_is_the_quadratic_with_the_chosen_condition_number() -> None:
    recorder = Recorder()
    dp.playground(recorder, kappa=50.0, beta=0.0)
    grad, x = recorder.calls[0]["grad"], np.array([0.3, -0.7])
    hessian = np.column_stack([grad(e) - grad(np.zeros(2)) for e in np.eye(2)])
    np.testing.assert_allclose(np.linalg.eigvalsh(hessian), [1 / 50, 1.0], rtol=1e-12)
    np.testing.assert_allclose(grad(np.zeros(2)), 0.0, atol=1e-15)  # the minimum is at the origin
    assert grad(x).shape == (2,)


@pytest.mark.usefixtures("static")
def test_momentum_is_compared_with_plain_gd_from_the_same_optimiser() -> None:
    recorder = Recorder()
    play = dp.playground(recorder, lr=0.7, beta=0.6)
    assert [(c["lr"], c["beta"]) for c in recorder.calls] == [(0.7, 0.6), (0.7, 0.0)]
    assert play.reference is not None
    assert len(play.figure.axes[1].get_lines()) == 2


@pytest.mark.usefixtures("static")
@pytest.mark.parametrize("beta", [0.0, 0.5, 0.9])
def test_readout_says_stable_just_below_and_unstable_just_above_the_bound(beta: float) -> None:
    bound = 2 * (1 + beta)  # lambda_max = 1 for the quadratic
    below = dp.playground(Recorder(), lr=0.99 * bound, beta=beta).readout_text()
    above = dp.playground(Recorder(2.0), lr=1.01 * bound, beta=beta).readout_text()
    assert "stable" in below and "UNSTABLE" not in below
    assert "UNSTABLE" in above
    rate = dp._spectral_radius(0.99 * bound, beta, [0.1, 1.0])
    assert f"{rate:.4f}" in below


@pytest.mark.usefixtures("static")
def test_readout_compares_with_plain_gd_only_when_there_is_momentum() -> None:
    with_momentum = dp.playground(Recorder(), lr=1.5, beta=0.5).readout_text()
    assert f"(plain GD: {dp._spectral_radius(1.5, 0.0, [0.1, 1.0]):.4f})" in with_momentum
    assert "plain GD:" not in dp.playground(Recorder(), lr=1.5, beta=0.0).readout_text()


@pytest.mark.usefixtures("static")
def test_rosenbrock_uses_its_hessian_at_the_minimum() -> None:
    recorder = Recorder()
    play = dp.playground(recorder, problem="rosenbrock")
    lam = np.linalg.eigvalsh(functions.rosenbrock_hessian(np.array([1.0, 1.0])))
    np.testing.assert_allclose(play.eigenvalues, lam)
    assert f"{2 / lam[1]:.4g}" in play.readout_text()
    assert recorder.calls[0]["grad"] is functions.rosenbrock_grad


@pytest.mark.usefixtures("static")
def test_a_diverging_optimiser_is_drawn_without_warnings() -> None:
    def explode(grad: Any, x0: np.ndarray, lr: float, beta: float, steps: int) -> np.ndarray:
        return x0 * np.float64(1e200) ** np.arange(steps + 1)[:, None]  # overflows to inf after two steps

    play = dp.playground(explode, lr=3.0, beta=0.0, steps=5)
    assert "diverged" in play.readout_text() and "UNSTABLE" in play.readout_text()
    play.png()


@pytest.mark.usefixtures("static")
@pytest.mark.parametrize("shape", [(2,), (5, 2)])
def test_a_wrong_trajectory_shape_is_explained(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match=r"steps \+ 1, 2"):
        dp.playground(lambda *args: np.zeros(shape), steps=5)


@pytest.mark.usefixtures("static")
def test_the_untouched_exercise_error_reaches_the_learner() -> None:
    def stub(*args: Any) -> None:
        raise NotImplementedError

    with pytest.raises(NotImplementedError):
        dp.playground(stub)


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="problem"):
        dp.playground(Recorder(), problem="himmelblau")
    with pytest.raises(TypeError, match="unknown"):
        dp.playground(Recorder()).update(eta=0.1)


# Interactive mode


@pytest.mark.usefixtures("interactive")
def test_controls_are_findable_and_described() -> None:
    play = dp.playground(Recorder())
    assert set(play.controls) == {"problem", "kappa", "lr", "beta", "steps"}
    assert_interactive(play, "calcml-descent-playground", list(play.controls.values()))
    assert all(f"calcml-{name}-control" in control._dom_classes for name, control in play.controls.items())
    assert "calcml-stability-readout" in play.readout._dom_classes


@pytest.mark.usefixtures("interactive")
def test_moving_the_learning_rate_reruns_the_optimiser_and_updates_the_readout() -> None:
    recorder = Recorder()
    play = dp.playground(recorder, beta=0.0)
    before_text, before_image = play.readout.value, shown_image(play)
    assert "stable" in before_text and "UNSTABLE" not in before_text
    play.controls["lr"].value = 2.5
    assert recorder.calls[-1]["lr"] == pytest.approx(2.5)
    assert "UNSTABLE" in play.readout.value and play.readout.value != before_text
    assert shown_image(play) != before_image
    play.controls["beta"].value = 0.5  # 2.5 < 2(1 + 0.5): momentum widens the stable range
    assert "UNSTABLE" not in play.readout.value
    assert [c["beta"] for c in recorder.calls[-2:]] == [0.5, 0.0]


@pytest.mark.usefixtures("interactive")
def test_moving_kappa_changes_the_quadratic() -> None:
    play = dp.playground(Recorder())
    play.controls["kappa"].value = 100.0
    np.testing.assert_allclose(play.eigenvalues, [0.01, 1.0])
    assert "κ = 100" in play.readout.value


@pytest.mark.usefixtures("interactive")
def test_switching_to_rosenbrock_resets_defaults_and_disables_kappa() -> None:
    recorder = Recorder()
    play = dp.playground(recorder)
    calls = len(recorder.calls)
    play.controls["problem"].value = "rosenbrock"
    defaults = dp.PROBLEMS["rosenbrock"]
    assert play.controls["kappa"].disabled
    assert play.controls["lr"].value == pytest.approx(defaults["lr"])
    assert play.controls["steps"].value == defaults["steps"]
    assert len(recorder.calls) == calls + 1  # one redraw (beta = 0 there), not one per control
    assert "Rosenbrock" in play.readout.value
    play.update(problem="quadratic")
    assert not play.controls["kappa"].disabled and play.controls["lr"].value == pytest.approx(1.0)
