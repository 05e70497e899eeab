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
# - extend the engine with an operation of your own (a softplus that never overflows), deriving its local
#   derivative and writing it as one node with one backward closure;
# - train a multilayer perceptron with your engine, and check the gradient of its loss with respect to
#   every parameter against finite differences;
# - implement forward mode with dual numbers, and measure why training uses reverse mode.
#
# It builds on unit 3 (the chain rule, JVPs and VJPs) and unit 4 (computational graphs, the backward pass
# and topological order). Symbols follow [the course's notation](../../course/notation.md): $\bar v$, stored
# in `v.grad`, is the adjoint of $v$; $\dot a$ is a tangent; $L$ is the loss and $\eta$ the learning rate.

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
    will build in exercise 5.
    """
    rng = np.random.default_rng(seed)
    parts = []
    for nin, nout in zip(sizes[:-1], sizes[1:], strict=True):
        for _ in range(nout):
            parts += [rng.uniform(-1.0, 1.0, nin), [0.0]]
    return np.concatenate(parts)


def mlp_scores(theta, P, sizes=SIZES):
    """The scores s(x) of all the points P (shape (m, 2)) at once, for the parameter vector theta."""
    a, start = np.asarray(P, dtype=float), 0                                  # a: the activations
    for k, (nin, nout) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        block = theta[start:start + nout * (nin + 1)].reshape(nout, nin + 1)   # one row per neuron: w, b
        start += block.size
        a = a @ block[:, :-1].T + block[:, -1]
        if k < len(sizes) - 2:
            a = np.tanh(a)
    return a[:, 0]


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
# its inputs. For a final output $L$, write $\bar v = \partial L / \partial v$ for the **adjoint** of node
# $v$ (the gradient of $L$ with respect to $v$; the engine stores it in `v.grad`). Since $v$ influences $L$ only through the nodes $u$ that use it, the chain rule
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
# Four exercises build `Value` one piece at a time: the core with `+`, `×` and `backward()` (exercise 1),
# the rest of the arithmetic (exercise 2), the elementary functions (exercise 3) and a new operation whose
# local derivative you work out yourself (exercise 4). Exercise 1 defines the class; exercises 2 to 4 add
# methods to it with the small decorator `add_method` below, one function per method. If you change an
# earlier exercise, re-run the later exercise cells too, so that their methods are attached to the new class.
#
# An engine is one piece: the tests of exercises 2 to 4 call your `backward()` from exercise 1, exercise 3's
# hidden tests run random expressions that mix every operation of exercises 1–3, and exercise 5 trains a
# network with all of them. Exercise 6 (forward mode) stands alone.

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
# The tests also build nodes by hand, each with a `_backward` of its own: `backward()` must call every node's
# `_backward` once, when its `grad` is final, and leave in each node, the intermediate ones too, its adjoint.

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
expected = numdiff.gradient(lambda v: f(v[0], v[1]), [1.5, -0.5])
for name, got, want in [("a.grad", a.grad, expected[0]), ("b.grad", b.grad, expected[1])]:
    checks.assert_close(got, want, what=f"{name} of (a*b + a)*a + b*3", where="at a = 1.5, b = -0.5",
                        hint="a is used three times: does every use ADD its contribution (+=)?")
checks.assert_close(out.grad, 1.0, what="grad of the output itself", hint="backward() starts from d(out)/d(out) = 1.")

x = Value(-1.5)
(x * x).backward()
checks.assert_close(x.grad, 2 * -1.5, what="gradient of x * x", where="at x = -1.5",
                    hint="In x * x the two inputs are the same Value: both contributions must be added (+=).")
x = Value(0.25)
(x + x).backward()
checks.assert_close(x.grad, 2.0, what="gradient of x + x", hint="Both uses of x must be added (+=).")

# backward() runs each node's OWN _backward, once, when the node's grad is final. Here q is a node built by hand,
# with a made-up value and made-up local derivatives dq/du = 3, dq/dw = -2 that only its _backward knows (no
# formula of u, w has them), used in top = q * u + w. Its adjoint is q.grad = u = 0.25, so by the chain rule
# u.grad = q + 3 q.grad (two uses of u) and w.grad = 1 - 2 q.grad.
u, w = Value(0.25), Value(-1.0)
q = Value(7.0, (u, w), "q")
q_calls = []


def q_backward():
    q_calls.append(q.grad)
    u.grad += 3.0 * q.grad
    w.grad += -2.0 * q.grad


q._backward = q_backward
m = q * u
top = m + w
top.backward()
assert len(q_calls) == 1, (f"backward() called the _backward of the hand-built node q {len(q_calls)} times: it must "
                           "call every node's own _backward (v._backward()), exactly once, whatever the operation.")
checks.assert_close(q_calls[0], 0.25, what="q.grad at the moment backward() called q._backward",
                    hint="Call each node's _backward only once its grad is final: in reverse topological order.")
for name, got, want in [("top.grad", top.grad, 1.0), ("m.grad", m.grad, 1.0), ("q.grad", q.grad, u.data),
                        ("u.grad", u.grad, q.data + 3.0 * u.data), ("w.grad", w.grad, 1.0 - 2.0 * u.data)]:
    checks.assert_close(got, want, what=f"{name} of top = m + w, m = q * u, q hand-built (dq/du = 3, dq/dw = -2)",
                        where="at u = 0.25, w = -1, q = 7",
                        hint="After backward(), every node's grad, the intermediate nodes' too, is d(top)/d(node).")

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
for name, got, want in [("a.grad", a.grad, first[0]), ("b.grad", b.grad, first[1])]:
    checks.assert_close(got, want, what=f"{name} from a second backward() after zero_grad()",
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
            "int_factor": int(rng.integers(2, 7)),
            "handmade": [_pp.handmade_program(rng, n_inputs=n, n_steps=k) for n, k in [(2, 4), (3, 7), (3, 10)]]}


_DRIVER = _pp.DRIVER + textwrap.dedent("""
    result = {"programs": [], "orders": [], "again": []}
    for spec in inputs["programs"]:
        leaves = [Value(v) for v in spec["x"]]
        nodes = run_program(spec, leaves, every=True)
        out = nodes[-1]
        out.backward()
        first = [leaf.grad for leaf in leaves]
        result["programs"].append({"value": out.data, "grads": first, "root_grad": out.grad,
                                   "registers": [node.grad for node in leaves + nodes]})
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
    result["handmade"] = [run_handmade(spec) for spec in inputs["handmade"]]
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
    _pp.check_gradients(inputs["programs"], result.get("programs"), registers=True,
                        hint="Is every contribution added (+=), and does backward() seed the output with 1?")
    handmade = result.get("handmade")
    probes.require(isinstance(handmade, list) and len(handmade) == len(inputs["handmade"]),
                   "backward() gave no results on the graphs with hand-built nodes.")
    for spec, got in zip(inputs["handmade"], handmade, strict=True):
        _pp.check_handmade(spec, got)
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
        _pp.close_named(grads, numdiff.gradient(program.run_float, np.array(program.x)),
                        [f"v{i}.grad" for i in range(program.n_inputs)],
                        what="gradient from a second backward() after zero_grad()", where=f"for the program {program}",
                        hint="Does topological_order() keep state between calls (a visited set stored outside it)?")
    x = inputs["square"]
    probes.close(result.get("square"), 2 * x, what="gradient of x * x", where=f"at x = {x:.4g}",
                 hint="In x * x the two inputs are the same Value: both contributions must be added (+=).")
    probes.close(result.get("double"), 2.0, what="gradient of x + x", hint="Both uses of x must be added (+=).")
    _pp.close_named(result.get("unused"), [inputs["unused"][2], 0.0], ["u.grad", "w.grad"], what="gradient",
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


# %% [raw] wrong_answer="05_autograd-value_core-solution" mistake="backward() replays the recorded graph on floats and lets numdiff.gradient differentiate it with respect to the leaves: right numbers for the inputs, but no node's own _backward runs and the intermediate nodes keep grad 0."
# ### REPLACE
#         """self + other, for a Value or a number other: a new Value, with d/da = d/db = 1."""
#         ### BEGIN SOLUTION
#         other = other if isinstance(other, Value) else Value(other)
# ### WITH
#         """self + other, for a Value or a number other: a new Value, with d/da = d/db = 1."""
#         ### BEGIN SOLUTION
#         other = other if isinstance(other, Value) else Value(other, (), "const")
# ### END
# ### REPLACE
#         """self * other, for a Value or a number other: d(ab)/da = b, d(ab)/db = a."""
#         ### BEGIN SOLUTION
#         other = other if isinstance(other, Value) else Value(other)
# ### WITH
#         """self * other, for a Value or a number other: d(ab)/da = b, d(ab)/db = a."""
#         ### BEGIN SOLUTION
#         other = other if isinstance(other, Value) else Value(other, (), "const")
# ### END
# ### REPLACE
#         order = self.topological_order()
#         self.grad = 1.0  # d(self)/d(self)
#         for v in reversed(order):
#             v._backward()
# ### WITH
#         from calcml import numdiff
#         order = self.topological_order()
#         leaves = [v for v in order if not v._prev and v._op != "const"]
#         rules = {"+": lambda p: p[0] + p[1], "*": lambda p: p[0] * p[1], "**": lambda p: p[0] ** p[1],
#                  "exp": lambda p: math.exp(p[0]), "log": lambda p: math.log(p[0]),
#                  "tanh": lambda p: math.tanh(p[0]), "relu": lambda p: max(p[0], 0.0),
#                  "sigmoid": lambda p: 0.5 * (1.0 + math.tanh(0.5 * p[0]))}
#         def replay(xs):
#             values = {id(v): float(x) for v, x in zip(leaves, xs)}
#             for v in order:
#                 if id(v) in values:
#                     continue
#                 if not v._prev:
#                     values[id(v)] = v.data
#                 elif v._op in rules:
#                     values[id(v)] = rules[v._op]([values[id(p)] for p in v._prev])
#                 elif v._op.startswith("**"):
#                     values[id(v)] = values[id(v._prev[0])] ** float(v._op[2:])
#                 else:
#                     values[id(v)] = v.data
#             return values[id(self)]
#         for leaf, g in zip(leaves, numdiff.gradient(replay, [v.data for v in leaves])):
#             leaf.grad += float(g)
#         self.grad = 1.0
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
    expected = numdiff.gradient(lambda v, build=build: build(v[0], v[1]), [1.7, -0.6])
    for grad_name, got, want in [("x.grad", x.grad, expected[0]), ("y.grad", y.grad, expected[1])]:
        checks.assert_close(got, want, what=f"{grad_name} of {name}", where="at x = 1.7, y = -0.6",
                            hint="For x^y: d/dx = y x^(y-1) and d/dy = x^y ln x." if "**" in name else "")
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
        _pp.close_named(got.get("grads"), numdiff.gradient(lambda v: v[0] ** v[1], [a, b]), ["a.grad", "b.grad"],
                        what="gradient of a ** b", where=where, hint="d(a^b)/da = b a^(b-1), d(a^b)/db = a^b ln a.")
    negative = result.get("negative")
    probes.require(isinstance(negative, list) and len(negative) == len(inputs["negative"]), "x ** n gave no results.")
    for (base, power), got in zip(inputs["negative"], negative, strict=True):
        _pp.close_named(got.get("grads"), [power * base ** (power - 1)], ["x.grad"], what=f"derivative of x ** {power}",
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
x = Value(0.0)
x.relu().backward()
checks.assert_close(x.grad, 0.0, what="derivative of relu(x)", where="at exactly x = 0",
                    hint="The contract takes relu'(0) = 0: pass the gradient only where x > 0.")
check_function("sigmoid(x)", "sigmoid", stable_sigmoid, [0.3, -1.2, 4.0], hint="d sigma/dx = sigma (1 - sigma).")
check_function("sigmoid(x)", "sigmoid", stable_sigmoid, [800.0, -800.0],
               hint="Compute it with exp(-|x|), which never overflows.")

# Composed with exercise 1: the worked example of section 3.
a, b = Value(1.5), Value(-0.5)
out = (a * b + a).tanh() * a
out.backward()
expected = numdiff.gradient(lambda v: np.tanh(v[0] * v[1] + v[0]) * v[0], [1.5, -0.5])
for name, got, want in [("a.grad", a.grad, expected[0]), ("b.grad", b.grad, expected[1])]:
    checks.assert_close(got, want, what=f"{name} of tanh(a*b + a) * a", where="at a = 1.5, b = -0.5")
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
              "relu": [float(rng.uniform(0.1, 4)), float(-rng.uniform(0.1, 4)), 0.0],
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
             "relu": "relu'(x) is 1 where x > 0 and 0 elsewhere: the contract takes relu'(0) = 0."}
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
            # relu has a kink at 0, where the contract fixes relu'(0) = 0 (numdiff would average the two sides)
            slope = float(x0 > 0) if name == "relu" else numdiff.derivative(reference, x0)
            _pp.close_named(answer.get("grads"), [slope], ["x.grad"], what=f"derivative of {name}(x)",
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


# %% [raw] wrong_answer="05_autograd-functions-solution" mistake="relu'(0) taken as 1 (x >= 0), where the contract says 0."
# ### REPLACE
#         self.grad += (self.data > 0) * out.grad
# ### WITH
#         self.grad += (self.data >= 0) * out.grad
# ### END


# %% [markdown]
# ### Exercise 4 · A new operation of your own: a stable softplus (2 points)
#
# An engine grows one operation at a time, and each new operation needs only two things: its value, and its
# local derivative in a backward closure. Add one yourself: the **softplus**
# $\operatorname{softplus}(a) = \ln(1 + e^{a})$, a smooth relu. It is the logistic loss of section 1 seen from
# the other side: $\log(1 + e^{-m}) = \operatorname{softplus}(-m)$.
#
# Write `softplus` as **one** new node, `Value(..., (self,), "softplus")`, with one `_backward` closure that
# adds (local derivative) × `out.grad` to `self.grad`: work out the local derivative yourself. Not a
# composition of `exp`, `log` and `+`: the tests call your closure on its own, on a node whose `grad` they
# set. It must not overflow for any float: $e^{800}$ overflows, yet $\operatorname{softplus}(800)$ is $800$
# to double precision. As for the sigmoid, let `exp` see only numbers $\le 0$.

# %% nbgrader={"grade": false, "grade_id": "05_autograd-softplus-solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
@add_method(Value)
def softplus(self):
    """ln(1 + e ** self), as one new Value with inputs (self,), op "softplus" and its own _backward.

    Finite for every float self. Its _backward adds (the local derivative at self.data) * out.grad to
    self.grad.
    """
    ### BEGIN SOLUTION
    a = self.data
    out = Value(max(a, 0.0) + math.log1p(math.exp(-abs(a))), (self,), "softplus")  # exp only sees -|a| <= 0
    def _backward():
        z = math.exp(-abs(a))
        slope = 1.0 / (1.0 + z) if a >= 0 else z / (1.0 + z)  # e^a / (1 + e^a), without overflow
        self.grad += slope * out.grad
    out._backward = _backward
    return out
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "05_autograd-softplus", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
def softplus_reference(x):
    return np.logaddexp(0.0, x)  # ln(e^0 + e^x), computed without overflow by NumPy


def softplus_node(x0):
    """x.softplus() for x = Value(x0), checked to be one node whose input is x."""
    x = Value(x0)
    try:
        out = x.softplus()
    except (ValueError, OverflowError, ZeroDivisionError) as error:
        raise checks.CheckFailure(f"Your softplus at x = {x0} raised {error!r}: let exp see only -|x| <= 0.") from None
    assert isinstance(out, Value) and len(out._prev) == 1 and out._prev[0] is x, (
        f"x.softplus() must be one new Value whose _prev is (x,), not a composition of other operations: "
        f"its _prev is {getattr(out, '_prev', None)!r}.")
    return x, out


for x0 in [0.3, -1.2, 2.5, 800.0, -800.0]:
    x, out = softplus_node(x0)
    checks.assert_close(out.data, softplus_reference(x0), what="value of softplus(x)", where=f"at x = {x0}")
    out.backward()
    checks.assert_close(x.grad, numdiff.derivative(softplus_reference, x0), what="x.grad of softplus(x)",
                        where=f"at x = {x0}", hint="The derivative of ln(1 + e^x), without overflow.")

# The closure alone, on a node whose upstream gradient is set by hand: it must ADD local × out.grad.
x, out = softplus_node(0.7)
x.grad, out.grad = 0.25, -2.0
out._backward()
checks.assert_close(x.grad, 0.25 + -2.0 * numdiff.derivative(softplus_reference, 0.7),
                    what="x.grad after out._backward(), with x.grad = 0.25 and out.grad = -2 set beforehand",
                    where="at x = 0.7", hint="Add (+=) the local derivative times out.grad, the upstream gradient.")

# Inside a graph: s = softplus(u), u = x * w, top = 3 s + u. Then s.grad = 3 and u.grad = 3 softplus'(u) + 1.
x, w = Value(0.6), Value(-1.5)
u = x * w
s = u.softplus()
top = s * 3.0 + u
top.backward()
slope = numdiff.derivative(softplus_reference, u.data)
for name, got, want in [("s.grad", s.grad, 3.0), ("u.grad", u.grad, 3.0 * slope + 1.0),
                        ("x.grad", x.grad, (3.0 * slope + 1.0) * w.data)]:
    checks.assert_close(got, want, what=f"{name} of top = 3 softplus(u) + u, u = x * w", where="at x = 0.6, w = -1.5")
### BEGIN HIDDEN TESTS
# One definition of the hidden checks (calcml.probes): the kernel runs them here on a fixed seed; the grader
# draws each student's own inputs, runs the driver in a sandbox and _verify in its own process.
import numpy as np

from calcml import checks, numdiff, probes
from calcml import program_probes as _pp


def _inputs(rng):
    points = [float(rng.uniform(-4, 4)), float(rng.uniform(-4, 4)), float(rng.uniform(20, 40)),
              float(-rng.uniform(20, 40)), float(rng.uniform(700, 900)), float(-rng.uniform(700, 900)), 0.0]
    local = [{"x": float(rng.uniform(-3, 3)), "grad": float(rng.uniform(-2, 2)), "upstream": float(u)}
             for u in (rng.uniform(0.5, 3) * rng.choice([-1, 1]), rng.uniform(0.5, 3) * rng.choice([-1, 1]))]
    graph = {"x": float(rng.uniform(-1.5, 1.5)), "w": float(rng.uniform(-1.5, 1.5)),
             "c": float(np.round(rng.uniform(1.5, 4), 2))}
    return {"points": points, "local": local, "graph": graph}


_DRIVER = """
def attempt(action):
    try:
        return action()
    except (ValueError, OverflowError, ZeroDivisionError, TypeError, AttributeError) as error:
        return {"error": f"{type(error).__name__}: {error}"}


def one(x0):
    x = Value(x0)
    out = x.softplus()
    prev = list(getattr(out, "_prev", ()))
    out.backward()
    return {"value": out.data, "grads": [x.grad], "one_node": len(prev) == 1 and prev[0] is x}


def local(case):
    x = Value(case["x"])
    out = x.softplus()
    x.grad, out.grad = case["grad"], case["upstream"]
    out._backward()
    return {"x.grad": x.grad}


def graph(case):
    x, w = Value(case["x"]), Value(case["w"])
    u = x * w
    s = u.softplus()
    top = s * case["c"] + u * s  # s used twice, u used twice
    top.backward()
    return {"grads": [x.grad, w.grad, u.grad, s.grad], "value": top.data}


result = {"points": [attempt(lambda x0=x0: one(x0)) for x0 in inputs["points"]],
          "local": [attempt(lambda case=case: local(case)) for case in inputs["local"]],
          "graph": attempt(lambda: graph(inputs["graph"]))}
"""


def _softplus(x):
    return np.logaddexp(0.0, x)


def _verify(inputs, result):
    probes.require(isinstance(result, dict), "softplus gave no results.")
    points = result.get("points")
    probes.require(isinstance(points, list) and len(points) == len(inputs["points"]), "softplus gave no results.")
    for x0, got in zip(inputs["points"], points, strict=True):
        where = f"at x = {x0:.6g}"
        probes.require(isinstance(got, dict), f"softplus gave no result {where}.")
        if got.get("error"):
            raise checks.CheckFailure(f"Your softplus (or its backward()) {where} raised {got['error']}. exp overflows "
                                      "beyond about 709: let it see only -|x| <= 0.")
        probes.require(got.get("one_node") is True, f"x.softplus() {where} is not one new Value whose _prev is (x,): "
                                                    "write it as one node with its own _backward, not a composition "
                                                    "of other operations.")
        probes.close(got.get("value"), _softplus(x0), what="value of softplus(x)", where=where)
        _pp.close_named(got.get("grads"), [numdiff.derivative(_softplus, x0)], ["x.grad"],
                        what="derivative of softplus(x)", where=where, hint="The derivative of ln(1 + e^x), computed "
                                                                            "without overflow.")
    local = result.get("local")
    probes.require(isinstance(local, list) and len(local) == len(inputs["local"]), "the closure gave no results.")
    for case, got in zip(inputs["local"], local, strict=True):
        where = (f"at x = {case['x']:.4g}, after out._backward() with x.grad = {case['grad']:.4g} and "
                 f"out.grad = {case['upstream']:.4g} set beforehand")
        probes.require(isinstance(got, dict) and not got.get("error"), f"softplus's _backward {where} failed: "
                                                                       f"{got.get('error') if isinstance(got, dict) else got}.")
        probes.close(got.get("x.grad"), case["grad"] + case["upstream"] * numdiff.derivative(_softplus, case["x"]),
                     what="x.grad", where=where,
                     hint="The closure adds (+=) the local derivative times out.grad, the upstream gradient.")
    g = inputs["graph"]
    got = result.get("graph")
    probes.require(isinstance(got, dict) and not got.get("error"), f"softplus in a graph failed: {got}.")

    def top(v, c=g["c"]):  # v = (x, w, du, ds): nudges of the intermediate nodes u and s give their adjoints
        u = v[0] * v[1] + v[2]
        s = _softplus(u) + v[3]
        return s * c + u * s

    point = np.array([g["x"], g["w"], 0.0, 0.0])
    _pp.close_named(got.get("grads"), numdiff.gradient(top, point), ["x.grad", "w.grad", "u.grad", "s.grad"],
                    what="gradient of top = c s + u s, s = softplus(u), u = x * w",
                    where=f"at x = {g['x']:.4g}, w = {g['w']:.4g}, c = {g['c']:g}",
                    hint="Every use adds its contribution (+=), and the closure multiplies by out.grad.")


probes.exercise(globals(), inputs=_inputs, driver=_DRIVER, verify=_verify, seed=5351)
### END HIDDEN TESTS


# %% [raw] wrong_answer="05_autograd-softplus-solution" mistake="The textbook formula log(1 + exp(a)): math.exp(800) raises OverflowError."
# ### REPLACE
#     out = Value(max(a, 0.0) + math.log1p(math.exp(-abs(a))), (self,), "softplus")  # exp only sees -|a| <= 0
# ### WITH
#     out = Value(math.log(1.0 + math.exp(a)), (self,), "softplus")
# ### END


# %% [raw] wrong_answer="05_autograd-softplus-solution" mistake="The local derivative taken as 1 / (1 + e^a), the sigmoid of -a: the sign of the exponent lost."
# ### REPLACE
#         slope = 1.0 / (1.0 + z) if a >= 0 else z / (1.0 + z)  # e^a / (1 + e^a), without overflow
# ### WITH
#         slope = z / (1.0 + z) if a >= 0 else 1.0 / (1.0 + z)
# ### END


# %% [raw] wrong_answer="05_autograd-softplus-solution" mistake="The closure forgets the upstream gradient: it adds the local derivative alone, not times out.grad."
# ### REPLACE
#         self.grad += slope * out.grad
# ### WITH
#         self.grad += slope
# ### END


# %% [raw] wrong_answer="05_autograd-softplus-solution" mistake="`=` instead of `+=` in the closure: whatever self.grad held from its other uses is lost."
# ### REPLACE
#         self.grad += slope * out.grad
# ### WITH
#         self.grad = slope * out.grad
# ### END


# %% [raw] wrong_answer="05_autograd-softplus-solution" mistake="A composition of existing operations, (1 + e^a).log(): right for moderate a, but several nodes, and exp overflows at a = 800."
# ### REPLACE
#     a = self.data
#     out = Value(max(a, 0.0) + math.log1p(math.exp(-abs(a))), (self,), "softplus")  # exp only sees -|a| <= 0
#     def _backward():
#         z = math.exp(-abs(a))
#         slope = 1.0 / (1.0 + z) if a >= 0 else z / (1.0 + z)  # e^a / (1 + e^a), without overflow
#         self.grad += slope * out.grad
#     out._backward = _backward
#     return out
# ### WITH
#     return (1.0 + self.exp()).log()
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
# ### Exercise 5 · A neural network trained by your engine (3 points)
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


def parameter_names(model):
    """The name of each parameter's grad, in the order of structure(model), for the messages."""
    return [f"layers[{k}].neurons[{j}].{f'w[{i}]' if i < len(n.w) else 'b'}.grad"
            for k, layer in enumerate(model.layers) for j, n in enumerate(layer.neurons) for i in range(len(n.w) + 1)]


def numpy_scores(model, theta, P):
    """The model's outputs for the points P (m, nin), with its parameters replaced by theta, in NumPy."""
    a, start = np.asarray(P, dtype=float), 0  # a: the activations of each layer in turn
    for layer in model.layers:
        nin = len(layer.neurons[0].w)
        block = np.asarray(theta[start:start + len(layer.neurons) * (nin + 1)]).reshape(len(layer.neurons), nin + 1)
        start += block.size
        a = a @ block[:, :-1].T + block[:, -1]
        if layer.neurons[0].nonlin:
            a = np.tanh(a)
    return a


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
    program_probes.close_named(actual, reference[:, 0] if nouts[-1] == 1 else reference,
                               lambda i: f"model(X[{i[0]}])" + (f"[{i[1]}]" if len(i) > 1 else ""),
                               what="network outputs", where=where,
                               hint="tanh on every layer but the last, which is linear: w · x + b.")
    if nouts[-1] != 1:
        return
    loss = logistic_loss(model, X, y)

    def loss_of(t):
        return np.mean(np.logaddexp(0.0, -y * numpy_scores(model, t, X)[:, 0]))

    checks.assert_close(loss.data, loss_of(theta), what="logistic loss", where=where, batch_size=len(X),
                        hint="The mean over the points of log(1 + exp(-y s)).")
    model.zero_grad()
    loss.backward()
    program_probes.close_named([p.grad for p in expected], numdiff.gradient(loss_of, theta), parameter_names(model),
                               what="gradient of the loss with respect to every parameter", where=where,
                               batch_size=len(X), hint="Does the forward pass use .data where a Value belongs?")


from calcml import program_probes  # close_named: a failure names the parameter, such as layers[0].neurons[2].b.grad

X_small, y_small = data.moons(6, noise=0.1, seed=5)
check_mlp(2, [3, 1], 11, X_small, y_small)
check_mlp(2, [3, 3, 1], 12, X_small, y_small)
### BEGIN HIDDEN TESTS
# One definition of the hidden checks (calcml.probes): the kernel runs them here on a fixed seed; the grader
# draws each student's own inputs, runs the driver in a sandbox and _verify in its own process.
import textwrap

import numpy as np

from calcml import data, numdiff, probes
from calcml import program_probes as _pp


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


def _names(nin, nouts):
    sizes = [nin, *nouts]
    return [f"layers[{k}].neurons[{j}].{f'w[{i}]' if i < sizes[k] else 'b'}.grad"
            for k in range(len(nouts)) for j in range(sizes[k + 1]) for i in range(sizes[k] + 1)]


def _numpy_scores(nin, nouts, theta, P):
    a, start, sizes = np.asarray(P, dtype=float), 0, [nin, *nouts]
    for k in range(len(nouts)):
        n_in, n_out = sizes[k], sizes[k + 1]
        block = np.asarray(theta[start:start + n_out * (n_in + 1)]).reshape(n_out, n_in + 1)
        start += block.size
        a = a @ block[:, :-1].T + block[:, -1]
        if k < len(nouts) - 1:
            a = np.tanh(a)
    return a


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
        _pp.close_named(got.get("scores"), reference[:, 0] if nouts[-1] == 1 else reference,
                        lambda i: f"model(X[{i[0]}])" + (f"[{i[1]}]" if len(i) > 1 else ""), what="network outputs",
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
            return np.mean(np.logaddexp(0.0, -y * _numpy_scores(nin, nouts, t, X)[:, 0]))

        probes.close(got.get("loss"), loss_of(theta), what="logistic loss", where=where, batch_size=len(X),
                     hint="The mean over the points of log(1 + exp(-y s)).")
        _pp.close_named(got.get("grads"), numdiff.gradient(loss_of, theta), _names(nin, nouts),
                        what="gradient of the loss with respect to every parameter", where=where, batch_size=len(X),
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
# exercise 5's tests checked.)

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
# These pairs of a value and its **tangent** $\dot a$, with this arithmetic, are called **dual numbers**.
# Nothing in them is approximated: each rule is a derivative formula (the sum rule, the product rule, the
# chain rule), so the tangent is the exact derivative up to rounding, where a finite difference (unit 2) is
# only an approximation. Start the inputs at
# $(x_i, v_i)$ and every output arrives as $(f(x), J_f(x)\, v)$: one pass gives a **Jacobian-vector
# product** (JVP), the derivative of *every* output along *one* input direction. No graph, no
# topological sort, no recursion.

# %% [markdown]
# ### Exercise 6 · Dual numbers and `jvp` (3 points)
#
# Complete `Dual`: the arithmetic (with reflected operators, and `**` with a number or a `Dual`
# exponent, as in exercise 2) and the methods `exp`, `log`, `tanh`, `sin`. `Dual.lift` turns a plain
# number into a constant, whose tangent is 0. Then write `jvp(f, x, v)`. The tests check each operation on
# its own, and the tangents of `exp`, `log`, `tanh` and `sin` to 12 digits, at points where `numdiff` (and,
# for `exp` and `sin`, any finite difference) falls short of that: carry every tangent by its formula.

# %% nbgrader={"grade": false, "grade_id": "05_autograd-dual-solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
class Dual:
    """A dual number: the pair (val, dot) of a value and its tangent, its derivative along one direction."""

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
        checks.assert_close(out.dot, numdiff.derivative(build, x0), what=f"tangent (dot) of {name}",
                            where=f"at x = {x0}", hint=hint)


def check_dual_pair(name, build, point, hint=""):
    """build(x, y) on two Duals, seeded along x, then along y: each dot against numdiff's partial derivative."""
    x0, y0 = point
    expected = numdiff.gradient(lambda v: build(v[0], v[1]), [x0, y0])
    for k, along in enumerate(("x", "y")):
        out = build(Dual(x0, float(k == 0)), Dual(y0, float(k == 1)))
        where = f"at x = {x0}, y = {y0}"
        checks.assert_close(out.val, build(x0, y0), what=f"value of {name}", where=where, hint=hint)
        checks.assert_close(out.dot, expected[k], what=f"tangent (dot) of {name} seeded along {along}, d/d{along}",
                            where=where, hint=hint)


def call(name, z):
    """z.name() for a Dual, np.name(z) for floats: one formula for both."""
    return getattr(z, name)() if isinstance(z, Dual) else getattr(np, name)(z)


# One check per operation, each named: the first one that fails tells you which method to look at.
check_dual("3 * x", lambda x: 3 * x, [0.7], hint="3 * x calls x.__rmul__(3); a plain number is a constant, dot 0.")
check_dual("x * 3", lambda x: x * 3, [0.7], hint="Dual.lift(3) is the constant (3, 0).")
check_dual("-x", lambda x: -x, [0.7, -1.5], hint="Negate both the value and the tangent.")
check_dual("x - 3", lambda x: x - 3, [0.7])
check_dual("3 - x", lambda x: 3 - x, [0.7, -1.2], hint="3 - x calls x.__rsub__(3): it is 3 - x, not x - 3.")
check_dual("x * x", lambda x: x * x, [0.7, -1.5], hint="The product rule: (ab)' = a'b + ab'.")
check_dual_pair("x * y", lambda x, y: x * y, (0.7, -1.6), hint="The product rule: (ab)' = a'b + ab'.")
check_dual_pair("x / y", lambda x, y: x / y, (0.7, -1.6), hint="The quotient rule: (a/b)' = (a'b - ab')/b².")
check_dual("2 / x", lambda x: 2 / x, [0.7, -1.5], hint="2 / x calls x.__rtruediv__(2): it is 2 / x, not x / 2.")
check_dual("x ** 3", lambda x: x**3, [0.7, -1.5], hint="A constant exponent: (x^c)' = c x^(c-1); the base may be negative.")
check_dual("2 ** x", lambda x: 2**x, [0.7, -1.2], hint="2 ** x calls x.__rpow__(2): (2^x)' = 2^x ln 2.")
check_dual("x ** x", lambda x: x**x, [0.7, 1.6], hint="A Dual exponent: d(a^b) = b a^(b-1) da + a^b ln(a) db.")
check_dual_pair("x ** y", lambda x, y: x**y, (1.7, -0.6), hint="d(a^b) = b a^(b-1) da + a^b ln(a) db.")
check_dual("exp(x)", lambda x: call("exp", x), [0.7, -1.2], hint="(e^x)' = e^x.")
check_dual("log(x)", lambda x: call("log", x), [0.7, 2.5], hint="(ln x)' = 1/x.")
check_dual("tanh(x)", lambda x: call("tanh", x), [0.7, -1.2], hint="(tanh x)' = 1 - tanh(x)².")
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
for name, value in [("y", y), ("dy", dy)]:
    assert np.shape(value) == (2,) and np.asarray(value).dtype.kind == "f", (
        f"jvp(F, x, v) returned {name} = {value!r}: for an f that returns a list of m Duals, jvp returns two NumPy "
        f"arrays of floats of shape (m,), here (2,).")
y, dy = jvp(lambda x: x[0] * x[1], x_point, direction)
for name, value in [("y", y), ("dy", dy)]:
    assert not isinstance(value, Dual) and np.shape(value) == () and isinstance(float(value), float), (
        f"jvp(lambda x: x[0] * x[1], x, v) returned {name} = {value!r}: for an f that returns one Dual, jvp returns "
        "two floats (shape ()), not a Dual or a list.")
checks.assert_close(dy, x_point[1] * direction[0] + x_point[0] * direction[1], what="dy of jvp(x0 * x1, x, v)",
                    where=f"at x = {x_point}, v = {direction}", hint="The product rule along v: ẋ0 x1 + x0 ẋ1.")
### BEGIN HIDDEN TESTS
# One definition of the hidden checks (calcml.probes): the kernel runs them here on a fixed seed; the grader
# draws each student's own inputs, runs the driver in a sandbox and _verify in its own process.
import textwrap

import numpy as np
import sympy as sp

from calcml import checks, expressions, numdiff, probes
from calcml import program_probes as _pp

_SINGLE_OPS = ["sin", "rsub", "rdiv", "rpow", "div", "pow_c", "tanh", "log", "exp", "pow"]


def _inputs(rng):
    programs = _pp.random_programs(rng, expressions.DUAL, [(1, 8), (2, 15), (3, 30), (4, 50), (3, 100)])
    programs += [_pp.to_json(expressions.single_op_program(op, _pp.seed(rng))) for op in _SINGLE_OPS for _ in range(2)]
    many = [{"program": p, "v": rng.normal(size=p["n"]).tolist()}
            for p in _pp.random_programs(rng, expressions.DUAL, [(2, 6), (3, 12), (4, 20)])]
    powers = rng.uniform([0.3, -2.5], [4.0, 2.5], size=(4, 2)).tolist()
    directions = [[1.0, 0.0], [0.0, 1.0], rng.normal(size=2).tolist()]
    # each operation alone, at a random point (x, y), with a constant c (an int for x ** c); `exact` points are
    # where a finite difference is visibly inexact but dual numbers are exact to rounding
    sign = float(rng.choice([-1.0, 1.0]))
    ops = [{"name": name, "x": float(x), "y": float(rng.uniform(0.6, 2.0) * rng.choice([-1, 1])), "c": c}
           for name, x, c in [
               ("c * x", rng.uniform(-2, 2), float(np.round(rng.uniform(1.5, 4), 2))),
               ("x * c", rng.uniform(-2, 2), float(np.round(rng.uniform(1.5, 4), 2))),
               ("-x", rng.uniform(-2, 2), 0.0),
               ("x - c", rng.uniform(-2, 2), float(np.round(rng.uniform(1.5, 4), 2))),
               ("c - x", rng.uniform(-2, 2), float(np.round(rng.uniform(1.5, 4), 2))),
               ("x * y", rng.uniform(-2, 2), 0.0), ("x / y", rng.uniform(-2, 2), 0.0),
               ("c / x", sign * rng.uniform(0.6, 2), float(np.round(rng.uniform(1.5, 4), 2))),
               ("x ** c", -sign * rng.uniform(0.6, 2), int(rng.choice([2, 3, -1, -2]))),
               ("c ** x", rng.uniform(-2, 2), float(np.round(rng.uniform(1.5, 3), 2))),
               ("x ** x", rng.uniform(0.4, 2.5), 0.0), ("x ** y", rng.uniform(0.4, 2.5), 0.0),
               ("exp(x)", rng.uniform(-2, 2), 0.0), ("log(x)", rng.uniform(0.3, 4), 0.0),
               ("tanh(x)", rng.uniform(-2, 2), 0.0), ("sin(x)", rng.uniform(-3, 3), 0.0)]]
    exact = [{"name": "exp(x)", "x": float(rng.uniform(18, 25))}, {"name": "log(x)", "x": float(rng.uniform(0.01, 0.03))},
             {"name": "tanh(x)", "x": float(rng.uniform(3.5, 4.5))}, {"name": "sin(x)", "x": float(rng.uniform(40, 60))}]
    return {"programs": programs, "many": many, "powers": powers, "directions": directions, "ops": ops,
            "exact": exact}


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
    BUILD = {"c * x": lambda x, y, c: c * x, "x * c": lambda x, y, c: x * c, "-x": lambda x, y, c: -x,
             "x - c": lambda x, y, c: x - c, "c - x": lambda x, y, c: c - x, "x * y": lambda x, y, c: x * y,
             "x / y": lambda x, y, c: x / y, "c / x": lambda x, y, c: c / x, "x ** c": lambda x, y, c: x ** c,
             "c ** x": lambda x, y, c: c ** x, "x ** x": lambda x, y, c: x ** x, "x ** y": lambda x, y, c: x ** y,
             "exp(x)": lambda x, y, c: x.exp(), "log(x)": lambda x, y, c: x.log(),
             "tanh(x)": lambda x, y, c: x.tanh(), "sin(x)": lambda x, y, c: x.sin()}

    def shape_of(value):
        return "Dual" if isinstance(value, Dual) else [int(n) for n in np.shape(value)]

    result["ops"] = []
    for case in inputs["ops"]:
        build, x, y, c = BUILD[case["name"]], case["x"], case["y"], case["c"]
        try:
            along_x = build(Dual(x, 1.0), Dual(y, 0.0), c)
            along_y = build(Dual(x, 0.0), Dual(y, 1.0), c)
            result["ops"].append({"val": along_x.val, "dx": along_x.dot, "dy": along_y.dot})
        except Exception as error:
            result["ops"].append({"error": f"{type(error).__name__}: {error}"})
    result["exact"] = []
    for case in inputs["exact"]:
        build = BUILD[case["name"]]
        y, dy = jvp(lambda z, build=build: build(z[0], None, 0.0), [case["x"]], [1.0])
        result["exact"].append({"dot": build(Dual(case["x"], 1.0), None, 0.0).dot, "jvp": dy,
                                "shapes": [shape_of(y), shape_of(dy)]})
    y, dy = jvp(lambda z: [z[0] * z[1], z[0].sin()], [0.5, 1.5], [1.0, -1.0])
    result["many_shapes"] = [shape_of(y), shape_of(dy)]
""")


_T, _S = sp.symbols("x y")
_EXPRESSIONS = {"c * x": lambda c: c * _T, "x * c": lambda c: _T * c, "-x": lambda c: -_T, "x - c": lambda c: _T - c,
                "c - x": lambda c: c - _T, "x * y": lambda c: _T * _S, "x / y": lambda c: _T / _S,
                "c / x": lambda c: c / _T, "x ** c": lambda c: _T**c, "c ** x": lambda c: c**_T,
                "x ** x": lambda c: _T**_T, "x ** y": lambda c: _T**_S, "exp(x)": lambda c: sp.exp(_T),
                "log(x)": lambda c: sp.log(_T), "tanh(x)": lambda c: sp.tanh(_T), "sin(x)": lambda c: sp.sin(_T)}
_HINTS = {"c * x": "c * x calls x.__rmul__(c), and the product rule with the constant (c, 0) gives (cx)' = c ẋ.",
          "-x": "Negate the value and the tangent.", "c - x": "c - x calls x.__rsub__(c): it is c - x, not x - c.",
          "x * y": "The product rule: (ab)' = a'b + ab'.", "x / y": "The quotient rule: (a/b)' = (a'b - ab')/b².",
          "c / x": "c / x calls x.__rtruediv__(c): it is c / x, not x / c.",
          "x ** c": "A constant exponent: (x^c)' = c x^(c-1), with no log: the base may be negative.",
          "c ** x": "(c^x)' = c^x ln c.", "x ** x": "A Dual exponent: d(a^b) = b a^(b-1) da + a^b ln(a) db.",
          "x ** y": "A Dual exponent: d(a^b) = b a^(b-1) da + a^b ln(a) db.", "exp(x)": "(e^x)' = e^x.",
          "log(x)": "(ln x)' = 1/x.", "tanh(x)": "(tanh x)' = 1 - tanh(x)².", "sin(x)": "(sin x)' = cos x."}


def _exact(name, c, x, y, wrt=None):
    """The value (wrt None) or a partial derivative of the operation, by sympy, to 30 digits."""
    expr = _EXPRESSIONS[name](sp.Integer(c) if type(c) is int else sp.Float(c, 30))
    expr = expr if wrt is None else sp.diff(expr, wrt)
    return float(expr.subs({_T: sp.Float(x, 30), _S: sp.Float(y, 30)}).evalf(30))


def _verify(inputs, result):
    probes.require(isinstance(result, dict), "Dual gave no results.")
    ops = result.get("ops")
    probes.require(isinstance(ops, list) and len(ops) == len(inputs["ops"]), "the operations of Dual gave no results.")
    for case, got in zip(inputs["ops"], ops, strict=True):
        name, x, y, c = case["name"], case["x"], case["y"], case["c"]
        shown = name.replace("c", f"{c:g}")
        where = f"at x = {x:.4g}" + (f", y = {y:.4g}" if "y" in name else "")
        probes.require(isinstance(got, dict), f"{shown} gave no result {where}.")
        if got.get("error"):
            raise checks.CheckFailure(f"Your Dual raised {got['error']} on {shown} {where}. {_HINTS.get(name, '')}")
        hint = _HINTS.get(name, "")
        probes.close(got.get("val"), _exact(name, c, x, y), what=f"value of {shown}", where=where, hint=hint)
        probes.close(got.get("dx"), _exact(name, c, x, y, _T), what=f"tangent (dot) of {shown} seeded along x",
                     where=where, hint=hint)
        probes.close(got.get("dy"), _exact(name, c, x, y, _S), what=f"tangent (dot) of {shown} seeded along y",
                     where=where, hint=hint + " An input seeded with tangent 0 must not move the result.")
    exact = result.get("exact")
    probes.require(isinstance(exact, list) and len(exact) == len(inputs["exact"]), "the functions of Dual gave no "
                                                                                  "results.")
    for case, got in zip(inputs["exact"], exact, strict=True):
        name, x = case["name"], case["x"]
        probes.require(isinstance(got, dict), f"{name} gave no result.")
        probes.require(got.get("shapes") == [[], []], f"jvp of {name} returned values of shapes {got.get('shapes')}: "
                                                      "for an f that returns one Dual, jvp returns two floats "
                                                      "(shape ()), not a Dual or a list.")
        want = _exact(name, 0.0, x, 0.0, _T)
        for key, what in [("dot", f"tangent (dot) of {name}"), ("jvp", f"dy of jvp of {name}")]:
            probes.close(got.get(key), want, what=what, where=f"at x = {x:.6g}, to 12 digits", rtol=1e-12,
                         hint=f"{_HINTS[name]} Dual numbers carry f'(a)·ȧ by its formula, exact up to rounding "
                              "(about 1e-16); an error of 1e-11 to 1e-5 is the mark of a finite difference.")
    probes.require(result.get("many_shapes") == [[2], [2]],
                   f"jvp of an f that returns a list of 2 Duals returned values of shapes {result.get('many_shapes')}: "
                   "it returns two NumPy arrays of shape (m,), here (2,).")
    _pp.check_gradients(inputs["programs"], result.get("programs"), what="gradient by forward mode",
                        name="tangent of the output seeded along v{i}",
                        hint="Each operation of Dual carries the derivative along: the product rule, the quotient "
                             "rule, the chain rule.")
    many = result.get("many")
    probes.require(isinstance(many, list) and len(many) == len(inputs["many"]), "jvp gave too few results.")
    for case, got in zip(inputs["many"], many, strict=True):
        program, v = _pp.from_json(case["program"]), np.array(case["v"])
        where = f"for the program {program}"
        names = [f"the entry for v{program.n_inputs + k}" for k in range(len(program.steps))]
        _pp.close_named(got.get("y"), program.run_float(np.array(program.x), every=True), names,
                        what="values y of jvp", where=where)
        jac = numdiff.jacobian(lambda x, p=program: p.run_float(x, every=True), np.array(program.x))
        _pp.close_named(got.get("dy"), jac @ v, names, what="directional derivatives dy of jvp",
                        where=f"{where}, along v = {np.round(v, 4).tolist()}",
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


# %% [raw] wrong_answer="05_autograd-dual-solution" mistake="The tangents of exp, log, tanh and sin by a finite difference (numdiff.derivative) instead of their derivative formulas: close, but not exact."
# ### REPLACE
#         val = math.exp(self.val)
#         return Dual(val, val * self.dot)
# ### WITH
#         from calcml import numdiff
#         return Dual(math.exp(self.val), numdiff.derivative(np.exp, self.val) * self.dot)
# ### END
# ### REPLACE
#         return Dual(math.log(self.val), self.dot / self.val)
# ### WITH
#         from calcml import numdiff
#         return Dual(math.log(self.val), numdiff.derivative(np.log, self.val) * self.dot)
# ### END
# ### REPLACE
#         val = math.tanh(self.val)
#         return Dual(val, (1.0 - val**2) * self.dot)
# ### WITH
#         from calcml import numdiff
#         return Dual(math.tanh(self.val), numdiff.derivative(np.tanh, self.val) * self.dot)
# ### END
# ### REPLACE
#         return Dual(math.sin(self.val), math.cos(self.val) * self.dot)
# ### WITH
#         from calcml import numdiff
#         return Dual(math.sin(self.val), numdiff.derivative(np.sin, self.val) * self.dot)
# ### END


# %% [raw] wrong_answer="05_autograd-dual-solution" mistake="jvp by a central difference of f along v (h = 1e-6) on constant Duals, instead of one pass with the tangents seeded by v."
# ### REPLACE
#     out = f([Dual(xi, vi) for xi, vi in zip(x, v, strict=True)])
#     outs = [out] if isinstance(out, Dual) else list(out)
#     y, dy = np.array([o.val for o in outs]), np.array([o.dot for o in outs])
# ### WITH
#     h = 1e-6
#     def values(t):
#         out = f([Dual(xi + t * vi) for xi, vi in zip(x, v, strict=True)])
#         return np.array([o.val for o in ([out] if isinstance(out, Dual) else list(out))])
#     out = f([Dual(xi) for xi in x])
#     y, dy = values(0.0), (values(h) - values(-h)) / (2 * h)
# ### END


# %% [raw] wrong_answer="05_autograd-dual-solution" mistake="A Dual exponent without its ln term: d(a^b) taken as b a^(b-1) da only, as for a constant exponent."
# ### REPLACE
#             return Dual(val, other.val * self.val ** (other.val - 1) * self.dot + val * math.log(self.val) * other.dot)
# ### WITH
#             return Dual(val, other.val * self.val ** (other.val - 1) * self.dot)
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
#   powers of negative bases and a sigmoid and a softplus at ±800, and it runs every node's own closure,
#   once, even for a node built by hand with an operation it has never seen.
# - Train a multilayer perceptron with it: the same 67 partial derivatives as section 1, for one backward
#   pass instead of 268 loss evaluations, checked against finite differences parameter by parameter.
# - Carry derivatives forward with dual numbers, pairs $(a, \dot a)$ of a value and its tangent whose
#   arithmetic is the sum, product and chain rules, to get a JVP in one pass, exact up to rounding, and choose the mode by counting: forward mode needs one pass per input direction,
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
