"""Every number stated in the prose of unit 04 (computational graphs), checked independently.

The references are sympy (exact) and plain arithmetic written here, never the notebook's own code: the worked
tables of sections 3 to 5, and the pen-and-paper backpropagation of exercises 1 to 3 (its model derivation and
its rubric).
"""

from __future__ import annotations

import jupytext
import sympy as sp

from calcml import node_graphs
from grading import manifest

x, y, z = sp.symbols("x y z")
POINT = {x: 2, y: -3, z: 4}


def markdown() -> str:
    notebook = jupytext.read(manifest.source_script(manifest.unit("04_computational_graphs")))
    return "\n".join(c.source for c in notebook.cells if c.cell_type == "markdown")


def test_04_section_3_table() -> None:
    """L = (a·b + c)·f at a = 2, b = -3, c = 10, f = -2: d = 4, and the gradients 1, -2, 4, -2, -2, 6, -4."""
    a, b, c, f = sp.symbols("a b c f")
    at = {a: 2, b: -3, c: 10, f: -2}
    L = (a * b + c) * f
    assert (a * b + c).subs(at) == 4
    assert [sp.diff(L, v).subs(at) for v in (f, c, a, b)] == [4, -2, 6, -4]
    assert f.subs(at) == -2  # dL/dd = f, and dL/de = dL/dd · 1
    assert "nudging $a$ by $0.01$ moves $L$ by about $6 \\times 0.01 = 0.06$" in markdown()


def test_04_neuron_of_section_4() -> None:
    """z = 2·(-3) + 0·1 + 6.8814 ≈ 0.8814 and a = tanh(z) = 1/√2 ≈ 0.7071."""
    z_value = 2.0 * -3.0 + 0.0 * 1.0 + 6.8813735870195432
    assert abs(z_value - 0.8814) < 5e-5
    assert abs(float(sp.tanh(z_value)) - 1 / 2**0.5) < 1e-12
    assert abs(1 / 2**0.5 - 0.7071) < 5e-5
    assert "$a = \\tanh(z) = 1/\\sqrt2 \\approx 0.7071$" in markdown()


def test_04_fan_out_of_section_5() -> None:
    """L = (a + b)·a at a = 3, b = -1: dL/da = a + s = 3 + 2 = 5, two paths from a, one from b."""
    a, b = sp.symbols("a b")
    assert sp.diff((a + b) * a, a).subs({a: 3, b: -1}) == 5


def test_04_backprop_by_hand_forward_values() -> None:
    """u = -6, v = -2, w = -4, L = 16, as the model derivation says, from sympy and from node_graphs.BY_HAND."""
    u = x * y
    v = u + z
    w = v * x
    L = w**2
    assert [e.subs(POINT) for e in (u, v, w, L)] == [-6, -2, -4, 16]
    assert node_graphs.BY_HAND["leaves"] == {"x": 2, "y": -3, "z": 4}
    assert node_graphs.hand_values(node_graphs.BY_HAND) == {"x": 2, "y": -3, "z": 4, "u": -6, "v": -2, "w": -4,
                                                             "L": 16}
    text = markdown()
    for claim in ("$u = 2\\cdot(-3) = -6$", "$v = -6 + 4 = -2$", "$w = (-2)\\cdot 2 = -4$", "$L = (-4)^2 = 16$"):
        assert claim in text


def test_04_backprop_by_hand_adjoints() -> None:
    """dL/dw = -8, dL/dv = dL/du = dL/dz = -16, dL/dy = -32, dL/dx = 48 + 16 = 64 (two paths), by sympy with each
    node as a variable of its own."""
    t = sp.Symbol("t")
    L_of_w = t**2
    L_of_v = (t * x) ** 2
    L_of_u = ((t + z) * x) ** 2
    assert sp.diff(L_of_w, t).subs({t: -4}) == -8
    assert sp.diff(L_of_v, t).subs({t: -2, **POINT}) == -16
    assert sp.diff(L_of_u, t).subs({t: -6, **POINT}) == -16
    L = ((x * y + z) * x) ** 2
    assert [sp.diff(L, v).subs(POINT) for v in (z, y, x)] == [-16, -32, 64]
    # the two paths from x: through u (ū·y = (-16)(-3) = 48) and through w (w̄·v = (-8)(-2) = 16)
    assert (-16) * (-3) == 48 and (-8) * (-2) == 16 and 48 + 16 == 64
    assert sp.expand(sp.diff(L, x) - 2 * (x**2 * y + x * z) * (2 * x * y + z)) == 0
    assert 2 * (-4) * (-8) == 64
    text = markdown()
    assert "$\\bar x = \\bar u\\cdot y + \\bar w\\cdot v = (-16)(-3) + (-8)(-2) = 48 + 16 = 64$" in text
    assert "$\\partial L/\\partial x = 2(x^2y + xz)(2xy + z) = 2\\cdot(-4)\\cdot(-8) = 64$" in text


def test_04_backprop_by_hand_nudge() -> None:
    """Nudging x to 2.001 gives L ≈ 16.064 (16 + 0.001·64, to the three decimals written)."""
    L = ((x * y + z) * x) ** 2
    nudged = float(L.subs({**POINT, x: sp.Rational(2001, 1000)}))
    assert round(nudged, 3) == 16.064
    assert "nudging $x$ to $2.001$ gives $L \\approx 16.064$" in markdown()


def test_04_reference_adjoints_agree_with_sympy() -> None:
    """The hidden checks' reference (node_graphs.hand_adjoints) is the derivative computed above."""
    reference = node_graphs.hand_adjoints(node_graphs.BY_HAND)
    exact = {"x": 64, "y": -32, "z": -16, "u": -16, "v": -16, "w": -8, "L": 1}
    assert reference.keys() == exact.keys()
    assert all(abs(reference[name] - exact[name]) < 1e-7 for name in exact), reference
