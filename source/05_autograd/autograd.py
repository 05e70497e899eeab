# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Unit 5 · A reverse-mode autograd engine, and forward mode
#
# Every deep-learning framework rests on one fact: a program that computes a number can also compute, for a
# small constant factor more work, how that number changes with respect to **every one** of its inputs. In
# this unit you build that machinery yourself: a scalar automatic-differentiation engine in the style of
# Andrej Karpathy's *micrograd*, in under 200 lines. You then train a small neural network with it, and build
# its mirror image, forward mode, to measure when each of the two wins.
#
# **Learning objective 4.** Trace forward and backward passes through a computational graph, and implement a
# tiny reverse-mode autograd engine (under 200 lines). By the end of this unit you will be able to
#
# - explain why one backward pass yields the whole gradient, and why the gradient of a value used several
#   times is a *sum* over its uses;
# - implement `Value`, a reverse-mode engine with `+ − × ÷`, powers, `exp`, `log`, `tanh`, `relu` and a
#   sigmoid that never overflows, whose `backward()` walks the graph in topological order without
#   recursion, so a graph 10,000 operations deep is no problem;
# - train a multilayer perceptron with your engine, and check the gradient of its loss with respect to
#   every parameter against finite differences;
# - implement forward mode with dual numbers, and measure why training uses reverse mode.
#
# It builds on unit 3 (the chain rule, JVPs and VJPs) and unit 4 (computational graphs, the backward pass
# and topological order).

# %%
import gc
import math
import sys
import time
from types import SimpleNamespace

import matplotlib.pyplot as plt
import numpy as np

from calcml import checks, data, decision, expressions, graph, numdiff, plots

# An autograd engine makes hundreds of thousands of small objects linked in reference cycles (each
# backward closure refers to its own node), so Python's cycle collector runs again and again. Freezing the
# objects that exist now (the libraries above) spares it rescanning them each time: the tests on deep
# graphs run about twice as fast.
gc.freeze()

# %% [markdown]
# ## 1 · The problem: one derivative per parameter
#
# Here is the task this unit builds towards. Below are 40 points from two interleaving half moons, and a
# small neural network: two inputs, two hidden layers of six $\tanh$ units, one output score $s(x)$.
# The network predicts the class $\operatorname{sign} s(x)$, and training lowers the **logistic loss**
#
# $$ L(\theta) = \frac1N \sum_{i=1}^N \log\!\left(1 + e^{-y_i\, s(x_i;\,\theta)}\right), \qquad y_i \in \{-1, +1\}, $$
#
# computed, as in units 1 and 7, without overflow. Written naively, a margin $m = y\,s = -1000$ sends
# `exp(1000)` to `inf`; `np.logaddexp(0, -m)` $= \log(e^0 + e^{-m})$ factors out the larger of the two terms
# first, so `exp` only ever sees a number $\le 0$. (With the operations of your engine the same trick reads
# $\log(1 + e^{-m})$ for $m \ge 0$ and the equal $-m + \log(1 + e^{m})$ for $m < 0$.) We train the network
# by gradient descent, $\theta \leftarrow \theta - \eta\, \nabla L(\theta)$, here with $\eta = 2$ for 30
# steps (unit 6 studies this update). Each neuron has one weight per input and a bias, so the network has
# $6 \cdot 3 + 6 \cdot 7 + 1 \cdot 7 = 67$ parameters, and every step needs 67 partial derivatives. The
# obvious way to get them is the numerical gradient of unit 2: nudge each parameter in turn. The cell below
# does exactly that, with `numdiff`, evaluating the whole network with NumPy.

# %%
X_train, y_train = data.moons(40, noise=0.1, seed=1)   # labels are -1 and +1
SIZES = (2, 6, 6, 1)                                     # inputs, two hidden tanh layers, one linear output
LEARNING_RATE, STEPS = 2.0, 30


def init_parameters(sizes, seed=0):
    """All parameters as one flat vector: layer by layer, neuron by neuron, its weights then its bias.

    Weights are uniform in [-1, 1] and biases 0: the same numbers, in the same order, as the MLP you
    will build in exercise 4.
    """
    rng = np.random.default_rng(seed)
    parts = []
    for nin, nout in zip(sizes[:-1], sizes[1:], strict=True):
        for _ in range(nout):
            parts += [rng.uniform(-1.0, 1.0, nin), [0.0]]
    return np.concatenate(parts)


def mlp_scores(theta, P, sizes=SIZES):
    """The scores s(x) of all the points P (shape (m, 2)) at once, for the parameter vector theta."""
    h, start = np.asarray(P, dtype=float), 0
    for k, (nin, nout) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        block = theta[start:start + nout * (nin + 1)].reshape(nout, nin + 1)   # one row per neuron: w, b
        start += block.size
        h = h @ block[:, :-1].T + block[:, -1]
        if k < len(sizes) - 2:
            h = np.tanh(h)
    return h[:, 0]


def stable_logistic(margins):
    """log(1 + exp(-m)) for each margin m = y s, finite for every float m: np.logaddexp(0, -m)."""
    return np.logaddexp(0.0, -np.asarray(margins, dtype=float))


def loss_numpy(theta):
    return np.mean(stable_logistic(y_train * mlp_scores(theta, X_train)))


theta = init_parameters(SIZES)
snapshots, losses = [theta], [loss_numpy(theta)]
for _ in range(STEPS):
    theta = theta - LEARNING_RATE * numdiff.gradient(loss_numpy, theta)
    snapshots.append(theta)
    losses.append(loss_numpy(theta))
evaluations = STEPS * 4 * theta.size
print(f"{theta.size} parameters, {STEPS} steps: {evaluations:,} evaluations of the loss for the gradients; "
      f"loss {losses[0]:.3f} -> {losses[-1]:.3f}")

# %% [markdown]
# Slide through the training run (or press play): the left panel shows where the network predicts each
# class after each step, the right panel the loss and the accuracy so far.

# %%
decision.training_explorer(snapshots, mlp_scores, X_train, y_train, losses)

# %% [markdown]
# It works, and it is hopeless. The fourth-order stencil of `numdiff` costs **4 evaluations of the loss
# per parameter**: here $4 \times 67 = 268$ per step. A modest image model has $10^7$ parameters; at
# $4\times10^7$ forward passes per step, training would never finish. (And finite differences are
# accurate to about 12 digits here, not to all 16.)
#
# **Reverse-mode automatic differentiation** computes the same 67 numbers, exact up to rounding, for
# the price of *one* forward pass and *one* backward pass, a few loss evaluations' worth, however many
# parameters there are. That is the engine you build now.

# %% [markdown]
# ## 2 · Reverse mode in one equation
#
# Record the computation as a graph (unit 4): each node $v$ is a number computed by one operation from
# its inputs. For a final output $L$, write $\bar v = \partial L / \partial v$ for the **gradient** (or
# *adjoint*) of node $v$. Since $v$ influences $L$ only through the nodes $u$ that use it, the chain rule
# of unit 3 gives
#
# $$ \bar v \;=\; \sum_{u \,\text{uses}\, v} \bar u \,\frac{\partial u}{\partial v}, \qquad \bar L = 1. $$
#
# Read it twice; the whole engine is in it.
#
# - **Local:** $\partial u / \partial v$ is the derivative of *one* operation, such as $\partial(ab)/\partial a = b$.
#   Each term $\bar u\,\partial u/\partial v$ is unit 4's *upstream gradient × local gradient*, so each
#   operation only needs to know its own derivative.
# - **A sum over uses:** a value used in three places receives three contributions, and they *add up*.
#   In code: `v.grad += ...`, never `v.grad = ...`.
# - **An order:** $\bar v$ is complete only when every $u$ that uses $v$ has contributed. So process the
#   nodes in *reverse topological order*: output first, each node after all the nodes that use it.
#
# The local derivatives you will need:
#
# | operation $u$ | $\partial u/\partial a$ | $\partial u/\partial b$ |
# |---|---|---|
# | $a + b$ | $1$ | $1$ |
# | $a \cdot b$ | $b$ | $a$ |
# | $a^c$, $c$ a constant | $c\,a^{c-1}$ | |
# | $a^b$, $b$ a variable ($a > 0$) | $b\,a^{b-1}$ | $a^b \ln a$ |
# | $e^a$ | $e^a = u$ | |
# | $\ln a$ | $1/a$ | |
# | $\tanh a$ | $1 - \tanh^2 a = 1 - u^2$ | |
# | $\operatorname{relu}(a) = \max(a, 0)$ | $1$ if $a > 0$, else $0$ | |
# | $\sigma(a) = 1/(1 + e^{-a})$ | $\sigma(a)\,(1 - \sigma(a)) = u(1-u)$ | |
#
# Three of them are cheapest written with the *output* $u$, which the forward pass has already computed.

# %% [markdown]
# ## 3 · Worked example: one backward pass by hand
#
# Take $a = 1.5$, $b = -0.5$ and
#
# $$ c = a\,b, \qquad d = c + a, \qquad e = \tanh d, \qquad L = e\,a. $$
#
# The input $a$ is used three times (in $c$, $d$ and $L$), so its gradient has three terms. The cell
# runs the forward pass, then the backward pass line by line, in reverse order, each line one local
# derivative from the table, each contribution *added*.

# %%
a, b = 1.5, -0.5
# Forward pass: compute and remember every intermediate value.
c = a * b
d = c + a
e = math.tanh(d)
L = e * a
# Backward pass: start from dL/dL = 1 and visit the nodes from the output back.
L_bar = 1.0
e_bar = L_bar * a                   # L = e * a  ->  dL/de = a
a_bar = L_bar * e                   #                dL/da = e       (first use of a)
d_bar = e_bar * (1 - e**2)          # e = tanh d ->  de/dd = 1 - e^2 (uses the output e)
c_bar = d_bar * 1.0                 # d = c + a  ->  dd/dc = 1
a_bar += d_bar * 1.0                #                dd/da = 1       (second use of a: add)
a_bar += c_bar * b                  # c = a * b  ->  dc/da = b       (third use of a: add)
b_bar = c_bar * a                   #                dc/db = a
print(f"L = {L:.6f},  dL/da = {a_bar:.6f},  dL/db = {b_bar:.6f}")


def L_of(v):
    """The same L, as a function of the vector (a, b), for the numerical check."""
    return np.tanh(v[0] * v[1] + v[0]) * v[0]


checks.assert_close([a_bar, b_bar], numdiff.gradient(L_of, [a, b]), what="hand-made gradient")
print("numdiff agrees:", numdiff.gradient(L_of, [a, b]))

# %% [markdown]
# The same computation as a picture: each box shows a value (`data`) and its gradient (`grad`), each
# circle an operation, arrows run forward. Check that the grad of $a$ is the sum of the three
# contributions, $e + \bar d + \bar c\, b$.

# %%
def node(label, value, grad, prev=(), op=""):
    return SimpleNamespace(label=label, data=value, grad=grad, _prev=prev, _op=op)


na, nb = node("a", a, a_bar), node("b", b, b_bar)
nc = node("c", c, c_bar, (na, nb), "*")
nd = node("d", d, d_bar, (nc, na), "+")
ne = node("e", e, e_bar, (nd,), "tanh")
nL = node("L", L, L_bar, (ne, na), "*")
ax = graph.draw(nL, title="L = tanh(a·b + a) · a: values (forward) and gradients (backward)")

# %% [markdown]
# ## 4 · From hand to engine
#
# Your engine automates exactly this. A `Value` holds a number `data`, its gradient `grad`, the Values it
# was computed from (`_prev`) and a function `_backward`. Each operation does two things:
#
# 1. **forward:** compute the result and wrap it in a new `Value` that records its inputs;
# 2. **backward, for later:** store in `out._backward` a small closure that, once `out.grad` is final,
#    *adds* `out.grad` × (local derivative) to the `grad` of each input.
#
# Here is the pattern for an operation that you will *not* be asked to write, $\sin$:
#
# ```python
# def sin(self):
#     out = Value(math.sin(self.data), (self,), "sin")
#     def _backward():
#         # d sin(a)/da = cos(a). Read out.grad only now, when it is complete, and ADD: self may have other uses.
#         self.grad += math.cos(self.data) * out.grad
#     out._backward = _backward
#     return out
# ```
#
# The closure remembers `self` and `out`; nothing runs until `backward()` calls it. `backward()` on the
# output sets its `grad` to 1, puts every node of the graph in topological order (inputs before the
# nodes that use them), and calls each node's `_backward` in *reverse* order: precisely the hand
# computation above.
#
# **Why not recursion?** The textbook topological sort is a recursive depth-first search. Python stops
# recursion at a depth of about 1000, and a training loop, an unrolled recurrent network or the chains
# in the tests easily build graphs thousands of operations deep. As in unit 4, use an explicit stack (a
# list you push onto and pop from). One way: push `(node, False)`; when you pop `(node, False)` for a
# node not yet visited, mark it visited, push `(node, True)` and then `(child, False)` for each input;
# when you pop `(node, True)`, all its inputs are already placed, so append it to the order.

# %% [markdown]
# ## 5 · Build the engine
#
# Three exercises build `Value` one piece at a time: the core with `+`, `×` and `backward()` (exercise 1),
# the rest of the arithmetic (exercise 2) and the elementary functions (exercise 3). Exercise 1 defines the
# class; exercises 2 and 3 add methods to it with the small decorator `add_method` below, one function per
# method. If you change an earlier exercise, re-run the later exercise cells too, so that their methods are
# attached to the new class.
#
# An engine is one piece: the tests of exercises 2 and 3 call your `backward()` from exercise 1, exercise 3's
# hidden tests run random expressions that mix every operation of exercises 1–3, and exercise 4 trains a
# network with all of them. Exercise 5 (forward mode) stands alone.

# %%
def add_method(cls):
    """Decorator: attach the function below to `cls` as a method of the same name."""
    def attach(function):
        setattr(cls, function.__name__, function)
        return function
    return attach


# %% [markdown]
# ### Exercise 1 · `Value` with `+`, `×` and an iterative `backward()` (3 points)
#
# Complete the class. `__add__` and `__mul__` accept a `Value` or a plain number on the right
# (`x + 1`, `x * 2.5`): wrap a number in a `Value` (a constant leaf). `topological_order()` lists the graph
# without recursion, and `backward()` uses it. `zero_grad()` is given (it uses your `topological_order()`):
# call it before running `backward()` a second time on the same graph, because gradients *accumulate*.

# %% nbgrader={"grade": false, "grade_id": "05_autograd-value_core-solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
class Value:
    """A scalar that remembers how it was computed, so that gradients can flow back through it.

    data: the number; grad: d(output)/d(self) after output.backward(), else 0.0; _prev: the Values it
    was computed from, a tuple ((x, x) for x * x); _op: the operation, for drawing; _backward: once
    self.grad is final, adds self.grad * (local derivative) to each input's grad (a leaf's does nothing).
    """

    def __init__(self, data, _prev=(), _op="", label=""):
        self.data, self.grad = float(data), 0.0
        self._prev, self._op, self.label = tuple(_prev), _op, label
        self._backward = lambda: None

    def __repr__(self):
        return f"Value(data={self.data:.6g}, grad={self.grad:.6g})"

    def zero_grad(self):
        """Set grad to 0.0 on this Value and every Value it depends on (before a new backward())."""
        for v in self.topological_order():
            v.grad = 0.0

    def __add__(self, other):
        """self + other, for a Value or a number other: a new Value, with d/da = d/db = 1."""
        ### BEGIN SOLUTION
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data + other.data, (self, other), "+")
        def _backward():
            # Add (+=), never assign: in x + x, self and other are the same Value.
            self.grad += out.grad
            other.grad += out.grad
        out._backward = _backward
        return out
        ### END SOLUTION

    def __mul__(self, other):
        """self * other, for a Value or a number other: d(ab)/da = b, d(ab)/db = a."""
        ### BEGIN SOLUTION
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data * other.data, (self, other), "*")
        def _backward():
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad
        out._backward = _backward
        return out
        ### END SOLUTION

    def topological_order(self):
        """A list of every Value self depends on, each once and after all its inputs, ending with self.
        No recursion (use a stack): a graph 10,000 operations deep must work at the default limit of 1000."""
        ### BEGIN SOLUTION
        order, visited, stack = [], set(), [(self, False)]
        while stack:
            v, inputs_placed = stack.pop()
            if inputs_placed:
                order.append(v)  # all inputs of v are already in the order
            elif id(v) not in visited:
                visited.add(id(v))
                stack.append((v, True))  # come back to v after its inputs
                stack.extend((child, False) for child in v._prev)
        return order
        ### END SOLUTION

    def backward(self):
        """Set self.grad = 1.0, then add d(self)/dv to v.grad for every Value v that self depends on,
        calling _backward in reverse topological order (each node after all the nodes that use it)."""
        ### BEGIN SOLUTION
        order = self.topological_order()
        self.grad = 1.0  # d(self)/d(self)
        for v in reversed(order):
            v._backward()
        ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "05_autograd-value_core", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
# The references are numdiff on the same formula evaluated with plain floats, and exact identities.
def backward_at_default_recursion_limit(root, depth):
    """root.backward() with Python's default recursion limit (1000), as a user's session would have it."""
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(1000)
    try:
        root.backward()
    except RecursionError:
        raise checks.CheckFailure(
            f"backward() raised RecursionError on a graph {depth:,} operations deep: your topological sort "
            "recurses. Walk the graph with an explicit stack (a list you append to and pop from).") from None
    finally:
        sys.setrecursionlimit(limit)


def f(a, b):  # a is used three times
    return (a * b + a) * a + b * 3.0


a, b = Value(1.5), Value(-0.5)
out = f(a, b)
checks.assert_close(out.data, f(1.5, -0.5), what="value of (a*b + a)*a + b*3")
out.backward()
checks.assert_close([a.grad, b.grad], numdiff.gradient(lambda v: f(v[0], v[1]), [1.5, -0.5]),
                    what="gradient [a.grad, b.grad] of (a*b + a)*a + b*3", where="at a = 1.5, b = -0.5",
                    hint="a is used three times: does every use ADD its contribution (+=)?")
checks.assert_close(out.grad, 1.0, what="grad of the output itself", hint="backward() starts from d(out)/d(out) = 1.")

x = Value(-1.5)
(x * x).backward()
checks.assert_close(x.grad, 2 * -1.5, what="gradient of x * x", where="at x = -1.5",
                    hint="In x * x the two inputs are the same Value: both contributions must be added (+=).")
x = Value(0.25)
(x + x).backward()
checks.assert_close(x.grad, 2.0, what="gradient of x + x", hint="Both uses of x must be added (+=).")

for call in ("first", "second"):  # backward() has already called it once
    try:
        graph.check_topological_order(out.topological_order(), out)
    except checks.CheckFailure as failure:
        raise checks.CheckFailure(
            f"{failure} (checked on the {call} call after backward().) If the order is right the first time "
            "only, topological_order() keeps state between calls: a visited set stored outside the method, "
            "or a mutable default argument such as visited=set().") from None
assert out.topological_order()[-1] is out, "topological_order() must end with the Value it is called on."

# Gradients accumulate, so zero them before a second backward(): it must give the same gradients again.
first = [a.grad, b.grad]
out.zero_grad()
out.backward()
checks.assert_close([a.grad, b.grad], first, what="gradient from a second backward() after zero_grad()",
                    hint="Does topological_order() keep state between calls (a visited set stored outside it)?")

# A chain 10,000 operations deep: d/dx0 of x0 * 1.0001^10000 is 1.0001^10000.
x0 = Value(0.5)
x = x0
for _ in range(10_000):
    x = x * 1.0001 + 0.0
backward_at_default_recursion_limit(x, 20_000)
checks.assert_close(x0.grad, 1.0001**10_000, what="gradient through a chain 10,000 steps deep")
### BEGIN HIDDEN TESTS
# One definition of the hidden checks (calcml.probes): the kernel runs them here on a fixed seed; the grader
# draws each student's own inputs, runs the driver in a sandbox and _verify in its own process.
import textwrap

import numpy as np

from calcml import expressions, numdiff, probes
from calcml import program_probes as _pp


def _inputs(rng):
    return {"programs": _pp.random_programs(rng, expressions.BASIC, [(1, 8), (2, 12), (3, 25), (4, 40), (5, 80)]),
            "square": float(rng.uniform(-2, 2)), "double": float(rng.uniform(-2, 2)),
            "unused": [float(rng.uniform(-3, 3)), float(rng.uniform(-3, 3)), float(rng.uniform(1.5, 4))],
            "deep": {"start": float(rng.uniform(0.3, 0.9)), "steps": int(rng.integers(10_000, 13_000))},
            "int_factor": int(rng.integers(2, 7))}


_DRIVER = _pp.DRIVER + textwrap.dedent("""
    result = {"programs": [], "orders": [], "again": []}
    for spec in inputs["programs"]:
        leaves = [Value(v) for v in spec["x"]]
        out = run_program(spec, leaves)
        out.backward()
        first = [leaf.grad for leaf in leaves]
        result["programs"].append({"value": out.data, "grads": first, "root_grad": out.grad})
        # The order as raw data: each Value gets a number the first time it is seen (the output is 0); the
        # grader reads from these numbers whether the order is complete, unique and inputs-first.
        order = out.topological_order()
        number = {id(out): 0}
        rows = []
        for node in order:
            ident = number.setdefault(id(node), len(number))
            rows.append([ident, [number.setdefault(id(p), len(number)) for p in node._prev]])
        result["orders"].append(rows)
        out.zero_grad()
        out.backward()
        result["again"].append([leaf.grad for leaf in leaves])
    x = Value(inputs["square"])
    (x * x).backward()
    result["square"] = x.grad
    x = Value(inputs["double"])
    (x + x).backward()
    result["double"] = x.grad
    u, w = Value(inputs["unused"][0]), Value(inputs["unused"][1])
    (u * inputs["unused"][2] + 1).backward()
    result["unused"] = [u.grad, w.grad]
    u = Value(inputs["unused"][1])
    (u * inputs["int_factor"] + 1).backward()
    result["int_factor"] = u.grad
    x0 = Value(inputs["deep"]["start"])
    x = x0
    for _ in range(inputs["deep"]["steps"]):
        x = x + x * 0.0001
    error = at_default_recursion_limit(x.backward)
    result["deep"] = {"recursion": error, "grad": x0.grad, "value": x.data}
""")


def _check_order(rows, what):
    """The topological order, as the driver's raw numbers, checked here: each Value once, every input of a Value
    before it, none left out, none the output does not depend on, the output last."""
    probes.require(isinstance(rows, list) and len(rows) > 0, f"{what} is empty (called again after backward()): "
                                                             "does it keep state between calls, such as a visited "
                                                             "set stored outside the method or a mutable default "
                                                             "argument?")
    position: dict[int, int] = {}
    for k, row in enumerate(rows):
        probes.require(isinstance(row, list) and len(row) == 2 and type(row[0]) is int and isinstance(row[1], list)
                       and all(type(p) is int for p in row[1]), f"{what} is malformed.")
        probes.require(row[0] not in position, f"{what} lists a Value more than once: keep a set of the Values "
                                               "already visited.")
        position[row[0]] = k
    for k, (_, parents) in enumerate(rows):
        probes.require(all(p in position for p in parents), f"{what} leaves out a Value the output depends on.")
        probes.require(all(position[p] < k for p in parents), f"{what} puts a Value before one of its inputs.")
    probes.require(rows[-1][0] == 0, f"{what} must end with the Value it is called on.")
    reached, stack = {0}, [0]
    while stack:
        for p in rows[position[stack.pop()]][1]:
            if p not in reached:
                reached.add(p)
                stack.append(p)
    probes.require(len(reached) == len(rows), f"{what} lists a Value the output does not depend on: list only the "
                                              "Values reached from self through _prev.")


def _verify(inputs, result):
    probes.require(isinstance(result, dict), "Value gave no results.")
    _pp.check_gradients(inputs["programs"], result.get("programs"),
                        hint="Is every contribution added (+=), and does backward() seed the output with 1?")
    orders = result.get("orders")
    probes.require(isinstance(orders, list) and len(orders) == len(inputs["programs"]),
                   "topological_order gave no orders.")
    for spec, rows in zip(inputs["programs"], orders, strict=True):
        _check_order(rows, f"topological_order() of the program {_pp.from_json(spec)}")
    for spec, got in zip(inputs["programs"], result["programs"], strict=True):
        probes.close(got.get("root_grad"), 1.0, what="grad of the output itself", where=f"for the program "
                     f"{_pp.from_json(spec)}", hint="backward() starts from d(out)/d(out) = 1.")
    again = result.get("again")
    probes.require(isinstance(again, list) and len(again) == len(inputs["programs"]), "no second backward() results.")
    for spec, grads in zip(inputs["programs"], again, strict=True):
        program = _pp.from_json(spec)
        probes.close(grads, numdiff.gradient(program.run_float, np.array(program.x)),
                     what="gradient from a second backward() after zero_grad()", where=f"for the program {program}",
                     hint="Does topological_order() keep state between calls (a visited set stored outside it)?")
    x = inputs["square"]
    probes.close(result.get("square"), 2 * x, what="gradient of x * x", where=f"at x = {x:.4g}",
                 hint="In x * x the two inputs are the same Value: both contributions must be added (+=).")
    probes.close(result.get("double"), 2.0, what="gradient of x + x", hint="Both uses of x must be added (+=).")
    probes.close(result.get("unused"), [inputs["unused"][2], 0.0], what="[u.grad, w.grad]",
                 where=f"of u * {inputs['unused'][2]:.4g} + 1, where w is not used")
    k = inputs["int_factor"]
    probes.close(result.get("int_factor"), float(k), what=f"gradient of x * {k} + 1", where="(an int constant)",
                 hint="A plain number may be an int as well as a float: wrap it in a Value.")
    n = inputs["deep"]["steps"]
    _pp.check_deep(result.get("deep"), 1.0001**n, inputs["deep"]["start"] * 1.0001**n,
                   f"a chain {n:,} steps deep (x <- x + x * 0.0001)")


probes.exercise(globals(), inputs=_inputs, driver=_DRIVER, verify=_verify, seed=5101,
                mechanism={"rule": "iterative_engine", "unit": "05_autograd", "roots": ["topological_order"]})
### END HIDDEN TESTS


# %% [raw] wrong_answer="05_autograd-value_core-solution" mistake="The textbook recursive depth-first search: right on small graphs, RecursionError on the chain 10,000 operations deep."
# ### REPLACE
#         order, visited, stack = [], set(), [(self, False)]
#         while stack:
#             v, inputs_placed = stack.pop()
#             if inputs_placed:
#                 order.append(v)  # all inputs of v are already in the order
#             elif id(v) not in visited:
#                 visited.add(id(v))
#                 stack.append((v, True))  # come back to v after its inputs
#                 stack.extend((child, False) for child in v._prev)
#         return order
# ### WITH
#         order, visited = [], set()
#         def visit(v):
#             if id(v) not in visited:
#                 visited.add(id(v))
#                 for child in v._prev:
#                     visit(child)
#                 order.append(v)
#         visit(self)
#         return order
# ### END


# %% [raw] wrong_answer="05_autograd-value_core-solution" mistake="`=` instead of `+=` in a backward closure: a value used twice keeps only its last contribution."
# ### REPLACE
#             self.grad += other.data * out.grad
#             other.grad += self.data * out.grad
# ### WITH
#             self.grad = other.data * out.grad
#             other.grad = self.data * out.grad
# ### END


# %% [raw] wrong_answer="05_autograd-value_core-solution" mistake="A mutable default argument as the visited set: it survives between calls, so the second topological_order() (and so zero_grad() and a second backward()) sees no node at all."
# ### REPLACE
#     def topological_order(self):
# ### WITH
#     def topological_order(self, visited=set()):  # noqa: B006 (the mistake)
# ### END
# ### REPLACE
#         order, visited, stack = [], set(), [(self, False)]
# ### WITH
#         order, stack = [], [(self, False)]
# ### END


# %% [markdown]
# ### Exercise 2 · The rest of the arithmetic, reflected operators and powers (2 points)
#
# Python evaluates `2 - x` by asking the number `2` first; it does not know `Value`, so Python then calls
# `x.__rsub__(2)`: the **reflected** operators receive the left operand as `other`. Reuse what you have:
# $a - b = a + (-b)$, $a / b = a \cdot b^{-1}$. Only the power needs a new rule, in two forms:
#
# - `x ** 3` (a plain-number exponent, a constant): $\partial/\partial a = c\,a^{c-1}$, and nothing else.
#   Do **not** compute $\ln a$ here: $a$ may be negative, as in $(-1.5)^2$.
# - `x ** y` and `2 ** x` (a `Value` exponent): also $\partial a^b / \partial b = a^b \ln a$, for $a > 0$.

# %% nbgrader={"grade": false, "grade_id": "05_autograd-arithmetic-solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
@add_method(Value)
def __neg__(self):
    """-self."""
    ### BEGIN SOLUTION
    return self * -1.0
    ### END SOLUTION

@add_method(Value)
def __radd__(self, other):
    """other + self, for a number other."""
    ### BEGIN SOLUTION
    return self + other
    ### END SOLUTION

@add_method(Value)
def __sub__(self, other):
    """self - other, for a Value or a number other."""
    ### BEGIN SOLUTION
    return self + (-other)
    ### END SOLUTION

@add_method(Value)
def __rsub__(self, other):
    """other - self, for a number other (2 - x)."""
    ### BEGIN SOLUTION
    return (-self) + other
    ### END SOLUTION

@add_method(Value)
def __rmul__(self, other):
    """other * self, for a number other."""
    ### BEGIN SOLUTION
    return self * other
    ### END SOLUTION

@add_method(Value)
def __truediv__(self, other):
    """self / other, for a Value or a number other."""
    ### BEGIN SOLUTION
    return self * other**-1
    ### END SOLUTION

@add_method(Value)
def __rtruediv__(self, other):
    """other / self, for a number other (2 / x)."""
    ### BEGIN SOLUTION
    return self**-1 * other
    ### END SOLUTION

@add_method(Value)
def __pow__(self, other):
    """self ** other: other a number (a constant exponent) or a Value (then self.data must be > 0)."""
    ### BEGIN SOLUTION
    if isinstance(other, Value):
        out = Value(self.data**other.data, (self, other), "**")
        def _backward():
            self.grad += other.data * self.data ** (other.data - 1) * out.grad
            other.grad += out.data * math.log(self.data) * out.grad  # d(a^b)/db = a^b ln a
    else:
        out = Value(self.data**other, (self,), f"**{other:g}")
        def _backward():
            self.grad += other * self.data ** (other - 1) * out.grad  # no log: a may be negative
    out._backward = _backward
    return out
    ### END SOLUTION

@add_method(Value)
def __rpow__(self, other):
    """other ** self, for a number other > 0 (2 ** x)."""
    ### BEGIN SOLUTION
    return Value(other) ** self
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "05_autograd-arithmetic", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
CRASH_HINTS = {
    ValueError: "A math domain error is a log (or a fractional power) of a number <= 0: a constant exponent, "
                "as in x ** 3 or x ** -1, needs no log, and its base may be negative.",
    OverflowError: "math.exp of a large number overflows: arrange the formula so that exp only sees numbers <= 0.",
    ZeroDivisionError: "A division by zero.",
    TypeError: "An operation is missing, or returns something other than a Value.",
}


def crash(name, x0, error):
    """A CheckFailure explaining an exception raised by the student's code."""
    return checks.CheckFailure(f"Your {name} (or its backward()) at x = {x0} raised {error!r}. "
                               + CRASH_HINTS.get(type(error), ""))


def check_one_input(name, build, points, hint=""):
    """The value and derivative of build(x), run on a Value, against build on floats and numdiff."""
    for x0 in points:
        x = Value(x0)
        try:
            out = build(x)
            out.backward()
        except (ValueError, OverflowError, ZeroDivisionError, TypeError) as error:
            raise crash(name, x0, error) from None
        checks.assert_close(out.data, build(x0), what=f"value of {name}", where=f"at x = {x0}", hint=hint)
        checks.assert_close(x.grad, numdiff.derivative(build, x0), what=f"derivative of {name}",
                            where=f"at x = {x0}", hint=hint)


check_one_input("-x", lambda x: -x, [0.7, -2.0])
check_one_input("x - 2.5", lambda x: x - 2.5, [0.7])
check_one_input("2 + x", lambda x: 2 + x, [0.7], hint="2 + x calls x.__radd__(2).")
check_one_input("2 - x", lambda x: 2 - x, [0.7, -1.2], hint="2 - x calls x.__rsub__(2): it is 2 - x, not x - 2.")
check_one_input("3 * x", lambda x: 3 * x, [0.7])
check_one_input("x / 4", lambda x: x / 4, [0.7])
check_one_input("2 / x", lambda x: 2 / x, [0.7, -1.6], hint="2 / x calls x.__rtruediv__(2): it is 2 / x, not x / 2.")
check_one_input("x ** 3", lambda x: x**3, [0.7, -1.5], hint="A constant exponent needs no log (the base may be negative).")
check_one_input("x ** -2", lambda x: x**-2, [0.7, -1.5])
check_one_input("2 ** x", lambda x: 2**x, [0.7, -1.2], hint="d(2^x)/dx = 2^x ln 2.")

x, y = Value(1.7), Value(-0.6)
for name, build in [("x - y", lambda x, y: x - y), ("x / y", lambda x, y: x / y), ("x ** y", lambda x, y: x**y)]:
    x.grad = y.grad = 0.0
    out = build(x, y)
    out.backward()
    checks.assert_close([x.grad, y.grad], numdiff.gradient(lambda v, build=build: build(v[0], v[1]), [1.7, -0.6]),
                        what=f"gradient [x.grad, y.grad] of {name}", where="at x = 1.7, y = -0.6",
                        hint="For a^b: d/da = b a^(b-1) and d/db = a^b ln a." if "**" in name else "")
x = Value(-0.9)
(x / x).backward()
checks.assert_close(x.grad, 0.0, what="gradient of x / x (which is 1 everywhere)")
### BEGIN HIDDEN TESTS
# One definition of the hidden checks (calcml.probes): the kernel runs them here on a fixed seed; the grader
# draws each student's own inputs, runs the driver in a sandbox and _verify in its own process.
import textwrap

from calcml import expressions, numdiff, probes
from calcml import program_probes as _pp

_SINGLE_OPS = ["radd", "rsub", "rmul", "rdiv", "rpow", "pow", "pow_c", "neg", "sub", "div", "sub_c", "div_c"]


def _inputs(rng):
    programs = _pp.random_programs(rng, expressions.ARITHMETIC,
                                   [(1, 6), (2, 10), (3, 20), (4, 35), (3, 60), (5, 30), (2, 15)])
    singles = [_pp.to_json(expressions.single_op_program(op, _pp.seed(rng))) for op in _SINGLE_OPS for _ in range(2)]
    powers = rng.uniform([0.3, -2.5], [4.0, 2.5], size=(4, 2)).tolist()
    negative = [[float(-rng.uniform(0.3, 2.5)), int(p)] for p in (2, 3, -1)]
    return {"programs": programs + singles, "powers": powers, "negative": negative}


_DRIVER = _pp.DRIVER + textwrap.dedent("""
    result = {"programs": [engine_gradient(spec) for spec in inputs["programs"]], "powers": [], "negative": []}
    for base, exponent in inputs["powers"]:
        p, q = Value(base), Value(exponent)
        out = p**q
        out.backward()
        result["powers"].append({"value": out.data, "grads": [p.grad, q.grad]})
    for base, power in inputs["negative"]:
        x = Value(base)
        out = x**power
        out.backward()
        result["negative"].append({"value": out.data, "grads": [x.grad]})
""")


def _verify(inputs, result):
    probes.require(isinstance(result, dict), "the arithmetic of Value gave no results.")
    _pp.check_gradients(inputs["programs"], result.get("programs"),
                        hint="2 - x calls x.__rsub__(2) and 2 / x calls x.__rtruediv__(2): mind the order of the "
                             "operands.")
    powers = result.get("powers")
    probes.require(isinstance(powers, list) and len(powers) == len(inputs["powers"]), "a ** b gave no results.")
    for (a, b), got in zip(inputs["powers"], powers, strict=True):
        where = f"at a = {a:.4g}, b = {b:.4g}"
        probes.close(got.get("value"), a**b, what="value of a ** b", where=where)
        probes.close(got.get("grads"), numdiff.gradient(lambda v: v[0] ** v[1], [a, b]),
                     what="gradient [a.grad, b.grad] of a ** b", where=where,
                     hint="d(a^b)/da = b a^(b-1), d(a^b)/db = a^b ln a.")
    negative = result.get("negative")
    probes.require(isinstance(negative, list) and len(negative) == len(inputs["negative"]), "x ** n gave no results.")
    for (base, power), got in zip(inputs["negative"], negative, strict=True):
        probes.close(got.get("grads"), [power * base ** (power - 1)], what=f"derivative of x ** {power}",
                     where=f"at x = {base:.4g}", hint="A constant exponent needs no log (the base may be negative).")


probes.exercise(globals(), inputs=_inputs, driver=_DRIVER, verify=_verify, seed=5201)
### END HIDDEN TESTS


# %% [raw] wrong_answer="05_autograd-arithmetic-solution" mistake="2 - x computed as x - 2: the reflected operator's operands swapped."
# ### REPLACE
#     return (-self) + other
# ### WITH
#     return self - other
# ### END


# %% [raw] wrong_answer="05_autograd-arithmetic-solution" mistake="The power rule for a Value exponent without the ln a: d(a^b)/db taken as a^b."
# ### REPLACE
#             other.grad += out.data * math.log(self.data) * out.grad  # d(a^b)/db = a^b ln a
# ### WITH
#             other.grad += out.data * out.grad
# ### END


# %% [raw] wrong_answer="05_autograd-arithmetic-solution" mistake="A number exponent wrapped in a Value like in __add__, so x ** 3 takes log(x): a math domain error for a negative base."
# ### REPLACE
#     if isinstance(other, Value):
# ### WITH
#     other = other if isinstance(other, Value) else Value(other)
#     if isinstance(other, Value):
# ### END


# %% [markdown]
# ### Exercise 3 · `exp`, `log`, `tanh`, `relu` and a stable `sigmoid` (2 points)
#
# The elementary functions are methods: `x.exp()`, `x.tanh()`. Use the table of section 2, and prefer the
# output where it appears in the derivative. For `relu`, use the derivative 0 at exactly 0 (as PyTorch does).
#
# `sigmoid` must not overflow: `math.exp(800)` raises `OverflowError`, yet $\sigma(-800)$ is simply
# (almost) 0. Compute $1/(1 + e^{-a})$ for $a \ge 0$ and the equal $e^{a}/(1 + e^{a})$ for $a < 0$, so
# that `exp` only ever sees a number $\le 0$.

# %% nbgrader={"grade": false, "grade_id": "05_autograd-functions-solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
@add_method(Value)
def exp(self):
    """e ** self."""
    ### BEGIN SOLUTION
    out = Value(math.exp(self.data), (self,), "exp")
    def _backward():
        self.grad += out.data * out.grad  # (e^a)' = e^a, already computed
    out._backward = _backward
    return out
    ### END SOLUTION

@add_method(Value)
def log(self):
    """The natural logarithm of self (self.data > 0)."""
    ### BEGIN SOLUTION
    out = Value(math.log(self.data), (self,), "log")
    def _backward():
        self.grad += out.grad / self.data
    out._backward = _backward
    return out
    ### END SOLUTION

@add_method(Value)
def tanh(self):
    """The hyperbolic tangent of self."""
    ### BEGIN SOLUTION
    out = Value(math.tanh(self.data), (self,), "tanh")
    def _backward():
        self.grad += (1.0 - out.data**2) * out.grad  # 1 - tanh^2: the output, squared
    out._backward = _backward
    return out
    ### END SOLUTION

@add_method(Value)
def relu(self):
    """max(self, 0); its derivative is taken as 0 at exactly 0."""
    ### BEGIN SOLUTION
    out = Value(max(self.data, 0.0), (self,), "relu")
    def _backward():
        self.grad += (self.data > 0) * out.grad
    out._backward = _backward
    return out
    ### END SOLUTION

@add_method(Value)
def sigmoid(self):
    """1 / (1 + e ** -self), without overflow for any float self."""
    ### BEGIN SOLUTION
    z = math.exp(-abs(self.data))  # in (0, 1]: never overflows
    out = Value(1.0 / (1.0 + z) if self.data >= 0 else z / (1.0 + z), (self,), "sigmoid")
    def _backward():
        self.grad += out.data * (1.0 - out.data) * out.grad
    out._backward = _backward
    return out
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "05_autograd-functions", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
def check_function(name, method, reference, points, hint=""):
    """x.method() on a Value: its value against reference (NumPy), its derivative against numdiff."""
    for x0 in points:
        x = Value(x0)
        try:
            out = getattr(x, method)()
            out.backward()
        except (ValueError, OverflowError, ZeroDivisionError, TypeError) as error:
            raise checks.CheckFailure(f"Your {name} (or its backward()) at x = {x0} raised {error!r}. {hint}") from None
        checks.assert_close(out.data, reference(x0), what=f"value of {name}", where=f"at x = {x0}")
        checks.assert_close(x.grad, numdiff.derivative(reference, x0), what=f"derivative of {name}",
                            where=f"at x = {x0}", hint=hint)


def stable_sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # an identity: sigma(x) = (1 + tanh(x/2)) / 2


check_function("exp(x)", "exp", np.exp, [0.3, -1.2])
check_function("log(x)", "log", np.log, [0.3, 2.5])
check_function("tanh(x)", "tanh", np.tanh, [1.2, -0.3, 2.0],
               hint="d tanh(x)/dx = 1 - tanh(x)^2: square the output, not the input.")
check_function("relu(x)", "relu", lambda x: np.maximum(x, 0.0), [1.3, -0.7])
check_function("sigmoid(x)", "sigmoid", stable_sigmoid, [0.3, -1.2, 4.0], hint="d sigma/dx = sigma (1 - sigma).")
check_function("sigmoid(x)", "sigmoid", stable_sigmoid, [800.0, -800.0],
               hint="Compute it with exp(-|x|), which never overflows.")

# Composed with exercise 1: the worked example of section 3.
a, b = Value(1.5), Value(-0.5)
out = (a * b + a).tanh() * a
out.backward()
checks.assert_close([a.grad, b.grad], numdiff.gradient(lambda v: np.tanh(v[0] * v[1] + v[0]) * v[0], [1.5, -0.5]),
                    what="gradient of tanh(a*b + a) * a", where="at a = 1.5, b = -0.5")
### BEGIN HIDDEN TESTS
# One definition of the hidden checks (calcml.probes): the kernel runs them here on a fixed seed; the grader
# draws each student's own inputs, runs the driver in a sandbox and _verify in its own process.
import textwrap

import numpy as np

from calcml import checks, expressions, numdiff, probes
from calcml import program_probes as _pp

_REFERENCES = {"exp": np.exp, "log": np.log, "tanh": np.tanh, "relu": lambda x: np.maximum(x, 0.0),
               "sigmoid": lambda x: 0.5 * (1.0 + np.tanh(0.5 * x))}


def _inputs(rng):
    points = {"exp": [float(rng.uniform(-3, 3)), 0.0],
              "log": [float(rng.uniform(0.05, 8)), float(rng.uniform(0.5, 3))],
              "tanh": rng.uniform(-2.6, 2.6, 2).tolist(),
              "relu": [float(rng.uniform(0.1, 4)), float(-rng.uniform(0.1, 4))],
              "sigmoid": [float(rng.uniform(-5, 5)), float(rng.uniform(30, 40)), float(-rng.uniform(30, 40)),
                          709.5, -709.5, 1000.0, -1000.0, float(rng.uniform(700, 900)), float(-rng.uniform(700, 900))]}
    programs = _pp.random_programs(rng, expressions.BASIC + expressions.FUNCTIONS, [(3, 8), (3, 15), (3, 30), (3, 50)])
    programs += _pp.random_programs(rng, expressions.ALL, [(2, 10), (3, 20), (4, 40), (3, 80), (5, 25)])
    return {"points": points, "programs": programs,
            "deep": {"start": float(rng.uniform(0.1, 0.6)), "steps": int(rng.integers(9_000, 11_000))}}


_DRIVER = _pp.DRIVER + textwrap.dedent("""
    result = {"points": {}}
    for name, points in inputs["points"].items():
        values = []
        for x0 in points:
            x = Value(x0)
            try:
                out = getattr(x, name)()
                out.backward()
                values.append({"value": out.data, "grads": [x.grad]})
            except (ValueError, OverflowError, ZeroDivisionError) as error:
                values.append({"error": f"{type(error).__name__}: {error}"})
        result["points"][name] = values
    result["programs"] = [engine_gradient(spec) for spec in inputs["programs"]]
    x0 = Value(inputs["deep"]["start"])
    x = x0
    for _ in range(inputs["deep"]["steps"]):
        x = x + x.tanh() * 0.0001
    error = at_default_recursion_limit(x.backward)
    result["deep"] = {"recursion": error, "grad": x0.grad, "value": x.data}
""")


def _tanh_chain(x, steps):
    for _ in range(steps):
        x = x + np.tanh(x) * 0.0001
    return x


def _verify(inputs, result):
    probes.require(isinstance(result, dict) and isinstance(result.get("points"), dict),
                   "the functions gave no results.")
    hints = {"tanh": "d tanh(x)/dx = 1 - tanh(x)²: square the output, not the input.",
             "sigmoid": "σ' = σ(1 - σ); compute σ with exp(-|x|), which never overflows.",
             "relu": "relu'(x) is 1 where x > 0 and 0 elsewhere."}
    for name, points in inputs["points"].items():
        got = result["points"].get(name)
        probes.require(isinstance(got, list) and len(got) == len(points), f"{name} gave no results.")
        reference = _REFERENCES[name]
        for x0, answer in zip(points, got, strict=True):
            probes.require(isinstance(answer, dict), f"{name} gave no result at x = {x0}.")
            if answer.get("error"):
                raise checks.CheckFailure(f"Your {name} at x = {x0} raised {answer['error']}. {hints.get(name, '')}")
            probes.close(answer.get("value"), reference(x0), what=f"value of {name}(x)", where=f"at x = {x0:.6g}",
                         hint=hints.get(name, ""))
            probes.close(answer.get("grads"), [numdiff.derivative(reference, x0)], what=f"derivative of {name}(x)",
                         where=f"at x = {x0:.6g}", hint=hints.get(name, ""))
    _pp.check_gradients(inputs["programs"], result.get("programs"))
    n, start = inputs["deep"]["steps"], inputs["deep"]["start"]
    _pp.check_deep(result.get("deep"), numdiff.derivative(lambda x: _tanh_chain(x, n), start), None,
                   f"{n:,} tanh steps (x <- x + 0.0001 tanh(x))")


probes.exercise(globals(), inputs=_inputs, driver=_DRIVER, verify=_verify, seed=5301,
                mechanism={"rule": "iterative_engine", "unit": "05_autograd", "roots": ["topological_order"]})
### END HIDDEN TESTS


# %% [raw] wrong_answer="05_autograd-functions-solution" mistake="tanh' from the input instead of the output: 1 - x^2 for 1 - tanh(x)^2."
# ### REPLACE
#         self.grad += (1.0 - out.data**2) * out.grad  # 1 - tanh^2: the output, squared
# ### WITH
#         self.grad += (1.0 - self.data**2) * out.grad
# ### END


# %% [raw] wrong_answer="05_autograd-functions-solution" mistake="The textbook sigmoid formula: math.exp(800) raises OverflowError for x = -800."
# ### REPLACE
#     out = Value(1.0 / (1.0 + z) if self.data >= 0 else z / (1.0 + z), (self,), "sigmoid")
# ### WITH
#     out = Value(1.0 / (1.0 + math.exp(-self.data)), (self,), "sigmoid")
# ### END


# %% [raw] wrong_answer="05_autograd-functions-solution" mistake="relu passes the gradient through even where it is flat (x < 0)."
# ### REPLACE
#         self.grad += (self.data > 0) * out.grad
# ### WITH
#         self.grad += out.grad
# ### END


# %% [markdown]
# Your engine on the worked example of section 3: the same numbers as the hand computation, now drawn
# from your own `Value` objects.

# %%
a, b = Value(1.5, label="a"), Value(-0.5, label="b")
L_value = (a * b + a).tanh() * a
L_value.backward()
print(f"dL/da = {a.grad:.6f} (by hand {a_bar:.6f}),  dL/db = {b.grad:.6f} (by hand {b_bar:.6f})")
ax = graph.draw(L_value, title="Your engine: L = tanh(a·b + a) · a")

# %% [markdown]
# ## 6 · Back to the two moons
#
# Time to replace the 268 loss evaluations of section 1 by one backward pass. A **neuron** with weights
# $w \in \mathbb{R}^{n}$ and bias $b$ maps an input $x \in \mathbb{R}^{n}$ to $\tanh(w \cdot x + b)$, or to
# $w \cdot x + b$ without the nonlinearity. A **layer** is a list of neurons that all read the same input;
# an **MLP** (multilayer perceptron) feeds each layer's outputs to the next.
#
# ### Exercise 4 · A neural network trained by your engine (3 points)
#
# The `__init__` methods are given: they fix the structure (`self.w`, `self.b`, `self.neurons`,
# `self.layers`) and draw the same initial weights as `init_parameters` in section 1. Write:
#
# - `__call__` of each class: the forward pass, on `Value`s, so your engine records the graph;
# - `parameters()`: every trainable `Value`, in the order *layer by layer, neuron by neuron, weights
#   then bias* (the order of `init_parameters`);
# - `logistic_loss(model, X, y)`: the mean logistic loss of section 1, as a `Value`.
#
# The tests compare the gradient of your loss with respect to **every parameter** with finite
# differences, so a forward pass that steps outside the engine (using `.data` where a `Value` belongs)
# shows up as a zero or wrong gradient.

# %% nbgrader={"grade": false, "grade_id": "05_autograd-mlp-solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
class Neuron:
    """One unit: tanh(w · x + b) if nonlin, else w · x + b."""

    def __init__(self, nin, nonlin=True, rng=None):
        rng = np.random.default_rng(0) if rng is None else rng
        self.w = [Value(wi) for wi in rng.uniform(-1.0, 1.0, nin)]
        self.b = Value(0.0)
        self.nonlin = nonlin

    def __call__(self, x):
        """The output Value for the input x, a sequence of nin numbers or Values."""
        ### BEGIN SOLUTION
        act = sum((wi * xi for wi, xi in zip(self.w, x, strict=True)), self.b)
        return act.tanh() if self.nonlin else act
        ### END SOLUTION

    def parameters(self):
        """The weights, then the bias: a list of nin + 1 Values."""
        ### BEGIN SOLUTION
        return self.w + [self.b]
        ### END SOLUTION


class Layer:
    """nout neurons reading the same nin inputs."""

    def __init__(self, nin, nout, nonlin=True, rng=None):
        self.neurons = [Neuron(nin, nonlin, rng) for _ in range(nout)]

    def __call__(self, x):
        """The list of the nout output Values."""
        ### BEGIN SOLUTION
        return [neuron(x) for neuron in self.neurons]
        ### END SOLUTION

    def parameters(self):
        """The parameters of every neuron, neuron by neuron."""
        ### BEGIN SOLUTION
        return [p for neuron in self.neurons for p in neuron.parameters()]
        ### END SOLUTION


class MLP:
    """Layers of sizes nouts after nin inputs; tanh on every layer but the last, which is linear."""

    def __init__(self, nin, nouts, seed=0):
        rng = np.random.default_rng(seed)
        sizes = [nin, *nouts]
        self.layers = [Layer(sizes[k], sizes[k + 1], nonlin=k < len(nouts) - 1, rng=rng) for k in range(len(nouts))]

    def __call__(self, x):
        """The output for the input x: a Value if the last layer has one neuron, else a list of Values."""
        ### BEGIN SOLUTION
        for layer in self.layers:
            x = layer(x)
        return x[0] if len(x) == 1 else x
        ### END SOLUTION

    def parameters(self):
        """The parameters of every layer, layer by layer."""
        ### BEGIN SOLUTION
        return [p for layer in self.layers for p in layer.parameters()]
        ### END SOLUTION

    def zero_grad(self):
        for p in self.parameters():
            p.grad = 0.0


def logistic_loss(model, X, y):
    """The Value (1/N) sum_i log(1 + exp(-y_i * model(X[i]))), for N points X (N, nin) and labels y = ±1."""
    ### BEGIN SOLUTION
    total = 0.0
    for xi, yi in zip(X, y, strict=True):
        m = float(yi) * model(xi)  # the margin; exp below only sees -|m| <= 0, so it cannot overflow
        total = total + ((1.0 + (-m).exp()).log() if m.data >= 0 else (1.0 + m.exp()).log() - m)
    return total / len(y)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "05_autograd-mlp", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
def structure(model):
    """The parameters read straight from the given structure: layer by layer, neuron by neuron, w then b."""
    return [p for layer in model.layers for n in layer.neurons for p in [*n.w, n.b]]


def numpy_scores(model, theta, P):
    """The model's outputs for the points P (m, nin), with its parameters replaced by theta, in NumPy."""
    h, start = np.asarray(P, dtype=float), 0
    for layer in model.layers:
        nin = len(layer.neurons[0].w)
        block = np.asarray(theta[start:start + len(layer.neurons) * (nin + 1)]).reshape(len(layer.neurons), nin + 1)
        start += block.size
        h = h @ block[:, :-1].T + block[:, -1]
        if layer.neurons[0].nonlin:
            h = np.tanh(h)
    return h


def check_mlp(nin, nouts, seed, X, y):
    where = f"for MLP({nin}, {nouts}) on {len(X)} points"
    model = MLP(nin, nouts, seed=seed)
    params = model.parameters()
    expected = structure(model)
    assert len(params) == len(expected), (
        f"parameters() returned {len(params)} Values {where}, but the model has {len(expected)}: "
        "every neuron has nin weights and 1 bias.")
    assert all(p is q for p, q in zip(params, expected, strict=True)), (
        f"parameters() {where} must list the Values of the model itself, layer by layer, neuron by neuron, "
        "each neuron's weights then its bias.")
    theta = np.array([p.data for p in expected])
    outputs = [model(x) for x in X]
    actual = [o.data for o in outputs] if nouts[-1] == 1 else [[o.data for o in row] for row in outputs]
    reference = numpy_scores(model, theta, X)
    checks.assert_close(actual, reference[:, 0] if nouts[-1] == 1 else reference, what="network outputs",
                        where=where, hint="tanh on every layer but the last, which is linear: w · x + b.")
    if nouts[-1] != 1:
        return
    loss = logistic_loss(model, X, y)

    def loss_of(t):
        return np.mean(np.log1p(np.exp(-y * numpy_scores(model, t, X)[:, 0])))

    checks.assert_close(loss.data, loss_of(theta), what="logistic loss", where=where, batch_size=len(X),
                        hint="The mean over the points of log(1 + exp(-y s)).")
    model.zero_grad()
    loss.backward()
    checks.assert_close([p.grad for p in expected], numdiff.gradient(loss_of, theta),
                        what="gradient of the loss with respect to every parameter", where=where,
                        batch_size=len(X), hint="Does the forward pass use .data where a Value belongs?")


X_small, y_small = data.moons(6, noise=0.1, seed=5)
check_mlp(2, [3, 1], 11, X_small, y_small)
check_mlp(2, [3, 3, 1], 12, X_small, y_small)
### BEGIN HIDDEN TESTS
# One definition of the hidden checks (calcml.probes): the kernel runs them here on a fixed seed; the grader
# draws each student's own inputs, runs the driver in a sandbox and _verify in its own process.
import textwrap

import numpy as np

from calcml import data, numdiff, probes


def _inputs(rng):
    X3, y3 = rng.normal(size=(5, 3)), rng.choice([-1.0, 1.0], size=5)
    X8, y8 = data.moons(8, noise=0.2, seed=int(rng.integers(0, 2**31)))
    X6, y6 = data.moons(6, noise=0.1, seed=int(rng.integers(0, 2**31)))
    cases = [(3, [4, 4, 1], X3, y3), (1, [2, 1], X3[:, :1], y3), (2, [5, 2], X6, y6), (2, [8, 8, 1], X8, y8),
             (2, [1], X8, y8), (2, [3, 3, 1], X6, y6)]
    return {"cases": [{"nin": nin, "nouts": nouts, "seed": int(rng.integers(0, 10_000)), "X": X, "y": y,
                       # distinct nudges per parameter, for two calls of parameters(): each must hand out the
                       # model's own Values, in order
                       "nudges": [rng.permutation(np.arange(1, _count(nin, nouts) + 1)) * 0.01 for _ in range(2)]}
                      for nin, nouts, X, y in cases]}


def _count(nin, nouts):
    sizes = [nin, *nouts]
    return sum((sizes[k] + 1) * sizes[k + 1] for k in range(len(nouts)))


_DRIVER = textwrap.dedent("""
    import numpy as np
    result = []
    for case in inputs["cases"]:
        X, y = np.array(case["X"], dtype=float), np.array(case["y"], dtype=float)
        model = MLP(case["nin"], case["nouts"], seed=case["seed"])
        params = model.parameters()
        structure = [p for layer in model.layers for n in layer.neurons for p in [*n.w, n.b]]
        theta = [p.data for p in structure]
        outputs = [model(x) for x in X]
        if case["nouts"][-1] == 1:
            scores = [o.data for o in outputs]
        else:
            scores = [[o.data for o in row] for row in outputs]
        entry = {"count": len(params), "theta": theta, "scores": scores}
        if case["nouts"][-1] == 1:
            loss = logistic_loss(model, X, y)
            model.zero_grad()
            loss.backward()
            entry.update(loss=loss.data, grads=[p.grad for p in structure])
        # Two training steps move what parameters() returns: the model must move with them.
        for p, nudge in zip(params, case["nudges"][0]):
            p.data += nudge
        again = model.parameters()
        for p, nudge in zip(again, case["nudges"][1]):
            p.data += nudge
        entry["count_again"] = len(again)
        moved = [model(x) for x in X]
        entry["moved"] = [o.data for o in moved] if case["nouts"][-1] == 1 else [[o.data for o in r] for r in moved]
        result.append(entry)
""")


def _numpy_scores(nin, nouts, theta, P):
    h, start, sizes = np.asarray(P, dtype=float), 0, [nin, *nouts]
    for k in range(len(nouts)):
        n_in, n_out = sizes[k], sizes[k + 1]
        block = np.asarray(theta[start:start + n_out * (n_in + 1)]).reshape(n_out, n_in + 1)
        start += block.size
        h = h @ block[:, :-1].T + block[:, -1]
        if k < len(nouts) - 1:
            h = np.tanh(h)
    return h


def _verify(inputs, result):
    probes.require(isinstance(result, list) and len(result) == len(inputs["cases"]), "the MLP gave too few results.")
    for case, got in zip(inputs["cases"], result, strict=True):
        nin, nouts, X, y = case["nin"], case["nouts"], np.array(case["X"]), np.array(case["y"])
        where = f"for MLP({nin}, {nouts}) on {len(X)} points"
        count = _count(nin, nouts)
        probes.require(isinstance(got, dict), f"the MLP gave no result {where}.")
        probes.require(got.get("count") == count, f"parameters() returned {got.get('count')} Values {where}, but the "
                                                  f"model has {count}: every neuron has nin weights and 1 bias.")
        theta = np.asarray(got.get("theta"), dtype=float)
        probes.require(theta.shape == (count,) and bool(np.all(np.isfinite(theta))),
                       f"the parameters {where} are not numbers.")
        reference = _numpy_scores(nin, nouts, theta, X)
        probes.close(got.get("scores"), reference[:, 0] if nouts[-1] == 1 else reference, what="network outputs",
                     where=where, hint="tanh on every layer but the last, which is linear: w · x + b.")
        probes.require(got.get("count_again") == count, f"a second call of parameters() returned "
                                                        f"{got.get('count_again')} Values {where}, not {count}.")
        moved = _numpy_scores(nin, nouts, theta + np.sum(case["nudges"], axis=0), X)
        probes.close(got.get("moved"), moved[:, 0] if nouts[-1] == 1 else moved,
                     what="network outputs after nudging each Value of parameters() by its own amount, twice",
                     where=where,
                     hint="parameters() must list the Values of the model itself (not copies), layer by layer, "
                          "neuron by neuron, each neuron's weights then its bias: a training step updates them.")
        if nouts[-1] != 1:
            continue

        def loss_of(t, nin=nin, nouts=nouts, X=X, y=y):
            return np.mean(np.log1p(np.exp(-y * _numpy_scores(nin, nouts, t, X)[:, 0])))

        probes.close(got.get("loss"), loss_of(theta), what="logistic loss", where=where, batch_size=len(X),
                     hint="The mean over the points of log(1 + exp(-y s)).")
        probes.close(got.get("grads"), numdiff.gradient(loss_of, theta), what="gradient of the loss with respect to "
                     "every parameter", where=where, batch_size=len(X),
                     hint="Does the forward pass use .data where a Value belongs?")


probes.exercise(globals(), inputs=_inputs, driver=_DRIVER, verify=_verify, seed=5401)
### END HIDDEN TESTS


# %% [raw] wrong_answer="05_autograd-mlp-solution" mistake="The forward pass uses .data, so the weights drop out of the graph and get no gradient."
# ### REPLACE
# sum((wi * xi for wi, xi in zip(self.w, x, strict=True)), self.b)
# ### WITH
# sum((wi.data * xi for wi, xi in zip(self.w, x, strict=True)), self.b)
# ### END


# %% [raw] wrong_answer="05_autograd-mlp-solution" mistake="The loss sums over the points instead of averaging: N times too large, and so is its gradient."
# ### REPLACE
#     return total / len(y)
# ### WITH
#     return total
# ### END


# %% [raw] wrong_answer="05_autograd-mlp-solution" mistake="tanh on every layer, the output layer included."
# ### REPLACE
#         return act.tanh() if self.nonlin else act
# ### WITH
#         return act.tanh()
# ### END


# %% [markdown]
# ### Training with your engine
#
# The same network, data, learning rate and initial weights as in section 1, but with the gradients from
# your `backward()`. Each step is one forward pass and one backward pass, instead of 268 loss
# evaluations; the two training runs should agree to about 12 digits, the accuracy of the finite differences.

# %%
model = MLP(2, SIZES[1:], seed=0)
engine_losses, engine_snapshots = [], []
for step in range(STEPS + 1):
    loss = logistic_loss(model, X_train, y_train)
    engine_losses.append(loss.data)
    engine_snapshots.append(np.array([p.data for p in model.parameters()]))
    if step == STEPS:
        break
    model.zero_grad()
    loss.backward()
    for p in model.parameters():
        p.data -= LEARNING_RATE * p.grad
gap = max(abs(u - v) for u, v in zip(engine_losses, losses, strict=True))
accuracy = decision.accuracy([model(x).data for x in X_train], y_train)
print(f"largest difference from the numerical-gradient run: {gap:.1e};  training accuracy {accuracy:.1%}")

ax = decision.plot_training_curve(losses, label="numerical gradients (268 loss evaluations per step)")
decision.plot_training_curve(engine_losses, ax=ax, label="your engine (1 forward + 1 backward per step)",
                             linestyle="--")
ax.set_title("Two ways to get the same gradient")
plt.show()

# %% [markdown]
# The explorer again, now replaying *your* run. (The plots evaluate the saved weights with NumPy on
# thousands of grid points at once; your `Value` network gives the same numbers one point at a time, as
# exercise 4's tests checked.)

# %%
decision.training_explorer(engine_snapshots, mlp_scores, X_train, y_train, engine_losses)

# %% [markdown]
# ## 7 · Forward mode: dual numbers
#
# Reverse mode runs the chain rule from the output back. The chain rule can also run forward, alongside
# the values: unit 3's forward mode. Pick a direction $v$ in the input space and carry, with every number
# $a$, its derivative $\dot a$ along $v$. Each operation updates the pair at once:
#
# $$ (a, \dot a) + (b, \dot b) = (a + b,\ \dot a + \dot b), \qquad
#    (a, \dot a)\cdot(b, \dot b) = (ab,\ \dot a\, b + a\, \dot b), \qquad
#    f\big((a, \dot a)\big) = \big(f(a),\ f'(a)\, \dot a\big). $$
#
# Algebraically these are **dual numbers** $a + \dot a\,\varepsilon$ with $\varepsilon^2 = 0$:
# $(a + \dot a\varepsilon)(b + \dot b\varepsilon) = ab + (\dot a b + a \dot b)\varepsilon$, and Taylor's
# formula gives $f(a + \dot a\varepsilon) = f(a) + f'(a)\dot a\,\varepsilon$ exactly. Start the inputs at
# $(x_i, v_i)$ and every output arrives as $(f(x), J_f(x)\, v)$: one pass gives a **Jacobian-vector
# product** (JVP), the derivative of *every* output along *one* input direction. No graph, no
# topological sort, no recursion.

# %% [markdown]
# ### Exercise 5 · Dual numbers and `jvp` (3 points)
#
# Complete `Dual`: the arithmetic (with reflected operators, and `**` with a number or a `Dual`
# exponent, as in exercise 2) and the methods `exp`, `log`, `tanh`, `sin`. `Dual.lift` turns a plain
# number into a constant, whose derivative is 0. Then write `jvp(f, x, v)`.

# %% nbgrader={"grade": false, "grade_id": "05_autograd-dual-solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
class Dual:
    """A dual number val + dot·ε with ε² = 0: a value and its derivative along one direction."""

    def __init__(self, val, dot=0.0):
        self.val = float(val)
        self.dot = float(dot)

    def __repr__(self):
        return f"Dual(val={self.val:.6g}, dot={self.dot:.6g})"

    @staticmethod
    def lift(x):
        """x itself if it is a Dual; a number becomes a constant Dual(x, 0.0)."""
        return x if isinstance(x, Dual) else Dual(x, 0.0)

    def __add__(self, other):
        """self + other (a Dual or a number)."""
        ### BEGIN SOLUTION
        other = Dual.lift(other)
        return Dual(self.val + other.val, self.dot + other.dot)
        ### END SOLUTION

    def __radd__(self, other):
        """other + self."""
        ### BEGIN SOLUTION
        return self + other
        ### END SOLUTION

    def __neg__(self):
        """-self."""
        ### BEGIN SOLUTION
        return Dual(-self.val, -self.dot)
        ### END SOLUTION

    def __sub__(self, other):
        """self - other."""
        ### BEGIN SOLUTION
        return self + (-Dual.lift(other))
        ### END SOLUTION

    def __rsub__(self, other):
        """other - self."""
        ### BEGIN SOLUTION
        return Dual.lift(other) + (-self)
        ### END SOLUTION

    def __mul__(self, other):
        """self * other: the product rule."""
        ### BEGIN SOLUTION
        other = Dual.lift(other)
        return Dual(self.val * other.val, self.dot * other.val + self.val * other.dot)
        ### END SOLUTION

    def __rmul__(self, other):
        """other * self."""
        ### BEGIN SOLUTION
        return self * other
        ### END SOLUTION

    def __truediv__(self, other):
        """self / other: the quotient rule."""
        ### BEGIN SOLUTION
        other = Dual.lift(other)
        return Dual(self.val / other.val, (self.dot * other.val - self.val * other.dot) / other.val**2)
        ### END SOLUTION

    def __rtruediv__(self, other):
        """other / self."""
        ### BEGIN SOLUTION
        return Dual.lift(other) / self
        ### END SOLUTION

    def __pow__(self, other):
        """self ** other, for a number other, or a Dual other (then self.val > 0)."""
        ### BEGIN SOLUTION
        if isinstance(other, Dual):
            val = self.val**other.val
            return Dual(val, other.val * self.val ** (other.val - 1) * self.dot + val * math.log(self.val) * other.dot)
        return Dual(self.val**other, other * self.val ** (other - 1) * self.dot)
        ### END SOLUTION

    def __rpow__(self, other):
        """other ** self, for a number other > 0."""
        ### BEGIN SOLUTION
        return Dual.lift(other) ** self
        ### END SOLUTION

    def exp(self):
        """e ** self."""
        ### BEGIN SOLUTION
        val = math.exp(self.val)
        return Dual(val, val * self.dot)
        ### END SOLUTION

    def log(self):
        """The natural logarithm of self (self.val > 0)."""
        ### BEGIN SOLUTION
        return Dual(math.log(self.val), self.dot / self.val)
        ### END SOLUTION

    def tanh(self):
        """The hyperbolic tangent of self."""
        ### BEGIN SOLUTION
        val = math.tanh(self.val)
        return Dual(val, (1.0 - val**2) * self.dot)
        ### END SOLUTION

    def sin(self):
        """The sine of self."""
        ### BEGIN SOLUTION
        return Dual(math.sin(self.val), math.cos(self.val) * self.dot)
        ### END SOLUTION


def jvp(f, x, v):
    """Forward mode: f(x) and the directional derivative J_f(x) v, in one pass of dual numbers.

    Args:
        f: A function of a list of n inputs, returning a Dual or a list of Duals; it uses only the
            operations of Dual (and plain numbers).
        x: The point, a sequence of n floats.
        v: The direction, a sequence of n floats.

    Returns:
        (y, dy) = (f(x), J_f(x) v): two floats (shape ()) if f returns one Dual, two NumPy arrays of
        shape (m,) if it returns a list of m Duals.
    """
    ### BEGIN SOLUTION
    out = f([Dual(xi, vi) for xi, vi in zip(x, v, strict=True)])
    outs = [out] if isinstance(out, Dual) else list(out)
    y, dy = np.array([o.val for o in outs]), np.array([o.dot for o in outs])
    return (y[0], dy[0]) if isinstance(out, Dual) else (y, dy)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "05_autograd-dual", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
def check_dual(name, build, points, hint=""):
    """build(Dual(x0, 1)): its val against build on floats, its dot against numdiff."""
    for x0 in points:
        out = build(Dual(x0, 1.0))
        checks.assert_close(out.val, build(x0), what=f"value of {name}", where=f"at x = {x0}", hint=hint)
        checks.assert_close(out.dot, numdiff.derivative(build, x0), what=f"derivative (dot) of {name}",
                            where=f"at x = {x0}", hint=hint)


def call(name, z):
    """z.name() for a Dual, np.name(z) for floats: one formula for both."""
    return getattr(z, name)() if isinstance(z, Dual) else getattr(np, name)(z)


check_dual("x * x", lambda x: x * x, [0.7, -1.5], hint="The product rule: (ab)' = a'b + ab'.")
check_dual("2 - x", lambda x: 2 - x, [0.7], hint="2 - x calls x.__rsub__(2).")
check_dual("2 / x", lambda x: 2 / x, [0.7, -1.5])
check_dual("x ** 3 - 2 ** x", lambda x: x**3 - 2**x, [0.7, -1.5])
check_dual("sin(x)", lambda x: call("sin", x), [0.7, 2.5], hint="(sin x)' = cos x.")
check_dual("sin(x) e^x / (1 + x^2) + tanh(x) + log(x)",
           lambda x: call("sin", x) * call("exp", x) / (1 + x**2) + call("tanh", x) + call("log", x), [0.7, 2.5])


def F(x):
    """F(x0, x1) = [x0 * x1, sin(x0) + x1 ** 2], for the jvp test against the numerical Jacobian."""
    return [x[0] * x[1], call("sin", x[0]) + x[1] ** 2]


x_point, direction = np.array([0.6, -1.1]), np.array([0.8, -0.3])
y, dy = jvp(F, x_point, direction)
checks.assert_close(y, F(x_point), what="value y of jvp(F, x, v)")
checks.assert_close(dy, numdiff.jacobian(lambda x: np.array(F(x)), x_point) @ direction,
                    what="directional derivative dy of jvp(F, x, v)", where=f"at x = {x_point}, v = {direction}",
                    hint="Seed each input i with Dual(x[i], v[i]).")
y, dy = jvp(lambda x: x[0] * x[1], x_point, direction)
assert np.shape(y) == () and np.shape(dy) == (), "For an f that returns one Dual, jvp returns two arrays of shape ()."
### BEGIN HIDDEN TESTS
# One definition of the hidden checks (calcml.probes): the kernel runs them here on a fixed seed; the grader
# draws each student's own inputs, runs the driver in a sandbox and _verify in its own process.
import textwrap

import numpy as np

from calcml import expressions, numdiff, probes
from calcml import program_probes as _pp

_SINGLE_OPS = ["sin", "rsub", "rdiv", "rpow", "div", "pow_c", "tanh", "log", "exp", "pow"]


def _inputs(rng):
    programs = _pp.random_programs(rng, expressions.DUAL, [(1, 8), (2, 15), (3, 30), (4, 50), (3, 100)])
    programs += [_pp.to_json(expressions.single_op_program(op, _pp.seed(rng))) for op in _SINGLE_OPS for _ in range(2)]
    many = [{"program": p, "v": rng.normal(size=p["n"]).tolist()}
            for p in _pp.random_programs(rng, expressions.DUAL, [(2, 6), (3, 12), (4, 20)])]
    powers = rng.uniform([0.3, -2.5], [4.0, 2.5], size=(4, 2)).tolist()
    directions = [[1.0, 0.0], [0.0, 1.0], rng.normal(size=2).tolist()]
    return {"programs": programs, "many": many, "powers": powers, "directions": directions}


_DRIVER = _pp.DRIVER + textwrap.dedent("""
    import numpy as np
    result = {"programs": [], "many": [], "powers": []}
    for spec in inputs["programs"]:
        grads = []
        for i in range(spec["n"]):
            out = run_program(spec, [Dual(x, 1.0 if j == i else 0.0) for j, x in enumerate(spec["x"])])
            grads.append(out.dot)
        result["programs"].append({"value": out.val, "grads": grads})
    for case in inputs["many"]:
        spec = case["program"]
        y, dy = jvp(lambda xs, spec=spec: run_program(spec, xs, every=True), list(spec["x"]), case["v"])
        result["many"].append({"y": y, "dy": dy})
    for base, exponent in inputs["powers"]:
        row = []
        for v in inputs["directions"]:
            y, d = jvp(lambda z: z[0] ** z[1], [base, exponent], v)
            row.append({"y": y, "d": d})
        result["powers"].append(row)
""")


def _verify(inputs, result):
    probes.require(isinstance(result, dict), "Dual gave no results.")
    _pp.check_gradients(inputs["programs"], result.get("programs"), what="gradient by forward mode",
                        hint="Each operation of Dual carries the derivative along: the product rule, the quotient "
                             "rule, the chain rule.")
    many = result.get("many")
    probes.require(isinstance(many, list) and len(many) == len(inputs["many"]), "jvp gave too few results.")
    for case, got in zip(inputs["many"], many, strict=True):
        program, v = _pp.from_json(case["program"]), np.array(case["v"])
        where = f"for the program {program}"
        probes.close(got.get("y"), program.run_float(np.array(program.x), every=True), what="values y of jvp",
                     where=where)
        jac = numdiff.jacobian(lambda x, p=program: p.run_float(x, every=True), np.array(program.x))
        probes.close(got.get("dy"), jac @ v, what="directional derivatives dy of jvp", where=where,
                     hint="Seed each input i with Dual(x[i], v[i]).")
    powers = result.get("powers")
    probes.require(isinstance(powers, list) and len(powers) == len(inputs["powers"]), "jvp of a ** b gave no results.")
    for (a, b), row in zip(inputs["powers"], powers, strict=True):
        for v, got in zip(inputs["directions"], row, strict=True):
            where = f"at a = {a:.4g}, b = {b:.4g} along v = [{v[0]:.3g}, {v[1]:.3g}]"
            probes.require(isinstance(got, dict) and all(type(got.get(k)) in (int, float) for k in ("y", "d")),
                           "For an f that returns one Dual, jvp returns two arrays of shape ().")
            probes.close(got.get("y"), a**b, what="value of a ** b", where=where)
            probes.close(got.get("d"), numdiff.gradient(lambda z: z[0] ** z[1], [a, b]) @ v,
                         what="derivative of a ** b", where=where, hint="d(a^b) = b a^(b-1) da + a^b ln(a) db.")


probes.exercise(globals(), inputs=_inputs, driver=_DRIVER, verify=_verify, seed=5501)
### END HIDDEN TESTS


# %% [raw] wrong_answer="05_autograd-dual-solution" mistake="The product rule forgotten: the derivative of a product taken as the product of derivatives."
# ### REPLACE
#         return Dual(self.val * other.val, self.dot * other.val + self.val * other.dot)
# ### WITH
#         return Dual(self.val * other.val, self.dot * other.dot)
# ### END


# %% [raw] wrong_answer="05_autograd-dual-solution" mistake="(sin x)' = -cos x: the sign of the cosine's derivative."
# ### REPLACE
#         return Dual(math.sin(self.val), math.cos(self.val) * self.dot)
# ### WITH
#         return Dual(math.sin(self.val), -math.cos(self.val) * self.dot)
# ### END


# %% [raw] wrong_answer="05_autograd-dual-solution" mistake="jvp seeds every input with derivative 1, ignoring the direction v."
# ### REPLACE
#     out = f([Dual(xi, vi) for xi, vi in zip(x, v, strict=True)])
# ### WITH
#     out = f([Dual(xi, 1.0) for xi in x])
# ### END


# %% [markdown]
# ## 8 · Forward or reverse? Measure it
#
# Unit 3 raced the two modes on chains of matrices; now race your own two engines. For
# $f: \mathbb{R}^n \to \mathbb{R}^m$, whose Jacobian is $m \times n$, one forward pass gives one column
# ($J v$ with $v = e_j$) and one backward pass gives one row (the gradient of one output). So:
#
# - **many inputs, one output** (a loss of $n$ parameters): forward mode needs $n$ passes, reverse mode 1;
# - **one input, many outputs** (a curve $t \mapsto f(t) \in \mathbb{R}^m$): forward mode needs 1 pass,
#   reverse mode $m$.
#
# The cell below times both on two families of functions built from your `Value` and `Dual`: a ring
# $f(x) = \sum_i \tanh(x_i x_{i+1})$ of $n$ inputs (indices mod $n$), and a recurrence
# $z_k = \tanh(0.9\, z_{k-1} + t)$, $z_0 = 0$, with $m$ outputs $z_1, \dots, z_m$. Each pass costs time
# proportional to the size of the graph, so the $n$ (or $m$) passes together grow quadratically: on the
# log-log plot the two lines separate, their slopes approaching 1 and 2 once the fixed cost of a call no longer
# dominates.

# %%
def ring(xs):
    total = 0.0
    for i in range(len(xs)):
        total = total + (xs[i] * xs[(i + 1) % len(xs)]).tanh()
    return total


def recurrence(ts, m):
    z, outputs = 0.0, []
    for _ in range(m):
        z = (z * 0.9 + ts[0]).tanh()
        outputs.append(z)
    return outputs


def best_time(function, *args, repeats=3):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = function(*args)
        times.append(time.perf_counter() - start)
    return min(times), result


def reverse_gradient(x):
    leaves = [Value(v) for v in x]
    ring(leaves).backward()
    return [leaf.grad for leaf in leaves]


def forward_gradient(x):
    return [float(jvp(ring, x, np.eye(len(x))[i])[1]) for i in range(len(x))]


def forward_derivatives(t, m):
    return jvp(lambda ts: recurrence(ts, m), [t], [1.0])[1]


def reverse_derivatives(t, m):
    leaf = Value(t)
    outputs = recurrence([leaf], m)
    derivatives = []
    for out in outputs:  # one backward pass per output
        out.zero_grad()
        out.backward()
        derivatives.append(leaf.grad)
    return derivatives


sizes = [2, 4, 8, 16, 32, 64, 128]
timings = {"forward, n inputs": [], "reverse, n inputs": [], "forward, m outputs": [], "reverse, m outputs": []}
rng = np.random.default_rng(0)
for n in sizes:
    x = rng.uniform(-1.0, 1.0, n)
    t_fwd, g_fwd = best_time(forward_gradient, x)
    t_rev, g_rev = best_time(reverse_gradient, x)
    checks.assert_close(g_fwd, g_rev, what="forward-mode gradient", where="compared with reverse mode")
    timings["forward, n inputs"].append(t_fwd)
    timings["reverse, n inputs"].append(t_rev)
    t_fwd, d_fwd = best_time(forward_derivatives, 0.3, n)
    t_rev, d_rev = best_time(reverse_derivatives, 0.3, n)
    checks.assert_close(d_fwd, d_rev, what="forward-mode derivatives", where="compared with reverse mode")
    timings["forward, m outputs"].append(t_fwd)
    timings["reverse, m outputs"].append(t_rev)

fig, axes = plt.subplots(1, 2, figsize=(10, 4), layout="constrained")
panels = [("n inputs, 1 output: the gradient of a ring", "n inputs", "n inputs"),
          ("1 input, m outputs: the derivatives of a recurrence", "m outputs", "m outputs")]
for ax, (title, key, xlabel) in zip(axes, panels, strict=True):
    plots.new_axes(f"size ({xlabel})", "time for all derivatives (s)", title, ax=ax)
    ax.loglog(sizes, timings[f"forward, {key}"], "o-", color=plots.COLORS["blue"], label="forward mode (dual numbers)")
    ax.loglog(sizes, timings[f"reverse, {key}"], "s--", color=plots.COLORS["vermillion"], label="reverse mode (backward)")
    ax.legend()
ratio = timings["forward, n inputs"][-1] / timings["reverse, n inputs"][-1]
print(f"n = {sizes[-1]} inputs: forward mode takes {ratio:.0f}x as long as reverse mode "
      "(one forward and one backward pass).")

# %% [markdown]
# A loss has one output and (in practice) millions of inputs, so training uses reverse mode: that is
# **backpropagation**. Its price is memory: the backward pass needs the whole graph, every intermediate
# value, kept from the forward pass, where forward mode forgets each value as soon as it is used.
# Forward mode wins when inputs are few and outputs many (sensitivities of a simulation to one parameter),
# and the two combine for second derivatives (forward-over-reverse gives Hessian-vector products).

# %% [markdown]
# ## What you can now do
#
# - Run reverse mode from one equation, $\bar v = \sum_{u\,\text{uses}\,v} \bar u\,\partial u/\partial v$
#   with $\bar L = 1$: each operation knows only its **local derivative**, gradients **add up** over uses
#   (`+=`), and the nodes are visited in **reverse topological order**.
# - Build `Value`, a reverse-mode engine with one backward closure per operation and an iterative
#   topological sort, in under 200 lines: it survives graphs 10,000 operations deep, reflected operators,
#   powers of negative bases and a sigmoid at ±800.
# - Train a multilayer perceptron with it: the same 67 partial derivatives as section 1, for one backward
#   pass instead of 268 loss evaluations, checked against finite differences parameter by parameter.
# - Carry derivatives forward with dual numbers, $a + \dot a\,\varepsilon$ with $\varepsilon^2 = 0$, to get
#   a JVP in one pass, and choose the mode by counting: forward mode needs one pass per input direction,
#   reverse mode one per output, and a loss has one output.
# - Test an engine against finite differences on random expressions with reuse and depth, where its bugs
#   hide (an `=` for a `+=`, swapped operands in a reflected operator, a recursive sort).
#
# **Next: unit 6, *Gradient descent, curvature and momentum*.** You can now compute the gradient of any
# loss; unit 6 puts it to work. From step 6 on, the loss curve of section 6 rises at every other step: the
# signature of a learning rate too large for the curvature. On a quadratic, gradient descent diverges once
# $\eta\lambda_{\max} > 2$, with $\lambda_{\max}$ the largest eigenvalue of the Hessian, and here
# $\eta\lambda_{\max} \approx 2.6$ already at the start. Unit 6 derives that threshold; on a real loss, whose
# curvature changes from place to place, it is a local guide rather than a guarantee.
