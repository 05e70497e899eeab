"""`grading.mechanism.tools` and `rules.own_work`: out of the kernel, the code reachable from an exercise's
functions uses none of the course's reference tools, however it reaches them; correct code always passes."""

from __future__ import annotations

import pytest

from calcml import checks
from grading import exercises
from grading.mechanism import StudentCode, rules, tools

UNIT = "01_derivatives"
CORRECT = "def d_ratio(f, g, df, dg, x):\n    return (df(x) * g(x) - f(x) * dg(x)) / g(x) ** 2\n"


def _check(*cells: str, name: str = "d_ratio", unit: str = UNIT) -> None:
    rules.own_work((name,), unit)(StudentCode(solutions={}, cells=cells))


@pytest.mark.parametrize("cells", [
    (CORRECT,),
    (CORRECT.replace("** 2", "** 2 * checks.RTOL / checks.RTOL"),),  # a constant of calcml is a number
    ("def d_ratio(f, g, df, dg, x, sp=2.0):\n    return (df(x) * g(x) - f(x) * dg(x)) / g(x) ** sp\n",),
    ("t = sp.Symbol('t')\nprint(sp.diff(t ** 2, t), numdiff.derivative(np.sin, 0.0))\n", CORRECT),  # scratch work
    ("from calcml.checks import RTOL\n", CORRECT.replace("** 2", "** 2 * RTOL / RTOL")),
], ids=["plain", "constant", "parameter-named-sp", "scratch-cell", "imported-constant"])
def test_correct_code_passes(cells) -> None:
    _check(*cells)


@pytest.mark.parametrize("cells", [
    ("def d_ratio(f, g, df, dg, x):\n    return numdiff.derivative(lambda t: f(t) / g(t), x)\n",),
    ("D = numdiff.derivative\n\ndef d_ratio(f, g, df, dg, x):\n    return D(lambda t: f(t) / g(t), x)\n",),
    ("T = {'d': numdiff.derivative}\n\ndef d_ratio(f, g, df, dg, x):\n    return T['d'](lambda t: f(t) / g(t), x)\n",),
    ("def d_ratio(f, g, df, dg, x):\n    t = sp.Symbol('t')\n    return float(sp.diff(t, t))\n",),
    ("from sympy import diff as dd\n\ndef d_ratio(f, g, df, dg, x):\n    return dd(x)\n",),
    ("def d_ratio(f, g, df, dg, x):\n    import mpmath\n    return mpmath.diff(lambda t: f(t) / g(t), x)\n",),
    ("def d_ratio(f, g, df, dg, x):\n    return np.gradient([f(x), g(x)])[0]\n",),
    ("def helper(f, x):\n    return numdiff.derivative(f, x)\n\ndef d_ratio(f, g, df, dg, x):\n"
     "    return helper(lambda t: f(t) / g(t), x)\n",),
    ("def d_ratio(f, g, df, dg, x, d=sp.diff):\n    return d(f, x)\n",),
    ("class Rules:\n    def ratio(self, f, g, x):\n        return numdiff.derivative(lambda t: f(t) / g(t), x)\n\n"
     "def d_ratio(f, g, df, dg, x):\n    return Rules().ratio(f, g, x)\n",),
], ids=["direct", "alias", "table", "sympy", "from-import", "import-inside", "np-gradient", "helper", "default",
        "method"])
def test_a_tool_is_found_however_it_is_reached(cells) -> None:
    with pytest.raises(checks.CheckFailure, match="check an answer; they cannot be the answer"):
        _check(*cells)


@pytest.mark.parametrize("cell", ["from calcml.numdiff import derivative as d_ratio\n",
                                  "d_ratio = numdiff.derivative\n"])
def test_an_exercise_function_taken_from_a_tool_fails(cell) -> None:
    with pytest.raises(checks.CheckFailure, match="imported or assigned"):
        _check(cell)


def test_code_that_hides_its_calls_fails_closed() -> None:
    with pytest.raises(checks.CheckFailure, match="cannot follow"):
        _check("def d_ratio(f, g, df, dg, x):\n    return globals()['num' + 'diff'].derivative(f, x)\n")


def test_the_release_s_own_helpers_that_use_a_tool_count_as_tools() -> None:
    bound = tools.release_bindings("04_computational_graphs")
    helpers = [name for name, paths in bound.items() if paths == {"calcml"}]
    assert helpers, "unit 04's release defines helpers over calcml.graph"
    with pytest.raises(checks.CheckFailure, match=helpers[0]):
        _check(f"def count_paths(graph):\n    return {helpers[0]}\n", name="count_paths",
               unit="04_computational_graphs")


def test_every_exercise_s_probe_checks_its_functions() -> None:
    probe = exercises.load_probes(UNIT)["01_derivatives-d_ratio"]
    code = StudentCode(solutions={}, cells=("def d_ratio(f, g, df, dg, x):\n    return numdiff.derivative(f, x)\n",))
    with pytest.raises(checks.CheckFailure, match="numdiff.derivative"):
        probe.mechanism(code)
    probe.mechanism(StudentCode(solutions={}, cells=(CORRECT,)))


def test_a_release_helper_that_only_logs_is_no_tool() -> None:
    bound = tools.release_bindings("04_computational_graphs")
    assert "contribute" in source_names("04_computational_graphs") and "contribute" not in bound
    _check("def backward(root):\n    contribute(root, root, 1.0)\n    return graph_explorer.BackwardStep\n",
           name="backward", unit="04_computational_graphs")


def source_names(unit_id: str) -> set[str]:
    """The top-level functions the release of `unit_id` defines."""
    import ast

    import nbformat

    from grading import manifest

    release = nbformat.read(manifest.release_notebook(manifest.unit(unit_id)), as_version=4)
    return {node.name for cell in release.cells if cell.cell_type == "code"
            for node in ast.parse(cell.source).body if isinstance(node, ast.FunctionDef)}
