"""Out-of-kernel probes of unit 05 (autograd): see `integrity/__init__.py` and `grading.integrity`.

Expressions travel as `calcml.expressions` programs: the grader draws them (`random_program`, with a seed from the
student's generator) and sends their steps as JSON; the driver rebuilds the `Program` and runs it on the
student's `Value`s or `Dual`s; the grader differentiates the same program on floats with `numdiff`.
"""

from __future__ import annotations

import textwrap

import numpy as np

from calcml import checks, data, expressions, numdiff
from grading import mechanism
from grading.integrity import Probe, close, require

PROGRAMS = textwrap.dedent("""
    import sys

    def run_program(spec, inputs, every=False):
        \"\"\"The program's steps on `inputs`, interpreted here: no helper the student's code could replace.\"\"\"
        regs = list(inputs)
        for op, args, c in spec["steps"]:
            a = regs[args[0]]
            b = regs[args[1]] if len(args) > 1 else None
            if op == "pow_c" and float(c).is_integer():
                c = int(c)
            if op == "add":
                v = a + b
            elif op == "sub":
                v = a - b
            elif op == "mul":
                v = a * b
            elif op == "div":
                v = a / b
            elif op == "pow":
                v = a ** b
            elif op == "add_c":
                v = a + c
            elif op == "sub_c":
                v = a - c
            elif op == "mul_c":
                v = a * c
            elif op == "div_c":
                v = a / c
            elif op == "pow_c":
                v = a ** c
            elif op == "radd":
                v = c + a
            elif op == "rsub":
                v = c - a
            elif op == "rmul":
                v = c * a
            elif op == "rdiv":
                v = c / a
            elif op == "rpow":
                v = c ** a
            elif op == "neg":
                v = -a
            else:
                v = getattr(a, op)()
            regs.append(v)
        return regs[len(inputs):] if every else regs[-1]

    def at_default_recursion_limit(action):
        \"\"\"A courtesy for an honest recursive sort (a clear message); the grader decides from the source.\"\"\"
        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(1000)
        try:
            action()
            return ""
        except RecursionError as error:
            return "RecursionError: " + str(error)[:200]
        finally:
            sys.setrecursionlimit(limit)

    def engine_gradient(spec):
        leaves = [Value(v) for v in spec["x"]]
        out = run_program(spec, leaves)
        out.backward()
        return {"value": out.data, "grads": [leaf.grad for leaf in leaves]}
""")


def program_json(program: expressions.Program) -> dict:
    return {"n": program.n_inputs, "x": list(program.x),
            "steps": [[s.op, list(s.args), s.const] for s in program.steps]}


def program_from(spec) -> expressions.Program:
    steps = tuple(expressions.Step(op, tuple(args), const) for op, args, const in spec["steps"])
    return expressions.Program(spec["n"], steps, tuple(spec["x"]))


def _seed(rng) -> int:
    return int(rng.integers(0, 2**31))


def _programs(rng, ops, sizes):
    return [program_json(expressions.random_program(_seed(rng), ops, n_inputs=n, n_steps=s)) for n, s in sizes]


def check_programs(specs, got, what="gradient", hint=""):
    require(isinstance(got, list) and len(got) == len(specs), f"the {what}s of the random programs are missing.")
    for spec, answer in zip(specs, got, strict=True):
        program = program_from(spec)
        require(isinstance(answer, dict), f"no {what} for the program {program}.")
        where = f"for the program {program}, {checks.describe_point(program.x)}"
        if "value" in answer:
            close(answer.get("value"), program.run_float(np.array(program.x)), what="value", where=where)
        close(answer.get("grads"), numdiff.gradient(program.run_float, np.array(program.x)), what=what, where=where,
              hint=hint or "Does every operation pass local × upstream to each input, and does a value used twice "
                           "collect both contributions (+=)?")


def check_deep(got, expected_grad, expected_value, what):
    require(isinstance(got, dict), f"no result for {what}.")
    if got.get("recursion"):
        raise checks.CheckFailure(f"backward() raised RecursionError on {what}: your topological order recurses. "
                                  "Walk the graph with an explicit stack (a list you append to and pop from).")
    close(got.get("grad"), expected_grad, what=f"gradient through {what}")
    if expected_value is not None:
        close(got.get("value"), expected_value, what=f"value of {what}")


# ------------------------------------------------------------------------------------------------------ value_core

def core_inputs(rng):
    return {"programs": _programs(rng, expressions.BASIC, [(1, 8), (2, 12), (3, 25), (4, 40), (5, 80)]),
            "square": float(rng.uniform(-2, 2)), "double": float(rng.uniform(-2, 2)),
            "unused": [float(rng.uniform(-3, 3)), float(rng.uniform(-3, 3)), float(rng.uniform(1.5, 4))],
            "deep": {"start": float(rng.uniform(0.3, 0.9)), "steps": int(rng.integers(10_000, 13_000))}}


CORE_DRIVER = PROGRAMS + textwrap.dedent("""
    result = {"programs": [], "orders": [], "again": []}
    for spec in inputs["programs"]:
        leaves = [Value(v) for v in spec["x"]]
        out = run_program(spec, leaves)
        out.backward()
        first = [leaf.grad for leaf in leaves]
        result["programs"].append({"value": out.data, "grads": first, "root_grad": out.grad})
        # The order as raw data: each Value gets a number the first time it is seen (the output is 0); the
        # grader reads from these numbers whether the order is complete, unique and inputs-first.
        order = out.topological_order()
        number = {id(out): 0}
        rows = []
        for node in order:
            ident = number.setdefault(id(node), len(number))
            rows.append([ident, [number.setdefault(id(p), len(number)) for p in node._prev]])
        result["orders"].append(rows)
        out.zero_grad()
        out.backward()
        result["again"].append([leaf.grad for leaf in leaves])
    x = Value(inputs["square"])
    (x * x).backward()
    result["square"] = x.grad
    x = Value(inputs["double"])
    (x + x).backward()
    result["double"] = x.grad
    u, w = Value(inputs["unused"][0]), Value(inputs["unused"][1])
    (u * inputs["unused"][2] + 1).backward()
    result["unused"] = [u.grad, w.grad]
    x0 = Value(inputs["deep"]["start"])
    x = x0
    for _ in range(inputs["deep"]["steps"]):
        x = x + x * 0.0001
    error = at_default_recursion_limit(x.backward)
    result["deep"] = {"recursion": error, "grad": x0.grad, "value": x.data}
""")


def check_order(rows, what):
    """The topological order, as the driver's raw numbers, checked here: each Value once, every input of a Value
    before it, none left out, the output last."""
    require(isinstance(rows, list) and len(rows) > 0, f"{what} is empty (called again after backward()): does it "
                                                      "keep state between calls, such as a visited set stored "
                                                      "outside the method or a mutable default argument?")
    position: dict[int, int] = {}
    for k, row in enumerate(rows):
        require(isinstance(row, list) and len(row) == 2 and type(row[0]) is int and isinstance(row[1], list)
                and all(type(p) is int for p in row[1]), f"{what} is malformed.")
        require(row[0] not in position, f"{what} lists a Value more than once: keep a set of the Values already "
                                        "visited.")
        position[row[0]] = k
    for k, (_, parents) in enumerate(rows):
        require(all(p in position for p in parents), f"{what} leaves out a Value the output depends on.")
        require(all(position[p] < k for p in parents), f"{what} puts a Value before one of its inputs.")
    require(rows[-1][0] == 0, f"{what} must end with the Value it is called on.")


def core_verify(inputs, result):
    require(isinstance(result, dict), "Value gave no results.")
    check_programs(inputs["programs"], result.get("programs"),
                   hint="Is every contribution added (+=), and does backward() seed the output with 1?")
    orders = result.get("orders")
    require(isinstance(orders, list) and len(orders) == len(inputs["programs"]), "topological_order gave no orders.")
    for spec, rows in zip(inputs["programs"], orders, strict=True):
        check_order(rows, f"topological_order() of the program {program_from(spec)}")
    for spec, got in zip(inputs["programs"], result["programs"], strict=True):
        close(got.get("root_grad"), 1.0, what="grad of the output itself", where=f"for the program "
              f"{program_from(spec)}", hint="backward() starts from d(out)/d(out) = 1.")
    again = result.get("again")
    require(isinstance(again, list) and len(again) == len(inputs["programs"]), "no second backward() results.")
    for spec, grads in zip(inputs["programs"], again, strict=True):
        program = program_from(spec)
        close(grads, numdiff.gradient(program.run_float, np.array(program.x)),
              what="gradient from a second backward() after zero_grad()", where=f"for the program {program}",
              hint="Does topological_order() keep state between calls (a visited set stored outside it)?")
    x = inputs["square"]
    close(result.get("square"), 2 * x, what="gradient of x * x", where=f"at x = {x:.4g}",
          hint="In x * x the two inputs are the same Value: both contributions must be added (+=).")
    close(result.get("double"), 2.0, what="gradient of x + x", hint="Both uses of x must be added (+=).")
    close(result.get("unused"), [inputs["unused"][2], 0.0], what="[u.grad, w.grad]",
          where=f"of u * {inputs['unused'][2]:.4g} + 1, where w is not used")
    n = inputs["deep"]["steps"]
    check_deep(result.get("deep"), 1.0001**n, inputs["deep"]["start"] * 1.0001**n,
               f"a chain {n:,} steps deep (x <- x + x * 0.0001)")


# ------------------------------------------------------------------------------------------------------ arithmetic

SINGLE_OPS = ["radd", "rsub", "rmul", "rdiv", "rpow", "pow", "pow_c", "neg", "sub", "div", "sub_c", "div_c"]


def arithmetic_inputs(rng):
    programs = _programs(rng, expressions.ARITHMETIC, [(1, 6), (2, 10), (3, 20), (4, 35), (3, 60), (5, 30)])
    singles = [program_json(expressions.single_op_program(op, _seed(rng))) for op in SINGLE_OPS for _ in range(2)]
    powers = rng.uniform([0.3, -2.5], [4.0, 2.5], size=(4, 2)).tolist()
    negative = [[float(-rng.uniform(0.3, 2.5)), int(p)] for p in (2, 3, -1)]
    return {"programs": programs + singles, "powers": powers, "negative": negative}


ARITHMETIC_DRIVER = PROGRAMS + textwrap.dedent("""
    result = {"programs": [engine_gradient(spec) for spec in inputs["programs"]], "powers": [], "negative": []}
    for base, exponent in inputs["powers"]:
        p, q = Value(base), Value(exponent)
        out = p**q
        out.backward()
        result["powers"].append({"value": out.data, "grads": [p.grad, q.grad]})
    for base, power in inputs["negative"]:
        x = Value(base)
        out = x**power
        out.backward()
        result["negative"].append({"value": out.data, "grads": [x.grad]})
""")


def arithmetic_verify(inputs, result):
    require(isinstance(result, dict), "the arithmetic of Value gave no results.")
    check_programs(inputs["programs"], result.get("programs"),
                   hint="2 - x calls x.__rsub__(2) and 2 / x calls x.__rtruediv__(2): mind the order of the operands.")
    powers = result.get("powers")
    require(isinstance(powers, list) and len(powers) == len(inputs["powers"]), "a ** b gave no results.")
    for (a, b), got in zip(inputs["powers"], powers, strict=True):
        where = f"at a = {a:.4g}, b = {b:.4g}"
        close(got.get("value"), a**b, what="value of a ** b", where=where)
        close(got.get("grads"), numdiff.gradient(lambda v: v[0] ** v[1], [a, b]), what="gradient [a.grad, b.grad] of "
              "a ** b", where=where, hint="d(a^b)/da = b a^(b-1), d(a^b)/db = a^b ln a.")
    negative = result.get("negative")
    require(isinstance(negative, list) and len(negative) == len(inputs["negative"]), "x ** n gave no results.")
    for (base, power), got in zip(inputs["negative"], negative, strict=True):
        close(got.get("grads"), [power * base ** (power - 1)], what=f"derivative of x ** {power}",
              where=f"at x = {base:.4g}", hint="A constant exponent needs no log (the base may be negative).")


# ------------------------------------------------------------------------------------------------------- functions

REFERENCES = {"exp": np.exp, "log": np.log, "tanh": np.tanh, "relu": lambda x: np.maximum(x, 0.0),
              "sigmoid": lambda x: 0.5 * (1.0 + np.tanh(0.5 * x))}


def functions_inputs(rng):
    points = {"exp": [float(rng.uniform(-3, 3)), 0.0],
              "log": [float(rng.uniform(0.05, 8)), float(rng.uniform(0.5, 3))],
              "tanh": rng.uniform(-2.6, 2.6, 2).tolist(),
              "relu": [float(rng.uniform(0.1, 4)), float(-rng.uniform(0.1, 4))],
              "sigmoid": [float(rng.uniform(-5, 5)), float(rng.uniform(30, 40)), float(-rng.uniform(30, 40)),
                          709.5, -709.5, 1000.0, -1000.0, float(rng.uniform(700, 900)), float(-rng.uniform(700, 900))]}
    programs = _programs(rng, expressions.BASIC + expressions.FUNCTIONS, [(3, 8), (3, 15), (3, 30), (3, 50)])
    programs += _programs(rng, expressions.ALL, [(2, 10), (3, 20), (4, 40), (3, 80), (5, 25)])
    return {"points": points, "programs": programs,
            "deep": {"start": float(rng.uniform(0.1, 0.6)), "steps": int(rng.integers(9_000, 11_000))}}


FUNCTIONS_DRIVER = PROGRAMS + textwrap.dedent("""
    result = {"points": {}}
    for name, points in inputs["points"].items():
        values = []
        for x0 in points:
            x = Value(x0)
            try:
                out = getattr(x, name)()
                out.backward()
                values.append({"value": out.data, "grads": [x.grad]})
            except (ValueError, OverflowError, ZeroDivisionError) as error:
                values.append({"error": f"{type(error).__name__}: {error}"})
        result["points"][name] = values
    result["programs"] = [engine_gradient(spec) for spec in inputs["programs"]]
    x0 = Value(inputs["deep"]["start"])
    x = x0
    for _ in range(inputs["deep"]["steps"]):
        x = x + x.tanh() * 0.0001
    error = at_default_recursion_limit(x.backward)
    result["deep"] = {"recursion": error, "grad": x0.grad, "value": x.data}
""")


def _tanh_chain(x, steps):
    for _ in range(steps):
        x = x + np.tanh(x) * 0.0001
    return x


def functions_verify(inputs, result):
    require(isinstance(result, dict) and isinstance(result.get("points"), dict), "the functions gave no results.")
    hints = {"tanh": "d tanh(x)/dx = 1 - tanh(x)²: square the output, not the input.",
             "sigmoid": "σ' = σ(1 - σ); compute σ with exp(-|x|), which never overflows.",
             "relu": "relu'(x) is 1 where x > 0 and 0 elsewhere."}
    for name, points in inputs["points"].items():
        got = result["points"].get(name)
        require(isinstance(got, list) and len(got) == len(points), f"{name} gave no results.")
        reference = REFERENCES[name]
        for x0, answer in zip(points, got, strict=True):
            require(isinstance(answer, dict), f"{name} gave no result at x = {x0}.")
            if answer.get("error"):
                raise checks.CheckFailure(f"Your {name} at x = {x0} raised {answer['error']}. {hints.get(name, '')}")
            close(answer.get("value"), reference(x0), what=f"value of {name}(x)", where=f"at x = {x0:.6g}",
                  hint=hints.get(name, ""))
            close(answer.get("grads"), [numdiff.derivative(reference, x0)], what=f"derivative of {name}(x)",
                  where=f"at x = {x0:.6g}", hint=hints.get(name, ""))
    check_programs(inputs["programs"], result.get("programs"))
    n, start = inputs["deep"]["steps"], inputs["deep"]["start"]
    check_deep(result.get("deep"), numdiff.derivative(lambda x: _tanh_chain(x, n), start), None,
               f"{n:,} tanh steps (x <- x + 0.0001 tanh(x))")


# ---------------------------------------------------------------------------------------- the mechanism: no recursion
#
# Exercise 1's contract, checked on the source in the grader's process (the probe process is the student's, so the
# driver's recursion limit there is only a courtesy for a clear message). Two rules:
#
# 1. Nothing in the student's code may touch the recursion limit or the stack size, or take a dynamic route that
#    could reach them (`grading.mechanism.limit_route`).
# 2. No recursion is reachable from `topological_order` in the class-aware call graph, implicit dunder calls and
#    escaped functions included (`grading.mechanism.implicit_recursion`). Only `topological_order` is a root:
#    `backward()` calls every node's `_backward` closure, and a recursive backward cannot pass the deep chains once
#    rule 1 holds.

SORT_ROOTS = ("topological_order",)
ITERATIVE_HINT = "Walk the graph with an explicit stack (a list you append to and pop from)."
CONTRACT = ("The contract: topological_order must not recurse, and your engine must not change Python's recursion "
            "limit or stack size or run code built from strings.")


def iterative_sort(code) -> None:
    """The contract of exercise 1, checked on the source: no cell touches the recursion limit or the stack size or
    takes a dynamic route that could (rule 1), and topological_order() reaches no recursion (rule 2)."""
    route = mechanism.limit_route(code)
    if route and route.kind == "limit":
        raise checks.CheckFailure(f"Your code touches Python's recursion limit or the stack size "
                                  f"({route.description}): the topological sort must work at the default recursion "
                                  f"limit of 1000, without recursion. {CONTRACT} {ITERATIVE_HINT}")
    if route:
        raise checks.CheckFailure(f"Your code uses {route.description}, a dynamic route (to names, modules or code "
                                  "built from strings) that could change Python's recursion limit, and the grader "
                                  f"does not allow it in this notebook. {CONTRACT}")
    cycle = mechanism.implicit_recursion(code, SORT_ROOTS, modules=mechanism.release_imports("05_autograd"))
    if cycle:
        raise checks.CheckFailure(f"Your topological_order recurses ({' -> '.join(cycle)}): a graph 10,000 "
                                  "operations deep needs more than Python's recursion limit of 1000 frames. "
                                  f"{CONTRACT} {ITERATIVE_HINT}")


# ------------------------------------------------------------------------------------------------------------- mlp

def mlp_inputs(rng):
    X3, y3 = rng.normal(size=(5, 3)), rng.choice([-1.0, 1.0], size=5)
    X8, y8 = data.moons(8, noise=0.2, seed=_seed(rng))
    X6, y6 = data.moons(6, noise=0.1, seed=_seed(rng))
    cases = [(3, [4, 4, 1], X3, y3), (1, [2, 1], X3[:, :1], y3), (2, [5, 2], X6, y6), (2, [8, 8, 1], X8, y8),
             (2, [1], X8, y8), (2, [3, 3, 1], X6, y6)]
    return {"cases": [{"nin": nin, "nouts": nouts, "seed": int(rng.integers(0, 10_000)), "X": X, "y": y}
                      for nin, nouts, X, y in cases]}


MLP_DRIVER = textwrap.dedent("""
    import numpy as np
    result = []
    for case in inputs["cases"]:
        X, y = np.array(case["X"], dtype=float), np.array(case["y"], dtype=float)
        model = MLP(case["nin"], case["nouts"], seed=case["seed"])
        params = model.parameters()
        structure = [p for layer in model.layers for n in layer.neurons for p in [*n.w, n.b]]
        same = len(params) == len(structure) and all(p is q for p, q in zip(params, structure))
        theta = [p.data for p in structure]
        outputs = [model(x) for x in X]
        if case["nouts"][-1] == 1:
            scores = [o.data for o in outputs]
        else:
            scores = [[o.data for o in row] for row in outputs]
        entry = {"same": same, "count": len(params), "theta": theta, "scores": scores}
        if case["nouts"][-1] == 1:
            loss = logistic_loss(model, X, y)
            model.zero_grad()
            loss.backward()
            entry.update(loss=loss.data, grads=[p.grad for p in structure])
        result.append(entry)
""")


def numpy_scores(nin, nouts, theta, P):
    h, start, sizes = np.asarray(P, dtype=float), 0, [nin, *nouts]
    for k in range(len(nouts)):
        n_in, n_out = sizes[k], sizes[k + 1]
        block = np.asarray(theta[start:start + n_out * (n_in + 1)]).reshape(n_out, n_in + 1)
        start += block.size
        h = h @ block[:, :-1].T + block[:, -1]
        if k < len(nouts) - 1:
            h = np.tanh(h)
    return h


def mlp_verify(inputs, result):
    require(isinstance(result, list) and len(result) == len(inputs["cases"]), "the MLP gave too few results.")
    for case, got in zip(inputs["cases"], result, strict=True):
        nin, nouts, X, y = case["nin"], case["nouts"], np.array(case["X"]), np.array(case["y"])
        where = f"for MLP({nin}, {nouts}) on {len(X)} points"
        sizes = [nin, *nouts]
        count = sum((sizes[k] + 1) * sizes[k + 1] for k in range(len(nouts)))
        require(isinstance(got, dict), f"the MLP gave no result {where}.")
        require(got.get("count") == count, f"parameters() returned {got.get('count')} Values {where}, but the model "
                                           f"has {count}: every neuron has nin weights and 1 bias.")
        require(got.get("same") is True, f"parameters() {where} must list the Values of the model itself, layer by "
                                         "layer, neuron by neuron, each neuron's weights then its bias.")
        theta = np.asarray(got.get("theta"), dtype=float)
        require(theta.shape == (count,) and bool(np.all(np.isfinite(theta))), f"the parameters {where} are not "
                                                                                 "numbers.")
        reference = numpy_scores(nin, nouts, theta, X)
        close(got.get("scores"), reference[:, 0] if nouts[-1] == 1 else reference, what="network outputs", where=where,
              hint="tanh on every layer but the last, which is linear: w · x + b.")
        if nouts[-1] != 1:
            continue

        def loss_of(t, nin=nin, nouts=nouts, X=X, y=y):
            return np.mean(np.log1p(np.exp(-y * numpy_scores(nin, nouts, t, X)[:, 0])))

        close(got.get("loss"), loss_of(theta), what="logistic loss", where=where, batch_size=len(X),
              hint="The mean over the points of log(1 + exp(-y s)).")
        close(got.get("grads"), numdiff.gradient(loss_of, theta), what="gradient of the loss with respect to every "
              "parameter", where=where, batch_size=len(X), hint="Does the forward pass use .data where a Value "
                                                                  "belongs?")


# ------------------------------------------------------------------------------------------------------------ dual

DUAL_SINGLE_OPS = ["sin", "rsub", "rdiv", "rpow", "div", "pow_c", "tanh", "log", "exp", "pow"]


def dual_inputs(rng):
    programs = _programs(rng, expressions.DUAL, [(1, 8), (2, 15), (3, 30), (4, 50), (3, 100)])
    programs += [program_json(expressions.single_op_program(op, _seed(rng)))
                 for op in DUAL_SINGLE_OPS for _ in range(2)]
    many = [{"program": p, "v": rng.normal(size=p["n"]).tolist()}
            for p in _programs(rng, expressions.DUAL, [(2, 6), (3, 12), (4, 20)])]
    powers = rng.uniform([0.3, -2.5], [4.0, 2.5], size=(4, 2)).tolist()
    directions = [[1.0, 0.0], [0.0, 1.0], rng.normal(size=2).tolist()]
    return {"programs": programs, "many": many, "powers": powers, "directions": directions}


DUAL_DRIVER = PROGRAMS + textwrap.dedent("""
    import numpy as np
    result = {"programs": [], "many": [], "powers": []}
    for spec in inputs["programs"]:
        grads = []
        for i in range(spec["n"]):
            out = run_program(spec, [Dual(x, 1.0 if j == i else 0.0) for j, x in enumerate(spec["x"])])
            grads.append(out.dot)
        result["programs"].append({"value": out.val, "grads": grads})
    for case in inputs["many"]:
        spec = case["program"]
        y, dy = jvp(lambda xs, spec=spec: run_program(spec, xs, every=True), list(spec["x"]), case["v"])
        result["many"].append({"y": y, "dy": dy})
    for base, exponent in inputs["powers"]:
        row = []
        for v in inputs["directions"]:
            y, d = jvp(lambda z: z[0] ** z[1], [base, exponent], v)
            row.append({"y": y, "d": d})
        result["powers"].append(row)
""")


def dual_verify(inputs, result):
    require(isinstance(result, dict), "Dual gave no results.")
    check_programs(inputs["programs"], result.get("programs"), what="gradient by forward mode",
                   hint="Each operation of Dual carries the derivative along: the product rule, the quotient rule, "
                        "the chain rule.")
    many = result.get("many")
    require(isinstance(many, list) and len(many) == len(inputs["many"]), "jvp gave too few results.")
    for case, got in zip(inputs["many"], many, strict=True):
        program, v = program_from(case["program"]), np.array(case["v"])
        where = f"for the program {program}"
        close(got.get("y"), program.run_float(np.array(program.x), every=True), what="values y of jvp", where=where)
        jac = numdiff.jacobian(lambda x, p=program: p.run_float(x, every=True), np.array(program.x))
        close(got.get("dy"), jac @ v, what="directional derivatives dy of jvp", where=where,
              hint="Seed each input i with Dual(x[i], v[i]).")
    powers = result.get("powers")
    require(isinstance(powers, list) and len(powers) == len(inputs["powers"]), "jvp of a ** b gave no results.")
    for (a, b), row in zip(inputs["powers"], powers, strict=True):
        for v, got in zip(inputs["directions"], row, strict=True):
            where = f"at a = {a:.4g}, b = {b:.4g} along v = [{v[0]:.3g}, {v[1]:.3g}]"
            require(isinstance(got, dict) and all(type(got.get(k)) in (int, float) for k in ("y", "d")),
                    "For an f that returns one Dual, jvp returns two arrays of shape ().")
            close(got.get("y"), a**b, what="value of a ** b", where=where)
            close(got.get("d"), numdiff.gradient(lambda z: z[0] ** z[1], [a, b]) @ v, what="derivative of a ** b",
                  where=where, hint="d(a^b) = b a^(b-1) da + a^b ln(a) db.")


PROBES = {
    "05_autograd-value_core": Probe(CORE_DRIVER, core_inputs, core_verify, mechanism=iterative_sort),
    "05_autograd-arithmetic": Probe(ARITHMETIC_DRIVER, arithmetic_inputs, arithmetic_verify),
    "05_autograd-functions": Probe(FUNCTIONS_DRIVER, functions_inputs, functions_verify, mechanism=iterative_sort),
    "05_autograd-mlp": Probe(MLP_DRIVER, mlp_inputs, mlp_verify),
    "05_autograd-dual": Probe(DUAL_DRIVER, dual_inputs, dual_verify),
}


