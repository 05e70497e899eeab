"""Tests of calcml.graph: the layered drawing of a micrograd-style graph and the topological-order check."""

from __future__ import annotations

import itertools
import math
import sys
from collections.abc import Iterator
from typing import Any

import matplotlib.colors as mcolors
import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.axes import Axes
from matplotlib.text import Text

from calcml import graph, plots
from calcml.checks import CheckFailure

pytestmark = pytest.mark.filterwarnings("error")


class V:
    """A bare micrograd-style value: only the attributes `draw` reads (no engine)."""

    def __init__(self, data: float, label: str = "", prev: Any = (), op: str = "", grad: float | None = 0.0) -> None:
        self.data, self.grad, self._prev, self._op, self.label = data, grad, prev, op, label


@pytest.fixture(autouse=True)
def _close_figures() -> Iterator[None]:
    yield
    plt.close("all")


def classic() -> dict[str, V]:
    """L = (a*b + c) * f with its gradients written in by hand."""
    a, b, c, f = V(2.0, "a", grad=6.0), V(-3.0, "b", grad=-4.0), V(10.0, "c", grad=-2.0), V(-2.0, "f", grad=4.0)
    e = V(-6.0, "e", (a, b), "*", grad=-2.0)
    d = V(4.0, "d", (e, c), "+", grad=-2.0)
    return {"a": a, "b": b, "c": c, "f": f, "e": e, "d": d, "L": V(-8.0, "L", (d, f), "*", grad=1.0)}


def mlp(sizes: tuple[int, ...] = (3, 3, 1), seed: int = 0) -> V:
    """A micrograd-style multilayer perceptron graph (no engine: data are random)."""
    rng = np.random.default_rng(seed)
    layer = [V(float(x), f"x{i}") for i, x in enumerate(rng.normal(size=sizes[0]))]
    for depth, width in enumerate(sizes[1:]):
        out = []
        for j in range(width):
            total = V(0.1, f"b{depth}{j}")
            for i, x in enumerate(layer):
                w = V(float(rng.normal()), f"w{depth}{j}{i}")
                total = V(0.0, "", {total, V(0.0, "", (w, x), "*")}, "+")
            out.append(V(0.5, f"h{depth}{j}", (total,), "tanh"))
        layer = out
    return layer[0]


def artists(ax: Axes, gid: str) -> list[Any]:
    return [p for p in ax.patches if p.get_gid() == gid]


def text_at(ax: Axes, content: str) -> Text:
    (text,) = [t for t in ax.texts if t.get_text() == content]
    return text


def chain(depth: int) -> tuple[V, list[V]]:
    nodes = [V(0.5, "x")]
    for _ in range(depth):
        nodes.append(V(math.tanh(nodes[-1].data), "", (nodes[-1],), "tanh"))
    return nodes[-1], nodes


def test_draws_every_value_op_and_edge_with_data_and_grad() -> None:
    g = classic()
    ax = graph.draw(g["L"])
    assert len(artists(ax, "value")) == 7 and len(artists(ax, "op")) == 3
    assert len(artists(ax, "edge")) == 3 + 6  # op -> result, and input -> op
    texts = {t.get_text() for t in ax.texts}
    assert {"a", "data 2.000", "grad -4.000", "×", "+"} <= texts
    assert "grad 6.000" in texts and "data -8.000" in texts
    assert ax.get_title() == "Computational graph of L: 7 values, 3 operations"
    assert not ax.axison


def test_inputs_are_left_of_their_results_and_arrows_point_right() -> None:
    g = classic()
    ax = graph.draw(g["L"], title="classic")
    x = {name: text_at(ax, name).get_position()[0] for name in g}
    for node_name, node in g.items():
        for parent in node._prev:
            assert x[parent.label] < x[node_name]
    assert x["L"] == max(x.values())
    for arrow in artists(ax, "edge"):
        (x0, _), (x1, _) = arrow._posA_posB
        assert x0 < x1
    assert ax.get_title() == "classic"


def test_show_grad_false_hides_gradients_and_grad_of_overrides_them() -> None:
    g = classic()
    ax = graph.draw(g["L"], show_grad=False)
    assert not [t for t in ax.texts if t.get_text().startswith("grad")]
    ax = graph.draw(g["L"], grad_of=lambda node: 1.0 if node is g["L"] else None)
    grads = sorted(t.get_text() for t in ax.texts if t.get_text().startswith("grad"))
    assert grads == ["grad 1.000"] + ["grad ?"] * 6


def test_highlight_outlines_the_focus_in_vermillion_and_context_in_green() -> None:
    g = classic()
    ax = graph.draw(g["L"], highlight=[g["d"], g["L"]])
    edges = [mcolors.to_hex(p.get_edgecolor()).upper() for p in artists(ax, "value")]
    assert edges.count(plots.COLORS["vermillion"]) == 1 and edges.count(plots.COLORS["bluish_green"]) == 1
    assert set(edges) <= {c.upper() for c in plots.PALETTE}
    ops = [mcolors.to_hex(p.get_edgecolor()).upper() for p in artists(ax, "op")]
    assert ops.count(plots.COLORS["bluish_green"]) == 1  # the op of L, whose local gradient is used


def test_draws_on_given_axes_and_returns_them() -> None:
    _, given = plt.subplots(figsize=(5, 3))
    assert graph.draw(classic()["L"], ax=given) is given
    assert len(artists(given, "value")) == 7


def test_repeated_input_gets_two_distinct_arcs_and_sets_work_like_tuples() -> None:
    x = V(3.0, "x")
    square = V(9.0, "x²", (x, x), "*")
    ax = graph.draw(square)
    into_op = [a for a in artists(ax, "edge") if a._posA_posB[0][0] < text_at(ax, "×").get_position()[0]]
    assert len(into_op) == 2
    rads = {a.get_connectionstyle().rad for a in into_op}
    assert len(rads) == 2 and sum(rads) == pytest.approx(0.0)
    a, b = V(1.0, "a"), V(2.0, "b")
    ax = graph.draw(V(3.0, "s", {a, b}, "+"))
    assert len(artists(ax, "value")) == 3 and len(artists(ax, "edge")) == 3


def test_fan_out_node_is_drawn_once_with_an_arrow_to_each_use() -> None:
    a, b = V(3.0, "a"), V(-1.0, "b")
    s = V(2.0, "s", (a, b), "+")
    ax = graph.draw(V(6.0, "L", (s, a), "*"))
    assert [t.get_text() for t in ax.texts].count("a") == 1
    a_x, a_y = text_at(ax, "a").get_position()
    starts = [e._posA_posB[0] for e in artists(ax, "edge")]
    from_a = [(x, y) for x, y in starts if math.isclose(x, a_x + graph._W / 2) and abs(y - a_y) < 0.4]
    assert len(from_a) == 2 and from_a[0][1] != from_a[1][1]  # two arrows, leaving from two points


def test_fifty_node_mlp_is_legible() -> None:
    root = mlp()
    n = len(graph._collect(root))
    assert 45 <= n <= 80
    ax = graph.draw(root)
    width, height = ax.figure.get_size_inches()
    assert width <= 16 and height <= 12
    assert min(t.get_fontsize() for t in ax.texts if t.get_text().startswith("data")) >= 5
    boxes = [p.get_bbox() for p in artists(ax, "value")]
    for first, second in itertools.combinations(boxes, 2):
        assert not first.overlaps(second), "two value boxes overlap"


def test_leaves_and_root_have_their_own_fill() -> None:
    g = classic()
    ax = graph.draw(g["L"])
    fills = {mcolors.to_hex(p.get_facecolor(), keep_alpha=False) for p in artists(ax, "value")}
    assert len(fills) == 3


def test_deep_chains_are_walked_without_recursion_and_refused_by_draw() -> None:
    root, nodes = chain(10_000)
    assert len(graph._collect(root)) == 10_001
    graph.check_topological_order(nodes, root)  # iterative: no RecursionError at depth 10,000
    with pytest.raises(ValueError, match="more than 200 value nodes"):
        graph.draw(root)
    limit = sys.getrecursionlimit()
    assert limit < 10_000, "the test needs the default recursion limit to mean anything"


def test_figure_size_grows_with_the_graph_and_is_capped() -> None:
    small = graph.figure_size(classic()["L"])
    big = graph.figure_size(mlp())
    assert small[0] < big[0] <= 16 and big[1] <= 12
    assert graph.figure_size(chain(150)[0])[0] <= 16


def test_a_cycle_is_reported() -> None:
    a = V(1.0, "a")
    b = V(2.0, "b", (a,), "tanh")
    a._prev, a._op = (b,), "tanh"
    with pytest.raises(ValueError, match="cycle"):
        graph.draw(b)


def test_arrays_and_missing_labels_are_shown() -> None:
    leaf = V(np.ones((2, 3)), "")
    ax = graph.draw(V(7e-6, "", (leaf,), "sum", grad=None))
    texts = {t.get_text() for t in ax.texts}
    assert {"data shape (2, 3)", "data 7.00e-06", "grad ?", "sum"} <= texts
    assert ax.get_title().startswith("Computational graph of the output")


# check_topological_order


def test_check_accepts_any_valid_order() -> None:
    g = classic()
    graph.check_topological_order([g[k] for k in "abcfedL"], g["L"])
    graph.check_topological_order([g[k] for k in "fcbaedL"], g["L"])


@pytest.mark.parametrize(
    ("names", "message"),
    [
        ("abcfedLa", "appears twice"),
        ("abcedL", "is missing"),
        ("abcfdeL", "before its input"),
        ("abcfedLL", "appears twice"),
    ],
)
def test_check_names_the_problem(names: str, message: str) -> None:
    g = classic()
    with pytest.raises(CheckFailure, match=message):
        graph.check_topological_order([g[k] for k in names], g["L"])


def test_check_rejects_none_foreign_nodes_and_non_lists() -> None:
    g = classic()
    with pytest.raises(CheckFailure, match="return"):
        graph.check_topological_order(None, g["L"])  # type: ignore[arg-type]
    with pytest.raises(CheckFailure, match="not a node of this graph"):
        graph.check_topological_order([V(0.0, "stranger")] + [g[k] for k in "abcfedL"], g["L"])
    with pytest.raises(CheckFailure, match="not a list"):
        graph.check_topological_order(3, g["L"])  # type: ignore[arg-type]


def test_check_on_random_dags_agrees_with_creation_order_and_catches_swaps() -> None:
    rng = np.random.default_rng(7)
    for _ in range(20):
        nodes = [V(0.0, f"x{i}") for i in range(3)]
        for k in range(15):
            picks = rng.integers(0, len(nodes), size=2)
            nodes.append(V(0.0, f"n{k}", (nodes[picks[0]], nodes[picks[1]]), "+"))
        root = V(0.0, "root", tuple(nodes), "+")
        order = nodes + [root]
        graph.check_topological_order(order, root)
        i = int(rng.integers(0, len(order) - 1))
        j = next(j for j in range(i + 1, len(order)) if any(p is order[i] for p in order[j]._prev))
        order[i], order[j] = order[j], order[i]
        with pytest.raises(CheckFailure, match="before its input"):
            graph.check_topological_order(order, root)
