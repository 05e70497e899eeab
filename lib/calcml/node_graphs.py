"""Expression graphs as recipes, for the hidden checks of unit 04 (and any unit that builds graphs of nodes).

A graph travels as a *recipe*, plain JSON: leaf values and a list of steps `[op, i, j]` (op in add, mul, tanh; i and
j index earlier nodes, leaves first; tanh ignores j). `BUILD` is driver source that builds it from its own node
class, with the attributes of the notebook's `Node` (data, grad, _prev, _local_grads, _op, label), so nothing the
notebook redefines can change the graph; `value` evaluates the same expression as plain floats. Nothing here
orders a graph, walks it backwards or counts its paths: those are the exercises.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: Driver source: `ProbeNode` and `build(graph)`, the graph's nodes in creation order (leaves first, root last).
BUILD = """
import math

class ProbeNode:
    def __init__(self, data, label="", _prev=(), _local_grads=(), _op=""):
        self.data = float(data)
        self.grad = 0.0
        self._prev = tuple(_prev)
        self._local_grads = tuple(float(g) for g in _local_grads)
        self._op = _op
        self.label = label

    def __repr__(self):
        return f"Node({self.label}: data={self.data:.4g}, grad={self.grad:.4g})"

def build(graph):
    nodes = [ProbeNode(v, f"x{i}") for i, v in enumerate(graph["leaves"])]
    for k, (op, i, j) in enumerate(graph["recipe"]):
        p, q = nodes[i], nodes[j]
        if op == "tanh":
            t = math.tanh(p.data)
            nodes.append(ProbeNode(t, f"n{k}", (p,), (1.0 - t * t,), "tanh"))
        elif op == "add":
            nodes.append(ProbeNode(p.data + q.data, f"n{k}", (p, q), (1.0, 1.0), "+"))
        else:
            nodes.append(ProbeNode(p.data * q.data, f"n{k}", (p, q), (q.data, p.data), "*"))
    return nodes
"""


def random_graph(rng: np.random.Generator, n_leaves: int = 4, n_ops: int = 12) -> dict[str, Any]:
    """A random DAG with fan-out (nodes reused, sometimes twice by one op) whose every node reaches the root."""
    leaves = rng.uniform(-1.5, 1.5, size=n_leaves)
    recipe, used = [], set()
    for k in range(n_ops):
        size = n_leaves + k
        i = int(rng.integers(max(0, size - 4), size))
        j = int(rng.integers(0, size))
        op = str(rng.choice(["add", "mul", "tanh"], p=[0.35, 0.35, 0.3]))
        recipe.append([op, i, j])
        used.update({i} if op == "tanh" else {i, j})
    sinks = [k for k in range(n_leaves + n_ops) if k not in used]
    total = sinks[0]
    for k in sinks[1:]:
        recipe.append(["add", total, k])
        total = n_leaves + len(recipe) - 1
    return {"leaves": leaves.tolist(), "recipe": recipe}


def chain(depth: int, start: float) -> dict[str, Any]:
    """x -> tanh -> tanh -> ...: a graph `depth` operations deep."""
    return {"leaves": [start], "recipe": [["tanh", k, k] for k in range(depth)]}


def diamonds(count: int, start: float) -> dict[str, Any]:
    """`count` diamonds x -> tanh(x) + x·x in a row: each triples the number of paths to the root."""
    recipe = []
    for k in range(count):
        top = 3 * k
        recipe += [["tanh", top, top], ["mul", top, top], ["add", top + 1, top + 2]]
    return {"leaves": [start], "recipe": recipe}


def comb(length: int, a: float, w: float) -> dict[str, Any]:
    """a·w·w·...·w: w is used `length + 1` times."""
    return {"leaves": [a, w], "recipe": [["mul", 0, 1]] + [["mul", k + 2, 1] for k in range(length)]}


def size(graph: dict[str, Any]) -> int:
    """The number of nodes, leaves included."""
    return len(graph["leaves"]) + len(graph["recipe"])


def inputs_of(graph: dict[str, Any]) -> list[list[int]]:
    """The inputs of every node, by index (a leaf has none; tanh has one)."""
    n = len(graph["leaves"])
    return [[] for _ in range(n)] + [[i] if op == "tanh" else [i, j] for op, i, j in graph["recipe"]]
