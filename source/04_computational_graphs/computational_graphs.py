# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Unit 4 · Computational graphs, forward and backward
#
# Every number a neural network computes is built from a handful of primitive operations: additions,
# multiplications, a $\tanh$ here and there. Write down which operation made which number from which, and you
# have a **computational graph**. On that graph, the chain rule becomes an algorithm: one sweep forward computes
# the values, one sweep backward computes the derivative of the output with respect to *every* input at once.
# That backward sweep is **backpropagation**, and it is all that `loss.backward()` does.
#
# **Learning objective 4, first half.** Trace forward and backward passes through a computational graph. By the
# end of this unit you will be able to
#
# - draw an expression as a directed acyclic graph and run its **forward pass**;
# - run its **backward pass** by hand, one node at a time: *local gradient × upstream gradient*, and work one
#   small backpropagation with pen and paper, the value and the adjoint $\bar v = \partial L/\partial v$ of every
#   node, with its derivation written out;
# - put the nodes of a graph in **topological order** without recursion (depth-first post-order, Kahn's algorithm);
# - explain why gradients **accumulate** where a value is used twice, and write `backward` for a graph of
#   primitive nodes, checked against numerical derivatives;
# - count the paths through a graph with the same backward sweep.
#
# Unit 5 wraps all of this into a tiny autograd engine with operator overloading; here we build the graphs by hand.
# The symbols follow [the course's notation](../../course/notation.md): $L$ is the output (a loss), $\bar v$ the
# adjoint of a node $v$, $z$ a pre-activation and $a = \tanh(z)$ an activation.

# %%
import math
import sys

import matplotlib.pyplot as plt
import numpy as np

from calcml import checks, graph, graph_explorer, numdiff

# %% [markdown]
# ## 1 · An expression is a graph
#
# Take $L = (a\cdot b + c)\cdot f$. To evaluate it, a computer names every intermediate result:
#
# $$ e = a \cdot b, \qquad d = e + c, \qquad L = d \cdot f. $$
#
# Draw one box per value and an arrow from each input to the operation that uses it, and you get a **directed
# acyclic graph** (DAG): *directed* because information flows from inputs to results, *acyclic* because no value
# can depend on itself. It is not always a tree: one value may feed several operations (*fan-out*), as we will
# see in section 5.
#
# To work with such graphs we need one small class. A `Node` holds its value (`data`), the slot for its gradient
# (`grad`), the nodes it was computed from (`_prev`), the symbol of the operation (`_op`) and a `label`. It also
# stores the **local gradients** $\partial(\text{this node})/\partial(\text{input})$, one per input: the
# operation knows them at the moment it runs, so it writes them down for later. The functions `add`, `mul` and
# `tanh` make new nodes and record exactly that.

# %%
class Node:
    """One value in a computational graph, with what the backward pass needs to know about it.

    Attributes:
        data: The value, computed in the forward pass.
        grad: dL/d(this node) for the output L of the graph; 0.0 until a backward pass fills it in.
        _prev: The input nodes of the operation that made this node (a tuple, empty for a leaf).
            The same node may appear twice, as in mul(x, x).
        _local_grads: d(this node)/d(input) for each input, in the order of `_prev`.
        _op: The operation's symbol ('' for a leaf).
        label: A name, for printing and drawing.

    Nodes compare by identity, so they can be used in sets and as dictionary keys.
    """

    def __init__(self, data, label="", _prev=(), _local_grads=(), _op=""):
        self.data = float(data)
        self.grad = 0.0
        self._prev = tuple(_prev)
        self._local_grads = tuple(float(g) for g in _local_grads)
        self._op = _op
        self.label = label

    def __repr__(self):
        return f"Node({self.label or self._op or 'leaf'}: data={self.data:.4g}, grad={self.grad:.4g})"


def add(a, b, label=""):
    """The node a + b. Local gradients: d(a+b)/da = 1 and d(a+b)/db = 1."""
    return Node(a.data + b.data, label, (a, b), (1.0, 1.0), "+")


def mul(a, b, label=""):
    """The node a * b. Local gradients: d(ab)/da = b and d(ab)/db = a -- each input gets the OTHER one."""
    return Node(a.data * b.data, label, (a, b), (b.data, a.data), "*")


def tanh(a, label=""):
    """The node tanh(a). Local gradient: d tanh(a)/da = 1 - tanh(a)**2."""
    t = math.tanh(a.data)
    return Node(t, label, (a,), (1.0 - t * t,), "tanh")


# %% [markdown]
# ## 2 · The forward pass
#
# Building the graph *is* the forward pass: each call computes its value as soon as its inputs exist, from left to
# right in the picture. The **leaves** (inputs and parameters) are shaded blue, the operations are yellow circles,
# and the output, shaded orange, sits at the right.

# %%
a, b, c, f = Node(2.0, "a"), Node(-3.0, "b"), Node(10.0, "c"), Node(-2.0, "f")
e = mul(a, b, "e")
d = add(e, c, "d")
L = mul(d, f, "L")
graph.draw(L, show_grad=False, title="L = (a·b + c)·f: the forward pass")
plt.show()

# %% [markdown]
# ## 3 · The backward pass: local gradient × upstream gradient
#
# Now we want $\partial L/\partial x$ for every node $x$. Suppose $x$ is used by a single node $y$. The chain rule
# splits the derivative into two factors:
#
# $$ \frac{\partial L}{\partial x} \;=\; \underbrace{\frac{\partial L}{\partial y}}_{\text{upstream}} \;\cdot\;
#    \underbrace{\frac{\partial y}{\partial x}}_{\text{local}}. $$
#
# The **local** gradient only involves the one operation that made $y$; it was recorded in `y._local_grads`. The
# **upstream** gradient is `y.grad`, which is already known *if we work from the output backwards*. The number
# $\partial L/\partial x$ is also called the **adjoint** of $x$, written $\bar x$; `x.grad` stores it. The walk starts
# with the **seed** $\bar L = \partial L/\partial L = 1$. For $L = (a\cdot b + c)\cdot f$ at $a=2$, $b=-3$, $c=10$, $f=-2$:
#
# | node | used by | local gradient | × upstream | = grad |
# |---|---|---|---|---|
# | $L$ | (the output) | | | $1$ |
# | $d$ | $L = d\cdot f$ | $\partial L/\partial d = f = -2$ | $1$ | $-2$ |
# | $f$ | $L = d\cdot f$ | $\partial L/\partial f = d = 4$ | $1$ | $4$ |
# | $e$ | $d = e + c$ | $1$ | $-2$ | $-2$ |
# | $c$ | $d = e + c$ | $1$ | $-2$ | $-2$ |
# | $a$ | $e = a\cdot b$ | $\partial e/\partial a = b = -3$ | $-2$ | $6$ |
# | $b$ | $e = a\cdot b$ | $\partial e/\partial b = a = 2$ | $-2$ | $-4$ |
#
# Two patterns to remember: **a sum routes** its gradient unchanged to each input (local gradient 1), and **a
# product swaps**: each factor receives the upstream gradient times the *other* factor. Read the table as a
# sensitivity report: nudging $a$ by $0.01$ moves $L$ by about $6 \times 0.01 = 0.06$.
#
# This is the reverse mode of unit 3, one number at a time: each local gradient is a $1\times 1$ Jacobian, and
# each `grad` is the vector-Jacobian product that has reached that node.

# %% [markdown]
# ## 4 · Worked example: backpropagation through a neuron, one cell per node
#
# A single artificial neuron with two inputs computes its activation $a = \tanh(z)$ from the pre-activation
# $z = x_1 w_1 + x_2 w_2 + b$. We take the inputs
# $x_1 = 2$, $x_2 = 0$, the weights $w_1 = -3$, $w_2 = 1$ and a bias $b \approx 6.8814$, chosen so that the
# pre-activation is $z \approx 0.8814$ and $a = \tanh(z) = 1/\sqrt2 \approx 0.7071$.

# %%
x1, x2 = Node(2.0, "x1"), Node(0.0, "x2")
w1, w2 = Node(-3.0, "w1"), Node(1.0, "w2")
bias = Node(6.8813735870195432, "b")
x1w1 = mul(x1, w1, "x1·w1")
x2w2 = mul(x2, w2, "x2·w2")
s = add(x1w1, x2w2, "x1·w1 + x2·w2")
z = add(s, bias, "z")
act = tanh(z, "a")
act

# %% [markdown]
# Each backward step does one thing: `node.grad += local × child.grad`, where *child* is the node that used
# `node`. (Why `+=` rather than `=`? In this neuron every node is used once, so both give the same result;
# section 5 shows a graph where only `+=` is right.) The helper `contribute` does that step and notes it down, so
# the explorer below can replay the pass.

# %%
steps = []  # every contribution, in order, for the explorer


def contribute(node, child, local):
    """node.grad += local * child.grad; note the step for the explorer and return the new node.grad."""
    node.grad += local * child.grad
    steps.append(graph_explorer.BackwardStep(node, child, local, child.grad, node.grad))
    return node.grad


# %% [markdown]
# **The seed.** The output's gradient with respect to itself is 1.

# %%
act.grad = 1.0

# %% [markdown]
# **$z$**, the input of $\tanh$: the local gradient is $\tanh'(z) = 1 - \tanh(z)^2 = 1 - a^2$.

# %%
contribute(z, act, 1 - act.data**2)

# %% [markdown]
# **$b$**, an input of the sum $z = s + b$: a sum routes the gradient unchanged.

# %%
contribute(bias, z, 1.0)

# %% [markdown]
# **$s = x_1 w_1 + x_2 w_2$**, the other input of that sum: also local gradient 1.

# %%
contribute(s, z, 1.0)

# %% [markdown]
# **$x_1 w_1$**, an input of the sum $s$:

# %%
contribute(x1w1, s, 1.0)

# %% [markdown]
# **$x_2 w_2$**, the other input of $s$:

# %%
contribute(x2w2, s, 1.0)

# %% [markdown]
# **$x_1$**, a factor of $x_1 w_1$: a product swaps, so the local gradient is the other factor, $w_1 = -3$.

# %%
contribute(x1, x1w1, w1.data)

# %% [markdown]
# **$w_1$**, the other factor: its local gradient is $x_1 = 2$.

# %%
contribute(w1, x1w1, x1.data)

# %% [markdown]
# **$x_2$**, a factor of $x_2 w_2$: local gradient $w_2 = 1$.

# %%
contribute(x2, x2w2, w2.data)

# %% [markdown]
# **$w_2$**: local gradient $x_2 = 0$. Its gradient is 0: changing a weight whose input is 0 changes nothing.

# %%
contribute(w2, x2w2, x2.data)

# %% [markdown]
# **Check against numerical derivatives.** Written as a plain function of its five leaves, the neuron can be
# differentiated numerically by `numdiff.gradient` (central differences, no graph involved). The two must agree.

# %%
def neuron(v):
    x1_, x2_, w1_, w2_, b_ = v
    return np.tanh(x1_ * w1_ + x2_ * w2_ + b_)


leaves = [x1, x2, w1, w2, bias]
by_hand = np.array([leaf.grad for leaf in leaves])
numerical = numdiff.gradient(neuron, np.array([leaf.data for leaf in leaves]))
checks.assert_close(by_hand, numerical, what="hand backpropagation of the neuron")
print("by hand  :", np.round(by_hand, 6))
print("numdiff  :", np.round(numerical, 6))

# %%
graph.draw(act, title="The neuron after the backward pass")
plt.show()

# %% [markdown]
# ### Explorer: replay the backward pass
#
# Move the slider through the nine contributions made above. The node whose gradient is being filled in is
# outlined in vermillion, the node passing its gradient back (and its operation) in green, and gradients not
# reached yet show as `grad ?`. The readout spells each step out: *local gradient × upstream = contribution*.
# Notice that a node is only ever visited after the node that uses it: that ordering is the subject of the next
# section. (Without a live kernel you see the figure for step 2.)

# %%
graph_explorer.backward_explorer(act, steps, start=2)

# %% [markdown]
# ## 5 · Why gradients accumulate: fan-out
#
# In a real network a value is often used more than once: an input feeds every neuron of the first layer, a
# weight is shared across time steps. Take
#
# $$ L = (a + b)\cdot a, \qquad a = 3,\; b = -1, $$
#
# where $a$ feeds both the sum $s = a + b$ and the final product. Nudging $a$ moves $L$ along **two paths**, and
# the multivariable chain rule adds their effects:
#
# $$ \frac{\partial L}{\partial a} \;=\; \underbrace{\frac{\partial L}{\partial s}\,\frac{\partial s}{\partial a}}
#    _{\text{path } a \to s \to L}
#    \;+\; \underbrace{\frac{\partial L}{\partial a}\Big|_{s \text{ fixed}}}_{\text{path } a \to L}
#    \;=\; a\cdot 1 + s \;=\; 3 + 2 \;=\; 5. $$
#
# In general, **the gradient of $L$ with respect to a node is the sum, over every path from that node to $L$, of
# the product of the local gradients along the path.** The backward pass computes that sum without listing the
# paths: each use of a node adds its contribution with `+=`. Writing `=` instead keeps only the contribution that
# happens to come last, and the answer is wrong by the others.

# %%
fan_steps = []
a, b = Node(3.0, "a"), Node(-1.0, "b")
s = add(a, b, "s")
L = mul(s, a, "L")
L.grad = 1.0
for node, child, local in [(s, L, a.data), (a, L, s.data), (a, s, 1.0), (b, s, 1.0)]:
    upstream = child.grad
    node.grad += local * upstream
    fan_steps.append(graph_explorer.BackwardStep(node, child, local, upstream, node.grad))

only_last = fan_steps[2].local * fan_steps[2].upstream  # what `a.grad = ...` would have left behind
print(f"accumulated with += : dL/da = {a.grad:g}")
print(f"overwritten with =  : dL/da = {only_last:g}")
print(f"numerical           : dL/da = {numdiff.derivative(lambda t: (t + b.data) * t, a.data):.6f}")

# %% [markdown]
# The explorer below starts at step 3, where $a$ receives its second contribution (the readout says
# *contribution 2 of 2: fan-out*). Step back to see the partial sum after the first one.

# %%
graph_explorer.backward_explorer(L, fan_steps, start=3, title="L = (a + b)·a: a is used twice")

# %% [markdown]
# The same holds when one operation uses a node twice: in `mul(x, x)`, both local gradients are $x$, and
# accumulating them gives $\frac{d}{dx}x^2 = 2x$, as it must. Overwriting would give $x$.
#
# A useful special case: if every local gradient were 1, the sum over paths would simply **count the paths**. For
# $L = (a+b)\cdot a$ there are two paths from $a$ to $L$, one from $b$. You will compute such counts in exercise 7.

# %% [markdown]
# ## 6 · Topological order
#
# When the backward pass reaches a node, its gradient must be **complete**: every node that uses it must already
# have added its contribution. So the nodes must be processed so that each comes *after* every node that uses
# it. Turned around, that is a **topological order**: a list of all nodes in which *every node comes after all of
# its inputs*. The backward pass walks a topological order **in reverse**.
#
# The forward pass happens to create nodes in such an order, but that order is gone: `backward(root)` only gets
# the output and must rediscover the graph by following `_prev`. (A graph usually has many valid orders; any of
# them works.) Two classic algorithms find one.
#
# **Depth-first search, post-order.** Visit a node's inputs first, then append the node itself. The
# recursive version is five lines:

# %%
def topo_recursive(root):
    """Depth-first post-order, recursive: correct, but limited by Python's recursion depth."""
    order, seen = [], set()

    def visit(node):
        if node not in seen:
            seen.add(node)
            for parent in node._prev:
                visit(parent)
            order.append(node)  # after all of its inputs

    visit(root)
    return order


print([node.label for node in topo_recursive(L)])

# %% [markdown]
# Each nested call takes a frame on Python's call stack, and Python stops at `sys.getrecursionlimit()` frames.
# Graphs that deep are ordinary: a recurrent network unrolled over 10,000 time steps is a chain 10,000 nodes long.

# %%
deep = Node(0.5, "x")
for _ in range(10_000):
    deep = tanh(deep)
try:
    topo_recursive(deep)
except RecursionError as error:
    print(f"RecursionError at depth 10,000 (the limit is {sys.getrecursionlimit()}): {error}")

# %% [markdown]
# The cure is to keep the stack yourself, in a Python list, which can hold millions of entries. There are two
# standard ways.
#
# - **Iterative depth-first search.** Push `(root, False)` on a stack. Pop `(node, expanded)`: if `expanded` is
#   true, all of the node's inputs are done, so append the node to the order; otherwise, unless the node was seen
#   already, mark it seen, push `(node, True)` back, then push `(parent, False)` for each input. The marker
#   `True` says *"come back to me after my inputs"*: it is what makes the order a post-order.
# - **Kahn's algorithm.** Count, for every node, how many times it is used (walk the graph once, counting a node
#   used twice by the same operation twice). The output is used by nothing, so start a queue with it. Repeatedly
#   take a node off the queue, append it, and decrement the count of each of its inputs; an input whose count
#   drops to zero has all its users done, so it joins the queue. This lists nodes *outputs first*: reverse the
#   list at the end.
#
# Either way, each node and each edge is handled a fixed number of times: the cost is linear in the size of the
# graph, however deep it is.

# %% [markdown]
# ## Exercises
#
# The seven exercises build the backward pass piece by piece: one small backpropagation with pen and paper (1 to 3),
# a forward and backward pass in code (4), the ordering (5), the pass itself (6), and the sum over paths it
# computes (7).
#
# ### Exercise 1 · Backprop by hand: the forward pass (1 point)
#
# Take paper and a pen. The graph below has three inputs, $x = 2$, $y = -3$, $z = 4$, and four operations:
#
# $$ u = x\cdot y, \qquad v = u + z, \qquad w = v\cdot x, \qquad L = w^2. $$
#
# The input $x$ is used **twice**: by $u$ and by $w$. Run the forward pass by hand: the value of every node. Then
# type the values as numbers in the cell below, as a dict from node name to value,
#
# ```python
# forward = {"x": 2, "y": -3, "z": 4, "u": ..., "v": ..., "w": ..., "L": ...}
# ```
#
# **Numbers only**: literals and arithmetic of literals (`2 * -3` is fine), no variables and no function calls.
# The grader reads this cell, and values computed by code (a `Node` graph, `numdiff`, sympy) earn no points here.

# %%
hand = {name: Node(value, name) for name, value in {"x": 2.0, "y": -3.0, "z": 4.0}.items()}
for name, op, first, second in [("u", "*", "x", "y"), ("v", "+", "u", "z"), ("w", "*", "v", "x"),
                                ("L", "²", "w", None)]:
    parents = (hand[first],) if second is None else (hand[first], hand[second])
    hand[name] = Node(0.0, name, parents, (), op)
    hand[name].data = None  # the values are yours to find: the drawing shows "?"
graph.draw(hand["L"], show_grad=False, title="u = x·y, v = u + z, w = v·x, L = w²: x is used twice")
plt.show()

# %% nbgrader={"grade": false, "grade_id": "04_computational_graphs-backprop_forward-solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
# forward: the value of every node of the graph above, as numbers worked out by hand (a dict, name -> number).
### BEGIN SOLUTION
forward = {"x": 2, "y": -3, "z": 4, "u": 2 * -3, "v": -6 + 4, "w": -2 * 2, "L": (-4) ** 2}
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "04_computational_graphs-backprop_forward", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
assert isinstance(forward, dict), "forward should be a dict from node name to number, e.g. {'x': 2, 'y': -3, ...}"
assert set(forward) == {"x", "y", "z", "u", "v", "w", "L"}, (
    f"forward should have one value for each node x, y, z, u, v, w, L; it has the keys {sorted(forward)}")
assert [forward["x"], forward["y"], forward["z"]] == [2, -3, 4], "The inputs are x = 2, y = -3, z = 4: copy them."
# Each value must follow from the values it is computed from (yours): one step of the forward pass at a time.
for name, formula, value in [("u", "x·y", forward["x"] * forward["y"]), ("v", "u + z", forward["u"] + forward["z"]),
                             ("w", "v·x", forward["v"] * forward["x"]), ("L", "w²", forward["w"] ** 2)]:
    checks.assert_close(forward[name], value, what=f"forward[{name!r}]", where=f"where {name} = {formula}",
                        hint=f"Compute {name} = {formula} from the values above it (mind the signs; x is an input "
                             "of w as well as of u).")
print("forward: visible tests passed")
### BEGIN HIDDEN TESTS
# One definition of the hidden checks (calcml.probes). The values are recomputed here by a forward pass of the
# graph's own (node_graphs.hand_values), never copied from a solution; the grader also reads the cell and fails
# values computed by code (mechanism "literal_values").
from calcml import node_graphs, probes

# One graph for everybody (it is printed in the notebook); only the order the nodes are read in varies.
_inputs, _DRIVER, _verify = node_graphs.hand_inputs, node_graphs.hand_driver("forward"), node_graphs.check_values
probes.exercise(globals(), inputs=_inputs, driver=_DRIVER, verify=_verify, seed=404,
                mechanism={"rule": "literal_values", "names": ["forward"]})
### END HIDDEN TESTS


# %% active="py" wrong_answer="04_computational_graphs-backprop_forward-solution" mistake="A sign slip: x·y = 2·(-3) written as 6."
forward = {"x": 2, "y": -3, "z": 4, "u": 6, "v": 10, "w": 20, "L": 400}


# %% active="py" wrong_answer="04_computational_graphs-backprop_forward-solution" mistake="The square taken as twice its input: L = 2w."
forward = {"x": 2, "y": -3, "z": 4, "u": -6, "v": -2, "w": -4, "L": -8}


# %% active="py" wrong_answer="04_computational_graphs-backprop_forward-solution" mistake="The second use of x forgotten: w written as v alone."
forward = {"x": 2, "y": -3, "z": 4, "u": -6, "v": -2, "w": -2, "L": 4}


# %% active="py" wrong_answer="04_computational_graphs-backprop_forward-solution" mistake="The values computed with the unit's Node class instead of by hand."
x_, y_, z_ = Node(2.0, "x"), Node(-3.0, "y"), Node(4.0, "z")
u_ = mul(x_, y_, "u")
v_ = add(u_, z_, "v")
w_ = mul(v_, x_, "w")
L_ = mul(w_, w_, "L")
forward = {node.label: node.data for node in (x_, y_, z_, u_, v_, w_, L_)}


# %% [markdown]
# ### Exercise 2 · Backprop by hand: the adjoints (2 points)
#
# Now the backward pass, still by hand. The **adjoint** of a node $u$ is $\bar u = \partial L/\partial u$ (see [the
# course's notation](../../course/notation.md)): how much $L$ moves per unit nudge of the node, everything it feeds
# recomputed. Start from the seed $\bar L = 1$ and walk back, one node at a time: each node receives *local
# derivative × upstream adjoint* from each node that uses it, and a node used twice receives **two** contributions,
# which add up (section 5). Take every local derivative at the values of the forward pass.
#
# ```python
# adjoint = {"L": 1, "w": ..., "v": ..., "u": ..., "z": ..., "y": ..., "x": ...}
# ```
#
# Numbers only, as in exercise 1. Check yourself: nudge $x$ by $0.001$ and recompute $L$; it should move by about
# $0.001\cdot\bar x$.

# %% nbgrader={"grade": false, "grade_id": "04_computational_graphs-backprop_adjoints-solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
# adjoint: dL/d(node) for every node of the graph above, as numbers worked out by hand (a dict, name -> number).
### BEGIN SOLUTION
adjoint = {
    "L": 1,
    "w": 2 * -4,  # L = w²: local derivative 2w
    "v": -8 * 2,  # w = v·x: v receives the other factor, x
    "u": -16,  # v = u + z: a sum routes
    "z": -16,
    "y": -16 * 2,  # u = x·y: y receives x
    "x": -16 * -3 + -8 * -2,  # two uses: from u (local y) and from w (local v)
}
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "04_computational_graphs-backprop_adjoints", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
assert isinstance(adjoint, dict), "adjoint should be a dict from node name to number, e.g. {'L': 1, 'w': ..., ...}"
assert set(adjoint) == {"x", "y", "z", "u", "v", "w", "L"}, (
    f"adjoint should have one value for each node x, y, z, u, v, w, L; it has the keys {sorted(adjoint)}")
assert adjoint["L"] == 1, "The backward pass starts from the seed dL/dL = 1."
# Steps whose local derivative needs only an input (x = 2): each node's adjoint from its user's (yours). The
# hidden tests check every node, w and x included.
for name, rule, value in [("v", "w̄·∂w/∂v = w̄·x", adjoint["w"] * 2), ("u", "v̄·1 (a sum routes)", adjoint["v"]),
                          ("z", "v̄·1 (a sum routes)", adjoint["v"]), ("y", "ū·∂u/∂y = ū·x", adjoint["u"] * 2)]:
    checks.assert_close(adjoint[name], value, what=f"adjoint[{name!r}]", where=f"where ∂L/∂{name} = {rule}",
                        hint="Local derivative × upstream adjoint; a product sends each factor the OTHER one.")
print("adjoint: visible tests passed")
### BEGIN HIDDEN TESTS
# One definition of the hidden checks (calcml.probes). The reference adjoints are numdiff derivatives of the output
# with respect to each node (node_graphs.hand_adjoints), never copied from a solution; the message names the first
# wrong node from the output back, with the likely cause. The grader also reads the cell and fails values computed
# by code (mechanism "literal_values").
from calcml import node_graphs, probes

# One graph for everybody (it is printed in the notebook); only the order the nodes are read in varies.
_inputs, _DRIVER, _verify = node_graphs.hand_inputs, node_graphs.hand_driver("adjoint"), node_graphs.check_adjoints
probes.exercise(globals(), inputs=_inputs, driver=_DRIVER, verify=_verify, seed=405,
                mechanism={"rule": "literal_values", "names": ["adjoint"]})
### END HIDDEN TESTS


# %% active="py" wrong_answer="04_computational_graphs-backprop_adjoints-solution" mistake="A missing path: x is used twice, and only its contribution through u is kept."
adjoint = {"L": 1, "w": -8, "v": -16, "u": -16, "z": -16, "y": -32, "x": -16 * -3}


# %% active="py" wrong_answer="04_computational_graphs-backprop_adjoints-solution" mistake="A local derivative at the wrong point: dL/dw = 2w evaluated at L = 16 instead of w = -4."
adjoint = {"L": 1, "w": 2 * 16, "v": 32 * 2, "u": 64, "z": 64, "y": 64 * 2, "x": 64 * -3 + 32 * -2}


# %% active="py" wrong_answer="04_computational_graphs-backprop_adjoints-solution" mistake="A sign slip: (-8)·2 written as 16, carried to every node below."
adjoint = {"L": 1, "w": -8, "v": 16, "u": 16, "z": 16, "y": 32, "x": 16 * -3 + -8 * -2}


# %% active="py" wrong_answer="04_computational_graphs-backprop_adjoints-solution" mistake="The product does not swap: y receives its own value -3 instead of the other factor x = 2."
adjoint = {"L": 1, "w": -8, "v": -16, "u": -16, "z": -16, "y": -16 * -3, "x": -16 * -3 + -8 * -2}


# %% active="py" wrong_answer="04_computational_graphs-backprop_adjoints-solution" mistake="The adjoints computed with numdiff instead of by hand."
def L_of(node, t):
    x, y, z = (t if node == "x" else 2.0), (t if node == "y" else -3.0), (t if node == "z" else 4.0)
    u = t if node == "u" else x * y
    v = t if node == "v" else u + z
    w = t if node == "w" else v * x
    return w * w


at = {"x": 2.0, "y": -3.0, "z": 4.0, "u": -6.0, "v": -2.0, "w": -4.0}
adjoint = {"L": 1.0, **{name: numdiff.derivative(lambda t, name=name: L_of(name, t), value) for name, value in at.items()}}


# %% [markdown]
# ### Exercise 3 · Backprop by hand: the derivation (2 points)
#
# In the cell below, write out the derivation you did on paper, so that a reader can follow it without your
# notes: for each node, from $L$ back to the inputs, the chain rule you used (which node uses it, the local
# derivative and where you took it, the upstream adjoint) and the number it gives. Say where two paths meet and
# how they combine. Then nudge one input and compare the change in $L$ with your adjoint. LaTeX works
# (`$\bar v = \bar w\,\partial w/\partial v$`). This exercise is graded by hand.

# %% [markdown] nbgrader={"grade": true, "grade_id": "04_computational_graphs-backprop_derivation", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# ### BEGIN SOLUTION
# Forward: $u = 2\cdot(-3) = -6$, $v = -6 + 4 = -2$, $w = (-2)\cdot 2 = -4$, $L = (-4)^2 = 16$.
#
# Backward, seeded with $\bar L = 1$:
#
# - $\bar w = \bar L\cdot 2w = 1\cdot 2\cdot(-4) = -8$ (the square, at its input $w = -4$);
# - $\bar v = \bar w\cdot x = -8\cdot 2 = -16$ (a product sends each factor the other one);
# - $\bar u = \bar v\cdot 1 = -16$ and $\bar z = \bar v\cdot 1 = -16$ (a sum routes);
# - $\bar y = \bar u\cdot x = -16\cdot 2 = -32$;
# - $x$ is used twice, by $u$ and by $w$, so two contributions add up:
#   $\bar x = \bar u\cdot y + \bar w\cdot v = (-16)(-3) + (-8)(-2) = 48 + 16 = 64$.
#
# Check: $L = (x^2 y + x z)^2$, so $\partial L/\partial x = 2(x^2y + xz)(2xy + z) = 2\cdot(-4)\cdot(-8) = 64$;
# nudging $x$ to $2.001$ gives $L \approx 16.064$.
# ### END SOLUTION

# %% [markdown] nbgrader={"grade": false, "grade_id": "04_computational_graphs-backprop_rubric", "locked": true, "schema_version": 3, "solution": false, "task": false}
# **Rubric for exercise 3** (2 points, graded by hand; instructors see this in formgrader):
#
# - **1 point:** every adjoint from $\bar L = 1$ back to the inputs, each written as *local derivative × upstream
#   adjoint* with the local derivative taken at the forward values (the square's $2w$ at $w = -4$, each factor of a
#   product receiving the other one, a sum routing its adjoint unchanged). Arithmetic slips that are carried
#   consistently lose nothing here (exercise 2 grades the numbers).
# - **1 point:** the two paths from $x$ named and **added**, $\bar x = \bar u\,y + \bar w\,v$, with a check of the
#   result (a nudge of an input, or the derivative of $L = (x^2y + xz)^2$ by hand).
# - **0 points** for the whole exercise when the numbers were computed by calling `numdiff`, sympy or an engine
#   (the out-of-kernel check of exercises 1 and 2 says so in the integrity report), or when the derivation only
#   restates the numbers without the chain rule behind them.

# %% [markdown]
# The cell below holds the helpers the tests of exercises 4 to 7 use to build random graphs: the same expression
# is built twice, as a graph of `Node`s and as a plain function of its leaves for `numdiff`. You do not need to
# read it; do not change it.

# %% nbgrader={"grade": false, "grade_id": "04_computational_graphs-test_helpers", "locked": true, "schema_version": 3, "solution": false, "task": false}
class Expression:
    """An expression given as a recipe, built both as a graph of Nodes and as a plain function of its leaves.

    `recipe` is a list of (op, i, j) with op in {"add", "mul", "tanh"} and i, j indices of earlier nodes (the
    leaves come first; tanh ignores j). `nodes` lists the nodes in creation order, which is a topological order.
    """

    def __init__(self, leaf_values, recipe):
        self.x0 = np.array(leaf_values, dtype=float)
        self.recipe = list(recipe)
        self.nodes = [Node(v, f"x{i}") for i, v in enumerate(self.x0)]
        for k, (op, i, j) in enumerate(self.recipe):
            p, q = self.nodes[i], self.nodes[j]
            self.nodes.append(tanh(p, f"n{k}") if op == "tanh" else (add if op == "add" else mul)(p, q, f"n{k}"))
        self.leaves = self.nodes[: len(self.x0)]
        self.root = self.nodes[-1]

    def value(self, x, replace=None):
        """The root's value for leaf values `x`; `replace=(k, t)` forces node k to the value t."""
        values = list(x)
        if replace is not None and replace[0] < len(values):
            values[replace[0]] = replace[1]
        for op, i, j in self.recipe:
            v = np.tanh(values[i]) if op == "tanh" else (values[i] + values[j] if op == "add" else values[i] * values[j])
            values.append(replace[1] if replace is not None and replace[0] == len(values) else v)
        return values[-1]

    def numerical_grads(self):
        """dL/d(node) for every node, by central differences on the plain function (an independent reference)."""
        return np.array([numdiff.derivative(lambda t, k=k: self.value(self.x0, (k, t)), node.data)
                         for k, node in enumerate(self.nodes)])

    def uses(self, node):
        """How many times `node` is an input (counting mul(x, x) as two uses)."""
        return sum(p is node for other in self.nodes for p in other._prev)


def random_expression(seed, n_leaves=4, n_ops=12):
    """A random DAG with fan-out (inputs reused, sometimes twice by one op); every node reaches the root."""
    rng = np.random.default_rng(seed)
    leaves = rng.uniform(-1.5, 1.5, size=n_leaves)
    recipe, used = [], set()
    for k in range(n_ops):
        size = n_leaves + k
        i = int(rng.integers(max(0, size - 4), size))  # a recent node: depth
        j = int(rng.integers(0, size))  # any node: fan-out
        op = str(rng.choice(["add", "mul", "tanh"], p=[0.35, 0.35, 0.3]))
        recipe.append((op, i, j))
        used.update({i} if op == "tanh" else {i, j})
    sinks = [k for k in range(n_leaves + n_ops) if k not in used]
    total = sinks[0]
    for k in sinks[1:]:  # add up every unused node, so the whole graph feeds the root
        recipe.append(("add", total, k))
        total = n_leaves + len(recipe) - 1
    return Expression(leaves, recipe)


def neuron_expression():
    """The neuron of section 4: leaves x1, x2, w1, w2, b."""
    return Expression([2.0, 0.0, -3.0, 1.0, 0.8813735870195432 + 6.0],
                      [("mul", 0, 2), ("mul", 1, 3), ("add", 5, 6), ("add", 7, 4), ("tanh", 8, 8)])


def chain(depth, start=0.5):
    """x -> tanh -> tanh -> ... : a graph `depth` operations deep."""
    return Expression([start], [("tanh", k, k) for k in range(depth)])


def diamonds(count, start=0.1):
    """`count` diamonds in a row, x -> tanh(x) + x·x: each triples the number of paths from x0 to the root
    (one path through tanh, two through x·x)."""
    recipe = []
    for k in range(count):
        top = 3 * k
        recipe += [("tanh", top, top), ("mul", top, top), ("add", top + 1, top + 2)]
    return Expression([start], recipe)


class CountingNode(Node):
    """A Node that counts how many times its inputs (`_prev`) are looked up, in `CountingNode.reads`."""

    reads = 0

    @property
    def _prev(self):
        CountingNode.reads += 1
        return self.__dict__["_prev"]


def count_reads(expression):
    """Switch the nodes of `expression` to CountingNode and reset the counter."""
    for node in expression.nodes:
        node.__class__ = CountingNode
    CountingNode.reads = 0
    return expression


# %% [markdown]
# ### Exercise 4 · A forward and backward pass, in code (2 points)
#
# For $L = \tanh(a\cdot b + c)\cdot f$, write `forward_backward(a, b, c, f)` that returns the value $L$ and its
# four partial derivatives. Draw the graph on paper first (name the intermediate values, say $u = a\cdot b$,
# $v = u + c$, $t = \tanh v$), then walk it backwards as in section 4. Plain floats are enough; no `Node` needed.

# %% nbgrader={"grade": false, "grade_id": "04_computational_graphs-forward_backward-solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
def forward_backward(a, b, c, f):
    """Forward and backward pass of L = tanh(a*b + c) * f, by hand.

    Args:
        a, b, c, f: Floats.

    Returns:
        A tuple of five floats (L, dL/da, dL/db, dL/dc, dL/df).
    """
    ### BEGIN SOLUTION
    u = a * b
    v = u + c
    t = math.tanh(v)
    L = t * f
    dt = f  # L = t * f: the product swaps
    dv = (1 - t * t) * dt  # t = tanh(v)
    du = dv  # v = u + c: the sum routes
    dc = dv
    return L, du * b, du * a, dc, t
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "04_computational_graphs-forward_backward", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
def L_plain(v):
    a, b, c, f = v
    return np.tanh(a * b + c) * f


FB_HINT = ("Walk backwards from dL/dL = 1: dL/df = tanh(a·b + c) and dL/dt = f (a product swaps); "
           "tanh'(v) = 1 - tanh(v)², evaluated at v = a·b + c; the sum passes its gradient to a·b and to c; "
           "and a·b sends a the OTHER factor, b.")


def check_forward_backward(v):
    v = np.asarray(v, dtype=float)
    where = "at (a, b, c, f) = (" + ", ".join(f"{t:.4g}" for t in v) + ")"
    result = forward_backward(*(float(t) for t in v))
    assert isinstance(result, (tuple, list)) and len(result) == 5, (
        f"forward_backward should return 5 numbers (L, dL/da, dL/db, dL/dc, dL/df), not {result!r:.80}")
    checks.assert_close(result[0], L_plain(v), what="value of L", where=where,
                        hint="The forward pass is L = tanh(a·b + c)·f.")
    checks.assert_close(list(result[1:]), numdiff.gradient(L_plain, v), what="gradient [dL/da, dL/db, dL/dc, dL/df]",
                        where=where, hint=FB_HINT)


check_forward_backward([0.8, 1.5, -0.3, 2.0])
for point in np.random.default_rng(1).uniform(-1.5, 1.5, size=(5, 4)):
    check_forward_backward(point)
print("forward_backward: visible tests passed")
### BEGIN HIDDEN TESTS
# One definition of the hidden checks (calcml.probes): the kernel runs them here on a fixed seed; the grader
# draws each student's own inputs, runs the driver in a sandbox and _verify in its own process.
import numpy as np

from calcml import numdiff, probes


def _inputs(rng):
    points = rng.uniform(-2.0, 2.0, size=(25, 4)).tolist()
    points += [[0.0, float(rng.uniform(0.5, 2)), float(rng.uniform(-1, 1)), 1.0],  # a = 0: dL/db = 0
               [float(rng.uniform(1, 1.5)), 0.8, 1.5, float(rng.uniform(-4, -2))],  # tanh near saturation
               [float(rng.uniform(-1, 0)), float(rng.uniform(0.5, 1)), 0.0, float(rng.uniform(0.1, 0.5))]]  # c = 0
    return {"points": points}


_DRIVER = """
result = [list(forward_backward(*(float(t) for t in p))) for p in inputs["points"]]
"""


def _L(v):
    a, b, c, f = v
    return np.tanh(a * b + c) * f


def _verify(inputs, result):
    probes.require(isinstance(result, list) and len(result) == len(inputs["points"]),
                   "forward_backward gave too few results.")
    for point, got in zip(inputs["points"], result, strict=True):
        v = np.array(point)
        where = "at (a, b, c, f) = (" + ", ".join(f"{t:.4g}" for t in v) + ")"
        probes.require(isinstance(got, list) and len(got) == 5,
                       f"forward_backward {where} should return 5 numbers (L, dL/da, dL/db, dL/dc, dL/df).")
        probes.close(got[0], _L(v), what="value of L", where=where, hint="The forward pass is L = tanh(a·b + c)·f.")
        probes.close(got[1:], numdiff.gradient(_L, v), what="gradient [dL/da, dL/db, dL/dc, dL/df]", where=where,
                     hint="Walk backwards from dL/dL = 1: dL/df = tanh(a·b + c) and dL/dt = f; tanh'(v) = 1 - tanh(v)², "
                          "at v = a·b + c; the sum passes its gradient to a·b and to c; and a·b sends a the OTHER "
                          "factor, b.")


probes.exercise(globals(), inputs=_inputs, driver=_DRIVER, verify=_verify, seed=2024)
### END HIDDEN TESTS


# %% active="py" wrong_answer="04_computational_graphs-forward_backward-solution" mistake="tanh' applied to the pre-activation instead of to tanh of it: 1 - v² for 1 - tanh(v)²."
def forward_backward(a, b, c, f):
    v = a * b + c
    t = math.tanh(v)
    dv = (1 - v * v) * f
    return t * f, dv * b, dv * a, dv, t


# %% active="py" wrong_answer="04_computational_graphs-forward_backward-solution" mistake="The product rule backwards: a gets a instead of the other factor b."
def forward_backward(a, b, c, f):
    v = a * b + c
    t = math.tanh(v)
    dv = (1 - t * t) * f
    return t * f, dv * a, dv * b, dv, t


# %% active="py" wrong_answer="04_computational_graphs-forward_backward-solution" mistake="The upstream gradient f dropped: only local gradients multiplied."
def forward_backward(a, b, c, f):
    v = a * b + c
    t = math.tanh(v)
    dv = 1 - t * t
    return t * f, dv * b, dv * a, dv, t


# %% active="py" wrong_answer="04_computational_graphs-forward_backward-solution" mistake="No backward pass at all: the gradient taken from numdiff, the tool that checks it."
def forward_backward(a, b, c, f):
    def loss(v):
        return math.tanh(v[0] * v[1] + v[2]) * v[3]

    grad = numdiff.gradient(loss, np.array([a, b, c, f], dtype=float))
    return (loss([a, b, c, f]), *(float(g) for g in grad))


# %% [markdown]
# ### Exercise 5 · Topological order, without recursion (3 points)
#
# Write `topological_sort(root)`: a list of every node reachable from `root` through `_prev`, **each exactly
# once**, **each after all of its inputs** (so `root` comes last). Use an iterative depth-first search or Kahn's
# algorithm (section 6), **not recursion**: the tests include a chain 10,000 nodes deep. Remember that a node can
# be an input of several nodes, or twice of the same node.

# %% nbgrader={"grade": false, "grade_id": "04_computational_graphs-topological_sort-solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
def topological_sort(root):
    """Every node of the graph of `root`, each once and each after all of its inputs; no recursion.

    Args:
        root: The output Node.

    Returns:
        A list of the Nodes reachable from `root` through `_prev` (root included), each exactly once and each
        after all of its inputs, so the list ends with `root`. A lone leaf gives [root].
    """
    ### BEGIN SOLUTION
    order, seen = [], set()
    stack = [(root, False)]
    while stack:
        node, inputs_done = stack.pop()
        if inputs_done:
            order.append(node)  # post-order: after everything pushed above it, i.e. its inputs
        elif node not in seen:
            seen.add(node)
            stack.append((node, True))
            stack.extend((parent, False) for parent in node._prev if parent not in seen)
    return order
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "04_computational_graphs-topological_sort", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
def check_topological_sort(root):
    try:
        order = topological_sort(root)
    except RecursionError:
        raise checks.CheckFailure(
            "topological_sort hit Python's recursion limit: the graph is deeper than the call stack allows. "
            "Keep your own stack in a list (iterative depth-first search) or use Kahn's algorithm.") from None
    graph.check_topological_order(order, root)


x, y = Node(3.0, "x"), Node(-1.0, "y")
check_topological_sort(x)  # a single leaf
check_topological_sort(mul(x, x, "x²"))  # one input used twice by the same node
check_topological_sort(mul(add(x, y, "s"), x, "L"))  # fan-out: x feeds two nodes
check_topological_sort(neuron_expression().root)  # the neuron of section 4
for seed in range(5):
    check_topological_sort(random_expression(seed).root)
check_topological_sort(chain(10_000).root)
print("topological_sort: visible tests passed")
### BEGIN HIDDEN TESTS
# One definition of the hidden checks (calcml.probes): the kernel runs them here on a fixed seed; the grader
# draws each student's own inputs, runs the driver in a sandbox and _verify in its own process. "No recursion" is
# read from the submitted source by the grader (mechanism): in the probe process, as in the kernel, the student's
# code could raise the recursion limit.
from calcml import node_graphs, probes


def _inputs(rng):
    # as many random graphs as the old hidden tests, as large, and their deep and wide cases (at least as deep)
    graphs = [node_graphs.random_graph(rng, int(rng.integers(1, 7)), int(rng.integers(1, 46))) for _ in range(40)]
    graphs += [{"leaves": [float(rng.uniform(-2, 2))], "recipe": [["mul", 0, 0]]},
               {"leaves": [float(rng.uniform(-2, 2))], "recipe": []},
               node_graphs.diamonds(int(rng.integers(12, 16)), float(rng.uniform(0.05, 0.3))),
               node_graphs.comb(int(rng.integers(12_000, 13_000)), 0.9, 0.99),
               # a hub: a + b, then 60 to 79 more additions of a
               {"leaves": [0.5, 0.2], "recipe": [["add", 0, 1]] + [["add", k + 2, 0]
                                                                   for k in range(int(rng.integers(60, 80)))]},
               node_graphs.chain(int(rng.integers(20_000, 22_000)), float(rng.uniform(0.1, 0.9)))]
    return {"graphs": graphs}


_DRIVER = node_graphs.BUILD + """
result = []
for graph in inputs["graphs"]:
    nodes = build(graph)
    index = {id(node): k for k, node in enumerate(nodes)}
    result.append([index.get(id(node), -1) for node in topological_sort(nodes[-1])])
"""


def _verify(inputs, result):
    probes.require(isinstance(result, list) and len(result) == len(inputs["graphs"]),
                   "topological_sort gave too few results.")
    for recipe, order in zip(inputs["graphs"], result, strict=True):
        n = node_graphs.size(recipe)
        what = f"on a graph of {n} nodes"
        probes.require(isinstance(order, list) and all(type(k) is int for k in order),
                       f"topological_sort {what} did not return a list of the graph's nodes.")
        probes.require(-1 not in order, f"topological_sort {what} returned objects that are not nodes of the graph.")
        probes.require(len(order) == len(set(order)), f"topological_sort {what} lists a node more than once: keep a "
                                                      "set of the nodes already visited.")
        probes.require(len(order) == n, f"topological_sort {what} returned {len(order)} nodes, but the graph has {n}.")
        probes.require(order[-1] == n - 1, f"topological_sort {what} must end with the root.")
        position = {k: p for p, k in enumerate(order)}
        for k, parents in enumerate(node_graphs.inputs_of(recipe)):
            for p in parents:
                probes.require(position[p] < position[k], f"topological_sort {what} puts a node before one of its "
                                                          "inputs: every node must come after all of its inputs.")


probes.exercise(globals(), inputs=_inputs, driver=_DRIVER, verify=_verify, seed=4242,
                mechanism={"rule": "no_recursion", "name": "topological_sort"})
### END HIDDEN TESTS


# %% active="py" wrong_answer="04_computational_graphs-topological_sort-solution" mistake="Recursive depth-first search: right on small graphs, RecursionError on the 10,000-deep chain."
def topological_sort(root):
    order, seen = [], set()

    def visit(node):
        if node not in seen:
            seen.add(node)
            for parent in node._prev:
                visit(parent)
            order.append(node)

    visit(root)
    return order


# %% active="py" wrong_answer="04_computational_graphs-topological_sort-solution" mistake="Breadth-first search from the output, reversed: wrong when a node is reachable along paths of different lengths (fan-out)."
def topological_sort(root):
    order, seen, queue = [], {root}, [root]
    while queue:
        node = queue.pop(0)
        order.append(node)
        for parent in node._prev:
            if parent not in seen:
                seen.add(parent)
                queue.append(parent)
    return order[::-1]


# %% active="py" wrong_answer="04_computational_graphs-topological_sort-solution" mistake="Iterative post-order without a visited set: a node reached along two paths is listed twice."
def topological_sort(root):
    order, stack = [], [(root, False)]
    while stack:
        node, inputs_done = stack.pop()
        if inputs_done:
            order.append(node)
        else:
            stack.append((node, True))
            stack.extend((parent, False) for parent in node._prev)
    return order


# %% [markdown]
# ### Exercise 6 · The backward pass (3 points)
#
# Write `backward(root, order=None)`: set `node.grad` to $\partial L/\partial\,\text{node}$ for **every** node of
# the graph, where $L$ is `root`. The recipe: seed `root.grad = 1`, then walk the topological order **in
# reverse**, and for each node pass `local × node.grad` to each of its inputs, **accumulating** with `+=` (use
# `_prev` and `_local_grads` together: they are in the same order). Assume every `grad` starts at 0 (a freshly
# built graph).
#
# So that this exercise can be graded even if exercise 5 is not finished, the tests pass a topological order of
# their own as `order`; when `order` is None, your `topological_sort` is used. The tests compare every node's
# gradient with a numerical derivative of the same expression written as a plain function.

# %% nbgrader={"grade": false, "grade_id": "04_computational_graphs-backward-solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
def backward(root, order=None):
    """Fill in node.grad = dL/d(node) for every node of the graph of `root` (L = root.data).

    Args:
        root: The output Node; every grad in its graph is 0 on entry.
        order: A topological order of the graph (inputs before users); None means topological_sort(root).

    Returns:
        None; the gradients are stored in the nodes.
    """
    if order is None:
        order = topological_sort(root)
    ### BEGIN SOLUTION
    root.grad = 1.0
    for node in reversed(order):
        for parent, local in zip(node._prev, node._local_grads, strict=True):
            parent.grad += local * node.grad
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "04_computational_graphs-backward", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
def check_backward(expression, order=None, every_node=True):
    """Run the student's backward on a fresh graph and compare the gradients of every node (or of the leaves
    only, for big graphs) with numerical derivatives of the plain function."""
    root = expression.root
    backward(root, list(expression.nodes) if order is None else order)
    if root.grad != 1.0:
        raise checks.CheckFailure(f"After backward, root.grad is {root.grad!r}, but dL/dL = 1: seed root.grad = 1.0 "
                                  "before walking the graph.")
    if every_node:
        nodes, expected = expression.nodes, expression.numerical_grads()
    else:
        nodes, expected = expression.leaves, numdiff.gradient(expression.value, expression.x0)
    got = [node.grad for node in nodes]
    wrong = [k for k in range(len(nodes)) if abs(got[k] - expected[k]) > 1e-6 * max(1.0, np.max(np.abs(expected)))]
    hint = ""
    if wrong:
        worst = max(wrong, key=lambda k: abs(got[k] - expected[k]))
        shared = [nodes[k] for k in wrong if expression.uses(nodes[k]) > 1]
        if all(got[k] == 0 for k in wrong):
            hint = ("These gradients stayed 0: walk the order in reverse (from the output to the inputs), so a node "
                    "passes its gradient on only after every node using it has added its contribution.")
        elif shared:
            node = shared[0]
            hint = (f"Node {node.label!r} is used {expression.uses(node)} times (fan-out, a reused node): its gradient "
                    "is the SUM of one contribution per use. Accumulate with `+=`; `=` keeps only the last one.")
        else:
            hint = f"Node {nodes[worst].label!r}: is local × upstream passed to each input, in reverse order?"
    labels = "[" + ", ".join(node.label for node in nodes[:6]) + (", ...]" if len(nodes) > 6 else "]")
    checks.assert_close(got, expected, what=f"gradients of the nodes {labels}",
                        where=f"of a graph with {len(expression.nodes)} nodes", hint=hint)


check_backward(neuron_expression())
check_backward(Expression([3.0, -1.0], [("add", 0, 1), ("mul", 2, 0)]))  # L = (a + b)·a: a is used twice
check_backward(Expression([1.5], [("mul", 0, 0)]))  # x·x: one node, used twice by the same operation
for seed in range(3):
    expression = random_expression(seed)
    check_backward(expression)
    leaf_grads = np.array([leaf.grad for leaf in expression.leaves])
    checks.assert_close(leaf_grads, numdiff.gradient(expression.value, expression.x0), what="leaf gradients",
                        where=f"of random graph {seed}")
print("backward: visible tests passed")
### BEGIN HIDDEN TESTS
# One definition of the hidden checks (calcml.probes): the kernel runs them here on a fixed seed; the grader
# draws each student's own inputs, runs the driver in a sandbox and _verify in its own process. backward may call
# topological_sort (when order is None): that exercise is checked on its own, so the no-recursion rule ignores it.
import numpy as np

from calcml import checks, node_graphs, numdiff, probes


def _random_topological_order(graph, rng):
    """A valid order that is (usually) not creation order: Kahn's algorithm with random choices."""
    parents = node_graphs.inputs_of(graph)
    users = [[] for _ in parents]
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


def _inputs(rng):
    graphs = [node_graphs.random_graph(rng, int(rng.integers(1, 6)), int(rng.integers(1, 30))) for _ in range(30)]
    graphs += [node_graphs.diamonds(int(rng.integers(8, 10)), float(rng.uniform(0.05, 0.3))), node_graphs.comb(40, 0.7, 0.95),
               {"leaves": [float(rng.uniform(-2, 2))], "recipe": [["mul", 0, 0]]}]
    cases = [{"graph": g, "order": list(range(node_graphs.size(g))), "every_node": True} for g in graphs]
    for g in graphs[:4]:
        cases.append({"graph": g, "order": _random_topological_order(g, rng), "every_node": True})
    deep = node_graphs.chain(3000, float(rng.uniform(0.02, 0.08)))
    cases.append({"graph": deep, "order": list(range(node_graphs.size(deep))), "every_node": False})
    return {"cases": cases}


_DRIVER = node_graphs.BUILD + """
result = []
for case in inputs["cases"]:
    nodes = build(case["graph"])
    backward(nodes[-1], [nodes[k] for k in case["order"]])
    chosen = nodes if case["every_node"] else nodes[: len(case["graph"]["leaves"])]
    result.append({"root": nodes[-1].grad, "grads": [node.grad for node in chosen]})
"""


def _value(graph, x, replace=None):
    """The root's value for leaf values `x`; `replace=(k, t)` forces node k to the value t."""
    values = list(x)
    if replace is not None and replace[0] < len(values):
        values[replace[0]] = replace[1]
    for op, i, j in graph["recipe"]:
        v = np.tanh(values[i]) if op == "tanh" else values[i] + values[j] if op == "add" else values[i] * values[j]
        values.append(replace[1] if replace is not None and replace[0] == len(values) else v)
    return values[-1]


def _numerical_grads(graph):
    """dL/d(node) for every node, by central differences on the plain function."""
    values = list(graph["leaves"])
    for op, i, j in graph["recipe"]:
        values.append(np.tanh(values[i]) if op == "tanh" else values[i] + values[j] if op == "add"
                      else values[i] * values[j])
    return np.array([numdiff.derivative(lambda t, k=k: _value(graph, graph["leaves"], (k, t)), values[k])
                     for k in range(node_graphs.size(graph))])


def _verify(inputs, result):
    probes.require(isinstance(result, list) and len(result) == len(inputs["cases"]), "backward gave too few results.")
    for case, got in zip(inputs["cases"], result, strict=True):
        graph = case["graph"]
        where = f"of a graph with {node_graphs.size(graph)} nodes"
        probes.require(isinstance(got, dict), f"backward gave no gradients {where}.")
        if got.get("root") != 1.0:
            raise checks.CheckFailure(f"After backward, root.grad is {got.get('root')!r} {where}, but dL/dL = 1: "
                                      "seed root.grad = 1.0 before walking the graph.")
        if case["every_node"]:
            expected = _numerical_grads(graph)
        else:
            expected = numdiff.gradient(lambda x, graph=graph: _value(graph, x), np.array(graph["leaves"]))
        hint = ("Walk the order in reverse, pass local × upstream to each input, and ACCUMULATE (+=): a node used "
                "several times receives one contribution per use.")
        order = ("" if case["order"] == list(range(node_graphs.size(graph)))
                 else " (given in an order other than creation order)")
        probes.close(got.get("grads"), expected, what="gradients of the nodes", where=where + order, hint=hint)


probes.exercise(globals(), inputs=_inputs, driver=_DRIVER, verify=_verify, seed=777,
                mechanism={"rule": "no_recursion", "name": "backward", "ignore": ["topological_sort"]})
### END HIDDEN TESTS


# %% [raw] wrong_answer="04_computational_graphs-backward-solution" mistake="Overwriting instead of accumulating: a reused node keeps only its last contribution."
# ### REPLACE
#         for parent, local in zip(node._prev, node._local_grads, strict=True):
#             parent.grad += local * node.grad
# ### WITH
#         for parent, local in zip(node._prev, node._local_grads):  # noqa: B905
#             parent.grad = local * node.grad
# ### END


# %% [raw] wrong_answer="04_computational_graphs-backward-solution" mistake="The seed forgotten: every gradient stays 0."
# ### REPLACE
#     root.grad = 1.0
#     for node in reversed(order):
#         for parent, local in zip(node._prev, node._local_grads, strict=True):
# ### WITH
#     for node in reversed(order):
#         for parent, local in zip(node._prev, node._local_grads):  # noqa: B905
# ### END


# %% [raw] wrong_answer="04_computational_graphs-backward-solution" mistake="Walking the order forwards: a node passes its gradient on before it is complete."
# ### REPLACE
#     for node in reversed(order):
#         for parent, local in zip(node._prev, node._local_grads, strict=True):
# ### WITH
#     for node in order:
#         for parent, local in zip(node._prev, node._local_grads):  # noqa: B905
# ### END


# %% [markdown]
# ### Exercise 7 · Counting paths (2 points)
#
# Section 5 said the gradient is a sum over paths, and that with every local gradient equal to 1 it would count
# the paths. Use that: write `count_paths(root, node, order=None)`, the number of distinct paths from `node` to
# `root` along the arrows of the graph (an operation that uses its input twice, as `mul(x, x)`, gives two
# arrows, so two paths). `count_paths(root, root)` is 1, and a node that is not in the graph has 0.
#
# Listing the paths one by one is hopeless: in a chain of $k$ diamonds $x \mapsto \tanh(x) + x\cdot x$, each
# diamond offers three ways through (one via $\tanh$, two via $x\cdot x$), so there are $3^k$ paths. Instead do what
# `backward` does, with a count in place of a gradient: the root has 1 path to itself, and walking the
# topological order in reverse, each node adds its count to each of its inputs. As in exercise 6, the tests pass
# a topological order; when `order` is None, use your `topological_sort`.

# %% nbgrader={"grade": false, "grade_id": "04_computational_graphs-count_paths-solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
def count_paths(root, node, order=None):
    """The number of distinct paths from `node` to `root` in the graph, as an exact int.

    Args:
        root: The output Node.
        node: Any Node (if it is not in the graph of `root`, the answer is 0).
        order: A topological order of the graph of `root`; None means topological_sort(root).

    Returns:
        A Python int (exact, however large: counts grow like 3**k); 1 if node is root, 0 if node is not in
        the graph.
    """
    if order is None:
        order = topological_sort(root)
    ### BEGIN SOLUTION
    paths = {n: 0 for n in order}
    paths[root] = 1
    for n in reversed(order):
        for parent in n._prev:
            paths[parent] += paths[n]
    return paths.get(node, 0)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "04_computational_graphs-count_paths", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
def paths_by_derivative(expression, k):
    """The number of paths from node k to the root, as a derivative: with every operation replaced by a plain
    sum (tanh by the identity), every local gradient is 1, so d(root)/d(node k) counts the paths. The function
    is then linear with integer slopes, and a central difference with step 1 gives the slope exactly."""

    def linear(t):
        values = list(expression.x0)
        if k < len(values):
            values[k] = t
        for op, i, j in expression.recipe:
            v = values[i] if op == "tanh" else values[i] + values[j]
            values.append(t if len(values) == k else v)
        return values[-1]

    return round(numdiff.derivative(linear, 0.0, h=1.0, order=2))


def check_count_paths(expression, k, expected=None, *, what=""):
    nodes = expression.nodes
    expected = paths_by_derivative(expression, k) if expected is None else expected
    got = count_paths(expression.root, nodes[k], list(nodes))
    if got != expected:
        twice = [n.label for n in nodes if len(n._prev) == 2 and n._prev[0] is n._prev[1]]
        hint = (f" The graph has nodes that use one input twice ({', '.join(twice[:3])}): each use is its own arrow, "
                "so iterate over `_prev` itself, not a set of it." if twice and got < expected else "")
        hint += (" Where a node has several users, ADD their counts (+=), as backward accumulates gradients."
                 if got < expected else "")
        raise checks.CheckFailure(f"count_paths from {nodes[k].label!r} to the root{what} is {got!r}, but there are "
                                  f"{expected} paths.{hint}")


x = Node(2.0, "x")
square = mul(x, x, "x²")
assert count_paths(square, x, [x, square]) == 2, (
    "mul(x, x) uses x twice: two arrows, so two paths from x. Count every use (loop over `_prev` itself, not a set "
    "of it) and add the counts with +=.")
assert count_paths(square, square, [x, square]) == 1, "count_paths(root, root) is 1: the empty path"
check_count_paths(Expression([3.0, -1.0], [("add", 0, 1), ("mul", 2, 0)]), 0, what=" in L = (a + b)·a")
for seed in range(4):
    expression = random_expression(seed)
    for k in range(len(expression.leaves)):
        check_count_paths(expression, k, what=f" in random graph {seed}")
# 8 diamonds: 3**8 paths. Counting must look up each node's inputs a few times, not once per path.
expression = count_reads(diamonds(8))
check_count_paths(expression, 0, 3**8, what=" through 8 diamonds")
assert CountingNode.reads <= 10 * len(expression.nodes), (
    f"count_paths looked up node inputs (_prev) {CountingNode.reads} times in a graph of {len(expression.nodes)} "
    "nodes: it follows every path one by one, which takes 3**k steps for k diamonds. Walk the topological order "
    "once in reverse instead, adding each node's count to its inputs.")
print("count_paths: visible tests passed")
### BEGIN HIDDEN TESTS
# One definition of the hidden checks (calcml.probes): the kernel runs them here on a fixed seed; the grader
# draws each student's own inputs, runs the driver in a sandbox and _verify in its own process. count_paths may
# call topological_sort (when order is None): that exercise is checked on its own, so the no-recursion rule
# ignores it.
from calcml import checks, node_graphs, probes


def _exact_paths(graph):
    """The number of paths from every node to the root: a sum over the arrows, each use its own arrow."""
    n = node_graphs.size(graph)
    counts = [0] * n
    counts[-1] = 1
    for k in range(n - 1, len(graph["leaves"]) - 1, -1):
        op, i, j = graph["recipe"][k - len(graph["leaves"])]
        counts[i] += counts[k]
        if op != "tanh":
            counts[j] += counts[k]
    return counts


def _inputs(rng):
    cases = []
    for _ in range(20):
        graph = node_graphs.random_graph(rng, int(rng.integers(1, 5)), int(rng.integers(1, 25)))
        chosen = rng.choice(node_graphs.size(graph), size=min(4, node_graphs.size(graph)), replace=False)
        cases.append({"graph": graph, "nodes": [int(k) for k in chosen]})
    cases.append({"graph": {"leaves": [2.0], "recipe": [["mul", 0, 0]]}, "nodes": [0, 1]})
    # 3**k paths through k diamonds: following them one by one cannot finish (3**64 ~ 3e30), and the exact int
    # shows that the counts were added up, not estimated.
    many = int(rng.integers(64, 80))
    cases.append({"graph": node_graphs.diamonds(many, 0.1), "nodes": [0, 3 * int(rng.integers(1, many)), 3 * many]})
    cases.append({"graph": node_graphs.diamonds(5, 0.1), "nodes": [6]})
    cases.append({"graph": node_graphs.chain(int(rng.integers(5000, 6000)), 0.5), "nodes": [0]})
    return {"cases": cases}


_DRIVER = node_graphs.BUILD + """
result = []
for case in inputs["cases"]:
    nodes = build(case["graph"])
    counts = [count_paths(nodes[-1], nodes[k], list(nodes)) for k in case["nodes"]]
    stranger = count_paths(nodes[-1], ProbeNode(1.0, "stranger"), list(nodes))
    result.append({"counts": counts, "stranger": stranger})
"""


def _verify(inputs, result):
    probes.require(isinstance(result, list) and len(result) == len(inputs["cases"]),
                   "count_paths gave too few results.")
    for case, got in zip(inputs["cases"], result, strict=True):
        graph = case["graph"]
        counts = _exact_paths(graph)
        probes.require(isinstance(got, dict) and isinstance(got.get("counts"), list)
                       and len(got["counts"]) == len(case["nodes"]), "count_paths gave no counts.")
        for k, answer in zip(case["nodes"], got["counts"], strict=True):
            if type(answer) is not int or answer != counts[k]:
                twice = any(op != "tanh" and i == j for op, i, j in graph["recipe"])
                hint = (" Some nodes use one input twice (x·x): each use is its own arrow, so loop over `_prev` "
                        "itself, not a set of it." if twice else "")
                shown = repr(answer) if len(repr(answer)) < 60 else repr(answer)[:57] + "..."
                expected = str(counts[k]) if counts[k] < 10**40 else f"about {float(counts[k]):.3g}"
                raise checks.CheckFailure(
                    f"count_paths from node {k} to the root of a graph of {node_graphs.size(graph)} nodes is {shown}, "
                    f"but there are {expected} paths (an exact int is needed).{hint} Where a node has several users, "
                    "ADD their counts (+=), as backward accumulates gradients.")
        probes.require(got.get("stranger") == 0 and type(got.get("stranger")) is int,
                       f"count_paths of a node that is not in the graph is {got.get('stranger')!r}; it has 0 paths "
                       "to the root.")


probes.exercise(globals(), inputs=_inputs, driver=_DRIVER, verify=_verify, seed=99,
                mechanism={"rule": "no_recursion", "name": "count_paths", "ignore": ["topological_sort"]})
### END HIDDEN TESTS


# %% active="py" wrong_answer="04_computational_graphs-count_paths-solution" mistake="Following every path one by one: exponential in the number of diamonds."
def count_paths(root, node, order=None):
    if root is node:
        return 1
    return sum(count_paths(parent, node) for parent in root._prev)


# %% [raw] wrong_answer="04_computational_graphs-count_paths-solution" mistake="A set of inputs: mul(x, x) counted as one arrow instead of two."
# ### REPLACE
#         for parent in n._prev:
# ### WITH
#         for parent in set(n._prev):
# ### END


# %% [raw] wrong_answer="04_computational_graphs-count_paths-solution" mistake="Overwriting instead of adding where a node has several users."
# ### REPLACE
#             paths[parent] += paths[n]
# ### WITH
#             paths[parent] = paths[n]
# ### END


# %% [markdown]
# ## What you can now do
#
# - Draw an expression as a **DAG** of primitive operations and run its **forward pass**, with each operation
#   recording its **local gradients** while it runs.
# - Run the **backward pass**: seed $\bar L = \partial L/\partial L = 1$ and walk from the output to the inputs,
#   passing **local gradient × upstream gradient** to each input; by hand, with pen and paper, as in exercises 1 to 3,
#   and in code.
# - Put a graph in **topological order** without recursion (depth-first post-order or Kahn's algorithm, in
#   linear time), and explain why the backward pass walks it **in reverse**: a node's gradient must be complete
#   before it is passed on.
# - Explain why a value that **fans out** gets the **sum over all paths** to the output, accumulated with `+=`,
#   and use the same sweep, with every local gradient 1, to count exponentially many paths by dynamic
#   programming.
#
# **Next: unit 5, *A reverse-mode autograd engine, and forward mode*.** These pieces become a `Value` class whose
# `+`, `*` and `tanh` build the graph for you and whose `backward()` is your exercise 6.
