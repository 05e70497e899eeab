"""Out-of-kernel probes of unit 01 (derivatives): see `integrity/__init__.py` and `grading.integrity`."""

from __future__ import annotations

import textwrap

import mpmath
import numpy as np
import sympy as sp

from calcml import checks, numdiff
from grading import mechanism
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
# Made-up "derivatives" handed to chain_derivative in place of the true ones (see chain_inputs); "twice" is 2·f'.
FAKE_SOURCE = textwrap.dedent("""
    FAKES = {
        "wiggle": lambda t: np.cos(3 * t) + 0.5 * t, "constant": lambda t: 1.7 + 0 * t,
        "ramp": lambda t: 1 + t - t**2 / 3, "bump": lambda t: 1 / (1 + t**2) - 0.25, "twice": None,
    }
""")
_namespace: dict = {}
exec(FUNCTIONS + FAKE_SOURCE, _namespace)  # noqa: S102 -- our own constant source, shared with the drivers
F = _namespace["FUNCTIONS"]
FAKES = {name: f for name, f in _namespace["FAKES"].items() if f is not None}


def _shape(rng: np.random.Generator) -> list[int]:
    return [int(n) for n in rng.integers(1, 5, size=int(rng.integers(1, 3)))]


# ---------------------------------------------------------------------------------------------- central_difference

def central_inputs(rng):
    domains = {"sin": (-6, 6), "exp": (-3, 3), "log": (0.5, 5), "tanh": (-2, 2), "arctan": (-3, 3), "cube": (-2, 2),
               "poly": (-2, 2)}
    others = [str(n) for n in rng.choice(["tanh", "arctan", "cube"], size=2, replace=False)]
    coefficients = rng.integers(1, 6, size=5).tolist()  # a random quartic, as in the hidden tests
    cases = []
    for name in ["exp", "sin", "poly", "log", *others]:  # every function of the hidden tests, and more
        lo, hi = domains[name]
        cases.append({"fn": name, "x": rng.uniform(lo, hi, size=_shape(rng)).tolist(),
                      "h": float(10.0 ** rng.uniform(-3.0, -1.3))})
    cases.append({"fn": "sin", "x": float(rng.uniform(-2, 2)), "h": 0.1})  # the halving test's step
    cases.append({"fn": "sin", "x": float(rng.uniform(-2, 2)), "h": 0.05})
    cases.append({"fn": "exp", "x": int(rng.integers(-2, 3)), "h": 0.05})  # an integer point
    cases.append({"fn": "cos", "x": int(rng.integers(1, 4)), "h": 1e-5})
    return {"cases": cases, "poly": coefficients}


CENTRAL_DRIVER = FUNCTIONS + textwrap.dedent("""
    FUNCTIONS["cos"] = np.cos
    FUNCTIONS["poly"] = lambda t: sum(c * t**k for k, c in enumerate(inputs["poly"]))
    result = []
    for case in inputs["cases"]:
        x = np.array(case["x"], dtype=float) if isinstance(case["x"], list) else case["x"]
        result.append(central_difference(FUNCTIONS[case["fn"]], x, case["h"]))
""")


def _central_function(name, coefficients):
    if name == "cos":
        return np.cos
    if name == "poly":
        return lambda t: sum(c * t**k for k, c in enumerate(coefficients))
    return F[name]


def central_verify(inputs, result):
    require(isinstance(result, list) and len(result) == len(inputs["cases"]), "central_difference gave no results.")
    for case, got in zip(inputs["cases"], result, strict=True):
        f, h = _central_function(case["fn"], inputs["poly"]), case["h"]
        x = np.array(case["x"], dtype=float)
        # The definition of the central difference, evaluated here on the grader's side: it must agree to
        # round-off. (A forward difference, a missing 2 or a step other than h is off by far more.)
        expected = (f(x + h) - f(x - h)) / (2 * h)
        where = f"of {case['fn']} {checks.describe_point(x)} with h = {h:.3g}"
        close(got, expected, what="central difference", where=where, rtol=1e-7,
              hint="Compute (f(x + h) - f(x - h)) / (2 * h) with the h you are given; mind the brackets around 2 * h.")


# ----------------------------------------------------------------------------------------------------- choose_step

# The point sets of the hidden tests (25 points each, the same extremes), for every function.
STEP_CASES = {
    "exp": lambda rng: np.concatenate([[0.0, 1e-3], rng.uniform(-5, 5, 23)]),
    "log": lambda rng: np.concatenate([[1e10], 10 ** rng.uniform(0, 10, 24)]),
    "sin": lambda rng: np.concatenate([[0.0, -1e-4], rng.uniform(-3, 3, 23)]),
    "tanh": lambda rng: np.concatenate([[0.0, 2e-6], rng.uniform(-2, 2, 23)]),
    "arctan": lambda rng: rng.uniform(-3, 3, 25),
    "cube": lambda rng: rng.choice([-1.0, 1.0], 25) * 10 ** rng.uniform(0, 5, 25),
    "sqrt": lambda rng: 10 ** rng.uniform(0, 8, 25),
    "inverse": lambda rng: 10 ** rng.uniform(0, 6, 25),
}


def step_inputs(rng):
    return {"sets": [{"fn": name, "x": STEP_CASES[name](rng).tolist()} for name in sorted(STEP_CASES)],
            "scalar": float(rng.uniform(-3, 3)), "grid": rng.uniform(-50, 50, size=(3, 4)).tolist()}


STEP_DRIVER = textwrap.dedent("""
    import numpy as np
    result = {"sets": [choose_step(np.array(s["x"], dtype=float)) for s in inputs["sets"]],
              "scalar": choose_step(inputs["scalar"]), "grid": choose_step(np.array(inputs["grid"], dtype=float))}
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
        with np.errstate(all="ignore"):
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
    h = result.get("scalar")  # a float, a NumPy float or a 0-d array arrive as a float; an array as a list
    require(not isinstance(h, list), f"choose_step({x:.3g}) should be one number, not an array.")
    require(isinstance(h, float) and bool(np.isfinite(h)) and h > 0 and x + h != x,
            f"choose_step({x:.3g}) is {h!r}, but a step must be a positive float that x + h can feel.")
    grid = np.asarray(result.get("grid"), dtype=float)
    require(grid.shape == (3, 4), f"choose_step of an array of shape (3, 4) returned shape {grid.shape}.")
    require(bool(np.all(np.isfinite(grid) & (grid > 0))), "choose_step must return positive steps for every "
                                                            "point of a 2-D array.")


# ----------------------------------------------------------------------------------------------------------- d_ratio

def _ratio(t):
    return t**2 * np.sin(t) / (1 + t**2)


_Z = sp.symbols("z")
_D_RATIO = sp.diff(_Z**2 * sp.sin(_Z) / (1 + _Z**2), _Z)


def _exact_ratio_slope(x: float) -> float:
    """r'(x) from sympy's exact derivative, evaluated with 30 digits (reliable at large x too)."""
    return float(_D_RATIO.subs(_Z, sp.Float(repr(float(x)), 40)).evalf(30))


def ratio_inputs(rng):
    # The hidden tests' exact points, and random ones as large as |x| = 1000.
    exact = [-7 / 3, 0.0, 0.5, 12.0, -40.0, 1000.0, float(rng.uniform(-1000, 1000)), float(rng.uniform(10, 100))]
    return {"points": rng.uniform(-6, 6, size=_shape(rng) + [3]).tolist(), "line": rng.uniform(-6, 6, 15).tolist(),
            "floats": [float(rng.uniform(-40, 40)), 0.0, float(rng.uniform(-2, 2))], "exact": exact}


RATIO_DRIVER = textwrap.dedent("""
    import numpy as np
    points = np.array(inputs["points"], dtype=float)
    result = {"array": d_ratio(points.copy()), "mirror": d_ratio(-points),
              "line": d_ratio(np.array(inputs["line"], dtype=float)),
              "floats": [d_ratio(x) for x in inputs["floats"]], "exact": [d_ratio(x) for x in inputs["exact"]]}
""")


def ratio_verify(inputs, result):
    require(isinstance(result, dict), "d_ratio gave no results.")
    hint = "Product rule for the numerator, then the quotient rule (u'v - uv') / v², with a minus sign and a square."
    points = np.array(inputs["points"], dtype=float)
    close(result.get("array"), numdiff.derivative(_ratio, points), what="d_ratio",
          where=f"at random points of shape {points.shape}", hint=hint)
    close(result.get("mirror"), numdiff.derivative(_ratio, -points), what="d_ratio(-x)",
          where=f"at random points of shape {points.shape}",
          hint="r is an odd function, so its derivative is even; an odd term suggests a sign error.")
    line = np.array(inputs["line"])
    close(result.get("line"), numdiff.derivative(_ratio, line), what="d_ratio", where=checks.describe_point(line),
          hint=hint)
    floats = np.array(inputs["floats"])
    close(result.get("floats"), numdiff.derivative(_ratio, floats), what="d_ratio", where=checks.describe_point(floats),
          hint=hint)
    got = result.get("exact")
    require(isinstance(got, list) and len(got) == len(inputs["exact"]), "d_ratio gave too few results.")
    for x, value in zip(inputs["exact"], got, strict=True):
        close(value, _exact_ratio_slope(x), what="d_ratio", where=f"at x = {x:.6g} (against sympy's exact derivative)",
              hint=hint)


# -------------------------------------------------------------------------------------------------------- d_softplus

def softplus_inputs(rng):
    return {"moderate": rng.uniform(-30, 30, size=20).tolist(),
            "large": rng.uniform(-800, 800, size=_shape(rng) + [2]).tolist(),
            "both": rng.uniform(-1000, 1000, size=30).tolist(),
            "tails": (-np.sort(rng.uniform(20, 700, size=6))).tolist(),
            # e^x is a subnormal float64 here, and exp(-x) overflows: only a formula that never exponentiates a
            # large positive number gets these right (1 / (1 + exp(-x)) gives 0).
            "subnormal": (-rng.uniform(709.9, 730.0, size=4)).tolist() + [-709.9, -720.0],
            "extremes": [-1000.0, -50.0, 0.0, 50.0, 1000.0, -745.0, 745.0, 1e300, -1e300]}


SOFTPLUS_DRIVER = textwrap.dedent("""
    import numpy as np
    result = {key: d_softplus(np.array(inputs[key], dtype=float))
              for key in ("moderate", "large", "both", "tails", "subnormal", "extremes")}
    result["mirror"] = d_softplus(-np.array(inputs["both"], dtype=float))
    result["zero"] = d_softplus(0.0)
""")


def _softplus(t):
    return np.logaddexp(0.0, t)


def _softplus_slope(t):
    """s'(x) = 1 / (1 + e^-x), evaluated by mpmath with 30 digits (no overflow at any float64 x)."""
    with mpmath.workdps(30):
        return np.array([float(1 / (1 + mpmath.exp(-mpmath.mpf(float(v))))) for v in np.ravel(t)]).reshape(np.shape(t))


def softplus_verify(inputs, result):
    require(isinstance(result, dict), "d_softplus gave no results.")
    hint = ("Chain rule: (log w)' = w'/w with w = 1 + e^x; divide top and bottom by e^x where x > 0, so that only "
            "exponentials of negative numbers are computed.")
    for key in ("moderate", "large"):
        points = np.array(inputs[key], dtype=float)
        close(result.get(key), numdiff.derivative(_softplus, points), what="d_softplus",
              where=f"at {points.size} points in [{points.min():.4g}, {points.max():.4g}]", hint=hint)
    extremes = np.array(inputs["extremes"])
    close(result.get("extremes"), _softplus_slope(extremes), what="d_softplus", where=checks.describe_point(extremes),
          hint="Compute exponentials of negative numbers only, e.g. np.exp(-np.abs(x)): exp(1000) overflows.")
    both = np.array(inputs["both"])
    got, mirror = (np.asarray(result.get(key), dtype=float) for key in ("both", "mirror"))
    close(got, _softplus_slope(both), what="d_softplus",
          where=f"at 30 random x in [{both.min():.4g}, {both.max():.4g}]", hint=hint)
    close(got + mirror if got.shape == mirror.shape else mirror, np.ones_like(both),
          what="d_softplus(x) + d_softplus(-x)", where="at 30 random x in [-1000, 1000]",
          hint="softplus(x) - softplus(-x) = x, so the slopes at x and -x must add up to 1.")
    for key, rtol in (("tails", 1e-9), ("subnormal", 1e-3)):
        tails = np.array(inputs[key])
        got = np.asarray(result.get(key), dtype=float)
        close(got / np.exp(tails) if got.shape == tails.shape else got, 1 / (1 + np.exp(tails)),
              what="d_softplus(x) / e^x", where=f"in the left tail, {checks.describe_point(tails)}", rtol=rtol,
              hint="For very negative x, s'(x) = e^x / (1 + e^x) ≈ e^x, a tiny but representable float: compute it "
                   "as exp(x) / (1 + exp(x)) there, never through exp(-x), which overflows to inf.")
    close(result.get("zero"), 0.5, what="d_softplus", where="at x = 0 (a float)", hint=hint)


# --------------------------------------------------------------------------------------------------- chain_derivative

def chain_inputs(rng):
    names = sorted(F)
    safe = [n for n in names if n not in ("log", "sqrt", "inverse")]  # defined everywhere
    pairs = [[str(a), str(b)] for a, b in (rng.choice(safe, size=2) for _ in range(6))]
    # Deliberately wrong "derivatives": the answer must use the df and dg it is given, exactly, whatever they are
    # (an answer that differentiates f∘g by itself, with numdiff, sympy or a finite difference, fails these).
    fakes = []
    for k in range(6):
        outer, inner = (str(n) for n in rng.choice(safe, size=2))
        df, dg = (str(n) for n in rng.choice(sorted(FAKES), size=2))
        if k < 2:
            df, dg = ("twice", dg) if k == 0 else (df, "twice")
        fakes.append({"outer": outer, "inner": inner, "df": df, "dg": dg,
                      "points": rng.uniform(-1.5, 1.5, size=_shape(rng)).tolist()})
    return {"pairs": pairs, "points": [rng.uniform(-1.5, 1.5, size=_shape(rng)).tolist() for _ in pairs],
            "float": float(rng.uniform(-1, 1)), "triple": rng.uniform(-1.2, 1.2, size=7).tolist(), "fakes": fakes,
            "fake_float": float(rng.uniform(-1, 1))}


CHAIN_DRIVER = FUNCTIONS + FAKE_SOURCE + textwrap.dedent("""
    DERIVATIVES = {
        "sin": np.cos, "exp": np.exp, "tanh": lambda t: 1 / np.cosh(t) ** 2, "arctan": lambda t: 1 / (1 + t**2),
        "cube": lambda t: 3 * t**2, "softplus": lambda t: np.exp(-np.logaddexp(0.0, -t)),
        "gauss": lambda t: -t * np.exp(-(t**2) / 2),
    }

    def fake(name, piece):
        return (lambda t: 2 * DERIVATIVES[piece](t)) if name == "twice" else FAKES[name]

    fakes = []
    for case in inputs["fakes"]:
        d = chain_derivative(FUNCTIONS[case["outer"]], fake(case["df"], case["outer"]), FUNCTIONS[case["inner"]],
                             fake(case["dg"], case["inner"]))
        fakes.append(d(np.array(case["points"], dtype=float)))
    values = []
    for (outer, inner), points in zip(inputs["pairs"], inputs["points"]):
        d = chain_derivative(FUNCTIONS[outer], DERIVATIVES[outer], FUNCTIONS[inner], DERIVATIVES[inner])
        values.append(d(np.array(points, dtype=float)))
    d_sin_exp = chain_derivative(np.sin, np.cos, np.exp, np.exp)
    d_inner = chain_derivative(np.sin, np.cos, FUNCTIONS["cube"], DERIVATIVES["cube"])
    d_three = chain_derivative(np.arctan, DERIVATIVES["arctan"], lambda t: np.sin(t**3), d_inner)
    d_fake = chain_derivative(np.sin, FAKES["wiggle"], np.exp, FAKES["ramp"])
    result = {"values": values, "float": d_sin_exp(inputs["float"]), "triple": d_three(np.array(inputs["triple"])),
              "fakes": fakes, "fake_float": d_fake(inputs["fake_float"])}
""")


def _fake(name, piece):
    return (lambda t: 2 * DERIVATIVES[piece](t)) if name == "twice" else FAKES[name]


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
    fakes = result.get("fakes")
    require(isinstance(fakes, list) and len(fakes) == len(inputs["fakes"]), "chain_derivative gave too few results.")
    used = "Use the df and dg you are given: return a function computing df(g(x)) * dg(x), whatever df and dg are."
    for case, got in zip(inputs["fakes"], fakes, strict=True):
        x = np.array(case["points"], dtype=float)
        df, g, dg = _fake(case["df"], case["outer"]), F[case["inner"]], _fake(case["dg"], case["inner"])
        close(got, df(g(x)) * dg(x), what=f"chain_derivative(f, df, g, dg) with a made-up df ({case['df']}) and dg "
              f"({case['dg']}), f = {case['outer']}, g = {case['inner']}", where=checks.describe_point(x), hint=used)
    x = inputs["fake_float"]
    close(result.get("fake_float"), FAKES["wiggle"](np.exp(x)) * FAKES["ramp"](x),
          what="chain_derivative(np.sin, made-up df, np.exp, made-up dg)", where=f"at the float x = {x:.4g}", hint=used)


PROBES = {
    "01_derivatives-central_difference": Probe(CENTRAL_DRIVER, central_inputs, central_verify),
    "01_derivatives-choose_step": Probe(STEP_DRIVER, step_inputs, step_verify),
    "01_derivatives-d_ratio": Probe(RATIO_DRIVER, ratio_inputs, ratio_verify),
    # An overflow in the branch np.where throws away leaves perfect numbers: read from the source (no driver
    # can check it: the student's code may rewrite np.errstate in the probe process).
    "01_derivatives-d_softplus": Probe(SOFTPLUS_DRIVER, softplus_inputs, softplus_verify,
                                       mechanism=mechanism.no_overflowing_exp("d_softplus")),
    "01_derivatives-chain_derivative": Probe(CHAIN_DRIVER, chain_inputs, chain_verify),
}
