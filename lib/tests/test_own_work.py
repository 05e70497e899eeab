"""`calcml.own_work`: the in-kernel check that an exercise's code reaches none of the course's reference tools."""

from __future__ import annotations

import textwrap

import pytest

from calcml import checks, own_work

NOTEBOOK = '''
import math
import numpy as np
import sympy as sp
from calcml import checks, numdiff

def central(f, x, h=1e-5):
    return (f(x + h) - f(x - h)) / (2 * h)

def uses_constant(f, x):
    return central(f, x) if checks.RTOL > 0 else math.nan

def direct(f, x):
    return numdiff.derivative(f, x)

def through_helper(f, x):
    return direct(f, x)

nd = numdiff

def through_alias(f, x):
    return nd.derivative(f, x)

def symbolic(x):
    t = sp.Symbol("t")
    return float(sp.diff(t ** 2, t).subs(t, x))

def finite_differences_of_numpy(f, x):
    return np.gradient(f(x))

def imports_inside(f, x):
    import mpmath
    return float(mpmath.diff(f, x))

def imports_submodule(f, x):
    import calcml.numdiff as tool
    return tool.derivative(f, x)

def in_a_default(f, x, d=sp.diff):
    return d(f, x)

def make_closure():
    d = numdiff.derivative
    def inner(f, x):
        return d(f, x)
    return inner

closure = make_closure()

class Engine:
    def backward(self, f, x):
        return numdiff.gradient(f, x)

class Clean:
    @staticmethod
    def slope(f, x):
        return central(f, x) + np.exp(0.0) - 1.0
'''


@pytest.fixture(scope="module")
def namespace() -> dict:
    space = {"__name__": "__main__"}
    exec(compile(textwrap.dedent(NOTEBOOK), "<notebook>", "exec"), space)  # noqa: S102
    return space


@pytest.mark.parametrize("name", ["central", "uses_constant", "Clean"])
def test_code_that_does_its_own_work_passes(namespace, name) -> None:
    assert own_work.tools_reached(namespace, (name,)) == []
    own_work.check(namespace, (name,))


@pytest.mark.parametrize(("name", "tool"), [
    ("direct", "calcml.numdiff.derivative"), ("through_helper", "calcml.numdiff.derivative"),
    ("through_alias", "calcml.numdiff.derivative"), ("symbolic", "sympy"), ("finite_differences_of_numpy",
                                                                              "numpy.gradient"),
    ("imports_inside", "mpmath"), ("imports_submodule", "calcml.numdiff"), ("in_a_default", "sympy"),
    ("closure", "calcml.numdiff.derivative"), ("Engine", "calcml.numdiff.gradient"),
])
def test_a_reference_tool_is_found_wherever_the_code_reaches_it(namespace, name, tool) -> None:
    reached = own_work.tools_reached(namespace, (name,))
    assert any(found.startswith(tool) for found in reached), reached
    with pytest.raises(checks.CheckFailure, match=f"{name} uses .*compute it yourself"):
        own_work.check(namespace, (name,))


def test_a_missing_name_is_left_to_the_numbers(namespace) -> None:
    assert own_work.tools_reached(namespace, ("not_written_yet",)) == []


def test_what_only_draws_or_logs_is_no_tool_and_what_computes_is() -> None:
    space = {"__name__": "__main__"}
    exec(compile("from calcml import graph_explorer, plots\n"  # noqa: S102
                 "def logs(node):\n    return graph_explorer.BackwardStep, plots.new_axes\n"
                 "def computes(method):\n    return plots.optimal_step(method)\n", "<notebook>", "exec"), space)
    assert own_work.tools_reached(space, ("logs",)) == []
    assert own_work.tools_reached(space, ("computes",)) == ["calcml.plots.optimal_step"]


@pytest.mark.parametrize(("path", "tool"), [("calcml.numdiff.derivative", True), ("calcml.checks.RTOL", False),
                                            ("calcml.checks", True), ("sympy.diff", True), ("numpy.gradient", True),
                                            ("numpy.exp", False), ("math.exp", False), ("calcml.graph.draw", False),
                                            ("calcml.graph.check_topological_order", True)])
def test_is_tool_path(path, tool) -> None:
    assert own_work.is_tool_path(path) is tool


def test_a_library_s_own_state_is_not_the_student_s_code() -> None:
    """`warnings.filters` holds sympy's warning classes once sympy is imported: reading `warnings.warn` must not
    make a correct answer "use sympy"."""
    space = {"__name__": "__main__"}
    exec(compile("import warnings\nimport numpy as np\nimport sympy\n"  # noqa: S102
                 "def stack(rows):\n    warnings.warn('stacked', DeprecationWarning)\n    return np.vstack(rows)\n",
                 "<notebook>", "exec"), space)
    assert own_work.tools_reached(space, ("stack",)) == []
