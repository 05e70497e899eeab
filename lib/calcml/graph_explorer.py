r"""Step through a backward pass one contribution at a time, on the drawn computational graph.

The backward pass fills in gradients from the output to the inputs. Each step adds one contribution

$$ \text{node.grad} \mathrel{+}= \underbrace{\frac{\partial\, \text{child}}{\partial\, \text{node}}}_{\text{local}}
   \times \underbrace{\frac{\partial L}{\partial\, \text{child}}}_{\text{upstream}}, $$

where *child* is a node that used *node* as an input. The explorer does no calculus itself: it replays a list
of `BackwardStep`s that the notebook produced (by hand, or with the student's own code), so this package holds
no autograd engine. A slider moves through the steps; the figure outlines the node being filled in
(vermillion) and the child passing its gradient back (green), and a readout spells the step out in numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import ipywidgets
from matplotlib.figure import Figure

from calcml import explorer, graph


class BackwardStep(NamedTuple):
    r"""One contribution of a backward pass: `node.grad += local * upstream`, after which it is `grad`.

    Attributes:
        node: The node whose gradient grows.
        child: The node that used `node` as an input and passes its gradient back.
        local: The local gradient $\partial\,\text{child} / \partial\,\text{node}$.
        upstream: The child's gradient $\partial L / \partial\,\text{child}$ at that moment.
        grad: `node.grad` after this step.
    """

    node: Any
    child: Any
    local: float
    upstream: float
    grad: float


class BackwardExplorer(explorer.Explorer):
    r"""A slider over the steps of a backward pass; made by `backward_explorer`.

    Step 0 is the seed ($\partial L / \partial L = 1$); step $k$ shows the graph after the first $k$ steps,
    with every gradient not reached yet shown as "grad ?".

    Attributes:
        step: The current step, from 0 to `len(steps)`.
        slider: The `IntSlider` choosing the step, or None in static mode.
        figure, readout, widget: As for every `explorer.Explorer`; CSS class `calcml-backward-explorer`.
    """

    css_class = "calcml-backward-explorer"
    readout_class = "calcml-step-readout"

    def __init__(self, root: Any, steps: Sequence[BackwardStep], *, title: str | None, start: int,
                 interactive: bool) -> None:
        super().__init__(Figure(figsize=graph.figure_size(root)), "Backward pass")
        self.root, self.steps, self.title = root, [BackwardStep(*s) for s in steps], title
        self._ax = self.figure.add_subplot()
        self._ax.set_position((0.005, 0.005, 0.99, 1 - 0.45 / self.figure.get_figheight()))
        self.step = min(max(int(start), 0), len(self.steps))
        self.slider: ipywidgets.IntSlider | None = None
        self._start(interactive)

    def update(self, step: int) -> str:
        """Go to `step` (clipped to 0..len(steps)), redraw, and return the readout text."""
        self.step = min(max(int(step), 0), len(self.steps))
        self._show()
        return self.readout_text()

    def grad_at(self, node: Any, step: int | None = None) -> float | None:
        """The gradient of `node` shown after `step` (default: the current step); None if not reached yet."""
        step = self.step if step is None else step
        grad = 1.0 if node is self.root else None
        for record in self.steps[:step]:
            if record.node is node:
                grad = record.grad
        return grad

    def readout_text(self) -> str:
        """The current step in words and numbers."""
        name = graph._label
        if self.step == 0:
            return (f"Step 0 of {len(self.steps)}: seed {name(self.root) or 'L'}.grad = 1 "
                    "(the output changes one for one with itself).")
        s = self.steps[self.step - 1]
        uses = [i for i, r in enumerate(self.steps) if r.node is s.node]
        part = f" (contribution {uses.index(self.step - 1) + 1} of {len(uses)}: fan-out)" if len(uses) > 1 else ""
        return (f"Step {self.step} of {len(self.steps)}: {name(s.node)}.grad += local ∂{name(s.child)}/∂{name(s.node)}"
                f" {s.local:.4g} × upstream {s.upstream:.4g} = contribution {s.local * s.upstream:.4g}; "
                f"now {name(s.node)}.grad = {s.grad:.4g}{part}")

    def _build_controls(self) -> list[ipywidgets.ValueWidget]:
        self.slider = ipywidgets.IntSlider(
            min=0, max=len(self.steps), description="backward step",
            tooltip="Move through the backward pass one contribution at a time (arrow keys work too)",
            **explorer.control_options())
        self.slider.add_class("calcml-step-slider")
        return [self.slider]

    def _read_controls(self) -> None:
        self.step = int(self.slider.value)

    def _write_controls(self) -> None:
        self.slider.value = self.step

    def _draw(self) -> None:
        step = self.step
        focus = [self.steps[step - 1].node, self.steps[step - 1].child] if step else [self.root]
        self._ax.clear()
        graph.draw(self.root, ax=self._ax, highlight=focus, grad_of=self.grad_at,
                   title=self.title or f"Backward pass, step {step} of {len(self.steps)}")


def backward_explorer(
    root: Any, steps: Sequence[BackwardStep], *, title: str | None = None, start: int = 0
) -> BackwardExplorer:
    """A slider that replays a backward pass on the drawn graph of `root`, one contribution at a time.

    Show it by leaving it as the last expression of a cell. With a front end (see `explorer.has_frontend`)
    the slider redraws the figure and the readout; without one, the figure for step `start` is shown.

    Args:
        root: The output node of a micrograd-style graph (see `calcml.graph`).
        steps: The contributions in the order they were made, as `BackwardStep`s (or 5-tuples).
        title: A fixed title; None shows the step number.
        start: The step shown first (0 is the seed, `len(steps)` the finished pass).

    Returns:
        The explorer; its `slider`, `readout` and `update(step)` let code (and tests) drive it.

    Raises:
        ValueError: If a step names a node or a child that is not in the graph of `root`.
    """
    members = {id(n) for n in graph._collect(root, limit=graph.MAX_NODES)}
    for i, s in enumerate(steps):
        if id(s[0]) not in members or id(s[1]) not in members:
            raise ValueError(f"step {i} names a node that is not in the graph of the root")
    return BackwardExplorer(root, steps, title=title, start=start, interactive=explorer.has_frontend())
