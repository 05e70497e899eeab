"""Out-of-kernel probes of unit 06 (gradient descent): see `integrity/__init__.py` and `grading.integrity`.

Quadratics f(x) = ½ (x − x*)ᵀ H (x − x*) travel as H and x*; the driver's gradient is H (x − x*), and the grader
predicts every iterate from the eigen-decomposition of H (a closed form, no iteration of the student's rule).
"""

from __future__ import annotations

import textwrap

import numpy as np

from calcml import functions
from grading.integrity import Probe, close, require


def _seed(rng) -> int:
    return int(rng.integers(0, 2**31))


def _bowl(rng, n, low, high):
    lam = np.exp(rng.uniform(np.log(low), np.log(high), size=n))
    quadratic = functions.quadratic_with_spectrum(lam, seed=_seed(rng))
    return lam, quadratic.A, np.linalg.solve(quadratic.A, quadratic.b)


def _skewed(rng, H, twist):
    skew = rng.normal(size=H.shape) * 3
    return H + (skew - skew.T) if twist else H


def exact_gd(H, x_star, x0, lr, steps):
    """x_k = x* + Q (1 − ηΛ)^k Qᵀ (x0 − x*)."""
    lam, Q = np.linalg.eigh(H)
    return x_star + ((1 - lr * lam) ** np.arange(steps + 1)[:, None] * (Q.T @ (x0 - x_star))) @ Q.T


def exact_hb(H, x_star, x0, lr, beta, steps):
    """Per eigen-direction, (c_k, c_{k−1}) = M(λ)^k (c_0, c_0) with M = [[1 + β − ηλ, −β], [1, 0]]."""
    lam, Q = np.linalg.eigh(H)
    c0 = Q.T @ (np.asarray(x0, dtype=float) - x_star)
    rows = []
    for k in range(steps + 1):
        ck = [(np.linalg.matrix_power(np.array([[1 + beta - lr * li, -beta], [1.0, 0.0]]), k) @ [ci, ci])[0]
              for li, ci in zip(lam, c0, strict=True)]
        rows.append(x_star + Q @ np.array(ck))
    return np.array(rows)


ROSENBROCK = functions.rosenbrock_grad

DRIVER_HEAD = textwrap.dedent("""
    import numpy as np

    def bowl_gradient(case):
        H, x_star = np.array(case["H"], dtype=float), np.array(case["x_star"], dtype=float)
        return lambda x: H @ (np.asarray(x, dtype=float) - x_star)

    def rosenbrock_grad(p):
        x, y = p[0], p[1]
        return np.array([-2 * (1 - x) - 400 * x * (y - x**2), 200 * (y - x**2)])
""")


# ------------------------------------------------------------------------------------------------ gradient_descent

def gd_inputs(rng):
    cases = []
    for _ in range(5):
        n = int(rng.integers(1, 7))
        lam, H, x_star = _bowl(rng, n, 0.1, 10.0)
        cases.append({"H": H, "x_star": x_star, "lr": float(rng.uniform(0.05, 1.95)) / lam.max(),
                      "steps": int(rng.integers(1, 41)), "x0": rng.normal(size=n) * 3})
    n = int(rng.integers(2, 5))
    lam, H, x_star = _bowl(rng, n, 0.5, 2.0)
    cases.append({"H": H, "x_star": x_star, "lr": 0.3, "steps": 0, "x0": rng.normal(size=n)})
    start = [float(rng.uniform(-1.5, -0.5)), float(rng.uniform(0.5, 1.5))]
    return {"cases": cases, "rosenbrock": {"x0": start, "lr": 1e-3, "steps": int(rng.integers(40, 80))},
            "integer": rng.integers(-5, 6, size=int(rng.integers(2, 5))).tolist(), "integer_lr": 0.1}


GD_DRIVER = DRIVER_HEAD + textwrap.dedent("""
    result = {"cases": [], "x0_after": []}
    for case in inputs["cases"]:
        x0 = np.array(case["x0"], dtype=float)
        result["cases"].append(gradient_descent(bowl_gradient(case), x0, case["lr"], case["steps"]))
        result["x0_after"].append(x0)
    r = inputs["rosenbrock"]
    x0 = np.array(r["x0"])
    result["rosenbrock"] = gradient_descent(rosenbrock_grad, x0, r["lr"], r["steps"])
    result["rosenbrock_x0_after"] = x0
    x_int = np.array(inputs["integer"])
    result["integer"] = gradient_descent(lambda x: 2 * x, x_int, inputs["integer_lr"], 4)
    result["integer_after"] = {"values": x_int, "kind": x_int.dtype.kind}
""")


def _same(after, before) -> bool:
    """Whether the caller's array, as the driver found it after the call (raw data), is still `before`."""
    return (isinstance(after, list) and np.shape(after) == np.shape(before)
            and bool(np.array_equal(np.asarray(after, dtype=float), np.asarray(before, dtype=float))))


HINT_ROWS = "Row 0 is x0, then one row per step: shape (steps + 1, n)."


def gd_verify(inputs, result):
    require(isinstance(result, dict) and isinstance(result.get("cases"), list)
            and len(result["cases"]) == len(inputs["cases"]), "gradient_descent gave too few results.")
    for case, got in zip(inputs["cases"], result["cases"], strict=True):
        H, x_star, x0 = (np.array(case[k], dtype=float) for k in ("H", "x_star", "x0"))
        close(got, exact_gd(H, x_star, x0, case["lr"], case["steps"]), what="trajectory",
              where=f"on a random {x0.size}-D quadratic, η = {case['lr']:.3g}, {case['steps']} steps", hint=HINT_ROWS)
    r = inputs["rosenbrock"]
    path = np.asarray(result.get("rosenbrock"), dtype=float)
    require(path.shape == (r["steps"] + 1, 2), f"On Rosenbrock with {r['steps']} steps the trajectory has shape "
                                               f"{path.shape}, not {(r['steps'] + 1, 2)}. {HINT_ROWS}")
    close(path[0], r["x0"], what="first row", where="on Rosenbrock", hint="Row 0 must be x0.")
    expected_next = path[:-1] - r["lr"] * np.array([ROSENBROCK(p) for p in path[:-1]])
    close(path[1:], expected_next, what="rows of the trajectory", where=f"on Rosenbrock, η = {r['lr']}",
          hint="Each row must be x_{k+1} = x_k − η ∇f(x_k) of the row before.")
    after = result.get("x0_after")
    require(isinstance(after, list) and len(after) == len(inputs["cases"])
            and all(_same(a, case["x0"]) for a, case in zip(after, inputs["cases"], strict=True))
            and _same(result.get("rosenbrock_x0_after"), r["x0"]),
            "gradient_descent changed the caller's x0: copy it first (np.array(x0, dtype=float)), then update the "
            "copy.")
    x_int = np.array(inputs["integer"], dtype=float)
    close(result.get("integer"), x_int * (1 - 2 * inputs["integer_lr"]) ** np.arange(5)[:, None], what="trajectory",
          where=f"from an integer array x0 = {inputs['integer']}", hint="Convert x0 to floats first.")
    integer = result.get("integer_after")
    require(isinstance(integer, dict) and integer.get("kind") == "i" and _same(integer.get("values"), x_int),
            "gradient_descent modified the caller's integer x0.")


# ---------------------------------------------------------------------------------------- threshold and best step

def _matrices(rng, count, low, high, n_min):
    cases = []
    for trial in range(count):
        n = int(rng.integers(n_min, 8))
        lam, H, _ = _bowl(rng, n, low, high)
        cases.append({"A": _skewed(rng, H, trial % 2 == 1), "lam": lam})
    return cases


def threshold_inputs(rng):
    cases = _matrices(rng, 6, 0.05, 20.0, 1)
    c = float(rng.uniform(1, 5))
    cases.append({"A": [[c, 4.0], [-4.0, c]], "lam": [c, c]})
    d = float(rng.uniform(0.5, 8))
    cases.append({"A": [[d]], "lam": [d]})
    return {"cases": cases}


THRESHOLD_DRIVER = textwrap.dedent("""
    import numpy as np
    result = [divergence_threshold(np.array(case["A"], dtype=float)) for case in inputs["cases"]]
""")

HINT_SYM = "The Hessian of ½xᵀAx is (A + Aᵀ)/2: symmetrise A, then use its eigenvalues (np.linalg.eigvalsh)."


def threshold_verify(inputs, result):
    require(isinstance(result, list) and len(result) == len(inputs["cases"]), "divergence_threshold gave too few "
                                                                              "results.")
    for case, got in zip(inputs["cases"], result, strict=True):
        A, lam = np.array(case["A"]), np.array(case["lam"])
        close(got, 2 / lam.max(), what="threshold", where=f"for a random {len(lam)}×{len(lam)} A",
              hint="η < 2/λ_max: the steepest direction decides. " + HINT_SYM)
        # The independent fact: just below the threshold GD shrinks the error, just above it the error explodes.
        H = 0.5 * (A + A.T)
        e0 = np.ones(len(lam))
        for factor, shrinks in [(0.98, True), (1.02, False)]:
            e = np.linalg.matrix_power(np.eye(len(lam)) - factor * float(got) * H, 400) @ e0
            require((np.linalg.norm(e) < np.linalg.norm(e0)) == shrinks,
                    f"Gradient descent with η = {factor} × your threshold {float(got):.6g} "
                    f"{'diverges' if shrinks else 'still converges'}: it is not the edge of stability. {HINT_SYM}")


def best_inputs(rng):
    cases = _matrices(rng, 6, 0.05, 20.0, 2)
    c = float(rng.uniform(0.5, 5))
    cases.append({"A": (c * np.eye(3)).tolist(), "lam": [c, c, c]})
    d = float(rng.uniform(0.5, 8))
    cases.append({"A": [[d]], "lam": [d]})
    return {"cases": cases}


BEST_DRIVER = textwrap.dedent("""
    import numpy as np
    result = [best_fixed_step(np.array(case["A"], dtype=float)) for case in inputs["cases"]]
""")


def best_verify(inputs, result):
    require(isinstance(result, list) and len(result) == len(inputs["cases"]), "best_fixed_step gave too few results.")
    for case, got in zip(inputs["cases"], result, strict=True):
        lam = np.array(case["lam"])
        close(got, 2 / (lam.min() + lam.max()), what="best step", where=f"for a random {len(lam)}×{len(lam)} A",
              hint="η* balances |1 − ηλ_min| = |1 − ηλ_max| with opposite signs. " + HINT_SYM)
        kappa = lam.max() / lam.min()
        close(float(np.max(np.abs(1 - float(got) * lam))), (kappa - 1) / (kappa + 1),
              what="worst contraction factor of your step", where=f"for κ = {kappa:.4g}")


# ---------------------------------------------------------------------------------------------------------- momentum

def momentum_inputs(rng):
    cases = []
    for _ in range(5):
        n = int(rng.integers(1, 6))
        lam, H, x_star = _bowl(rng, n, 0.1, 10.0)
        beta = float(rng.uniform(0.0, 0.95))
        cases.append({"H": H, "x_star": x_star, "beta": beta, "steps": int(rng.integers(1, 31)),
                      "lr": float(rng.uniform(0.05, 0.95)) * 2 * (1 + beta) / lam.max(), "x0": rng.normal(size=n) * 2})
    n = int(rng.integers(1, 5))
    lam, H, x_star = _bowl(rng, n, 0.5, 2.0)
    cases.append({"H": H, "x_star": x_star, "beta": 0.0, "steps": 15, "lr": 0.4, "x0": rng.normal(size=n)})
    cases.append({"H": H, "x_star": x_star, "beta": 0.5, "steps": 0, "lr": 0.4, "x0": rng.normal(size=n)})
    bound = []
    for beta in (float(rng.uniform(0.2, 0.4)), float(rng.uniform(0.7, 0.9))):
        lam, H, x_star = _bowl(rng, 3, 0.5, 4.0)
        for factor in (0.9, 1.1):
            bound.append({"H": H, "x_star": x_star, "beta": beta, "factor": factor, "steps": 400,
                          "lr": factor * 2 * (1 + beta) / lam.max(), "x0": np.ones(3)})
    start = [float(rng.uniform(-1.5, -0.5)), float(rng.uniform(0.5, 1.5))]
    rosenbrock = {"x0": start, "lr": 1e-3, "beta": float(rng.uniform(0.5, 0.9)), "steps": int(rng.integers(40, 90))}
    return {"cases": cases, "bound": bound, "rosenbrock": rosenbrock}


MOMENTUM_DRIVER = DRIVER_HEAD + textwrap.dedent("""
    result = {"cases": [], "x0_after": [], "bound": []}
    for case in inputs["cases"]:
        x0 = np.array(case["x0"], dtype=float)
        result["cases"].append(momentum(bowl_gradient(case), x0, case["lr"], case["beta"], case["steps"]))
        result["x0_after"].append(x0)
    for case in inputs["bound"]:
        path = np.asarray(momentum(bowl_gradient(case), np.array(case["x0"], dtype=float), case["lr"], case["beta"],
                                   case["steps"]), dtype=float)
        result["bound"].append(path[-1] if path.ndim == 2 and len(path) == case["steps"] + 1 else path)
    r = inputs["rosenbrock"]
    result["rosenbrock"] = momentum(rosenbrock_grad, np.array(r["x0"]), r["lr"], r["beta"], r["steps"])
""")


def momentum_verify(inputs, result):
    require(isinstance(result, dict) and isinstance(result.get("cases"), list)
            and len(result["cases"]) == len(inputs["cases"]), "momentum gave too few results.")
    hint = "x_{k+1} = x_k − η∇f(x_k) + β(x_k − x_{k−1}) with x_{-1} = x0; row 0 is x0."
    for case, got in zip(inputs["cases"], result["cases"], strict=True):
        H, x_star, x0 = (np.array(case[k], dtype=float) for k in ("H", "x_star", "x0"))
        close(got, exact_hb(H, x_star, x0, case["lr"], case["beta"], case["steps"]), what="trajectory",
              where=f"on a random {x0.size}-D quadratic, η = {case['lr']:.3g}, β = {case['beta']:.3g}", hint=hint)
    after = result.get("x0_after")
    require(isinstance(after, list) and len(after) == len(inputs["cases"])
            and all(_same(a, case["x0"]) for a, case in zip(after, inputs["cases"], strict=True)),
            "momentum modified the caller's x0; update a copy instead.")
    bound = result.get("bound")
    require(isinstance(bound, list) and len(bound) == len(inputs["bound"]), "momentum gave too few results.")
    for case, last in zip(inputs["bound"], bound, strict=True):
        H, x_star, x0 = (np.array(case[k], dtype=float) for k in ("H", "x_star", "x0"))
        close(last, exact_hb(H, x_star, x0, case["lr"], case["beta"], case["steps"])[-1], what="last point",
              where=f"after {case['steps']} steps at {case['factor']} × the stability bound 2(1 + β)/λ_max, "
                    f"β = {case['beta']:.3g}", hint=hint)
    r = inputs["rosenbrock"]
    path = np.asarray(result.get("rosenbrock"), dtype=float)
    require(path.shape == (r["steps"] + 1, 2), f"On Rosenbrock with {r['steps']} steps the trajectory has shape "
                                               f"{path.shape}, not {(r['steps'] + 1, 2)}.")
    close(path[0], r["x0"], what="first row", where="on Rosenbrock", hint="Row 0 must be x0.")
    previous = np.vstack([path[:1], path[:-2]])
    gradients = np.array([ROSENBROCK(p) for p in path[:-1]])
    expected_next = path[:-1] - r["lr"] * gradients + r["beta"] * (path[:-1] - previous)
    close(path[1:], expected_next, what="rows of the trajectory", where=f"on Rosenbrock, β = {r['beta']:.3g}",
          hint=hint)


# ---------------------------------------------------------------------------------------------------- tuned_momentum

def _hb_radius(lr, beta, lam):
    return max(np.max(np.abs(np.linalg.eigvals(np.array([[1 + beta - lr * li, -beta], [1.0, 0.0]])))) for li in lam)


def tuned_inputs(rng):
    cases = _matrices(rng, 6, 0.01, 50.0, 2)
    c = float(rng.uniform(0.5, 5))
    cases.append({"A": (c * np.eye(4)).tolist(), "lam": [c] * 4})
    return {"cases": cases}


TUNED_DRIVER = textwrap.dedent("""
    import numpy as np
    result = [list(tuned_momentum(np.array(case["A"], dtype=float))) for case in inputs["cases"]]
""")


def tuned_verify(inputs, result):
    require(isinstance(result, list) and len(result) == len(inputs["cases"]), "tuned_momentum gave too few results.")
    for case, got in zip(inputs["cases"], result, strict=True):
        lam = np.array(case["lam"])
        where = f"for a random {len(lam)}×{len(lam)} A"
        require(isinstance(got, list) and len(got) == 2, f"tuned_momentum should return a pair (lr, beta) {where}.")
        kappa = lam.max() / lam.min()
        target = (np.sqrt(kappa) - 1) / (np.sqrt(kappa) + 1)
        close(got[1], target**2, what="β", where=where, hint="β is the square of (√κ − 1)/(√κ + 1). " + HINT_SYM)
        close(got[0], 4 / (np.sqrt(lam.max()) + np.sqrt(lam.min())) ** 2, what="learning rate η", where=where,
              hint="η = 4/(√λ_max + √λ_min)², from η λ_max = (1 + √β)². " + HINT_SYM)
        close(_hb_radius(float(got[0]), float(got[1]), lam), target, what="contraction per step of heavy ball with "
              "your (η, β)", where=where, rtol=1e-6)


PROBES = {
    "06_gradient_descent-gradient_descent": Probe(GD_DRIVER, gd_inputs, gd_verify),
    "06_gradient_descent-divergence_threshold": Probe(THRESHOLD_DRIVER, threshold_inputs, threshold_verify),
    "06_gradient_descent-best_fixed_step": Probe(BEST_DRIVER, best_inputs, best_verify),
    "06_gradient_descent-momentum": Probe(MOMENTUM_DRIVER, momentum_inputs, momentum_verify),
    "06_gradient_descent-tuned_momentum": Probe(TUNED_DRIVER, tuned_inputs, tuned_verify),
}

