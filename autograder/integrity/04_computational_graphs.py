"""Out-of-kernel probes of unit 04 (computational graphs): see `integrity/__init__.py` and `grading.integrity`.

A graph travels as a *recipe*: leaf values and a list of steps `[op, i, j]` (op in add, mul, tanh; i and j index
earlier nodes, leaves first; tanh ignores j). The driver builds it from its own node class, with the attributes
of the notebook's `Node` (data, grad, _prev, _local_grads, _op, label), so nothing the notebook redefines can
change the graph; the grader rebuilds the same expression as plain floats.
"""

from __future__ import annotations

import math
import textwrap

import numpy as np

from calcml import checks, numdiff
from grading import mechanism
from grading.integrity import Probe, close, require

GRAPH = textwrap.dedent("""
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
""")


def random_graph(rng, n_leaves=4, n_ops=12):
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


def chain(depth, start):
    return {"leaves": [start], "recipe": [["tanh", k, k] for k in range(depth)]}


def diamonds(count, start):
    recipe = []
    for k in range(count):
        top = 3 * k
        recipe += [["tanh", top, top], ["mul", top, top], ["add", top + 1, top + 2]]
    return {"leaves": [start], "recipe": recipe}


def comb(length, a, w):
    """a·w·w·...·w: w is used `length + 1` times."""
    return {"leaves": [a, w], "recipe": [["mul", 0, 1]] + [["mul", k + 2, 1] for k in range(length)]}


def size(graph):
    return len(graph["leaves"]) + len(graph["recipe"])


def value(graph, x, replace=None):
    """The root's value for leaf values `x`; `replace=(k, t)` forces node k to the value t."""
    values = list(x)
    if replace is not None and replace[0] < len(values):
        values[replace[0]] = replace[1]
    for op, i, j in graph["recipe"]:
        v = np.tanh(values[i]) if op == "tanh" else values[i] + values[j] if op == "add" else values[i] * values[j]
        values.append(replace[1] if replace is not None and replace[0] == len(values) else v)
    return values[-1]


def node_values(graph):
    values = list(graph["leaves"])
    for op, i, j in graph["recipe"]:
        values.append(math.tanh(values[i]) if op == "tanh" else values[i] + values[j] if op == "add"
                      else values[i] * values[j])
    return values


def numerical_grads(graph):
    """dL/d(node) for every node, by central differences on the plain function."""
    x0, values = graph["leaves"], node_values(graph)
    return np.array([numdiff.derivative(lambda t, k=k: value(graph, x0, (k, t)), values[k])
                     for k in range(size(graph))])


def inputs_of(graph):
    n = len(graph["leaves"])
    return [[] for _ in range(n)] + [[i] if op == "tanh" else [i, j] for op, i, j in graph["recipe"]]


# ---------------------------------------------------------------------------------------------- forward_backward

def fb_inputs(rng):
    points = rng.uniform(-2.0, 2.0, size=(25, 4)).tolist()
    points += [[0.0, float(rng.uniform(0.5, 2)), float(rng.uniform(-1, 1)), 1.0],  # a = 0: dL/db = 0
               [float(rng.uniform(1, 1.5)), 0.8, 1.5, float(rng.uniform(-4, -2))],  # tanh near saturation
               [float(rng.uniform(-1, 0)), float(rng.uniform(0.5, 1)), 0.0, float(rng.uniform(0.1, 0.5))]]  # c = 0
    return {"points": points}


FB_DRIVER = textwrap.dedent("""
    result = [list(forward_backward(*(float(t) for t in p))) for p in inputs["points"]]
""")


def _L_plain(v):
    a, b, c, f = v
    return np.tanh(a * b + c) * f


def fb_verify(inputs, result):
    require(isinstance(result, list) and len(result) == len(inputs["points"]), "forward_backward gave too few results.")
    for point, got in zip(inputs["points"], result, strict=True):
        v = np.array(point)
        where = "at (a, b, c, f) = (" + ", ".join(f"{t:.4g}" for t in v) + ")"
        require(isinstance(got, list) and len(got) == 5,
                f"forward_backward {where} should return 5 numbers (L, dL/da, dL/db, dL/dc, dL/df).")
        close(got[0], _L_plain(v), what="value of L", where=where, hint="The forward pass is L = tanh(a·b + c)·f.")
        close(got[1:], numdiff.gradient(_L_plain, v), what="gradient [dL/da, dL/db, dL/dc, dL/df]", where=where,
              hint="Walk backwards from dL/dL = 1: dL/df = tanh(a·b + c) and dL/dt = f; tanh'(v) = 1 - tanh(v)², "
                   "at v = a·b + c; the sum passes its gradient to a·b and to c; and a·b sends a the OTHER factor, b.")


# ---------------------------------------------------------------------------------------------- topological_sort

def hub(count, a, b):
    """a + b, then `count` more additions of a: the leaf a has `count + 1` users."""
    return {"leaves": [a, b], "recipe": [["add", 0, 1]] + [["add", k + 2, 0] for k in range(count)]}


def topo_inputs(rng):
    # as many random graphs as the hidden tests, as large, and their deep and wide cases (at least as deep)
    graphs = [random_graph(rng, int(rng.integers(1, 7)), int(rng.integers(1, 46))) for _ in range(40)]
    graphs += [{"leaves": [float(rng.uniform(-2, 2))], "recipe": [["mul", 0, 0]]},
               {"leaves": [float(rng.uniform(-2, 2))], "recipe": []},
               diamonds(int(rng.integers(12, 16)), float(rng.uniform(0.05, 0.3))),
               comb(int(rng.integers(12_000, 13_000)), 0.9, 0.99),
               hub(int(rng.integers(60, 80)), 0.5, 0.2),
               chain(int(rng.integers(20_000, 22_000)), float(rng.uniform(0.1, 0.9)))]
    return {"graphs": graphs}


TOPO_DRIVER = GRAPH + textwrap.dedent("""
    result = []
    for graph in inputs["graphs"]:
        nodes = build(graph)
        index = {id(node): k for k, node in enumerate(nodes)}
        result.append([index.get(id(node), -1) for node in topological_sort(nodes[-1])])
""")


def check_order(graph, order, what):
    n = size(graph)
    require(isinstance(order, list) and all(type(k) is int for k in order), f"topological_sort {what} did not "
                                                                              "return a list of the graph's nodes.")
    require(-1 not in order, f"topological_sort {what} returned objects that are not nodes of the graph.")
    require(len(order) == len(set(order)), f"topological_sort {what} lists a node more than once: keep a set of the "
                                           "nodes already visited.")
    require(len(order) == n, f"topological_sort {what} returned {len(order)} nodes, but the graph has {n}.")
    require(order[-1] == n - 1, f"topological_sort {what} must end with the root.")
    position = {k: p for p, k in enumerate(order)}
    for k, parents in enumerate(inputs_of(graph)):
        for p in parents:
            require(position[p] < position[k], f"topological_sort {what} puts a node before one of its inputs: every "
                                               "node must come after all of its inputs.")


def topo_verify(inputs, result):
    require(isinstance(result, list) and len(result) == len(inputs["graphs"]), "topological_sort gave too few "
                                                                               "results.")
    for graph, order in zip(inputs["graphs"], result, strict=True):
        check_order(graph, order, f"on a graph of {size(graph)} nodes")


# ------------------------------------------------------------------------------------------------------- backward

def _random_topological_order(graph, rng):
    """A valid order that is (usually) not creation order: Kahn's algorithm with random choices."""
    parents = inputs_of(graph)
    users: list[list[int]] = [[] for _ in parents]
    waiting = [len(set(p)) for p in parents]
    for k, ps in enumerate(parents):
        for p in set(ps):
            users[p].append(k)
    ready, order = [k for k, w in enumerate(waiting) if w == 0], []
    while ready:
        k = ready.pop(int(rng.integers(len(ready))))
        order.append(k)
        for u in users[k]:
            waiting[u] -= 1
            if waiting[u] == 0:
                ready.append(u)
    return order


def backward_inputs(rng):
    graphs = [random_graph(rng, int(rng.integers(1, 6)), int(rng.integers(1, 30))) for _ in range(30)]
    graphs += [diamonds(int(rng.integers(8, 10)), float(rng.uniform(0.05, 0.3))), comb(40, 0.7, 0.95),
               {"leaves": [float(rng.uniform(-2, 2))], "recipe": [["mul", 0, 0]]}]
    cases = [{"graph": g, "order": list(range(size(g))), "every_node": True} for g in graphs]
    for g in graphs[:4]:
        cases.append({"graph": g, "order": _random_topological_order(g, rng), "every_node": True})
    deep = chain(3000, float(rng.uniform(0.02, 0.08)))
    cases.append({"graph": deep, "order": list(range(size(deep))), "every_node": False})
    return {"cases": cases}


BACKWARD_DRIVER = GRAPH + textwrap.dedent("""
    result = []
    for case in inputs["cases"]:
        nodes = build(case["graph"])
        backward(nodes[-1], [nodes[k] for k in case["order"]])
        chosen = nodes if case["every_node"] else nodes[: len(case["graph"]["leaves"])]
        result.append({"root": nodes[-1].grad, "grads": [node.grad for node in chosen]})
""")


def backward_verify(inputs, result):
    require(isinstance(result, list) and len(result) == len(inputs["cases"]), "backward gave too few results.")
    for case, got in zip(inputs["cases"], result, strict=True):
        graph = case["graph"]
        where = f"of a graph with {size(graph)} nodes"
        require(isinstance(got, dict), f"backward gave no gradients {where}.")
        if got.get("root") != 1.0:
            raise checks.CheckFailure(f"After backward, root.grad is {got.get('root')!r} {where}, but dL/dL = 1: "
                                      "seed root.grad = 1.0 before walking the graph.")
        if case["every_node"]:
            expected = numerical_grads(graph)
        else:
            expected = numdiff.gradient(lambda x, graph=graph: value(graph, x), np.array(graph["leaves"]))
        hint = ("Walk the order in reverse, pass local × upstream to each input, and ACCUMULATE (+=): a node used "
                "several times receives one contribution per use.")
        order = "" if case["order"] == list(range(size(graph))) else " (given in an order other than creation order)"
        close(got.get("grads"), expected, what="gradients of the nodes", where=where + order, hint=hint)


# --------------------------------------------------------------------------------------------------- count_paths

def exact_paths(graph):
    """The number of paths from every node to the root: a sum over the arrows, each use its own arrow."""
    n = size(graph)
    counts = [0] * n
    counts[-1] = 1
    for k in range(n - 1, len(graph["leaves"]) - 1, -1):
        op, i, j = graph["recipe"][k - len(graph["leaves"])]
        counts[i] += counts[k]
        if op != "tanh":
            counts[j] += counts[k]
    return counts


def count_inputs(rng):
    cases = []
    for _ in range(20):
        graph = random_graph(rng, int(rng.integers(1, 5)), int(rng.integers(1, 25)))
        chosen = rng.choice(size(graph), size=min(4, size(graph)), replace=False)
        cases.append({"graph": graph, "nodes": [int(k) for k in chosen]})
    square = {"leaves": [2.0], "recipe": [["mul", 0, 0]]}
    cases.append({"graph": square, "nodes": [0, 1]})
    # 3**k paths through k diamonds: following them one by one cannot finish (3**64 ~ 3e30), and the exact int
    # shows that the counts were added up, not estimated. The cost shows in the numbers: no counter is kept.
    many = int(rng.integers(64, 80))
    cases.append({"graph": diamonds(many, 0.1), "nodes": [0, 3 * int(rng.integers(1, many)), 3 * many]})
    cases.append({"graph": diamonds(5, 0.1), "nodes": [6]})
    cases.append({"graph": chain(int(rng.integers(5000, 6000)), 0.5), "nodes": [0]})
    return {"cases": cases}


COUNT_DRIVER = GRAPH + textwrap.dedent("""
    result = []
    for case in inputs["cases"]:
        nodes = build(case["graph"])
        counts = [count_paths(nodes[-1], nodes[k], list(nodes)) for k in case["nodes"]]
        stranger = count_paths(nodes[-1], ProbeNode(1.0, "stranger"), list(nodes))
        result.append({"counts": counts, "stranger": stranger})
""")


def count_verify(inputs, result):
    require(isinstance(result, list) and len(result) == len(inputs["cases"]), "count_paths gave too few results.")
    for case, got in zip(inputs["cases"], result, strict=True):
        graph = case["graph"]
        counts = exact_paths(graph)
        require(isinstance(got, dict) and isinstance(got.get("counts"), list)
                and len(got["counts"]) == len(case["nodes"]), "count_paths gave no counts.")
        for k, answer in zip(case["nodes"], got["counts"], strict=True):
            if type(answer) is not int or answer != counts[k]:
                twice = any(op != "tanh" and i == j for op, i, j in graph["recipe"])
                hint = (" Some nodes use one input twice (x·x): each use is its own arrow, so loop over `_prev` "
                        "itself, not a set of it." if twice else "")
                shown = repr(answer) if len(repr(answer)) < 60 else repr(answer)[:57] + "..."
                expected = str(counts[k]) if counts[k] < 10**40 else f"about {float(counts[k]):.3g}"
                raise checks.CheckFailure(
                    f"count_paths from node {k} to the root of a graph of {size(graph)} nodes is {shown}, but there "
                    f"are {expected} paths (an exact int is needed).{hint} Where a node has several users, ADD their "
                    "counts (+=), as backward accumulates gradients.")
        require(got.get("stranger") == 0 and type(got.get("stranger")) is int,
                f"count_paths of a node that is not in the graph is {got.get('stranger')!r}; it has 0 paths to "
                "the root.")


# "No recursion" is a property of the mechanism: a recursive solution is right on every graph once the student's
# code raises the recursion limit, which it can do in the probe process as in the kernel. So it is read from the
# source, in the grader's process (the hidden tests rely on the default limit for all three exercises).
# backward and count_paths may call topological_sort (when order is None): that exercise is checked on its own.
PROBES = {
    "04_computational_graphs-forward_backward": Probe(FB_DRIVER, fb_inputs, fb_verify),
    "04_computational_graphs-topological_sort": Probe(TOPO_DRIVER, topo_inputs, topo_verify,
                                                      mechanism=mechanism.no_recursion("topological_sort")),
    "04_computational_graphs-backward": Probe(BACKWARD_DRIVER, backward_inputs, backward_verify,
                                              mechanism=mechanism.no_recursion("backward",
                                                                               ignore=("topological_sort",))),
    "04_computational_graphs-count_paths": Probe(COUNT_DRIVER, count_inputs, count_verify,
                                                 mechanism=mechanism.no_recursion("count_paths",
                                                                                  ignore=("topological_sort",))),
}
