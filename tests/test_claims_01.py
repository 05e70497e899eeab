"""Every number and bound stated in the prose of unit 01 (derivatives) that issue 11 added or changed, checked
independently.

The references are sympy (exact) and a few lines of NumPy written here, never the notebook's own code.
"""

from __future__ import annotations

import jupytext
import numpy as np
import sympy as sp

from grading import manifest

EPS = np.finfo(np.float64).eps


def markdown(unit_id: str) -> str:
    notebook = jupytext.read(manifest.source_script(manifest.unit(unit_id)))
    return "\n".join(c.source for c in notebook.cells if c.cell_type == "markdown")


def test_01_best_steps_and_errors_of_section_4() -> None:
    """h* ~ ε^(1/2) ≈ 1.5e-8 (forward), ε^(1/3) ≈ 6e-6 (central), best central error ε^(2/3) ≈ 4e-11."""
    text = markdown("01_derivatives")
    assert r"\varepsilon^{1/2} \approx 1.5 \times 10^{-8}" in text
    assert r"\varepsilon^{1/3} \approx 6 \times 10^{-6}" in text
    assert abs(np.sqrt(EPS) - 1.5e-8) < 0.05e-8
    assert abs(EPS ** (1 / 3) - 6e-6) < 0.1e-6
    assert abs(EPS ** (2 / 3) - 4e-11) < 0.5e-11


def test_01_a_relative_step_breaks_at_tiny_nonzero_x() -> None:
    """At x = 1e-12 the relative step ε^(1/3)|x| is about 6e-18, the round-off estimate ε|f|/h for e^x is about 37,
    far above the derivative 1, and the central difference with that step is indeed useless there."""
    text = markdown("01_derivatives")
    assert r"$6 \times 10^{-18}$ at $x = 10^{-12}$" in text and "about 37, far larger than the derivative 1" in text
    x = 1e-12
    h = EPS ** (1 / 3) * abs(x)
    assert abs(h - 6e-18) < 0.1e-18
    assert round(EPS * np.exp(x) / h) == 37
    central = (np.exp(x + h) - np.exp(x - h)) / (2 * h)
    assert abs(central - np.exp(x)) > 0.5  # not even the first digit is right
    # while the step of max(1, |x|) gets it to about 1e-10
    h = EPS ** (1 / 3) * max(1.0, abs(x))
    assert abs((np.exp(x + h) - np.exp(x - h)) / (2 * h) - np.exp(x)) < 1e-9


def test_01_the_tangent_hugs_the_curve_to_second_order() -> None:
    """Exercise 1: near a, the gap between the curve and its tangent shrinks like (x - a)² (the hidden test allows
    10 (x - a)²): for the functions the test uses, |f''|/2 stays well below 10 where a is drawn."""
    t, a = sp.symbols("t a")
    for f in [sp.sin(t), sp.exp(t), sp.tanh(t), sp.atan(t), t**3, sp.exp(-t**2 / 2)]:
        second = sp.lambdify(t, sp.diff(f, t, 2) / 2, "numpy")
        grid = np.linspace(-1.5 - 0.01, 1.5 + 0.01, 3001)
        assert np.max(np.abs(second(grid))) < 5.0, f
        gap = f - (f.subs(t, a) + sp.diff(f, t).subs(t, a) * (t - a))
        assert sp.simplify(sp.limit(gap / (t - a) ** 2, t, a) - sp.diff(f, t, 2).subs(t, a) / 2) == 0


def test_01_exercise_count_in_the_prose_matches_the_manifest() -> None:
    text = markdown("01_derivatives")
    assert "The six graded exercises" in text and "Six exercises, each building on the last" in text
    assert len(manifest.unit("01_derivatives")["exercises"]) == 6
