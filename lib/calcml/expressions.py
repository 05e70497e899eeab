r"""Random expression programs: one computation, run on floats, on autograd values or on dual numbers.

A `Program` is a straight-line list of steps. Registers `v0, ..., v{k-1}` hold the inputs and every step
writes one new register from earlier ones, for example

    v3 = v0 * v1; v4 = tanh(v3); v5 = v4 + v0; v6 = 2 - v5

A step may read any earlier register, so registers are reused (fan-out) and a program is a DAG, not a tree.
Its output is the last register. The same program runs on anything that has the operations: `run_float`
on NumPy floats (the reference, which `numdiff` differentiates) and `run` on a learner's autograd values or
dual numbers, whose reflected operators it exercises too (`2 - v` calls `v.__rsub__(2)`).

`random_program` draws programs at points that keep every step away from kinks (relu at 0) and domain
edges (log of $x \le 0$, $a^b$ with a variable exponent and a base $a \le 0$, division by nearly 0), and
keeps only programs whose numerical gradient is smooth, so `numdiff` is a trustworthy reference.
`check_gradient` compares an engine's gradient with it and, on failure, runs each operation alone to name
the culprit.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from calcml import checks, numdiff

_BINARY = {"add": operator.add, "sub": operator.sub, "mul": operator.mul, "div": operator.truediv,
           "pow": operator.pow}
_REFLECTED = {"r" + name: fn for name, fn in _BINARY.items()}
_SYMBOL = {"add": "+", "sub": "-", "mul": "*", "div": "/", "pow": "**"}
_FLOAT = {"exp": np.exp, "log": np.log, "tanh": np.tanh, "sin": np.sin,
          "relu": lambda a: np.maximum(a, 0.0), "sigmoid": lambda a: 1.0 / (1.0 + np.exp(-a))}

#: `+` and `*` between values, or with a number on the right: all that `v + 2` and `v * w` need.
BASIC: tuple[str, ...] = ("add", "mul", "add_c", "mul_c")
#: Every arithmetic operation: `_c` has a constant on the right (`v - 2`), `r` on the left (`2 - v`).
ARITHMETIC: tuple[str, ...] = BASIC + ("neg", "sub", "div", "pow", "sub_c", "div_c", "pow_c",
                                       "radd", "rsub", "rmul", "rdiv", "rpow")
#: The elementary functions of an autograd value, called as methods (`v.tanh()`).
FUNCTIONS: tuple[str, ...] = ("exp", "log", "tanh", "relu", "sigmoid")
#: Everything an autograd `Value` of the course supports.
ALL: tuple[str, ...] = ARITHMETIC + FUNCTIONS
#: Everything a dual number of the course supports.
DUAL: tuple[str, ...] = ARITHMETIC + ("exp", "log", "tanh", "sin")
_KNOWN = frozenset(ALL + DUAL)


@dataclass(frozen=True)
class Step:
    """One step `v_new = op(v_a[, v_b])`, or with the constant `const` on the side that the op's name says."""

    op: str
    args: tuple[int, ...]
    const: float | None = None

    def apply(self, regs: Sequence[Any], on_floats: bool = False) -> Any:
        """This step on the registers `regs`: floats (NumPy functions) or values with methods."""
        a, op, c = regs[self.args[0]], self.op, self.const
        if op in _BINARY:
            return _BINARY[op](a, regs[self.args[1]])
        if op.endswith("_c"):
            return _BINARY[op[:-2]](a, int(c) if op == "pow_c" and float(c).is_integer() else c)
        if op in _REFLECTED:
            return _REFLECTED[op](c, a)
        if op == "neg":
            return -a
        return _FLOAT[op](a) if on_floats else getattr(a, op)()

    def text(self, out: int) -> str:
        """The step as code, such as `v4 = 2 - v3`."""
        a, op, c = f"v{self.args[0]}", self.op, _number(self.const)
        if op in _BINARY:
            return f"v{out} = {a} {_SYMBOL[op]} v{self.args[1]}"
        if op.endswith("_c"):
            return f"v{out} = {a} {_SYMBOL[op[:-2]]} {c}"
        if op in _REFLECTED:
            return f"v{out} = {c} {_SYMBOL[op[1:]]} {a}"
        return f"v{out} = -{a}" if op == "neg" else f"v{out} = {op}({a})"


@dataclass(frozen=True)
class Program:
    """A straight-line program over `n_inputs` inputs, and a point `x` where it is smooth and well defined."""

    n_inputs: int
    steps: tuple[Step, ...]
    x: tuple[float, ...]

    def run(self, inputs: Sequence[Any], *, every: bool = False) -> Any:
        """The output (last register) for `inputs`: autograd values, dual numbers or plain numbers.

        With `every=True`, the list of every step's register instead: a function with many outputs.
        """
        regs = list(inputs)
        if len(regs) != self.n_inputs:
            raise ValueError(f"this program takes {self.n_inputs} inputs, not {len(regs)}")
        for step in self.steps:
            regs.append(step.apply(regs))
        return regs[self.n_inputs:] if every else regs[-1]

    def run_float(self, x: ArrayLike, *, every: bool = False, nudge: tuple[int, float] | None = None) -> Any:
        """`run` on the input vector `x` with NumPy floats: the reference for `numdiff` (an array if `every`).

        `nudge = (k, t)` adds `t` to register `k` (a step's register, `k >= n_inputs`) as soon as it is computed,
        so that every later step reads the nudged value: the derivative in `t` at 0 is the adjoint of register `k`.
        """
        regs = [np.float64(v) for v in np.asarray(x, dtype=np.float64).ravel()]
        for step in self.steps:
            regs.append(np.float64(step.apply(regs, on_floats=True)))
            if nudge is not None and nudge[0] == len(regs) - 1:
                regs[-1] = np.float64(regs[-1] + np.float64(nudge[1]))
        return np.array(regs[self.n_inputs:]) if every else float(regs[-1])

    def register_adjoints(self) -> NDArray[np.float64]:
        """The derivative of the output with respect to every step's register (the adjoints `v.grad` of the
        intermediate nodes after a backward pass), each by `numdiff` on a nudge of that register alone."""
        x = np.array(self.x)
        return np.array([numdiff.derivative(lambda t, k=k: self.run_float(x, nudge=(k, float(t))), 0.0)
                         for k in range(self.n_inputs, self.n_inputs + len(self.steps))])

    @property
    def ops(self) -> tuple[str, ...]:
        """The operations the program uses, each once, in the order of `ALL` and `DUAL`."""
        used = {s.op for s in self.steps}
        return tuple(op for op in dict.fromkeys(ALL + DUAL) if op in used)

    def __str__(self) -> str:
        return "; ".join(step.text(self.n_inputs + i) for i, step in enumerate(self.steps))


def random_program(seed: int, ops: Sequence[str] = ALL, *, n_inputs: int = 3, n_steps: int = 12) -> Program:
    """A random program using `ops`, with reused registers, at a point where it is smooth.

    Half of the steps (and the last one) extend the deepest register, which makes long chains; the other
    operands are any earlier register, which makes reuse (a step may even read one register twice, as in
    `v * v`). The output depends on the inputs: its gradient is between 1e-3 and 1e4 in size.

    Args:
        seed: Seed of the random generator; the same seed gives the same program.
        ops: Names of the operations to draw from (see `ALL`, `DUAL`, `ARITHMETIC`, `BASIC`, `FUNCTIONS`).
        n_inputs: Number of inputs.
        n_steps: Number of steps (at least 1).

    Returns:
        The program, with its point `x`.
    """
    unknown = set(ops) - _KNOWN
    if unknown or not ops or n_steps < 1 or n_inputs < 1:
        raise ValueError(f"need known ops (unknown: {sorted(unknown)}), n_steps >= 1 and n_inputs >= 1")
    rng = np.random.default_rng(seed)
    for _ in range(200):
        x = np.round(rng.uniform(-2.0, 2.0, n_inputs), 2)
        steps = _draw_steps(rng, list(ops), [float(v) for v in x], n_steps)
        if steps is not None:
            program = Program(n_inputs, tuple(steps), tuple(float(v) for v in x))
            if _smooth(program):
                return program
    raise RuntimeError(f"no smooth program found for ops {list(ops)}; allow more operations")  # pragma: no cover


def single_op_program(op: str, seed: int = 0) -> Program:
    """A program of one step, `op` applied to fresh inputs `v0` (and `v1`): the operation on its own."""
    return random_program(seed, [op], n_inputs=2, n_steps=1)


def check_gradient(program: Program, grad_fn: Callable[[Program], Any], *, what: str = "gradient",
                   hint: str = "") -> None:
    """Check `grad_fn(program)`, an engine's gradient of the output at `program.x`, against `numdiff`.

    Args:
        program: The program.
        grad_fn: Runs the program on the engine's values at `program.x` and returns the gradient of the
            output with respect to every input (a sequence of `program.n_inputs` numbers).
        what: What the gradient is called in the message.
        hint: A sentence added to a failure message.

    Raises:
        checks.CheckFailure: If the gradient is wrong. The message quotes the program and names every
            operation whose gradient is already wrong on its own, or, when each is right alone, points at
            how gradients are combined (accumulation and order).
    """
    expected = numdiff.gradient(program.run_float, np.array(program.x))
    where = f"for the program {program}, {checks.describe_point(program.x)}"
    try:
        checks.assert_close(grad_fn(program), expected, what=what, where=where)
    except checks.CheckFailure as failure:
        bad = suspects(program, grad_fn)
        if bad:
            cause = ("Run alone, these operations already give a wrong gradient: "
                     + "; ".join(f"{op} ({single_op_program(op).steps[0].text(2)})" for op in bad) + ".")
        else:
            cause = ("Every operation in it is right on its own, so look at how gradients combine: is each "
                     "contribution added (+=), so that a value used twice collects both, and does every node "
                     "pass its gradient on only after all the nodes that use it have (a topological order)?")
        raise checks.CheckFailure(f"{failure} {cause}" + (f" {hint}" if hint else "")) from None


def suspects(program: Program, grad_fn: Callable[[Program], Any]) -> list[str]:
    """The operations of `program` whose gradient is wrong (or raises) when each runs alone, on 3 points."""
    bad = []
    for op in program.ops:
        for seed in range(3):
            single = single_op_program(op, seed)
            try:
                expected = numdiff.gradient(single.run_float, np.array(single.x))
                wrong = checks.relative_error(np.asarray(grad_fn(single), dtype=np.float64), expected) > checks.RTOL
            except Exception:  # any failure of the learner's code on the op alone makes it a suspect
                wrong = True
            if wrong:
                bad.append(op)
                break
    return bad


def _draw_steps(rng: np.random.Generator, ops: list[str], values: list[float], n_steps: int) -> list[Step] | None:
    """Steps valid at the input `values` (extended in place with each register's value), or None."""
    steps, depth = [], [0] * len(values)
    for k in range(n_steps):
        deepest = len(depth) - 1 - int(np.argmax(depth[::-1]))
        for _ in range(100):
            op = str(rng.choice(ops))
            a = deepest if k == n_steps - 1 or rng.random() < 0.5 else int(rng.integers(len(values)))
            b = a if rng.random() < 0.15 else int(rng.integers(len(values)))
            step = Step(op, (a, b) if op in _BINARY else (a,), _constant(rng, op))
            # A relu of a negative number cuts every path through it; allow it, but rarely.
            dead = op == "relu" and values[a] < 0 and rng.random() < 0.75
            if not dead and _valid(step, values):
                values.append(float(step.apply([np.float64(v) for v in values], on_floats=True)))
                depth.append(1 + max(depth[i] for i in step.args))
                steps.append(step)
                break
        else:
            return None
    return steps


def _number(c: float | None) -> str:
    """A constant as code: `2`, `0.5`, or `(-1.3)` in parentheses so `v - (-1.3)` reads right."""
    return "" if c is None else f"({c:g})" if c < 0 else f"{c:g}"


def _constant(rng: np.random.Generator, op: str) -> float | None:
    if op == "pow_c":
        return float(rng.choice([2.0, 3.0, -1.0, -2.0, 0.5, 1.5]))
    if op == "rpow":
        return float(np.round(rng.choice([rng.uniform(0.4, 0.8), rng.uniform(1.3, 3.0)]), 2))
    if op.endswith("_c") or op in _REFLECTED:
        return float(np.round(rng.choice([-1.0, 1.0]) * rng.uniform(0.5, 2.5), 2))
    return None


def _valid(step: Step, values: list[float]) -> bool:
    """Whether `step` is safely inside its domain (away from kinks and edges) and keeps values moderate."""
    a = values[step.args[0]]
    b = values[step.args[1]] if len(step.args) > 1 else None
    op, c = step.op, step.const
    rules = {
        "log": a > 0.25, "relu": abs(a) > 0.25, "exp": abs(a) < 2.5,
        "div": b is not None and abs(b) > 0.5, "rdiv": abs(a) > 0.5, "rpow": abs(a) < 3.0,
        "pow": b is not None and 0.25 < a < 5.0 and abs(b) < 2.5,
        "pow_c": c is not None and (a > 0.25 if not float(c).is_integer() else (c > 0 or abs(a) > 0.5)),
    }
    if not rules.get(op, True):
        return False
    with np.errstate(all="ignore"):
        result = float(step.apply([np.float64(v) for v in values], on_floats=True))
    return bool(np.isfinite(result) and abs(result) < 20.0)


def _smooth(program: Program) -> bool:
    """Two numerical gradients (orders 2 and 4) agree and are moderate: no kink, blow-up or dead output."""
    x = np.array(program.x)
    with np.errstate(all="ignore"):
        fine, coarse = numdiff.gradient(program.run_float, x), numdiff.gradient(program.run_float, x, order=2)
    size = float(np.max(np.abs(fine)))
    return bool(np.all(np.isfinite(fine)) and 1e-3 < size < 1e4 and checks.relative_error(coarse, fine) < 1e-6)
