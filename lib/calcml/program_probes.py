"""Expression programs across the sandbox boundary: the parts shared by the hidden checks of unit 05 (autograd).

Expressions travel as `calcml.expressions` programs: `inputs` draws them (`random_program`, with a seed from the
generator) and sends their steps as JSON (`to_json`); the driver, which starts with `DRIVER`, rebuilds them and runs
them on the student's `Value`s or `Dual`s with its own interpreter; `verify` differentiates the same program on
floats with `numdiff` (`check_gradients`). Nothing here is the answer to an exercise.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from calcml import checks, expressions, numdiff, probes

#: Driver source that defines `run_program(spec, inputs, every=False)`, `at_default_recursion_limit(action)`,
#: `engine_gradient(spec, every=False)` and `run_handmade(spec)`. The interpreter is written out here, not imported:
#: the driver runs in the student's process, where any helper it imported could have been replaced.
DRIVER = textwrap.dedent("""
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

    def engine_gradient(spec, every=False):
        leaves = [Value(v) for v in spec["x"]]
        registers = run_program(spec, leaves, every=True)
        out = registers[-1]
        out.backward()
        answer = {"value": out.data, "grads": [leaf.grad for leaf in leaves]}
        if every:  # the adjoints of the intermediate nodes too
            answer["registers"] = [node.grad for node in leaves + registers]
        return answer

    def run_handmade(spec):
        \"\"\"A graph of + and * and of hand-built nodes, each with a local rule of its own that logs its call.\"\"\"
        regs = [Value(v) for v in spec["x"]]
        calls = []
        for k, (op, args, extra) in enumerate(spec["steps"]):
            a, b = regs[args[0]], regs[args[1]]
            if op == "add":
                v = a + b
            elif op == "mul":
                v = a * b
            else:
                v = Value(extra["data"], (a, b), "custom")

                def rule(v=v, a=a, b=b, p=extra["partials"], k=k):
                    calls.append([k, v.grad])
                    a.grad += p[0] * v.grad
                    b.grad += p[1] * v.grad

                v._backward = rule
            regs.append(v)
        regs[-1].backward()
        return {"grads": [r.grad for r in regs], "calls": calls}
""")


def to_json(program: expressions.Program) -> dict[str, Any]:
    """`program` as JSON data: its number of inputs `n`, its point `x` and its `steps` as [op, args, const]."""
    return {"n": program.n_inputs, "x": list(program.x),
            "steps": [[s.op, list(s.args), s.const] for s in program.steps]}


def from_json(spec: dict[str, Any]) -> expressions.Program:
    """The `Program` that `to_json` wrote."""
    steps = tuple(expressions.Step(op, tuple(args), const) for op, args, const in spec["steps"])
    return expressions.Program(spec["n"], steps, tuple(spec["x"]))


def random_programs(rng: np.random.Generator, ops: tuple[str, ...], sizes: list[tuple[int, int]]) -> list[dict]:
    """One random program (as JSON) per (n_inputs, n_steps) in `sizes`, each with a seed drawn from `rng`."""
    return [to_json(expressions.random_program(seed(rng), ops, n_inputs=n, n_steps=s)) for n, s in sizes]


def seed(rng: np.random.Generator) -> int:
    """A seed for `random_program`, `single_op_program` or `data.moons`, drawn from `rng`."""
    return int(rng.integers(0, 2**31))


def close_named(actual: Any, expected: Any, names: list[str] | Callable[[tuple[int, ...]], str], *, what: str,
                where: str = "", hint: str = "", batch_size: int | None = None) -> None:
    """`probes.close` on values that have names (`a.grad`, `b.grad`): a failure names the wrong one,
    "Your gradient ...: b.grad is 3, but 1.5 was expected", never "component 1". `names` lists the names of a flat
    list, or maps an index tuple (i, j) of a nested one to its name."""
    try:
        probes.close(actual, expected, what=what, where=where, hint=hint, batch_size=batch_size)
    except checks.CheckFailure as failure:
        text = str(failure)
        match = re.search(r": component (\((?:\d+, )*\d+\)|\d+) is ", text)
        if match:
            index = tuple(int(k) for k in re.findall(r"\d+", match[1]))
            name = (names(index) if callable(names)
                    else names[index[0]] if len(index) == 1 and index[0] < len(names) else None)
            if name:
                text = f"{text[:match.start()]}: {name} is {text[match.end():]}"
        raise checks.CheckFailure(text) from None


def check_gradients(specs: list[dict], got: Any, what: str = "gradient", hint: str = "",
                    name: str = "v{i}.grad", registers: bool = False) -> None:
    """Check an untrusted list of {"value"?, "grads", "registers"?} results, one per program of `specs`, against the
    programs run on floats and `numdiff`. `name` names the derivative with respect to input `v{i}` in a message;
    with `registers`, the adjoint of every register (`v.grad` of the inputs and of the intermediate nodes) is
    checked too, against `Program.register_adjoints`."""
    probes.require(isinstance(got, list) and len(got) == len(specs), f"the {what}s of the random programs are missing.")
    for spec, answer in zip(specs, got, strict=True):
        program = from_json(spec)
        probes.require(isinstance(answer, dict), f"no {what} for the program {program}.")
        where = f"for the program {program}, {checks.describe_point(program.x)}"
        if "value" in answer:
            probes.close(answer.get("value"), program.run_float(np.array(program.x)), what="value", where=where)
        expected = numdiff.gradient(program.run_float, np.array(program.x))
        close_named(answer.get("grads"), expected, [name.format(i=i) for i in range(program.n_inputs)], what=what,
                    where=where, hint=hint or "Does every operation pass local × upstream to each input, and does a "
                                              "value used twice collect both contributions (+=)?")
        if registers:
            every = np.concatenate([expected, program.register_adjoints()])
            close_named(answer.get("registers"), every, [f"v{k}.grad" for k in range(every.size)],
                        what="adjoint of every node (inputs and intermediate nodes)", where=where,
                        hint="After backward(), every node's grad holds d(output)/d(node), the intermediate nodes' "
                             "too: run each node's own _backward, once, in reverse topological order.")


def handmade_program(rng: np.random.Generator, n_inputs: int = 3, n_steps: int = 7) -> dict[str, Any]:
    """A graph for `run_handmade` (see `DRIVER`): steps `add`, `mul` and `custom`, a hand-built node with a made-up
    value and made-up local derivatives ("partials"), so only an engine that runs each node's own `_backward`
    gets its gradients. Each step reads the previous register, so the output depends on every step."""
    x = np.round(rng.uniform(-1.5, 1.5, n_inputs), 2).tolist()
    kinds = ["custom", "custom", *rng.choice(["add", "mul", "custom"], size=n_steps - 2).tolist()]
    rng.shuffle(kinds)
    steps = []
    for k, op in enumerate(kinds):
        last = n_inputs + k - 1
        other = int(rng.integers(0, last + 1))
        args = [last, other] if rng.random() < 0.5 else [other, last]
        extra = ({"data": float(np.round(rng.uniform(-1.5, 1.5), 2)),
                  "partials": [float(np.round(rng.choice([-1, 1]) * rng.uniform(0.3, 1.8), 2)) for _ in range(2)]}
                 if op == "custom" else None)
        steps.append([str(op), args, extra])
    return {"x": x, "steps": steps}


def _handmade_float(spec: dict[str, Any]) -> tuple[Any, NDArray[np.float64]]:
    """The hand-made graph as a float function of (inputs, register nudges), and its registers at the point: each
    custom node is the linear function with its made-up value and partials there."""
    def run(x: Any, nudges: Any) -> float:
        regs = [float(v) for v in x]
        for k, (op, (i, j), extra) in enumerate(spec["steps"]):
            a, b = regs[i], regs[j]
            if op == "add":
                v = a + b
            elif op == "mul":
                v = a * b
            else:
                p, q = extra["partials"]
                v = extra["data"] + p * (a - base[i]) + q * (b - base[j])
            regs.append(v + float(nudges[k]))
        return regs[-1]

    base: list[float] = list(spec["x"])
    zeros = np.zeros(len(spec["steps"]))
    for op, (i, j), extra in spec["steps"]:  # the registers at the point, one step at a time
        base.append(extra["data"] if op == "custom" else base[i] + base[j] if op == "add" else base[i] * base[j])
    assert abs(run(spec["x"], zeros) - base[-1]) < 1e-12 * max(1.0, abs(base[-1]))
    return run, np.array(base)


def check_handmade(spec: dict[str, Any], got: Any) -> None:
    """Check an untrusted `run_handmade` result: each hand-built node's `_backward` called once, when its grad was
    final, and the grads of every node against `numdiff` on the graph with each custom node made linear."""
    run, _ = _handmade_float(spec)
    n, steps = len(spec["x"]), spec["steps"]
    x0, zeros = np.array(spec["x"], dtype=float), np.zeros(len(steps))
    adjoints = np.concatenate([numdiff.gradient(lambda x: run(x, zeros), x0),
                               numdiff.gradient(lambda t: run(x0, t), zeros)])
    parts = []
    for k, (op, (i, j), extra) in enumerate(steps):
        if op == "custom":
            p, q = extra["partials"]
            parts.append(f"v{n + k} = a hand-built node of (v{i}, v{j}) with local derivatives {p:g} and {q:g}")
        else:
            parts.append(f"v{n + k} = v{i} {'+' if op == 'add' else '*'} v{j}")
    text = "; ".join(parts)
    where = f"for the graph {text}"
    probes.require(isinstance(got, dict) and isinstance(got.get("calls"), list), f"backward() gave no result {where}.")
    calls = got["calls"]
    probes.require(all(isinstance(c, list) and len(c) == 2 and type(c[0]) is int for c in calls),
                   f"the calls of the hand-built nodes are malformed {where}.")
    for k, (op, _, _) in enumerate(steps):
        if op != "custom":
            continue
        mine = [c for c in calls if c[0] == k]
        probes.require(len(mine) > 0, f"backward() never called the _backward of the hand-built node v{n + k} {where}: "
                                      "the engine must call each node's own _backward (the local rule stored with "
                                      "the node), whatever its operation, not recompute derivatives another way.")
        probes.require(len(mine) == 1, f"backward() called the _backward of the hand-built node v{n + k} "
                                       f"{len(mine)} times {where}: call each node's _backward exactly once.")
        probes.close(mine[0][1], adjoints[n + k], what=f"v{n + k}.grad when backward() called its _backward",
                     where=where, hint="A node's _backward must run only once its grad is final, after every node "
                                       "that uses it: call them in reverse topological order.")
    close_named(got.get("grads"), adjoints, [f"v{k}.grad" for k in range(adjoints.size)],
                what="gradient of the output", where=where,
                hint="After backward(), every node's grad holds d(output)/d(node): the inputs' and the intermediate "
                     "nodes' too.")


def check_deep(got: Any, expected_grad: float, expected_value: float | None, what: str) -> None:
    """Check an untrusted {"recursion", "grad", "value"} result of backward() on a deep chain (see `DRIVER`)."""
    probes.require(isinstance(got, dict), f"no result for {what}.")
    if got.get("recursion"):
        raise checks.CheckFailure(f"backward() raised RecursionError on {what}: your topological order recurses. "
                                  "Walk the graph with an explicit stack (a list you append to and pop from).")
    probes.close(got.get("grad"), expected_grad, what=f"gradient through {what}")
    if expected_value is not None:
        probes.close(got.get("value"), expected_value, what=f"value of {what}")
