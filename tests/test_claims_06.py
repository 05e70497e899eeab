"""Every number and bound stated in the prose of unit 06 (gradient descent), checked independently.

The references are sympy (exact) and a few lines of NumPy written here, never the notebook's own code. The last
test checks that the refreshers START_HERE points to are where it says.
"""

from __future__ import annotations

import jupytext
import numpy as np
import sympy as sp

from calcml import functions
from grading import course_pages, manifest

KAPPA = 100
LAM_MIN, LAM_MAX = 1 / KAPPA, 1.0
ROOT = (np.sqrt(KAPPA) - 1) / (np.sqrt(KAPPA) + 1)          # √β, tuned, = 9/11 at κ = 100
BETA, LR = ROOT**2, 4 / (np.sqrt(LAM_MAX) + np.sqrt(LAM_MIN)) ** 2       # tuned heavy-ball settings
LR_GD = 2 / (LAM_MIN + LAM_MAX)                                          # the best fixed step η*


def heavy_ball(lam: float, steps: int, c0: float = 1.0) -> np.ndarray:
    """c_0..c_steps of c_{k+1} = (1 + β − ηλ) c_k − β c_{k−1}, c_{−1} = c_0 (a start from rest), tuned η, β."""
    c = [c0, c0]
    for _ in range(steps):
        c.append((1 + BETA - LR * lam) * c[-1] - BETA * c[-2])
    return np.array(c[1:])


def markdown(unit_id: str) -> str:
    notebook = jupytext.read(manifest.source_script(manifest.unit(unit_id)))
    return "\n".join(c.source for c in notebook.cells if c.cell_type == "markdown")


def test_06_tuned_settings_at_kappa_100() -> None:
    """√β = 9/11, β ≈ 0.67 and η = 4/1.1² ≈ 3.3, and ηL = (1 + √β)² ≈ 3.3 (the playground's tuned values)."""
    k = sp.Integer(KAPPA)
    root = (sp.sqrt(k) - 1) / (sp.sqrt(k) + 1)
    assert root == sp.Rational(9, 11)
    assert abs(float(root**2) - 0.67) < 0.005
    assert sp.nsimplify(4 / (1 + sp.sqrt(sp.Rational(1, 100))) ** 2) == 4 / sp.Rational(121, 100)
    assert abs(LR - 3.3) < 0.01 and abs(LR * LAM_MAX - (1 + ROOT) ** 2) < 1e-12


def test_06_heavy_ball_spectral_radius_is_sqrt_beta_across_the_window() -> None:
    """Every λ in [λ_min, λ_max] gives spectral radius √β: complex roots inside, a double root ±√β at the two edges."""
    for lam in np.linspace(LAM_MIN, LAM_MAX, 201)[1:-1]:
        M = np.array([[1 + BETA - LR * lam, -BETA], [1.0, 0.0]])
        assert abs(np.max(np.abs(np.linalg.eigvals(M))) - ROOT) < 1e-12
    b, t, z = sp.Rational(81, 121), sp.symbols("t"), sp.symbols("z")
    for edge, root in [((1 - sp.sqrt(b)) ** 2, sp.sqrt(b)), ((1 + sp.sqrt(b)) ** 2, -sp.sqrt(b))]:
        p = sp.expand(z**2 - (1 + b - t) * z + b).subs(t, edge)
        assert sp.factor(p) == sp.factor((z - root) ** 2), f"not a double root at ηλ = {edge}"


def test_06_heavy_ball_matrix_is_not_normal_but_gd_matrix_is_symmetric() -> None:
    for lam in [LAM_MIN, 0.1, LAM_MAX]:
        M = np.array([[1 + BETA - LR * lam, -BETA], [1.0, 0.0]])
        assert not np.allclose(M @ M.T, M.T @ M)
    A = functions.quadratic_with_spectrum([LAM_MAX, LAM_MIN], seed=3).A
    G = np.eye(2) - LR_GD * A
    assert np.allclose(G, G.T) and abs(np.linalg.norm(G, 2) - np.max(np.abs(np.linalg.eigvalsh(G)))) < 1e-12


def test_06_stiff_edge_closed_form() -> None:
    """From rest at ηλ = (1 + √β)², c_k = (1 + (1 + √β) k)(−√β)^k: it solves the recurrence (sympy)."""
    k, r = sp.symbols("k r", positive=True)
    c = (1 + (1 + r) * k) * (-r) ** k
    recurrence = c.subs(k, k + 1) - (1 + r**2 - (1 + r) ** 2) * c + r**2 * c.subs(k, k - 1)
    assert sp.simplify(sp.expand(recurrence / (-r) ** (k - 1), power_base=True)) == 0
    assert sp.simplify(c.subs(k, 0) - 1) == 0 and sp.simplify(c.subs(k, -1) - 1) == 0  # c_0 = c_{−1} = 1
    numeric = heavy_ball(LAM_MAX, 30)
    closed = np.array([(1 + (1 + ROOT) * j) * (-ROOT) ** j for j in range(31)])
    assert np.allclose(numeric, closed, rtol=1e-12, atol=1e-14)


def test_06_momentum_transient_peaks_at_3_7_at_step_4_and_recovers_at_step_18() -> None:
    """κ = 100, tuned momentum, start from rest along the stiff eigenvector: the error grows to 3.7× at step 4
    and first drops below its start at step 18 (exact rational arithmetic)."""
    r = sp.Rational(9, 11)
    size = [abs((1 + (1 + r) * j) * r**j) for j in range(60)]
    peak = max(range(60), key=lambda j: size[j])
    assert peak == 4 and round(float(size[peak]), 1) == 3.7
    assert min(j for j in range(1, 60) if size[j] < 1) == 18
    # The same on a 2-D quadratic with κ = 100, from the update rule x_{k+1} = x_k − η∇f + β(x_k − x_{k−1}).
    bowl = functions.quadratic_with_spectrum([LAM_MAX, LAM_MIN], seed=11, minimiser=[0.0, 0.0])
    stiff = np.linalg.eigh(bowl.A)[1][:, 1]
    path = [stiff, stiff]
    for _ in range(30):
        path.append(path[-1] - LR * bowl.grad(path[-1]) + BETA * (path[-1] - path[-2]))
    norms = np.linalg.norm(path[1:], axis=1)
    assert norms.argmax() == 4 and abs(norms.max() - float(size[4])) < 1e-9
    # The flat edge, from rest, never exceeds its start: (1 + (1 − √β) k) (√β)^k ≤ 1.
    assert np.all(np.abs(heavy_ball(LAM_MIN, 200)) <= 1 + 1e-12)


def test_06_gradient_descent_error_never_grows_with_a_stable_step() -> None:
    """GD on a quadratic: ‖e_{k+1}‖ ≤ max|1 − ηλ| ‖e_k‖ < ‖e_k‖ for every start and every stable step."""
    rng = np.random.default_rng(606)
    for _ in range(20):
        n = int(rng.integers(2, 6))
        lam = np.exp(rng.uniform(np.log(0.01), 0.0, size=n))
        A = functions.quadratic_with_spectrum(lam, seed=int(rng.integers(10**6))).A
        lr = float(rng.uniform(0.01, 1.99)) / lam.max()
        rho = np.max(np.abs(1 - lr * lam))
        e = rng.normal(size=n)
        for _ in range(100):
            nxt = e - lr * A @ e
            assert np.linalg.norm(nxt) <= rho * np.linalg.norm(e) * (1 + 1e-12) < np.linalg.norm(e)
            e = nxt


def test_06_best_fixed_step_numbers() -> None:
    """ln((κ−1)/(κ+1)) ≈ −2/κ, 1.15κ steps per digit, over a thousand at κ = 1000, 0.98^30 ≈ 0.55 at κ = 100,
    a valley ten times longer than wide at κ = 100, and 100 times fewer steps with momentum at κ = 10⁴."""
    assert round(np.log(10) / 2, 2) == 1.15
    assert np.log(10) / -np.log(999 / 1001) > 1000
    kappa = sp.symbols("kappa", positive=True)
    assert sp.limit(sp.log((kappa - 1) / (kappa + 1)) * kappa, kappa, sp.oo) == -2
    assert round(99 / 101, 2) == 0.98 and round((99 / 101) ** 30, 2) == 0.55 and (99 / 101) ** 30 > 0.5
    assert np.sqrt(100 / 1) == 10  # axis lengths ∝ 1/√λ
    ratio = np.log(99 / 101) / np.log(9999 / 10001)  # steps(GD) / steps(heavy ball) at κ = 10⁴: ln ρ_hb / ln ρ_gd
    assert abs(ratio - 100) < 0.01


def test_06_worked_example_and_threshold_numbers() -> None:
    A = sp.Matrix([[2, 1], [1, 2]])
    assert A.trace() == 4 and A.det() == 3
    assert {v: m for v, m, _ in A.eigenvects()}.keys() == {1, 3}
    for value, _, vectors in A.eigenvects():
        assert (A * vectors[0] - value * vectors[0]).is_zero_matrix
    M = sp.eye(2) - A / 2
    assert M == sp.Matrix([[0, -sp.Rational(1, 2)], [-sp.Rational(1, 2), 0]]) and M**2 == sp.eye(2) / 4
    eta = sp.symbols("eta", positive=True)
    assert sp.solve(sp.Eq(1 - eta, -(1 - 3 * eta)), eta) == [sp.Rational(1, 2)]
    # Section 2: with η = 0.5 the stiff direction (λ = 1) halves, the flat one (λ = 0.1) loses 5%.
    assert 1 - 0.5 * 1.0 == 0.5 and abs((1 - 0.5 * 0.1) - 0.95) < 1e-15
    # Momentum stretches the stable range of ηλ from 2 towards 4, and β = 0.9 allows 1.9× larger ηλ.
    assert (2 + 2 * 0.9) / 2 == 1.9


def test_06_rosenbrock_numbers() -> None:
    x, y = sp.symbols("x y", real=True)
    f = (1 - x) ** 2 + 100 * (y - x**2) ** 2
    H = sp.hessian(f, (x, y))
    at_min = H.subs({x: 1, y: 1})
    assert at_min == sp.Matrix([[802, -400], [-400, 200]])
    lam = sorted(float(v) for v in at_min.eigenvals())
    assert round(lam[1], 1) == 1001.6 and round(lam[0], 2) == 0.40
    assert abs(lam[1] / lam[0] - 2500) < 25 and round(2 / lam[1], 3) == 0.002
    assert abs(1 - 0.002 * 0.4 - 0.9992) < 1e-15 and np.log(10) / 0.0008 > 1000  # thousands of steps per digit
    floor = H.subs(y, x**2)
    assert sp.simplify(floor - sp.Matrix([[2 + 800 * x**2, -400 * x], [-400 * x, 200]])) == sp.zeros(2)
    assert sp.simplify(floor.det()) == 400 and sp.simplify(floor.trace() - (202 + 800 * x**2)) == 0
    # κ = (T + √(T² − 4D)) / (T − √(T² − 4D)) grows with the trace T at fixed D = 400, so T ≥ 202 gives κ ≥ 100.
    t = sp.symbols("T", positive=True)
    kappa = (t + sp.sqrt(t**2 - 1600)) / (t - sp.sqrt(t**2 - 1600))
    assert sp.nsimplify(kappa.subs(t, 202)) == 100
    assert all(sp.diff(kappa, t).subs(t, v) > 0 for v in [203, 500, 5000])
    # η = 10⁻³ is (about) half the local stability limit 2/λ_max at the minimum.
    assert abs(1e-3 / (2 / lam[1]) - 0.5) < 0.005


def test_06_rosenbrock_runs_gd_crawls_momentum_arrives() -> None:
    """From (−1.2, 1), η = 10⁻³, 2000 steps: GD is still far from (1, 1); heavy ball β = 0.9 has f < 10⁻⁸."""
    def f(p):
        return (1 - p[0]) ** 2 + 100 * (p[1] - p[0] ** 2) ** 2

    def grad(p):
        return np.array([-2 * (1 - p[0]) - 400 * p[0] * (p[1] - p[0] ** 2), 200 * (p[1] - p[0] ** 2)])

    final = {}
    for beta in (0.0, 0.9):
        x = previous = np.array([-1.2, 1.0])
        for _ in range(2000):
            x, previous = x - 1e-3 * grad(x) + beta * (x - previous), x
        final[beta] = f(x)
    assert final[0.0] > 1e-2 and final[0.9] < 1e-8


def test_06_least_squares_is_a_quadratic_with_hessian_from_the_data() -> None:
    """Exercise 2's prompt: (1/N)‖Xw − y‖² is ½wᵀAw − bᵀw + c; its visible tests: η < 1 for a column of ones and
    for X = [[1, 0], [0, 1], [1, 1]] (XᵀX = [[2, 1], [1, 2]]); the targets do not enter the threshold."""
    w1, w2, y1, y2, y3 = sp.symbols("w1 w2 y1 y2 y3", real=True)
    X = sp.Matrix([[1, 0], [0, 1], [1, 1]])
    r = X * sp.Matrix([w1, w2]) - sp.Matrix([y1, y2, y3])
    loss = (r.T * r)[0] / 3
    H = sp.hessian(loss, (w1, w2))
    assert X.T * X == sp.Matrix([[2, 1], [1, 2]]) and not H.free_symbols  # y drops out of the curvature
    assert 2 / max(H.eigenvals()) == 1
    w = sp.symbols("w", real=True)
    ys = sp.symbols("y0:4", real=True)
    assert sp.diff(sum((w - yi) ** 2 for yi in ys) / 4, w, 2) == 2


def test_06_generalised_rosenbrock_minimum_and_hessian() -> None:
    """Exercise 3: the minimum of (a − x)² + b(y − x²)² is (a, a²), a = 1, b = 100 is section 7's function, and the
    visible tests' values: η* = 2/1002 at (1, 100), 2/(2 + 2b) at a = 0, 2/36 at (2, 1)."""
    x, y, a, b = sp.symbols("x y a b", real=True)
    f = (a - x) ** 2 + b * (y - x**2) ** 2
    at = {x: a, y: a**2}
    assert [sp.simplify(sp.diff(f, v).subs(at)) for v in (x, y)] == [0, 0] and sp.simplify(f.subs(at)) == 0
    H = sp.hessian(f, (x, y)).subs(at)
    assert sp.simplify(H - sp.Matrix([[2 + 8 * b * a**2, -4 * a * b], [-4 * a * b, 2 * b]])) == sp.zeros(2)
    assert H.subs({a: 1, b: 100}) == sp.Matrix([[802, -400], [-400, 200]])
    assert H.subs(a, 0) == sp.diag(2, 2 * b)

    def best(av, bv):  # 2/(λ_min + λ_max), from the eigenvalues themselves
        return 2 / sum(H.subs({a: av, b: bv}).eigenvals(multiple=True))

    assert sp.simplify(best(1, 100) - sp.Rational(2, 1002)) == 0 and sp.simplify(best(0, 3) - sp.Rational(2, 8)) == 0
    assert sp.simplify(best(2, 1) - sp.Rational(2, 36)) == 0


def test_06_steps_to_tolerance_examples() -> None:
    """Exercise 4's visible tests: 10 steps at η = 1/2 (2⁻¹⁰ ≈ 0.00098 ≤ 10⁻³ < 2⁻⁹ ≈ 0.002), 31 at η = 0.6
    (factors 0.4 and −0.8, 0.8³¹ ≈ 0.00099), none at η = 0.7 > 2/3 (factor −1.1), one when ηλ = 1; checked by
    running gradient descent on the worked example's matrix."""
    assert round(2.0**-10, 5) == 0.00098 and 2.0**-10 <= 1e-3 < 2.0**-9 and round(2.0**-9, 3) == 0.002
    assert round(0.8**31, 5) == 0.00099 and 0.8**31 <= 1e-3 < 0.8**30
    assert abs((1 - 0.6 * 3) + 0.8) < 1e-15 and abs((1 - 0.7 * 3) + 1.1) < 1e-15 and 0.7 > 2 / 3
    A = np.array([[2.0, 1.0], [1.0, 2.0]])
    Q = np.linalg.eigh(A)[1]

    def steps(lr: float, limit: int = 200) -> int | None:
        e, c0 = Q @ np.array([1.0, -1.0]), np.array([1.0, -1.0])
        for k in range(limit + 1):
            if np.all(np.abs(Q.T @ e) <= 1e-3 * np.abs(c0)):
                return k
            e = e - lr * A @ e
        return None

    assert steps(0.5) == 10 and steps(0.6) == 31 and steps(0.7) is None
    e = np.array([0.3, -0.7])
    assert np.allclose(e - 0.5 * (2.0 * np.eye(2)) @ e, 0.0)  # ηλ = 1 everywhere: one step lands on x*


def test_06_momentum_rate_examples() -> None:
    """Exercise 6's visible tests: the tuned settings at κ = 100 give 9/11; z² + 2.125z + 0.25 has the roots −2 and
    −1/8 (ηλ = 3.375 > 2 + 2β = 2.5); z² − z + 0.09 has the roots 0.9 and 0.1; β = 0 is GD's max|1 − ηλ| = 1/2."""
    z = sp.symbols("z")
    beta, eta_lam = sp.Rational(1, 4), sp.Rational(27, 8)
    p = z**2 - (1 + beta - eta_lam) * z + beta
    assert sp.expand(p - (z**2 + sp.Rational(17, 8) * z + beta)) == 0 and 1 + beta - eta_lam == -sp.Rational(17, 8)
    assert set(sp.solve(p, z)) == {-2, -sp.Rational(1, 8)} and eta_lam > 2 + 2 * beta == sp.Rational(5, 2)
    q = z**2 - (1 + sp.Rational(9, 100) - sp.Rational(9, 100)) * z + sp.Rational(9, 100)
    assert set(sp.solve(q, z)) == {sp.Rational(9, 10), sp.Rational(1, 10)}
    A = np.array([[0.09, 1.0], [-1.0, 0.09]])
    assert np.allclose(0.5 * (A + A.T), 0.09 * np.eye(2))
    for lam in (LAM_MIN, LAM_MAX):  # tuned, κ = 100: the edges of the window, a double root of modulus 9/11
        M = np.array([[1 + BETA - LR * lam, -BETA], [1.0, 0.0]])
        assert abs(np.max(np.abs(np.linalg.eigvals(M))) - 9 / 11) < 1e-7
    assert max(abs(1 - 0.5 * 1), abs(1 - 0.5 * 3)) == 0.5


def test_06_at_the_edge_no_convergence_and_past_it_divergence() -> None:
    """The summary and the playground's readout: at ηλ_max = 2 (GD) or 2 + 2β (heavy ball) the error does not
    converge (a root −1: the stiff component keeps its size); past the edge it blows up."""
    lam, e0 = np.array([0.3, 1.0]), np.array([1.0, 1.0])
    at_edge = np.linalg.matrix_power(np.diag(1 - (2 / lam.max()) * lam), 500) @ e0
    assert abs(abs(at_edge[1]) - 1.0) < 1e-12
    past = np.linalg.matrix_power(np.diag(1 - (2.02 / lam.max()) * lam), 500) @ e0
    assert abs(past[1]) > 1e3
    for beta in (0.3, 0.8):
        for t, grows in ((2 + 2 * beta, False), (2 + 2 * beta + 0.02, True)):
            c = [1.0, 1.0]
            for _ in range(2000):
                c.append((1 + beta - t) * c[-1] - beta * c[-2])
            tail = np.abs(c[-50:])
            assert (tail.max() > 1e3) == grows and tail.max() > 0.1  # at the edge: bounded, not shrinking to 0


def test_start_here_points_to_refreshers_that_exist() -> None:
    """START_HERE promises refreshers: determinants in unit 3, eigen-decompositions and complex roots in unit 6."""
    text = course_pages.start_here(manifest.load())
    assert "first-year calculus" in text and "high-school" not in text
    assert "determinants in unit 3" in text and "complex roots of a quadratic in unit 6" in text
    unit3, unit6 = markdown("03_jacobians"), markdown("06_gradient_descent")
    assert "*Refresher:* $\\det\\begin{pmatrix} a & b \\\\ c & d \\end{pmatrix} = ad - bc$" in unit3
    assert "*Refresher.* An **eigenvector**" in unit6 and "conjugate\npair $z, \\bar z$ whose product is $a_0$" in unit6


def test_03_determinant_refresher() -> None:
    """det [[a, b], [c, d]] = ad − bc; |det| is the parallelogram's area; + keeps orientation, − mirrors."""
    a, b, c, d, theta = sp.symbols("a b c d theta", real=True)
    assert sp.Matrix([[a, b], [c, d]]).det() == a * d - b * c
    # Area of the parallelogram on the columns (a, c), (b, d): base × height, by Gram's formula.
    gram = sp.Matrix([[a, b], [c, d]]).T * sp.Matrix([[a, b], [c, d]])
    assert sp.expand(gram.det() - (a * d - b * c) ** 2) == 0
    rotation = sp.Matrix([[sp.cos(theta), -sp.sin(theta)], [sp.sin(theta), sp.cos(theta)]])
    assert sp.simplify(rotation.det()) == 1 and sp.Matrix([[1, 0], [0, -1]]).det() == -1
