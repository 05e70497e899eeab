"""Red team of the "own work" rule: attacks on `rules.own_work` (out of the kernel, from the source) and on
`calcml.own_work` (in the kernel), and correct answers that must pass.

The rule has two halves out of the kernel: the reading (`rules.own_work`, for a message that names the tool) and
the probe process, which disarms every tool before the driver runs (`probe_runner.disarm_tools`), so every route
the reading misses still loses the points: `test_every_hole_loses_its_points_out_of_the_kernel` runs each in the
sandbox. In the kernel the check is advisory (the lower score counts); the routes it does not follow yet are marked
`xfail(strict=True, reason="hole: ...")`. Every other test is an attack that is caught or a correct answer that
passes.

The cheats are written for a quotient rule `d_ratio(f, g, df, dg, x)` (correct:
`(df(x) * g(x) - f(x) * dg(x)) / g(x) ** 2`; a cheat: `numdiff.derivative(lambda t: f(t) / g(t), x)`); in the
sandbox an adapter calls them as unit 01's `d_ratio(x)`.
"""

from __future__ import annotations

import textwrap

import pytest

from calcml import checks, own_work
from grading.mechanism import StudentCode, rules

UNIT = "01_derivatives"
RATIO = "(df(x) * g(x) - f(x) * dg(x)) / g(x) ** 2"
CORRECT = f"def d_ratio(f, g, df, dg, x):\n    return {RATIO}\n"
CHEAT = "lambda t: f(t) / g(t), x"  # the arguments of numdiff.derivative that give d_ratio

SHADOWED = ("def d_ratio(f, g, df, dg, x):\n    def unused(numdiff):\n        return numdiff\n"
            f"    return numdiff.derivative({CHEAT})\n")
GRADIENT_HELPER = "def gradient(u, du, v, dv, x):\n    return (du(x) * v(x) - u(x) * dv(x)) / v(x) ** 2\n"
TOPOLOGICAL_WITH_CHAIN = """def topological_sort(root):
    order, seen, stack = [], set(), [(root, False)]
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
        elif node not in seen:
            seen.add(node)
            stack.append((node, True))
            stack.extend((p, False) for p in chain(node._prev))
    return order
"""

def body(expression: str) -> str:
    """A d_ratio that returns `expression`."""
    return f"def d_ratio(f, g, df, dg, x):\n    return {expression}\n"


def _check(*cells: str, name: str = "d_ratio", unit: str = UNIT) -> None:
    rules.own_work((name,), unit)(StudentCode(solutions={}, cells=cells))


def hole(reason: str):
    return pytest.mark.xfail(strict=True, reason=f"hole: {reason}")


# ----------------------------------------------------------------------------------------------------------
# Out of the kernel: attacks that are caught (regression tests)

CAUGHT = {
    "direct": (body(f"numdiff.derivative({CHEAT})"),),
    "import-calcml-package": ("import calcml\n", body(f"calcml.numdiff.derivative({CHEAT})")),
    "import-calcml-submodule": ("import calcml.numdiff\n", body(f"calcml.numdiff.derivative({CHEAT})")),
    "exec-constant-string": ("exec('from calcml.numdiff import derivative as D')\n", body(f"D({CHEAT})")),
    "lambda-default": ("K = lambda d=numdiff.derivative: d\n", body(f"K()({CHEAT})")),
    "decorator": ("import functools\n\n@functools.partial(functools.partial, numdiff.derivative)\ndef W():\n"
                  "    pass\n", body(f"W({CHEAT})")),
    "class-attribute": ("class K:\n    d = staticmethod(numdiff.derivative)\n", body(f"K.d({CHEAT})")),
    "nested-class": ("class A:\n    class B:\n        d = staticmethod(numdiff.derivative)\n",
                     body(f"A.B.d({CHEAT})")),
    "type-call": ("Meta = type('Meta', (), {'d': staticmethod(numdiff.derivative)})\n", body(f"Meta.d({CHEAT})")),
    "walrus-module-level": ("(D := numdiff.derivative)\n", body(f"D({CHEAT})")),
    "generator-next": ("D = next(t for t in [numdiff])\n", body(f"D.derivative({CHEAT})")),
    "np-vectorize": ("V = np.vectorize(numdiff.derivative, excluded={0})\n", body(f"V({CHEAT})")),
    "functools-reduce": ("import functools\nD = functools.reduce(lambda a, b: b, [0, numdiff.derivative])\n",
                         body(f"D({CHEAT})")),
    "augmented-assignment": ("L = []\nL += [numdiff.derivative]\n", body(f"L[0]({CHEAT})")),
    "global-statement": ("def setup():\n    global D\n    D = numdiff.derivative\n\nsetup()\n", body(f"D({CHEAT})")),
    "globals-of-another-function": ("def helper():\n    pass\n",
                                    body(f"helper.__globals__['numdiff'].derivative({CHEAT})")),
    "dunder-import": (body(f"__import__('calcml.numdiff', fromlist=['d']).derivative({CHEAT})"),),
    "importlib-inside": ("import importlib\n",
                         body(f"importlib.import_module('calcml.numdiff').derivative({CHEAT})")),
    "release-sympy-symbol": (body("float(sp.diff(x ** 2, x).subs(x, 1))"),),
    "numpy-gradient-imported": ("from numpy import gradient as slope\n", body("slope([f(x), g(x)])[0]")),
    "release-plots-numdiff": (body(f"plots.numdiff.derivative({CHEAT})"),),
    "getattr-constant-of-tool": (body(f"getattr(numdiff, 'derivative')({CHEAT})"),),
}


@pytest.mark.parametrize("cells", list(CAUGHT.values()), ids=list(CAUGHT))
def test_caught_out_of_kernel(cells) -> None:
    with pytest.raises(checks.CheckFailure):
        _check(*cells)


# ----------------------------------------------------------------------------------------------------------
# Out of the kernel: holes (a cheat that passes today)

HOLES = {
    "switch-off-the-disarming": (("import __main__\nfrom importlib import import_module\n\n"
                                  "__main__.disarm_tools = lambda: None\nM = import_module('calcml.numdiff')\n",
                                  body(f"M.derivative({CHEAT})")),
                                 "the probe process's own functions, reached through `import __main__`"),
    "sys-modules": (("import sys\n", body(f"sys.modules['calcml.numdiff'].derivative({CHEAT})")),
                    "`sys.modules[...]`: the reading leaves notebook-wide routes to the probe process"),
    # `local_names` counts names bound in NESTED scopes (a nested function's parameter, a comprehension variable)
    # as locals of the whole function, so the global tool is no longer seen anywhere in the body.
    "shadowed-by-nested-parameter": ((SHADOWED,),
                                     "a nested function's parameter named `numdiff` hides the global numdiff in the "
                                     "outer body (local_names is not scope-aware)"),
    "shadowed-by-comprehension": (("def d_ratio(f, g, df, dg, x):\n    _ = [numdiff for numdiff in ()]\n"
                                   f"    return numdiff.derivative({CHEAT})\n",),
                                  "a comprehension variable named `numdiff` (its own scope) hides the global"),
    "shadowed-by-lambda-parameter": (("def d_ratio(f, g, df, dg, x):\n    _ = lambda sp: sp\n"
                                      "    t = sp.Symbol('t')\n"
                                      "    return float(sp.diff(f(t) / g(t), t).subs(t, x))\n",),
                                     "a lambda parameter named `sp` hides the global sympy"),
    # Bindings that `tool_names` does not follow: only Assign/AnnAssign/AugAssign/NamedExpr are read.
    "for-loop-target": (("for D in (numdiff.derivative,):\n    pass\n", body(f"D({CHEAT})")),
                        "a for-loop target bound from a tool (ast.For is not a binding in tool_names)"),
    "for-tuple-target": (("for _, D in [(0, numdiff.derivative)]:\n    pass\n", body(f"D({CHEAT})")),
                         "a for-loop tuple target"),
    "with-as": (("import contextlib\n\nwith contextlib.nullcontext(numdiff.derivative) as D:\n    pass\n",
                 body(f"D({CHEAT})")), "`with ... as D` bound from a tool"),
    "match-capture": (("match numdiff.derivative:\n    case D:\n        pass\n", body(f"D({CHEAT})")),
                      "a match capture pattern bound from a tool"),
    "except-as": (("class Box(Exception):\n    pass\n\ntry:\n    raise Box(numdiff)\nexcept Box as caught:\n"
                   "    BOX = caught\n", body(f"BOX.args[0].derivative({CHEAT})")),
                  "`except ... as e` whose exception carries a tool, then `BOX = e`"),
    "comprehension-walrus": (("[D := d for d in [numdiff.derivative]]\n", body(f"D({CHEAT})")),
                             "a walrus inside a comprehension, from its loop variable"),
    # Containers and objects filled after they were made: the target is a subscript, or no assignment at all.
    "subscript-store": (("T = {}\nT['d'] = numdiff.derivative\n", body(f"T['d']({CHEAT})")),
                        "`T['d'] = tool` (target_names ignores ast.Subscript targets)"),
    "list-append": (("L = []\nL.append(numdiff.derivative)\n", body(f"L[0]({CHEAT})")),
                    "`L.append(tool)`: a mutating method call, not an assignment"),
    "dict-update": (("T = {}\nT.update(d=numdiff.derivative)\n", body(f"T['d']({CHEAT})")), "`T.update(d=tool)`"),
    "dict-setdefault": (("T = {}\nT.setdefault('d', numdiff.derivative)\n", body(f"T['d']({CHEAT})")),
                        "`T.setdefault('d', tool)`"),
    "map-append": (("L = []\nlist(map(L.append, [numdiff.derivative]))\n", body(f"L[0]({CHEAT})")),
                   "`map(L.append, [tool])`"),
    "setattr-constant": (("import types\n\nNS = types.SimpleNamespace()\nsetattr(NS, 'd', numdiff.derivative)\n",
                          body(f"NS.d({CHEAT})")), "`setattr(obj, 'd', tool)` with a constant name"),
    "attribute-store-on-object": (("import types\n\nNS = types.SimpleNamespace()\nNS.d = numdiff.derivative\n",
                                   body(f"NS.d({CHEAT})")),
                                  "`obj.d = tool` marks the bare name `d`, but `obj.d` is looked up by its root `obj`"),
    "attribute-store-on-instance": (("class Holder:\n    pass\n\nHOLD = Holder()\nHOLD.d = numdiff.derivative\n",
                                     body(f"HOLD.d({CHEAT})")), "`instance.d = tool` at module level"),
    "attribute-store-on-function": (("def box():\n    pass\n\nbox.d = numdiff.derivative\n", body(f"box.d({CHEAT})")),
                                    "a function attribute `box.d = tool` (box is reachable, its body is clean)"),
    "defaults-store": (("def d_ratio(f, g, df, dg, x, D=None):\n    return D(lambda t: f(t) / g(t), x)\n\n\n"
                        "d_ratio.__defaults__ = (numdiff.derivative,)\n",),
                       "a module-level store into `d_ratio.__defaults__` (dunder stores fail only in reachable code)"),
    # Names the analysis does not see bound at all.
    "star-import-calcml": (("from calcml.numdiff import *\n", body(f"derivative({CHEAT})")),
                           "`from calcml.numdiff import *` binds `*`, not `derivative`"),
    "star-import-sympy": (("from sympy import *\n", body("float(diff(Symbol('t') ** 2).subs('t', x))")),
                          "`from sympy import *`"),
    # Computed names at module level: fail-closed only covers them inside reachable code.
    "globals-computed-subscript": (("D = globals()['num' + 'diff']\n", body(f"D.derivative({CHEAT})")),
                                   "`globals()[computed]` at module level is a 'read-only use' of the namespace"),
    "globals-computed-get": (("D = globals().get('num' + 'diff')\n", body(f"D.derivative({CHEAT})")),
                             "`globals().get(computed)` at module level"),
    "globals-copied": (("G = dict(globals())\nD = G['num' + 'diff']\n", body(f"D.derivative({CHEAT})")),
                       "`dict(globals())` then a computed key"),
    "getattr-computed-on-release-module": (("G = getattr(np, 'grad' + 'ient')\n", body("G([f(x), g(x)])[0]")),
                                           "`getattr(np, computed)` at module level: module_aliases holds only the "
                                           "student's own imports, not the release's `np`"),
    "vars-builtins-import": (("import builtins\n\nIMP = vars(builtins)['__import__']\n"
                              "M = IMP('calcml.numdiff', fromlist=['x'])\n", body(f"M.derivative({CHEAT})")),
                             "`vars(builtins)['__import__']` (a read-only use of a namespace)"),
    "exec-constant-into-namespace": (("NS = {}\nexec('from calcml.numdiff import derivative as D', NS)\n",
                                      body(f"NS['D']({CHEAT})")),
                                     "exec of a constant string INTO a dict: the text is read as a cell binding the "
                                     "global D, but it binds NS['D']"),
    "eval-constant-module-level": (("D = eval('numdiff.derivative')\n", body(f"D({CHEAT})")),
                                   "`D = eval('<constant>')`: the text is read as a cell, but D is not marked"),
    # Routes to a tool module that are not tool names.
    "importlib-module-level": (("import importlib\n\nM = importlib.import_module('calcml.numdiff')\n",
                                body(f"M.derivative({CHEAT})")),
                               "importlib.import_module with a constant name at module level"),
    "import-module-function": (("from importlib import import_module\n\nM = import_module('calcml.numdiff')\n",
                                body(f"M.derivative({CHEAT})")), "`from importlib import import_module`"),
    "sys-modules-through-alias": (("import sys as system\n",
                                   body(f"system.modules['calcml.numdiff'].derivative({CHEAT})")),
                                  "`sys.modules` is only recognised when the name is literally `sys`"),
    "from-sys-import-modules": (("from sys import modules\n", body(f"modules['calcml.numdiff'].derivative({CHEAT})")),
                                "`from sys import modules`"),
    "builtins-import-alias": (("import builtins\n\nIMP = builtins.__import__\n"
                               "M = IMP('calcml.numdiff', fromlist=['derivative'])\n", body(f"M.derivative({CHEAT})")),
                              "`builtins.__import__` taken at module level (only the bare name is a global problem)"),
    "getattr-builtins-import": (("import builtins\n\nIMP = getattr(builtins, '__import__')\n"
                                 "M = IMP('calcml.numdiff', fromlist=['derivative'])\n",
                                 body(f"M.derivative({CHEAT})")),
                                "`getattr(builtins, '__import__')` at module level"),
    "open-write-module": (("import sys\n\nsys.path.insert(0, '.')\nwith open('mytools.py', 'w') as fh:\n"
                           "    fh.write('from calcml.numdiff import derivative')\n", "import mytools\n",
                           body(f"mytools.derivative({CHEAT})")),
                          "write a module file with open() (the probe's cwd is read-write), then import it: any "
                          "module the grader cannot read is trusted"),
    "assigned-from-own-module": (("import sys\n\nsys.path.insert(0, '.')\nwith open('mytools.py', 'w') as fh:\n"
                                  "    fh.write('from calcml import numdiff\\ndef d_ratio(f, g, df, dg, x):\\n"
                                  "    return numdiff.derivative(lambda t: f(t) / g(t), x)\\n')\n",
                                  "import mytools\n\nd_ratio = mytools.d_ratio\n"),
                                 "`d_ratio = mymodule.d_ratio` is 'not defined at all', so it is left to the numbers"),
    # numpy.gradient under other spellings: only the attribute chain np.gradient is a tool.
    "np-alias-by-assignment": (("xp = np\n", body("xp.gradient([f(x), g(x)])[0]")),
                               "`xp = np` is not followed (assignments propagate only names that already hold a "
                               "tool, and plain numpy is not one)"),
    "np-through-another-module": ((body("plt.np.gradient([f(x), g(x)])[0]"),),
                                  "`plt.np.gradient` (matplotlib.pyplot.np is numpy): numpy reached through a "
                                  "non-tool module attribute"),
    "np-through-showing-module": ((body("widgets.np.gradient([f(x), g(x)])[0]"),),
                                  "`widgets.np.gradient` (calcml.widgets is SHOWING)"),
    "import-numpy-private-module": (("import numpy.lib._function_base_impl as fb\n",
                                     body("fb.gradient([f(x), g(x)])[0]")),
                                    "`import numpy.lib._function_base_impl as fb`"),
    "getattr-np-gradient": ((body("getattr(np, 'gradient')(np.array([f(x - 1e-6) / g(x - 1e-6), f(x) / g(x), "
                                  "f(x + 1e-6) / g(x + 1e-6)]), 1e-6)[1]"),),
                            "`getattr(np, 'gradient')`: the constant name is not read as an attribute"),
    "np-dict-gradient": ((body("np.__dict__['gradient']([f(x), g(x)])[0]"),), "`np.__dict__['gradient']`"),
    "vars-np-gradient": ((body("vars(np)['gradient']([f(x), g(x)])[0]"),), "`vars(np)['gradient']`"),
    "np-lib-gradient": ((body("np.lib._function_base_impl.gradient([f(x), g(x)])[0]"),),
                        "`np.lib._function_base_impl.gradient` is numpy.gradient under its defining path"),
    "attrgetter-np-gradient": (("import operator\n\nG = operator.attrgetter('gradient')(np)\n",
                                body("G([f(x), g(x)])[0]")), "`operator.attrgetter('gradient')(np)`"),
    # What of calcml counts as not a tool.
    "all-caps-container-of-derivatives": (("from calcml import gradient_flow\n",
                                           body("gradient_flow.ACTIVATIONS['tanh'][1](x)")),
                                          "an ALL_CAPS name of calcml holding functions (gradient_flow.ACTIVATIONS "
                                          "maps each activation to its derivative) passes as a 'constant'"),
    "all-caps-imported": (("from calcml.gradient_flow import ACTIVATIONS\n", body("ACTIVATIONS['sigmoid'][1](x)")),
                          "`from calcml.gradient_flow import ACTIVATIONS`"),
    "showing-module-attribute": ((body(f"widgets.numdiff.derivative({CHEAT})"),),
                                 "SHOWING is a path prefix, so `widgets.numdiff.derivative` "
                                 "(calcml.widgets.numdiff...) passes"),
    "showing-module-computes": ((body("widgets.tangent_explorer(lambda t: f(t) / g(t), x_range=(x - 1, x + 1), "
                                      "x0=x).slope"),),
                                "calcml.widgets is SHOWING, yet tangent_explorer(...).slope is numdiff.derivative"),
    # The release's own data computed with a tool: release_bindings reads only Name/Attribute/Lambda values, so
    # `sigma = 1 / (1 + sp.exp(-x))` (a sympy expression, the derivative of softplus) is an ordinary global.
    "release-global-computed-with-a-tool": ((
        "def d_softplus(t):\n    t = np.asarray(t, dtype=float)\n"
        "    return 0 * d_wave_np(np.clip(t, -30, 30)) + np.exp(-np.logaddexp(0, -t))\n",),
        "the release's `d_wave_np` (a function sympy's lambdify wrote) used in d_softplus: a release global "
        "computed with a tool is an ordinary global to the reading"),
    # The exercise's function bound twice.
    "rebound-after-def": ((CORRECT, "import functools\n\nd_ratio = functools.partial(lambda f, g, df, dg, x: "
                                    "numdiff.derivative(lambda t: f(t) / g(t), x))\n"),
                          "a def, then `d_ratio = <not a def>`: own_work does not call decoys.rebindings"),
    "rebound-to-tool-after-def": ((CORRECT, "d_ratio = plots.numdiff.derivative\n"),
                                  "a def, then `d_ratio = tool`: it is in `definitions`, so the 'imported or "
                                  "assigned' check is skipped"),
}


# The reading alone misses some of these; the probe process, which disarms every tool before the driver runs
# (`probe_runner.disarm_tools`), does not. Each runs as the student's own cells, before the probe, in one
# sandboxed run of unit 01, where d_ratio(x) is r'(x) for r(x) = x² sin x / (1 + x²).
RATIO_ADAPTER = """
_cheat_ratio = d_ratio


def d_ratio(x):
    return _cheat_ratio(lambda t: t**2 * np.sin(t), lambda t: 1 + t**2,
                        lambda t: 2 * t * np.sin(t) + t**2 * np.cos(t), lambda t: 2 * t, x)
"""
KEEP_IMPORTS = "_uses = (numdiff, sp, plt, widgets, plots, checks, np, d_wave_np)\n"  # what the holes use: kept


@pytest.fixture(scope="module")
def sandboxed_holes(tmp_path_factory) -> dict:
    from pathlib import Path

    import nbformat

    from grading import integrity, manifest, submissions

    entry = manifest.unit(UNIT)
    notebook = submissions.solved(entry)
    notebook.cells.insert(1, nbformat.v4.new_code_cell(KEEP_IMPORTS))
    path = submissions.write(notebook, Path(tmp_path_factory.mktemp("holes")) / "nb.ipynb")
    trials = []
    for name, (cells, _) in HOLES.items():
        softplus = cells[0].startswith("def d_softplus")
        trials.append({"key": name, "grade_id": f"{UNIT}-{'d_softplus' if softplus else 'd_ratio'}",
                       "student": "eve", "prelude": "\n\n".join(cells) + ("" if softplus else RATIO_ADAPTER)})
    verdicts, _ = integrity.check_many(UNIT, path, trials)
    return verdicts


@pytest.mark.parametrize("name", list(HOLES))
def test_every_hole_loses_its_points_out_of_the_kernel(sandboxed_holes, name) -> None:
    verdict = sandboxed_holes[name]
    assert not verdict.passed, f"{name} kept its points"
    assert "reference tools" in verdict.message or "cannot be the answer" in verdict.message, verdict.message


# ----------------------------------------------------------------------------------------------------------
# Out of the kernel: correct answers

CORRECT_ANSWERS = {
    "plain": (CORRECT,),
    "parameter-named-like-tools": ("def d_ratio(f, g, df, dg, x, numdiff=None, checks=None, sp=2):\n"
                                   f"    return {RATIO.replace('** 2', '** sp')}\n",),
    "local-named-like-tools": ("def d_ratio(f, g, df, dg, x):\n    numdiff = df(x) * g(x) - f(x) * dg(x)\n"
                               "    sp = g(x) ** 2\n    return numdiff / sp\n",),
    "comprehension-variable": ("def d_ratio(f, g, df, dg, x):\n    sp = [checks for checks in (g(x),)][0]\n"
                               "    return (df(x) * sp - f(x) * dg(x)) / sp ** 2\n",),
    "nested-function-parameter": ("def d_ratio(f, g, df, dg, x):\n    def q(numdiff):\n        return numdiff ** 2\n"
                                  "    return (df(x) * g(x) - f(x) * dg(x)) / q(g(x))\n",),
    "scratch-cell-sympy": ("t = sp.Symbol('t')\nprint(sp.diff(sp.sin(t) / sp.exp(t), t))\n"
                           "print(numdiff.derivative(np.sin, 1.0), np.gradient([1.0, 2.0]))\n", CORRECT),
    "scratch-symbol-named-like-parameter": ("x = sp.Symbol('x')\n", CORRECT),
    "checks-constant": (body(f"{RATIO} * (1 + 0 * checks.RTOL)"),),
    "function-named-gradient": (GRADIENT_HELPER, body("gradient(f, df, g, dg, x)")),
    "own-method-named-derivative": ("class Quotient:\n    def derivative(self, f, g, df, dg, x):\n"
                                    f"        return {RATIO}\n", body("Quotient().derivative(f, g, df, dg, x)")),
    "numpy-and-math": ("import math\n", body(f"{RATIO} + 0 * np.linalg.norm([1.0]) * math.exp(0.0)")),
    "np-diff": (body(f"{RATIO} + 0 * np.diff([1.0, 2.0])[0]"),),
    "plots-colors": (body(f"{RATIO} if plots.COLORS else 0.0"),),
}


@pytest.mark.parametrize("cells", list(CORRECT_ANSWERS.values()), ids=list(CORRECT_ANSWERS))
def test_correct_answer_passes_out_of_kernel(cells) -> None:
    _check(*cells)


FALSE_POSITIVES = {
    "own-helper-named-numdiff": (("def numdiff(f, x, h=1e-5):\n    return (f(x + h) - f(x - h)) / (2 * h)\n",
                                  "def central_difference(f, x, h):\n    return numdiff(f, x, h)\n"),
                                 "central_difference",
                                 "a helper the student defines with `def numdiff` (shadowing the release import) "
                                 "is still read as calcml.numdiff"),
    "own-helper-named-like-scratch-import": (("from sympy import diff\nprint(diff('t**2', 't'))\n",
                                              "def diff(f, x, h):\n    return (f(x + h) - f(x - h)) / (2 * h)\n\n\n"
                                              "def central_difference(f, x, h):\n    return diff(f, x, h)\n"),
                                             "central_difference",
                                             "a scratch `from sympy import diff` above the student's own `def diff`: "
                                             "the def does not clear the tool binding"),
    "local-of-another-function": (("def compare():\n    slope = numdiff.derivative(np.sin, 1.0)\n"
                                   "    return slope - central_difference(np.sin, 1.0, 1e-5)\n",
                                   "def slope(f, x, h):\n    return (f(x + h) - f(x - h)) / (2 * h)\n\n\n"
                                   "def central_difference(f, x, h):\n    return slope(f, x, h)\n"),
                                  "central_difference",
                                  "a LOCAL variable of a scratch function, assigned from a tool, marks the global "
                                  "name (tool_names walks every scope and ignores which scope binds the name)"),
    "scratch-variable-above-constant": (("h = sp.Symbol('h')\nprint(sp.limit(((1 + h) ** 2 - 1) / h, h, 0))\n",
                                         "STEP = 1e-5\nh = STEP\n\n\ndef central_difference(f, x, step):\n"
                                         "    return (f(x + h) - f(x - h)) / (2 * h)\n"),
                                        "central_difference",
                                        "a scratch `h = sp.Symbol('h')` above the solution's `h = 1e-5`: cell order "
                                        "is ignored, any tool assignment anywhere taints the name"),
    "stdlib-import-named-like-release-helper": (("from itertools import chain\n", TOPOLOGICAL_WITH_CHAIN),
                                                "topological_sort",
                                                "unit 04: `from itertools import chain` in the student's cell; the "
                                                "release defines a helper `chain` over calcml, and tool_names unions "
                                                "both meanings"),
    "raises-course-exception": ((body(f"{RATIO} if g(x) != 0 else "
                                      "(_ for _ in ()).throw(checks.CheckFailure('g(x) is 0'))"),),
                                "d_ratio", "raising `checks.CheckFailure` (a class of calcml, not a computation)"),
    "import-checks-inside-function": (("def d_ratio(f, g, df, dg, x):\n    import calcml.checks as C\n"
                                       f"    return {RATIO} * (1 + 0 * C.RTOL)\n",),
                                      "d_ratio", "`import calcml.checks as C` inside the function, used only for "
                                      "`C.RTOL`: the import itself is reported"),
    "scratch-def-then-final-def": ((body(f"numdiff.derivative({CHEAT})"), "print(d_ratio(np.sin, np.exp, np.cos, "
                                   "np.exp, 0.3))\n", CORRECT),
                                   "d_ratio", "a first draft checked against numdiff, then the final `def d_ratio` "
                                   "(what runs): every def is read (debatable; if it stays, say 'define it once')"),
    "scratch-timeit": (("import timeit\nprint(timeit.timeit(lambda: d_ratio(np.sin, np.exp, np.cos, np.exp, 0.3), "
                        "number=100))\n", CORRECT),
                       "d_ratio", "a scratch `import timeit` is a global problem, and own_work now runs on EVERY "
                       "exercise, so one benchmark cell fails the whole notebook (design choice; its reach is new)"),
}


DRAFTS = "scratch-def-then-final-def"  # a design decision: every definition is read, and the message says so
TIMEIT = "scratch-timeit"  # a design decision: what runs code from text fails closed, naming its line


@pytest.mark.parametrize(("cells", "name"), [
    pytest.param(cells, name, id=key) for key, (cells, name, _) in FALSE_POSITIVES.items()
    if key not in (DRAFTS, TIMEIT)])
def test_former_false_positive_passes_out_of_kernel(cells, name) -> None:
    unit = "04_computational_graphs" if name == "topological_sort" else UNIT
    _check(*cells, name=name, unit=unit)


def test_code_from_text_anywhere_fails_closed_and_says_where() -> None:
    cells, name, _ = FALSE_POSITIVES[TIMEIT]
    with pytest.raises(checks.CheckFailure, match=r"the module `timeit`.*\(your cell 1, line 1\)"):
        _check(*cells, name=name)


def test_a_draft_that_used_a_tool_is_reported_with_what_to_do() -> None:
    cells, name, _ = FALSE_POSITIVES[DRAFTS]
    with pytest.raises(checks.CheckFailure, match="more than once.*delete the drafts"):
        _check(*cells, name=name)


# ----------------------------------------------------------------------------------------------------------
# In the kernel: calcml.own_work

HEAD = "import math\nimport numpy as np\nimport sympy as sp\nfrom calcml import checks, numdiff, plots, widgets\n"


def _namespace(source: str) -> dict:
    space = {"__name__": "__main__"}
    exec(compile(HEAD + textwrap.dedent(source), "<notebook>", "exec"), space)  # noqa: S102
    return space


def _reached(source: str, name: str = "d_ratio") -> list[str]:
    return own_work.tools_reached(_namespace(source), (name,))


KERNEL_CAUGHT = {
    "direct": body(f"numdiff.derivative({CHEAT})"),
    "alias": "D = numdiff.derivative\n" + body(f"D({CHEAT})"),
    "type-call": "K = type('K', (), {'d': staticmethod(numdiff.derivative)})\n" + body(f"K.d({CHEAT})"),
    "builtins-attribute": "import builtins\nbuiltins.NDX = numdiff\n" + body(f"NDX.derivative({CHEAT})"),
    "generator-closure": ("def make():\n    d = numdiff.derivative\n    return (lambda *a: d(*a) for _ in [0])\n\n"
                          "D = next(make())\n" + body(f"D({CHEAT})")),
    "np-lib-gradient": body("np.lib._function_base_impl.gradient([f(x), g(x)])[0]"),
    "showing-module-attribute": body(f"widgets.numdiff.derivative({CHEAT})"),
    "sys-modules": "import sys\n" + body(f"sys.modules['calcml.numdiff'].derivative({CHEAT})"),
    "all-caps-container": "from calcml import gradient_flow\n" + body("gradient_flow.ACTIVATIONS['tanh'][1](x)"),
    "functools-partial": "import functools\nP = functools.partial(numdiff.derivative)\n" + body(f"P({CHEAT})"),
    "lambda-default": "K = lambda d=numdiff.derivative: d\n" + body(f"K()({CHEAT})"),
    "np-alias-by-assignment": "xp = np\n" + body("xp.gradient([f(x), g(x)])[0]"),
    "np-through-another-module": "import matplotlib.pyplot as plt\n" + body("plt.np.gradient([f(x), g(x)])[0]"),
    "shadowed-by-nested-parameter": SHADOWED,
}


@pytest.mark.parametrize("source", list(KERNEL_CAUGHT.values()), ids=list(KERNEL_CAUGHT))
def test_caught_in_kernel(source) -> None:
    assert _reached(source)
    with pytest.raises(checks.CheckFailure, match="cannot be the answer"):
        own_work.check(_namespace(source), ("d_ratio",))


KERNEL_HOLES = {
    "simple-namespace": ("import types\nNS = types.SimpleNamespace(d=numdiff.derivative)\n" + body(f"NS.d({CHEAT})"),
                         "an object that is not a function, class, container or module is not followed "
                         "(SimpleNamespace)"),
    "instance-of-own-class": ("class Helper:\n    def run(self, f, g, x):\n"
                              "        return numdiff.derivative(lambda t: f(t) / g(t), x)\n\n\nHELP = Helper()\n"
                              + body("HELP.run(f, g, x)"),
                              "an instance of the notebook's own class: its class (and methods) are not followed"),
    "callable-instance": ("class Caller:\n    def __call__(self, f, x):\n        return numdiff.derivative(f, x)\n\n\n"
                          "CALL = Caller()\n" + body(f"CALL({CHEAT})"), "a callable instance (`__call__`)"),
    "instance-attribute": ("class Holder:\n    pass\n\n\nHOLD = Holder()\nHOLD.d = numdiff.derivative\n"
                           + body(f"HOLD.d({CHEAT})"), "an attribute of an instance (its __dict__)"),
    "function-attribute": ("def box():\n    pass\n\n\nbox.d = numdiff.derivative\n" + body(f"box.d({CHEAT})"),
                           "a function attribute (the function's __dict__)"),
    "np-vectorize": ("V = np.vectorize(numdiff.derivative, excluded={0})\n" + body(f"V({CHEAT})"),
                     "np.vectorize hides its pyfunc"),
    "np-frompyfunc": ("U = np.frompyfunc(lambda f, x: numdiff.derivative(f, x), 2, 1)\n" + body(f"U({CHEAT})"),
                      "np.frompyfunc hides its function entirely"),
    "module-renamed": (body(f"numdiff.derivative({CHEAT})") + "d_ratio.__module__ = 'elsewhere'\n",
                       "a function whose __module__ is changed is no longer 'of the notebook' and is not read"),
    "showing-module-computes": (body("widgets.tangent_explorer(lambda t: f(t) / g(t), x_range=(x - 1, x + 1), "
                                     "x0=x).slope"),
                                "calcml.widgets is SHOWING, yet tangent_explorer(...).slope is numdiff.derivative"),
    "importlib-inside": ("import importlib\n" + body(f"importlib.import_module('calcml.numdiff').derivative({CHEAT})"),
                         "importlib.import_module with a constant name"),
    "getattr-np-gradient": (body("getattr(np, 'gradient')([f(x), g(x)])[0]"), "`getattr(np, 'gradient')`"),
    "vars-np-gradient": (body("vars(np)['gradient']([f(x), g(x)])[0]"), "`vars(np)['gradient']`"),
    "dunder-import": (body(f"__import__('calcml.numdiff', fromlist=['d']).derivative({CHEAT})"),
                      "`__import__` with a constant name"),
    "eval-in-function": (body(f"eval('numdiff').derivative({CHEAT})"), "`eval` of a constant string"),
    "sympy-expression-global": ("t = sp.Symbol('t')\nEXPR = sp.diff(sp.sin(t) / sp.exp(t), t)\n"
                                + body("float(EXPR.subs(t, x))"),
                                "a sympy expression is not callable, so `_is_tool` lets it pass"),
    "tool-object-not-callable": ("from calcml import functions\nBOWL = functions.Quadratic(np.eye(1), np.zeros(1))\n"
                                 + body("float(BOWL.grad(np.array([x]))[0]) * 0 + 1"),
                                 "a non-callable instance of a calcml class (functions.Quadratic, whose .grad is the "
                                 "exact gradient) is not a tool and is not followed"),
    "object-budget-exhausted": ("PAD = [float(i) for i in range(6000)]\n"
                                + body(f"numdiff.derivative({CHEAT}) + 0 * len(PAD)"),
                                "MAX_OBJECTS fails open: a global list of 6000 floats, loaded after the tool, is "
                                "visited first (pending is a stack) and exhausts the budget"),
    "sympy-lambdify": ("t = sp.Symbol('t')\nFN = sp.lambdify(t, sp.diff(sp.sin(t) / sp.exp(t), t))\n" + body("FN(x)"),
                       "a lambdified function's __module__ is not sympy's"),
}


# The kernel's check is advisory (the probe process decides the points); these routes it still does not follow.
KERNEL_OPEN = {"np-frompyfunc", "importlib-inside", "dunder-import", "eval-in-function", "getattr-np-gradient",
               "vars-np-gradient"}


@pytest.mark.parametrize("source", [
    pytest.param(source, id=name, marks=[hole(reason)] if name in KERNEL_OPEN else [])
    for name, (source, reason) in KERNEL_HOLES.items()])
def test_hole_in_kernel(source) -> None:
    assert _reached(source)


KERNEL_CORRECT = {
    "plain": CORRECT,
    "numpy-linalg-random-math": body(f"{RATIO} + 0 * np.linalg.norm([1.0]) * math.exp(0.0) "
                                     "* np.random.default_rng(0).random()"),
    "checks-constant": body(f"{RATIO} * (1 + 0 * checks.RTOL)"),
    "attribute-of-non-module": body(f"{RATIO} + 0 * np.float64(1.0).real + 0 * (1.0).imag"),
    "class-body-shadows-sympy-global": ("h = sp.Symbol('h')\nclass Rules:\n    h = 1e-5\n    two_h = 2 * h\n\n"
                                        "    @staticmethod\n    def ratio(f, g, df, dg, x):\n"
                                        f"        return {RATIO}\n\n\n" + body("Rules.ratio(f, g, df, dg, x)")),
    "scratch-symbol-named-like-parameter": "x = sp.Symbol('x')\n" + CORRECT,
    "own-method-named-derivative": ("class Quotient:\n    def derivative(self, f, g, df, dg, x):\n"
                                    f"        return {RATIO}\n\n\n" + body("Quotient().derivative(f, g, df, dg, x)")),
    "function-named-gradient": GRADIENT_HELPER + "\n\n" + body("gradient(f, df, g, dg, x)"),
    "np-diff": body(f"{RATIO} + 0 * np.diff([1.0, 2.0])[0]"),
    "plots-colors": body(f"{RATIO} if plots.COLORS else 0.0"),
    "own-helper-named-numdiff": ("def numdiff(f, x, h=1e-5):\n    return (f(x + h) - f(x - h)) / (2 * h)\n\n\n"
                                 + body("numdiff(lambda t: f(t) / g(t), x) * 0 + " + RATIO)),
    "comprehension-and-generator": body(f"sum(v for v in [{RATIO}]) + 0 * len([np for np in range(2)])"),
}


@pytest.mark.parametrize("source", list(KERNEL_CORRECT.values()), ids=list(KERNEL_CORRECT))
def test_correct_answer_passes_in_kernel(source) -> None:
    assert _reached(source) == []


def test_a_constant_imported_inside_a_function_passes_in_kernel() -> None:
    assert _reached("def d_ratio(f, g, df, dg, x):\n    import calcml.checks as C\n"
                    f"    return {RATIO} * (1 + 0 * C.RTOL)\n") == []


def test_raising_the_course_exception_passes_in_kernel() -> None:
    assert _reached(body(f"{RATIO} if g(x) != 0 else (_ for _ in ()).throw(checks.CheckFailure('g(x) is 0'))")) == []
