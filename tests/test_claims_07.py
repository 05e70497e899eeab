"""Every number and claim stated in the prose of unit 07 (gradients of the standard losses), checked independently.

The references are sympy (exact), mpmath and a few lines of NumPy written here, never the notebook's own code. The
last tests check that the prose says what it should (the notation link, α for the penalty, λ for eigenvalues).
"""

from __future__ import annotations

import math
import re

import jupytext
import mpmath
import numpy as np
import sympy as sp

from grading import manifest

UNIT = "07_loss_gradients"


def markdown(unit_id: str = UNIT) -> str:
    notebook = jupytext.read(manifest.source_script(manifest.unit(unit_id)))
    return "\n".join(c.source for c in notebook.cells if c.cell_type == "markdown")


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - np.max(z))
    return e / e.sum()


def test_07_exp_overflows_above_709_78() -> None:
    """The largest float64 is about 1.8e308 = e^709.78, so exp overflows above 709.78 (and exp(-z) below -709.8)."""
    biggest = np.finfo(np.float64).max
    assert f"{biggest:.1e}" == "1.8e+308"
    assert round(math.log(biggest), 2) == 709.78
    with np.errstate(over="ignore"):
        assert np.isfinite(np.exp(709.78)) and np.isinf(np.exp(709.79))
        assert np.isinf(np.exp(-np.float64(-709.8)))


def test_07_worked_example_step() -> None:
    """z = (2, 0.5, −1), c = 1: p_1 = 0.175 → 0.503 after one step with η = 1, loss 1.74 → 0.69."""
    z, c = np.array([2.0, 0.5, -1.0]), 1
    p = softmax(z)
    z_next = z - (p - np.eye(3)[c])
    p_next = softmax(z_next)
    assert (round(p[c], 3), round(p_next[c], 3)) == (0.175, 0.503)
    assert (round(-math.log(p[c]), 2), round(-math.log(p_next[c]), 2)) == (1.74, 0.69)


def test_07_ridge_condition_numbers_43_5_12_4_2_5_and_1_15_kappa_steps_per_digit() -> None:
    """The toy dataset of section 4: κ of XᵀX + NαI is 43.5, 12.4 and 2.5 at α = 0, 0.1, 1 (the penalty adds Nα to every
    eigenvalue); gradient descent at its best fixed step needs about ln(10)/2 · κ ≈ 1.15 κ steps per digit."""
    rng = np.random.default_rng(7)
    x_first = rng.normal(size=40)
    X = np.column_stack([x_first, x_first + 0.3 * rng.normal(size=40)])
    kappas = []
    for alpha in [0.0, 0.1, 1.0]:
        eigenvalues = np.linalg.eigvalsh(X.T @ X + 40 * alpha * np.eye(2))
        np.testing.assert_allclose(eigenvalues, np.linalg.eigvalsh(X.T @ X) + 40 * alpha)
        kappas.append(eigenvalues[-1] / eigenvalues[0])
    assert [round(k, 1) for k in kappas] == [43.5, 12.4, 2.5]
    k = sp.Symbol("kappa", positive=True)
    steps_per_digit = sp.log(10) / -sp.log((k - 1) / (k + 1))
    assert sp.limit(steps_per_digit / k, k, sp.oo) == sp.log(10) / 2
    assert round(float(sp.log(10) / 2), 2) == 1.15


def test_07_weighted_mse_with_equal_weights_is_the_mse() -> None:
    """Exercise 1: when every c_n is the same, L is the MSE of section 1, and so is its gradient."""
    N, d = 3, 2
    X = sp.Matrix(N, d, lambda i, j: sp.Symbol(f"x{i}{j}"))
    w, y = sp.Matrix(sp.symbols(f"w0:{d}")), sp.Matrix(sp.symbols(f"y0:{N}"))
    c = sp.Symbol("c", positive=True)
    r = X * w - y
    weighted = sum(c * r[n] ** 2 for n in range(N)) / (N * c)
    mse = (r.T * r)[0, 0] / N
    assert sp.simplify(weighted - mse) == 0
    assert all(sp.simplify(sp.diff(weighted, wi) - sp.diff(mse, wi)) == 0 for wi in w)


def test_07_smoothed_targets_sum_to_one_and_smoothing_keeps_a_gradient_at_confident_logits() -> None:
    """Exercise 4 and its explorer: each t_n adds up to 1; with s = 0.1 and a true logit far above the others, plain
    cross-entropy's gradient fades away while the smoothed one does not, and it vanishes where p equals t."""
    s, K = sp.Symbol("s"), 3
    t = [(1 - s) * int(k == 0) + s / K for k in range(K)]
    assert sp.simplify(sum(t) - 1) == 0
    z = np.array([6.0, -6.0, -6.0])  # the slider's range is ±6
    onehot = np.eye(3)[0]
    target = 0.9 * onehot + 0.1 / 3

    def gradient(target: np.ndarray) -> np.ndarray:  # of −Σ t_k log softmax(z)_k, by mpmath's differentiation
        def loss(*v):
            lse = mpmath.log(mpmath.fsum(mpmath.exp(x) for x in v))
            return -mpmath.fsum(tk * (vk - lse) for tk, vk in zip(target, v, strict=True))
        return np.array([float(mpmath.diff(loss, tuple(z), tuple(int(i == k) for i in range(3)))) for k in range(3)])

    plain, smoothed = gradient(onehot), gradient(target)
    assert np.max(np.abs(plain)) < 2e-5 and smoothed[0] > 0.06  # 1.2e-5 against 0.067
    at_target = np.log(target)  # logits whose softmax is exactly the smoothed target
    np.testing.assert_allclose(softmax(at_target), target)
    z = at_target
    assert np.max(np.abs(gradient(target))) < 1e-12


def test_07_sigmoid_derivative_and_logistic_rewrites() -> None:
    """Exercise 5: σ′ = σ(1 − σ), log σ(z) = −log(1 + e^(−z)), log(1 − σ(z)) = −log(1 + e^z)."""
    z = sp.Symbol("z", real=True)
    sigma = 1 / (1 + sp.exp(-z))
    assert sp.simplify(sp.diff(sigma, z) - sigma * (1 - sigma)) == 0
    assert sp.simplify(sp.expand_log(sp.log(sigma), force=True) + sp.log(1 + sp.exp(-z))) == 0
    assert sp.simplify(sp.exp(-sp.log(1 + sp.exp(z))) - (1 - sigma)) == 0


def test_07_differences_penalty_is_psd_singular_and_free_on_constants() -> None:
    """Exercise 6: with D the first differences, P = DᵀD is symmetric positive semi-definite, wᵀPw is the sum of squared
    differences of neighbouring weights (so a smooth w is cheap and a constant one free), and P = I is ridge."""
    d = 5
    D = sp.Matrix(np.diff(np.eye(d, dtype=int), axis=0).tolist())
    P = D.T * D
    w = sp.Matrix(sp.symbols(f"w0:{d}"))
    assert P == P.T and all(ev >= 0 for ev in P.eigenvals())
    assert P.det() == 0 and P * sp.ones(d, 1) == sp.zeros(d, 1)
    assert sp.expand((w.T * P * w)[0, 0] - sum((w[i + 1] - w[i]) ** 2 for i in range(d - 1))) == 0
    assert sp.expand((w.T * sp.eye(d) * w)[0, 0] - sum(wi**2 for wi in w)) == 0


def test_07_intro_links_the_notation_and_uses_alpha_for_the_penalty() -> None:
    text = markdown()
    assert "[the course's notation](../../course/notation.md)" in text
    assert (manifest.ROOT / "course" / "notation.md").exists()
    assert "N\\lambda" not in text and "\\lambda\\|w\\|" not in text  # the penalty is α; λ is for eigenvalues
    assert re.search(r"N\\alpha", text)
