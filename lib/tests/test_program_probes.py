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
