"""Every number and formula stated in the prose of unit 03 (Jacobians), checked independently.

The references are sympy (exact) and a few lines of NumPy written here, never the notebook's own code.
"""

from __future__ import annotations

from pathlib import Path

import jupytext
import numpy as np
import sympy as sp

from grading import manifest


def markdown(unit_id: str) -> str:
    notebook = jupytext.read(manifest.source_script(manifest.unit(unit_id)))
    return "\n".join(c.source for c in notebook.cells if c.cell_type == "markdown")


def passes_to_build(A: np.ndarray, mode: str) -> int:
    """Build J = A from one-hot JVPs (a column each) or VJPs (a row each) of x -> A x; count the products."""
    m, n = A.shape
    count, J = 0, np.zeros_like(A)
    if mode == "forward":
        for j in range(n):
            e = np.zeros(n)
            e[j] = 1.0
            J[:, j] = A @ e
            count += 1
    else:
        for i in range(m):
            e = np.zeros(m)
            e[i] = 1.0
            J[i, :] = A.T @ e
            count += 1
    assert np.array_equal(J, A)
    return count


def test_03_notation_link_resolves() -> None:
    text = markdown("03_jacobians")
    assert "[the course's notation](../../course/notation.md)" in text
    source = manifest.source_script(manifest.unit("03_jacobians"))
    assert (Path(source).parent / "../../course/notation.md").resolve().is_file()


def test_03_vjp_is_the_gradient_of_u_dot_f() -> None:
    """Jᵀu = ∇ₓ(uᵀ f(x)) and ⟨u, Jv⟩ = ⟨Jᵀu, v⟩ (sympy, on the section-4 map R³ → R⁴)."""
    x = sp.symbols("x0:3")
    u, v = sp.symbols("u0:4"), sp.symbols("v0:3")
    f = sp.Matrix([x[0] * x[1], sp.sin(x[2]), x[0] + x[2] ** 2, sp.exp(x[1])])
    J = f.jacobian(x)
    U, V = sp.Matrix(u), sp.Matrix(v)
    grad = sp.Matrix([sp.diff((U.T * f)[0], xj) for xj in x])
    assert sp.simplify(J.T * U - grad) == sp.zeros(3, 1)
    assert sp.simplify((U.T * (J * V))[0] - ((J.T * U).T * V)[0]) == 0


def test_03_linear_layer_parameter_vjp_is_an_outer_product() -> None:
    """Σᵢ uᵢ ∂yᵢ/∂W_kl = u_k x_l for y = W x + b: the m × n matrix u xᵀ (sympy, m = 2, n = 3)."""
    W = sp.Matrix(2, 3, sp.symbols("w0:6"))
    x, b, u = sp.Matrix(sp.symbols("x0:3")), sp.Matrix(sp.symbols("b0:2")), sp.Matrix(sp.symbols("u0:2"))
    s = (u.T * (W * x + b))[0]
    assert sp.Matrix(2, 3, lambda k, j: sp.diff(s, W[k, j])) == u * x.T


def test_03_worked_tanh_layer() -> None:
    """tanh' = 1 − tanh²; J_x = diag(1 − y²) W; J v = (1 − y²) ⊙ (W v); Jᵀu = Wᵀ g, u_W = g xᵀ, u_b = g with
    g = u ⊙ (1 − y²) (sympy, m = 2, n = 3)."""
    a = sp.Symbol("a")
    assert sp.simplify(sp.diff(sp.tanh(a), a) - (1 - sp.tanh(a) ** 2)) == 0
    W = sp.Matrix(2, 3, sp.symbols("w0:6"))
    x, b = sp.Matrix(sp.symbols("x0:3")), sp.Matrix(sp.symbols("b0:2"))
    u, v = sp.Matrix(sp.symbols("u0:2")), sp.Matrix(sp.symbols("v0:3"))
    y = (W * x + b).applyfunc(sp.tanh)
    slope = y.applyfunc(lambda t: 1 - t**2)
    J = y.jacobian(x)
    assert sp.simplify(J - sp.diag(*slope) * W) == sp.zeros(2, 3)
    assert sp.simplify(J * v - slope.multiply_elementwise(W * v)) == sp.zeros(2, 1)
    g = u.multiply_elementwise(slope)
    s = (u.T * y)[0]
    assert sp.simplify(J.T * u - W.T * g) == sp.zeros(3, 1)
    assert sp.simplify(sp.Matrix(2, 3, lambda k, j: sp.diff(s, W[k, j])) - g * x.T) == sp.zeros(2, 3)
    assert sp.simplify(sp.Matrix([sp.diff(s, bk) for bk in b]) - g) == sp.zeros(2, 1)


def test_03_chain_of_depth_d_multiplies_right_to_left() -> None:
    """J = J_D(x_{D−1}) ⋯ J_1(x_0), and Jᵀu = J_1ᵀ(⋯(J_Dᵀ u)) (sympy, D = 3, shapes 2 → 3 → 1 → 2)."""
    x0 = sp.Matrix(sp.symbols("x0:2"))
    W1, W2, W3 = sp.Matrix([[1, 2], [0, -1], [3, 1]]), sp.Matrix([[1, -1, 2]]), sp.Matrix([[2], [-3]])
    maps = [lambda z: (W1 * z).applyfunc(sp.sin), lambda z: (W2 * z).applyfunc(sp.tanh), lambda z: W3 * z]
    points = [x0]
    for f in maps:
        points.append(f(points[-1]))
    Js = []
    for f, p in zip(maps, points[:-1], strict=True):
        s = sp.Matrix(sp.symbols(f"s0:{p.rows}"))
        Js.append(f(s).jacobian(s).subs(dict(zip(s, p, strict=True))))
    whole = points[-1].jacobian(x0)
    assert sp.simplify(whole - Js[2] * Js[1] * Js[0]) == sp.zeros(2, 2)
    u = sp.Matrix(sp.symbols("u0:2"))
    assert sp.simplify(whole.T * u - Js[0].T * (Js[1].T * (Js[2].T * u))) == sp.zeros(2, 1)


def test_03_softmax_temperature_claims() -> None:
    """|z| ≈ 1000 and T = 0.1 give z/T = ±10⁴, where np.exp overflows; exp overflows above about 709 and
    underflows to 0 below about −745; T < 1 sharpens p and T > 1 flattens it (its entropy falls and rises)."""
    text = markdown("03_jacobians")
    assert "$|z_i| \\approx 1000$ and temperatures as small as $T = 0.1$" in text and "$\\pm 10^4$" in text
    assert 1000 / 0.1 == 1e4
    with np.errstate(over="ignore", under="ignore"):
        assert np.isinf(np.exp(1e4)) and np.exp(-1e4) == 0.0
        assert np.isfinite(np.exp(709.7)) and np.isinf(np.exp(709.8))
        assert np.exp(-744.4) > 0.0 and np.exp(-745.2) == 0.0

    def entropy(T: float, z: np.ndarray) -> float:
        s = z / T
        p = np.exp(s - s.max())
        p /= p.sum()
        return float(-(p * np.log(p)).sum())

    z = np.random.default_rng(0).normal(size=6)
    assert entropy(0.5, z) < entropy(1.0, z) < entropy(2.0, z)


def test_03_sigmoid_slope_is_a_function_of_its_output() -> None:
    """σ' can be written with y = σ(a) alone, as tanh's can (the prompt of exercise 3 says so)."""
    a, y = sp.symbols("a y")
    sigma = 1 / (1 + sp.exp(-a))
    assert sp.simplify(sp.diff(sigma, a) - sigma * (1 - sigma)) == 0
    assert "write it, as tanh's was, in terms of the layer's output $y$" in markdown("03_jacobians")


def test_03_a_full_jacobian_takes_n_jvps_or_m_vjps() -> None:
    """One JVP fills a column, one VJP a row: building J by one-hot passes takes n JVPs or m VJPs, and fewer than
    n JVPs cannot determine J (some nonzero J' agrees with J on every direction tried)."""
    rng = np.random.default_rng(1)
    for m, n in [(1, 1), (1, 7), (5, 2), (3, 3), (10, 784), (3, 1)]:
        A = rng.normal(size=(m, n))
        assert passes_to_build(A, "forward") == n and passes_to_build(A, "reverse") == m
    n = 50
    V = rng.normal(size=(n, n - 1))           # n − 1 JVP directions
    null = np.linalg.svd(V.T)[2][-1]          # a unit vector orthogonal to all of them
    A = rng.normal(size=(1, n))
    other = A + np.outer([1.0], null)         # another Jacobian, invisible to those n − 1 JVPs
    assert np.allclose(A @ V, other @ V) and not np.allclose(A, other)


def test_03_mode_table() -> None:
    """The table before exercise 6: (n, m) = (10⁶, 1), (784, 10), (1, 3), (10, 10); 28 × 28 = 784; 784 · 10 =
    7,840 entries; a forward pass fills a column of m = 10 entries, a reverse pass a row of n = 784."""
    text = markdown("03_jacobians")
    rows = {"the loss of a network with a million weights": (10**6, 1, "1,000,000 JVPs", "1 VJP", "reverse"),
            "a layer from a 28 × 28 image to 10 class scores": (784, 10, "784 JVPs", "10 VJPs", "reverse"),
            "a curve in space, $t \\mapsto (x(t), y(t), z(t))$": (1, 3, "1 JVP", "3 VJPs", "forward"),
            "softmax over 10 classes": (10, 10, "10 JVPs", "10 VJPs", "a tie")}
    for name, (n, m, forward, reverse, cheaper) in rows.items():
        line = next(line for line in text.splitlines() if line.startswith(f"| {name} |"))
        cells = [c.strip() for c in line.strip("| ").split("|")]
        assert cells[1:] == [f"{n:,}", f"{m:,}", forward, reverse, cheaper], line
        assert forward == f"{n:,} JVP{'s' * (n > 1)}" and reverse == f"{m:,} VJP{'s' * (m > 1)}"
        assert cheaper == ("a tie" if n == m else "forward" if n < m else "reverse")
    assert 28 * 28 == 784 and 784 * 10 == 7840
    assert "784 · 10 = 7,840 entries in both modes" in text
    assert "a column of 10 in forward mode, a row of 784 in reverse mode" in text
    A = np.random.default_rng(2).normal(size=(10, 784))
    assert A[:, 0].size == 10 and A[0, :].size == 784 and passes_to_build(A, "reverse") == 10
    # the million-weight loss: one VJP (u = 1) is the whole gradient of w -> w . c
    c = np.random.default_rng(3).normal(size=10**6)
    gradient = np.ones(1) @ c[None, :]
    assert gradient.shape == (10**6,) and np.array_equal(gradient, c)
