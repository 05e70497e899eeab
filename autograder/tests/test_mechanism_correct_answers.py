"""A correct answer never fails: the mechanism checks (`grading.mechanism`) on correct answers written as students
write them, out of kernel, on the course's own probes.

Every variant below is a correct solution of an exercise whose probe has a mechanism check (d_softplus: no
overflowing exponential; steepest_ascent_direction: no division by zero repaired afterwards; topological_sort,
backward, count_paths: no recursion). Each runs as the solution `prelude` of `integrity.check_many` (as the
attacks of test_probe_tampering.py do), in a notebook whose other cells use harmless dynamic features (dunders,
getattr with a computed name on the student's own objects, eval of a constant, globals() read, inspect, types,
vars, aliases of numpy functions, an unrelated recursive function): all of them must pass, numbers and mechanism.
"""

from __future__ import annotations

import textwrap

import pytest
from nbformat.v4 import new_code_cell

from grading import exercises as grading_exercises
from grading import integrity, manifest, mechanism, submissions

# ------------------------------------------------------------------------------------------------ harmless cells

NOISE = [
    """
    import inspect
    import types

    def describe(f):
        doc = (f.__doc__ or "").strip().splitlines()
        return f"{f.__name__}{inspect.signature(f)}: {doc[0] if doc else ''} ({type(f).__name__})"

    class Point:
        def __init__(self, x, y):
            self.x, self.y = x, y

        def __repr__(self):
            return f"{type(self).__name__}({self.x}, {self.y}) / {self.__class__.__qualname__}"

    p = Point(1, 2)
    print(p.__dict__, vars(p), p.__class__.__name__, describe(Point.__init__), p.__module__)
    for field in ("x", "y"):
        print(getattr(p, field))
        setattr(p, field, getattr(p, "x") + 1)
    ns = types.SimpleNamespace(a=1)
    print(eval("1 + 2"), eval("ns.a"), sorted(k for k in globals() if not k.startswith("_"))[:3], "np" in globals())
    """,
    """
    exp = np.exp
    norm = np.linalg.norm
    sigmoid = lambda t: 1 / (1 + np.exp(-t))  # naive, and unused by the exercises
    largest = max
    print(sigmoid(np.array([0.0])), exp(0.0), norm([3.0, 4.0]), largest(1, 2))

    def fib(n):
        return n if n < 2 else fib(n - 1) + fib(n - 2)  # recursive, and unrelated

    print(fib(10), globals()["fib"](5), getattr(np, "pi"))
    """,
]

# -------------------------------------------------------------------------------------------- unit 01: d_softplus

SOFTPLUS = {
    "where-abs": """
        def d_softplus(x):
            x = np.asarray(x, dtype=float)
            small = np.exp(-np.abs(x))
            return np.where(x >= 0, 1 / (1 + small), small / (1 + small))
        """,
    "logaddexp-neg": """
        def d_softplus(x):
            return np.exp(-np.logaddexp(0.0, -np.asarray(x, dtype=float)))
        """,
    "x-minus-softplus": """
        def d_softplus(x):
            x = np.asarray(x, dtype=float)
            return np.exp(x - np.logaddexp(0, x))
        """,
    "masked": """
        def d_softplus(x):
            x = np.asarray(x, dtype=float)
            out = np.empty_like(x)
            pos = x >= 0
            out[pos] = 1 / (1 + np.exp(-x[pos]))
            e = np.exp(x[~pos])
            out[~pos] = e / (1 + e)
            return out
        """,
    "minimum": """
        def d_softplus(x):
            x = np.asarray(x, dtype=float)
            a = np.exp(np.minimum(x, 0))
            b = np.exp(np.minimum(-x, 0))
            return a / (a + b)
        """,
    "helper-bounded-arg": """
        def _sigmoid_of_negative(t):
            e = np.exp(t)  # t <= 0 at every call
            return e / (1 + e)

        def d_softplus(x):
            x = np.asarray(x, dtype=float)
            s = _sigmoid_of_negative(-np.abs(x))
            return np.where(x >= 0, 1 - s, s)
        """,
    "helper-parameter": """
        def stable_sigmoid(t):
            z = np.exp(-np.abs(t))
            return np.where(t >= 0, 1 / (1 + z), z / (1 + z))

        def d_softplus(x):
            return stable_sigmoid(np.asarray(x, dtype=float))
        """,
    "shift-by-max": """
        def d_softplus(x):
            x = np.asarray(x, dtype=float)
            z = np.stack([np.zeros_like(x), x])
            z = z - z.max(axis=0)
            e = np.exp(z)
            return e[1] / e.sum(axis=0)
        """,
    "vectorized-scalar": """
        import math

        def _slope(v):
            if v >= 0:
                return 1 / (1 + math.exp(-v))
            e = math.exp(v)
            return e / (1 + e)

        def d_softplus(x):
            return np.vectorize(_slope, otypes=[float])(x)
        """,
    "bare-imports": """
        from numpy import exp, logaddexp, asarray

        def d_softplus(x):
            return exp(-logaddexp(0.0, -asarray(x, dtype=float)))
        """,
    "annotated-print": '''
        import warnings

        def d_softplus(x: np.ndarray) -> np.ndarray:
            """s'(x) = 1 / (1 + e^-x), stably."""
            x = np.asarray(x, dtype=float)
            if x.ndim > 2:
                warnings.warn("many dimensions")
            e = np.exp(-np.abs(x))
            print(f"d_softplus of {type(x).__name__} with shape {x.shape}")
            return np.where(x >= 0, 1, e) / (1 + e)
        ''',
    "loop": """
        def d_softplus(x):
            x = np.asarray(x, dtype=float)
            out = np.empty(x.shape)
            for index, v in np.ndenumerate(x):
                out[index] = 1 / (1 + np.exp(-v)) if v >= 0 else np.exp(v) / (1 + np.exp(v))
            return out
        """,
    "log1p": """
        def d_softplus(x):
            x = np.asarray(x, dtype=float)
            softplus_x = np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))
            return np.exp(x - softplus_x)
        """,
    "class": """
        class Softplus:
            def __repr__(self):
                return f"{self.__class__.__name__}()"

            def grad(self, x):
                x = np.asarray(x, dtype=float)
                return np.exp(-np.logaddexp(0.0, -x))

        def d_softplus(x):
            return Softplus().grad(x)
        """,
    "alias-of-exp": """
        def d_softplus(x):
            x = np.asarray(x, dtype=float)
            e = np.exp
            small = e(-np.abs(x))
            return np.where(x >= 0, 1.0, small) / (1.0 + small)
        """,
}

# ------------------------------------------------------------------------------------ unit 02: steepest ascent

STEEPEST = {
    "instructor": """
        def steepest_ascent_direction(grad_f, x):
            gradient = np.asarray(grad_f(x), dtype=float)
            length = np.linalg.norm(gradient)
            if length == 0:
                return np.zeros_like(gradient)
            return gradient / length
        """,
    "any": """
        def steepest_ascent_direction(grad_f, x):
            g = np.asarray(grad_f(x), dtype=float)
            if not np.any(g):
                return np.zeros_like(g)
            return g / np.linalg.norm(g)
        """,
    "allclose-atol-0": """
        def steepest_ascent_direction(grad_f, x):
            g = np.asarray(grad_f(x), dtype=float)
            if np.allclose(g, 0.0, atol=0.0):
                return np.zeros_like(g)
            return g / np.linalg.norm(g)
        """,
    "ifexp": """
        def steepest_ascent_direction(grad_f, x):
            g = np.asarray(grad_f(x), dtype=float)
            n = np.linalg.norm(g)
            return g / n if n > 0 else np.zeros_like(g)
        """,
    "if-else": """
        def steepest_ascent_direction(grad_f, x):
            g = np.array(grad_f(x), dtype=float)
            n = np.sqrt(np.sum(g**2))
            if n > 0:
                return g / n
            else:
                return np.zeros(len(g))
        """,
    "isclose": """
        def steepest_ascent_direction(grad_f, x):
            g = np.asarray(grad_f(x), dtype=float)
            n = np.linalg.norm(g)
            if np.isclose(n, 0.0, atol=0.0):
                return np.zeros_like(g)
            return g / n
        """,
    "math-sqrt": """
        import math

        def steepest_ascent_direction(grad_f, x):
            g = np.asarray(grad_f(x), dtype=float)
            n = math.sqrt(sum(v * v for v in g))
            if n == 0.0:
                return np.zeros_like(g)
            return np.array([v / n for v in g])
        """,
    "helper": """
        def _unit(v):
            n = np.linalg.norm(v)
            if n == 0:
                return np.zeros_like(v)
            return v / n

        def steepest_ascent_direction(grad_f, x):
            return _unit(np.asarray(grad_f(x), dtype=float))
        """,
    "count-nonzero": """
        def steepest_ascent_direction(grad_f, x):
            g = np.asarray(grad_f(x), dtype=float)
            if np.count_nonzero(g) == 0:
                return np.zeros_like(g)
            return g / np.linalg.norm(g)
        """,
    "array-equal-guard": """
        def steepest_ascent_direction(grad_f, x):
            g = np.asarray(grad_f(x), dtype=float)
            if np.array_equal(g, np.zeros_like(g)):
                return np.zeros_like(g)
            return g / np.linalg.norm(g)
        """,
    "default-then-divide": """
        def steepest_ascent_direction(grad_f, x):
            g = np.asarray(grad_f(x), dtype=float)
            n = np.linalg.norm(g)
            unit = np.zeros_like(g)
            if n != 0:
                unit = g / n
            return unit
        """,
    "tiny-floor": """
        def steepest_ascent_direction(grad_f, x):
            g = np.asarray(grad_f(x), dtype=float)
            return g / max(np.linalg.norm(g), np.finfo(float).tiny)
        """,
    "isfinite-check-first": """
        def steepest_ascent_direction(grad_f, x):
            g = np.asarray(grad_f(x), dtype=float)
            assert np.all(np.isfinite(g)), "the gradient must be finite"
            n = np.linalg.norm(g)
            if n == 0:
                print("stationary point: no direction")
                return np.zeros_like(g)
            return g / n
        """,
    "rescale-first": """
        def steepest_ascent_direction(grad_f, x):
            g = np.asarray(grad_f(x), dtype=float)
            scale = np.max(np.abs(g))
            if scale == 0:
                return np.zeros_like(g)
            h = g / scale
            return h / np.linalg.norm(h)
        """,
    "try-conversion": """
        def steepest_ascent_direction(grad_f, x):
            try:
                g = np.asarray(grad_f(x), dtype=float)
            except TypeError:
                g = np.array(list(grad_f(x)), dtype=float)
            n = float(np.linalg.norm(g))
            if not n:
                return np.zeros(g.shape)
            return g / n
        """,
}

# ------------------------------------------------------------------------------- unit 04: iterative graph walks

SORT = {
    "instructor": """
        def topological_sort(root):
            order, seen = [], set()
            stack = [(root, False)]
            while stack:
                node, inputs_done = stack.pop()
                if inputs_done:
                    order.append(node)
                elif node not in seen:
                    seen.add(node)
                    stack.append((node, True))
                    stack.extend((parent, False) for parent in node._prev if parent not in seen)
            return order
        """,
    "kahn": """
        from collections import deque

        def topological_sort(root):
            nodes, stack, seen = [], [root], {root}
            while stack:
                node = stack.pop()
                nodes.append(node)
                for parent in node._prev:
                    if parent not in seen:
                        seen.add(parent)
                        stack.append(parent)
            users = {node: 0 for node in nodes}
            for node in nodes:
                for parent in node._prev:
                    users[parent] += 1
            ready, reverse_order = deque([root]), []
            while ready:
                node = ready.popleft()
                reverse_order.append(node)
                for parent in node._prev:
                    users[parent] -= 1
                    if users[parent] == 0:
                        ready.append(parent)
            return reverse_order[::-1]
        """,
    "iterators": """
        def topological_sort(root):
            order, visited = [], {root}
            stack = [(root, iter(root._prev))]
            while stack:
                node, parents = stack[-1]
                parent = next(parents, None)
                if parent is None:
                    stack.pop()
                    order.append(node)
                elif parent not in visited:
                    visited.add(parent)
                    stack.append((parent, iter(parent._prev)))
            return order
        """,
    "index-pairs": """
        def topological_sort(root):
            order, state = [], {}
            stack = [[root, 0]]
            state[id(root)] = "open"
            while stack:
                top = stack[-1]
                node, k = top
                if k < len(node._prev):
                    top[1] += 1
                    parent = node._prev[k]
                    if id(parent) not in state:
                        state[id(parent)] = "open"
                        stack.append([parent, 0])
                else:
                    stack.pop()
                    state[id(node)] = "done"
                    order.append(node)
            return order
        """,
    "class": """
        class Sorter:
            def __init__(self):
                self.order, self.seen = [], set()

            def __repr__(self):
                return f"{type(self).__name__}({len(self.order)} nodes)"

            def run(self, root):
                stack = [(root, False)]
                while stack:
                    node, done = stack.pop()
                    if done:
                        self.order.append(node)
                    elif node not in self.seen:
                        self.seen.add(node)
                        stack.append((node, True))
                        stack.extend((p, False) for p in self.parents(node))
                return self.order

            def parents(self, node):
                return [p for p in node._prev if p not in self.seen]

        def topological_sort(root):
            return Sorter().run(root)
        """,
    "generator": """
        def _postorder(root):
            seen, stack = set(), [(root, False)]
            while stack:
                node, expanded = stack.pop()
                if expanded:
                    yield node
                elif node not in seen:
                    seen.add(node)
                    stack.append((node, True))
                    for parent in reversed(node._prev):
                        if parent not in seen:
                            stack.append((parent, False))

        def topological_sort(root):
            return list(_postorder(root))
        """,
    "ordered-dict": """
        def topological_sort(root):
            done = dict()
            stack = [root]
            while stack:
                node = stack[-1]
                pending = [p for p in node._prev if p not in done]
                if pending:
                    stack.extend(pending)
                else:
                    stack.pop()
                    done.setdefault(node, None)
            return list(done)
        """,
    "type-check": """
        def topological_sort(root):
            if not hasattr(root, "_prev"):
                raise TypeError(f"expected a Node, got {type(root).__name__}")
            order, seen, stack = [], set(), [(root, False)]
            while stack:
                node, ready = stack.pop()
                if ready:
                    order.append(node)
                    continue
                if node in seen:
                    continue
                seen.add(node)
                stack.append((node, True))
                for parent in getattr(node, "_prev", ()):
                    stack.append((parent, False))
            return order
        """,
    "colours": """
        WHITE, GREY, BLACK = 0, 1, 2

        def topological_sort(root):
            colour, order, stack = {root: GREY}, [], [root]
            while stack:
                node = stack[-1]
                for parent in node._prev:
                    if colour.get(parent, WHITE) == WHITE:
                        colour[parent] = GREY
                        stack.append(parent)
                        break
                else:
                    stack.pop()
                    colour[node] = BLACK
                    order.append(node)
            return order
        """,
    "print-and-helper": """
        def _inputs(node):
            return tuple(node._prev)

        def topological_sort(root):
            order, seen, stack = [], set(), [(root, False)]
            while stack:
                node, done = stack.pop()
                if done:
                    order.append(node)
                elif node not in seen:
                    seen.add(node)
                    stack.append((node, True))
                    stack += [(p, False) for p in _inputs(node) if p not in seen]
            if len(order) > 100_000:
                print(f"big graph: {len(order)} nodes")
            return order
        """,
    "levels": """
        def topological_sort(root):
            depth, stack = {root: 0}, [root]
            while stack:
                node = stack.pop()
                for parent in node._prev:
                    if depth.get(parent, -1) < depth[node] + 1:
                        depth[parent] = depth[node] + 1
                        stack.append(parent)
            return sorted(depth, key=lambda n: -depth[n])
        """,
    "seen-list": """
        def topological_sort(root):
            order, placed = [], set()
            stack = [root]
            while stack:
                node = stack.pop()
                if node in placed:
                    continue
                missing = [p for p in node._prev if p not in placed]
                if missing:
                    stack.append(node)
                    stack.extend(missing)
                else:
                    placed.add(node)
                    order.append(node)
            return order
        """,
}

BACKWARD = {
    "instructor": """
        def backward(root, order=None):
            if order is None:
                order = topological_sort(root)
            root.grad = 1.0
            for node in reversed(order):
                for parent, local in zip(node._prev, node._local_grads, strict=True):
                    parent.grad += local * node.grad
        """,
    "slice": """
        def backward(root, order=None):
            order = topological_sort(root) if order is None else order
            root.grad = 1.0
            for node in order[::-1]:
                for parent, local in zip(node._prev, node._local_grads):
                    parent.grad += local * node.grad
        """,
    "index": """
        def backward(root, order=None):
            if order is None:
                order = topological_sort(root)
            root.grad = 1.0
            for k in range(len(order) - 1, -1, -1):
                node = order[k]
                for i in range(len(node._prev)):
                    node._prev[i].grad += node._local_grads[i] * node.grad
        """,
    "enumerate": """
        def backward(root, order=None):
            if order is None:
                order = topological_sort(root)
            root.grad = 1.0
            for node in reversed(list(order)):
                for i, parent in enumerate(node._prev):
                    parent.grad = parent.grad + node._local_grads[i] * node.grad
        """,
    "dict": """
        from collections import defaultdict

        def backward(root, order=None):
            if order is None:
                order = topological_sort(root)
            grads = defaultdict(float)
            grads[root] = 1.0
            for node in reversed(order):
                for parent, local in zip(node._prev, node._local_grads):
                    grads[parent] += local * grads[node]
            for node in order:
                node.grad = grads[node]
        """,
    "helper": """
        def _push(node):
            for parent, local in zip(node._prev, node._local_grads):
                parent.grad += local * node.grad

        def backward(root, order=None):
            if order is None:
                order = topological_sort(root)
            root.grad = 1.0
            for node in reversed(order):
                _push(node)
        """,
    "pop": """
        def backward(root, order=None):
            stack = list(topological_sort(root) if order is None else order)
            root.grad = 1.0
            while stack:
                node = stack.pop()
                for parent, local in zip(node._prev, node._local_grads):
                    parent.grad += local * node.grad
        """,
    "map": """
        def backward(root, order=None):
            if order is None:
                order = topological_sort(root)
            root.grad = 1.0
            for node in reversed(order):
                contributions = list(map(lambda local: local * node.grad, node._local_grads))
                for parent, amount in zip(node._prev, contributions):
                    parent.grad += amount
        """,
    "type-check": """
        def backward(root, order=None):
            if not hasattr(root, "grad"):
                raise TypeError(f"backward needs a Node, not {type(root).__name__}")
            if order is None:
                order = topological_sort(root)
            root.grad = 1.0
            for node in reversed(order):
                for parent, local in zip(getattr(node, "_prev"), getattr(node, "_local_grads")):
                    parent.grad += local * node.grad
        """,
    "class": """
        class Backprop:
            def __init__(self, order):
                self.order = order

            def run(self, root):
                root.grad = 1.0
                for node in reversed(self.order):
                    self.step(node)

            def step(self, node):
                for parent, local in zip(node._prev, node._local_grads):
                    parent.grad += local * node.grad

        def backward(root, order=None):
            Backprop(topological_sort(root) if order is None else order).run(root)
        """,
    "seed-after": """
        def backward(root, order=None):
            if order is None:
                order = topological_sort(root)
            for node in order:
                if node is root:
                    node.grad = 1.0
            for position in range(len(order)):
                node = order[-1 - position]
                for parent, local in zip(node._prev, node._local_grads):
                    parent.grad += local * node.grad
        """,
    "print": """
        def backward(root, order=None):
            if order is None:
                order = topological_sort(root)
            root.grad = 1.0
            for node in reversed(order):
                for parent, local in zip(node._prev, node._local_grads):
                    parent.grad += local * node.grad
            if len(order) < 3:
                print("leaf gradients:", [n.grad for n in order if not n._prev])
        """,
}

COUNT = {
    "instructor": """
        def count_paths(root, node, order=None):
            if order is None:
                order = topological_sort(root)
            paths = {n: 0 for n in order}
            paths[root] = 1
            for n in reversed(order):
                for parent in n._prev:
                    paths[parent] += paths[n]
            return paths.get(node, 0)
        """,
    "get": """
        def count_paths(root, node, order=None):
            order = topological_sort(root) if order is None else order
            paths = {root: 1}
            for n in reversed(order):
                for parent in n._prev:
                    paths[parent] = paths.get(parent, 0) + paths.get(n, 0)
            return paths.get(node, 0)
        """,
    "counter": """
        from collections import Counter

        def count_paths(root, node, order=None):
            if order is None:
                order = topological_sort(root)
            paths = Counter({root: 1})
            for n in reversed(order):
                for parent in n._prev:
                    paths[parent] += paths[n]
            return int(paths[node])
        """,
    "forward": """
        def count_paths(root, node, order=None):
            if order is None:
                order = topological_sort(root)
            ways = {n: 0 for n in order}
            if node not in ways:
                return 0
            ways[node] = 1
            for n in order:
                if n is not node:
                    ways[n] = sum(ways[p] for p in n._prev)
            return ways[root]
        """,
    "defaultdict": """
        from collections import defaultdict

        def count_paths(root, node, order=None):
            if order is None:
                order = topological_sort(root)
            paths = defaultdict(int)
            paths[root] = 1
            for n in order[::-1]:
                for parent in n._prev:
                    paths[parent] += paths[n]
            return paths[node] if node in paths else 0
        """,
    "ids": """
        def count_paths(root, node, order=None):
            if order is None:
                order = topological_sort(root)
            paths = {id(n): 0 for n in order}
            paths[id(root)] = 1
            for k in range(len(order) - 1, -1, -1):
                n = order[k]
                for parent in n._prev:
                    paths[id(parent)] += paths[id(n)]
            return paths.get(id(node), 0)
        """,
    "users": """
        def count_paths(root, node, order=None):
            if order is None:
                order = topological_sort(root)
            users = {n: [] for n in order}
            for n in order:
                for parent in n._prev:
                    users[parent].append(n)
            if node not in users:
                return 0
            paths = {}
            for n in reversed(order):
                paths[n] = 1 if n is root else sum(paths[u] for u in users[n])
            return paths[node]
        """,
    "helper": """
        def _accumulate(paths, n):
            for parent in n._prev:
                paths[parent] = paths.get(parent, 0) + paths.get(n, 0)

        def count_paths(root, node, order=None):
            if order is None:
                order = topological_sort(root)
            paths = {root: 1}
            for n in reversed(order):
                _accumulate(paths, n)
            return paths.get(node, 0)
        """,
    "while": """
        def count_paths(root, node, order=None):
            if order is None:
                order = topological_sort(root)
            paths = dict.fromkeys(order, 0)
            paths[root] = 1
            k = len(order)
            while k > 0:
                k -= 1
                for parent in order[k]._prev:
                    paths[parent] += paths[order[k]]
            return paths.get(node, 0)
        """,
    "class": """
        class PathCounter:
            def __init__(self, order, root):
                self.paths = {n: 0 for n in order}
                self.paths[root] = 1
                for n in reversed(order):
                    for parent in n._prev:
                        self.paths[parent] += self.paths[n]

            def __getitem__(self, node):
                return self.paths.get(node, 0)

        def count_paths(root, node, order=None):
            return PathCounter(topological_sort(root) if order is None else order, root)[node]
        """,
    "membership-first": """
        def count_paths(root, node, order=None):
            if order is None:
                order = topological_sort(root)
            if node not in set(order):
                return 0
            paths = {n: 0 for n in order}
            paths[root] = 1
            for n in reversed(order):
                share = paths[n]
                if share:
                    for parent in n._prev:
                        paths[parent] += share
            return paths[node]
        """,
    "print": """
        def count_paths(root, node, order=None):
            if order is None:
                order = topological_sort(root)
            paths = {n: 0 for n in order}
            paths[root] = 1
            for n in reversed(order):
                for parent in n._prev:
                    paths[parent] += paths[n]
            if type(node).__name__ != "Node":
                print(f"counting paths of a {type(node).__name__}")
            return paths.get(node, 0)
        """,
}

VARIANTS = {
    "01_derivatives": {"01_derivatives-d_softplus": SOFTPLUS},
    "02_gradients": {"02_gradients-steepest_ascent": STEEPEST},
    "04_computational_graphs": {"04_computational_graphs-topological_sort": SORT,
                                "04_computational_graphs-backward": BACKWARD,
                                "04_computational_graphs-count_paths": COUNT},
}


def _trials(unit: str) -> list[dict]:
    return [{"key": f"{grade_id}/{name}", "grade_id": grade_id, "student": "ada", "prelude": textwrap.dedent(source)}
            for grade_id, variants in VARIANTS[unit].items() for name, source in variants.items()]


@pytest.fixture(scope="module")
def noisy(tmp_path_factory) -> dict[str, str]:
    """The solved notebook of each unit, with the harmless cells added after the exercises."""
    folder = tmp_path_factory.mktemp("noisy")
    paths = {}
    for unit in VARIANTS:
        notebook = submissions.solved(manifest.unit(unit))
        notebook.cells.extend(new_code_cell(textwrap.dedent(cell)) for cell in NOISE)
        paths[unit] = str(submissions.write(notebook, folder / unit / "nb.ipynb"))
    return paths


_RESULTS: dict[str, dict] = {}


def _results(unit: str, path: str) -> dict:
    if unit not in _RESULTS:
        _RESULTS[unit], _ = integrity.check_many(unit, path, _trials(unit), sandboxed=False)
    return _RESULTS[unit]


CASES = [(unit, trial["key"]) for unit in VARIANTS for trial in _trials(unit)]


def test_every_checked_exercise_has_at_least_twelve_variants() -> None:
    for unit, exercises in VARIANTS.items():
        # The exercises whose hidden region names a rule that reads the code's structure (every exercise also has
        # `own_work`; the typed-by-hand values of unit 04 have their correct forms in test_integrity.py).
        checked = {e.grade_id for e in grading_exercises.read(manifest.unit(unit))
                   if not e.manual and grading_exercises.probe(e).mechanism is not None
                   and "literal_values" not in e.hidden}
        assert checked == set(exercises), unit
        assert all(len(variants) >= 12 for variants in exercises.values()), unit


@pytest.mark.slow
@pytest.mark.parametrize(("unit", "key"), CASES, ids=[key.split("-", 1)[1] for _, key in CASES])
def test_a_correct_variant_passes_out_of_kernel(unit, key, noisy) -> None:
    verdict = _results(unit, noisy[unit])[key]
    assert verdict.passed, f"{key}: a correct answer failed: {verdict.message}"


@pytest.mark.parametrize(("unit", "grade_id", "name"),
                         [(u, g, n) for u, e in VARIANTS.items() for g, v in e.items() for n in v])
def test_a_correct_variant_passes_the_mechanism_check_alone(unit, grade_id, name) -> None:
    """The static check only (fast): the variant as the solution cell, next to the harmless cells."""
    entry = manifest.unit(unit)
    base = mechanism.student_code(submissions.solved(entry), submissions.release(entry))
    code = mechanism.StudentCode(solutions=base.solutions, cells=(*base.cells, *map(textwrap.dedent, NOISE),
                                                                  textwrap.dedent(VARIANTS[unit][grade_id][name])))
    integrity.load_spec(unit)[grade_id].mechanism(code)


@pytest.mark.slow
@pytest.mark.parametrize("unit", list(VARIANTS))
def test_the_noisy_notebook_passes_every_probe(unit, noisy) -> None:
    verdicts = integrity.check(unit, "zeno", noisy[unit], sandboxed=False)
    assert {g: v.message for g, v in verdicts.items() if not v.passed} == {}


# ------------------------------------------------------------------------- false failures found by the red team (2)

_SOFTPLUS = '''
def d_softplus(x):
    x = np.asarray(x, dtype=float)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))
'''
_STEEPEST = '''
def steepest_ascent_direction(grad_f, x):
    g = np.asarray(grad_f(x), dtype=float)
    n = np.linalg.norm(g)
    if n == 0:
        return np.zeros_like(g)
    return g / n
'''


@pytest.mark.parametrize(("rule", "name", "cells"), [
    ("no_overflowing_exp", "d_softplus", ('import matplotlib.pyplot as plt\nplt.rcParams["figure.figsize"] = (7, 4)\n',
                                          _SOFTPLUS)),
    ("no_overflowing_exp", "d_softplus", ('''
def d_softplus(x):
    x = np.asarray(x, dtype=float)
    max = np.maximum(x, 0.0)  # subtract the max: both exponents are <= 0
    return np.exp(x - max) / (np.exp(-max) + np.exp(x - max))
''',)),
    ("no_error_repair", "steepest_ascent_direction", ('''
def steepest_ascent_direction(grad_f, x):
    g = np.asarray(grad_f(x), dtype=float)
    abs = np.linalg.norm(g)
    if abs == 0:
        return np.zeros_like(g)
    return g / abs
''',)),
    ("no_error_repair", "steepest_ascent_direction", ("import matplotlib as mpl\nmpl.rcParams['lines.linewidth'] = 2\n",
                                                      _STEEPEST)),
    ("no_overflowing_exp", "d_softplus", ("import re\npattern = re.compile(r'\\d+')\n", _SOFTPLUS)),
    ("no_overflowing_exp", "d_softplus", (_SOFTPLUS, "d_softplus = np.vectorize(d_softplus)\n")),
], ids=["rcparams", "local-max", "local-abs", "rcparams-02", "re-compile", "alias-of-the-def"])
def test_plotting_style_and_local_shadowing_of_builtins_pass(rule, name, cells) -> None:
    code = mechanism.StudentCode(solutions={}, cells=tuple(textwrap.dedent(c) for c in cells))
    getattr(mechanism, rule)(name)(code)


_SCRATCH_05 = {
    "peek_limit": "import sys\nprint('recursion limit:', sys.getrecursionlimit())\n",
    "save_losses": 'with open("losses.txt", "w") as f:\n    f.write("0.1\\n")\n',
    "simplenamespace": "from types import SimpleNamespace\nconfig = SimpleNamespace(lr=0.1, steps=100)\n",
    "wraps_timer": ("import functools, time\ndef timed(fn):\n    @functools.wraps(fn)\n    def inner(*a):\n"
                    "        t = time.time(); r = fn(*a); print(time.time() - t); return r\n    return inner\n"),
    "variable_named_vars": "vars_ = 1\nvars = ['a', 'b']\nprint(vars)\n",
    "inspect_source": "import inspect\nprint(inspect.getsource(Value.backward))\n",
    "reload_calcml": "import importlib, calcml.graph\nimportlib.reload(calcml.graph)\n",
    "stack_size_read": "import threading\nprint(threading.stack_size())\n",
}


@pytest.mark.parametrize("name", list(_SCRATCH_05))
def test_unit_05_scratch_cells_that_only_read_or_are_unrelated_pass_rule_1(name) -> None:
    from types import SimpleNamespace

    solutions = submissions.solution_cells(manifest.unit("05_autograd"))
    code = SimpleNamespace(cells=(*solutions.values(), _SCRATCH_05[name]), solutions=solutions)
    integrity.load_spec("05_autograd")["05_autograd-value_core"].mechanism(code)


def test_unit_05_an_iterative_sort_with_a_variable_named_max_stack_size_passes() -> None:
    from types import SimpleNamespace

    solutions = dict(submissions.solution_cells(manifest.unit("05_autograd")))
    key = "05_autograd-value_core-solution"
    old = "        order, visited, stack = [], set(), [(self, False)]\n"
    assert old in solutions[key]
    solutions[key] = solutions[key].replace(old, old + "        max_stack_size = len(stack)\n")
    code = SimpleNamespace(cells=tuple(solutions.values()), solutions=solutions)
    integrity.load_spec("05_autograd")["05_autograd-value_core"].mechanism(code)
