r"""The descent playground: your optimiser on a quadratic or on Rosenbrock's valley, with live stability bounds.

On a quadratic with Hessian eigenvalues $\lambda_i$, heavy-ball momentum
$x_{k+1} = x_k - \eta \nabla f(x_k) + \beta (x_k - x_{k-1})$ moves each eigen-coordinate by the recurrence
$c_{k+1} = (1 + \beta - \eta\lambda) c_k - \beta c_{k-1}$, whose characteristic polynomial is
$z^2 - (1 + \beta - \eta\lambda) z + \beta$. The iterates converge for every start exactly when both roots
lie inside the unit circle for every $\lambda_i$, which (Jury's test) is

$$ 0 \le \beta < 1 \quad\text{and}\quad 0 < \eta \lambda_i < 2 (1 + \beta) \text{ for all } i. $$

With $\beta = 0$ this is plain gradient descent's $\eta < 2 / \lambda_{\max}$. The largest root modulus
(the spectral radius $\rho$) is the predicted asymptotic contraction per step (with momentum the error
may first grow). On Rosenbrock the bound is local:
it uses the Hessian at the minimum $(1, 1)$.

The playground does not contain an optimiser: you pass yours, called as
`optimiser(grad, x0, lr, beta, steps)` and returning the trajectory, an array of shape `(steps + 1, 2)`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ipywidgets
import numpy as np
from matplotlib.figure import Figure
from numpy.typing import ArrayLike, NDArray

from calcml import explorer, functions, plots

Array = NDArray[np.float64]
Optimiser = Callable[[Callable[[Array], Array], Array, float, float, int], ArrayLike]

#: Each problem's start, plot box, minimiser and default (lr, beta, steps).
PROBLEMS: dict[str, dict[str, Any]] = {
    "quadratic": {"x0": (-1.8, 0.9), "box": (-2.2, 2.2, -2.2, 2.2), "x_star": (0.0, 0.0), "lr": 1.0, "beta": 0.5,
                  "steps": 60},
    "rosenbrock": {"x0": (-1.2, 1.0), "box": (-2.0, 2.0, -1.0, 3.0), "x_star": (1.0, 1.0), "lr": 1e-3,
                   "beta": 0.0, "steps": 2000},
}
_ANGLE = np.pi / 6  # the quadratic's stiff direction, fixed so that moving kappa only stretches the bowl


def _spectral_radius(lr: float, beta: float, eigenvalues: ArrayLike) -> float:
    r"""The largest root modulus of $z^2 - (1 + \beta - \eta\lambda) z + \beta$ over the eigenvalues $\lambda$."""
    lam = np.atleast_1d(np.asarray(eigenvalues, dtype=np.float64))
    trace = (1.0 + beta - lr * lam).astype(complex)
    root = np.sqrt(trace**2 - 4.0 * beta)
    return float(np.max(np.maximum(np.abs(trace + root), np.abs(trace - root))) / 2.0)


def heavy_ball_is_stable(lr: float, beta: float, eigenvalues: ArrayLike) -> bool:
    r"""Whether $0 \le \beta < 1$ and $0 < \eta\lambda < 2(1 + \beta)$ for every eigenvalue $\lambda$."""
    lam = np.atleast_1d(np.asarray(eigenvalues, dtype=np.float64))
    return bool(0.0 <= beta < 1.0 and np.all(lr * lam > 0) and np.all(lr * lam < 2.0 * (1.0 + beta)))


class Playground(explorer.Explorer):
    """Trajectories of an optimiser, redrawn when a control moves. Made by `playground`.

    Attributes:
        settings: The current `problem`, `kappa`, `lr`, `beta` and `steps`.
        trajectory: The optimiser's trajectory for the current settings, shape `(steps + 1, 2)`.
        reference: Plain gradient descent (the same optimiser with `beta = 0`), or None when `beta = 0`.
        controls: The named controls (`problem`, `kappa`, `lr`, `beta`, `steps`), empty in static mode.
        figure: Contour plot with the trajectory (left) and the loss gap on a log scale (right).
        readout, widget: As for every `explorer.Explorer`; CSS class `calcml-descent-playground`.
    """

    css_class = "calcml-descent-playground"
    readout_class = "calcml-stability-readout"
    dpi = 90

    def __init__(self, optimiser: Optimiser, settings: dict[str, Any], interactive: bool) -> None:
        if settings["problem"] not in PROBLEMS:
            raise ValueError(f"problem must be one of {sorted(PROBLEMS)}, not {settings['problem']!r}")
        super().__init__(Figure(figsize=(10.0, 4.2), layout="constrained"), "Descent playground")
        self.optimiser, self.settings = optimiser, dict(settings)
        self._axes = (self.figure.add_subplot(1, 2, 1), self.figure.add_subplot(1, 2, 2))
        self.controls: dict[str, ipywidgets.ValueWidget] = {}
        self._start(interactive)

    def update(self, **settings: Any) -> None:
        """Change settings (`problem`, `kappa`, `lr`, `beta`, `steps`) and redraw once.

        A new problem brings its default `lr`, `beta` and `steps`, unless they are given too.
        """
        unknown = set(settings) - set(self.settings)
        if unknown:
            raise TypeError(f"unknown setting(s) {sorted(unknown)}; use {sorted(self.settings)}")
        if settings.get("problem", self.settings["problem"]) != self.settings["problem"]:
            defaults = PROBLEMS[settings["problem"]]
            settings = {**{k: defaults[k] for k in ("lr", "beta", "steps")}, **settings}
        self.settings.update(settings)
        self._show()

    @property
    def eigenvalues(self) -> Array:
        """The Hessian's eigenvalues that set the bounds (for Rosenbrock: at the minimum)."""
        if self.settings["problem"] == "quadratic":
            return np.array([1.0 / self.settings["kappa"], 1.0])
        return np.linalg.eigvalsh(functions.rosenbrock_hessian(np.array([1.0, 1.0])))

    def readout_text(self) -> str:
        """The bounds, the verdict and the final gap, as one line of plain text."""
        s, lam = self.settings, self.eigenvalues
        lr, beta, top = s["lr"], s["beta"], lam[-1]
        where = f"quadratic, κ = {s['kappa']:.3g}" if s["problem"] == "quadratic" else "Rosenbrock near (1, 1)"
        bound = 2.0 * (1.0 + beta)
        stable = heavy_ball_is_stable(lr, beta, lam)
        plain = f" (plain GD: {_spectral_radius(lr, 0.0, lam):.4f})" if beta else ""
        verdict = (f"stable: η·λ_max = {lr * top:.3g} < 2(1 + β) = {bound:.3g}, predicted asymptotic contraction "
                   f"per step ρ = {_spectral_radius(lr, beta, lam):.4f}{plain}"
                   if stable else f"UNSTABLE: η·λ_max = {lr * top:.3g} ≥ 2(1 + β) = {bound:.3g}, no convergence "
                   "(past the bound the iterates blow up)")
        gd = "inside" if lr * top < 2.0 else "outside"
        gap = self._gap(self.trajectory)[-1]
        final = f"{gap:.3g}" if np.isfinite(gap) else "diverged"
        return (f"{where}: λ_min = {lam[0]:.4g}, λ_max = {top:.4g}; plain GD bound η < 2/λ_max = {2 / top:.4g} "
                f"({gd}). Heavy ball, β = {beta:.2f}: {verdict}. After {s['steps']} steps f − f* = {final}.")

    def _problem(self) -> tuple[Callable[[Array], Any], Callable[[Array], Array]]:
        if self.settings["problem"] == "rosenbrock":
            return functions.rosenbrock, functions.rosenbrock_grad
        rot = np.array([[np.cos(_ANGLE), -np.sin(_ANGLE)], [np.sin(_ANGLE), np.cos(_ANGLE)]])
        q = functions.Quadratic((rot * self.eigenvalues[::-1]) @ rot.T, np.zeros(2))
        return q.f, q.grad

    def _run(self, grad: Callable[[Array], Array], beta: float) -> Array:
        s = self.settings
        x0 = np.array(PROBLEMS[s["problem"]]["x0"])
        with np.errstate(all="ignore"):
            path = np.asarray(self.optimiser(grad, x0, float(s["lr"]), float(beta), int(s["steps"])), dtype=float)
        if path.shape != (s["steps"] + 1, 2):
            raise ValueError(f"the optimiser returned shape {path.shape}; the playground needs the whole trajectory, "
                             f"shape (steps + 1, 2) = ({s['steps'] + 1}, 2), with x0 as row 0")
        return path

    def _gap(self, path: Array) -> Array:
        f, _ = self._problem()
        with np.errstate(all="ignore"):
            gap = np.asarray(f(path.T), dtype=float) - float(f(np.array(PROBLEMS[self.settings["problem"]]["x_star"])))
        return np.where(np.isfinite(gap), gap, np.inf)

    def _draw(self) -> None:
        s, spec = self.settings, PROBLEMS[self.settings["problem"]]
        f, grad = self._problem()
        self.trajectory = self._run(grad, s["beta"])
        self.reference = self._run(grad, 0.0) if s["beta"] != 0 else None
        left, right = self._axes
        left.clear()
        right.clear()
        plots.new_axes("x₁", "x₂", "Trajectory on the contours of f", ax=left)
        plots.new_axes("step k", "f(x_k) − f*  (log scale)", "Loss gap", ax=right)
        x_lo, x_hi, y_lo, y_hi = spec["box"]
        grid = np.stack(np.meshgrid(np.linspace(x_lo, x_hi, 161), np.linspace(y_lo, y_hi, 161)))
        values = np.asarray(f(grid)) - float(f(np.array(spec["x_star"])))
        left.contour(grid[0], grid[1], values, levels=np.geomspace(1e-4, 1.0, 14) * values.max(),
                     colors=plots.COLORS["sky_blue"], linewidths=0.8)
        runs = [(self.trajectory, f"heavy ball, β = {s['beta']:.2f}" if s["beta"] else "gradient descent",
                 plots.COLORS["vermillion"], "-")]
        if self.reference is not None:
            runs.append((self.reference, "plain GD (β = 0)", plots.COLORS["blue"], "--"))
        for path, label, color, style in runs:
            shown = np.where(np.abs(path) < 1e6, path, np.nan)
            left.plot(shown[:, 0], shown[:, 1], style, color=color, lw=1.4, marker=".", ms=3, label=label)
            gap = self._gap(path)
            right.semilogy(np.arange(len(gap)), np.where((gap > 0) & np.isfinite(gap), gap, np.nan), style,
                           color=color, lw=1.6, label=label)
        left.plot(*spec["x_star"], "*", color=plots.COLORS["black"], ms=12, label="minimum x*")
        left.plot(*spec["x0"], "o", color=plots.COLORS["black"], ms=6, label="start x₀")
        left.set_xlim(x_lo, x_hi)
        left.set_ylim(y_lo, y_hi)
        left.legend(loc="lower right", fontsize="small")
        right.legend(loc="best", fontsize="small")

    def _build_controls(self) -> list[ipywidgets.ValueWidget]:
        wide = explorer.control_options
        self.controls = {
            "problem": ipywidgets.Dropdown(options=[("quadratic bowl", "quadratic"),
                                                    ("Rosenbrock valley", "rosenbrock")],
                                           description="landscape", **wide()),
            "kappa": ipywidgets.FloatLogSlider(base=10, min=0, max=3, step=0.05, description="condition number κ",
                                               **wide()),
            "lr": ipywidgets.FloatLogSlider(base=10, min=-5, max=np.log10(5.0), step=0.01, readout_format=".3g",
                                            description="learning rate η", **wide()),
            "beta": ipywidgets.FloatSlider(min=0.0, max=0.99, step=0.01, description="momentum β", **wide()),
            "steps": ipywidgets.IntSlider(min=1, max=5000, description="steps", **wide()),
        }
        for name, control in self.controls.items():
            control.add_class(f"calcml-{name}-control")
        return list(self.controls.values())

    def _on_control(self, change: dict[str, Any]) -> None:
        if not self._syncing:  # through `update`, so that a new problem brings its defaults
            name = next(k for k, c in self.controls.items() if c is change["owner"])
            self.update(**{name: change["new"]})

    def _read_controls(self) -> None:
        self.settings.update({name: control.value for name, control in self.controls.items()})

    def _write_controls(self) -> None:
        for name, control in self.controls.items():
            control.value = self.settings[name]
        self.controls["kappa"].disabled = self.settings["problem"] != "quadratic"


def playground(
    optimiser: Optimiser,
    *,
    problem: str = "quadratic",
    kappa: float = 10.0,
    lr: float | None = None,
    beta: float | None = None,
    steps: int | None = None,
) -> Playground:
    r"""Sliders for $\eta$, $\beta$ and $\kappa$ that rerun `optimiser` and redraw its trajectory and loss curve.

    The readout says, live, whether $(\eta, \beta)$ is inside the heavy-ball stability region
    $\eta\lambda_{\max} < 2(1 + \beta)$ and gives the predicted asymptotic contraction per step. When
    $\beta > 0$ the same optimiser with $\beta = 0$ (plain gradient descent) is drawn too, for comparison. Without
    a front end (see `explorer.has_frontend`) the figure for the given settings is shown statically.

    Args:
        optimiser: Called as `optimiser(grad, x0, lr, beta, steps)`; returns the trajectory, shape `(steps + 1, 2)`.
        problem: "quadratic" (Hessian eigenvalues 1 and 1/κ) or "rosenbrock".
        kappa: Condition number of the quadratic, from 1 to 1000.
        lr: Learning rate $\eta$; None takes the problem's default.
        beta: Momentum $\beta$ in [0, 1); None takes the problem's default.
        steps: Number of steps; None takes the problem's default.

    Returns:
        The playground; its `controls`, `readout` and `update(...)` let code (and tests) drive it.
    """
    defaults = PROBLEMS.get(problem, PROBLEMS["quadratic"])
    settings = {"problem": problem, "kappa": float(kappa), "lr": float(defaults["lr"] if lr is None else lr),
                "beta": float(defaults["beta"] if beta is None else beta),
                "steps": int(defaults["steps"] if steps is None else steps)}
    return Playground(optimiser, settings, interactive=explorer.has_frontend())
