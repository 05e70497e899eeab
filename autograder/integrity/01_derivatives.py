"""Out-of-kernel probes of unit 01 (derivatives): see `integrity/__init__.py` and `grading.integrity`."""

from __future__ import annotations

import textwrap

import numpy as np

from calcml import checks, numdiff
from grading.integrity import Probe, close, require

# Functions given to the student's code by name, with their exact derivatives (for the grader's side only).
FUNCTIONS = textwrap.dedent("""
    import numpy as np
    FUNCTIONS = {
        "sin": np.sin, "exp": np.exp, "log": np.log, "tanh": np.tanh, "arctan": np.arctan,
        "cube": lambda t: t**3, "sqrt": np.sqrt, "inverse": lambda t: 1 / t,
        "softplus": lambda t: np.logaddexp(0.0, t), "gauss": lambda t: np.exp(-(t**2) / 2),
    }
""")
DERIVATIVES = {
    "sin": np.cos, "exp": np.exp, "log": lambda t: 1 / t, "tanh": lambda t: 1 / np.cosh(t) ** 2,
    "arctan": lambda t: 1 / (1 + t**2), "cube": lambda t: 3 * t**2, "sqrt": lambda t: 0.5 / np.sqrt(t),
    "inverse": lambda t: -1 / t**2, "softplus": lambda t: np.exp(-np.logaddexp(0.0, -t)),
    "gauss": lambda t: -t * np.exp(-(t**2) / 2),
}
_namespace: dict = {}
exec(FUNCTIONS, _namespace)  # noqa: S102 -- our own constant source, shared with the drivers
F = _namespace["FUNCTIONS"]


def _shape(rng: np.random.Generator) -> list[int]:
    return [int(n) for n in rng.integers(1, 5, size=int(rng.integers(1, 3)))]


# ---------------------------------------------------------------------------------------------- central_difference

def central_inputs(rng):
    domains = {"sin": (-6, 6), "exp": (-3, 3), "log": (0.5, 5), "tanh": (-2, 2), "arctan": (-3, 3), "cube": (-2, 2)}
    cases = []
    for name in rng.choice(sorted(domains), size=4, replace=False):
        lo, hi = domains[str(name)]
        cases.append({"fn": str(name), "x": rng.uniform(lo, hi, size=_shape(rng)).tolist(),
                      "h": float(10.0 ** rng.uniform(-3.0, -1.3))})
    cases.append({"fn": "sin", "x": float(rng.uniform(-2, 2)), "h": float(10.0 ** rng.uniform(-2.5, -1.5))})
    cases.append({"fn": "exp", "x": int(rng.integers(-2, 3)), "h": 0.05})  # an integer point
    return {"cases": cases}


CENTRAL_DRIVER = FUNCTIONS + textwrap.dedent("""
    result = []
    for case in inputs["cases"]:
        x = np.array(case["x"], dtype=float) if isinstance(case["x"], list) else case["x"]
        result.append(central_difference(FUNCTIONS[case["fn"]], x, case["h"]))
""")


def central_verify(inputs, result):
    require(isinstance(result, list) and len(result) == len(inputs["cases"]), "central_difference gave no results.")
    for case, got in zip(inputs["cases"], result, strict=True):
        f, h = F[case["fn"]], case["h"]
        x = np.array(case["x"], dtype=float)
        # The definition of the central difference, evaluated here on the grader's side: it must agree to
        # round-off. (A forward difference, a missing 2 or a step other than h is off by far more.)
        expected = (f(x + h) - f(x - h)) / (2 * h)
        where = f"of {case['fn']} {checks.describe_point(x)} with h = {h:.3g}"
        close(got, expected, what="central difference", where=where, rtol=1e-7,
              hint="Compute (f(x + h) - f(x - h)) / (2 * h) with the h you are given; mind the brackets around 2 * h.")


# ----------------------------------------------------------------------------------------------------- choose_step

STEP_CASES = {
    "exp": lambda rng: np.concatenate([[0.0], rng.uniform(-5, 5, 19)]),
    "log": lambda rng: 10 ** rng.uniform(0, 9, 20),
    "sin": lambda rng: np.concatenate([[0.0, -1e-4], rng.uniform(-3, 3, 18)]),
    "tanh": lambda rng: np.concatenate([[2e-6], rng.uniform(-2, 2, 19)]),
    "arctan": lambda rng: rng.uniform(-3, 3, 20),
    "cube": lambda rng: rng.choice([-1.0, 1.0], 20) * 10 ** rng.uniform(0, 5, 20),
    "sqrt": lambda rng: 10 ** rng.uniform(0, 8, 20),
    "inverse": lambda rng: 10 ** rng.uniform(0, 6, 20),
}


def step_inputs(rng):
    names = sorted(STEP_CASES)
    chosen = [str(n) for n in rng.choice(names, size=5, replace=False)]
    for must in ("log", "exp"):
        if must not in chosen:
            chosen[0 if must == "log" else 1] = must
    return {"sets": [{"fn": name, "x": STEP_CASES[name](rng).tolist()} for name in chosen],
            "scalar": float(rng.uniform(-3, 3)), "grid": rng.uniform(-50, 50, size=(3, 4)).tolist()}


STEP_DRIVER = textwrap.dedent("""
    import numpy as np
    sets = [choose_step(np.array(s["x"], dtype=float)) for s in inputs["sets"]]
    scalar = choose_step(inputs["scalar"])
    result = {"sets": sets, "scalar": scalar, "scalar_ndim": int(np.ndim(scalar)),
              "grid": choose_step(np.array(inputs["grid"], dtype=float))}
""")


def _step_quality(name, xs, steps, factor=10.0):
    """Fail unless central differences of F[name] with `steps` are typically within `factor` times the error
    of the best step of a fine grid (errors against the exact derivative)."""
    f, df = F[name], DERIVATIVES[name]
    where = f"for {name} at {xs.size} points"
    try:
        steps = np.asarray(steps, dtype=float)
    except (TypeError, ValueError):
        raise checks.CheckFailure(f"choose_step returned something that is not an array of numbers {where}.") from None
    if steps.shape != xs.shape:
        raise checks.CheckFailure(f"choose_step returned shape {steps.shape} for points of shape {xs.shape} {where}; "
                                  "return one step per point (np.maximum and np.abs work elementwise).")
    bad = np.flatnonzero(~(np.isfinite(steps) & (steps > 0)))
    if bad.size:
        raise checks.CheckFailure(f"choose_step({xs[bad[0]]:.3g}) is {steps[bad[0]]:.3g}, but a step must be positive "
                                  "and finite. Near x = 0, |x| is no scale at all: use max(1, |x|).")
    lost = np.flatnonzero(xs + steps == xs)
    if lost.size:
        raise checks.CheckFailure(f"choose_step({xs[lost[0]]:.3g}) is {steps[lost[0]]:.3g}, below the spacing of "
                                  f"floats near that x ({np.spacing(xs[lost[0]]):.2g}), so x + h == x.")

    def central(points, h):
        return (f(points + h) - f(points - h)) / (2 * h)

    exact = df(xs)[:, None]
    grid = np.maximum(1.0, np.abs(xs))[:, None] * np.logspace(-13, -1, 121)
    errors = np.abs(central(xs[:, None], grid) - exact)
    typical = np.stack([np.median(errors[:, max(0, i - 5):i + 6], axis=1) for i in range(grid.shape[1])], axis=1)
    best = np.maximum(typical.min(axis=1), 1e-300)
    mine = np.median(np.abs(central(xs[:, None], steps[:, None] * np.array([0.8, 0.9, 1.0, 1.1, 1.25])) - exact),
                     axis=1)
    ratios = np.where(np.isfinite(mine), mine / best, np.inf)
    if np.median(ratios) > factor:
        i = int(np.argsort(ratios)[xs.size // 2])
        raise checks.CheckFailure(
            f"With your steps, central differences of {name} are typically {np.median(ratios):.3g} times less "
            f"accurate than with the best step (allowed: {factor:g}); at x = {xs[i]:.4g} your h = {steps[i]:.2g}. "
            "Aim for the bottom of the V: h ≈ ε^(1/3)·max(1, |x|).")


def step_verify(inputs, result):
    require(isinstance(result, dict) and isinstance(result.get("sets"), list), "choose_step gave no results.")
    require(len(result["sets"]) == len(inputs["sets"]), "choose_step gave too few results.")
    for case, steps in zip(inputs["sets"], result["sets"], strict=True):
        _step_quality(case["fn"], np.array(case["x"], dtype=float), steps)
    x = inputs["scalar"]
    require(result.get("scalar_ndim") == 0, f"choose_step({x:.3g}) should be one number, not an array.")
    h = result.get("scalar")
    require(isinstance(h, float) and bool(np.isfinite(h)) and h > 0 and x + h != x,
            f"choose_step({x:.3g}) is {h!r}, but a step must be a positive float that x + h can feel.")
    grid = np.asarray(result.get("grid"), dtype=float)
    require(grid.shape == (3, 4), f"choose_step of an array of shape (3, 4) returned shape {grid.shape}.")
    require(bool(np.all(np.isfinite(grid) & (grid > 0))), "choose_step must return positive steps for every "
                                                            "point of a 2-D array.")


# ----------------------------------------------------------------------------------------------------------- d_ratio

def _ratio(t):
    return t**2 * np.sin(t) / (1 + t**2)


def ratio_inputs(rng):
    return {"points": rng.uniform(-6, 6, size=_shape(rng) + [3]).tolist(),
            "floats": [float(rng.uniform(-40, 40)), 0.0, float(rng.uniform(-2, 2))]}


RATIO_DRIVER = textwrap.dedent("""
    import numpy as np
    result = {"array": d_ratio(np.array(inputs["points"], dtype=float)),
              "floats": [d_ratio(x) for x in inputs["floats"]]}
""")


def ratio_verify(inputs, result):
    require(isinstance(result, dict), "d_ratio gave no results.")
    hint = "Product rule for the numerator, then the quotient rule (u'v - uv') / v², with a minus sign and a square."
    points = np.array(inputs["points"], dtype=float)
    close(result.get("array"), numdiff.derivative(_ratio, points), what="d_ratio",
          where=f"at random points of shape {points.shape}", hint=hint)
    floats = np.array(inputs["floats"])
    close(result.get("floats"), numdiff.derivative(_ratio, floats), what="d_ratio", where=checks.describe_point(floats),
          hint=hint)


# -------------------------------------------------------------------------------------------------------- d_softplus

def softplus_inputs(rng):
    return {"moderate": rng.uniform(-30, 30, size=15).tolist(),
            "large": rng.uniform(-800, 800, size=_shape(rng) + [2]).tolist(),
            "tails": (-np.sort(rng.uniform(20, 700, size=5))).tolist(),
            "extremes": [-1000.0, -50.0, 0.0, 50.0, 1000.0]}


SOFTPLUS_DRIVER = textwrap.dedent("""
    import numpy as np
    overflow = ""
    with np.errstate(over="raise"):
        try:
            d_softplus(np.array(inputs["extremes"]))
        except FloatingPointError as error:
            overflow = str(error)
    with np.errstate(all="ignore"):
        result = {key: d_softplus(np.array(inputs[key], dtype=float))
                  for key in ("moderate", "large", "tails", "extremes")}
        result["zero"] = d_softplus(0.0)
    result["overflow"] = overflow
""")


def _softplus(t):
    return np.logaddexp(0.0, t)


def softplus_verify(inputs, result):
    require(isinstance(result, dict), "d_softplus gave no results.")
    hint = ("Chain rule: (log w)' = w'/w with w = 1 + e^x; divide top and bottom by e^x where x > 0, so that only "
            "exponentials of negative numbers are computed.")
    if result.get("overflow"):
        raise checks.CheckFailure(f"d_softplus at x = -1000, -50, 0, 50, 1000 overflowed ({result['overflow']}). "
                                  "Compute exponentials of negative numbers only, e.g. np.exp(-np.abs(x)).")
    for key in ("moderate", "large", "extremes"):
        points = np.array(inputs[key], dtype=float)
        close(result.get(key), numdiff.derivative(_softplus, points), what="d_softplus",
              where=f"at {points.size} points in [{points.min():.4g}, {points.max():.4g}]", hint=hint)
    tails = np.array(inputs["tails"])
    got = np.asarray(result.get("tails"), dtype=float)
    close(got / np.exp(tails) if got.shape == tails.shape else got, 1 / (1 + np.exp(tails)), what="d_softplus(x) / e^x",
          where=f"in the left tail, {checks.describe_point(tails)}", rtol=1e-9,
          hint="For very negative x, s'(x) = e^x / (1 + e^x): compute it without subtracting nearly equal numbers.")
    close(result.get("zero"), 0.5, what="d_softplus", where="at x = 0 (a float)", hint=hint)


# --------------------------------------------------------------------------------------------------- chain_derivative

def chain_inputs(rng):
    names = sorted(F)
    safe = [n for n in names if n not in ("log", "sqrt", "inverse")]  # defined everywhere
    pairs = [[str(a), str(b)] for a, b in (rng.choice(safe, size=2) for _ in range(6))]
    return {"pairs": pairs, "points": [rng.uniform(-1.5, 1.5, size=_shape(rng)).tolist() for _ in pairs],
            "float": float(rng.uniform(-1, 1)), "triple": rng.uniform(-1.2, 1.2, size=7).tolist()}


CHAIN_DRIVER = FUNCTIONS + textwrap.dedent("""
    DERIVATIVES = {
        "sin": np.cos, "exp": np.exp, "tanh": lambda t: 1 / np.cosh(t) ** 2, "arctan": lambda t: 1 / (1 + t**2),
        "cube": lambda t: 3 * t**2, "softplus": lambda t: np.exp(-np.logaddexp(0.0, -t)),
        "gauss": lambda t: -t * np.exp(-(t**2) / 2),
    }
    values = []
    for (outer, inner), points in zip(inputs["pairs"], inputs["points"]):
        d = chain_derivative(FUNCTIONS[outer], DERIVATIVES[outer], FUNCTIONS[inner], DERIVATIVES[inner])
        values.append(d(np.array(points, dtype=float)))
    d_sin_exp = chain_derivative(np.sin, np.cos, np.exp, np.exp)
    d_inner = chain_derivative(np.sin, np.cos, FUNCTIONS["cube"], DERIVATIVES["cube"])
    d_three = chain_derivative(np.arctan, DERIVATIVES["arctan"], lambda t: np.sin(t**3), d_inner)
    result = {"values": values, "float": d_sin_exp(inputs["float"]), "triple": d_three(np.array(inputs["triple"]))}
""")


def chain_verify(inputs, result):
    require(isinstance(result, dict) and isinstance(result.get("values"), list)
            and len(result["values"]) == len(inputs["pairs"]), "chain_derivative gave no results.")
    hint = "The chain rule: (f∘g)'(x) = f'(g(x))·g'(x)."
    for (outer, inner), points, got in zip(inputs["pairs"], inputs["points"], result["values"], strict=True):
        x = np.array(points, dtype=float)
        f, g = F[outer], F[inner]
        close(got, numdiff.derivative(lambda t, f=f, g=g: f(g(t)), x), what=f"derivative of {outer}({inner}(x))",
              where=checks.describe_point(x), hint=hint)
    x = inputs["float"]
    close(result.get("float"), numdiff.derivative(lambda t: np.sin(np.exp(t)), x), what="derivative of sin(exp(x))",
          where=f"at the float x = {x:.4g}", hint=hint)
    x = np.array(inputs["triple"])
    close(result.get("triple"), numdiff.derivative(lambda t: np.arctan(np.sin(t**3)), x),
          what="derivative of arctan(sin(x³)) built by chaining chain_derivative twice", where=checks.describe_point(x),
          hint="The function returned by chain_derivative must itself be usable as dg.")


PROBES = {
    "01_derivatives-central_difference": Probe(CENTRAL_DRIVER, central_inputs, central_verify),
    "01_derivatives-choose_step": Probe(STEP_DRIVER, step_inputs, step_verify),
    "01_derivatives-d_ratio": Probe(RATIO_DRIVER, ratio_inputs, ratio_verify),
    "01_derivatives-d_softplus": Probe(SOFTPLUS_DRIVER, softplus_inputs, softplus_verify),
    "01_derivatives-chain_derivative": Probe(CHAIN_DRIVER, chain_inputs, chain_verify),
}
