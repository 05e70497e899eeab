"""`calcml.typed_by_hand`: numbers worked out with pen and paper, read from a cell, in the grader and the kernel."""

from __future__ import annotations

import ast
import types

import pytest

from calcml import checks, typed_by_hand

NAMES = frozenset({"forward"})


@pytest.mark.parametrize("source", [
    'forward = {"x": 2, "u": 2 * -3, "v": -6 + 4, "w": -2 * 2, "L": (-4) ** 2}',
    'forward = dict(x=2.0, u=-6.0)\nprint(forward["u"], forward.items())',
    'forward = {"c": 2 * math.pi}',
])
def test_numbers_typed_by_hand_pass(source) -> None:
    assert typed_by_hand.literal_problem(ast.parse(source), NAMES) is None


@pytest.mark.parametrize(("source", "culprit"), [
    ('forward = {"u": x * y}', "x * y"),
    ('forward = {"u": numdiff.derivative(f, 2.0)}', "numdiff.derivative(f, 2.0)"),
    ('forward = {k: 1.0 for k in "uvw"}', None),
    ('forward = {"u": -6}\nforward.update(v=compute())', None),
    ('forward = values', "values"),
])
def test_values_computed_by_code_are_found(source, culprit) -> None:
    name, node = typed_by_hand.literal_problem(ast.parse(source), NAMES)
    assert name == "forward"
    if culprit:
        assert ast.unparse(node) == culprit


class _Shell:
    def __init__(self, history: list[str]) -> None:
        self.user_ns = {"_ih": history}


def _in_kernel(monkeypatch, history: list[str]) -> None:
    import IPython

    monkeypatch.setattr(IPython, "get_ipython", lambda: _Shell(history))
    typed_by_hand.check_in_kernel(["forward"])


def test_the_kernel_reads_the_last_cell_that_assigned_the_answer(monkeypatch) -> None:
    computed = 'forward = {"u": engine.value("u")}'
    typed = 'forward = {"u": -6}'
    _in_kernel(monkeypatch, ["", computed, typed, "print(forward)"])  # the typed answer came last: it counts
    with pytest.raises(checks.CheckFailure, match=r"forward must hold numbers worked out by hand.*engine\.value"):
        _in_kernel(monkeypatch, ["", typed, computed])


def test_the_kernel_ignores_its_own_test_cells_and_a_missing_history(monkeypatch) -> None:
    _in_kernel(monkeypatch, ['forward = {"u": -6}', "def _hidden_checks():\n    forward = dict(values)\n"])
    _in_kernel(monkeypatch, [])
    import IPython

    monkeypatch.setattr(IPython, "get_ipython", lambda: None)
    typed_by_hand.check_in_kernel(["forward"])
    assert isinstance(typed_by_hand, types.ModuleType)
