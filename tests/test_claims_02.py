"""Every number and bound stated in the prose of unit 02 (gradients) that issue 11 added or changed, and the
numbers of its worked example, checked independently (sympy and NumPy written here, never the notebook's code).
"""

from __future__ import annotations

import jupytext
import numpy as np
import sympy as sp

from grading import manifest


def markdown(unit_id: str) -> str:
    notebook = jupytext.read(manifest.source_script(manifest.unit(unit_id)))
    return "\n".join(c.source for c in notebook.cells if c.cell_type == "markdown")


def test_02_worked_example_numbers() -> None:
    """At x = (1, -1): Sx = (1.2, -0.2), xᵀSx = 1.4, G = e^(-0.7) ≈ 0.4966, ∇G ≈ (-0.596, 0.099), and the steepest
    way up misses the summit by about 35°."""
    text = markdown("02_gradients")
    assert r"$Sx = (1.2, -0.2)$, $x^\top S x = 1.4$, $G = e^{-0.7} \approx 0.4966$" in text
    assert r"$\nabla G \approx (-0.596, 0.099)$" in text and "misses the summit by about 35°" in text
    S = sp.Matrix([[2, sp.Rational(4, 5)], [sp.Rational(4, 5), 1]])
    x = sp.Matrix([1, -1])
    assert S * x == sp.Matrix([sp.Rational(6, 5), -sp.Rational(1, 5)])
    assert (x.T * S * x)[0, 0] == sp.Rational(7, 5)
    x1, x2 = sp.symbols("x1 x2")
    v = sp.Matrix([x1, x2])
    G = sp.exp(-(v.T * S * v)[0, 0] / 2)
    grad = [float(sp.diff(G, s).subs({x1: 1, x2: -1})) for s in (x1, x2)]
    assert abs(float(G.subs({x1: 1, x2: -1})) - 0.4966) < 5e-5
    assert abs(grad[0] + 0.596) < 5e-4 and abs(grad[1] - 0.099) < 5e-4
    up, to_top = np.array(grad) / np.linalg.norm(grad), -np.array([1.0, -1.0]) / np.sqrt(2)
    assert abs(np.degrees(np.arccos(up @ to_top)) - 35) < 1


def test_02_rbf_kernel_is_the_hill_with_isotropic_s() -> None:
    """With S = I/ℓ², exp(-xᵀSx/2) = exp(-|x|²/(2ℓ²)), the RBF kernel k(x, 0)."""
    assert r"with $S = I/\ell^2$, for a length scale $\ell$, it is the RBF kernel" in markdown("02_gradients")
    x1, x2, ell = sp.symbols("x1 x2 ell", positive=True)
    v = sp.Matrix([x1, x2])
    assert sp.simplify((v.T * (sp.eye(2) / ell**2) * v)[0, 0] / 2 - (x1**2 + x2**2) / (2 * ell**2)) == 0


def test_02_exactly_one_unit_tangent_has_the_uphill_side_on_the_left() -> None:
    """Exercise 5: of the two unit tangents ±t of a contour, exactly one has ∇f to its left (t turned by +90° points
    uphill), and walking along either, f does not change to first order."""
    text = markdown("02_gradients")
    assert "Of the two unit tangents, exactly one has this orientation." in text
    rng = np.random.default_rng(0)
    for _ in range(100):
        g = rng.normal(size=2) * 10.0 ** rng.uniform(-9, 3)
        t = np.array([g[1], -g[0]]) / np.linalg.norm(g)
        lefts = [np.array([-s[1], s[0]]) @ g for s in (t, -t)]
        assert (lefts[0] > 0) != (lefts[1] > 0)
        assert abs(t @ g) <= 1e-12 * np.linalg.norm(g)


def test_02_exercise_count_in_the_prose_matches_the_manifest() -> None:
    assert "The six exercises build the toolkit" in markdown("02_gradients")
    assert len(manifest.unit("02_gradients")["exercises"]) == 6


def test_02_exercise_2_gradients_follow_from_section_4() -> None:
    """Exercise 2: |Ax − b|² expands into xᵀAᵀAx − 2bᵀAx + bᵀb (so b enters through the cross term −2bᵀAx), and
    (Bx)ᵀA(Bx) is the quadratic form xᵀ(BᵀAB)x; with B = I (exercise 6) it is xᵀAx. Both gradients match the rules
    of section 4 for a non-square A and a non-symmetric A, and neither formula is printed in the unit."""
    text = markdown("02_gradients")
    assert "grad_least_squares(A, b, x)" in text and "grad_sandwich(A, B, x)" in text
    assert "$B = I$" in text
    for printed in ("2A^\\top", "A^\\top(Ax", "B^\\top(A"):
        assert printed not in text
    m, n = 3, 2
    A = sp.Matrix(m, n, lambda i, j: sp.Symbol(f"A{i}{j}"))
    b = sp.Matrix(sp.symbols(f"b0:{m}"))
    x = sp.Matrix(sp.symbols(f"x0:{n}"))
    r = A * x - b
    squared = (r.T * r)[0, 0]
    assert sp.expand(squared - ((x.T * A.T * A * x)[0, 0] - 2 * (b.T * A * x)[0, 0] + (b.T * b)[0, 0])) == 0
    grad = sp.Matrix([sp.diff(squared, v) for v in x])
    assert sp.expand(grad - 2 * A.T * (A * x - b)) == sp.zeros(n, 1)
    M = sp.Matrix(m, m, lambda i, j: sp.Symbol(f"M{i}{j}"))
    B = sp.Matrix(m, n, lambda i, j: sp.Symbol(f"B{i}{j}"))
    sandwich = ((B * x).T * M * (B * x))[0, 0]
    assert sp.expand(sandwich - (x.T * (B.T * M * B) * x)[0, 0]) == 0
    grad = sp.Matrix([sp.diff(sandwich, v) for v in x])
    assert sp.expand(grad - B.T * (M + M.T) * B * x) == sp.zeros(n, 1)
    y = sp.Matrix(sp.symbols(f"y0:{m}"))
    assert sp.expand(sp.eye(m).T * (M + M.T) * sp.eye(m) * y - (M + M.T) * y) == sp.zeros(m, 1)
