# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Unit 8 · Autograd pitfalls, and how to check a gradient
#
# An autograd engine never complains when it is wrong. A backward rule with a flipped sign, a loss that drags
# every earlier graph along, a tensor changed in place between the forward and the backward pass: each one
# trains a model that is a little worse, or not at all, and prints nothing. This unit is about the tools
# that make such bugs loud.
#
# **Learning objective 7.** Diagnose autograd pitfalls (in-place ops, `detach`, computational-graph leaks),
# and verify gradients numerically. By the end of this unit you will be able to
#
# - check any gradient against central differences, read the relative error against the course's thresholds,
#   and recognise the two false alarms: kinks and float32;
# - see vanishing and exploding gradients on a plot, say which activation and initial scale cause them, and
#   measure the gradient norm layer by layer to name the layer that kills it;
# - find and fix wrong backward rules with a gradient check;
# - use `detach` as a stop-gradient, detect in-place modifications with a version counter (as PyTorch does),
#   write a training loop that neither leaks graphs nor forgets to zero its gradients, and find the parameters
#   that an accidental graph cut leaves without a gradient.
#
# You need central differences (unit 1), backward passes on a graph (units 4 and 5) and the gradient-descent
# update (unit 6). Symbols follow [the course's notation](../../course/notation.md): $L$ is the loss, $D$ the
# depth of a chain, $h$ the step of a finite difference, $\varepsilon$ machine epsilon.

# %%
import contextlib

import numpy as np

from calcml import checks, gradient_flow, graph, numdiff, plots

# %% [markdown]
# ## 1 · Gradient checking, done right
#
# A gradient check compares the gradient your code computes "analytically", $a = \nabla f(x)$, with a
# numerical estimate $e$ built from central differences, one component at a time:
# $e_i = \big(f(x + h u_i) - f(x - h u_i)\big) / 2h$, where $u_i$ is the unit vector along component $i$.
# Three decisions make it trustworthy: how to measure the difference, which step $h$ to use, and where not to
# believe the numbers.
#
# **How to measure.** Absolute differences mean nothing on their own: $10^{-4}$ is a disaster for a gradient
# of size $10^{-3}$ and noise for a gradient of size $10^{6}$. The course measures the difference relative to the
# size of the whole answer, with one definition used by every test (`checks.relative_error`):
#
# $$ \operatorname{relerr}(a, e) = \frac{\max_i |a_i - e_i|}{\max\big(\|a\|_\infty,\ \|e\|_\infty,\ 10^{-6}\big)}. $$
#
# The denominator is shared by all components on purpose. A component whose true value is $0$ comes out of
# central differences as rounding noise, $10^{-13}$ or so; measured on its own scale, that would be a 100%
# error and a false alarm. Measured on the scale of the whole gradient it is about $10^{-13}$, which is what it
# is. (The floor $10^{-6}$ stops a gradient that is itself almost zero from dividing by almost nothing.) A
# consequence: the *worst component* is simply the one with the largest $|a_i - e_i|$.
#
# | relative error | verdict |
# |---|---|
# | $\le$ `checks.RTOL` $= 10^{-5}$ | correct: what is left is finite-difference noise |
# | $10^{-5}$ to `checks.SUSPICIOUS` $= 10^{-2}$ | suspicious: a float32 check, a poor step, or a small bug |
# | $> 10^{-2}$ | wrong: a sign, a missing factor, a transpose, a forgotten term; or a false alarm, a kink between $x \pm h$ |
#
# **A worked example.** $f(x) = \sum_i x_i^2 \sin x_i$ has $\partial f/\partial x_i = 2x_i \sin x_i + x_i^2 \cos x_i$.
# The buggy version below forgets the first term of the product rule.

# %%
def f(x):
    return np.sum(x**2 * np.sin(x))


def grad_f(x):
    return 2 * x * np.sin(x) + x**2 * np.cos(x)


def grad_f_buggy(x):  # the product rule, half done
    return x**2 * np.cos(x)


def verdict(err):
    """The course's verdict for a relative error."""
    if err <= checks.RTOL:
        return "correct"
    return "suspicious" if err <= checks.SUSPICIOUS else "WRONG"


x = np.random.default_rng(0).normal(size=5)
numeric = numdiff.gradient(f, x)
for name, g in [("grad_f", grad_f), ("grad_f_buggy", grad_f_buggy)]:
    err = checks.relative_error(g(x), numeric)
    worst = np.unravel_index(np.argmax(np.abs(g(x) - numeric)), x.shape)  # an index tuple, as Exercise 1 asks
    print(f"{name:13s} relative error {err:8.1e}  worst component {tuple(int(i) for i in worst)}  -> {verdict(err)}")

# %% [markdown]
# The relative error does not care about units. Scale $f$ by $10^{-6}$ or $10^{6}$: the absolute error of the
# *correct* gradient swings over twelve orders of magnitude, the relative error does not move.

# %%
for scale in [1e-6, 1.0, 1e6]:
    e = numdiff.gradient(lambda v, s=scale: s * f(v), x)
    a = scale * grad_f(x)
    print(f"f scaled by {scale:5.0e}:  max |a - e| = {np.max(np.abs(a - e)):8.1e}   "
          f"relative error = {checks.relative_error(a, e):8.1e}")

# %% [markdown]
# ### Choosing the step, and why float32 cannot check a gradient
#
# A central difference makes two errors. Truncation: the Taylor terms it drops, about $h^2 |f'''| / 6$.
# Round-off: $f(x \pm h)$ are each rounded to a relative precision $\varepsilon$, and their difference is divided
# by $2h$, so about $\varepsilon |f| / h$. One falls with $h$, the other grows, and their sum is smallest near
#
# $$ h^\star \approx \varepsilon^{1/3}, \qquad \text{with a best relative error of about } \varepsilon^{2/3}. $$
#
# In float64, $\varepsilon = 2.2\times10^{-16}$: $h^\star \approx 6\times 10^{-6}$ and the error can go down to
# $10^{-11}$ (the usual choice $h = 10^{-6}$ is close). In float32, $\varepsilon = 1.2\times10^{-7}$:
# $h^\star \approx 5\times10^{-3}$, and the formula's *best* error, $\varepsilon^{2/3} \approx 2\times 10^{-5}$,
# sits right on `checks.RTOL`. The plot computes the same central difference of $\sin$ at $x = 1$ in both
# dtypes. Near its $h^\star$ the float32 curve zigzags across the threshold: within a factor 3 of $h^\star$ its
# error ranges from $3\times10^{-7}$ (at $h = 4\times10^{-3}$, a lucky step) to $3\times10^{-5}$. A check that
# passes or fails by the luck of rounding cannot tell a correct gradient from a slightly wrong one, and with the
# float64 habit $h = 10^{-6}$, float32 is off by 0.7%. That is why PyTorch's `torch.autograd.gradcheck` insists
# on double precision.

# %%
ax = gradient_flow.plot_step_size_by_dtype(np.sin, np.cos, 1.0)

# %% [markdown]
# **Rule of thumb:** check gradients in float64, with a step near $\varepsilon^{1/3}$: for $x$ of order 1, an
# $h$ between $10^{-6}$ and $10^{-5}$, where the float64 error above stays below $10^{-9}$. The bottom of the V
# is that wide, so a factor of a few in $h$ does not change the verdict. When the $|x_i|$ are large the step
# must grow with them, as in unit 1: component $i$ moves by $h\max(1,|x_i|)$. That is the contract of
# Exercise 1's `gradient_check`: it scales the `h` it is given (default $10^{-6}$) by $\max(1,|x_i|)$,
# component by component. Left of the dip the curves are noise: a smaller step is not a more accurate one.
#
# ### Kinks: when the numerical gradient is the wrong one
#
# $|x|$ has derivative $1$ at $x = 10^{-7}$. The central difference with $h = 10^{-6}$ evaluates $|x|$ at
# $1.1\times 10^{-6}$ and at $-0.9\times10^{-6}$, on *both sides* of the kink at 0, and averages two slopes:

# %%
x0, h = 1e-7, 1e-6
estimate = (abs(x0 + h) - abs(x0 - h)) / (2 * h)
print(f"central difference: {estimate:.3f}, true derivative: 1, relative error {checks.relative_error(1.0, estimate):.2f}")

# %% [markdown]
# The analytic derivative is right and the check says WRONG: a kink is as loud as a real bug. In a network
# every ReLU pre-activation $z_j = (Wx)_j$ is a kink, and the check can go wrong as soon as a step $\pm h$
# moves one of them across 0. The remedy is to *detect*
# the straddle: a component $i$ of the check is unreliable when moving $x_i$ by $\pm h$ flips the sign of
# some pre-activation. Here one pre-activation is placed $3\times 10^{-7}$ from the kink on purpose:

# %%
rng = np.random.default_rng(8)
W, x = rng.normal(size=(4, 3)), rng.normal(size=3)
W[2, 1] = 0.1  # x_1 moves z_2 only a little
W[2, 0] = (3e-7 - W[2, 1:] @ x[1:]) / x[0]  # puts z_2 = (W x)_2 at 3e-7, just right of the kink


def relu_layer(v):
    return np.sum(np.maximum(W @ v, 0.0))


def relu_layer_grad(v):
    return W.T @ (W @ v > 0)


h = 1e-6
numeric = numdiff.gradient(relu_layer, x, h=h, order=2)
analytic = relu_layer_grad(x)
print(f"relative error {checks.relative_error(analytic, numeric):.1e} -> {verdict(checks.relative_error(analytic, numeric))}")
reliable = np.ones(x.size, dtype=bool)
for i in range(x.size):
    step = h * np.eye(x.size)[i]
    reliable[i] = np.all(np.sign(W @ (x + step)) == np.sign(W @ (x - step)))
    print(f"  component {i}: analytic {analytic[i]:+.6f}  numeric {numeric[i]:+.6f}  "
          f"x_{i} ± h crosses a kink: {not reliable[i]}")
print(f"relative error over the reliable components: {checks.relative_error(analytic[reliable], numeric[reliable]):.1e}")

# %% [markdown]
# The flagged components, and only those, disagree. (Component 1 moves $z_2$ by only $0.1h$, not enough to
# cross.) Skip the flagged ones, or re-check at a nudged $x$, and the rest agree to $10^{-11}$. A gradient check
# that knows where its function has kinks does not cry wolf.
#
# ## 2 · Vanishing and exploding gradients
#
# A gradient check confirms that gradients are *correct*. It says nothing about whether they are *useful*. In a
# chain of $D$ layers $a_l = \phi(z_l)$, $z_l = W_l a_{l-1}$ ($l = 1, \dots, D$, with the input $a_0 = x$), the
# chain rule sends the gradient of the loss $L$, $g_l = \partial L/\partial a_l$, back through one local
# Jacobian $\operatorname{diag}(\phi'(z_l))\,W_l$ per layer:
#
# $$ g_{l-1} = W_l^\top\big(\phi'(z_l) \odot g_l\big), \qquad \|g_0\| \approx \Big(\text{gain}\cdot\sqrt{\mathbb E[\phi'(z)^2]}\Big)^{D}\,\|g_D\|, $$
#
# for weights drawn with standard deviation $\text{gain}/\sqrt{n}$. A product of $D$ factors is a power: unless the
# factor is close to 1, the gradient reaching the first layers is astronomically small (**vanishing**) or large
# (**exploding**), and those layers learn nothing, or diverge.
#
# - **Sigmoid**: $\sigma' = \sigma(1-\sigma) \le 1/4$. At gain 1 each layer divides the gradient by about 4: after 20
#   layers, by $4^{20} \approx 10^{12}$.
# - **tanh**: $\tanh'(0) = 1$, so gain 1 is nearly neutral. Below it the gradient shrinks geometrically; above it,
#   it grows, though more slowly than the gain alone suggests, because large inputs saturate the units.
# - **ReLU**: $\phi' \in \{0, 1\}$ and half the units are active, so $\mathbb E[\phi'^2] = 1/2$ and the factor is
#   $\text{gain}/\sqrt 2$. He initialisation, gain $\sqrt2$, keeps the norm of the same order at every depth of
#   the explorer below (up to 60 layers).
#
# `calcml.gradient_flow` measures this with plain matrix products, no autograd: random weights, a random unit
# gradient at the output, and the norm at every layer on the way back.

# %%
ax = gradient_flow.plot_gradient_norms([("sigmoid", 1.0), ("tanh", 1.0), ("relu", 1.0), ("relu", np.sqrt(2))],
                                       depth=30)

# %% [markdown]
# Now move the controls. The readout is the ratio of the gradient norm at the input to the one at the output.
# Can a larger gain rescue a sigmoid chain of depth 20? Push the gain up: near 13.7 the ratio comes back to 1.
# Look at what it took. The pre-activations are so large that most units are saturated, their outputs within
# 0.03 of 0 or 1: over the 20 layers the median $\sigma'(z)$ is 0.002, a hundredth of its peak $1/4$, and only
# the units with $z$ near 0 pass the gradient on, through weights 14 times larger than at gain 1. The balance is
# a knife edge, too: from gain 13.7 to 15 the ratio grows 40-fold. Saturation bought that ratio; it is no cure.
# How deep can a tanh chain at gain 1 go? What happens to ReLU at gain 2, and at 1.3?

# %%
gradient_flow.gradient_flow_explorer(depth=20, gain=1.0, activation="sigmoid")

# %% [markdown]
# ## 3 · A small engine to break
#
# The remaining pitfalls live inside autograd engines, so we need one. Here is a small one, in the style of
# unit 5 but working on NumPy arrays. Read it once; it is not graded. Three details matter for this chapter:
#
# - each op is a pair in `RULES`: a forward function of arrays, and a **backward rule**
#   `backward(inputs, out, upstream)` that returns one gradient per input (`inputs` is a tuple of the input
#   arrays, `out` the output array, `upstream` $= \partial L/\partial\,\text{out}$);
# - gradients **accumulate**: a tensor used twice receives the sum of both contributions, and a leaf keeps
#   adding across calls of `backward()` until it is zeroed;
# - every tensor has a **version counter** `_version`, bumped by `add_`, `mul_` and every assignment to `.data`
#   (`t.data = v`, `t.data -= v`) but blind to a write *into* the array (`t.data[0] = 5`, `np.copyto(t.data, v)`,
#   a change through another tensor or array sharing the memory); and every op hands its inputs and output to
#   `HOOKS["save"]` at forward time and gets their arrays back from `HOOKS["unpack"]` at backward time. The
#   hooks below do nothing special (yet).

# %%
RULES = {}  # op name -> (forward(*arrays, **params), backward(inputs, out, upstream, **params) -> one grad per input)
HOOKS = {"save": lambda *tensors: tensors,                     # at forward time: keep what backward will need
         "unpack": lambda saved, op: [t.data for t in saved]}  # at backward time: the arrays to use


class Tensor:
    """A node of a graph: `data`, `grad`, its inputs `_prev`, the op `_op` that made it, and a `_version`."""

    __array_ufunc__ = None  # so that `array * tensor` calls Tensor.__rmul__ (NumPy would loop over the array)

    def __init__(self, data, _prev=(), _op="", label=""):
        self._data = np.asarray(data, dtype=float)  # wraps a float array without copying it
        self.grad = np.zeros_like(self._data)
        self._prev, self._op, self.label = tuple(_prev), _op, label
        self._backward = lambda: None
        self._version = 0  # counts the in-place changes of data

    @property
    def data(self):
        return self._data

    @data.setter
    def data(self, value):  # `t.data = v` and `t.data -= v` change t in place
        self._data = np.asarray(value, dtype=float)
        self._version += 1

    def add_(self, other):  # in place, like torch's add_
        self.data += other.data if isinstance(other, Tensor) else other
        return self

    def mul_(self, other):  # in place, like torch's mul_
        self.data *= other.data if isinstance(other, Tensor) else other
        return self

    def zero_grad(self):
        self.grad = np.zeros_like(self._data)

    def __repr__(self):
        return f"Tensor({self._data}, grad={self.grad}" + (f", op='{self._op}')" if self._op else ")")

    def __add__(self, other):
        return apply("add", self, other)

    def __radd__(self, other):
        return apply("add", other, self)

    def __sub__(self, other):
        return apply("sub", self, other)

    def __rsub__(self, other):
        return apply("sub", other, self)

    def __neg__(self):
        return apply("neg", self)

    def __mul__(self, other):
        return apply("mul", self, other)

    def __rmul__(self, other):
        return apply("mul", other, self)

    def __pow__(self, p):  # p is a number
        return apply("pow", self, p=p)

    def exp(self):
        return apply("exp", self)

    def relu(self):
        return apply("relu", self)

    def tanh(self):
        return apply("tanh", self)

    def sigmoid(self):
        return apply("sigmoid", self)

    def sum(self):
        return apply("sum", self)

    def _accumulate(self, g):
        self.grad = self.grad + g  # a tensor used twice receives both contributions

    def backward(self):
        order = topological_order(self)
        for node in order:
            if node._prev:  # inner nodes start from zero; leaves keep what they had
                node.grad = np.zeros_like(node.data)
        self.grad = np.ones_like(self.data)
        for node in reversed(order):
            node._backward()


def apply(op, *args, **params):
    """Run `op` forward on tensors (or numbers), and record how to send the gradient back."""
    forward, backward = RULES[op]
    inputs = [a if isinstance(a, Tensor) else Tensor(a) for a in args]
    out = Tensor(forward(*[t.data for t in inputs], **params), inputs, op)
    saved = HOOKS["save"](*inputs, out)

    def _backward():
        *arrays, out_array = HOOKS["unpack"](saved, op)
        grads = backward(tuple(arrays), out_array, out.grad, **params)
        for t, g in zip(inputs, grads, strict=True):
            t._accumulate(unbroadcast(g, t.data.shape))

    out._backward = _backward
    return out


def unbroadcast(g, shape):
    """Sum `g` down to `shape` (undoing NumPy's broadcasting), or spread a scalar up to it."""
    g = np.asarray(g, dtype=float)
    while g.ndim > len(shape):
        g = g.sum(axis=0)
    for axis, n in enumerate(shape):
        if n == 1 and g.ndim == len(shape) and g.shape[axis] != 1:
            g = g.sum(axis=axis, keepdims=True)
    return np.broadcast_to(g, shape).copy()


def topological_order(root):
    """Every node that `root` depends on, each after its inputs (a loop, not recursion: deep graphs are fine)."""
    order, seen, stack = [], set(), [(root, False)]
    while stack:
        node, inputs_done = stack.pop()
        if inputs_done:
            order.append(node)
        elif id(node) not in seen:
            seen.add(id(node))
            stack.append((node, True))
            stack.extend((parent, False) for parent in node._prev)
    return order


def count_nodes(root):
    """How many tensors the graph of `root` keeps alive."""
    return len(topological_order(root))


RULES.update({
    "add": (np.add, lambda inputs, out, up: (up, up)),
    "sub": (np.subtract, lambda inputs, out, up: (up, -up)),
    "neg": (np.negative, lambda inputs, out, up: (-up,)),
    "pow": (lambda a, p: a**p, lambda inputs, out, up, p: (up * p * inputs[0] ** (p - 1),)),
    "exp": (np.exp, lambda inputs, out, up: (up * out,)),
    "relu": (lambda a: np.maximum(a, 0.0), lambda inputs, out, up: (up * (inputs[0] > 0),)),
    "sum": (np.sum, lambda inputs, out, up: (up,)),
})


@contextlib.contextmanager
def using_rules(**backwards):
    """Within a `with` block, use other backward rules, by op name: `with using_rules(mul=my_rule): ...`."""
    old = {op: RULES[op] for op in backwards}
    RULES.update({op: (RULES[op][0], rule) for op, rule in backwards.items()})
    try:
        yield
    finally:
        RULES.update(old)


@contextlib.contextmanager
def using_hooks(save, unpack):
    """Within a `with` block, use other save/unpack hooks."""
    old = dict(HOOKS)
    HOOKS.update(save=save, unpack=unpack)
    try:
        yield
    finally:
        HOOKS.update(old)


# %% [markdown]
# A first test drive: a gradient check of the engine on ops whose rules are right, and the graph it built
# (drawn by `calcml.graph`; with arrays, the boxes show shapes rather than numbers).

# %%
x0 = np.array([0.5, -1.0, 2.0])
x = Tensor(x0.copy(), label="x")
loss = ((x - 1.0) ** 2 + (-x).exp() + x.relu()).sum()
loss.label = "loss"
loss.backward()
numeric = numdiff.gradient(lambda v: np.sum((v - 1.0) ** 2 + np.exp(-v) + np.maximum(v, 0.0)), x0)
print(f"engine gradient {x.grad}, relative error {checks.relative_error(x.grad, numeric):.1e}")
ax = graph.draw(loss)

# %% [markdown]
# ## 4 · Three pitfalls of the training loop
#
# ### Pitfall 1: forgetting to zero the gradients
#
# Leaves *accumulate*: `backward()` adds to `w.grad`, it does not overwrite it. That is a feature (a weight used
# by several losses, or gradients summed over several micro-batches), and a trap: a loop that never zeroes sends
# the sum of all past gradients to the optimiser. Two identical backward passes double the gradient:

# %%
w = Tensor(np.array([1.0, -2.0]), label="w")
for step in range(3):
    loss = ((w - 3.0) ** 2).sum()
    loss.backward()
    print(f"after backward #{step + 1}: w.grad = {w.grad}   (true gradient 2(w - 3) = {2 * (w.data - 3.0)})")
w.zero_grad()  # PyTorch: optimizer.zero_grad(), or w.grad = None
loss = ((w - 3.0) ** 2).sum()
loss.backward()
print(f"zeroed first:        w.grad = {w.grad}")

# %% [markdown]
# ### Pitfall 2: graph leaks
#
# A tensor keeps its inputs alive through `_prev`, and they keep theirs. So a running total written as
# `total_loss = total_loss + loss` is not a number: it is a tensor whose graph holds *every* iteration's graph,
# weights, intermediate results and all. Memory grows with every step, and a long enough run ends in an
# out-of-memory error (in PyTorch, usually "CUDA out of memory" on the GPU). The fix is to add the *value*:
# `total_loss += loss.item()` in PyTorch, `float(loss.data)` here. Count the nodes each total keeps alive:

# %%
def leaky_loop(steps):
    w = Tensor(2.0, label="w")
    total_loss = 0.0
    for i in range(steps):
        loss = (w - 3.0) ** 2
        loss.label = f"loss {i}"
        w.zero_grad()
        loss.backward()
        w.data -= 0.1 * w.grad
        total_loss = total_loss + loss  # the leak: a Tensor that remembers every step
    total_loss.label = "total_loss"
    return total_loss


def fixed_loop(steps):
    w = Tensor(2.0, label="w")
    total_loss = 0.0
    for _ in range(steps):
        loss = (w - 3.0) ** 2
        w.zero_grad()
        loss.backward()
        w.data -= 0.1 * w.grad
        total_loss += float(loss.data)  # a number: this step's graph can be freed
    return total_loss


def nodes_kept(total):
    return count_nodes(total) if isinstance(total, Tensor) else 0


steps = [1, 10, 25, 50, 100, 150, 200]
ax = plots.new_axes("training steps", "tensors kept alive by total_loss", "A graph leak grows with every step")
ax.plot(steps, [nodes_kept(leaky_loop(n)) for n in steps], "o-", label="total_loss = total_loss + loss")
ax.plot(steps, [nodes_kept(fixed_loop(n)) for n in steps], "s-", label="total_loss += float(loss.data)  (a float)")
legend = ax.legend()

# %% [markdown]
# Three steps of the leaky loop already hold three copies of the loss graph, chained by the additions:

# %%
ax = graph.draw(leaky_loop(3), title="total_loss after 3 steps of the leaky loop")

# %% [markdown]
# ### Pitfall 3: changing a tensor in place after the forward pass
#
# The backward rule of $y = x^2$ needs $x$: $\partial y/\partial x = 2x$. The engine does not copy $x$ at forward
# time (copying every saved array costs memory and time); it keeps the tensor and reads its data at backward time.
# Change the data in place before `backward()`, and the gradient is computed at the wrong point:

# %%
x = Tensor(np.array([1.0, 2.0, 3.0]))
loss = (x**2).sum()
x.add_(1.0)  # say, an optimiser step or a normalisation, in the wrong place
loss.backward()
print(f"x.grad = {x.grad}, but the loss was computed at x = [1, 2, 3], where the gradient is [2, 4, 6]")
print(f"x._version = {x._version}: the engine knows x changed, and nobody asked")
y = Tensor(np.array([1.0, 2.0, 3.0]))
loss = (y**2).sum()
y.data[0] = 2.0  # a write INTO the array: the counter does not see it
loss.backward()
print(f"y.grad = {y.grad}, y._version = {y._version}: a wrong gradient, and not even the counter knows")

# %% [markdown]
# No error, no warning, a wrong gradient. PyTorch refuses instead. (It forbids changing a leaf that requires a
# gradient in place at all; for any other tensor the check comes at `backward()`.)
#
# ```
# RuntimeError: one of the variables needed for gradient computation has been modified by an inplace
# operation: [torch.FloatTensor [3]], which is output 0 of ..., is at version 1; expected version 0 instead.
# ```
#
# Its mechanism is the version counter you saw above. Every tensor counts its in-place changes; every op saves,
# with each tensor its backward needs, the version that tensor had at forward time (`ctx.save_for_backward`);
# and `backward` compares the saved version with the current one before using the data. Exercise 4 builds that
# check into our engine.
#
# ### `detach`: the stop-gradient
#
# Sometimes a value should be used as a constant even though it was computed from parameters: a regression
# *target* computed by the same network (temporal-difference learning, the "target network" of DQN, the
# teacher branch of BYOL and SimSiam), or a value you only want to log. `t.detach()` returns a new **leaf**: the
# same data (no copy), no `_prev`, no `_op`. The graph stops there, so no gradient flows back through it. The
# pitfall is the other direction: a `detach` (or a `.data`, or a trip through NumPy) slipped into a model by
# accident cuts the graph *silently*, and the layers before it stop learning. A gradient check finds it at once.
#
# ## 5 · The bug zoo
#
# The engine has no rules yet for `mul`, `tanh` and `sigmoid`. Here are three, each with a classic bug, plus a
# bug in an engine's bookkeeping (a tensor that overwrites its gradient instead of accumulating it). Their
# forward passes are right; only their gradients are wrong. Your first exercise is the tool that finds them.

# %%
def _sigmoid(a):
    return np.exp(-np.logaddexp(0.0, -a))  # 1 / (1 + exp(-a)), without overflow


def mul_backward_buggy(inputs, out, upstream):
    return upstream, upstream  # forgot to multiply by the other operand


def tanh_backward_buggy(inputs, out, upstream):
    (x,) = inputs
    return (upstream * (1 - x**2),)  # 1 - x² where 1 - tanh(x)² belongs


def sigmoid_backward_buggy(inputs, out, upstream):
    return (-upstream * out * (1 - out),)  # the sign


RULES.update({"mul": (np.multiply, mul_backward_buggy), "tanh": (np.tanh, tanh_backward_buggy),
              "sigmoid": (_sigmoid, sigmoid_backward_buggy)})


class OverwritingTensor(Tensor):
    """A buggy engine's leaf: it keeps only the last gradient sent to it."""

    def _accumulate(self, g):
        self.grad = g  # = where += belongs


def as_functions(build, leaf=Tensor):
    """From `build(tensor) -> scalar tensor`, make `f(x) -> float` and `grad_f(x) -> array` for a gradient check."""
    def f(x):
        return float(build(leaf(np.array(x, dtype=float))).data)

    def grad_f(x):
        t = leaf(np.array(x, dtype=float))
        build(t).backward()
        return t.grad

    return f, grad_f


c = np.random.default_rng(5).normal(size=5)
ZOO = {
    "(c * x).sum()": (lambda t: (c * t).sum(), Tensor),
    "(x.tanh() ** 2).sum()": (lambda t: (t.tanh() ** 2).sum(), Tensor),
    "(x.sigmoid() - c).sum()": (lambda t: (t.sigmoid() - c).sum(), Tensor),
    "(x ** 2 + x.exp()).sum(), overwriting": (lambda t: (t**2 + t.exp()).sum(), OverwritingTensor),
    "(x ** 3 - x.relu()).sum()": (lambda t: (t**3 - t.relu()).sum(), Tensor),
}

# %% [markdown]
# ## Exercises
#
# ### Exercise 1 · A gradient checker (3 points)
#
# Write `gradient_check(f, grad_f, x, h)`. Compute the numerical gradient yourself with central differences,
# component by component (`x` may be a vector or a matrix: `np.ndindex(x.shape)` walks over every index), with
# the step of the rule of thumb, $h\max(1, |x_i|)$ for component $i$, and compare it with `grad_f(x)` using the
# course's relative error from section 1. Return the error and the index of the worst component, so that the
# verdict says *where* to look. Leave `x` unchanged: work on copies.

# %% nbgrader={"grade": false, "grade_id": "08_pitfalls-gradient_check-solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
def gradient_check(f, grad_f, x, h=1e-6):
    """Compare an analytic gradient with central differences.

    Args:
        f: A function from a float array shaped like `x` to a float.
        grad_f: The gradient to check: a function from an array shaped like `x` to an array of that shape.
        x: The point, a float array of any shape (a vector, a matrix, ...). It must be left unchanged.
        h: The relative step, a float > 0: component i of the numerical gradient is
            (f(x + s_i u_i) - f(x - s_i u_i)) / (2 s_i) with the step s_i = h * max(1, |x_i|), where u_i is the
            array of x's shape with a 1 at index i and 0 elsewhere.

    Returns:
        A pair (error, index):
        error: the relative error max_i |a_i - e_i| / max(max_i |a_i|, max_i |e_i|, 1e-6) of the analytic
            gradient a = grad_f(x) against the numerical one e, as a float;
        index: the index of the worst component (the largest |a_i - e_i|), as a tuple of ints with one entry
            per axis of x, for example (3,) for a vector or (1, 2) for a matrix.
    """
    ### BEGIN SOLUTION
    x = np.array(x, dtype=float)  # a copy: the caller's x is never touched
    analytic = np.asarray(grad_f(x.copy()), dtype=float)
    numeric = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        step = np.zeros_like(x)
        step[i] = h * max(1.0, abs(x[i]))
        numeric[i] = (f(x + step) - f(x - step)) / (2 * step[i])
    difference = np.abs(analytic - numeric)
    scale = max(np.max(np.abs(analytic)), np.max(np.abs(numeric)), 1e-6)
    worst = np.unravel_index(np.argmax(difference), x.shape)
    return float(difference[worst] / scale), tuple(int(i) for i in worst)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "08_pitfalls-gradient_check", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
def _index(worst):
    return tuple(int(i) for i in np.atleast_1d(worst))


def _check_error(err, expected, where, hint, rtol=checks.RTOL):
    """The reported error must be one float, equal to the course's relative error."""
    assert np.ndim(err) == 0 and np.isfinite(err), f"The error must be one finite float, not {err!r} {where}."
    assert checks.relative_error(float(err), expected) <= rtol, (
        f"Your gradient_check reports a relative error of {float(err):.6g} {where}, but the course's definition "
        f"gives {expected:.6g}. {hint}")


def _problem(rng, shape):
    """A smooth f, its gradient, and the same gradient with a bug at a prominent index (returned too)."""
    A, B, C = rng.normal(size=(3, *shape))

    def f(v):
        return float(np.sum(B * np.sin(A * v)) + 0.5 * np.sum(C * v**2))

    def grad(v):
        return A * B * np.cos(A * v) + C * v

    x = rng.normal(size=shape)
    g = grad(x)
    candidates = np.argwhere(np.abs(g) > 0.5 * np.max(np.abs(g)))
    bug = tuple(int(i) for i in candidates[rng.integers(len(candidates))])
    factor = rng.choice([1.5, -1.0, 0.6])

    def buggy(v):
        out = grad(v)
        out[bug] *= factor
        return out

    return f, grad, buggy, x, bug


rng = np.random.default_rng(81)
for shape in [(6,), (3, 4)]:  # a vector, then a matrix: the index is a tuple with one entry per axis
    f1, g1, g1_bug, x1, bug1 = _problem(rng, shape)
    err, worst = gradient_check(f1, g1, x1)
    assert err < 1e-7, (f"Your gradient_check reports a relative error of {err:.2e} for a CORRECT gradient at an x "
                        f"of shape {shape}; central differences with h = 1e-6 agree to about 1e-9. Forward "
                        "differences (f(x+h) - f(x)) / h only reach about 1e-6: use (f(x + h u_i) - f(x - h u_i)) "
                        "/ (2h).")
    x_before = x1.copy()
    err, worst = gradient_check(f1, g1_bug, x1)
    assert np.array_equal(x1, x_before), ("gradient_check changed the caller's x (x + h - 2h + h is not always x "
                                          "in floating point); perturb a copy, not x itself.")
    expected = checks.relative_error(g1_bug(x1), numdiff.gradient(f1, x1))
    _check_error(err, expected, f"for a gradient with a bug at index {bug1}",
                 "Divide the largest |a_i - e_i| by max(max|a|, max|e|, 1e-6), the same scale for all i.")
    assert _index(worst) == bug1 and len(np.atleast_1d(worst)) == len(shape), (
        f"The bug is at index {bug1} of an x of shape {shape}, but your gradient_check points at {worst!r}. The "
        "worst component is the one with the largest |a_i - e_i|; return its index with np.unravel_index, as a "
        "tuple with one entry per axis.")
err, _ = gradient_check(lambda v: 3.0, lambda v: np.zeros_like(v), np.ones(3))
assert np.ndim(err) == 0 and err == 0.0, (f"For f = 3, whose gradient is exactly 0, gradient_check reports {err!r}, "
                                          "not 0. Without the floor 1e-6 in the denominator it divides 0 by 0.")
### BEGIN HIDDEN TESTS
# One definition of the hidden checks (calcml.probes): the kernel runs them here on a fixed seed; the grader
# draws each student's own inputs, runs the driver in a sandbox and _verify in its own process. The driver reports
# raw data only (numbers, the index returned, x after the calls); every verdict is made in _verify, against
# numdiff references and identities on plain NumPy functions. Twelve problems on vectors and matrices, with a bug
# at a prominent index; a gradient with a component whose true derivative is ~0 (rounding noise there must not be
# blamed); gradients that are exactly 0, in part or in whole, or tiny (the floor 1e-6 of the denominator); and
# cubics sum(c x³)/3, whose central difference is c (x² + s²/3) exactly, at points with |x_i| > 1 and < 1 (the
# step s_i = h max(1, |x_i|), neither absolute nor purely relative).
import numpy as np

from calcml import checks, in_place, numdiff, probes


def _draw_problem(rng, shape):
    A, B, C = rng.normal(size=(3, *shape))
    x = rng.normal(size=shape)
    g = A * B * np.cos(A * x) + C * x
    candidates = np.argwhere(np.abs(g) > 0.5 * np.max(np.abs(g)))
    bug = [int(i) for i in candidates[rng.integers(len(candidates))]]
    return {"A": A, "B": B, "C": C, "x": x, "bug": bug, "factor": float(rng.choice([1.5, -1.0, 0.6]))}


def _inputs(rng):
    shapes = [[(int(rng.integers(2, 9)),), (int(rng.integers(2, 5)), int(rng.integers(2, 5)))][k % 2]
              for k in range(12)]
    A, B = rng.normal(size=(2, 7))
    flat = int(rng.integers(7))
    A[flat], B[flat] = 0.0, 0.0
    zeros = rng.choice(6, size=2, replace=False)
    Z = rng.normal(size=6)
    Z[zeros] = 0.0  # exact zero components: sum(Z sin x) does not depend on those x_i at all
    sign = rng.choice([-1.0, 1.0], size=2)
    cubic_big = {"c": [1.0, 1.0], "x": [float(sign[0] * rng.uniform(3.0, 8.0)), float(rng.uniform(-0.5, 0.5))]}
    cubic_small = {"c": [float(rng.uniform(80.0, 120.0)), 1.0],
                   "x": [float(sign[1] * rng.uniform(0.1, 0.3)), float(rng.uniform(2.0, 3.0))]}
    return {"problems": [_draw_problem(rng, s) for s in shapes],
            "flat": {"A": A, "B": B, "x": rng.normal(size=7), "flat": flat},
            "zero_parts": {"Z": Z, "x": rng.normal(size=6), "zeros": [int(i) for i in zeros]},
            "constant": {"x": rng.normal(size=int(rng.integers(2, 6))), "value": float(rng.normal())},
            "tiny": {"B": rng.normal(size=4), "x": rng.normal(size=4), "bug": int(rng.integers(4))},
            "cubics": [cubic_big, cubic_small]}


_DRIVER = """
import numpy as np

result = {"problems": []}
for p in inputs["problems"]:
    A, B, C = (np.array(p[k], dtype=float) for k in ("A", "B", "C"))
    bug, factor = tuple(p["bug"]), p["factor"]

    def f(v, A=A, B=B, C=C):
        return float(np.sum(B * np.sin(A * v)) + 0.5 * np.sum(C * v**2))

    def grad(v, A=A, B=B, C=C):
        return A * B * np.cos(A * v) + C * v

    def buggy(v, grad=grad, bug=bug, factor=factor):
        out = grad(v)
        out[bug] *= factor
        return out

    x = np.array(p["x"], dtype=float)
    err_ok, _ = gradient_check(f, grad, x)
    err_bug, worst = gradient_check(f, buggy, x)
    err_big, _ = gradient_check(f, grad, x, h=1e-2)
    result["problems"].append({"ok": err_ok, "bug": err_bug, "index": worst, "big": err_big, "x_after": x})
q = inputs["flat"]
A, B, k = np.array(q["A"]), np.array(q["B"]), q["flat"]
tiny = np.eye(7)[k] * 1e-12

def f3(v):
    return float(np.sum(B * np.exp(A * v)) + 1e-12 * v[k])

def g3(v):
    return A * B * np.exp(A * v) + tiny

x3 = np.array(q["x"])
worst_true = int(np.argmax(np.abs(g3(x3))))

def g3_bug(v):
    out = g3(v)
    out[worst_true] *= 1.5
    return out

err, worst = gradient_check(f3, g3_bug, x3)
result["flat"] = {"err": err, "index": worst}
Z = np.array(inputs["zero_parts"]["Z"])
result["zero_parts"] = gradient_check(lambda v: float(np.sum(Z * np.sin(v))), lambda v: Z * np.cos(v),
                                      np.array(inputs["zero_parts"]["x"]))[0]
c0 = inputs["constant"]["value"]
result["constant"] = gradient_check(lambda v: c0, lambda v: np.zeros_like(v), np.array(inputs["constant"]["x"]))[0]
Bt, bt = np.array(inputs["tiny"]["B"]), inputs["tiny"]["bug"]

def tiny_bug(v):
    out = 1e-9 * Bt * np.cos(v)
    out[bt] *= 1.5
    return out

result["tiny"] = gradient_check(lambda v: float(1e-9 * np.sum(Bt * np.sin(v))), tiny_bug,
                                np.array(inputs["tiny"]["x"]))[0]
result["cubics"] = []
for cubic in inputs["cubics"]:
    c = np.array(cubic["c"])
    result["cubics"].append(gradient_check(lambda v, c=c: float(np.sum(c * v**3) / 3), lambda v, c=c: c * v**2,
                                           np.array(cubic["x"]), h=1e-2)[0])
"""


def _gradients(p):
    A, B, C = (np.array(p[k], dtype=float) for k in ("A", "B", "C"))
    bug, factor = tuple(p["bug"]), p["factor"]

    def f(v):
        return float(np.sum(B * np.sin(A * v)) + 0.5 * np.sum(C * v**2))

    def grad(v):
        return A * B * np.cos(A * v) + C * v

    def buggy(v):
        out = grad(v)
        out[bug] *= factor
        return out

    return f, grad, buggy


def _error(got, expected, where, hint, rtol=checks.RTOL):
    probes.require(type(got) in (int, float) and bool(np.isfinite(got)),
                   f"The error {where} must be one finite float, not {got!r}. {hint}")
    probes.require(checks.relative_error(float(got), expected) <= rtol,
                   f"Your gradient_check reports a relative error of {float(got):.6g} {where}, but the course's "
                   f"definition gives {expected:.6g}. {hint}")


def _index_list(raw):
    """The index the student's gradient_check returned (raw data), as a list of ints: an int is a 1-D index."""
    if type(raw) is int:
        return [raw]
    if isinstance(raw, list) and all(type(i) is int for i in raw):
        return raw
    return None


def _scaled_central(f, x, h):
    """The central difference with the contract's step h max(1, |x_i|), one component at a time (numdiff's
    second-order stencil along each axis)."""
    out = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        unit = np.zeros_like(x)
        unit[i] = 1.0
        out[i] = numdiff.derivative(lambda t, unit=unit: f(x + t * unit), 0.0, h=h * max(1.0, abs(x[i])), order=2)
    return out


_FLOOR = "Divide by max(max|a|, max|e|, 1e-6): the floor 1e-6 keeps a gradient that is 0, or tiny, from dividing by 0."


def _verify(inputs, result):
    probes.require(isinstance(result, dict) and isinstance(result.get("problems"), list)
                   and len(result["problems"]) == len(inputs["problems"]), "gradient_check gave too few results.")
    for p, got in zip(inputs["problems"], result["problems"], strict=True):
        f, grad, buggy = _gradients(p)
        x = np.array(p["x"], dtype=float)
        where = f"for x of shape {x.shape}"
        ok = got.get("ok")
        probes.require(type(ok) in (int, float), f"The error {where} must be a single float, not {ok!r}.")
        probes.require(bool(ok < 1e-7),
                       f"Your gradient_check reports a relative error of {ok!r} for a CORRECT gradient {where}; "
                       "central differences with h = 1e-6 agree to about 1e-9. Use (f(x + s u_i) - f(x - s u_i)) / "
                       "(2s).")
        probes.require(in_place.unchanged(got.get("x_after"), x),
                       "gradient_check changed the caller's x; perturb a copy, not x itself.")
        _error(got.get("bug"), checks.relative_error(buggy(x), numdiff.gradient(f, x)),
               f"{where} with a bug at {tuple(p['bug'])}",
               "Divide the largest |a_i - e_i| by max(max|a|, max|e|, 1e-6), the same scale for every component.")
        index = got.get("index")
        probes.require(_index_list(index) == p["bug"] and (x.ndim == 1 or isinstance(index, list)),
                       f"The bug is at index {tuple(p['bug'])}, but your gradient_check points at {got.get('index')} "
                       f"{where}. Return the index of the largest |a_i - e_i| with np.unravel_index, as a tuple.")
        _error(got.get("big"), checks.relative_error(grad(x), _scaled_central(f, x, 1e-2)),
               f"{where} with h = 1e-2", "Use the step h max(1, |x_i|), with the h that is passed in.", rtol=1e-3)
    q = inputs["flat"]
    A, B, k = np.array(q["A"]), np.array(q["B"]), q["flat"]
    x3 = np.array(q["x"])

    def f3(v):
        return float(np.sum(B * np.exp(A * v)) + 1e-12 * v[k])

    g = A * B * np.exp(A * x3) + np.eye(7)[k] * 1e-12
    worst = int(np.argmax(np.abs(g)))
    g_bug = g.copy()
    g_bug[worst] *= 1.5
    got = result.get("flat")
    probes.require(isinstance(got, dict), "gradient_check gave no result.")
    _error(got.get("err"), checks.relative_error(g_bug, numdiff.gradient(f3, x3)),
           "for a gradient with a component whose derivative is 1e-12",
           "Do not divide each component by its own size: use one scale for the whole gradient.")
    probes.require(_index_list(got.get("index")) == [worst],
                   f"The bug is at index ({worst},), but your gradient_check blames {got.get('index')}, where the "
                   "true derivative is 1e-12 and only rounding noise remains.")
    zp = inputs["zero_parts"]
    xz = np.array(zp["x"])
    probes.require(type(result.get("zero_parts")) in (int, float) and bool(np.isfinite(result["zero_parts"]))
                   and bool(result["zero_parts"] < 1e-7),
                   f"For a CORRECT gradient with exact zeros at components {zp['zeros']}, your gradient_check reports "
                   f"{result.get('zero_parts')!r}. Measure every component on the scale of the whole gradient.")
    _error(result.get("constant"), checks.relative_error(np.zeros_like(xz), numdiff.gradient(lambda v: 0.0, xz)),
           "for a constant f, whose gradient is exactly 0 (and so is its central difference)", _FLOOR)
    t = inputs["tiny"]
    Bt, xt = np.array(t["B"]), np.array(t["x"])
    tiny_bug = 1e-9 * Bt * np.cos(xt)
    tiny_bug[t["bug"]] *= 1.5
    _error(result.get("tiny"),
           checks.relative_error(tiny_bug, numdiff.gradient(lambda v: float(1e-9 * np.sum(Bt * np.sin(v))), xt)),
           "for a tiny gradient (of size 1e-9) with a bug", _FLOOR, rtol=1e-3)
    cubics = result.get("cubics")
    probes.require(isinstance(cubics, list) and len(cubics) == 2, "gradient_check gave too few results.")
    for cubic, got, text in zip(inputs["cubics"], cubics, ("|x_0| > 1", "|x_0| < 1"), strict=True):
        c, x = np.array(cubic["c"]), np.array(cubic["x"])
        s = 1e-2 * np.maximum(1.0, np.abs(x))
        # The identity ((x + s)³ - (x - s)³) / (6s) = x² + s²/3: the truncation error of the central difference.
        _error(got, checks.relative_error(c * x**2, c * (x**2 + s**2 / 3)),
               f"for sum(c x³)/3 at x = {np.round(x, 3).tolist()} with h = 1e-2 ({text})",
               "Component i moves by s_i = h max(1, |x_i|): not by h alone (too small a step where |x_i| is large), "
               "nor by h |x_i| (too small where |x_i| < 1).", rtol=1e-6)


probes.exercise(globals(), inputs=_inputs, driver=_DRIVER, verify=_verify, seed=811)
### END HIDDEN TESTS


# %% [raw] wrong_answer="08_pitfalls-gradient_check-solution" mistake="Forward differences: an O(h) error of about 1e-6 even for a correct gradient."
# ### REPLACE
#     for i in np.ndindex(x.shape):
# ### WITH
#     fx = f(x)
#     for i in np.ndindex(x.shape):
# ### END
# ### REPLACE
#         numeric[i] = (f(x + step) - f(x - step)) / (2 * step[i])
# ### WITH
#         numeric[i] = (f(x + step) - fx) / step[i]
# ### END


# %% [raw] wrong_answer="08_pitfalls-gradient_check-solution" mistake="Each component measured on its own scale: rounding noise where the derivative is ~0 becomes \"100%\"."
# ### REPLACE
#     difference = np.abs(analytic - numeric)
#     scale = max(np.max(np.abs(analytic)), np.max(np.abs(numeric)), 1e-6)
#     worst = np.unravel_index(np.argmax(difference), x.shape)
#     return float(difference[worst] / scale), tuple(int(i) for i in worst)
# ### WITH
#     relative = np.abs(analytic - numeric) / np.maximum(np.maximum(np.abs(analytic), np.abs(numeric)), 1e-300)
#     worst = np.unravel_index(np.argmax(relative), x.shape)
#     return float(relative[worst]), tuple(int(i) for i in worst)
# ### END


# %% [raw] wrong_answer="08_pitfalls-gradient_check-solution" mistake="The flat index from np.argmax: right for vectors, wrong for matrices."
# ### REPLACE
#     worst = np.unravel_index(np.argmax(difference), x.shape)
#     return float(difference[worst] / scale), tuple(int(i) for i in worst)
# ### WITH
#     return float(np.max(difference) / scale), int(np.argmax(difference))
# ### END


# %% [raw] wrong_answer="08_pitfalls-gradient_check-solution" mistake="No floor in the denominator: a zero gradient gives 0/0, a tiny one a huge error."
# ### REPLACE
#     scale = max(np.max(np.abs(analytic)), np.max(np.abs(numeric)), 1e-6)
# ### WITH
#     scale = max(np.max(np.abs(analytic)), np.max(np.abs(numeric)))
# ### END


# %% [raw] wrong_answer="08_pitfalls-gradient_check-solution" mistake="The absolute step h for every component, not h max(1, |x_i|)."
# ### REPLACE
#         step[i] = h * max(1.0, abs(x[i]))
#         numeric[i] = (f(x + step) - f(x - step)) / (2 * step[i])
# ### WITH
#         step[i] = h
#         numeric[i] = (f(x + step) - f(x - step)) / (2 * h)
# ### END


# %% [raw] wrong_answer="08_pitfalls-gradient_check-solution" mistake="A purely relative step h |x_i|, guarded only at x_i = 0: too small where |x_i| < 1."
# ### REPLACE
#         step[i] = h * max(1.0, abs(x[i]))
# ### WITH
#         step[i] = h * abs(x[i]) if x[i] != 0 else h
# ### END


# %% active="py" wrong_answer="08_pitfalls-gradient_check-solution" mistake="The course's own numdiff called instead of writing the central differences."
def gradient_check(f, grad_f, x, h=1e-6):
    x = np.array(x, dtype=float)
    analytic = np.asarray(grad_f(x.copy()), dtype=float)
    numeric = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        unit = np.zeros_like(x)
        unit[i] = 1.0
        numeric[i] = numdiff.derivative(lambda t, unit=unit: f(x + t * unit), 0.0, h=h * max(1.0, abs(x[i])), order=2)
    return checks.relative_error(analytic, numeric), tuple(int(i) for i in np.unravel_index(
        np.argmax(np.abs(analytic - numeric)), x.shape))


# %% [markdown]
# Now run your checker over the zoo, on the same point for every entry. Read each verdict: which op is broken,
# and does the size of the error tell you what kind of bug it is?

# %%
x_zoo = np.random.default_rng(6).normal(size=5)
for name, (build, leaf) in ZOO.items():
    err, worst = gradient_check(*as_functions(build, leaf), x_zoo)
    print(f"{name:40s} relative error {err:8.1e}  worst component {worst}  -> {verdict(err)}")

# %% [markdown]
# ### Exercise 2 · Fix the bug zoo (3 points)
#
# Write correct backward rules for `mul`, `tanh` and `sigmoid`, with the signature of the buggy ones:
# `rule(inputs, out, upstream)` returns a tuple with one gradient per input. These ops are elementwise, so each
# Jacobian is diagonal and the rule is *upstream times the local derivative*, elementwise. Use the output where
# you can: $\tanh' = 1 - \tanh^2$ and $\sigma' = \sigma(1 - \sigma)$ are cheaper from `out` than from the input,
# and this is what real engines save.

# %% nbgrader={"grade": false, "grade_id": "08_pitfalls-fixed_rules-solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
def mul_backward(inputs, out, upstream):
    """Backward rule of out = a * b (elementwise, with NumPy broadcasting).

    Args:
        inputs: The pair (a, b) of input arrays; they broadcast to the shape of out.
        out: The output array a * b.
        upstream: dL/dout, an array shaped like out.

    Returns:
        The pair (dL/da, dL/db), each an array shaped like out (the engine's `unbroadcast` sums a gradient
        back down to its input's shape).
    """
    ### BEGIN SOLUTION
    a, b = inputs
    return upstream * b, upstream * a
    ### END SOLUTION


def tanh_backward(inputs, out, upstream):
    """Backward rule of out = tanh(x): from inputs = (x,), out and upstream = dL/dout (all of one shape),
    return the 1-tuple (dL/dx,)."""
    ### BEGIN SOLUTION
    return (upstream * (1 - out**2),)
    ### END SOLUTION


def sigmoid_backward(inputs, out, upstream):
    """Backward rule of out = 1 / (1 + exp(-x)): from inputs = (x,), out and upstream = dL/dout (all of one
    shape), return the 1-tuple (dL/dx,)."""
    ### BEGIN SOLUTION
    return (upstream * out * (1 - out),)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "08_pitfalls-fixed_rules", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
def _vjp(forward, arrays, upstream, k):
    """The numerical gradient of sum(upstream * forward(*arrays)) with respect to arrays[k]."""
    def g(v):
        args = list(arrays)
        args[k] = v
        return float(np.sum(upstream * forward(*args)))
    return numdiff.gradient(g, arrays[k])


def _check_rules(rng, shape, spread=1.0):
    a, b, x, up = rng.normal(size=(4, *shape)) * np.array([1.0, 1.0, spread, 1.0]).reshape(4, *[1] * len(shape))
    where = f"for inputs of shape {shape}"
    grads = tuple(mul_backward((a, b), a * b, up))
    assert len(grads) == 2, f"mul_backward must return one gradient per input (2), not {len(grads)}."
    checks.assert_close(grads[0], _vjp(np.multiply, (a, b), up, 0), what="gradient for a in a * b", where=where,
                        hint="d(ab)/da = b: multiply the upstream gradient by the OTHER operand.")
    checks.assert_close(grads[1], _vjp(np.multiply, (a, b), up, 1), what="gradient for b in a * b", where=where,
                        hint="d(ab)/db = a: multiply the upstream gradient by the OTHER operand.")
    for name, rule, fwd, hint in [
        ("tanh", tanh_backward, np.tanh, "tanh'(x) = 1 - tanh(x)², and tanh(x) is `out`, not the input."),
        ("sigmoid", sigmoid_backward, _sigmoid, "σ'(x) = σ(x)(1 - σ(x)) with σ(x) = `out`; mind the sign."),
    ]:
        result = tuple(rule((x,), fwd(x), up))
        assert len(result) == 1, f"{name}_backward must return a 1-tuple (one input), not {len(result)} values."
        checks.assert_close(result[0], _vjp(fwd, (x,), up, 0), what=f"gradient of {name}", where=where, hint=hint)


_check_rules(np.random.default_rng(82), (5,))
x0 = np.random.default_rng(820).normal(size=4)
with using_rules(mul=mul_backward, tanh=tanh_backward, sigmoid=sigmoid_backward):
    f_eng, g_eng = as_functions(lambda t: (t * t.tanh() + t.sigmoid() * 3.0).sum())
    checks.check_gradient(g_eng, lambda v: np.sum(v * np.tanh(v) + 3.0 * _sigmoid(v)), x0,
                          what="engine gradient of sum(x tanh(x) + 3 sigmoid(x))")
### BEGIN HIDDEN TESTS
# One definition of the hidden checks (calcml.probes): the kernel runs them here on a fixed seed; the grader
# draws each student's own inputs, runs the driver in a sandbox and _verify in its own process. The rules are
# called directly (six shapes, saturated inputs) and through an engine the driver carries itself (a tensor used
# three times, compositions, a broadcast scalar), so that only the student's rules are being judged.
import numpy as np

from calcml import gradient_flow, numdiff, probes


def _inputs(rng):
    cases = []
    for k in range(6):
        shape = [(int(rng.integers(1, 7)),), (int(rng.integers(1, 4)), int(rng.integers(2, 4)))][k % 2]
        spread = 1.0 + 3.0 * (k % 3)
        a, b, x, up = rng.normal(size=(4, *shape))
        cases.append({"a": a, "b": b, "x": x * spread, "up": up})
    xs = np.concatenate([[-30.0, 30.0, 0.0], rng.uniform(-10, 10, size=5)])
    return {"cases": cases, "saturated": {"x": xs, "up": rng.normal(size=xs.size)},
            "engine": rng.normal(size=5).tolist(), "c": float(rng.uniform(1, 4)),
            "scalar": float(rng.uniform(0.5, 2.5))}


_DRIVER = """
import numpy as np

def sigmoid(v):
    return np.exp(-np.logaddexp(0.0, -v))

def unbroadcast(g, shape):
    g = np.asarray(g, dtype=float)
    while g.ndim > len(shape):
        g = g.sum(axis=0)
    for axis, n in enumerate(shape):
        if n == 1 and g.ndim == len(shape) and g.shape[axis] != 1:
            g = g.sum(axis=axis, keepdims=True)
    return np.broadcast_to(g, shape).copy()

def engine_gradients(build, *arrays):
    # The gradients of the scalar build(*leaves) with respect to each leaf, by an engine of the driver's own
    # that calls the student's rules for mul, tanh and sigmoid (the notebook's engine is not used).
    tape = []

    class T:
        def __init__(self, data, parents=(), rule=None):
            self.data = np.asarray(data, dtype=float)
            self.grad = np.zeros_like(self.data)
            self.parents, self.rule = parents, rule
            tape.append(self)

        def _binary(self, other, forward, rule, reflected=False):
            other = other if isinstance(other, T) else T(other)
            a, b = (other, self) if reflected else (self, other)
            return T(forward(a.data, b.data), (a, b), rule)

        def __mul__(self, other):
            return self._binary(other, np.multiply, mul_backward)

        def __rmul__(self, other):
            return self._binary(other, np.multiply, mul_backward, reflected=True)

        def __add__(self, other):
            return self._binary(other, np.add, lambda inputs, out, up: (up, up))

        def __radd__(self, other):
            return self._binary(other, np.add, lambda inputs, out, up: (up, up), reflected=True)

        def tanh(self):
            return T(np.tanh(self.data), (self,), tanh_backward)

        def sigmoid(self):
            return T(sigmoid(self.data), (self,), sigmoid_backward)

        def sum(self):
            return T(np.sum(self.data), (self,), lambda inputs, out, up: (np.ones_like(inputs[0]) * up,))

    leaves = [T(a) for a in arrays]
    out = build(*leaves)
    out.grad = np.ones_like(out.data)
    for node in reversed(tape):  # the tape is in creation order: every node after its inputs
        if node.rule is not None:
            grads = tuple(node.rule(tuple(p.data for p in node.parents), node.data, node.grad))
            if len(grads) != len(node.parents):
                raise ValueError(f"a backward rule returned {len(grads)} gradients for {len(node.parents)} inputs")
            for parent, g in zip(node.parents, grads):
                parent.grad = parent.grad + unbroadcast(g, parent.data.shape)
    return [leaf.grad for leaf in leaves]

result = {"cases": []}
for case in inputs["cases"]:
    a, b, x, up = (np.array(case[k], dtype=float) for k in ("a", "b", "x", "up"))
    result["cases"].append({"mul": list(mul_backward((a, b), a * b, up)),
                            "tanh": list(tanh_backward((x,), np.tanh(x), up)),
                            "sigmoid": list(sigmoid_backward((x,), sigmoid(x), up))})
s = inputs["saturated"]
xs, up = np.array(s["x"]), np.array(s["up"])
result["saturated"] = {"tanh": list(tanh_backward((xs,), np.tanh(xs), up)),
                       "sigmoid": list(sigmoid_backward((xs,), sigmoid(xs), up))}
c, x0 = inputs["c"], np.array(inputs["engine"])
result["engine"] = {
    "mixed": engine_gradients(lambda t: (t * t.tanh() + t.sigmoid() * c).sum(), x0)[0],
    "cube": engine_gradients(lambda t: (t * t * t).sum(), x0)[0],
    "nested": engine_gradients(lambda t: ((t * 0.5).tanh().sigmoid() * t).sum(), x0)[0],
    "broadcast": engine_gradients(lambda q, v: (q * v).tanh().sum(), inputs["scalar"], x0)}
"""

_HINTS = {"tanh": "tanh'(x) = 1 - tanh(x)², and tanh(x) is `out`, not the input; multiply by the upstream gradient.",
          "sigmoid": "σ'(x) = σ(x)(1 - σ(x)) with σ(x) = `out`; mind the sign, and multiply by the upstream "
                     "gradient."}


def _vjp(forward, arrays, upstream, k):
    def g(v):
        args = list(arrays)
        args[k] = v
        return float(np.sum(upstream * forward(*args)))
    return numdiff.gradient(g, arrays[k])


def _verify(inputs, result):
    probes.require(isinstance(result, dict) and isinstance(result.get("cases"), list)
                   and len(result["cases"]) == len(inputs["cases"]), "the backward rules gave too few results.")
    for case, got in zip(inputs["cases"], result["cases"], strict=True):
        a, b, x, up = (np.array(case[k], dtype=float) for k in ("a", "b", "x", "up"))
        where = f"for inputs of shape {a.shape}"
        mul = got.get("mul")
        probes.require(isinstance(mul, list) and len(mul) == 2, "mul_backward must return one gradient per input (2).")
        probes.close(mul[0], _vjp(np.multiply, (a, b), up, 0), what="gradient for a in a * b", where=where,
                     hint="d(ab)/da = b: multiply the upstream gradient by the OTHER operand.")
        probes.close(mul[1], _vjp(np.multiply, (a, b), up, 1), what="gradient for b in a * b", where=where,
                     hint="d(ab)/db = a: multiply the upstream gradient by the OTHER operand.")
        for name, forward in [("tanh", np.tanh), ("sigmoid", gradient_flow.sigmoid)]:
            rule = got.get(name)
            probes.require(isinstance(rule, list) and len(rule) == 1, f"{name}_backward must return a 1-tuple.")
            probes.close(rule[0], _vjp(forward, (x,), up, 0), what=f"gradient of {name}", where=where,
                         hint=_HINTS[name])
    s = inputs["saturated"]
    xs, up = np.array(s["x"]), np.array(s["up"])
    for name, forward in [("tanh", np.tanh), ("sigmoid", gradient_flow.sigmoid)]:
        rule = result.get("saturated", {}).get(name)
        probes.require(isinstance(rule, list) and len(rule) == 1, f"{name}_backward must return a 1-tuple.")
        probes.close(rule[0], _vjp(forward, (xs,), up, 0), what=f"gradient of {name}", where="at saturated inputs",
                     hint=_HINTS[name])
    x0, c, s0 = np.array(inputs["engine"]), inputs["c"], inputs["scalar"]
    engine = result.get("engine")
    probes.require(isinstance(engine, dict), "the engine gave no gradients with your rules.")
    for key, text, function in [
            ("mixed", f"sum(x tanh(x) + {c:.3g} sigmoid(x))",
             lambda v: np.sum(v * np.tanh(v) + c * gradient_flow.sigmoid(v))),
            ("cube", "sum(x * x * x), x used three times", lambda v: np.sum(v**3)),
            ("nested", "sum(sigmoid(tanh(x/2)) x)",
             lambda v: np.sum(gradient_flow.sigmoid(np.tanh(0.5 * v)) * v))]:
        probes.close(engine.get(key), numdiff.gradient(function, x0), what=f"engine gradient of {text} with your rules")
    broadcast = engine.get("broadcast")
    probes.require(isinstance(broadcast, list) and len(broadcast) == 2, "the engine gave no gradients for s * x.")
    probes.close(broadcast[0], numdiff.derivative(lambda q: np.sum(np.tanh(q * x0)), s0),
                 what="gradient of a scalar s broadcast in sum(tanh(s * x))", where="through the engine, with your rules")
    probes.close(broadcast[1], numdiff.gradient(lambda v: np.sum(np.tanh(s0 * v)), x0),
                 what="gradient of x in sum(tanh(s * x))", where="through the engine, with your rules")


probes.exercise(globals(), inputs=_inputs, driver=_DRIVER, verify=_verify, seed=821)
### END HIDDEN TESTS


# %% [raw] wrong_answer="08_pitfalls-fixed_rules-solution" mistake="The operands swapped: d(ab)/da taken as a."
# ### REPLACE
#     return upstream * b, upstream * a
# ### WITH
#     return upstream * a, upstream * b
# ### END


# %% [raw] wrong_answer="08_pitfalls-fixed_rules-solution" mistake="tanh applied once more to the output: 1 - tanh(tanh(x))²."
# ### REPLACE
#     return (upstream * (1 - out**2),)
# ### WITH
#     return (upstream * (1 - np.tanh(out) ** 2),)
# ### END


# %% [raw] wrong_answer="08_pitfalls-fixed_rules-solution" mistake="The local derivative alone: the upstream gradient is forgotten."
# ### REPLACE
#     return (upstream * out * (1 - out),)
# ### WITH
#     return (out * (1 - out),)
# ### END


# %% [markdown]
# Rerun the zoo with your rules installed. Three entries turn "correct"; the fourth does not, because its bug is
# not in a rule but in the bookkeeping: `x` feeds two ops, and a tensor that overwrites its gradient keeps only
# one of the two contributions. The fix is the `+=` in `Tensor._accumulate`.

# %%
with using_rules(mul=mul_backward, tanh=tanh_backward, sigmoid=sigmoid_backward):
    for name, (build, leaf) in ZOO.items():
        err, worst = gradient_check(*as_functions(build, leaf), x_zoo)
        print(f"{name:40s} relative error {err:8.1e}  worst component {worst}  -> {verdict(err)}")

# %% [markdown]
# ### Exercise 3 · `detach` and a stop-gradient loss (2 points)
#
# Write `detach(t)`: a new leaf `Tensor` that shares `t`'s data array (no copy, as `torch.Tensor.detach` does),
# with no parents and no op. Then use it in `stop_gradient_loss(y, target)`, the squared error
# $\sum_i (y_i - \text{target}_i)^2$ in which the target counts as a constant: its gradient flows into `y` only,
# even when the target was computed from the same parameters.

# %% nbgrader={"grade": false, "grade_id": "08_pitfalls-detach-solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
def detach(t):
    """A new leaf Tensor that shares `t`'s data array (not a copy), with no `_prev`, no `_op` and a zero grad."""
    ### BEGIN SOLUTION
    return Tensor(t.data)
    ### END SOLUTION


def stop_gradient_loss(y, target):
    """The scalar Tensor sum((y - target)**2) of two Tensors of one shape, with `target` held constant: the
    gradient flows back through `y` only, never through `target` (even when both come from the same parameters)."""
    ### BEGIN SOLUTION
    return ((y - detach(target)) ** 2).sum()
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "08_pitfalls-detach", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
def _check_detach(t):
    d = detach(t)
    assert type(d) is Tensor, f"detach must return a plain Tensor, not {type(d).__name__}."
    assert d is not t, "detach returned the same tensor: it must return a NEW leaf, or gradients still flow."
    assert not d._prev and not d._op, (f"Your detached tensor still has parents {len(d._prev)} / op {d._op!r}: "
                                       "it keeps the whole graph alive. A leaf has _prev = () and _op = ''.")
    assert np.shares_memory(d.data, t.data), "detach must share t's data array (Tensor(t.data)), not copy it."
    assert not np.any(d.grad), "A fresh leaf starts with a zero gradient."


rng = np.random.default_rng(83)
p0 = rng.normal(size=4)
p = Tensor(p0.copy())
_check_detach(p)
_check_detach((p ** 2).exp())
p = Tensor(p0.copy())
loss = stop_gradient_loss(p.exp(), p**3)  # both the prediction and the target depend on p
checks.assert_close(loss.data, np.sum((np.exp(p0) - p0**3) ** 2), what="loss value")
loss.backward()
checks.check_gradient(lambda _: p.grad, lambda q: np.sum((np.exp(q) - p0**3) ** 2), p0,
                      what="gradient through the stop-gradient loss",
                      hint="Only the prediction's path may count: the target is held constant at its value.")
target = Tensor(rng.normal(size=4))
stop_gradient_loss(Tensor(p0.copy()), target).backward()
assert not np.any(target.grad), f"Gradient leaked into the target: target.grad = {target.grad}."
### BEGIN HIDDEN TESTS
# One definition of the hidden checks (calcml.probes): the kernel runs them here on a fixed seed; the grader
# draws each student's own inputs, runs the driver in a sandbox and _verify in its own process. The driver runs
# the notebook's engine with correct backward rules of its own, and reports what detach returned (is it t, its
# fields, t's data after an in-place change of the detached tensor) and the gradients, as raw data.
import numpy as np

from calcml import backward_rules, gradient_flow, numdiff, probes


def _inputs(rng):
    cases = []
    for _ in range(5):
        n = int(rng.integers(1, 7))
        w0, a, b = rng.normal(size=(3, n))
        cases.append({"w0": w0, "a": a, "b": b, "target": rng.normal(size=n)})
    return {"cases": cases, "shared": rng.normal(size=3).tolist()}


_DRIVER = backward_rules.REFERENCE + """
import gc
import weakref

def facts(make):
    # What detach(t) returned, as raw data, for a fresh t: is it t, is it a plain Tensor (so that _prev and _op are
    # the engine's own fields, not a property of the student's class), its fields, whether t (and the graph behind
    # it) is freed once only the detached tensor is kept (a weak reference cannot be faked), and t's data after
    # an in-place change of the detached tensor (a shared array shows the change).
    t = make()
    before = np.array(t.data, copy=True)
    d = detach(t)
    exact = type(d) is Tensor
    row = {"same": d is t, "tensor": exact,
           "prev": len(tuple(object.__getattribute__(d, "_prev"))) if exact else -1,
           "op": object.__getattribute__(d, "_op") if exact else "?", "grad": d.grad, "before": before}
    d.add_(1.0)
    row["after"] = t.data
    alive = weakref.ref(t)
    del t
    gc.collect()  # cheap: the heap that existed before the driver ran is frozen
    row["kept"] = alive() is not None and alive() is not d
    return row

gc.freeze()

result = {"cases": []}
for case in inputs["cases"]:
    w0, a, b = (np.array(case[k], dtype=float) for k in ("w0", "a", "b"))
    with using_rules(**REFERENCE):
        entry = {"facts": facts(lambda: Tensor(w0.copy()) * a), "leaf_facts": facts(lambda: Tensor(w0.copy()))}
        w = Tensor(w0.copy())
        loss = stop_gradient_loss((w * a).tanh(), (w * b).sigmoid() + w.relu())
        loss.backward()
        entry["loss"], entry["grad"] = loss.data, w.grad
        w = Tensor(w0.copy())
        (detach(w.exp()) * w).sum().backward()
        entry["cut"] = w.grad
        target = Tensor(np.array(case["target"]))
        stop_gradient_loss(Tensor(w0.copy()), target).backward()
        entry["target_grad"] = target.grad
    result["cases"].append(entry)
gc.unfreeze()
t = Tensor(np.array(inputs["shared"]))
d = detach(t)
d.add_(1.0)
result["shared"] = t.data
"""


def _verify(inputs, result):
    probes.require(isinstance(result, dict) and isinstance(result.get("cases"), list)
                   and len(result["cases"]) == len(inputs["cases"]), "detach gave too few results.")
    for case, got in zip(inputs["cases"], result["cases"], strict=True):
        w0, a, b, target = (np.array(case[k], dtype=float) for k in ("w0", "a", "b", "target"))
        for key, data in (("facts", w0 * a), ("leaf_facts", w0)):
            facts = got.get(key)
            probes.require(isinstance(facts, dict), "detach gave no result.")
            probes.require(facts.get("tensor") is True, "detach must return a plain Tensor (Tensor(...)).")
            probes.require(facts.get("same") is False, "detach returned the same tensor: it must return a NEW leaf, "
                                                       "or gradients still flow.")
            probes.require(facts.get("prev") == 0 and facts.get("op") == "",
                           "Your detached tensor still has parents (_prev) or an op: it keeps the whole graph alive. "
                           "A leaf has _prev = () and _op = ''.")
            probes.require(facts.get("kept") is False,
                           "The tensor given to detach, and so its whole graph, stays alive as long as the detached "
                           "tensor does: the detached tensor still refers to it (in a field, or in a closure). A "
                           "detached leaf holds only the data array.")
            probes.close(facts.get("before"), data, what="data of the tensor given to detach")
            probes.close(facts.get("after"), data + 1.0, what="data of t after detach(t).add_(1)",
                         hint="detach must share t's data array (Tensor(t.data)), not copy it.")
            grad = facts.get("grad")
            probes.require(np.shape(grad) == data.shape and bool(np.all(np.asarray(grad, dtype=float) == 0.0)),
                           "A fresh leaf starts with a zero gradient, of the shape of its data.")
        frozen = gradient_flow.sigmoid(w0 * b) + np.maximum(w0, 0.0)
        probes.close(got.get("loss"), np.sum((np.tanh(w0 * a) - frozen) ** 2), what="stop-gradient loss value")
        probes.close(got.get("grad"),
                     numdiff.gradient(lambda q, a=a, frozen=frozen: np.sum((np.tanh(q * a) - frozen) ** 2), w0),
                     what="gradient through the stop-gradient loss", where=f"(n = {w0.size})",
                     hint="Only the prediction's path may count: the target is a constant, so detach it, not the "
                          "prediction.")
        probes.close(got.get("cut"), np.exp(w0), what="gradient of sum(detach(exp(w)) * w)",
                     hint="Through a detached value only the other path counts.")
        probes.close(got.get("target_grad"), np.zeros_like(target),
                     what="target.grad after backward of the stop-gradient loss",
                     hint="No gradient may leak into the target.")
    probes.close(result.get("shared"), np.array(inputs["shared"]) + 1.0, what="data of t after detach(t).add_(1)",
                 hint="detach must share the data array, not copy it.")


probes.exercise(globals(), inputs=_inputs, driver=_DRIVER, verify=_verify, seed=830)
### END HIDDEN TESTS


# %% active="py" wrong_answer="08_pitfalls-detach-solution" mistake="The same tensor: no stop at all."
def detach(t):
    return t


def stop_gradient_loss(y, target):
    return ((y - detach(target)) ** 2).sum()


# %% active="py" wrong_answer="08_pitfalls-detach-solution" mistake="A \"detached\" tensor that still holds its parents, and so the whole graph."
def detach(t):
    return Tensor(t.data, t._prev, t._op)


def stop_gradient_loss(y, target):
    return ((y - detach(target)) ** 2).sum()


# %% active="py" wrong_answer="08_pitfalls-detach-solution" mistake="The prediction detached instead of the target."
def detach(t):
    return Tensor(t.data)


def stop_gradient_loss(y, target):
    return ((detach(y) - target) ** 2).sum()


# %% active="py" wrong_answer="08_pitfalls-detach-solution" mistake="A shallow copy with _prev and _op cleared: its backward closure still holds the old graph."
import copy


def detach(t):
    d = copy.copy(t)
    d._prev, d._op, d.grad = (), "", np.zeros_like(t.data)
    return d


def stop_gradient_loss(y, target):
    return ((y - detach(target)) ** 2).sum()


# %% [markdown]
# ### Exercise 4 · The version counter (3 points)
#
# Make the engine refuse to compute a gradient from data that changed after the forward pass, as PyTorch does.
# Every op calls `HOOKS["save"](*inputs, out)` at forward time and keeps whatever it returns; at backward time
# it calls `HOOKS["unpack"](saved, op)` and uses the arrays it returns, in the same order.
#
# - `save_for_backward(*tensors)` returns a record of each tensor together with its `_version` *now*.
# - `unpack_saved(saved, op)` returns the tensors' data arrays, in order, after checking every version: if a
#   tensor's `_version` is no longer the one saved, it raises a `RuntimeError` whose message names the op and
#   both versions (for example "one of the variables needed for gradient computation by 'pow' has been modified
#   by an inplace operation: it is at version 1; expected version 0").
#
# The test installs them with `using_hooks(save_for_backward, unpack_saved)`. A change made *before* the
# forward pass, or *after* the backward pass, is harmless and must not raise. (Our engine saves every input and
# the output of every op, so it is stricter than PyTorch, which saves only what each backward rule reads:
# PyTorch lets you change an input of `a + b` in place, ours does not.)

# %% nbgrader={"grade": false, "grade_id": "08_pitfalls-version_check-solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
def save_for_backward(*tensors):
    """Record each tensor together with its current `_version`; return the record (any form you like)."""
    ### BEGIN SOLUTION
    return [(t, t._version) for t in tensors]
    ### END SOLUTION


def unpack_saved(saved, op):
    """The data arrays of the saved tensors, in the order they were saved, after checking their versions.

    Args:
        saved: What save_for_backward returned.
        op: The name of the op whose backward needs the tensors (a str such as 'pow'), for the error message.

    Returns:
        A list with the `data` array of each saved tensor.

    Raises:
        RuntimeError: If a tensor's `_version` differs from the one saved; the message names `op`, the
            current version and the saved one.
    """
    ### BEGIN SOLUTION
    arrays = []
    for t, version in saved:
        if t._version != version:
            raise RuntimeError(f"one of the variables needed for gradient computation by {op!r} has been modified "
                               f"by an inplace operation: it is at version {t._version}; expected version {version}")
        arrays.append(t.data)
    return arrays
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "08_pitfalls-version_check", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
def _expect_error(loss, ops, now, then, what):
    """backward() must raise a RuntimeError naming one of `ops` and both versions."""
    ops = (ops,) if isinstance(ops, str) else ops
    try:
        loss.backward()
    except RuntimeError as error:
        message = str(error)
    else:
        raise AssertionError(f"{what}, but backward() ran without a RuntimeError. Compare each saved version "
                             "with the tensor's current _version in unpack_saved.")
    assert any(op in message for op in ops) and str(now) in message and str(then) in message, (
        f"Your error message {message!r} should name the op ({' or '.join(ops)}) and both versions "
        f"(now {now}, saved {then}).")


def _expect_no_error(run, what):
    """run() must not raise: `what` is a harmless change."""
    try:
        run()
    except RuntimeError as error:
        raise AssertionError(f"{what}, which is harmless, but your unpack_saved raised: {error!r}. Compare each "
                             "tensor's _version with the version save_for_backward recorded, not with 0.") from None


rng = np.random.default_rng(84)
x0 = rng.normal(size=3)
with using_hooks(save_for_backward, unpack_saved):
    x = Tensor(x0.copy())  # no change in place: the right gradient, no error
    ((x**2).exp() - x).sum().backward()
    checks.assert_close(x.grad, numdiff.gradient(lambda v: np.sum(np.exp(v**2) - v), x0),
                        what="gradient with version checks on", hint="unpack_saved must return the arrays in order.")
    x = Tensor(x0.copy())
    loss = (x**2).sum()
    x.add_(1.0)
    _expect_error(loss, "pow", 1, 0, "x changed in place after x**2 was computed")
    x = Tensor(x0.copy())
    x.mul_(2.0)  # changed BEFORE the forward pass: harmless
    _expect_no_error(lambda: (x**2).sum().backward(), "x.mul_(2) happened before x**2 was computed")
    checks.assert_close(x.grad, 4 * x0, what="gradient of sum(x²) after x.mul_(2) before the forward pass",
                        hint="Only a change AFTER save_for_backward is an error: compare with the saved version.")
### BEGIN HIDDEN TESTS
# One definition of the hidden checks (calcml.probes): the kernel runs them here on a fixed seed; the grader
# draws each student's own inputs, runs the driver in a sandbox and _verify in its own process. The driver reports
# only whether backward() raised and what the RuntimeError said, and the gradients; _verify decides.
import numpy as np

from calcml import backward_rules, gradient_flow, numdiff, probes


def _inputs(rng):
    cases = []
    for _ in range(4):
        n = int(rng.integers(1, 6))
        a0, b0 = rng.normal(size=(2, n))
        cases.append({"a": a0, "b": b0})
    return {"cases": cases, "x": rng.normal(size=3).tolist(), "pair": rng.normal(size=2).tolist()}


_DRIVER = backward_rules.REFERENCE + """
def attempt(run):
    try:
        run()
        return ""
    except RuntimeError as error:
        return "RuntimeError: " + str(error)[:400]

result = {"cases": []}
with using_hooks(save_for_backward, unpack_saved), using_rules(**REFERENCE):
    x0 = np.array(inputs["x"])
    x = Tensor(x0.copy())
    plain = attempt(lambda: ((x**2).exp() - x).sum().backward())
    result["plain"] = {"error": plain, "grad": x.grad}
    x = Tensor(x0.copy())
    loss = (x**2).sum()
    x.add_(1.0)
    result["pow_after"] = attempt(loss.backward)
    x = Tensor(x0.copy())
    x.mul_(2.0)
    result["before"] = {"error": attempt(lambda: (x**2).sum().backward()), "grad": x.grad}
    for case in inputs["cases"]:
        a0, b0 = np.array(case["a"]), np.array(case["b"])
        entry = {}
        a, b = Tensor(a0.copy()), Tensor(b0.copy())  # the second input of a two-input op changes
        loss = (a * b).tanh().sum()
        b.add_(0.5)
        entry["mul"] = attempt(loss.backward)
        a = Tensor(a0.copy())  # an op's OUTPUT changes (exp's backward needs it; so does sum's)
        y = a.exp()
        loss = y.sum()
        y.mul_(2.0)
        entry["exp"] = attempt(loss.backward)
        a = Tensor(a0.copy())  # two changes through the data setter
        loss = a.relu().sum()
        a.data = a.data + 1.0
        a.data -= 3.0
        entry["relu"] = attempt(loss.backward)
        a, b = Tensor(a0.copy()), Tensor(b0.copy())  # no false alarms: correct gradients for a two-input op
        a.add_(1.0)
        entry["no_alarm"] = {"error": attempt(lambda: (a * b.sigmoid() - (a - b) ** 3).sum().backward()),
                             "a": a.grad, "b": b.grad}
        a = Tensor(a0.copy())  # a change after backward is harmless, and the graph can be rebuilt
        (a**3).sum().backward()
        a.add_(1.0)
        a.zero_grad()
        entry["rebuilt"] = {"error": attempt(lambda: (a**3).sum().backward()), "grad": a.grad}
        result["cases"].append(entry)
# Only the op whose saved tensor changed complains: x**2 saved x at version 0, exp(x) at version 1.
with using_hooks(save_for_backward, unpack_saved):
    x = Tensor(np.array(inputs["pair"]))
    y = x**2
    x.add_(1.0)
    z = x.exp()
    result["only_pow"] = attempt((y + z).sum().backward)
"""


def _must_raise(message, ops, now, then, what):
    ops = (ops,) if isinstance(ops, str) else ops
    probes.require(isinstance(message, str) and message.startswith("RuntimeError"),
                   f"{what}, but backward() ran without a RuntimeError. Compare each saved version with the tensor's "
                   "current _version in unpack_saved.")
    probes.require(any(op in message for op in ops) and str(now) in message and str(then) in message,
                   f"Your error message {message!r} should name the op ({' or '.join(ops)}) and both versions "
                   f"(now {now}, saved {then}).")


def _must_not_raise(entry, what):
    error = entry.get("error") if isinstance(entry, dict) else entry
    probes.require(isinstance(entry, dict) and error == "",
                   f"{what}, which is harmless, but your unpack_saved raised: {error!r}. Compare each tensor's "
                   "_version with the version save_for_backward recorded, not with 0.")


def _verify(inputs, result):
    probes.require(isinstance(result, dict), "the version check gave no results.")
    x0 = np.array(inputs["x"])
    _must_not_raise(result.get("plain"), "Nothing changed in place")
    probes.close(result["plain"].get("grad"), numdiff.gradient(lambda v: np.sum(np.exp(v**2) - v), x0),
                 what="gradient with version checks on", hint="unpack_saved must return the arrays in order.")
    _must_raise(result.get("pow_after"), "pow", 1, 0, "x changed in place after x**2 was computed")
    _must_not_raise(result.get("before"), "x.mul_(2) happened before x**2 was computed")
    probes.close(result["before"].get("grad"), 4 * x0,
                 what="gradient of sum(x²) after x.mul_(2) before the forward pass",
                 hint="Only a change AFTER save_for_backward is an error: compare with the saved version.")
    probes.require(isinstance(result.get("cases"), list) and len(result["cases"]) == len(inputs["cases"]),
                   "the version check gave too few results.")
    for case, got in zip(inputs["cases"], result["cases"], strict=True):
        a0, b0 = np.array(case["a"]), np.array(case["b"])
        _must_raise(got.get("mul"), "mul", 1, 0, "b changed in place after a * b")
        _must_raise(got.get("exp"), ("sum", "exp"), 1, 0, "exp(x) changed in place before backward")
        _must_raise(got.get("relu"), "relu", 2, 0, "x changed twice (x.data = ..., x.data -= ...) after relu(x)")
        _must_not_raise(got.get("no_alarm"), "a.add_(1) happened before the forward pass")
        ref_a = numdiff.gradient(lambda v, b0=b0: np.sum(v * gradient_flow.sigmoid(b0) - (v - b0) ** 3), a0 + 1.0)
        ref_b = numdiff.gradient(lambda v, a0=a0: np.sum((a0 + 1.0) * gradient_flow.sigmoid(v) - (a0 + 1.0 - v) ** 3),
                                 b0)
        probes.close(got["no_alarm"].get("a"), ref_a, what="gradient for a", where="with version checks on",
                     hint="unpack_saved must return the arrays in the order they were saved.")
        probes.close(got["no_alarm"].get("b"), ref_b, what="gradient for b", where="with version checks on")
        _must_not_raise(got.get("rebuilt"), "a changed after one backward, before a new forward")
        probes.close(got["rebuilt"].get("grad"), 3 * (a0 + 1.0) ** 2, what="gradient after a fresh forward pass")
    _must_raise(result.get("only_pow"), "pow", 1, 0, "x changed after x**2 (but before exp(x))")


probes.exercise(globals(), inputs=_inputs, driver=_DRIVER, verify=_verify, seed=840)
### END HIDDEN TESTS


# %% active="py" wrong_answer="08_pitfalls-version_check-solution" mistake="Saves the tensors but never their versions: never raises."
def save_for_backward(*tensors):
    return list(tensors)


def unpack_saved(saved, op):
    return [t.data for t in saved]


# %% active="py" wrong_answer="08_pitfalls-version_check-solution" mistake="Compares with version 0: a change BEFORE the forward pass raises too."
def save_for_backward(*tensors):
    return list(tensors)


def unpack_saved(saved, op):
    for t in saved:
        if t._version != 0:
            raise RuntimeError(f"{op}: a saved tensor was modified by an inplace operation: "
                               f"it is at version {t._version}; expected version 0")
    return [t.data for t in saved]


# %% active="py" wrong_answer="08_pitfalls-version_check-solution" mistake="Checks only the first saved tensor."
def save_for_backward(*tensors):
    return [(t, t._version) for t in tensors]


def unpack_saved(saved, op):
    first, version = saved[0]
    if first._version != version:
        raise RuntimeError(f"{op}: a saved tensor was modified by an inplace operation: "
                           f"it is at version {first._version}; expected version {version}")
    return [t.data for t, _ in saved]


# %% [markdown]
# With your hooks installed, the silent bug of pitfall 3 becomes a loud one:

# %%
with using_hooks(save_for_backward, unpack_saved):
    x = Tensor(np.array([1.0, 2.0, 3.0]))
    loss = (x**2).sum()
    x.add_(1.0)
    try:
        loss.backward()
    except RuntimeError as error:
        print("RuntimeError:", error)

# %% [markdown]
# ### Exercise 5 · A training loop without the pitfalls (2 points)
#
# Write `train(loss_fn, w, steps, lr)`: `steps` steps of gradient descent on the parameter tensor `w`, where
# `loss_fn(w)` builds a fresh scalar loss tensor. Each step must
#
# 1. zero `w.grad` first (it may hold anything when `train` is called, even stale gradients from earlier work),
# 2. build the loss and call `backward()`,
# 3. update `w` **in place** (the caller's `w` must move): `w.data -= lr * w.grad`,
# 4. add the loss's *value* to a running total.
#
# Return the total as a Python `float` (the sum of the losses computed at the start of each step), not a tensor.
# Keep no graph alive from one step to the next: the tests check that each step's loss tensor, and the graph
# behind it, can be freed once the step after it is over, whatever the total looks like in the end.

# %% nbgrader={"grade": false, "grade_id": "08_pitfalls-training_loop-solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
def train(loss_fn, w, steps, lr):
    """Run `steps` steps of gradient descent on the Tensor `w`, in place.

    Args:
        loss_fn: A function that builds a fresh scalar loss Tensor from `w`.
        w: The parameter Tensor; its `grad` may hold stale values on entry. Updated in place.
        steps: The number of steps, an int >= 0.
        lr: The learning rate, a float > 0.

    Returns:
        The sum of the losses computed at the start of each step, as a Python float (not a Tensor).
    """
    ### BEGIN SOLUTION
    total = 0.0
    for _ in range(steps):
        w.zero_grad()
        loss = loss_fn(w)
        loss.backward()
        w.data -= lr * w.grad
        total += float(loss.data)
    return total
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "08_pitfalls-training_loop", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
def _reference_descent(loss_np, w0, steps, lr):
    """Gradient descent with numerical gradients: the final weights and the total loss."""
    v, total = np.array(w0, dtype=float), 0.0
    for _ in range(steps):
        total += loss_np(v)
        v = v - lr * numdiff.gradient(loss_np, v)
    return v, total


def _watched(loss_fn, alive):
    """loss_fn, recording whether the loss tensor of two calls ago is still alive when a new one is built."""
    import gc
    import weakref

    made = []

    def watched(w):
        if len(made) == 2:  # one look is enough, and a collection takes time
            gc.collect()
            alive.append(made[0]() is not None)
        loss = loss_fn(w)
        made.append(weakref.ref(loss))
        return loss

    return watched


def _check_train(loss_fn, loss_np, w0, steps, lr, rng):
    w = Tensor(np.array(w0, dtype=float))
    w.grad = rng.normal(size=np.shape(w0))  # stale gradients from earlier work
    import gc

    alive = []
    gc.freeze()  # the heap as it is now is never the leak: a collection then only scans what train builds
    try:
        total = train(_watched(loss_fn, alive), w, steps, lr)
    finally:
        gc.unfreeze()
    assert not any(alive), (
        f"At step {alive.index(True) + 3} of train, the loss tensor of step {alive.index(True) + 1} was still alive, "
        "and with it its whole graph: a graph leak (total = total + loss, or a list of loss tensors). Add the "
        "loss's value, float(loss.data), and keep no loss tensor from one step to the next.")
    if isinstance(total, Tensor):
        grown = count_nodes(train(loss_fn, Tensor(np.array(w0, dtype=float)), 3 * steps, lr))
        raise AssertionError(f"train returned a Tensor that keeps {count_nodes(total)} nodes alive after {steps} "
                             f"steps and {grown} after {3 * steps}: a graph leak. Add float(loss.data), not loss.")
    v, ref_total = _reference_descent(loss_np, w0, steps, lr)
    checks.assert_close(w.data, v, what=f"weights after {steps} steps", where="(the caller's w)",
                        hint="Zero w.grad before each backward (gradients accumulate), and update w in place.")
    checks.assert_close(total, ref_total, what="total loss", where=f"over {steps} steps",
                        hint="Add each step's loss value, computed before that step's update.")


rng = np.random.default_rng(85)
target = rng.normal(size=4)
_check_train(lambda w: ((w - target) ** 2).sum() + (-w).exp().sum(),
             lambda v: float(np.sum((v - target) ** 2) + np.sum(np.exp(-v))), rng.normal(size=4), 20, 0.05, rng)
### BEGIN HIDDEN TESTS
# One definition of the hidden checks (calcml.probes): the kernel runs them here on a fixed seed; the grader
# draws each student's own inputs, runs the driver in a sandbox and _verify in its own process. A graph leak
# shows in the numbers: the loss tensors the driver hands to train give nan when added to anything, so only
# their .data adds up to the right total; _verify replays the descent with numdiff gradients.
import math

import numpy as np

from calcml import backward_rules, checks, numdiff, probes


def _inputs(rng):
    cases = []
    for steps in (1, int(rng.integers(5, 10)), int(rng.integers(25, 40))):
        n = int(rng.integers(1, 6))
        xs, ys = rng.normal(size=(2, n))
        cases.append({"xs": xs, "ys": ys, "w0": rng.normal(size=n), "steps": steps, "lr": 0.1,
                      "stale": rng.normal(size=n)})
    return {"cases": cases}


_DRIVER = backward_rules.REFERENCE + """
def nan(self, *args, **kwargs):
    if args and isinstance(args[0], Tensor):  # loss + tensor: the engine's own op (a leak, seen by loss_fn below)
        return NotImplemented
    return float("nan")

# The loss tensors handed to train: their value is in .data, and they work with backward(), but any
# arithmetic on the tensor itself (total + loss, the graph leak) gives nan, so a leak shows in the total.
Loss = type("Loss", (Tensor,), {name: nan for name in (
    "__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__", "__truediv__", "__rtruediv__",
    "__neg__", "__pos__", "__pow__", "__rpow__", "__matmul__", "__rmatmul__", "__iadd__", "__isub__",
    "__imul__", "exp", "relu", "tanh", "sigmoid", "sum")})

import gc
import weakref

gc.freeze()  # the heap as it is now is never the leak: a collection then only scans what train builds
result = []
for case in inputs["cases"]:
    xs, ys = np.array(case["xs"]), np.array(case["ys"])
    made, alive = [], []

    def loss_fn(w, xs=xs, ys=ys, made=made, alive=alive):
        # Is the loss tensor of two calls ago (and so its graph) still alive when a new one is built? A weak
        # reference sees it whatever holds it: a running Tensor total, a list, an attribute.
        if len(made) == 2:
            gc.collect()
            alive.append(made[0]() is not None)
        loss = (((w * xs).tanh() - ys) ** 2).sum() + (w * w).sum() * 0.1
        loss.__class__ = Loss
        made.append(weakref.ref(loss))
        return loss

    with using_rules(**REFERENCE):
        w = Tensor(np.array(case["w0"], dtype=float))
        w.grad = np.array(case["stale"])  # stale gradients from earlier work
        total = train(loss_fn, w, case["steps"], case["lr"])
    try:
        value = float(total)
    except (TypeError, ValueError):
        value = None
    result.append({"w": w.data, "total": value, "kind": type(total).__name__, "alive": alive})
gc.unfreeze()
"""


def _verify(inputs, result):
    probes.require(isinstance(result, list) and len(result) == len(inputs["cases"]), "train gave too few results.")
    for case, got in zip(inputs["cases"], result, strict=True):
        xs, ys = np.array(case["xs"]), np.array(case["ys"])

        def loss_np(v, xs=xs, ys=ys):
            return float(np.sum((np.tanh(v * xs) - ys) ** 2) + 0.1 * np.sum(v * v))

        v, total = np.array(case["w0"], dtype=float), 0.0
        for _ in range(case["steps"]):
            total += loss_np(v)
            v = v - case["lr"] * numdiff.gradient(loss_np, v)
        probes.require(isinstance(got, dict), "train gave no result.")
        alive = got.get("alive")
        probes.require(isinstance(alive, list) and len(alive) == min(1, max(case["steps"] - 2, 0)),
                       "train did not call loss_fn once per step.")
        if True in alive:
            raise checks.CheckFailure(
                f"At step {alive.index(True) + 3} of train, the loss tensor of step {alive.index(True) + 1} was still "
                "alive, and with it its whole graph: a graph leak (total = total + loss, or a list of loss tensors), "
                "even if the total is made a float in the end. Add the loss's value, float(loss.data), and keep no "
                "loss tensor from one step to the next.")
        value = got.get("total")
        if type(value) is not float:
            raise checks.CheckFailure(f"train returned a {str(got.get('kind'))[:40]}, not a float, after "
                                      f"{case['steps']} steps: a Tensor total keeps every step's graph alive (a graph "
                                      "leak). Add float(loss.data), not loss.")
        if not math.isfinite(value):
            raise checks.CheckFailure(f"The total train returned after {case['steps']} steps is {value}: it added "
                                      "the loss tensor itself (total + loss), which keeps every step's graph alive "
                                      "(a graph leak). Add the loss's value, float(loss.data).")
        probes.close(got.get("w"), v, what=f"weights after {case['steps']} steps", where="(the caller's w)",
                     hint="Zero w.grad before each backward (gradients accumulate), and update w in place.")
        probes.close(got.get("total"), total, what="total loss", where=f"over {case['steps']} steps",
                     hint="Add each step's loss value, computed before that step's update.")


probes.exercise(globals(), inputs=_inputs, driver=_DRIVER, verify=_verify, seed=850)
### END HIDDEN TESTS


# %% [raw] wrong_answer="08_pitfalls-training_loop-solution" mistake="The graph leak: the total is a Tensor holding every step's graph."
# ### REPLACE
#         total += float(loss.data)
# ### WITH
#         total = total + loss
# ### END


# %% [raw] wrong_answer="08_pitfalls-training_loop-solution" mistake="The graph leak with a float at the end: total = total + loss on a Tensor total, returned as float(total.data)."
# ### REPLACE
#     total = 0.0
# ### WITH
#     total = Tensor(0.0)
# ### END
# ### REPLACE
#         total += float(loss.data)
#     return total
# ### WITH
#         total = total + loss
#     return float(total.data)
# ### END


# %% [raw] wrong_answer="08_pitfalls-training_loop-solution" mistake="Every loss tensor kept in a list, summed at the end: every step's graph stays alive."
# ### REPLACE
#     total = 0.0
# ### WITH
#     losses = []
# ### END
# ### REPLACE
#         total += float(loss.data)
#     return total
# ### WITH
#         losses.append(loss)
#     return float(sum(float(loss.data) for loss in losses))
# ### END


# %% [raw] wrong_answer="08_pitfalls-training_loop-solution" mistake="Gradients never zeroed: each step uses the sum of all the gradients so far."
# ### REPLACE
#         w.zero_grad()
#         loss = loss_fn(w)
# ### WITH
#         loss = loss_fn(w)
# ### END


# %% [raw] wrong_answer="08_pitfalls-training_loop-solution" mistake="A new tensor instead of an update in place: the caller's w never moves."
# ### REPLACE
#         w.data -= lr * w.grad
# ### WITH
#         w = Tensor(w.data - lr * w.grad)
# ### END


# %% [markdown]
# ### Exercise 6 · Which layer kills the gradient? (3 points)
#
# A chain of $D$ layers $a_l = \phi(z_l)$, $z_l = W_l a_{l-1}$ ($l = 1, \dots, D$, input $a_0 = x$) has stopped
# learning in its first layers. Measure where the gradient dies, as section 2 did, but on a given chain.
#
# - `layer_gradient_norms(weights, x, upstream, activation)`: run the chain forward from $a_0 = x$, keeping
#   what the backward pass needs; then start from $g_D$ = `upstream` $= \partial L/\partial a_D$ and apply the
#   backward recursion of section 2 layer by layer. Return the $D + 1$ norms
#   $\|g_0\|, \dots, \|g_D\|$ (Euclidean), from the input to the output. The layers may have different
#   widths. For ReLU take $\phi'(0) = 0$.
# - `killing_layer(norms)`: from such a list of norms, the layer $l \in \{1, \dots, D\}$ whose backward step
#   shrinks the gradient the most, that is, the one with the smallest ratio $\|g_{l-1}\| / \|g_l\|$. (The
#   smallest norm is not the answer: in a vanishing chain the norms keep shrinking after the culprit.)

# %% nbgrader={"grade": false, "grade_id": "08_pitfalls-killing_layer-solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
def layer_gradient_norms(weights, x, upstream, activation):
    """The norm of the gradient of the loss at every layer of a chain a_l = phi(W_l a_{l-1}).

    Args:
        weights: A list of the D matrices W_1, ..., W_D; W_l has shape (n_l, n_{l-1}).
        x: The input a_0, an array of shape (n_0,).
        upstream: g_D = dL/da_D, an array of shape (n_D,).
        activation: "sigmoid", "tanh" or "relu" (with relu'(0) = 0).

    Returns:
        An array of D + 1 floats: the Euclidean norms of g_0 = dL/da_0, ..., g_D = dL/da_D, in that order.
    """
    ### BEGIN SOLUTION
    phi = {"sigmoid": lambda z: np.exp(-np.logaddexp(0.0, -z)), "tanh": np.tanh,
           "relu": lambda z: np.maximum(z, 0.0)}[activation]
    a, outputs, pre = np.asarray(x, dtype=float), [], []
    for W in weights:
        z = np.asarray(W, dtype=float) @ a
        a = phi(z)
        pre.append(z)
        outputs.append(a)
    g = np.asarray(upstream, dtype=float)
    norms = [np.linalg.norm(g)]
    for W, z, a in zip(reversed(weights), reversed(pre), reversed(outputs), strict=True):
        slope = {"sigmoid": a * (1 - a), "tanh": 1 - a**2, "relu": (z > 0).astype(float)}[activation]
        g = np.asarray(W, dtype=float).T @ (slope * g)
        norms.append(np.linalg.norm(g))
    return np.array(norms[::-1])
    ### END SOLUTION


def killing_layer(norms):
    """The layer that shrinks the gradient the most.

    Args:
        norms: D + 1 positive floats, the norms of g_0, ..., g_D (as layer_gradient_norms returns them).

    Returns:
        The layer l, an int from 1 to D, with the smallest ratio norms[l - 1] / norms[l].
    """
    ### BEGIN SOLUTION
    norms = np.asarray(norms, dtype=float)
    return int(np.argmin(norms[:-1] / norms[1:])) + 1
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "08_pitfalls-killing_layer", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
rng = np.random.default_rng(86)
for activation, gain, widths in [("tanh", 1.0, [5, 5, 5, 5]), ("sigmoid", 2.0, [4, 6, 3, 5, 4]),
                                 ("relu", np.sqrt(2), [6, 8, 5, 7])]:
    weights, x0, u = gradient_flow.random_chain(rng, widths, gain)  # std gain/√n, an input, a unit upstream
    norms = layer_gradient_norms([W.copy() for W in weights], x0.copy(), u.copy(), activation)
    checks.assert_close(norms, gradient_flow.backward_norms(weights, x0, u, activation),  # calcml's own measurement
                        what=f"gradient norms ‖g_0‖, ..., ‖g_D‖ of a {activation} chain of widths {widths}",
                        hint="g_{l-1} = W_lᵀ (φ'(z_l) ⊙ g_l): φ' at the pre-activation z_l, and the transpose of W_l. "
                             "Return them from the input (g_0) to the output (g_D).")
weights, x0, u = gradient_flow.random_chain(rng, [5, 5, 5, 5, 5, 5], 1.0, culprit=3)  # layer 3's weights × 0.02
reference = gradient_flow.backward_norms(weights, x0, u, "tanh")
found = killing_layer(list(reference))
assert found == 3, (f"In this tanh chain of depth 5, layer 3's weights are 50 times too small, but killing_layer "
                    f"returned {found!r}. The layer l (from 1 to D) with the smallest ‖g_(l-1)‖ / ‖g_l‖ is the one that "
                    "shrinks the gradient the most; the smallest norm comes after it, nearer the input.")
### BEGIN HIDDEN TESTS
# One definition of the hidden checks (calcml.probes): the kernel runs them here on a fixed seed; the grader
# draws each student's own inputs, runs the driver in a sandbox and _verify in its own process. The norms are
# compared with calcml.gradient_flow.backward_norms, an independent measurement of the same chain; the culprit of
# each list of norms is computed in _verify from the norms themselves.
import numpy as np

from calcml import gradient_flow, probes


def _inputs(rng):
    chains = []
    for k, activation in enumerate(["sigmoid", "tanh", "relu", "sigmoid", "tanh", "relu"]):
        depth = int(rng.integers(3, 8))
        widths = [int(n) for n in rng.integers(2, 9, size=depth + 1)]
        gain = {"sigmoid": 4.0, "tanh": 1.0, "relu": float(np.sqrt(2))}[activation] * float(rng.uniform(0.8, 1.25))
        weights = gradient_flow.chain_weights(rng, widths, gain)
        if k >= 3:  # a layer with far too small weights somewhere inside
            weights[int(rng.integers(1, depth))] *= 0.02
        x = rng.normal(size=widths[0]) * (3.0 if k == 3 else 1.0)  # k = 3: a saturated sigmoid input layer
        chains.append({"weights": weights, "x": x, "upstream": rng.normal(size=widths[-1]), "activation": activation})
    lists = []
    for _ in range(4):  # norms with a clear culprit that is neither the first nor the last layer
        depth = int(rng.integers(4, 12))
        ratios = rng.uniform(0.3, 3.0, size=depth)  # ratios[l - 1] = ‖g_(l-1)‖ / ‖g_l‖
        culprit = int(rng.integers(2, depth))
        ratios[culprit - 1] = float(rng.uniform(1e-4, 1e-2))
        norms = np.ones(depth + 1)
        for layer in range(depth, 0, -1):
            norms[layer - 1] = norms[layer] * ratios[layer - 1]
        lists.append((norms * float(rng.uniform(0.1, 10.0))).tolist())
    return {"chains": chains, "lists": lists}


_DRIVER = """
import numpy as np

result = {"chains": [], "layers": []}
for chain in inputs["chains"]:
    weights = [np.array(W, dtype=float) for W in chain["weights"]]
    result["chains"].append(layer_gradient_norms(weights, np.array(chain["x"]), np.array(chain["upstream"]),
                                                 chain["activation"]))
for norms in inputs["lists"]:
    result["layers"].append(killing_layer(list(norms)))
"""


def _verify(inputs, result):
    probes.require(isinstance(result, dict) and isinstance(result.get("chains"), list)
                   and len(result["chains"]) == len(inputs["chains"]), "layer_gradient_norms gave too few results.")
    for chain, got in zip(inputs["chains"], result["chains"], strict=True):
        weights = [np.array(W, dtype=float) for W in chain["weights"]]
        widths = [weights[0].shape[1]] + [W.shape[0] for W in weights]
        reference = gradient_flow.backward_norms(weights, np.array(chain["x"]), np.array(chain["upstream"]),
                                                 chain["activation"])
        probes.close(got, reference, what="gradient norms ‖g_0‖, ..., ‖g_D‖",
                     where=f"for a {chain['activation']} chain of depth {len(weights)} and widths {widths}",
                     hint="g_(l-1) = W_lᵀ (φ'(z_l) ⊙ g_l), with φ' at the pre-activation z_l of the same layer, "
                          "and the transpose of W_l; the norms go from the input (g_0) to the output (g_D).")
    layers = result.get("layers")
    probes.require(isinstance(layers, list) and len(layers) == len(inputs["lists"]), "killing_layer gave too few results.")
    for norms, got in zip(inputs["lists"], layers, strict=True):
        n = np.array(norms)
        ratios = n[:-1] / n[1:]
        culprit = int(np.argmin(ratios)) + 1
        probes.require(type(got) in (int, float) and got == culprit,
                       f"For the norms {np.round(n, 4).tolist()} (D = {n.size - 1}), killing_layer returned {got!r}, "
                       f"but layer {culprit} shrinks the gradient the most: ‖g_{culprit - 1}‖ / ‖g_{culprit}‖ = "
                       f"{ratios[culprit - 1]:.2g}. Layers count from 1; the smallest norm is not the culprit.")


probes.exercise(globals(), inputs=_inputs, driver=_DRIVER, verify=_verify, seed=860)
### END HIDDEN TESTS


# %% [raw] wrong_answer="08_pitfalls-killing_layer-solution" mistake="φ' taken at the layer's output a_l instead of its pre-activation z_l."
# ### REPLACE
#     a, outputs, pre = np.asarray(x, dtype=float), [], []
# ### WITH
#     dphi = {"sigmoid": lambda z: phi(z) * (1 - phi(z)), "tanh": lambda z: 1 - np.tanh(z) ** 2,
#             "relu": lambda z: (z > 0).astype(float)}[activation]
#     a, outputs = np.asarray(x, dtype=float), []
# ### END
# ### REPLACE
#         z = np.asarray(W, dtype=float) @ a
#         a = phi(z)
#         pre.append(z)
# ### WITH
#         a = phi(np.asarray(W, dtype=float) @ a)
# ### END
# ### REPLACE
#     for W, z, a in zip(reversed(weights), reversed(pre), reversed(outputs), strict=True):
#         slope = {"sigmoid": a * (1 - a), "tanh": 1 - a**2, "relu": (z > 0).astype(float)}[activation]
#         g = np.asarray(W, dtype=float).T @ (slope * g)
# ### WITH
#     for W, a in zip(reversed(weights), reversed(outputs), strict=True):
#         g = np.asarray(W, dtype=float).T @ (dphi(a) * g)
# ### END


# %% [raw] wrong_answer="08_pitfalls-killing_layer-solution" mistake="W_l where its transpose belongs (a forward-pass habit); only square layers even run."
# ### REPLACE
#         g = np.asarray(W, dtype=float).T @ (slope * g)
# ### WITH
#         g = np.asarray(W, dtype=float) @ (slope * g)
# ### END


# %% [raw] wrong_answer="08_pitfalls-killing_layer-solution" mistake="The layer with the smallest norm, not the one with the biggest drop."
# ### REPLACE
#     norms = np.asarray(norms, dtype=float)
#     return int(np.argmin(norms[:-1] / norms[1:])) + 1
# ### WITH
#     return int(np.argmin(norms))
# ### END


# %% [raw] wrong_answer="08_pitfalls-killing_layer-solution" mistake="The index of the smallest ratio, counted from 0: one layer too early."
# ### REPLACE
#     return int(np.argmin(norms[:-1] / norms[1:])) + 1
# ### WITH
#     return int(np.argmin(norms[:-1] / norms[1:]))
# ### END


# %% active="py" wrong_answer="08_pitfalls-killing_layer-solution" mistake="The course's gradient_flow called instead of writing the backward pass."
def layer_gradient_norms(weights, x, upstream, activation):
    return gradient_flow.backward_norms(weights, x, upstream, activation)


def killing_layer(norms):
    norms = np.asarray(norms, dtype=float)
    return int(np.argmin(norms[:-1] / norms[1:])) + 1


# %% [markdown]
# ### Exercise 7 · Find the graph cut (3 points)
#
# Section 4 warned that a `.data`, a `float(...)` or a trip through NumPy slipped into a forward pass cuts the
# graph *silently*. Here is a training step with such a cut: one line rebuilds a tensor from its data, so one
# parameter never hears from the loss. Nothing fails; that parameter just stops learning.

# %%
rng = np.random.default_rng(87)
x_cut, y_cut = rng.normal(size=3), 0.5
params = {name: Tensor(rng.normal(size=shape)) for name, shape in
          [("w1", (3,)), ("b1", (3,)), ("w2", (3,)), ("b2", ()), ("scale", ())]}


def cut_step(p):
    hidden = (p["w1"] * x_cut + p["b1"]).tanh()
    out = ((p["w2"] * hidden).sum() + Tensor(p["b2"].data)) * p["scale"]  # the cut: a new leaf, from b2's data
    return (out - y_cut) ** 2


with using_rules(mul=lambda inputs, out, up: (up * inputs[1], up * inputs[0]),
                 tanh=lambda inputs, out, up: (up * (1 - out**2),)):
    loss = cut_step(params)
    loss.backward()
for name, t in params.items():
    print(f"{name:6s} grad {np.round(t.grad, 4)}")

# %% [markdown]
# `b2.grad` is zero, but so could be a gradient that is *truly* zero: a parameter behind a ReLU that is off, or
# multiplied by 0, is connected to the loss and receives a gradient, which happens to be 0. The two cases need
# different fixes, and the numbers cannot tell them apart. The graph can: a parameter receives a gradient
# exactly when some path of `_prev` links leads from the loss to it.
#
# Write `no_gradient(loss, params)`: the names of the parameters that the backward pass from `loss` cannot reach.

# %% nbgrader={"grade": false, "grade_id": "08_pitfalls-graph_cut-solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
def no_gradient(loss, params):
    """The parameters an accidental graph cut left without a gradient.

    Args:
        loss: The scalar loss Tensor that a forward pass built from the parameters.
        params: A dict from names (str) to the parameter Tensors (leaves); their `grad` may hold anything.

    Returns:
        A list of the names whose parameter no path of `_prev` links leads to from `loss`, in the dict's order
        (a parameter that is reached, even one whose gradient is 0, is not listed). You may call
        `loss.backward()`, but you need not.
    """
    ### BEGIN SOLUTION
    reached = {id(node) for node in topological_order(loss)}
    return [name for name, t in params.items() if id(t) not in reached]
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "08_pitfalls-graph_cut", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
def _cut_params(rng):
    return {name: Tensor(rng.normal(size=shape)) for name, shape in
            [("w1", (3,)), ("b1", (3,)), ("w2", (3,)), ("b2", ()), ("scale", ())]}


def _cut_loss(p, x, y, cut="", dead=False):
    w1 = Tensor(p["w1"].data) if cut == "w1_data" else p["w1"]
    pre = w1 * x + p["b1"]
    hidden = Tensor(np.tanh(pre.data)) if cut == "numpy" else pre.tanh()
    if dead:
        hidden = (hidden - 10.0).relu()  # a ReLU that is off: zero gradients, but connected
    scale = Tensor(float(p["scale"].data)) if cut == "float" else p["scale"]
    return (((p["w2"] * hidden).sum() + p["b2"]) * scale - y) ** 2


_REFERENCE = {"mul": lambda inputs, out, up: (up * inputs[1], up * inputs[0]),
              "tanh": lambda inputs, out, up: (up * (1 - out**2),)}
rng = np.random.default_rng(88)
with using_rules(**_REFERENCE):
    found = no_gradient(cut_step(params), params)
    assert list(found) == ["b2"], (f"In the step above, b2 is rebuilt from its data (Tensor(p['b2'].data)), so it "
                                   f"receives no gradient; no_gradient returned {found!r}.")
    for cut, dead, expected in [("w1_data", False, ["w1"]), ("float", True, ["scale"]), ("", True, [])]:
        p = _cut_params(rng)
        for t in p.values():
            t.grad = rng.normal(size=t.data.shape)  # stale gradients from earlier work
        found = no_gradient(_cut_loss(p, rng.normal(size=3), 0.3, cut, dead), p)
        assert list(found) == expected, (
            f"With the cut {cut or 'none'}{' and a ReLU that is off' if dead else ''}, the parameters without a "
            f"gradient are {expected}, but no_gradient returned {found!r}. Follow the _prev links from the loss; a "
            "zero (or a stale) grad does not say whether a parameter is connected.")
### BEGIN HIDDEN TESTS
# One definition of the hidden checks (calcml.probes): the kernel runs them here on a fixed seed; the grader
# draws each student's own inputs, runs the driver in a sandbox and _verify in its own process. The driver builds
# the step with the notebook's Tensor, cut in the ways each input names (a .data rebuilt into a new leaf, a trip
# through NumPy, a float, a rebuilt bias; or none), sometimes with a ReLU that is off (zero gradients that are no
# cut) or a parameter used twice, once through a cut (still reached), and stale gradients; it reports the names
# no_gradient returned. _verify knows from the construction which parameters are cut.
import numpy as np

from calcml import backward_rules, probes

_CUTS = {"w1_data": ["w1"], "numpy": ["w1", "b1"], "float": ["scale"], "b2_rebuilt": ["b2"]}
_NAMES = ["w1", "b1", "w2", "b2", "scale"]


def _inputs(rng):
    cases = []
    for k in range(8):
        cuts = [str(c) for c in rng.choice(sorted(_CUTS), size=int(rng.integers(0, 3)), replace=False)]
        if k < 2:
            cuts = ["w1_data", "b2_rebuilt"][k:k + 1]
        n = int(rng.integers(2, 6))
        cases.append({"cuts": cuts, "dead": bool(k % 3 == 1), "twice": bool(k % 4 == 2), "stale": bool(k % 2 == 0),
                      "n": n, "x": rng.normal(size=n), "y": float(rng.normal()),
                      "params": {"w1": rng.normal(size=n), "b1": rng.normal(size=n), "w2": rng.normal(size=n),
                                 "b2": float(rng.normal()), "scale": float(rng.normal())},
                      "stale_grads": {"w1": rng.normal(size=n), "b1": rng.normal(size=n), "w2": rng.normal(size=n),
                                      "b2": float(rng.normal()), "scale": float(rng.normal())}})
    return {"cases": cases}


_DRIVER = backward_rules.REFERENCE + """
result = []
for case in inputs["cases"]:
    cuts, x, y = case["cuts"], np.array(case["x"]), case["y"]
    p = {name: Tensor(np.array(value, dtype=float)) for name, value in case["params"].items()}
    if case["stale"]:
        for name, t in p.items():
            t.grad = np.array(case["stale_grads"][name], dtype=float)
    with using_rules(**REFERENCE):
        w1 = Tensor(p["w1"].data) if "w1_data" in cuts else p["w1"]
        pre = w1 * x + p["b1"]
        hidden = Tensor(np.tanh(pre.data)) if "numpy" in cuts else pre.tanh()
        if case["dead"]:
            hidden = (hidden - 10.0).relu()
        scale = Tensor(float(p["scale"].data)) if "float" in cuts else p["scale"]
        b2 = Tensor(p["b2"].data + 0.0) if "b2_rebuilt" in cuts else p["b2"]
        loss = (((p["w2"] * hidden).sum() + b2) * scale - y) ** 2
        if case["twice"]:  # w2 once more, through a cut: it is still reached by the first path
            loss = loss + (Tensor(p["w2"].data) * x).sum() * 0.1
        found = no_gradient(loss, p)
    result.append([str(name) for name in found] if isinstance(found, (list, tuple)) else repr(found)[:200])
"""


def _verify(inputs, result):
    probes.require(isinstance(result, list) and len(result) == len(inputs["cases"]), "no_gradient gave too few results.")
    for case, got in zip(inputs["cases"], result, strict=True):
        cut = {name for c in case["cuts"] for name in _CUTS[c]}
        expected = [name for name in _NAMES if name in cut]
        setting = (f"with the cuts {case['cuts'] or 'none'}" + (", a ReLU that is off" if case["dead"] else "")
                   + (", w2 used twice, once through a cut" if case["twice"] else "")
                   + (", stale gradients on entry" if case["stale"] else ""))
        probes.require(isinstance(got, list), f"no_gradient must return a list of names, not {got} ({setting}).")
        missed = [name for name in expected if name not in got]
        wrong = [name for name in got if name not in expected]
        probes.require(not missed, f"{', '.join(missed)} received no gradient ({setting}), but no_gradient did not "
                                   "list it. A tensor rebuilt from a parameter's data (Tensor(p.data), float(...), a "
                                   "NumPy round trip) shares the numbers, not the graph: follow the _prev links from "
                                   "the loss and compare the tensors themselves.")
        probes.require(not wrong, f"no_gradient listed {', '.join(wrong)} ({setting}), but the loss reaches "
                                  f"{'them' if len(wrong) > 1 else 'it'} through the graph: a gradient that is 0 (a "
                                  "ReLU that is off) or stale is still a gradient. Ask the graph, not the numbers.")
        probes.require(got == expected, f"no_gradient returned {got}; list the names in the dict's order: {expected}.")


probes.exercise(globals(), inputs=_inputs, driver=_DRIVER, verify=_verify, seed=870)
### END HIDDEN TESTS


# %% active="py" wrong_answer="08_pitfalls-graph_cut-solution" mistake="The parameters whose grad is zero after backward, without zeroing first: stale gradients hide the cut."
def no_gradient(loss, params):
    loss.backward()
    return [name for name, t in params.items() if not np.any(t.grad)]


# %% active="py" wrong_answer="08_pitfalls-graph_cut-solution" mistake="The parameters whose grad is zero after a fresh backward: a true zero (a ReLU that is off) is taken for a cut."
def no_gradient(loss, params):
    for t in params.values():
        t.zero_grad()
    loss.backward()
    return [name for name, t in params.items() if not np.any(t.grad)]


# %% active="py" wrong_answer="08_pitfalls-graph_cut-solution" mistake="Graph nodes matched by their data array: Tensor(p.data) shares the array, so the cut looks connected."
def no_gradient(loss, params):
    arrays = [node.data for node in topological_order(loss)]
    return [name for name, t in params.items() if not any(a is t.data for a in arrays)]


# %% active="py" wrong_answer="08_pitfalls-graph_cut-solution" mistake="Graph nodes matched by value: a rebuilt tensor holds the same numbers, so the cut looks connected."
def no_gradient(loss, params):
    nodes = topological_order(loss)
    return [name for name, t in params.items()
            if not any(node.data.shape == t.data.shape and np.array_equal(node.data, t.data) for node in nodes)]


# %% [markdown]
# ## What you can now do
#
# - Check any gradient against central differences with one relative error for the whole gradient, point at
#   the worst component, and read the verdict against `checks.RTOL` and `checks.SUSPICIOUS`.
# - Recognise the false alarms of a gradient check (a kink between $x \pm h$, a float32 check) and avoid them:
#   detect the straddled kinks, check in float64 with the step $h\max(1, |x_i|)$, $h \approx \varepsilon^{1/3}$
#   (the factor $\max(1, |x_i|)$ matters when $|x_i|$ is large).
# - Predict vanishing and exploding gradients from the activation and the weight gain, measure the gradient norm
#   layer by layer, and name the layer that kills it (the smallest ratio $\|g_{l-1}\|/\|g_l\|$).
# - Find and fix wrong backward rules with a gradient check, and use `detach` as a deliberate stop-gradient.
# - Make in-place changes loud with version counters, and write a training loop that zeroes its gradients and
#   keeps no graph alive.
# - Find the parameters an accidental graph cut leaves without a gradient, by following the graph from the loss
#   (a zero gradient alone cannot tell a cut from a true zero).
#
# | symptom | likely cause | tool |
# |---|---|---|
# | relative error $> 10^{-2}$ | a wrong backward rule (sign, factor, input instead of output, missing operand), or a kink between $x \pm h$ | `gradient_check`, worst index, kink detection |
# | relative error $10^{-5}$ to $10^{-2}$ | a float32 check, a poor step, or a small bug | float64, $h \approx \varepsilon^{1/3}$ ($\times\max(1, |x_i|)$) |
# | early layers do not learn | vanishing gradients: sigmoid chains, too small a gain, one layer with tiny weights | per-layer gradient norms (the smallest ratio names the layer), He/Xavier gain |
# | loss jumps to NaN | exploding gradients: too large a gain | per-layer gradient norms, gradient clipping |
# | steps grow over time | gradients never zeroed | `w.zero_grad()` before each `backward()` |
# | memory grows every iteration | `total += loss` keeps every graph | `total += loss.item()` |
# | gradient silently wrong after an update | data changed in place between forward and backward | version counters |
# | a branch stops learning | an accidental `detach` / `.data` / `float` / NumPy round trip | gradient check; the parameters the loss's graph does not reach |
#
# **Where next.** This is the last unit. You have built the whole chain: derivatives and their numerical
# checks (unit 1), gradients (unit 2), Jacobians and the chain rule (unit 3), backpropagation on a graph
# (units 4 and 5), the optimiser that uses it (unit 6), the gradients of the standard losses (unit 7), and the
# checks that keep all of it honest. The same ideas, at scale, are what PyTorch and JAX run for you.
