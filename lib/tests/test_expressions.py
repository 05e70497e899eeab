"""Tests of calcml.expressions: programs agree with sympy, stay in their domains, and checks name culprits."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import sympy

from calcml import checks, expressions, numdiff


class Sym:
    """A sympy expression with the operators and methods of an autograd value: an exact reference engine."""

    def __init__(self, expr: Any) -> None:
        self.e = sympy.sympify(expr)

    @staticmethod
    def _w(other: Any) -> Any:
        return other.e if isinstance(other, Sym) else sympy.sympify(other)

    def _new(self, expr: Any) -> Sym:
        return type(self)(expr)  # keep the subclass, so a deliberately broken op stays broken downstream

    def __add__(self, o): return self._new(self.e + self._w(o))
    def __radd__(self, o): return self._new(self._w(o) + self.e)
    def __sub__(self, o): return self._new(self.e - self._w(o))
    def __rsub__(self, o): return self._new(self._w(o) - self.e)
    def __mul__(self, o): return self._new(self.e * self._w(o))
    def __rmul__(self, o): return self._new(self._w(o) * self.e)
    def __truediv__(self, o): return self._new(self.e / self._w(o))
    def __rtruediv__(self, o): return self._new(self._w(o) / self.e)
    def __pow__(self, o): return self._new(self.e ** self._w(o))
    def __rpow__(self, o): return self._new(self._w(o) ** self.e)
    def __neg__(self): return self._new(-self.e)
    def exp(self): return self._new(sympy.exp(self.e))
    def log(self): return self._new(sympy.log(self.e))
    def tanh(self): return self._new(sympy.tanh(self.e))
    def sin(self): return self._new(sympy.sin(self.e))
    def relu(self): return self._new(sympy.Max(self.e, 0))
    def sigmoid(self): return self._new(1 / (1 + sympy.exp(-self.e)))


def sympy_gradient(program: expressions.Program) -> list[float]:
    """The exact gradient at program.x, by sympy: an engine that is right by construction."""
    symbols = sympy.symbols(f"x0:{program.n_inputs}")
    out = program.run([Sym(s) for s in symbols]).e
    point = dict(zip(symbols, program.x, strict=True))
    return [float(sympy.diff(out, s).subs(point).evalf()) for s in symbols]


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("ops", [expressions.ALL, expressions.DUAL])
def test_float_run_and_numdiff_agree_with_sympy(seed: int, ops: tuple[str, ...]) -> None:
    program = expressions.random_program(seed, ops, n_inputs=3, n_steps=10)
    symbols = sympy.symbols("x0:3")
    exact = program.run([Sym(s) for s in symbols]).e
    value = float(exact.subs(dict(zip(symbols, program.x, strict=True))).evalf())
    assert math.isclose(program.run_float(program.x), value, rel_tol=1e-12, abs_tol=1e-12)
    checks.assert_close(numdiff.gradient(program.run_float, np.array(program.x)), sympy_gradient(program),
                        what="numdiff gradient", where=str(program), rtol=1e-8)


@pytest.mark.parametrize("seed", range(5))
def test_text_is_code_that_computes_the_same(seed: int) -> None:
    program = expressions.random_program(seed, expressions.ALL, n_inputs=2, n_steps=15)
    scope: dict[str, Any] = {f"v{i}": np.float64(v) for i, v in enumerate(program.x)}
    scope.update(exp=np.exp, log=np.log, tanh=np.tanh, sin=np.sin, relu=lambda a: np.maximum(a, 0.0),
                 sigmoid=lambda a: 1 / (1 + np.exp(-a)))
    exec(str(program).replace("; ", "\n"), scope)  # noqa: S102 -- our own generated code
    assert scope[f"v{program.n_inputs + len(program.steps) - 1}"] == pytest.approx(program.run_float(program.x))


def test_every_step_stays_inside_its_domain_and_away_from_kinks() -> None:
    seen = set()
    for seed in range(60):
        program = expressions.random_program(seed, expressions.ALL, n_inputs=3, n_steps=20)
        regs = list(program.x)
        for step in program.steps:
            a = regs[step.args[0]]
            seen.add(step.op)
            if step.op == "log":
                assert a > 0.25
            elif step.op == "relu":
                assert abs(a) > 0.25
            elif step.op == "pow":
                assert a > 0.25
            elif step.op == "div":
                assert abs(regs[step.args[1]]) > 0.5
            elif step.op == "rdiv":
                assert abs(a) > 0.5
            elif step.op == "rpow":
                assert step.const > 0
            regs.append(float(step.apply([np.float64(r) for r in regs], on_floats=True)))
            assert abs(regs[-1]) < 20
    assert seen == set(expressions.ALL), f"never drawn: {set(expressions.ALL) - seen}"


def test_programs_reuse_registers_and_grow_deep() -> None:
    program = expressions.random_program(4, expressions.ALL, n_inputs=3, n_steps=200)
    reads = [i for step in program.steps for i in step.args]
    assert len(reads) > len(set(reads)), "no register is read twice"
    depth = {i: 0 for i in range(program.n_inputs)}
    for k, step in enumerate(program.steps):
        depth[program.n_inputs + k] = 1 + max(depth[i] for i in step.args)
    assert max(depth.values()) > 50


def test_same_seed_same_program_and_only_the_requested_ops() -> None:
    a = expressions.random_program(7, expressions.BASIC)
    assert a == expressions.random_program(7, expressions.BASIC)
    assert a != expressions.random_program(8, expressions.BASIC)
    assert set(a.ops) <= set(expressions.BASIC)
    single = expressions.single_op_program("rsub")
    assert [s.op for s in single.steps] == ["rsub"] and single.n_inputs == 2


def test_every_register_as_outputs() -> None:
    program = expressions.random_program(3, expressions.DUAL, n_inputs=2, n_steps=7)
    symbols = sympy.symbols("x0:2")
    outputs = program.run([Sym(s) for s in symbols], every=True)
    assert len(outputs) == 7
    point = dict(zip(symbols, program.x, strict=True))
    np.testing.assert_allclose(program.run_float(program.x, every=True), [float(o.e.subs(point)) for o in outputs],
                               rtol=1e-12)
    assert program.run_float(program.x, every=True)[-1] == program.run_float(program.x)


def test_run_refuses_the_wrong_number_of_inputs_and_unknown_ops() -> None:
    program = expressions.random_program(0, n_inputs=2)
    with pytest.raises(ValueError, match="2 inputs"):
        program.run([1.0])
    with pytest.raises(ValueError, match="unknown"):
        expressions.random_program(0, ["cosh"])


@pytest.mark.parametrize(("op", "text"), [("rsub", "= 2 - v0"), ("sub_c", "= v0 - (-1.5)"), ("neg", "= -v0"),
                                          ("pow_c", "= v0 ** 2"), ("tanh", "= tanh(v0)")])
def test_step_text(op: str, text: str) -> None:
    const = {"rsub": 2.0, "sub_c": -1.5, "pow_c": 2.0}.get(op)
    assert expressions.Step(op, (0,), const).text(1) == "v1 " + text


def test_check_gradient_passes_an_exact_engine() -> None:
    for seed in range(4):
        program = expressions.random_program(seed, expressions.ALL, n_steps=8)
        expressions.check_gradient(program, sympy_gradient)


def test_check_gradient_names_the_broken_operation() -> None:
    class BadRsub(Sym):
        def __rsub__(self, o):  # the classic slip: 2 - v computed as v - 2
            return self._new(self.e - self._w(o))

    def bad_engine(program: expressions.Program) -> list[float]:
        symbols = sympy.symbols(f"x0:{program.n_inputs}")
        out = program.run([BadRsub(s) for s in symbols])
        point = dict(zip(symbols, program.x, strict=True))
        return [float(sympy.diff(out.e, s).subs(point)) for s in symbols]

    program = expressions.Program(2, (expressions.Step("mul", (0, 1)), expressions.Step("rsub", (2,), 3.0)),
                                  (0.5, 1.5))
    with pytest.raises(checks.CheckFailure, match=r"rsub \(v2 = .* - v.\)") as failure:
        expressions.check_gradient(program, bad_engine)
    assert "v3 = 3 - v2" in str(failure.value) and "mul" not in str(failure.value).split("wrong gradient:")[1]


def test_check_gradient_points_at_accumulation_when_every_op_is_right_alone() -> None:
    def forgets_reuse(program: expressions.Program) -> list[float]:
        grad = sympy_gradient(program)
        return grad if len(program.steps) == 1 else [g / 2 for g in grad]

    program = expressions.random_program(1, expressions.BASIC, n_steps=6)
    with pytest.raises(checks.CheckFailure, match=r"\+=") as failure:
        expressions.check_gradient(program, forgets_reuse, hint="Extra hint.")
    assert str(failure.value).endswith("Extra hint.")


def test_an_engine_that_raises_makes_its_op_a_suspect() -> None:
    def no_log(program: expressions.Program) -> list[float]:
        if "log" in program.ops:
            raise AttributeError("'Value' object has no attribute 'log'")
        return sympy_gradient(program)

    program = expressions.Program(1, (expressions.Step("log", (0,)), expressions.Step("tanh", (1,))), (1.5,))
    assert expressions.suspects(program, no_log) == ["log"]
