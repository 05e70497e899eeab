"""The interactive widget of each unit, as the browser suite finds it in JupyterLab.

Each entry names CSS classes that `calcml` puts on the widget (`add_class`): the container, the slider
the learner moves from the keyboard (None: the container's first slider) and the live readout, whose text
must change when the slider moves. Add a unit here and the suite runs its solved notebook in JupyterLab,
moves its slider with the arrow keys and checks the readout and the figure.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Widget:
    container: str
    readout: str
    slider: str | None = None
    #: The key to press (ArrowLeft for a slider that starts at its maximum), and how often: one step each.
    key: str = "ArrowRight"
    presses: int = 5


WIDGETS: dict[str, Widget] = {
    "01_derivatives": Widget("calcml-tangent-explorer", "calcml-slope-readout", "calcml-x0-slider"),
    "02_gradients": Widget("calcml-gradient-explorer", "calcml-gradient-readout"),
    "03_jacobians": Widget("calcml-linear-map-explorer", "calcml-jacobian-readout"),
    "04_computational_graphs": Widget("calcml-backward-explorer", "calcml-step-readout", "calcml-step-slider"),
    "05_autograd": Widget("calcml-training-explorer", "calcml-training-readout", key="ArrowLeft"),  # starts at the end
    "06_gradient_descent": Widget("calcml-descent-playground", "calcml-stability-readout"),
    "07_loss_gradients": Widget("calcml-loss-explorer", "calcml-loss-readout"),
    "08_pitfalls": Widget("calcml-gradient-flow", "calcml-gradient-flow-readout"),
}
