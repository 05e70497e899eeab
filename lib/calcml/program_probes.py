"""Expression programs across the sandbox boundary: the parts shared by the hidden checks of unit 05 (autograd).

Expressions travel as `calcml.expressions` programs: `inputs` draws them (`random_program`, with a seed from the
generator) and sends their steps as JSON (`to_json`); the driver, which starts with `DRIVER`, rebuilds them and runs
them on the student's `Value`s or `Dual`s with its own interpreter; `verify` differentiates the same program on
floats with `numdiff` (`check_gradients`). Nothing here is the answer to an exercise.
"""

from __future__ import annotations

import textwrap
from typing import Any

import numpy as np

from calcml import checks, expressions, numdiff, probes

#: Driver source that defines `run_program(spec, inputs, every=False)`, `at_default_recursion_limit(action)` and
#: `engine_gradient(spec)`. The interpreter is written out here, not imported: the driver runs in the student's
#: process, where any helper it imported could have been replaced.
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

    def engine_gradient(spec):
        leaves = [Value(v) for v in spec["x"]]
        out = run_program(spec, leaves)
        out.backward()
        return {"value": out.data, "grads": [leaf.grad for leaf in leaves]}
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


def check_gradients(specs: list[dict], got: Any, what: str = "gradient", hint: str = "") -> None:
    """Check an untrusted list of {"value"?, "grads"} results, one per program of `specs`, against the programs run
    on floats and `numdiff`."""
    probes.require(isinstance(got, list) and len(got) == len(specs), f"the {what}s of the random programs are missing.")
    for spec, answer in zip(specs, got, strict=True):
        program = from_json(spec)
        probes.require(isinstance(answer, dict), f"no {what} for the program {program}.")
        where = f"for the program {program}, {checks.describe_point(program.x)}"
        if "value" in answer:
            probes.close(answer.get("value"), program.run_float(np.array(program.x)), what="value", where=where)
        probes.close(answer.get("grads"), numdiff.gradient(program.run_float, np.array(program.x)), what=what,
                     where=where, hint=hint or "Does every operation pass local × upstream to each input, and does a "
                                               "value used twice collect both contributions (+=)?")


def check_deep(got: Any, expected_grad: float, expected_value: float | None, what: str) -> None:
    """Check an untrusted {"recursion", "grad", "value"} result of backward() on a deep chain (see `DRIVER`)."""
    probes.require(isinstance(got, dict), f"no result for {what}.")
    if got.get("recursion"):
        raise checks.CheckFailure(f"backward() raised RecursionError on {what}: your topological order recurses. "
                                  "Walk the graph with an explicit stack (a list you append to and pop from).")
    probes.close(got.get("grad"), expected_grad, what=f"gradient through {what}")
    if expected_value is not None:
        probes.close(got.get("value"), expected_value, what=f"value of {what}")
