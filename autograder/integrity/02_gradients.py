"""Out-of-kernel probes of unit 02 (gradients): see `integrity/__init__.py` and `grading.integrity`."""

from __future__ import annotations

import textwrap

import numpy as np

from calcml import checks, numdiff
from grading import mechanism
from grading.integrity import Probe, close, require

# ----------------------------------------------------------------------------------------------- numerical_gradient


def _random_function(spec):
    w, phase, B = (np.array(spec[k], dtype=float) for k in ("w", "phase", "B"))
    return lambda x: np.sum(np.sin(w * x + phase)) + 0.5 * x @ B @ x + np.log1p(x @ x)


def _matrix_function(W):
    W = np.array(W, dtype=float)
    return lambda X: np.sum(np.tanh(W * X)) + np.sum(X[0] * X[-1]) + X[1, 2] ** 3


def _int_function(x):
    return np.sum(x**3) + x[0] * x[-1]


def numgrad_inputs(rng):
    functions = []
    for _ in range(5):  # as many functions as the hidden tests, as large (n up to 12), each with both steps
        n = int(rng.integers(1, 13))
        functions.append({"w": rng.normal(size=n), "phase": rng.uniform(0, 2 * np.pi, n),
                          "B": rng.normal(size=(n, n)), "x": rng.normal(size=n)})
    return {"functions": functions, "steps": [0.1, 1e-3], "W": rng.normal(size=(3, 4)), "X": rng.normal(size=(3, 4)),
            "integer": rng.integers(-3, 4, size=int(rng.integers(2, 5))).tolist(), "single": [float(rng.normal())]}


# The driver reports the caller's arrays as they are after the calls (data); the grader compares them with the
# inputs it drew. No verdict is made in the probe process.
NUMGRAD_DRIVER = textwrap.dedent("""
    import numpy as np

    def make(spec):
        w, phase, B = (np.array(spec[k], dtype=float) for k in ("w", "phase", "B"))
        return lambda x: np.sum(np.sin(w * x + phase)) + 0.5 * x @ B @ x + np.log1p(x @ x)

    result = {"default": [], "step": [], "after": []}
    for spec in inputs["functions"]:
        f, x = make(spec), np.array(spec["x"], dtype=float)
        result["default"].append(numerical_gradient(f, x))
        result["step"].append([numerical_gradient(f, x, h=h) for h in inputs["steps"]])
        result["after"].append(x.tolist())
    W = np.array(inputs["W"], dtype=float)
    result["matrix"] = numerical_gradient(
        lambda X: np.sum(np.tanh(W * X)) + np.sum(X[0] * X[-1]) + X[1, 2] ** 3, np.array(inputs["X"], dtype=float))
    x_int = np.array(inputs["integer"])
    result["integer"] = numerical_gradient(lambda x: np.sum(x**3) + x[0] * x[-1], x_int)
    result["integer_after"] = x_int.tolist()
    result["list"] = numerical_gradient(make(inputs["functions"][0]), list(inputs["functions"][0]["x"]))
    result["single"] = numerical_gradient(np.sum, np.array(inputs["single"]))
""")

CENTRAL_HINT = ("Use the central difference (f(x + h e_i) - f(x - h e_i)) / (2h) with the h you are given; "
                "a forward difference (f(x + h e_i) - f(x)) / h is off by about h f''/2.")


def _unchanged(after, before) -> bool:
    """Whether the caller's array, as reported after the calls, still holds exactly `before` (same types too:
    an int array that became floats has changed)."""
    return isinstance(after, list) and len(after) == len(before) and all(
        type(a) is type(b) and a == b for a, b in zip(after, before, strict=True))


def numgrad_verify(inputs, result):
    require(isinstance(result, dict), "numerical_gradient gave no results.")
    for key in ("default", "step", "after"):
        require(isinstance(result.get(key), list) and len(result[key]) == len(inputs["functions"]),
                "numerical_gradient gave too few results.")
    for spec, default, stepped, after in zip(inputs["functions"], result["default"], result["step"], result["after"],
                                             strict=True):
        f, x = _random_function(spec), np.array(spec["x"], dtype=float)
        where = f"(n = {x.size}) {checks.describe_point(x)}"
        close(default, numdiff.gradient(f, x), what="numerical gradient", where=where, hint=CENTRAL_HINT)
        require(isinstance(stepped, list) and len(stepped) == len(inputs["steps"]),
                "numerical_gradient gave too few results.")
        for h, got in zip(inputs["steps"], stepped, strict=True):
            close(got, numdiff.gradient(f, x, h=h, order=2), what=f"numerical gradient with h = {h}", where=where,
                  rtol=1e-8, hint=CENTRAL_HINT)
        require(_unchanged(after, spec["x"]), "numerical_gradient changed the caller's x; work on a copy of x.")
    X = np.array(inputs["X"], dtype=float)
    close(result.get("matrix"), numdiff.gradient(_matrix_function(inputs["W"]), X),
          what="numerical gradient of a function of a 3x4 matrix", where="",
          hint="The gradient has the shape of x: loop over np.ndindex(x.shape).")
    x_int = np.array(inputs["integer"], dtype=float)
    close(result.get("integer"), numdiff.gradient(_int_function, x_int), what="numerical gradient",
          where=f"at the integer point x = {inputs['integer']}",
          hint="x arrived as integers: convert it to a float array first, or x + h e_i rounds back to x.")
    require(_unchanged(result.get("integer_after"), inputs["integer"]),
            "numerical_gradient changed the caller's integer x.")
    first = inputs["functions"][0]
    close(result.get("list"), numdiff.gradient(_random_function(first), np.array(first["x"])),
          what="numerical gradient", where="for x given as a list")
    close(result.get("single"), np.ones(1), what="numerical gradient of sum(x)", where="for a single variable")


# ------------------------------------------------------------------------------------------------------ grad_forms

def forms_inputs(rng):
    cases = []
    kinds = ["one", "two", *["general"] * 4, "symmetric", "antisymmetric", "triangular"]  # those of the hidden tests
    for kind in kinds:
        n = {"one": 1, "two": 2}.get(kind) or int(rng.integers(3, 13))
        A = rng.normal(size=(n, n)) * 3
        if kind == "symmetric":
            A = A + A.T
        elif kind == "antisymmetric":
            A = A - A.T + np.eye(n)
        elif kind == "triangular":
            A = np.tril(A)
        cases.append({"kind": kind, "a": rng.normal(size=n), "A": A, "x": rng.normal(size=n)})
    return {"cases": cases}


FORMS_DRIVER = textwrap.dedent("""
    import numpy as np
    result = []
    for case in inputs["cases"]:
        a, A, x = (np.array(case[k], dtype=float) for k in ("a", "A", "x"))
        result.append({"linear": grad_linear(a.copy(), x.copy()), "quadratic": grad_quadratic(A.copy(), x.copy())})
""")


def forms_verify(inputs, result):
    require(isinstance(result, list) and len(result) == len(inputs["cases"]), "grad_forms gave too few results.")
    for case, got in zip(inputs["cases"], result, strict=True):
        a, A, x = (np.array(case[k], dtype=float) for k in ("a", "A", "x"))
        require(isinstance(got, dict), "grad_forms gave no results.")
        where = f"({case['kind']} A, n = {x.size})"
        close(got.get("linear"), numdiff.gradient(lambda v, a=a: a @ v, x), what="gradient of aᵀx", where=where)
        close(got.get("quadratic"), numdiff.gradient(lambda v, A=A: v @ A @ v, x), what="gradient of xᵀAx",
              where=where, hint="Differentiate Σ x_i A_ij x_j with respect to x_k: x appears twice in every term. "
                                "Is A symmetric here?")


# ------------------------------------------------------------------------------------------ directional_derivative

def _cosine_function(case):
    w, B = np.array(case["w"]), np.array(case["B"])
    return lambda x: np.sum(np.cos(w * x)) + x @ B @ x


def _cosine_gradient(case, x):
    w, B = np.array(case["w"]), np.array(case["B"])
    return -w * np.sin(w * x) + (B + B.T) @ x


def directional_inputs(rng):
    cases = []
    for _ in range(5):
        n = int(rng.integers(1, 13))
        cases.append({"w": rng.normal(size=n), "B": rng.normal(size=(n, n)) / n, "x": rng.normal(size=n),
                      "u": rng.normal(size=n) * 10.0 ** rng.uniform(-3, 3)})
    n = int(rng.integers(2, 6))
    u_int = [0] * n
    u_int[int(rng.integers(n))] = int(rng.integers(2, 6))
    cases.append({"w": rng.normal(size=n), "B": rng.normal(size=(n, n)) / n, "x": rng.normal(size=n), "u": u_int})
    # Along the gradient (the slope is |grad f|) and orthogonal to it (the slope is 0).
    n = int(rng.integers(3, 8))
    case = {"w": rng.normal(size=n), "B": rng.normal(size=(n, n)) / n, "x": rng.normal(size=n)}
    g = _cosine_gradient(case, np.array(case["x"]))
    v = rng.normal(size=n)
    cases.append({**case, "u": 7 * g})
    cases.append({**case, "u": v - (v @ g) / (g @ g) * g})
    return {"cases": [{k: np.asarray(v).tolist() for k, v in c.items()} for c in cases]}


# The zero vector: the driver reports what came back, or the exception raised by the call itself (its class and
# their bases, by name); the grader decides.
DIRECTIONAL_DRIVER = textwrap.dedent("""
    import numpy as np

    def gradient(case):
        w, B = np.array(case["w"]), np.array(case["B"])
        return lambda x: -w * np.sin(w * np.asarray(x)) + (B + B.T) @ np.asarray(x)

    result = {"slopes": [directional_derivative(gradient(c), np.array(c["x"]), c["u"] if isinstance(c["u"][0], int)
                                                else np.array(c["u"])) for c in inputs["cases"]]}
    case = inputs["cases"][0]
    try:
        returned = directional_derivative(gradient(case), np.array(case["x"]), np.zeros(len(case["x"])))
    except Exception as error:
        result["zero"] = {"raised": [kind.__name__ for kind in type(error).__mro__]}
    else:
        result["zero"] = {"returned": returned}
""")


def directional_verify(inputs, result):
    require(isinstance(result, dict) and isinstance(result.get("slopes"), list)
            and len(result["slopes"]) == len(inputs["cases"]), "directional_derivative gave too few results.")
    for case, got in zip(inputs["cases"], result["slopes"], strict=True):
        f, x, u = _cosine_function(case), np.array(case["x"]), np.array(case["u"], dtype=float)
        u_hat = u / np.linalg.norm(u)
        expected = numdiff.derivative(lambda t, f=f, x=x, u_hat=u_hat: f(x + t * u_hat), 0.0)
        close(got, expected, what="directional derivative", where=f"(n = {x.size}, |u| = {np.linalg.norm(u):.3g})",
              hint="Is u a unit vector here?")
    zero = result.get("zero")
    raised = zero.get("raised") if isinstance(zero, dict) else None
    if not (isinstance(raised, list) and "ValueError" in raised):
        outcome = (f"returned {str(zero.get('returned'))[:60]}" if isinstance(zero, dict) and "returned" in zero
                   else f"raised {raised[0]}" if isinstance(raised, list) and raised else "gave no answer")
        raise checks.CheckFailure(f"directional_derivative(grad_f, x, u=0) {outcome}; the zero vector has no "
                                  "direction, so raise ValueError.")


# --------------------------------------------------------------------------------------------------- steepest_ascent

def _sine_function(case):
    w, B = np.array(case["w"]), np.array(case["B"])
    return lambda x: np.sum(np.sin(w * x)) + 0.5 * x @ B @ x


def steepest_inputs(rng):
    cases = []
    for _ in range(4):
        n = int(rng.integers(1, 13))
        cases.append({"w": rng.normal(size=n), "B": rng.normal(size=(n, n)), "x": rng.normal(size=n)})
    tiny = rng.normal(size=3)
    return {"cases": cases, "tiny": (tiny / np.linalg.norm(tiny) * 1.3e-8).tolist(),
            "zero_n": int(rng.integers(2, 6)), "bowl_n": int(rng.integers(3, 7))}


STEEPEST_DRIVER = textwrap.dedent("""
    import numpy as np

    def gradient(case):
        w, B = np.array(case["w"]), np.array(case["B"])
        return lambda x: w * np.cos(w * np.asarray(x)) + 0.5 * (B + B.T) @ np.asarray(x)

    result = {"directions": [steepest_ascent_direction(gradient(c), np.array(c["x"])) for c in inputs["cases"]]}
    tiny = np.array(inputs["tiny"])
    result["tiny"] = steepest_ascent_direction(lambda y: tiny, np.zeros(3))
    n = inputs["zero_n"]
    result["zero"] = steepest_ascent_direction(lambda y: np.zeros(n), np.ones(n))
    m = inputs["bowl_n"]
    result["bowl"] = steepest_ascent_direction(lambda y: 2.0 * np.arange(1, y.size + 1) * (y - 1.0), np.ones(m))
""")


def steepest_verify(inputs, result):
    require(isinstance(result, dict) and isinstance(result.get("directions"), list)
            and len(result["directions"]) == len(inputs["cases"]), "steepest_ascent_direction gave too few results.")
    for case, got in zip(inputs["cases"], result["directions"], strict=True):
        f, x = _sine_function(case), np.array(case["x"])
        g = numdiff.gradient(f, x)
        close(got, g / np.linalg.norm(g), what="steepest ascent direction", where=f"(n = {x.size})",
              hint="Steepest ascent is the gradient divided by its length: a unit vector, with the gradient.")
    tiny = np.array(inputs["tiny"])
    close(result.get("tiny"), tiny / np.linalg.norm(tiny), what="steepest ascent direction",
          where=f"for a gradient of size {np.linalg.norm(tiny):.2g}",
          hint="Only an exactly zero gradient means 'no direction'; a small one must be normalised too.")
    stationary = (("zero", inputs["zero_n"], "a constant f"), ("bowl", inputs["bowl_n"], "the bottom of a bowl"))
    for key, n, what in stationary:
        got = result.get(key)
        # exact zeros: a division by zero leaves nan or inf here (whether it is repaired is read from the source)
        require(isinstance(got, list) and len(got) == n and all(type(v) in (int, float) and v == 0 for v in got),
                f"At {what} the gradient is exactly zero and your direction is {str(got)[:80]}; return a vector of "
                "zeros of the shape of x there, without dividing by zero.")


# ----------------------------------------------------------------------------------------------------- gaussian_hill

def hill_inputs(rng):
    cases = []
    for n in [1, 3, *(int(k) for k in rng.integers(2, 13, size=3))]:
        M, K = rng.normal(size=(n, n)), rng.normal(size=(n, n))
        S = M @ M.T / n + np.eye(n) + (K - K.T)
        c = rng.normal(size=n)
        cases.append({"S": S, "c": c, "x": c + rng.normal(size=n) / np.sqrt(n)})
    last = cases[-1]
    cases.append({"S": last["S"], "c": last["c"], "x": last["c"]})  # the summit
    M = rng.normal(size=(2, 2))
    cases.append({"S": M @ M.T + np.eye(2), "c": rng.normal(size=2), "x": rng.normal(size=2)})  # a symmetric S
    return {"cases": cases}


HILL_DRIVER = textwrap.dedent("""
    import numpy as np
    result = [grad_gaussian_hill(*(np.array(c[k], dtype=float) for k in ("S", "c", "x"))) for c in inputs["cases"]]
""")


def hill_verify(inputs, result):
    require(isinstance(result, list) and len(result) == len(inputs["cases"]), "grad_gaussian_hill gave too few "
                                                                                "results.")
    for case, got in zip(inputs["cases"], result, strict=True):
        S, c, x = (np.array(case[k], dtype=float) for k in ("S", "c", "x"))
        close(got, numdiff.gradient(lambda v, S=S, c=c: np.exp(-0.5 * (v - c) @ S @ (v - c)), x),
              what="gradient of the Gaussian hill", where=f"(non-symmetric S, n = {x.size})",
              hint="The outer exp contributes the factor h(x); the quadratic form inside contributes the rest. "
                   "Is S symmetric here?")


PROBES = {
    "02_gradients-numerical_gradient": Probe(NUMGRAD_DRIVER, numgrad_inputs, numgrad_verify),
    "02_gradients-grad_forms": Probe(FORMS_DRIVER, forms_inputs, forms_verify),
    "02_gradients-directional_derivative": Probe(DIRECTIONAL_DRIVER, directional_inputs, directional_verify),
    # Dividing by zero and repairing the nan afterwards gives perfect numbers: read from the source.
    "02_gradients-steepest_ascent": Probe(STEEPEST_DRIVER, steepest_inputs, steepest_verify,
                                          mechanism=mechanism.no_error_repair("steepest_ascent_direction")),
    "02_gradients-gaussian_hill": Probe(HILL_DRIVER, hill_inputs, hill_verify),
}
