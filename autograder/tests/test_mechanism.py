"""`grading.mechanism`: static checks of the student's source, in the grader's process, that fail closed."""

from __future__ import annotations

import ast
import textwrap
import time

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from calcml import checks
from grading import exercises, manifest, mechanism, submissions


def code(*cells: str) -> mechanism.StudentCode:
    return mechanism.StudentCode(solutions={}, cells=tuple(textwrap.dedent(c) for c in cells))


# ------------------------------------------------------------------------------------------------ reading notebooks


def test_student_code_keeps_what_the_student_wrote_and_nothing_else() -> None:
    entry = manifest.unit("04_computational_graphs")
    release = submissions.release(entry)
    notebook = submissions.solved(entry)
    notebook.cells.append(new_code_cell("mine = 1"))
    found = mechanism.student_code(notebook, release)
    written = {e.grade_id for e in exercises.read(entry) if e.manual}  # markdown answers, graded by hand
    solutions = {k: v for k, v in submissions.solution_cells(entry).items() if k not in written}
    assert set(found.solutions) == set(solutions)
    assert found.cells == (*solutions.values(), "mine = 1")
    assert not any("BEGIN HIDDEN" in cell or "check_topological_sort(" in cell for cell in found.cells)


def test_student_code_sees_an_edited_narrative_cell_but_not_an_edited_locked_one() -> None:
    entry = manifest.unit("04_computational_graphs")
    release = submissions.release(entry)
    notebook = submissions.solved(entry)
    narrative = next(c for c in notebook.cells if c.cell_type == "code" and not c.metadata.get("nbgrader"))
    narrative.source += "\nextra = 2"
    helpers = next(c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("locked")
                   and not c.metadata["nbgrader"].get("grade"))
    helpers.source = "def sneaky(): return sneaky()"
    cells = mechanism.student_code(notebook, release).cells
    assert narrative.source in cells
    assert helpers.source not in cells  # the probe process runs the release's source of a locked cell


@pytest.mark.parametrize("hostile", [
    None, 3, "text", [], {"cells": "nope"}, {"cells": [None, 1, "x", {"cell_type": "code", "source": 7}]},
    {"cells": [{"cell_type": "code", "source": ["a = 1\n", 2, None], "metadata": "junk"}]},
    {"cells": [{"cell_type": "code", "source": "b = 2", "metadata": {"nbgrader": ["x"]}}]},
    {"cells": [{"cell_type": "code", "source": "c = 3",
                "metadata": {"nbgrader": {"solution": True, "grade_id": {"not": "a string"}}}}]},
])
def test_student_code_never_raises_on_a_hostile_notebook(hostile) -> None:
    release = submissions.release(manifest.unit("01_derivatives"))
    found = mechanism.student_code(hostile, release)
    assert isinstance(found, mechanism.StudentCode)
    assert all(isinstance(cell, str) for cell in found.cells)
    mechanism.student_code(hostile, hostile)  # a hostile release too


def test_student_code_reads_nbformat_notebooks_and_markdown_is_ignored() -> None:
    notebook = new_notebook(cells=[new_markdown_cell("# hi"), new_code_cell("x = 1")])
    found = mechanism.student_code(nbformat.from_dict(notebook), new_notebook())
    assert found.cells == ("x = 1",)


# ---------------------------------------------------------------------------------------------- bounded parsing


def test_a_100000_deep_expression_fails_closed_with_a_clear_message() -> None:
    for source in ["x = " + "-" * 100_000 + "1", "x = " + "1 + " * 100_000 + "1", "y = " + "a." * 100_000 + "b"]:
        with pytest.raises(checks.CheckFailure, match="could not be analysed"):
            mechanism.no_recursion("f")(code(source, "def f():\n    return 1\n"))


def test_deep_but_parseable_code_is_walked_without_recursion() -> None:
    deep = "def f(x):\n    return np.exp(" + "-(" * 90 + "x" + ")" * 90 + ")\n"
    tree = mechanism.parse(deep)
    assert sum(1 for _ in mechanism.walk(tree)) > 180
    with pytest.raises(checks.CheckFailure, match="exponential"):
        mechanism.no_overflowing_exp("f")(code(deep))
    chained = "def f(x):\n    return " + " + ".join(["x"] * 900) + "\n"  # a 900-deep tree of BinOps
    mechanism.no_recursion("f")(code(chained))


def test_a_10_megabyte_cell_fails_closed_quickly() -> None:
    huge = "x = 1\n" * (10_000_000 // 6)
    start = time.monotonic()
    with pytest.raises(checks.CheckFailure, match="could not be analysed"):
        mechanism.no_recursion("f")(code(huge, "def f():\n    return 1\n"))
    assert time.monotonic() - start < 5


def test_cells_that_are_not_python_are_skipped_as_the_probe_process_skips_them() -> None:
    assert mechanism.parse("def (:") is None
    assert mechanism.parse("x = 1\x00") is None
    mechanism.no_recursion("f")(code("def (:", "%time 1 + 1", "def f():\n    return 1\n"))


def test_walk_uses_an_explicit_stack() -> None:
    tree = ast.parse("a = [1, [2, [3]]]")
    kinds = [type(node).__name__ for node in mechanism.walk(tree)]
    assert kinds[0] == "Module" and kinds.count("Constant") == 3


# ---------------------------------------------------------------------------------------------------- recursion

RECURSIVE = {
    "direct": """
        def f(node):
            for p in node._prev:
                f(p)
        """,
    "nested": """
        def f(root):
            def visit(n):
                for p in n._prev:
                    visit(p)
            visit(root)
        """,
    "mutual": """
        def f(n):
            return g(n)

        def g(n):
            return [f(p) for p in n._prev]
        """,
    "module alias": """
        def walk(n):
            return [again(p) for p in n._prev]

        again = walk

        def f(root):
            return walk(root)
        """,
    "method": """
        class Walker:
            def visit(self, n):
                return [self.visit(p) for p in n._prev]

        def f(root):
            return Walker().visit(root)
        """,
    "attribute alias": """
        def step(n):
            return [p.go() for p in n._prev]

        def f(root):
            type(root).go = step
            return root.go()
        """,
    "lambda": """
        visit = lambda n: [visit(p) for p in n._prev]

        def f(root):
            return visit(root)
        """,
    "generator": """
        def f(n):
            yield n
            for p in n._prev:
                yield from f(p)
        """,
    "class": """
        class Visit:
            def __init__(self, n):
                self.children = [Visit(p) for p in n._prev]

        def f(root):
            return Visit(root)
        """,
}


@pytest.mark.parametrize("kind", RECURSIVE)
def test_recursion_is_found(kind) -> None:
    student = code(RECURSIVE[kind])
    assert mechanism.defines_recursion(student, "f"), kind
    with pytest.raises(checks.CheckFailure, match="recursive"):
        mechanism.no_recursion("f")(student)


HIDDEN = {
    "y combinator": """
        def f(root):
            Y = lambda g: (lambda h: g(lambda n: h(h)(n)))(lambda h: g(lambda n: h(h)(n)))
            return Y(lambda self: lambda n: [self(p) for p in n._prev])(root)
        """,
    "variable": """
        def f(root):
            holder = []
            def visit(n):
                return [holder[0](p) for p in n._prev]
            holder.append(visit)
            return visit(root)
        """,
    "getattr": """
        def f(root):
            return getattr(root, "vi" + "sit")()
        """,
    "globals": """
        def f(root):
            return globals()["f"](root._prev[0])
        """,
    "frames": """
        import sys
        def f(root):
            return sys._getframe().f_code
        """,
    "gc": """
        import gc
        def f(root):
            return gc.get_objects()
        """,
    "dunder": """
        def f(root):
            root.__class__.__hash__ = lambda self: hash(self._prev)
            return [root]
        """,
}


@pytest.mark.parametrize("kind", HIDDEN)
def test_what_hides_recursion_fails_closed(kind) -> None:
    with pytest.raises(checks.CheckFailure, match="cannot|recursive"):
        mechanism.no_recursion("f")(code(HIDDEN[kind]))


def test_iterative_code_passes_and_scratch_cells_do_not_confuse_it() -> None:
    student = code("""
        from collections import deque

        def topological_sort(root):
            order, seen, stack = [], set(), [(root, False)]
            while stack:
                node, done = stack.pop()
                if done:
                    order.append(node)
                elif node not in seen:
                    seen.add(node)
                    stack.append((node, True))
                    stack.extend((p, False) for p in node._prev if p not in seen)
            return order
        """, "order = topological_sort(x)\nprint(len(order))", """
        def backward(root, order=None):
            if order is None:
                order = topological_sort(root)
            root.grad = 1.0
            for node in reversed(order):
                for parent, local in zip(node._prev, node._local_grads):
                    parent.grad += local * node.grad
        """)
    mechanism.no_recursion("topological_sort")(student)
    mechanism.no_recursion("backward", ignore=("topological_sort",))(student)
    assert mechanism.recursion(student, "backward") == []


def test_ignored_functions_are_not_followed() -> None:
    student = code(RECURSIVE["direct"], "def g(root):\n    return f(root)\n")
    assert mechanism.defines_recursion(student, "g")
    mechanism.no_recursion("g", ignore=("f",))(student)


def test_a_missing_definition_fails_closed() -> None:
    with pytest.raises(checks.CheckFailure, match="could not find"):
        mechanism.no_recursion("f")(code("x = 1"))


def test_calls_any() -> None:
    student = code("import numpy as np\nwith np.errstate(over='ignore'):\n    sys.setrecursionlimit(5)\n")
    assert mechanism.calls_any(student, ["errstate", "sys.setrecursionlimit", "seterr"]) == [
        "errstate", "sys.setrecursionlimit"]


# ---------------------------------------------------------------------------------------------- exponentials


@pytest.mark.parametrize("body", [
    "small = np.exp(-np.abs(x))\n    return np.where(x >= 0, 1 / (1 + small), small / (1 + small))",
    "return np.exp(-np.logaddexp(0.0, -x))",
    "a = np.minimum(x, 0)\n    b = np.minimum(-x, 0)\n    return np.exp(a) / (np.exp(a) + np.exp(b))",
    "return 0.5 * (1 + np.tanh(x / 2))",
    "return np.exp(np.clip(x, -700, 0)) ** 2 * math.e ** -np.abs(x)",
])
def test_safe_exponentials_pass(body) -> None:
    mechanism.no_overflowing_exp("d")(code(f"import math\nimport numpy as np\ndef d(x):\n    {body}\n"))


@pytest.mark.parametrize("body", [
    "return np.where(x >= 0, 1 / (1 + np.exp(-x)), np.exp(x) / (1 + np.exp(x)))",
    "return 1 / (1 + np.exp(-x))",
    "return 1 / (1 + helper(x))",
    "e = np.exp\n    return 1 / (1 + e(-x))",
    "return 1 / (1 + np.e ** -x)",
    "return 1 / (1 + np.cosh(x))",
    "return np.vectorize(math.exp)(x)",
])
def test_overflowing_exponentials_fail(body) -> None:
    student = code(f"import math\nimport numpy as np\ndef helper(t):\n    return np.exp(-t)\ndef d(x):\n    {body}\n")
    with pytest.raises(checks.CheckFailure):
        mechanism.no_overflowing_exp("d")(student)


@pytest.mark.parametrize(("patch", "body"), [
    ("np.abs = lambda t: -t", "np.exp(-np.abs(x))"),
    ("import numpy\nnumpy.absolute = lambda t: -t", "np.exp(-np.abs(x))"),
    ("abs = lambda t: -t", "np.exp(-abs(x))"),
    ("import fakenumpy as np", "np.exp(-np.abs(x))"),
    ("setattr(np, 'ab' + 's', None)", "np.exp(-np.abs(x))"),
    ("m = np\nm.minimum = np.maximum", "np.exp(np.minimum(x, 0))"),
    ("vars(np)['abs'] = lambda t: t", "np.exp(-np.abs(x))"),
])
def test_changing_the_functions_the_signs_rely_on_fails_closed(patch, body) -> None:
    student = code("import numpy as np", patch, f"def d(x):\n    return {body}\n")
    with pytest.raises(checks.CheckFailure, match="cannot follow"):
        mechanism.no_overflowing_exp("d")(student)


# --------------------------------------------------------------------------------------------------- repairs


def test_division_guarded_by_if_passes_and_repairs_fail() -> None:
    good = """
        def s(grad_f, x):
            g = np.asarray(grad_f(x), dtype=float)
            n = np.linalg.norm(g)
            if n == 0:
                return np.zeros_like(g)
            return g / n
        """
    mechanism.no_error_repair("s")(code(good))
    for repair in ["return np.where(n > 0, g / n, 0.0)", "return np.nan_to_num(g / n)",
                   "d = g / n\n    d[d != d] = 0\n    return d",
                   "try:\n        return g / n\n    except ZeroDivisionError:\n        return 0 * g",
                   "with np.errstate(all='ignore'):\n        return g / n"]:
        bad = f"def s(grad_f, x):\n    g = grad_f(x)\n    n = np.linalg.norm(g)\n    {repair}\n"
        with pytest.raises(checks.CheckFailure, match="stationary|cannot"):
            mechanism.no_error_repair("s")(code(bad))


def test_the_instructors_solutions_pass_every_mechanism_check() -> None:
    for unit in ("01_derivatives", "02_gradients", "03_jacobians", "04_computational_graphs"):
        entry = manifest.unit(unit)
        student = mechanism.student_code(submissions.solved(entry), submissions.release(entry))
        assert mechanism.dynamic_features(student) == []
    from grading import integrity

    for unit in ("01_derivatives", "02_gradients", "04_computational_graphs"):
        entry = manifest.unit(unit)
        student = mechanism.student_code(submissions.solved(entry), submissions.release(entry))
        for probe in integrity.load_spec(unit).values():
            if probe.mechanism is not None:
                probe.mechanism(student)


# ------------------------------------------------------------------------------- narrowed rules: still strict

_WHERE = "np.where(x >= 0, 1 / (1 + {e}(-x)), {e}(x) / (1 + {e}(x)))"
HIDDEN_OVERFLOWS = {
    "dummy guard": "def d(x):\n    if x.ndim >= 0:\n        return " + _WHERE.format(e="np.exp"),
    "rebound name": "def lucky(x):\n    return " + _WHERE.format(e="np.exp") + "\ndef d(x):\n    return 0\nd = lucky",
    "getattr": "def d(x):\n    return " + _WHERE.format(e='getattr(np, "exp")'),
    "identity helper": ("def ident(t):\n    return t\ndef d(x):\n    x = ident(x)\n    return "
                        + _WHERE.format(e="np.exp")),
    "exp helper": ("def h(t):\n    return np.exp(t)\n"
                   "def d(x):\n    return np.where(x >= 0, 1 / (1 + h(-x)), h(x) / (1 + h(x)))"),
    "repaired inf": "def d(x):\n    e = np.exp(x)\n    return np.where(np.isinf(e), 1.0, e / (1 + e))",
    "power": "def d(x):\n    return np.where(x >= 0, 1 / (1 + np.power(np.e, -x)), 0.5)",
    "astype": "def d(x):\n    return np.where(x >= 0, 1 / (1 + np.exp(0 - x.astype(float))), 0.5)",
    "closure": ("def d(x):\n    def inner():\n        return np.exp(-x)\n"
                "    return np.where(x >= 0, 1 / (1 + inner()), 0.5)"),
    "method": ("class S:\n    def f(self, t):\n        return np.exp(t)\n"
               "def d(x):\n    return np.where(x >= 0, 1, S().f(x))"),
    "bare import": "from numpy import exp\ndef d(x):\n    return " + _WHERE.format(e="exp"),
    "module alias": "E = np.exp\ndef d(x):\n    return " + _WHERE.format(e="E"),
    "exec rebinding": "exec('d = lambda x: ' + 'np.exp(x)')\ndef d(x):\n    return 1",
    "globals rebinding": "def lucky(x):\n    return np.exp(-x)\ndef d(x):\n    return 1\nglobals()['d'] = lucky",
    "eval walrus": "def d(x):\n    return 1\neval('(d := lambda x: np.exp(-x))')",
}


@pytest.mark.parametrize("kind", HIDDEN_OVERFLOWS)
def test_overflows_behind_helpers_aliases_and_rebindings_are_found(kind) -> None:
    with pytest.raises(checks.CheckFailure, match="exponential"):
        mechanism.no_overflowing_exp("d")(code("import numpy as np", HIDDEN_OVERFLOWS[kind]))


_STEEP = "def s(grad_f, x):\n    g = np.asarray(grad_f(x), dtype=float)\n    n = np.linalg.norm(g)\n    {}\n"
LATE_REPAIRS = {
    "checked afterwards (ifexp)": "d = g / n\n    return d if n else np.zeros_like(g)",
    "checked afterwards (if)": "d = g / n\n    if n == 0:\n        return np.zeros_like(g)\n    return d",
    "isnan afterwards": "d = g / n\n    if np.isnan(d).any():\n        return np.zeros_like(g)\n    return d",
    "suppress": "with contextlib.suppress(FloatingPointError):\n        return g / n\n    return 0 * g",
    "fmax": "return np.fmax(g / n, -2)",
    "masked by comparison": "d = g / n\n    d[~(abs(d) <= 1)] = 0\n    return d",
    "alias of nan_to_num": "fix = np.nan_to_num\n    return fix(g / n)",
    "reciprocal": "return np.nan_to_num(g * np.reciprocal(n))",
    "negative power": "return np.nan_to_num(g * n ** -1)",
}


@pytest.mark.parametrize("kind", LATE_REPAIRS)
def test_divisions_repaired_or_checked_afterwards_fail(kind) -> None:
    with pytest.raises(checks.CheckFailure, match="stationary"):
        mechanism.no_error_repair("s")(code("import contextlib\nimport numpy as np", _STEEP.format(LATE_REPAIRS[kind])))


def test_harmless_dynamic_features_in_unrelated_cells_pass_and_global_changes_fail() -> None:
    harmless = """
        import inspect, types
        class P:
            def __repr__(self):
                return f"{type(self).__name__} {self.__class__.__name__} {self.__dict__} {vars(self)}"
        p = P()
        for k in ("a", "b"):
            setattr(p, k, getattr(p, "a", 0))
        print(eval("1 + 1"), inspect.signature(P), types.SimpleNamespace(), sorted(globals())[:2], P.__doc__)
        exp = np.exp
        def rec(n):
            return 1 if n < 1 else rec(n - 1)
        """
    sort = "def f(root):\n    return [root]\n"
    safe = "def d(x):\n    return np.exp(-np.abs(x))\n"
    steep = _STEEP.format("if n == 0:\n        return 0 * g\n    return g / n")
    student = code("import numpy as np", harmless, sort, safe, steep)
    assert mechanism.dynamic_features(student) == []
    mechanism.no_recursion("f")(student)
    mechanism.no_overflowing_exp("d")(student)
    mechanism.no_error_repair("s")(student)
    for change in ["np.where = lambda c, a, b: a", "import builtins\nbuiltins.abs = len",
                   "sys.modules['numpy'].exp = 1", "inspect.currentframe().f_globals['f'] = len",
                   "vars(np)['errstate'] = None"]:
        with pytest.raises(checks.CheckFailure, match="cannot follow"):
            mechanism.no_overflowing_exp("d")(code("import sys, inspect\nimport numpy as np", change, safe))


# ----------------------------------------------------------------------------------- bypasses found by the red team (2)

_REAL_01 = ("def d_softplus(x):\n    x = np.asarray(x, dtype=float)\n    with np.errstate(over='ignore'):\n"
            "        return np.where(x >= 0, 1 / (1 + np.exp(-x)), np.exp(x) / (1 + np.exp(x)))\n")
_DECOY_01 = ("def d_softplus(x):\n    x = np.asarray(x, dtype=float)\n    e = np.exp(-np.abs(x))\n"
             "    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))\n")


@pytest.mark.parametrize("runner", [
    "import builtins\nbuiltins.exec(TEXT)\n",
    "import timeit\ntimeit.timeit(TEXT, number=1, globals=globals())\n",
    "import doctest\n",
    "import code\ncode.InteractiveInterpreter(globals()).runsource(TEXT)\n",
    "import runpy\n",
    "import types\nd_softplus2 = types.FunctionType(compile(TEXT, 's', 'exec').co_consts[0], globals())\n",
    "from types import FunctionType\n",
    "import pickle\n",
    "import importlib.util\n",
    "x = getattr(__import__('builtins'), 'exec')\n",
    "get_ipython().run_line_magic('run', 'real.py')\n",
], ids=["builtins-exec", "timeit", "doctest", "code", "runpy", "function-type", "from-types", "pickle",
        "importlib-util", "getattr-exec", "magic-run"])
def test_code_run_from_text_anywhere_fails_the_source_read_checks_closed(runner) -> None:
    cell = runner.replace("TEXT", repr(_REAL_01))
    with pytest.raises(checks.CheckFailure, match="cannot follow"):
        mechanism.no_overflowing_exp("d_softplus")(code(_DECOY_01, cell))


def test_the_text_of_a_time_magic_is_read_as_code() -> None:
    with pytest.raises(checks.CheckFailure, match="overflows"):
        mechanism.no_overflowing_exp("d_softplus")(code(_DECOY_01, "%%time\n" + _REAL_01))


@pytest.mark.parametrize("rebind", [
    "from elsewhere import d_softplus\n",
    "class K:\n    pass\nK.d_softplus = np.logaddexp\nd_softplus = K.d_softplus\n",
    "d_softplus = np.frompyfunc(len, 1, 1)\n",
    "setattr(K, 'd_softplus', np.exp)\n",
])
def test_a_checked_name_bound_again_to_what_is_not_read_fails_closed(rebind) -> None:
    with pytest.raises(checks.CheckFailure, match="more than once"):
        mechanism.no_overflowing_exp("d_softplus")(code(_DECOY_01, rebind))


@pytest.mark.parametrize("neg", ["np.exp(-x.view())", "np.exp(-x.real)", "np.exp(-x.T)", "np.exp(-x[()])",
                                 "np.e ** (-x.view())", "np.exp(-x.reshape(-1))", "np.exp(-np.copy(x).ravel())",
                                 "grow(-x)", "K.grow(-x)"])
def test_overflows_through_views_and_import_aliases_are_found(neg) -> None:
    pos = neg.replace("(-", "(")
    source = ("from numpy import exp as grow\nclass K:\n    grow = np.exp\n"
              "def d_softplus(x):\n    x = np.asarray(x, dtype=float)\n"
              f"    return np.where(x >= 0, 1 / (1 + {neg}), {pos} / (1 + {pos}))\n")
    with pytest.raises(checks.CheckFailure, match="overflows"):
        mechanism.no_overflowing_exp("d_softplus")(code(source))


@pytest.mark.parametrize("source", [
    "from numpy import errstate as quietly, nan_to_num as mend\n"
    "def steepest_ascent_direction(grad_f, x):\n    g = np.asarray(grad_f(x), dtype=float)\n"
    "    with quietly(all='ignore'):\n        return mend(g / np.linalg.norm(g))\n",
    "class _K:\n    quiet = np.errstate\n    mend = np.nan_to_num\n"
    "def steepest_ascent_direction(grad_f, x):\n    g = np.asarray(grad_f(x), dtype=float)\n"
    "    return _K.mend(g / np.linalg.norm(g))\n",
])
def test_repairs_through_import_aliases_and_class_attributes_are_found(source) -> None:
    with pytest.raises(checks.CheckFailure, match="steepest_ascent_direction uses"):
        mechanism.no_error_repair("steepest_ascent_direction")(code(source))
