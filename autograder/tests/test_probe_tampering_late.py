"""Issue 9, class 2, units 05-08: the probe process is the student's process, so nothing a driver does there is a
check. Each test builds an attack on one driver-side decision (a recursion limit, `np.errstate`, a helper the
driver called, a flag or a count it computed): a known-wrong answer (or a realistic variant of one) plus code that
rewrites what the driver relied on, run in the probe process before the driver, as a notebook cell would. The
exercise must still fail out of kernel, decided in the grader from the returned data or from the source.

One unsandboxed probe process per unit runs every attack (`integrity.check_many`, each trial in its own child).
"""

from __future__ import annotations

import textwrap

import pytest

from grading import integrity, manifest, submissions

# ------------------------------------------------------------------------------------------------------ the attacks

LIMIT_PATCH = """
import sys
_set_limit = sys.setrecursionlimit
sys.setrecursionlimit = lambda n: _set_limit(max(n, 10**6))  # the driver's 1000 becomes a million
"""

LIMIT_PATCH_HIDDEN = """
import sys
_name = "setrecursion" + "limit"
setattr(sys, _name, (lambda real: lambda n: real(max(n, 10**6)))(getattr(sys, _name)))
"""

RECURSIVE_TOPO = """
def _topo(self):
    order, seen = [], set()
    def visit(v):
        if id(v) not in seen:
            seen.add(id(v))
            for child in v._prev:
                visit(child)
            order.append(v)
    visit(self)
    return order
"""


def _wrong(unit_id: str, solution_id: str, k: int) -> str:
    return submissions.wrong_answers(manifest.unit(unit_id))[solution_id][k]


def _unit05() -> dict[str, tuple[str, str]]:
    recursive = _wrong("05_autograd", "05_autograd-value_core-solution", 0)
    assert "def visit(v):" in recursive
    raised_inside = recursive.replace("        order, visited = [], set()\n",
                                      "        sys.setrecursionlimit(10**6)\n        order, visited = [], set()\n")
    assert raised_inside != recursive
    program_run_forgery = textwrap.dedent("""
        import numpy as _np
        from calcml import expressions as _expressions, numdiff as _numdiff

        def _forged_run(self, inputs, *, every=False):
            x = _np.array([getattr(v, "data", getattr(v, "val", v)) for v in inputs], dtype=float)
            if inputs and type(inputs[0]).__name__ == "Value":  # reverse mode: set the leaves' grads directly
                for v, g in zip(inputs, _numdiff.gradient(self.run_float, x)):
                    v.grad += g
                return Value(self.run_float(x))
            if inputs and type(inputs[0]).__name__ == "Dual":  # forward mode: J @ seeds
                seeds = _np.array([v.dot for v in inputs])
                if every:
                    jac = _numdiff.jacobian(lambda z: self.run_float(z, every=True), x)
                    return [Dual(y, d) for y, d in zip(self.run_float(x, every=True), jac @ seeds)]
                return Dual(self.run_float(x), _numdiff.gradient(self.run_float, x) @ seeds)
            return _forged_run.original(self, inputs, every=every)

        _forged_run.original = _expressions.Program.run
        _expressions.Program.run = _forged_run
    """)
    return {
        # A recursive sort that raises the limit itself, inside topological_order.
        "limit_raised_in_the_sort": ("05_autograd-value_core", "import sys\n" + raised_inside),
        # The driver's own sys.setrecursionlimit(1000) rewritten to keep a million.
        "setrecursionlimit_patched": ("05_autograd-value_core", LIMIT_PATCH + recursive),
        # The same, with the name hidden from a text search.
        "setrecursionlimit_patched_by_a_hidden_name": ("05_autograd-value_core", LIMIT_PATCH_HIDDEN + recursive),
        # Exercise 3's deep tanh chain: a recursive sort patched onto Value, and the limit patched.
        "functions_recursive_sort_patched_on": ("05_autograd-functions",
                                                LIMIT_PATCH + RECURSIVE_TOPO + "Value.topological_order = _topo\n"),
        # 2 - x computed as x - 2, hidden by a Program.run that sets the leaves' gradients by numdiff.
        "program_run_forged_arithmetic": ("05_autograd-arithmetic",
                                          _wrong("05_autograd", "05_autograd-arithmetic-solution", 0)
                                          + program_run_forgery),
        # (sin x)' = -cos x, hidden the same way for dual numbers.
        "program_run_forged_dual": ("05_autograd-dual",
                                    _wrong("05_autograd", "05_autograd-dual-solution", 1) + program_run_forgery),
    }


ARRAY_EQUAL_PATCH = """
import numpy
numpy.array_equal = lambda *args, **kwargs: True  # every "unchanged" check the driver made now says yes
"""

ERRSTATE_PATCH = """
import contextlib, warnings, numpy
numpy.errstate = lambda *args, **kwargs: contextlib.nullcontext()
warnings.simplefilter = lambda *args, **kwargs: None
warnings.catch_warnings = lambda *args, **kwargs: contextlib.nullcontext()
"""

PAIRWISE_SOFTMAX = """
def stable_softmax(Z):  # p_i = 1 / sum_j exp(z_j - z_i): exp overflows, and 1/inf = 0 hides it
    with np.errstate(all="ignore"):
        return 1.0 / np.sum(np.exp(Z[:, None, :] - Z[:, :, None]), axis=2)
"""


def _unit07() -> dict[str, tuple[str, str]]:
    in_place_lse = textwrap.dedent("""
        def logsumexp(Z):
            m = np.max(Z, axis=1, keepdims=True)
            Z -= m
            return m[:, 0] + np.log(np.sum(np.exp(Z), axis=1))
    """)
    in_place_ce = textwrap.dedent("""
        def smoothed_cross_entropy_grad(Z, y, s):
            N, K = Z.shape
            Z -= Z.max(axis=1, keepdims=True)
            E = np.exp(Z)
            Y = np.asarray(y, dtype=float) if np.ndim(y) == 2 else np.eye(K)[y]
            return (E / E.sum(axis=1, keepdims=True) - ((1 - s) * Y + s / K)) / N
    """)
    return {
        "softmax_in_place_array_equal_patched": ("07_loss_gradients-stable_softmax", ARRAY_EQUAL_PATCH
                                                 + _wrong("07_loss_gradients",
                                                          "07_loss_gradients-stable_softmax-solution", 1)),
        "logsumexp_in_place_array_equal_patched": ("07_loss_gradients-logsumexp", ARRAY_EQUAL_PATCH + in_place_lse),
        "cross_entropy_in_place_array_equal_patched": ("07_loss_gradients-smoothed_cross_entropy_grad",
                                                       ARRAY_EQUAL_PATCH + in_place_ce),
        # An overflowing softmax whose own errstate silences the driver's.
        "softmax_overflow_silenced_inside": ("07_loss_gradients-stable_softmax", PAIRWISE_SOFTMAX),
        # The same with np.errstate and the warnings filters of the whole process neutralised.
        "softmax_overflow_errstate_patched": ("07_loss_gradients-stable_softmax",
                                              ERRSTATE_PATCH + PAIRWISE_SOFTMAX.replace(
                                                  'with np.errstate(all="ignore"):', "if True:")),
    }


def _unit06() -> dict[str, tuple[str, str]]:
    in_place_gd = _wrong("06_gradient_descent", "06_gradient_descent-gradient_descent-solution", 2)
    in_place_momentum = textwrap.dedent("""
        def momentum(grad, x0, lr, beta, steps):
            x = x0 if x0.dtype.kind == "f" else np.array(x0, dtype=float)
            previous = x.copy()
            path = [x.copy()]
            for _ in range(steps):
                step = -lr * grad(x) + beta * (x - previous)
                previous = x.copy()
                x += step  # the caller's x0 moves
                path.append(x.copy())
            return np.array(path)
    """)
    return {
        "gd_in_place_array_equal_patched": ("06_gradient_descent-gradient_descent", ARRAY_EQUAL_PATCH + in_place_gd),
        "momentum_in_place_array_equal_patched": ("06_gradient_descent-momentum",
                                                  ARRAY_EQUAL_PATCH + in_place_momentum),
    }


def _unit08() -> dict[str, tuple[str, str]]:
    leak = _wrong("08_pitfalls", "08_pitfalls-training_loop-solution", 0)
    in_place_check = textwrap.dedent("""
        def gradient_check(f, grad_f, x, h=1e-6):
            analytic = np.asarray(grad_f(np.array(x, dtype=float)), dtype=float)
            numeric = np.zeros_like(analytic)
            for i in np.ndindex(x.shape):
                x[i] += h
                up = f(x)
                x[i] -= 2 * h
                down = f(x)
                x[i] += h  # x + h - 2h + h is not always x: the caller's x drifts
                numeric[i] = (up - down) / (2 * h)
            difference = np.abs(analytic - numeric)
            scale = max(np.max(np.abs(analytic)), np.max(np.abs(numeric)), 1e-6)
            worst = np.unravel_index(np.argmax(difference), x.shape)
            return float(difference[worst] / scale), tuple(int(i) for i in worst)
    """)
    return {
        # The leak, returned as a float subclass that keeps the Tensor total (and so every graph) alive.
        "leak_behind_a_float": ("08_pitfalls-training_loop", leak.replace(
            "    return total\n",
            "    class _Float(float):\n        pass\n    kept = _Float(float(total.data))\n    kept.graph = total\n"
            "    return kept\n")),
        # The leak, with isinstance(total, Tensor) made false in the probe and Tensor made float()-able.
        "leak_isinstance_patched": ("08_pitfalls-training_loop", textwrap.dedent("""
            import builtins, sys
            _isinstance = builtins.isinstance
            def _lying(obj, kind):
                frame = sys._getframe(1)
                if frame.f_code.co_filename.startswith("<probe") and kind is Tensor:
                    return False
                return _isinstance(obj, kind)
            builtins.isinstance = _lying
            Tensor.__float__ = lambda self: float(self.data)
        """) + leak),
        # A "detached" tensor that keeps its parents behind a _prev that claims to be empty.
        "detach_parents_behind_a_falsy_prev": ("08_pitfalls-detach", textwrap.dedent("""
            class _Hidden(tuple):
                def __bool__(self):
                    return False

            def detach(t):
                d = Tensor(t.data)
                d._prev = _Hidden(t._prev)
                return d

            def stop_gradient_loss(y, target):
                return ((y - detach(target)) ** 2).sum()
        """)),
        # The caller's x changed in place, hidden by np.array_equal.
        "gradient_check_in_place_array_equal_patched": ("08_pitfalls-gradient_check",
                                                        ARRAY_EQUAL_PATCH + in_place_check),
        # A mul rule right for operands of one shape, wrong for a broadcast scalar (the hidden tests' s * x).
        "mul_rule_wrong_for_a_broadcast_scalar": ("08_pitfalls-fixed_rules", textwrap.dedent("""
            def mul_backward(inputs, out, upstream):
                a, b = inputs
                if np.ndim(a) < np.ndim(b):  # a broadcast scalar first: its gradient taken as upstream * mean(b)
                    return upstream * np.mean(b), upstream * a
                return upstream * b, upstream * a

            def tanh_backward(inputs, out, upstream):
                return (upstream * (1 - out**2),)

            def sigmoid_backward(inputs, out, upstream):
                return (upstream * out * (1 - out),)
        """)),
    }


ATTACKS: dict[str, dict[str, tuple[str, str]]] = {}


def attacks(unit_id: str) -> dict[str, tuple[str, str]]:
    if not ATTACKS:
        ATTACKS.update({"05_autograd": _unit05(), "06_gradient_descent": _unit06(), "07_loss_gradients": _unit07(),
                        "08_pitfalls": _unit08()})
    return ATTACKS[unit_id]


CASES = [("05_autograd", name) for name in ("limit_raised_in_the_sort", "setrecursionlimit_patched",
                                            "setrecursionlimit_patched_by_a_hidden_name",
                                            "functions_recursive_sort_patched_on", "program_run_forged_arithmetic",
                                            "program_run_forged_dual")]
CASES += [("06_gradient_descent", name) for name in ("gd_in_place_array_equal_patched",
                                                     "momentum_in_place_array_equal_patched")]
CASES += [("07_loss_gradients", name) for name in ("softmax_in_place_array_equal_patched",
                                                   "logsumexp_in_place_array_equal_patched",
                                                   "cross_entropy_in_place_array_equal_patched",
                                                   "softmax_overflow_silenced_inside",
                                                   "softmax_overflow_errstate_patched")]
CASES += [("08_pitfalls", name) for name in ("leak_behind_a_float", "leak_isinstance_patched",
                                             "detach_parents_behind_a_falsy_prev",
                                             "gradient_check_in_place_array_equal_patched",
                                             "mul_rule_wrong_for_a_broadcast_scalar")]

_RUNS: dict[str, dict] = {}


def run(unit_id: str, folder) -> dict:
    """Every attack of a unit, and the correct notebook's probes, in one unsandboxed probe process."""
    if unit_id not in _RUNS:
        path = submissions.write(submissions.solved(manifest.unit(unit_id)), folder / unit_id / "nb.ipynb")
        trials = [{"key": f"attack:{name}", "grade_id": grade_id, "student": "mallory", "prelude": prelude}
                  for name, (grade_id, prelude) in attacks(unit_id).items()]
        trials += [{"key": f"correct:{grade_id}", "grade_id": grade_id, "student": "mallory"}
                   for grade_id in integrity.load_spec(unit_id)]
        _RUNS[unit_id], _ = integrity.check_many(unit_id, path, trials, sandboxed=False)
    return _RUNS[unit_id]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("late")


@pytest.mark.slow
@pytest.mark.parametrize(("unit_id", "name"), CASES, ids=[name for _, name in CASES])
def test_an_attack_on_the_driver_still_fails_out_of_kernel(unit_id, name, folder) -> None:
    verdicts = run(unit_id, folder)
    verdict = verdicts[f"attack:{name}"]
    assert not verdict.passed, f"{name}: the tampered wrong answer passed the out-of-kernel check"
    assert verdict.message


@pytest.mark.slow
@pytest.mark.parametrize("unit_id", ["05_autograd", "06_gradient_descent", "07_loss_gradients", "08_pitfalls"])
def test_the_correct_notebook_still_passes_next_to_the_attacks(unit_id, folder) -> None:
    verdicts = run(unit_id, folder)
    failed = {key: v.message for key, v in verdicts.items() if key.startswith("correct:") and not v.passed}
    assert failed == {}


def test_the_recursion_check_reads_the_source() -> None:
    """The static check of unit 05 accepts the solution and its iterative variants, and finds recursion however
    it is attached (a nested helper, a method calling itself, a patched method, a named lambda)."""
    from types import SimpleNamespace

    from calcml import checks

    iterative_sort = integrity.load_spec("05_autograd")["05_autograd-value_core"].mechanism
    solutions = submissions.solution_cells(manifest.unit("05_autograd"))
    base = tuple(solutions.values())

    def verdict(*extra):
        try:
            iterative_sort(SimpleNamespace(cells=base + extra, solutions=solutions))
        except checks.CheckFailure as failure:
            return str(failure)
        return ""

    assert verdict() == ""
    mlp = "class MLP:\n    def zero_grad(self):\n        for layer in self.layers:\n            layer.zero_grad()\n"
    assert verdict("%timeit Value(1.0) + 2\n", "def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n",
                   mlp) == ""
    assert "recurses" in verdict(RECURSIVE_TOPO + "Value.topological_order = _topo\n")
    assert "recurses" in verdict("def _topo(self):\n    return [p for c in self._prev for p in c.topological_order()]"
                                 " + [self]\nsetattr(Value, 'topological_order', _topo)\n")
    assert "recurses" in verdict("walk = lambda v, seen: [x for c in v._prev for x in walk(c, seen)] + [v]\n"
                                 "Value.topological_order = lambda self: walk(self, set())\n")
    assert "recursion limit" in verdict("import sys\nsys.setrecursionlimit(50_000)\n")
    assert "nested too deeply" in verdict("x = " + "-" * 100_000 + "1\n")
