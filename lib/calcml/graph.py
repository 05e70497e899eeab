r"""Draw the computational graph of any micrograd-style value with matplotlib (no graphviz needed).

A *value node* is any object with `data`, `grad`, `_prev` (its input nodes, a set or a tuple; a tuple may
name the same input twice, as in $x \cdot x$), `_op` (the operation that made it, `''` for a leaf) and
optionally `label`. `draw` lays the graph out in layers from left (inputs) to right (output): each value is
a rounded box showing its label, data and grad, and each operation a small circle between its inputs and
its result. A node's column is its longest distance from the output, so every arrow points to the right.

Everything here walks the graph with explicit queues and loops, never recursion, so a chain 10,000 nodes
deep costs nothing more than a short one (and `draw` refuses graphs too big to read, with a message).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch

from calcml.checks import CheckFailure
from calcml.plots import COLORS

#: `draw` refuses graphs with more value nodes than this: they would be unreadable.
MAX_NODES = 200
_HALF, _ROW, _W, _R = 1.0, 0.8, 1.1, 0.18  # column half-step, row pitch, box width, op radius (inches at 1:1)
_BENDS = (0.0, 0.15, -0.15, 0.3, -0.3, 0.45, -0.45)
_FILL = {"leaf": COLORS["sky_blue"] + "40", "inner": "#FFFFFF", "root": COLORS["orange"] + "55"}


def draw(
    root: Any,
    *,
    show_grad: bool = True,
    ax: Axes | None = None,
    title: str | None = None,
    highlight: Sequence[Any] = (),
    grad_of: Callable[[Any], float | None] | None = None,
) -> Axes:
    """Draw the graph that computes `root`: inputs on the left, `root` on the right.

    Args:
        root: The output node (any object with `data`, `grad`, `_prev`, `_op`, optionally `label`).
        show_grad: Also show each node's `grad` (a node whose grad is None shows "grad ?").
        ax: Axes to draw on; None makes a new figure sized to the graph.
        title: The title; None names the output and counts the nodes.
        highlight: Nodes to outline: the first in vermillion (the focus), the others in bluish green.
        grad_of: Overrides the grad shown for a node (return None for "not known yet"); used by explorers.

    Returns:
        The axes (hidden: a diagram has no coordinate axes), with artists tagged by `gid`
        "value", "op" and "edge".

    Raises:
        ValueError: If the graph has more than `MAX_NODES` value nodes, or a cycle.
    """
    nodes = _collect(root, limit=MAX_NODES)
    pos, op_pos = _layout(nodes)
    if ax is None:
        width, height = figure_size(root)
        _, ax = plt.subplots(figsize=(width, height))
        ax.set_position((0.005, 0.005, 0.99, 1 - 0.45 / height))
    xs, ys = [p[0] for p in pos.values()], [p[1] for p in pos.values()]
    height = 0.56 if show_grad else 0.42
    ax.set_xlim(min(xs) - _W / 2 - 0.1, max(xs) + _W / 2 + 0.1)
    ax.set_ylim(min(ys) - height / 2 - 0.1, max(ys) + height / 2 + 0.1)
    ax.set_aspect("equal", adjustable="box")
    ax.set_axis_off()
    box = ax.get_position()
    inches = min(box.width * ax.figure.get_figwidth() / np.ptp(ax.get_xlim()),
                 box.height * ax.figure.get_figheight() / np.ptp(ax.get_ylim()))
    size = float(np.clip(8.0 * inches, 3.0, 10.0))
    marks = {id(n): (COLORS["vermillion"] if i == 0 else COLORS["bluish_green"]) for i, n in enumerate(highlight)}
    for node in nodes:
        x, y = pos[id(node)]
        kind = "root" if node is root else ("inner" if id(node) in op_pos else "leaf")
        ax.add_patch(FancyBboxPatch((x - _W / 2, y - height / 2), _W, height, gid="value", zorder=2,
                                    boxstyle="round,pad=0,rounding_size=0.08", facecolor=_FILL[kind],
                                    edgecolor=marks.get(id(node), COLORS["blue"]),
                                    linewidth=3.0 if id(node) in marks else 1.2))
        grad = getattr(node, "grad", None) if grad_of is None else grad_of(node)
        lines = [(_label(node), "bold", "k"), (f"data {_fmt(getattr(node, 'data', None))}", "normal", "k")]
        lines += [(f"grad {_fmt(grad)}", "normal", "k" if grad is not None else "#6E6E6E")] if show_grad else []
        lines = [line for line in lines if line[0]]
        for k, (text, weight, color) in enumerate(lines):
            ax.text(x, y + ((len(lines) - 1) / 2 - k) * height / 3.2, text, ha="center", va="center",
                    fontsize=size, fontweight=weight, color=color, zorder=3)
        if id(node) in op_pos:
            symbol = {"*": "×", "-": "−", "": "·"}.get(_op(node), _op(node))
            context = id(node) in marks and node is not highlight[0]  # the op whose local gradient is used
            ax.add_patch(Circle(op_pos[id(node)], _R, gid="op", facecolor=COLORS["yellow"] + "80", zorder=2,
                                edgecolor=marks[id(node)] if context else "k", linewidth=2.5 if context else 1.0))
            ax.text(*op_pos[id(node)], symbol, ha="center", va="center", zorder=3,
                    fontsize=size * min(1.0, 2.4 / len(symbol)))
    for start, end, rad in _edges(nodes, pos, op_pos, height):
        ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=1.2 * size, gid="edge",
                                     connectionstyle=f"arc3,rad={rad}", color="k", linewidth=0.9, zorder=1,
                                     shrinkA=0, shrinkB=0))
    name = _label(root) or "the output"
    ax.set_title(f"Computational graph of {name}: {len(nodes)} values, {len(op_pos)} operations"
                 if title is None else title, fontsize=max(size + 2, 9))
    return ax


def figure_size(root: Any) -> tuple[float, float]:
    """A figure size (inches) at which `draw(root)` is legible, capped at 16 x 12.

    Raises:
        ValueError: If the graph has more than `MAX_NODES` value nodes, or a cycle.
    """
    pos, _ = _layout(_collect(root, limit=MAX_NODES))
    xs, ys = [p[0] for p in pos.values()], [p[1] for p in pos.values()]
    width, height = np.ptp(xs) + _W + 0.3, np.ptp(ys) + 0.8
    scale = min(1.0, 16.0 / width, 11.5 / height)
    return max(float(width * scale), 4.0), max(float(height * scale) + 0.5, 2.0)


def check_topological_order(order: Iterable[Any], root: Any) -> None:
    """Check that `order` lists every node of `root`'s graph exactly once, each after all of its inputs.

    Raises:
        CheckFailure: Naming the first node that is repeated, missing, foreign or out of order.
    """
    if order is None:
        raise CheckFailure("Your topological order is None; did the function forget to `return` its list?")
    if not isinstance(order, Iterable):
        raise CheckFailure(f"Your topological order is a {type(order).__name__}, not a list of nodes.")
    order, nodes = list(order), _collect(root)
    known, place = {id(n) for n in nodes}, {}
    for i, node in enumerate(order):
        if id(node) not in known:
            raise CheckFailure(f"Item {i} of your order, {_name(node)}, is not a node of this graph.")
        if id(node) in place:
            raise CheckFailure(f"Node {_name(node)} appears twice, at positions {place[id(node)]} and {i}: it is "
                               "an input of several nodes (fan-out). Mark nodes as visited so each is added once.")
        place[id(node)] = i
    if len(place) < len(nodes):
        lost = next(n for n in nodes if id(n) not in place)
        raise CheckFailure(f"Your order has {len(place)} of the {len(nodes)} nodes; {_name(lost)} is missing. "
                           "Every node reachable from the root through `_prev` must be listed.")
    for node in nodes:
        for parent in _parents(node):
            if place[id(parent)] > place[id(node)]:
                raise CheckFailure(
                    f"Node {_name(node)} is at position {place[id(node)]}, before its input {_name(parent)} at "
                    f"position {place[id(parent)]}: every node must come after all of its inputs.")


def _parents(node: Any) -> tuple[Any, ...]:
    return tuple(getattr(node, "_prev", ()) or ())


def _op(node: Any) -> str:
    return str(getattr(node, "_op", "") or "")


def _label(node: Any) -> str:
    text = str(getattr(node, "label", "") or "")
    return text if len(text) <= 14 else text[:13] + "…"


def _name(node: Any) -> str:
    data = _fmt(getattr(node, "data", None))
    return repr(_label(node)) if _label(node) else f"<{_op(node) or 'leaf'} node, data {data}>"


def _fmt(value: Any) -> str:
    if value is None:
        return "?"
    if np.ndim(value) > 0:
        return f"shape {np.shape(value)}"
    v = float(value)
    return f"{v:.3f}" if v == 0 or 1e-3 <= abs(v) < 1e4 else f"{v:.2e}"


def _collect(root: Any, limit: int | None = None) -> list[Any]:
    """Every node reachable from `root` through `_prev`, breadth first, without recursion."""
    seen = {id(root): root}
    queue = deque([root])
    while queue:
        for parent in _parents(queue.popleft()):
            if id(parent) not in seen:
                seen[id(parent)] = parent
                queue.append(parent)
                if limit is not None and len(seen) > limit:
                    raise ValueError(f"this graph has more than {limit} value nodes, too many to draw legibly; "
                                     "draw a smaller sub-expression (for example a few layers of it).")
    return list(seen.values())


def _layout(nodes: list[Any]) -> tuple[dict[int, tuple[float, float]], dict[int, tuple[float, float]]]:
    """(x, y) of each value node and of each op circle, keyed by `id`; the root is nodes[0] at the right."""
    rank = {id(n): 0 for n in nodes}  # longest distance to the root, in half-steps (ops sit at odd ranks)
    for _ in range(len(nodes) + 1):
        changed = False
        for node in nodes:
            for parent in _parents(node):
                if rank[id(parent)] < rank[id(node)] + 2:
                    rank[id(parent)], changed = rank[id(node)] + 2, True
        if not changed:
            break
    else:
        raise ValueError("the graph has a cycle: a node is (indirectly) an input of itself")
    deepest = max(rank.values())
    wanted: dict[int, list[float]] = {id(nodes[0]): [0.0]}
    pos: dict[int, tuple[float, float]] = {}
    op_pos: dict[int, tuple[float, float]] = {}
    for r in range(0, deepest + 1, 2):
        column = [n for n in nodes if rank[id(n)] == r]
        column.sort(key=lambda n: float(np.mean(wanted[id(n)])))
        targets = [float(np.mean(wanted[id(n)])) for n in column]
        ys = list(targets)
        for i in range(1, len(ys)):
            ys[i] = max(ys[i], ys[i - 1] + _ROW)
        shift = float(np.mean(targets) - np.mean(ys))
        for node, y in zip(column, ys, strict=True):
            x = (deepest - r) * _HALF
            pos[id(node)] = (x, y + shift)
            parents = _parents(node)
            if parents or _op(node):
                op_pos[id(node)] = (x - _HALF, y + shift)
            for k, parent in enumerate(parents):
                offset = ((len(parents) - 1) / 2 - k) * _ROW / 2
                wanted.setdefault(id(parent), []).append(y + shift + offset)
    return pos, op_pos


def _edges(nodes: list[Any], pos: dict, op_pos: dict, height: float) -> list[tuple[Any, Any, float]]:
    """(start, end, curvature) of every arrow; a node's outgoing arrows leave from spread-out points."""
    uses: dict[int, list[tuple[Any, int, int]]] = {}  # parent id -> (consumer, k-th use, of m uses)
    edges = []
    for node in nodes:
        if id(node) in op_pos:
            (ox, oy), (x, y) = op_pos[id(node)], pos[id(node)]
            edges.append(((ox + _R, oy), (x - _W / 2, y), 0.0))
        parents = _parents(node)
        for j, parent in enumerate(parents):
            k = sum(p is parent for p in parents[:j])
            uses.setdefault(id(parent), []).append((node, k, sum(p is parent for p in parents)))
    boxes = np.array([(x - _W / 2, y - height / 2, x + _W / 2, y + height / 2) for x, y in pos.values()]
                     + [(x - _R, y - _R, x + _R, y + _R) for x, y in op_pos.values()])
    for parent_id, out in uses.items():
        out.sort(key=lambda use: -pos[id(use[0])][1])
        for i, (node, k, m) in enumerate(out):
            x, y = pos[parent_id]
            start = (x + _W / 2, y + (height / 4 - i * height / 2 / (len(out) - 1) if len(out) > 1 else 0.0))
            target, radius = (op_pos[id(node)], _R) if id(node) in op_pos else ((pos[id(node)][0] - _W / 2,
                                                                                 pos[id(node)][1]), 0.0)
            d = np.subtract(start, target)
            end = tuple(np.add(target, radius * d / max(float(np.hypot(*d)), 1e-9)))
            # A repeated input gets one arc per use; a long edge bends around the nodes it skips.
            rad = 0.35 * (2 * k / (m - 1) - 1) if m > 1 else 0.0
            if -d[0] > _HALF:
                rad = min(_BENDS, key=lambda r: (_collisions(start, end, r, boxes), abs(r)))
            edges.append((start, end, rad))
    return edges


def _collisions(start: Any, end: Any, rad: float, boxes: np.ndarray) -> int:
    """How many points of the arc3 curve from `start` to `end` fall inside the (x0, y0, x1, y1) `boxes`."""
    (x0, y0), (x1, y1) = start, end
    cx, cy = (x0 + x1) / 2 + rad * (y1 - y0), (y0 + y1) / 2 - rad * (x1 - x0)
    t = np.linspace(0.1, 0.9, 17)[:, None]
    px = (1 - t) ** 2 * x0 + 2 * t * (1 - t) * cx + t**2 * x1
    py = (1 - t) ** 2 * y0 + 2 * t * (1 - t) * cy + t**2 * y1
    inside = (px > boxes[:, 0]) & (px < boxes[:, 2]) & (py > boxes[:, 1]) & (py < boxes[:, 3])
    return int(inside.sum())
