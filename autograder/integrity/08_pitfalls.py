"""Out-of-kernel probes of unit 08 (pitfalls): see `integrity/__init__.py` and `grading.integrity`.

The exercises plug into the notebook's small array engine (`Tensor`, `using_rules`, `using_hooks`). The drivers
run that engine with correct backward rules of their own, so only the student's code is being judged, and report
raw data only: numbers, arrays, the fields of the objects the student's functions returned, and whether an error
was raised and what it said. Nothing the driver computes in the student's process is a verdict (the student's
code runs there first and could rewrite any helper, flag or count): the grader decides every property from that
data, with `numdiff` references on plain NumPy functions. The rules of exercise 2 are run through an engine the
driver carries itself; a graph leak in exercise 5 shows in the numbers (the loss tensors the driver hands to
`train` give nan when added to anything, so only their `.data` adds up to the right total).
"""

from __future__ import annotations

import math
import textwrap

import numpy as np

from calcml import checks, numdiff
from grading.integrity import Probe, close, require

REFERENCE_RULES = textwrap.dedent("""
    import numpy as np
    REFERENCE = {"mul": lambda inputs, out, up: (up * inputs[1], up * inputs[0]),
                 "tanh": lambda inputs, out, up: (up * (1 - out**2),),
                 "sigmoid": lambda inputs, out, up: (up * out * (1 - out),)}
""")


def _sigmoid(a):
    return np.exp(-np.logaddexp(0.0, -a))


# -------------------------------------------------------------------------------------------------- gradient_check

def _problem(rng, shape):
    A, B, C = rng.normal(size=(3, *shape))
    x = rng.normal(size=shape)
    g = A * B * np.cos(A * x) + C * x
    candidates = np.argwhere(np.abs(g) > 0.5 * np.max(np.abs(g)))
    bug = [int(i) for i in candidates[rng.integers(len(candidates))]]
    return {"A": A, "B": B, "C": C, "x": x, "bug": bug, "factor": float(rng.choice([1.5, -1.0, 0.6]))}


def check_inputs(rng):
    shapes = [[(int(rng.integers(2, 9)),), (int(rng.integers(2, 5)), int(rng.integers(2, 5)))][k % 2]
              for k in range(8)]
    A, B = rng.normal(size=(2, 7))
    flat = int(rng.integers(7))
    A[flat], B[flat] = 0.0, 0.0
    return {"problems": [_problem(rng, s) for s in shapes],
            "flat": {"A": A, "B": B, "x": rng.normal(size=7), "flat": flat}}


CHECK_DRIVER = textwrap.dedent("""
    import numpy as np

    result = {"problems": []}
    for p in inputs["problems"]:
        A, B, C = (np.array(p[k], dtype=float) for k in ("A", "B", "C"))
        bug, factor = tuple(p["bug"]), p["factor"]

        def f(v, A=A, B=B, C=C):
            return float(np.sum(B * np.sin(A * v)) + 0.5 * np.sum(C * v**2))

        def grad(v, A=A, B=B, C=C):
            return A * B * np.cos(A * v) + C * v

        def buggy(v, grad=grad, bug=bug, factor=factor):
            out = grad(v)
            out[bug] *= factor
            return out

        x = np.array(p["x"], dtype=float)
        err_ok, _ = gradient_check(f, grad, x)
        err_bug, worst = gradient_check(f, buggy, x)
        err_big, _ = gradient_check(f, grad, x, h=1e-2)
        result["problems"].append({"ok": err_ok, "bug": err_bug, "index": worst, "big": err_big, "x_after": x})
    q = inputs["flat"]
    A, B, k = np.array(q["A"]), np.array(q["B"]), q["flat"]
    tiny = np.eye(7)[k] * 1e-12

    def f3(v):
        return float(np.sum(B * np.exp(A * v)) + 1e-12 * v[k])

    def g3(v):
        return A * B * np.exp(A * v) + tiny

    x3 = np.array(q["x"])
    worst_true = int(np.argmax(np.abs(g3(x3))))

    def g3_bug(v):
        out = g3(v)
        out[worst_true] *= 1.5
        return out

    err, worst = gradient_check(f3, g3_bug, x3)
    result["flat"] = {"err": err, "index": worst}
""")


def _gradients(p):
    A, B, C = (np.array(p[k], dtype=float) for k in ("A", "B", "C"))
    bug, factor = tuple(p["bug"]), p["factor"]

    def f(v):
        return float(np.sum(B * np.sin(A * v)) + 0.5 * np.sum(C * v**2))

    def grad(v):
        return A * B * np.cos(A * v) + C * v

    def buggy(v):
        out = grad(v)
        out[bug] *= factor
        return out

    return f, grad, buggy


def _error(got, expected, where, hint, rtol=checks.RTOL):
    require(type(got) in (int, float) and bool(np.isfinite(got)), f"The error {where} must be one finite float, not "
                                                                f"{got!r}.")
    require(checks.relative_error(float(got), expected) <= rtol,
            f"Your gradient_check reports a relative error of {float(got):.6g} {where}, but the course's definition "
            f"gives {expected:.6g}. {hint}")


def _index(raw):
    """The index the student's gradient_check returned (raw data), as a list of ints: an int is a 1-D index."""
    if type(raw) is int:
        return [raw]
    if isinstance(raw, list) and all(type(i) is int for i in raw):
        return raw
    return None


def check_verify(inputs, result):
    require(isinstance(result, dict) and isinstance(result.get("problems"), list)
            and len(result["problems"]) == len(inputs["problems"]), "gradient_check gave too few results.")
    for p, got in zip(inputs["problems"], result["problems"], strict=True):
        f, grad, buggy = _gradients(p)
        x = np.array(p["x"], dtype=float)
        where = f"for x of shape {x.shape}"
        ok = got.get("ok")
        require(type(ok) in (int, float), f"The error {where} must be a single float, not {ok!r}.")
        require(bool(ok < 1e-7),
                f"Your gradient_check reports a relative error of {ok!r} for a CORRECT gradient {where}; central "
                "differences with h = 1e-6 agree to about 1e-9. Use (f(x + h e_i) - f(x - h e_i)) / (2h).")
        after = got.get("x_after")
        require(isinstance(after, list) and np.shape(after) == x.shape
                and bool(np.array_equal(np.asarray(after, dtype=float), x)),
                "gradient_check changed the caller's x; perturb a copy, not x itself.")
        _error(got.get("bug"), checks.relative_error(buggy(x), numdiff.gradient(f, x)),
               f"{where} with a bug at {tuple(p['bug'])}",
               "Divide the largest |a_i - e_i| by max(max|a|, max|e|, 1e-6), the same scale for every component.")
        require(_index(got.get("index")) == p["bug"] and (x.ndim == 1 or isinstance(got.get("index"), list)),
                f"The bug is at index {tuple(p['bug'])}, but your gradient_check points at {got.get('index')} {where}. "
                "Return the index of the largest |a_i - e_i| with np.unravel_index, as a tuple.")
        _error(got.get("big"), checks.relative_error(grad(x), numdiff.gradient(f, x, h=1e-2, order=2)),
               f"{where} with h = 1e-2", "Use the step h that is passed in.", rtol=1e-3)
    q = inputs["flat"]
    A, B, k = np.array(q["A"]), np.array(q["B"]), q["flat"]
    x3 = np.array(q["x"])

    def f3(v):
        return float(np.sum(B * np.exp(A * v)) + 1e-12 * v[k])

    g = A * B * np.exp(A * x3) + np.eye(7)[k] * 1e-12
    worst = int(np.argmax(np.abs(g)))
    g_bug = g.copy()
    g_bug[worst] *= 1.5
    got = result.get("flat")
    require(isinstance(got, dict), "gradient_check gave no result.")
    _error(got.get("err"), checks.relative_error(g_bug, numdiff.gradient(f3, x3)),
           "for a gradient with a component whose derivative is 1e-12",
           "Do not divide each component by its own size: use one scale for the whole gradient.")
    require(_index(got.get("index")) == [worst], f"The bug is at index ({worst},), but your gradient_check blames "
                                         f"{got.get('index')}, where the true derivative is 1e-12 and only rounding "
                                         "noise remains.")


# ----------------------------------------------------------------------------------------------------- fixed_rules

def rules_inputs(rng):
    cases = []
    for k in range(6):
        shape = [(int(rng.integers(1, 7)),), (int(rng.integers(1, 4)), int(rng.integers(2, 4)))][k % 2]
        spread = 1.0 + 3.0 * (k % 3)
        a, b, x, up = rng.normal(size=(4, *shape))
        cases.append({"a": a, "b": b, "x": x * spread, "up": up})
    xs = np.concatenate([[-30.0, 30.0, 0.0], rng.uniform(-10, 10, size=5)])
    return {"cases": cases, "saturated": {"x": xs, "up": rng.normal(size=xs.size)},
            "engine": rng.normal(size=5).tolist(), "c": float(rng.uniform(1, 4)),
            "scalar": float(rng.uniform(0.5, 2.5))}


RULES_DRIVER = textwrap.dedent("""
    import numpy as np

    def sigmoid(v):
        return np.exp(-np.logaddexp(0.0, -v))

    def unbroadcast(g, shape):
        g = np.asarray(g, dtype=float)
        while g.ndim > len(shape):
            g = g.sum(axis=0)
        for axis, n in enumerate(shape):
            if n == 1 and g.ndim == len(shape) and g.shape[axis] != 1:
                g = g.sum(axis=axis, keepdims=True)
        return np.broadcast_to(g, shape).copy()

    def engine_gradients(build, *arrays):
        \"\"\"The gradients of the scalar build(*leaves) with respect to each leaf, by an engine of the driver's own
        that calls the student's rules for mul, tanh and sigmoid (the notebook's engine is not used).\"\"\"
        tape = []

        class T:
            def __init__(self, data, parents=(), rule=None):
                self.data = np.asarray(data, dtype=float)
                self.grad = np.zeros_like(self.data)
                self.parents, self.rule = parents, rule
                tape.append(self)

            def _binary(self, other, forward, rule, reflected=False):
                other = other if isinstance(other, T) else T(other)
                a, b = (other, self) if reflected else (self, other)
                return T(forward(a.data, b.data), (a, b), rule)

            def __mul__(self, other):
                return self._binary(other, np.multiply, mul_backward)

            def __rmul__(self, other):
                return self._binary(other, np.multiply, mul_backward, reflected=True)

            def __add__(self, other):
                return self._binary(other, np.add, lambda inputs, out, up: (up, up))

            def __radd__(self, other):
                return self._binary(other, np.add, lambda inputs, out, up: (up, up), reflected=True)

            def tanh(self):
                return T(np.tanh(self.data), (self,), tanh_backward)

            def sigmoid(self):
                return T(sigmoid(self.data), (self,), sigmoid_backward)

            def sum(self):
                return T(np.sum(self.data), (self,), lambda inputs, out, up: (np.ones_like(inputs[0]) * up,))

        leaves = [T(a) for a in arrays]
        out = build(*leaves)
        out.grad = np.ones_like(out.data)
        for node in reversed(tape):  # the tape is in creation order: every node after its inputs
            if node.rule is not None:
                grads = tuple(node.rule(tuple(p.data for p in node.parents), node.data, node.grad))
                if len(grads) != len(node.parents):
                    raise ValueError(f"a backward rule returned {len(grads)} gradients for {len(node.parents)} inputs")
                for parent, g in zip(node.parents, grads):
                    parent.grad = parent.grad + unbroadcast(g, parent.data.shape)
        return [leaf.grad for leaf in leaves]

    result = {"cases": []}
    for case in inputs["cases"]:
        a, b, x, up = (np.array(case[k], dtype=float) for k in ("a", "b", "x", "up"))
        result["cases"].append({"mul": list(mul_backward((a, b), a * b, up)),
                                "tanh": list(tanh_backward((x,), np.tanh(x), up)),
                                "sigmoid": list(sigmoid_backward((x,), sigmoid(x), up))})
    s = inputs["saturated"]
    xs, up = np.array(s["x"]), np.array(s["up"])
    result["saturated"] = {"tanh": list(tanh_backward((xs,), np.tanh(xs), up)),
                           "sigmoid": list(sigmoid_backward((xs,), sigmoid(xs), up))}
    c, x0 = inputs["c"], np.array(inputs["engine"])
    result["engine"] = {
        "mixed": engine_gradients(lambda t: (t * t.tanh() + t.sigmoid() * c).sum(), x0)[0],
        "cube": engine_gradients(lambda t: (t * t * t).sum(), x0)[0],
        "nested": engine_gradients(lambda t: ((t * 0.5).tanh().sigmoid() * t).sum(), x0)[0],
        "broadcast": engine_gradients(lambda q, v: (q * v).tanh().sum(), inputs["scalar"], x0)}
""")


def _vjp(forward, arrays, upstream, k):
    def g(v):
        args = list(arrays)
        args[k] = v
        return float(np.sum(upstream * forward(*args)))
    return numdiff.gradient(g, arrays[k])


def rules_verify(inputs, result):
    require(isinstance(result, dict) and isinstance(result.get("cases"), list)
            and len(result["cases"]) == len(inputs["cases"]), "the backward rules gave too few results.")
    hints = {"tanh": "tanh'(x) = 1 - tanh(x)², and tanh(x) is `out`, not the input; multiply by the upstream gradient.",
             "sigmoid": "σ'(x) = σ(x)(1 - σ(x)) with σ(x) = `out`; mind the sign, and multiply by the upstream "
                        "gradient."}
    for case, got in zip(inputs["cases"], result["cases"], strict=True):
        a, b, x, up = (np.array(case[k], dtype=float) for k in ("a", "b", "x", "up"))
        where = f"for inputs of shape {a.shape}"
        mul = got.get("mul")
        require(isinstance(mul, list) and len(mul) == 2, "mul_backward must return one gradient per input (2).")
        close(mul[0], _vjp(np.multiply, (a, b), up, 0), what="gradient for a in a * b", where=where,
              hint="d(ab)/da = b: multiply the upstream gradient by the OTHER operand.")
        close(mul[1], _vjp(np.multiply, (a, b), up, 1), what="gradient for b in a * b", where=where,
              hint="d(ab)/db = a: multiply the upstream gradient by the OTHER operand.")
        for name, forward in [("tanh", np.tanh), ("sigmoid", _sigmoid)]:
            rule = got.get(name)
            require(isinstance(rule, list) and len(rule) == 1, f"{name}_backward must return a 1-tuple.")
            close(rule[0], _vjp(forward, (x,), up, 0), what=f"gradient of {name}", where=where, hint=hints[name])
    s = inputs["saturated"]
    xs, up = np.array(s["x"]), np.array(s["up"])
    for name, forward in [("tanh", np.tanh), ("sigmoid", _sigmoid)]:
        rule = result.get("saturated", {}).get(name)
        require(isinstance(rule, list) and len(rule) == 1, f"{name}_backward must return a 1-tuple.")
        close(rule[0], _vjp(forward, (xs,), up, 0), what=f"gradient of {name}", where="at saturated inputs",
              hint=hints[name])
    x0, c, s0 = np.array(inputs["engine"]), inputs["c"], inputs["scalar"]
    engine = result.get("engine")
    require(isinstance(engine, dict), "the engine gave no gradients with your rules.")
    for key, text, function in [
            ("mixed", f"sum(x tanh(x) + {c:.3g} sigmoid(x))", lambda v: np.sum(v * np.tanh(v) + c * _sigmoid(v))),
            ("cube", "sum(x * x * x), x used three times", lambda v: np.sum(v**3)),
            ("nested", "sum(sigmoid(tanh(x/2)) x)", lambda v: np.sum(_sigmoid(np.tanh(0.5 * v)) * v))]:
        close(engine.get(key), numdiff.gradient(function, x0), what=f"engine gradient of {text} with your rules")
    broadcast = engine.get("broadcast")
    require(isinstance(broadcast, list) and len(broadcast) == 2, "the engine gave no gradients for s * x.")
    close(broadcast[0], numdiff.derivative(lambda q: np.sum(np.tanh(q * x0)), s0),
          what="gradient of a scalar s broadcast in sum(tanh(s * x))", where="through the engine, with your rules")
    close(broadcast[1], numdiff.gradient(lambda v: np.sum(np.tanh(s0 * v)), x0),
          what="gradient of x in sum(tanh(s * x))", where="through the engine, with your rules")


# ---------------------------------------------------------------------------------------------------------- detach

def detach_inputs(rng):
    cases = []
    for _ in range(5):
        n = int(rng.integers(1, 7))
        w0, a, b = rng.normal(size=(3, n))
        cases.append({"w0": w0, "a": a, "b": b, "target": rng.normal(size=n)})
    return {"cases": cases, "shared": rng.normal(size=3).tolist()}


DETACH_DRIVER = REFERENCE_RULES + textwrap.dedent("""
    def facts(make):
        \"\"\"What detach(t) returned, as raw data, for a fresh t: is it t, its fields, and t's data after an in-place
        change of the detached tensor (a shared array shows the change).\"\"\"
        t = make()
        before = np.array(t.data, copy=True)
        d = detach(t)
        row = {"same": d is t, "tensor": isinstance(d, Tensor), "prev": len(tuple(d._prev)), "op": d._op,
               "grad": d.grad, "before": before}
        d.add_(1.0)
        row["after"] = t.data
        return row

    result = {"cases": []}
    for case in inputs["cases"]:
        w0, a, b = (np.array(case[k], dtype=float) for k in ("w0", "a", "b"))
        with using_rules(**REFERENCE):
            entry = {"facts": facts(lambda: Tensor(w0.copy()) * a), "leaf_facts": facts(lambda: Tensor(w0.copy()))}
            w = Tensor(w0.copy())
            loss = stop_gradient_loss((w * a).tanh(), (w * b).sigmoid() + w.relu())
            loss.backward()
            entry["loss"], entry["grad"] = loss.data, w.grad
            w = Tensor(w0.copy())
            (detach(w.exp()) * w).sum().backward()
            entry["cut"] = w.grad
            target = Tensor(np.array(case["target"]))
            stop_gradient_loss(Tensor(w0.copy()), target).backward()
            entry["target_grad"] = target.grad
        result["cases"].append(entry)
    t = Tensor(np.array(inputs["shared"]))
    d = detach(t)
    d.add_(1.0)
    result["shared"] = t.data
""")


def detach_verify(inputs, result):
    require(isinstance(result, dict) and isinstance(result.get("cases"), list)
            and len(result["cases"]) == len(inputs["cases"]), "detach gave too few results.")
    for case, got in zip(inputs["cases"], result["cases"], strict=True):
        w0, a, b, target = (np.array(case[k], dtype=float) for k in ("w0", "a", "b", "target"))
        for key, data in (("facts", w0 * a), ("leaf_facts", w0)):
            facts = got.get(key)
            require(isinstance(facts, dict), "detach gave no result.")
            require(facts.get("tensor") is True, "detach must return a Tensor.")
            require(facts.get("same") is False, "detach returned the same tensor: it must return a NEW leaf, or "
                                                "gradients still flow.")
            require(facts.get("prev") == 0 and facts.get("op") == "",
                    "Your detached tensor still has parents (_prev) or an op: it keeps the whole graph alive. A leaf "
                    "has _prev = () and _op = ''.")
            close(facts.get("before"), data, what="data of the tensor given to detach")
            close(facts.get("after"), data + 1.0, what="data of t after detach(t).add_(1)",
                  hint="detach must share t's data array (Tensor(t.data)), not copy it.")
            grad = facts.get("grad")
            require(np.shape(grad) == data.shape and bool(np.all(np.asarray(grad, dtype=float) == 0.0)),
                    "A fresh leaf starts with a zero gradient, of the shape of its data.")
        frozen = _sigmoid(w0 * b) + np.maximum(w0, 0.0)
        close(got.get("loss"), np.sum((np.tanh(w0 * a) - frozen) ** 2), what="stop-gradient loss value")
        close(got.get("grad"), numdiff.gradient(lambda q, a=a, frozen=frozen: np.sum((np.tanh(q * a) - frozen) ** 2),
                                                w0),
              what="gradient through the stop-gradient loss", where=f"(n = {w0.size})",
              hint="Only the prediction's path may count: the target is a constant, so detach it, not the prediction.")
        close(got.get("cut"), np.exp(w0), what="gradient of sum(detach(exp(w)) * w)",
              hint="Through a detached value only the other path counts.")
        close(got.get("target_grad"), np.zeros_like(target), what="target.grad after backward of the stop-gradient "
              "loss", hint="No gradient may leak into the target.")
    close(result.get("shared"), np.array(inputs["shared"]) + 1.0, what="data of t after detach(t).add_(1)",
          hint="detach must share the data array, not copy it.")


# --------------------------------------------------------------------------------------------------- version_check

def version_inputs(rng):
    cases = []
    for _ in range(4):
        n = int(rng.integers(1, 6))
        a0, b0 = rng.normal(size=(2, n))
        cases.append({"a": a0, "b": b0})
    return {"cases": cases, "x": rng.normal(size=3).tolist(), "pair": rng.normal(size=2).tolist()}


VERSION_DRIVER = REFERENCE_RULES + textwrap.dedent("""
    def attempt(run):
        try:
            run()
            return ""
        except RuntimeError as error:
            return "RuntimeError: " + str(error)[:400]

    result = {"cases": []}
    with using_hooks(save_for_backward, unpack_saved), using_rules(**REFERENCE):
        x0 = np.array(inputs["x"])
        x = Tensor(x0.copy())
        plain = attempt(lambda: ((x**2).exp() - x).sum().backward())
        result["plain"] = {"error": plain, "grad": x.grad}
        x = Tensor(x0.copy())
        loss = (x**2).sum()
        x.add_(1.0)
        result["pow_after"] = attempt(loss.backward)
        x = Tensor(x0.copy())
        x.mul_(2.0)
        result["before"] = {"error": attempt(lambda: (x**2).sum().backward()), "grad": x.grad}
        for case in inputs["cases"]:
            a0, b0 = np.array(case["a"]), np.array(case["b"])
            entry = {}
            a, b = Tensor(a0.copy()), Tensor(b0.copy())
            loss = (a * b).tanh().sum()
            b.add_(0.5)
            entry["mul"] = attempt(loss.backward)
            a = Tensor(a0.copy())
            y = a.exp()
            loss = y.sum()
            y.mul_(2.0)
            entry["exp"] = attempt(loss.backward)
            a = Tensor(a0.copy())
            loss = a.relu().sum()
            a.data = a.data + 1.0
            a.data -= 3.0
            entry["relu"] = attempt(loss.backward)
            a, b = Tensor(a0.copy()), Tensor(b0.copy())
            a.add_(1.0)
            entry["no_alarm"] = {"error": attempt(lambda: (a * b.sigmoid() - (a - b) ** 3).sum().backward()),
                                 "a": a.grad, "b": b.grad}
            a = Tensor(a0.copy())
            (a**3).sum().backward()
            a.add_(1.0)
            a.zero_grad()
            entry["rebuilt"] = {"error": attempt(lambda: (a**3).sum().backward()), "grad": a.grad}
            result["cases"].append(entry)
    with using_hooks(save_for_backward, unpack_saved):
        x = Tensor(np.array(inputs["pair"]))
        y = x**2
        x.add_(1.0)
        z = x.exp()
        result["only_pow"] = attempt((y + z).sum().backward)
""")


def _must_raise(message, ops, now, then, what):
    ops = (ops,) if isinstance(ops, str) else ops
    require(isinstance(message, str) and message.startswith("RuntimeError"),
            f"{what}, but backward() ran without a RuntimeError. Compare each saved version with the tensor's "
            "current _version in unpack_saved.")
    require(any(op in message for op in ops) and str(now) in message and str(then) in message,
            f"Your error message {message!r} should name the op ({' or '.join(ops)}) and both versions "
            f"(now {now}, saved {then}).")


def _must_not_raise(entry, what):
    error = entry.get("error") if isinstance(entry, dict) else entry
    require(isinstance(entry, dict) and error == "",
            f"{what}, which is harmless, but your unpack_saved raised: {error!r}. Compare each tensor's _version "
            "with the version save_for_backward recorded, not with 0.")


def version_verify(inputs, result):
    require(isinstance(result, dict), "the version check gave no results.")
    x0 = np.array(inputs["x"])
    _must_not_raise(result.get("plain"), "Nothing changed in place")
    close(result["plain"].get("grad"), numdiff.gradient(lambda v: np.sum(np.exp(v**2) - v), x0),
          what="gradient with version checks on", hint="unpack_saved must return the arrays in order.")
    _must_raise(result.get("pow_after"), "pow", 1, 0, "x changed in place after x**2 was computed")
    _must_not_raise(result.get("before"), "x.mul_(2) happened before x**2 was computed")
    close(result["before"].get("grad"), 4 * x0, what="gradient of sum(x²) after x.mul_(2) before the forward pass",
          hint="Only a change AFTER save_for_backward is an error: compare with the saved version.")
    require(isinstance(result.get("cases"), list) and len(result["cases"]) == len(inputs["cases"]),
            "the version check gave too few results.")
    for case, got in zip(inputs["cases"], result["cases"], strict=True):
        a0, b0 = np.array(case["a"]), np.array(case["b"])
        _must_raise(got.get("mul"), "mul", 1, 0, "b changed in place after a * b")
        _must_raise(got.get("exp"), ("sum", "exp"), 1, 0, "exp(x) changed in place before backward")
        _must_raise(got.get("relu"), "relu", 2, 0, "x changed twice (x.data = ..., x.data -= ...) after relu(x)")
        _must_not_raise(got.get("no_alarm"), "a.add_(1) happened before the forward pass")
        ref_a = numdiff.gradient(lambda v, b0=b0: np.sum(v * _sigmoid(b0) - (v - b0) ** 3), a0 + 1.0)
        ref_b = numdiff.gradient(lambda v, a0=a0: np.sum((a0 + 1.0) * _sigmoid(v) - (a0 + 1.0 - v) ** 3), b0)
        close(got["no_alarm"].get("a"), ref_a, what="gradient for a", where="with version checks on",
              hint="unpack_saved must return the arrays in the order they were saved.")
        close(got["no_alarm"].get("b"), ref_b, what="gradient for b", where="with version checks on")
        _must_not_raise(got.get("rebuilt"), "a changed after one backward, before a new forward")
        close(got["rebuilt"].get("grad"), 3 * (a0 + 1.0) ** 2, what="gradient after a fresh forward pass")
    _must_raise(result.get("only_pow"), "pow", 1, 0, "x changed after x**2 (but before exp(x))")


# --------------------------------------------------------------------------------------------------- training_loop

def train_inputs(rng):
    cases = []
    for steps in (1, int(rng.integers(5, 10)), int(rng.integers(25, 40))):
        n = int(rng.integers(1, 6))
        xs, ys = rng.normal(size=(2, n))
        cases.append({"xs": xs, "ys": ys, "w0": rng.normal(size=n), "steps": steps, "lr": 0.1,
                      "stale": rng.normal(size=n)})
    return {"cases": cases}


TRAIN_DRIVER = REFERENCE_RULES + textwrap.dedent("""
    def nan(*args, **kwargs):
        return float("nan")

    # The loss tensors handed to train: their value is in .data, and they work with backward(), but any
    # arithmetic on the tensor itself (total + loss, the graph leak) gives nan, so a leak shows in the total.
    Loss = type("Loss", (Tensor,), {name: nan for name in (
        "__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__", "__truediv__", "__rtruediv__",
        "__neg__", "__pos__", "__pow__", "__rpow__", "__matmul__", "__rmatmul__", "__iadd__", "__isub__",
        "__imul__", "exp", "relu", "tanh", "sigmoid", "sum")})

    result = []
    for case in inputs["cases"]:
        xs, ys = np.array(case["xs"]), np.array(case["ys"])

        def loss_fn(w, xs=xs, ys=ys):
            loss = (((w * xs).tanh() - ys) ** 2).sum() + (w * w).sum() * 0.1
            loss.__class__ = Loss
            return loss

        with using_rules(**REFERENCE):
            w = Tensor(np.array(case["w0"], dtype=float))
            w.grad = np.array(case["stale"])  # stale gradients from earlier work
            total = train(loss_fn, w, case["steps"], case["lr"])
        try:
            value = float(total)
        except (TypeError, ValueError):
            value = None
        result.append({"w": w.data, "total": value, "kind": type(total).__name__})
""")


def train_verify(inputs, result):
    require(isinstance(result, list) and len(result) == len(inputs["cases"]), "train gave too few results.")
    for case, got in zip(inputs["cases"], result, strict=True):
        xs, ys = np.array(case["xs"]), np.array(case["ys"])

        def loss_np(v, xs=xs, ys=ys):
            return float(np.sum((np.tanh(v * xs) - ys) ** 2) + 0.1 * np.sum(v * v))

        v, total = np.array(case["w0"], dtype=float), 0.0
        for _ in range(case["steps"]):
            total += loss_np(v)
            v = v - case["lr"] * numdiff.gradient(loss_np, v)
        require(isinstance(got, dict), "train gave no result.")
        value = got.get("total")
        if type(value) is not float:
            raise checks.CheckFailure(f"train returned a {str(got.get('kind'))[:40]}, not a float, after "
                                      f"{case['steps']} steps: a Tensor total keeps every step's graph alive (a graph "
                                      "leak). Add float(loss.data), not loss.")
        if not math.isfinite(value):
            raise checks.CheckFailure(f"The total train returned after {case['steps']} steps is {value}: it added "
                                      "the loss tensor itself (total + loss), which keeps every step's graph alive "
                                      "(a graph leak). Add the loss's value, float(loss.data).")
        close(got.get("w"), v, what=f"weights after {case['steps']} steps", where="(the caller's w)",
              hint="Zero w.grad before each backward (gradients accumulate), and update w in place.")
        close(got.get("total"), total, what="total loss", where=f"over {case['steps']} steps",
              hint="Add each step's loss value, computed before that step's update.")


PROBES = {
    "08_pitfalls-gradient_check": Probe(CHECK_DRIVER, check_inputs, check_verify),
    "08_pitfalls-fixed_rules": Probe(RULES_DRIVER, rules_inputs, rules_verify),
    "08_pitfalls-detach": Probe(DETACH_DRIVER, detach_inputs, detach_verify),
    "08_pitfalls-version_check": Probe(VERSION_DRIVER, version_inputs, version_verify),
    "08_pitfalls-training_loop": Probe(TRAIN_DRIVER, train_inputs, train_verify),
}
