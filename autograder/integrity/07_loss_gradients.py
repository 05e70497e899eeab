"""Out-of-kernel probes of unit 07 (loss gradients): see `integrity/__init__.py` and `grading.integrity`.

Stability is part of the contract (no overflow, nan or warning at logits of ±1000), and it shows in the numbers:
the logits are so extreme (±1000, rows thousands apart, ties at the top) that a formula which overflows or
underflows returns inf, nan or a wrong number, and the grader compares every value with a 40-digit mpmath
reference. Nothing the driver does in the student's process is a check (the student's code could neutralise
`np.errstate`): the driver only asks NumPy to raise on overflow, division by zero and invalid operations, for a
clearer message when it does, and reports the arrays the function returned and its argument as it was left.
Warnings are not turned into errors, so a warning unrelated to floating point cannot fail a correct answer.
"""

from __future__ import annotations

import math
import textwrap

import mpmath
import numpy as np

from calcml import checks, numdiff
from grading.integrity import Probe, close, require

STRICT = textwrap.dedent("""
    import numpy as np

    def strict(fn, *args):
        \"\"\"fn(*args), and "" or the floating-point error it raised (a message only: the numbers decide).\"\"\"
        try:
            with np.errstate(over="raise", divide="raise", invalid="raise", under="ignore"):
                return fn(*args), ""
        except FloatingPointError as error:
            return None, f"{type(error).__name__}: {error}"
""")

STABLE_HINT = ("exp overflows above 709.8, and exp of a very negative number underflows to 0 (log(0) = -inf, "
               "0/0 = nan): subtract each row's maximum before exponentiating.")


def _lse(Z):
    with mpmath.workdps(40):
        return np.array([float(mpmath.log(mpmath.fsum(mpmath.exp(v) for v in row))) for row in np.asarray(Z).tolist()])


def _softmax(Z):
    rows = []
    with mpmath.workdps(40):
        for row in np.asarray(Z).tolist():
            e = [mpmath.exp(v) for v in row]
            total = mpmath.fsum(e)
            rows.append([float(x / total) for x in e])
    return np.array(rows)


def _mean_cross_entropy(Z, labels):
    with mpmath.workdps(40):
        total = mpmath.fsum(mpmath.log(mpmath.fsum(mpmath.exp(v) for v in row)) - row[t]
                            for row, t in zip(np.asarray(Z).tolist(), labels, strict=True))
        return float(total / len(labels))


def _batches(rng, shapes, scales):
    return [rng.normal(scale=float(s), size=shape) for shape, s in zip(shapes, scales, strict=True)]


def _levels(rng):
    """Rows at very different levels in one batch: each row needs its own maximum."""
    base = np.array([[1000.0, -1000.0, 0.0], [-1000.0, -1000.0, -999.0], [710.0, 710.0, 710.0],
                     [-5000.0, 3.0, -5000.0]])
    return base + rng.uniform(-5, 5, size=(4, 1))


def _dims(rng, low, high):
    return [int(rng.integers(low, high)), int(rng.integers(1, 8))]


# --------------------------------------------------------------------------------------------------------- mse_grad

def mse_inputs(rng):
    shapes = [(1, int(rng.integers(1, 4))), (int(rng.integers(5, 12)), 1), _dims(rng, 2, 8), _dims(rng, 20, 60),
              _dims(rng, 100, 250)]
    return {"cases": [{"X": rng.normal(scale=2.0, size=s), "w": rng.normal(size=s[1]),
                       "y": rng.normal(loc=3.0, size=s[0])} for s in shapes]}


MSE_DRIVER = textwrap.dedent("""
    import numpy as np
    result = [mse_grad(*(np.array(c[k], dtype=float) for k in ("X", "w", "y"))) for c in inputs["cases"]]
""")


def mse_verify(inputs, result):
    require(isinstance(result, list) and len(result) == len(inputs["cases"]), "mse_grad gave too few results.")
    for case, got in zip(inputs["cases"], result, strict=True):
        X, w, y = (np.array(case[k], dtype=float) for k in ("X", "w", "y"))
        N, d = X.shape
        close(got, numdiff.gradient(lambda v, X=X, y=y: np.mean((X @ v - y) ** 2), w),
              what=f"MSE gradient for N={N}, d={d}", batch_size=N,
              hint="It is (2/N) Xᵀ(Xw − y), N = X.shape[0] the number of examples.")


# -------------------------------------------------------------------------------------------------------- logsumexp

def lse_inputs(rng):
    shapes = [(1, 1), (int(rng.integers(2, 9)), 2), (3, int(rng.integers(5, 10))), (int(rng.integers(30, 70)), 4),
              (5, 6)]
    batches = _batches(rng, shapes, [1.0, rng.uniform(10, 50), rng.uniform(500, 1000), rng.uniform(2, 8),
                                     rng.uniform(1000, 4000)])
    constant = float(rng.uniform(-720, -650))
    return {"batches": batches + [_levels(rng)], "constant": {"value": constant, "shape": [3, int(rng.integers(2, 8))]},
            "shifted": {"Z": rng.normal(size=(5, 4)), "shift": rng.uniform(-900.0, 900.0, size=5)}}


LSE_DRIVER = STRICT + textwrap.dedent("""
    result = {"batches": []}
    for Z in inputs["batches"]:
        Z = np.array(Z, dtype=float)
        value, error = strict(logsumexp, Z)
        result["batches"].append({"value": value, "error": error, "Z_after": Z})
    c = inputs["constant"]
    result["constant"] = strict(logsumexp, np.full(c["shape"], c["value"]))
    s = inputs["shifted"]
    Z, shift = np.array(s["Z"]), np.array(s["shift"])
    result["shifted"] = strict(logsumexp, Z + shift[:, None])
""")

LSE_HINT = ("lse(z) = m + log Σ exp(z − m), summed over each row (axis=1), with m the maximum of that row; is m "
            "added back?")


def _strict_value(got, what, where):
    require(isinstance(got, (list, dict)), f"Your {what} {where} gave no result.")
    value, error = (got.get("value"), got.get("error")) if isinstance(got, dict) else (got + [None, None])[:2]
    if error:
        raise checks.CheckFailure(f"Your {what} {where} hit a floating-point error ({error}). {STABLE_HINT}")
    return value


def _untouched(got, Z, name):
    """The argument as the function left it (raw data from the driver) must be the argument it was given."""
    after = got.get("Z_after") if isinstance(got, dict) else None
    require(isinstance(after, list) and np.shape(after) == Z.shape
            and bool(np.array_equal(np.asarray(after, dtype=float), Z)),
            f"Your {name} changed its argument Z in place; write Z - m, not Z -= m.")


def lse_verify(inputs, result):
    require(isinstance(result, dict) and isinstance(result.get("batches"), list)
            and len(result["batches"]) == len(inputs["batches"]), "logsumexp gave too few results.")
    for Z, got in zip(inputs["batches"], result["batches"], strict=True):
        Z = np.array(Z)
        where = f"of a {Z.shape} batch of logits up to {np.max(np.abs(Z)):.3g}"
        close(_strict_value(got, "logsumexp", where), _lse(Z), what="logsumexp", where=where, hint=LSE_HINT)
        _untouched(got, Z, "logsumexp")
    c = inputs["constant"]
    where = f"of constant rows of {c['value']:.4g}"
    close(_strict_value(result.get("constant"), "logsumexp", where),
          np.full(c["shape"][0], c["value"] + math.log(c["shape"][1])), what="logsumexp", where=where, hint=LSE_HINT)
    s = inputs["shifted"]
    Z = np.array(s["Z"]) + np.array(s["shift"])[:, None]
    close(_strict_value(result.get("shifted"), "logsumexp", "of shifted rows"), _lse(Z), what="logsumexp",
          where="of rows shifted by up to ±900", hint=LSE_HINT)


# ---------------------------------------------------------------------------------------------------- stable_softmax

def softmax_inputs(rng):
    shapes = [(1, 1), (int(rng.integers(2, 9)), 2), (3, int(rng.integers(5, 10))), (int(rng.integers(30, 60)), 4),
              (5, 7)]
    batches = _batches(rng, shapes, [1.0, rng.uniform(20, 60), rng.uniform(500, 1000), rng.uniform(2, 8),
                                     rng.uniform(1000, 3000)])
    # Gaps of 710 to 722 below the row maximum: exp(gap) overflows, yet each probability is a subnormal number
    # (1e-314 to 1e-308), which a formula that overflows and divides by inf returns as 0.
    gaps = rng.uniform(710.0, 722.0, size=(4, 2))
    tiny = np.column_stack([np.zeros(4), -gaps]) + rng.uniform(-400.0, 400.0, size=(4, 1))
    return {"batches": batches + [_levels(rng), tiny],
            "shifted": {"Z": rng.normal(size=(6, 3)), "shift": rng.uniform(-900.0, 900.0, size=6)}}


SOFTMAX_DRIVER = STRICT + textwrap.dedent("""
    result = {"batches": []}
    for Z in inputs["batches"]:
        Z = np.array(Z, dtype=float)
        value, error = strict(stable_softmax, Z)
        result["batches"].append({"value": value, "error": error, "Z_after": Z})
    s = inputs["shifted"]
    result["shifted"] = strict(stable_softmax, np.array(s["Z"]) + np.array(s["shift"])[:, None])
""")

SOFTMAX_HINT = "Divide the exponentials of each row by that row's sum (axis=1, keepdims=True)."


def _tiny_probabilities(value, expected, Z):
    """Probabilities between 1e-314 and 1e-307 (the row maximum 708 to 723 above) must come out to 6 digits: a
    formula that overflows there (exp(gap) = inf, then 1/inf = 0) returns 0, which `close` cannot see next to 1."""
    band = (expected >= 1e-314) & (expected <= 1e-307)
    if not band.any():
        return
    got = np.asarray(value, dtype=float)
    bad = band & ~(np.abs(got - expected) <= 1e-6 * expected)
    if bad.any():
        n, k = (int(i) for i in np.argwhere(bad)[0])
        raise checks.CheckFailure(
            f"Your stable_softmax gives {got[n, k]:.6g} for a probability of {expected[n, k]:.6g} (row {n}: the logit "
            f"{Z[n, k]:.6g} is {np.max(Z[n]) - Z[n, k]:.4g} below the row's maximum). A formula whose exp overflows "
            "there loses it. " + STABLE_HINT)


def softmax_verify(inputs, result):
    require(isinstance(result, dict) and isinstance(result.get("batches"), list)
            and len(result["batches"]) == len(inputs["batches"]), "stable_softmax gave too few results.")
    for Z, got in zip(inputs["batches"], result["batches"], strict=True):
        Z = np.array(Z)
        _untouched(got, Z, "stable_softmax")
        where = f"of a {Z.shape} batch of logits up to {np.max(np.abs(Z)):.3g}"
        value, expected = _strict_value(got, "stable_softmax", where), _softmax(Z)
        close(value, expected, what="softmax", where=where, hint=SOFTMAX_HINT)
        _tiny_probabilities(value, expected, Z)
    s = inputs["shifted"]
    Z = np.array(s["Z"]) + np.array(s["shift"])[:, None]
    close(_strict_value(result.get("shifted"), "stable_softmax", "of shifted rows"), _softmax(Z), what="softmax",
          where="of rows shifted by up to ±900", hint=SOFTMAX_HINT)


# --------------------------------------------------------------------------------------- softmax_cross_entropy_grad

def ce_inputs(rng):
    cases = []
    for (N, K), scale in zip([(1, 2), (int(rng.integers(5, 9)), 4), (3, int(rng.integers(4, 7))), (5, 5)],
                             [1.0, rng.uniform(1, 4), rng.uniform(500, 1000), rng.uniform(100, 400)], strict=True):
        cases.append({"Z": rng.normal(scale=float(scale), size=(N, K)), "labels": rng.integers(0, K, size=N)})
    ties = np.array([[1000.0, 1000.0, -1000.0], [-1000.0, 1000.0, 999.0], [500.0, 500.0, 500.0]])
    cases.append({"Z": ties + rng.uniform(-3, 3, size=(3, 1)), "labels": [0, 0, 2]})
    return {"cases": cases}


CE_DRIVER = STRICT + textwrap.dedent("""
    result = []
    for case in inputs["cases"]:
        Z, labels = np.array(case["Z"], dtype=float), np.array(case["labels"], dtype=int)
        K = Z.shape[1]
        entry = {}
        for kind, targets in [("index", labels), ("one_hot_int", np.eye(K, dtype=int)[labels]),
                              ("one_hot", np.eye(K)[labels])]:
            Z = np.array(case["Z"], dtype=float)
            try:
                value, error = strict(softmax_cross_entropy_grad, Z, targets)
            except (IndexError, ValueError) as failure:
                value, error = None, f"{type(failure).__name__}: {failure}"
            entry[kind] = {"value": value, "error": error, "Z_after": Z}
        result.append(entry)
""")


def ce_verify(inputs, result):
    require(isinstance(result, list) and len(result) == len(inputs["cases"]), "softmax_cross_entropy_grad gave too "
                                                                              "few results.")
    for case, got in zip(inputs["cases"], result, strict=True):
        Z, labels = np.array(case["Z"], dtype=float), [int(t) for t in case["labels"]]
        N, K = Z.shape
        expected = numdiff.gradient(lambda V, labels=labels: _mean_cross_entropy(V, labels), Z, h=1e-3)
        require(isinstance(got, dict), "softmax_cross_entropy_grad gave no result.")
        for kind, label in [("index", "class-index targets"), ("one_hot_int", "integer one-hot targets"),
                            ("one_hot", "one-hot targets")]:
            entry = got.get(kind)
            where = f"for a ({N}, {K}) batch of logits up to {np.max(np.abs(Z)):.3g}, {label}"
            require(isinstance(entry, dict), f"softmax_cross_entropy_grad gave no result {where}.")
            if entry.get("error"):
                raise checks.CheckFailure(
                    f"Your softmax_cross_entropy_grad {where} raised {entry['error']}. It must accept class indices "
                    "(1-D, shape (N,)) and one-hot rows (2-D, shape (N, K)), and compute the probabilities with your "
                    "stable_softmax.")
            _untouched(entry, Z, "softmax_cross_entropy_grad")
            close(entry.get("value"), expected, what="gradient of the mean cross-entropy", where=where, batch_size=N,
                  hint="It is (P − Y)/N: P the softmax of each row, Y the one-hot targets, N the batch size.")


# ------------------------------------------------------------------------------------------------------ ridge_grad

def ridge_inputs(rng):
    shapes = [_dims(rng, 5, 15), (3, int(rng.integers(4, 8))), _dims(rng, 30, 60), (1, 3)]
    lams = [0.0, float(rng.uniform(0.05, 0.5)), float(rng.uniform(1, 5)), float(rng.uniform(10, 30))]
    return {"cases": [{"X": rng.normal(scale=1.5, size=s), "w": rng.normal(size=s[1]), "y": rng.normal(size=s[0]),
                       "lam": lam} for s, lam in zip(shapes, lams, strict=True)]}


RIDGE_DRIVER = textwrap.dedent("""
    import numpy as np
    result = [ridge_grad(*(np.array(c[k], dtype=float) for k in ("X", "w", "y")), c["lam"]) for c in inputs["cases"]]
""")


def ridge_verify(inputs, result):
    require(isinstance(result, list) and len(result) == len(inputs["cases"]), "ridge_grad gave too few results.")
    for case, got in zip(inputs["cases"], result, strict=True):
        X, w, y = (np.array(case[k], dtype=float) for k in ("X", "w", "y"))
        lam, (N, d) = case["lam"], X.shape
        close(got, numdiff.gradient(lambda v, X=X, y=y, lam=lam: np.mean((X @ v - y) ** 2) + lam * np.sum(v**2), w),
              what=f"ridge gradient (N={N}, d={d}, λ={lam:.3g})", batch_size=N,
              hint="The penalty λ‖w‖² = λ wᵀw has gradient 2λw, and it is not divided by N.")


# ----------------------------------------------------------------------------------------------- ridge_closed_form

def closed_inputs(rng):
    shapes = [_dims(rng, 10, 20), (4, int(rng.integers(6, 10))), (1, 5), _dims(rng, 40, 80), (20, 2)]
    lams = [0.0, float(rng.uniform(0.1, 0.5)), float(rng.uniform(0.5, 2)), float(rng.uniform(0.01, 0.1)),
            float(rng.uniform(20, 60))]
    cases = [{"X": rng.normal(scale=2.0, size=s), "y": rng.normal(loc=1.0, size=s[0]), "lam": lam}
             for s, lam in zip(shapes, lams, strict=True)]
    cases[0]["X"] = rng.normal(scale=2.0, size=(max(cases[0]["X"].shape[0], 8), 3))  # full column rank for λ = 0
    cases[0]["y"] = rng.normal(loc=1.0, size=cases[0]["X"].shape[0])
    column = rng.normal(size=15)
    cases.append({"X": np.column_stack([column, column, rng.normal(size=15)]), "y": rng.normal(size=15),
                  "lam": float(rng.uniform(0.1, 0.5))})
    return {"cases": cases}


CLOSED_DRIVER = textwrap.dedent("""
    import numpy as np
    result = [ridge_closed_form(np.array(c["X"], dtype=float), np.array(c["y"], dtype=float), c["lam"])
              for c in inputs["cases"]]
""")


def closed_verify(inputs, result):
    require(isinstance(result, list) and len(result) == len(inputs["cases"]), "ridge_closed_form gave too few "
                                                                              "results.")
    for case, got in zip(inputs["cases"], result, strict=True):
        X, y, lam = np.array(case["X"]), np.array(case["y"]), case["lam"]
        N, d = X.shape
        # Ridge is least squares on data augmented with rows sqrt(N λ) I and targets 0.
        A = np.vstack([X, math.sqrt(N * lam) * np.eye(d)])
        reference = np.linalg.lstsq(A, np.concatenate([y, np.zeros(d)]), rcond=None)[0]
        close(got, reference, what="ridge minimiser w*", where=f"for N={N}, d={d}, λ={lam:.3g}",
              hint="Set (2/N) Xᵀ(Xw − y) + 2λw = 0 and multiply by N/2: the matrix is XᵀX + NλI, with N λ on the "
                   "diagonal.")


PROBES = {
    "07_loss_gradients-mse_grad": Probe(MSE_DRIVER, mse_inputs, mse_verify),
    "07_loss_gradients-logsumexp": Probe(LSE_DRIVER, lse_inputs, lse_verify),
    "07_loss_gradients-stable_softmax": Probe(SOFTMAX_DRIVER, softmax_inputs, softmax_verify),
    "07_loss_gradients-softmax_cross_entropy_grad": Probe(CE_DRIVER, ce_inputs, ce_verify),
    "07_loss_gradients-ridge_grad": Probe(RIDGE_DRIVER, ridge_inputs, ridge_verify),
    "07_loss_gradients-ridge_closed_form": Probe(CLOSED_DRIVER, closed_inputs, closed_verify),
}
