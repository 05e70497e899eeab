"""calcml.program_probes: expression programs sent as JSON, run by the driver's own interpreter, checked by numdiff."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from calcml import checks, expressions, program_probes


def driver_scope() -> dict:
    scope: dict = {}
    exec(program_probes.DRIVER, scope)
    return scope


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**31 - 1))
def test_json_round_trip_and_the_driver_interpreter_agree_with_the_program(seed) -> None:
    program = expressions.random_program(seed, expressions.ARITHMETIC, n_inputs=3, n_steps=8)
    spec = program_probes.to_json(program)
    assert program_probes.from_json(spec) == program
    x = [float(v) for v in program.x]
    interpreted = driver_scope()["run_program"](spec, x)
    assert interpreted == pytest.approx(float(program.run_float(np.array(x))), rel=1e-12)


def test_random_programs_follow_the_sizes_and_the_generator() -> None:
    sizes = [(1, 3), (4, 10)]
    first = program_probes.random_programs(np.random.default_rng(5), expressions.BASIC, sizes)
    assert first == program_probes.random_programs(np.random.default_rng(5), expressions.BASIC, sizes)
    assert [(spec["n"], len(spec["steps"])) for spec in first] == sizes


def sympy_gradients(spec: dict) -> dict:
    """The value and gradient of a program, by sympy on symbols (independent of numdiff)."""
    program = program_probes.from_json(spec)
    symbols = sp.symbols(f"v0:{program.n_inputs}")
    out = driver_scope()["run_program"](spec, list(symbols))
    point = dict(zip(symbols, program.x, strict=True))
    return {"value": float(out.subs(point)), "grads": [float(sp.diff(out, s).subs(point)) for s in symbols]}


def test_check_gradients_passes_exact_gradients_and_names_the_program_of_a_wrong_one() -> None:
    specs = program_probes.random_programs(np.random.default_rng(1), expressions.ARITHMETIC, [(2, 6), (3, 9)])
    exact = [sympy_gradients(spec) for spec in specs]
    program_probes.check_gradients(specs, exact)
    doubled = [exact[0], {"grads": [2 * g for g in exact[1]["grads"]]}]
    with pytest.raises(checks.CheckFailure, match="for the program"):
        program_probes.check_gradients(specs, doubled)
    with pytest.raises(checks.CheckFailure, match="missing"):
        program_probes.check_gradients(specs, exact[:1])


def test_check_deep_explains_a_recursion_error_and_checks_the_numbers() -> None:
    with pytest.raises(checks.CheckFailure, match="explicit stack"):
        program_probes.check_deep({"recursion": "RecursionError: ..."}, 1.0, None, "a chain")
    program_probes.check_deep({"grad": 0.5, "value": 2.0}, 0.5, 2.0, "a chain")
    with pytest.raises(checks.CheckFailure, match="gradient through a chain"):
        program_probes.check_deep({"grad": 0.25}, 0.5, None, "a chain")


class TinyValue:
    """A minimal reverse-mode engine for these tests (+ and * only), written here, independent of the course's."""

    def __init__(self, data, _prev=(), _op=""):
        self.data, self.grad, self._prev, self._op = float(data), 0.0, tuple(_prev), _op
        self._backward = lambda: None

    def _binary(self, other, value, da, db, op):
        other = other if isinstance(other, TinyValue) else type(self)(other)
        out = type(self)(value(self.data, other.data), (self, other), op)

        def rule():
            self.grad += da(self.data, other.data) * out.grad
            other.grad += db(self.data, other.data) * out.grad

        out._backward = rule
        return out

    def __add__(self, other):
        return self._binary(other, lambda a, b: a + b, lambda a, b: 1.0, lambda a, b: 1.0, "+")

    def __mul__(self, other):
        return self._binary(other, lambda a, b: a * b, lambda a, b: b, lambda a, b: a, "*")

    def order(self):
        order, seen, stack = [], set(), [(self, False)]
        while stack:
            v, done = stack.pop()
            if done:
                order.append(v)
            elif id(v) not in seen:
                seen.add(id(v))
                stack += [(v, True)] + [(p, False) for p in v._prev]
        return order

    def backward(self):
        self.grad = 1.0
        for v in reversed(self.order()):
            v._backward()


def run_driver(Value, call: str, **inputs):  # noqa: N803 - the class under test
    scope = {"Value": Value, "inputs": inputs}
    exec(program_probes.DRIVER + f"\nresult = {call}\n", scope)
    return scope["result"]


def test_close_named_names_the_wrong_component() -> None:
    program_probes.close_named([1.0, 2.0], [1.0, 2.0], ["a.grad", "b.grad"], what="gradient")
    with pytest.raises(checks.CheckFailure, match=r"Your gradient at a = 1: b\.grad is 4, but 2 was expected"):
        program_probes.close_named([1.0, 4.0], [1.0, 2.0], ["a.grad", "b.grad"], what="gradient", where="at a = 1")
    with pytest.raises(checks.CheckFailure, match="missing"):
        program_probes.close_named(None, [1.0], ["a.grad"], what="gradient")


def test_register_adjoints_agree_with_sympy() -> None:
    program = expressions.random_program(7, expressions.ARITHMETIC, n_inputs=2, n_steps=8)
    t = sp.Symbol("t")
    for k in range(program.n_inputs, program.n_inputs + len(program.steps)):
        regs = [sp.Float(v) for v in program.x]
        for step in program.steps:
            regs.append(step.apply(regs) + (t if len(regs) == k else 0))
        exact = float(sp.diff(regs[-1], t).subs(t, 0))
        assert program.register_adjoints()[k - program.n_inputs] == pytest.approx(exact, rel=1e-8, abs=1e-9)


def test_check_gradients_checks_every_register_and_names_it() -> None:
    specs = program_probes.random_programs(np.random.default_rng(3), expressions.BASIC, [(2, 8), (3, 12)])
    got = run_driver(TinyValue, "[engine_gradient(s, every=True) for s in inputs['specs']]", specs=specs)
    program_probes.check_gradients(specs, got, registers=True)
    wrong = [dict(got[0], grads=[got[0]["grads"][0], 3 * got[0]["grads"][1] + 1]), got[1]]
    with pytest.raises(checks.CheckFailure, match=r": v1\.grad is "):
        program_probes.check_gradients(specs, wrong)
    leaves_only = [dict(g, registers=g["registers"][:spec["n"]] + [0.0] * len(spec["steps"]))
                   for g, spec in zip(got, specs, strict=True)]
    with pytest.raises(checks.CheckFailure, match="intermediate nodes"):
        program_probes.check_gradients(specs, leaves_only, registers=True)


def test_handmade_graphs_pass_an_engine_that_runs_each_closure_once_and_fail_the_others() -> None:
    rng = np.random.default_rng(11)
    specs = [program_probes.handmade_program(rng, n_inputs=n, n_steps=k) for n, k in [(2, 4), (3, 7), (3, 10)]]
    for spec in specs:
        assert sum(op == "custom" for op, _, _ in spec["steps"]) >= 2
        program_probes.check_handmade(spec, run_driver(TinyValue, "run_handmade(inputs['spec'])", spec=spec))

    class NeverCalls(TinyValue):  # gradients from somewhere else: the nodes' own closures never run
        def backward(self):
            self.grad = 1.0

    class CallsTwice(TinyValue):
        def backward(self):
            self.grad = 1.0
            order = self.order()
            for v in reversed(order):
                v._backward()
            for v in order:
                if v._op == "custom":
                    v._backward()

    class ForwardOrder(TinyValue):  # closures called inputs first: a node's grad is not final yet
        def backward(self):
            self.grad = 1.0
            for v in self.order():
                v._backward()

    cases = [(NeverCalls, "never called"), (CallsTwice, "2 times"),
             (ForwardOrder, "called its _backward|of the output")]
    for engine, message in cases:
        with pytest.raises(checks.CheckFailure, match=message):
            for spec in specs:
                program_probes.check_handmade(spec, run_driver(engine, "run_handmade(inputs['spec'])", spec=spec))


def test_close_named_names_an_entry_of_a_nested_list() -> None:
    with pytest.raises(checks.CheckFailure, match=r": model\(X\[1\]\)\[0\] is 9"):
        program_probes.close_named([[1.0, 2.0], [9.0, 4.0]], [[1.0, 2.0], [3.0, 4.0]],
                                   lambda i: f"model(X[{i[0]}])[{i[1]}]", what="outputs")
