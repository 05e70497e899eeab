# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Unit 3 · Jacobians and the chain rule
#
# A neural network is a chain of maps between vector spaces: a layer takes a vector in and hands a vector on.
# To train it we need to know how a small change of the input (or of a weight) moves every output, and the
# object that records this is the **Jacobian**. The chain rule then says something wonderfully simple: the
# Jacobian of a chain is the *product* of the Jacobians of its links. Backpropagation is nothing more than
# multiplying that product in a clever order.
#
# **Learning objective 3.** State and apply the multivariable chain rule using Jacobians, and explain how it
# underpins backpropagation. By the end of this unit you will be able to
#
# - write down the Jacobian of a map $f:\mathbb{R}^n\to\mathbb{R}^m$ as an $m\times n$ matrix and read its
#   rows and columns;
# - state the chain rule as a product of Jacobians and check it numerically and symbolically;
# - derive the Jacobians of elementwise maps, of a linear layer and of softmax;
# - compute Jacobian-vector products (forward mode) and vector-Jacobian products (reverse mode) without ever
#   building a Jacobian, and explain why backpropagation is a chain of VJPs;
# - predict, and measure, when forward mode or reverse mode is cheaper.

# %%
import time

import matplotlib.pyplot as plt
import numpy as np
import sympy as sp

from calcml import checks, linear_maps, numdiff

# %% [markdown]
# ## 1 · The Jacobian: every partial derivative at once
#
# Let $f:\mathbb{R}^n\to\mathbb{R}^m$ have components $f_1,\dots,f_m$. Its Jacobian at $x$ is the
# $m\times n$ matrix of all partial derivatives,
#
# $$
# J_f(x) = \begin{pmatrix}
#   \dfrac{\partial f_1}{\partial x_1} & \cdots & \dfrac{\partial f_1}{\partial x_n}\\
#   \vdots & \ddots & \vdots\\
#   \dfrac{\partial f_m}{\partial x_1} & \cdots & \dfrac{\partial f_m}{\partial x_n}
# \end{pmatrix}
# = \begin{pmatrix} \nabla f_1(x)^\top \\ \vdots \\ \nabla f_m(x)^\top \end{pmatrix},
# \qquad (J_f)_{ij} = \frac{\partial f_i}{\partial x_j}.
# $$
#
# **Outputs index the rows, inputs index the columns.** Row $i$ is the gradient of output $i$ (unit 2's column,
# laid flat);
# column $j$ is the velocity of *all* outputs when input $j$ alone moves. A scalar function ($m = 1$) has a
# $1\times n$ Jacobian: its gradient, as a row. This is the convention of `numdiff.jacobian`, which returns
# an array of shape `f(x).shape + x.shape`, outputs first.
#
# Why collect the partials in a matrix? Because the matrix *acts*: it is the best linear approximation of $f$
# near $x$,
#
# $$ f(x + \delta) = f(x) + J_f(x)\,\delta + o(\|\delta\|), $$
#
# exactly as $f(x + h) \approx f(x) + f'(x)\,h$ in one variable. The Jacobian is "the derivative" of a
# vector map; partial derivatives are just its entries.
#
# **Worked example: polar coordinates.** The map $f(\rho, \theta) = (\rho\cos\theta,\ \rho\sin\theta)$ has
#
# $$
# J_f(\rho,\theta) = \begin{pmatrix} \cos\theta & -\rho\sin\theta \\ \sin\theta & \rho\cos\theta \end{pmatrix},
# \qquad \det J_f = \rho\cos^2\theta + \rho\sin^2\theta = \rho .
# $$
#
# (*Refresher:* $\det\begin{pmatrix} a & b \\ c & d \end{pmatrix} = ad - bc$. Its size is the area of the
# parallelogram spanned by the two columns, and its sign says whether the matrix keeps the orientation of the
# plane ($+$) or flips it like a mirror ($-$).)
#
# Column 1 is the unit vector pointing away from the origin (moving $\rho$ moves the point radially);
# column 2 is tangent to the circle and has length $\rho$ (moving $\theta$ sweeps faster far from the
# origin). Let us check the formula against finite differences, and look at a map that is not square.

# %%
def polar(p):
    rho, theta = p
    return np.array([rho * np.cos(theta), rho * np.sin(theta)])


def polar_jacobian(p):
    rho, theta = p
    return np.array([[np.cos(theta), -rho * np.sin(theta)],
                     [np.sin(theta), rho * np.cos(theta)]])


p = np.array([2.0, np.pi / 6])
print("by hand:\n", polar_jacobian(p))
print("numdiff.jacobian:\n", numdiff.jacobian(polar, p))
print("det J =", np.linalg.det(polar_jacobian(p)), "= rho")


def three_to_two(x):  # f: R^3 -> R^2
    return np.array([x[0] * x[1] * x[2], x[0] + x[1] ** 2])


print("a map R^3 -> R^2 has a Jacobian of shape", numdiff.jacobian(three_to_two, np.array([1.0, 2.0, 3.0])).shape)

# %% [markdown]
# ### See it: the Jacobian is the best linear approximation
#
# The explorer below takes a small circle of inputs $x + \delta$, $\|\delta\| = r$, around a point $x$ and
# draws where $f$ sends it (solid blue) next to where the Jacobian predicts it goes,
# $f(x) + J\delta$ (dashed). A linear map sends a circle to an **ellipse**, spanned by the columns
# $rJe_1, rJe_2$ (the green and pink arrows). The map here is the polar map, with $x_1 = \rho$ and
# $x_2 = \theta$. Things to try:
#
# - **Shrink $r$.** The two curves merge. The readout shows the gap as a multiple of $r$ and of $r^2$:
#   the gap over $r$ goes to 0 while the gap over $r^2$ settles to a constant. The error of the linear
#   approximation is *second order*: that is what "best linear approximation" means.
# - **Move $x_1 = \rho$ towards 0.** $\det J = \rho$ shrinks and the ellipse flattens into a segment: near the
#   origin the map squashes area (every $\theta$ lands on the origin when $\rho = 0$).
# - **Make $\rho$ negative.** Now $\det J < 0$. On the left the pink arrow is a quarter turn
#   *counterclockwise* from the green one; on the right it is now *clockwise* from it: the map flips
#   orientation, like a mirror. The sign of $\det J$ says whether $f$ preserves orientation; its size is the
#   factor by which $f$ scales small areas.
#
# Without a live kernel (for instance in an HTML export) you see the figure for the starting state.

# %%
linear_maps.linear_map_explorer(polar, x0=(1.0, 0.6), radius=0.4, x_range=(-2.0, 2.0), jac=polar_jacobian)

# %% [markdown]
# ## 2 · The chain rule is a product of Jacobians
#
# Take $f:\mathbb{R}^n\to\mathbb{R}^m$ and $g:\mathbb{R}^m\to\mathbb{R}^p$, and $h = g\circ f$. Near $x$,
# $f(x+\delta) \approx f(x) + J_f(x)\,\delta$, and near $y = f(x)$, $g(y + \varepsilon) \approx g(y) +
# J_g(y)\,\varepsilon$. Put $\varepsilon = J_f(x)\,\delta$: the linear approximations compose, so
#
# $$
# \boxed{\,J_{g\circ f}(x) = J_g\big(f(x)\big)\,J_f(x)\,}
# \qquad (p\times n) = (p\times m)\,(m\times n).
# $$
#
# Two details carry all the weight:
#
# 1. **The order.** The Jacobian of the map applied *last* stands on the *left*, as in $g(f(x))$. The other
#    order $J_f J_g$ is not even defined unless $p = n$; the shapes check you.
# 2. **The point.** $J_g$ is evaluated at $f(x)$, where $g$ actually receives its input, not at $x$.
#
# Written out entry by entry, the product is the familiar "sum over every path":
# $\dfrac{\partial h_i}{\partial x_j} = \sum_{k=1}^{m} \dfrac{\partial g_i}{\partial y_k}\,
# \dfrac{\partial f_k}{\partial x_j}$: $x_j$ influences $h_i$ through each intermediate $y_k$, and the
# contributions add up. For a longer chain $x_0 \xrightarrow{f_1} x_1 \xrightarrow{f_2} \cdots
# \xrightarrow{f_k} x_k$ the rule repeats:
#
# $$ J = J_{f_k}(x_{k-1})\cdots J_{f_2}(x_1)\,J_{f_1}(x_0). $$
#
# A numerical check first ($f:\mathbb{R}^3\to\mathbb{R}^2$, $g:\mathbb{R}^2\to\mathbb{R}^4$):

# %%
def f_chain(x):  # R^3 -> R^2
    return np.array([np.sin(x[0]) * x[1], x[1] * x[2] + x[0] ** 2])


def g_chain(y):  # R^2 -> R^4
    return np.array([y[0] * y[1], np.exp(y[0]), y[1] ** 3, y[0] - y[1]])


x = np.array([0.4, -1.1, 0.7])
J_f = numdiff.jacobian(f_chain, x)             # shape (2, 3)
J_g = numdiff.jacobian(g_chain, f_chain(x))    # shape (4, 2), evaluated at f(x)
J_h = numdiff.jacobian(lambda x: g_chain(f_chain(x)), x)   # shape (4, 3)
print("shapes:", J_g.shape, "@", J_f.shape, "=", (J_g @ J_f).shape)
print("relative error of J_g(f(x)) J_f(x) against J_(g o f)(x):", checks.relative_error(J_g @ J_f, J_h))
print("relative error if J_g is wrongly taken at x[:2] instead of f(x):",
      round(checks.relative_error(numdiff.jacobian(g_chain, x[:2]) @ J_f, J_h), 3))

# %% [markdown]
# And exactly, with sympy: `sympy.Matrix.jacobian` builds the matrix of partial derivatives of a vector of
# expressions, and the difference between the two sides simplifies to zero.

# %%
x1, x2, x3, y1, y2 = sp.symbols("x1 x2 x3 y1 y2")
f_sym = sp.Matrix([sp.sin(x1) * x2, x2 * x3 + x1**2])
g_sym = sp.Matrix([y1 * y2, sp.exp(y1), y2**3, y1 - y2])
at_f = {y1: f_sym[0], y2: f_sym[1]}
lhs = g_sym.subs(at_f).jacobian([x1, x2, x3])                    # J of g∘f, differentiated directly
rhs = g_sym.jacobian([y1, y2]).subs(at_f) * f_sym.jacobian([x1, x2, x3])   # J_g(f(x)) J_f(x)
print("J_(g o f) - J_g(f(x)) J_f(x) simplifies to", sp.simplify(lhs - rhs))

# %% [markdown]
# ## 3 · Three Jacobians that every network uses
#
# ### Elementwise maps: diagonal
# An activation $\sigma$ applied componentwise, $y_i = \sigma(x_i)$, lets output $i$ depend on input $i$ only,
# so every off-diagonal partial derivative vanishes:
#
# $$ J = \operatorname{diag}\big(\sigma'(x_1), \dots, \sigma'(x_n)\big). $$
#
# Nobody stores this $n\times n$ matrix of mostly zeros: multiplying by it is an elementwise product,
# $Jv = \sigma'(x)\odot v$.

# %%
z = np.array([-1.5, 0.0, 0.3, 2.0])
print(np.round(numdiff.jacobian(np.tanh, z), 6))
print("diag(1 - tanh(z)^2) agrees:",
      checks.relative_error(numdiff.jacobian(np.tanh, z), np.diag(1 - np.tanh(z) ** 2)) < checks.RTOL)

# %% [markdown]
# ### A linear layer: the weight matrix
# For $y = Wx + b$ with $W\in\mathbb{R}^{m\times n}$, $\partial y_i/\partial x_j = W_{ij}$, so
# $J_x = W$: a linear map is its own best linear approximation.
#
# With respect to the **parameters**, look at one output first: $y = w^\top x + b$ with $w\in\mathbb{R}^n$ has
# $\partial y/\partial w = x^\top$ (a $1\times n$ row) and $\partial y/\partial b = 1$. With $m$ outputs, $y_i$
# uses only row $i$ of $W$, so
#
# $$ \frac{\partial y_i}{\partial W_{kl}} = \delta_{ik}\, x_l , $$
#
# a Jacobian with three indices (shape $m\times m\times n$, outputs first, then the shape of $W$), almost all
# zeros. `numdiff.jacobian` shows it, because it accepts an input of any shape:

# %%
rng = np.random.default_rng(3)
W, b, x = rng.normal(size=(2, 3)), rng.normal(size=2), np.array([1.0, -2.0, 0.5])
J_x = numdiff.jacobian(lambda x: W @ x + b, x)
J_W = numdiff.jacobian(lambda W: W @ x + b, W)
print("J_x equals W:", checks.relative_error(J_x, W) < checks.RTOL)
print("J_W has shape", J_W.shape, "; J_W[0, 0] =", np.round(J_W[0, 0], 6), "; J_W[0, 1] =", np.round(J_W[0, 1], 6))

# %% [markdown]
# The slice `J_W[0]` (output 0) holds $x$ in row 0 and zeros in row 1: only row 0 of $W$ touches $y_0$, and it
# moves $y_0$ at rate $x$. Backpropagation never forms
# this array: it only ever needs $u^\top J_W$ for one vector $u$, which is an ordinary $m\times n$ matrix
# (exercise 4 asks you for it).
#
# ### Softmax: $\operatorname{diag}(p) - pp^\top$
# Softmax turns scores (logits) $z\in\mathbb{R}^n$ into probabilities
# $p_i = e^{z_i} / \sum_k e^{z_k}$. Every $p_i$ depends on every $z_j$ through the denominator, so the
# Jacobian is full. The quickest derivation goes through the logarithm:
#
# $$
# \log p_i = z_i - \log\sum_k e^{z_k}
# \;\Longrightarrow\;
# \frac{\partial \log p_i}{\partial z_j} = \delta_{ij} - \frac{e^{z_j}}{\sum_k e^{z_k}} = \delta_{ij} - p_j
# \;\Longrightarrow\;
# \frac{\partial p_i}{\partial z_j} = p_i\,(\delta_{ij} - p_j),
# $$
#
# using $\partial p_i = p_i\,\partial\log p_i$. In matrix form,
#
# $$ \boxed{\,J_{\text{softmax}}(z) = \operatorname{diag}(p) - p\,p^\top\,} $$
#
# where $pp^\top$ is the $n\times n$ **outer** product (not the number $p^\top p$). Three facts to check any
# implementation against:
#
# - $J$ is symmetric;
# - every row sums to 0, since $J\mathbf 1 = p - p\,(p^\top\mathbf 1) = p - p = 0$: adding the same constant
#   to every logit changes nothing. The same invariance is why a stable softmax subtracts $\max_k z_k$ before
#   exponentiating;
# - $J$ is singular (rank $n - 1$ at most), for the same reason.
#
# Unit 7 multiplies this Jacobian by the gradient of the cross-entropy and gets the famous $p - y$. Sympy
# confirms the formula for $n = 3$:

# %%
zs = sp.symbols("z1:4")
total = sum(sp.exp(zk) for zk in zs)
p_sym = sp.Matrix([sp.exp(zk) / total for zk in zs])
J_softmax_sym = p_sym.jacobian(zs)
print("J - (diag(p) - p p^T) simplifies to", sp.simplify(J_softmax_sym - (sp.diag(*p_sym) - p_sym * p_sym.T)))

# %% [markdown]
# ## 4 · Using a Jacobian without building it: JVPs and VJPs
#
# Networks have millions of inputs and parameters, so their Jacobians are far too big to build. What we can
# afford is to multiply by one vector:
#
# - a **Jacobian-vector product** (JVP) $v \mapsto Jv$, for $v$ in the input space. It is the directional
#   derivative, $Jv = \frac{d}{dt} f(x + tv)\big|_{t=0}$: how all outputs move when the input moves along $v$.
#   It combines the *columns* of $J$; with $v = e_j$ it returns column $j$.
# - a **vector-Jacobian product** (VJP) $u \mapsto u^\top J = (J^\top u)^\top$, for $u$ in the output space. It
#   is a gradient, $u^\top J = \nabla_x\big(u^\top f(x)\big)^\top$: how the weighted sum $u^\top f$ of the
#   outputs depends on each input. It combines the *rows* of $J$; with $u = e_i$ it returns row $i$.
#
# The two are adjoint: $\langle u, Jv\rangle = \langle J^\top u, v\rangle$ for all $u$ and $v$. This identity is
# the standard **dot-product test** for a hand-written VJP.

# %%
def f_demo(x):  # R^3 -> R^4
    return np.array([x[0] * x[1], np.sin(x[2]), x[0] + x[2] ** 2, np.exp(x[1])])


x = np.array([0.3, -1.2, 0.8])
v = np.array([1.0, 2.0, -1.0])          # a direction in the input space (R^3)
u = np.array([1.0, 0.0, -2.0, 0.5])     # a weighting of the outputs (R^4)
J = numdiff.jacobian(f_demo, x)
print("J v             =", np.round(J @ v, 6))
print("d/dt f(x + t v) =", np.round(numdiff.jacobian(lambda t: f_demo(x + t[0] * v), np.zeros(1))[:, 0], 6))
print("u^T J           =", np.round(u @ J, 6))
print("grad of u . f   =", np.round(numdiff.gradient(lambda x: u @ f_demo(x), x), 6))
print("<u, J v> =", round(u @ (J @ v), 10), "  <J^T u, v> =", round((J.T @ u) @ v, 10))

# %% [markdown]
# ### Along a chain: forward mode and reverse mode
# For a chain $J = J_k \cdots J_2 J_1$ (each $J_i$ at its own point $x_{i-1}$), the brackets decide the order:
#
# $$
# Jv = J_k\Big(\cdots\big(J_2\,(J_1 v)\big)\Big)
# \qquad\qquad
# u^\top J = \Big(\big((u^\top J_k)\,J_{k-1}\big)\cdots\Big)\,J_1 .
# $$
#
# - The JVP is evaluated from $J_1$ to $J_k$, **in the same order as $f$ itself**: this is **forward mode**.
#   Each step needs only the current point, so the tangent can travel alongside the values.
# - The VJP is evaluated from $J_k$ back to $J_1$, **against the order of evaluation**: this is
#   **reverse mode**. It needs every intermediate point $x_0, \dots, x_{k-1}$, so the forward pass must store
#   them first.
#
# Every step is a matrix-vector product; no matrix-matrix product ever happens.
#
# **Backpropagation is reverse mode.** Training minimises a *scalar* loss $\ell:\mathbb{R}^n\to\mathbb{R}$ of
# all the parameters. Its Jacobian is a single row, $1\times n$: the gradient. One VJP, seeded with $u = 1$
# ($\partial\ell/\partial\ell$), sweeps back through the network and returns all $n$ partial derivatives at
# once. Forward mode would need $n$ JVPs, one per parameter.

# %% [markdown]
# ## 5 · What each mode costs, measured
#
# To build the full $m\times n$ Jacobian you can run $n$ JVPs (one per column, $v = e_j$) or $m$ VJPs (one per
# row, $u = e_i$). Each pass costs about as much as one evaluation of $f$, so
#
# $$ \text{forward mode} \approx n \times \text{cost}(f), \qquad \text{reverse mode} \approx m \times \text{cost}(f). $$
#
# Let us measure it on a chain of dense layers $\mathbb{R}^n \to \mathbb{R}^{64} \to \mathbb{R}^{64} \to
# \mathbb{R}^{64} \to \mathbb{R}^m$. The layers are linear, so their Jacobians are the weight matrices and a
# pass is a chain of plain numpy matrix-vector products: first with many inputs and one output (the shape of
# a loss), then the other way round.

# %%
def jacobian_by_jvps(mats):
    """Full Jacobian of the chain, one column per forward pass: n JVPs."""
    n = mats[0].shape[1]
    columns = []
    for j in range(n):
        t = np.zeros(n)
        t[j] = 1.0
        for A in mats:              # J_1 first: forward mode
            t = A @ t
        columns.append(t)
    return np.stack(columns, axis=1)


def jacobian_by_vjps(mats):
    """Full Jacobian of the chain, one row per backward pass: m VJPs."""
    m = mats[-1].shape[0]
    rows = []
    for i in range(m):
        s = np.zeros(m)
        s[i] = 1.0
        for A in reversed(mats):    # J_k first: reverse mode
            s = s @ A
        rows.append(s)
    return np.stack(rows, axis=0)


def dense_chain(n, m, width=64, seed=0):
    rng = np.random.default_rng(seed)
    dims = [n, width, width, width, m]
    return [rng.normal(size=(d_out, d_in)) / np.sqrt(d_in) for d_in, d_out in zip(dims[:-1], dims[1:], strict=True)]


def best_time(fn, arg, repeats=3):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(arg)
        times.append(time.perf_counter() - start)
    return min(times)


sizes = [1, 4, 16, 64, 256, 1024]
costs = {}
for label, shape in (("n inputs, m = 1", lambda s: (s, 1)), ("n = 1, m outputs", lambda s: (1, s))):
    forward, reverse = [], []
    for s in sizes:
        mats = dense_chain(*shape(s))
        assert np.allclose(jacobian_by_jvps(mats), jacobian_by_vjps(mats))
        assert np.allclose(jacobian_by_jvps(mats), np.linalg.multi_dot(mats[::-1]))   # J_4 J_3 J_2 J_1
        forward.append(best_time(jacobian_by_jvps, mats))
        reverse.append(best_time(jacobian_by_vjps, mats))
    costs[label] = (forward, reverse)

fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
linear_maps.plot_mode_costs(sizes, *costs["n inputs, m = 1"], ax=axes[0],
                            xlabel="number of inputs n (one output, m = 1)", title="Many inputs, one output: a loss")
linear_maps.plot_mode_costs(sizes, *costs["n = 1, m outputs"], ax=axes[1],
                            xlabel="number of outputs m (one input, n = 1)", title="One input, many outputs")
plt.show()
print(f"n = {sizes[-1]}, m = 1: forward {costs['n inputs, m = 1'][0][-1] * 1e3:.2f} ms, "
      f"reverse {costs['n inputs, m = 1'][1][-1] * 1e3:.2f} ms")

# %% [markdown]
# With one output, reverse mode stays flat at the cost of one pass while forward mode grows with $n$ (faster
# than linearly here, because the first layer itself grows with $n$); with one input the roles swap. Neural
# networks live on the left: millions of parameters, one loss. That is why every deep-learning framework is
# built on reverse mode, and why "backward pass" costs only a small multiple of a forward pass. (Frameworks
# also offer forward mode, for the right-hand situation: a few inputs and many outputs.)

# %% [markdown]
# ## Exercises
#
# The five exercises build one piece of backpropagation each. Exercises 1 to 4 are graded independently;
# exercise 5 uses your `tanh_layer_vjp` from exercise 4 (that reuse is the point: backpropagation is a loop
# over layer VJPs), so finish exercise 4 first. The tests compare your answers with finite differences
# (`calcml.numdiff`) and with identities, on random shapes that are rarely square: a transposed or
# misordered product will not slip through.
#
# ### Exercise 1 · The softmax Jacobian (2 points)
#
# Write `softmax_jacobian(z)` returning $\operatorname{diag}(p) - pp^\top$ for $p = \operatorname{softmax}(z)$.
# It must work for logits as large as $z_i \approx \pm 1000$, where `np.exp(z)` overflows: use the invariance
# $\operatorname{softmax}(z - c) = \operatorname{softmax}(z)$. Do not modify `z` in place.

# %% nbgrader={"grade": false, "grade_id": "03_jacobians-softmax_jacobian-solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
def softmax_jacobian(z):
    """The Jacobian of p = softmax(z) with respect to the logits z.

    Args:
        z: Logits, a 1-D float array of length n >= 1 (possibly with entries near +-1000).

    Returns:
        A float array J of shape (n, n) with J[i, j] = dp_i / dz_j = p_i (delta_ij - p_j), that is
        diag(p) - p p^T; finite for every finite z. The argument z is not modified.
    """
    ### BEGIN SOLUTION
    z = np.asarray(z, dtype=float)
    e = np.exp(z - np.max(z))
    p = e / e.sum()
    return np.diag(p) - np.outer(p, p)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "03_jacobians-softmax_jacobian", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
def _softmax_reference(z):
    """An independent, numerically stable softmax: the forward function whose Jacobian is checked."""
    e = np.exp(z - np.max(z))
    return e / e.sum()


_HINT_SOFTMAX = ("J = diag(p) - p p^T, where p p^T is the n x n outer product np.outer(p, p), "
                 "not the number p @ p.")

_z = np.random.default_rng(0).normal(size=4)
checks.check_jacobian(softmax_jacobian, _softmax_reference, _z, hint=_HINT_SOFTMAX)
checks.assert_close(np.sum(softmax_jacobian(_z.copy()), axis=1), np.zeros(4), what="row sums of the softmax Jacobian",
                    where=checks.describe_point(_z),
                    hint="Adding one constant to every logit leaves p unchanged, so every row of J sums to 0.")

### BEGIN HIDDEN TESTS
# One definition of the hidden checks (calcml.probes): the kernel runs them here on a fixed seed; the grader
# draws each student's own inputs, runs the driver in a sandbox and _verify in its own process.
import numpy as np

from calcml import checks, numdiff, probes


def _softmax(z):
    e = np.exp(z - np.max(z))
    return e / e.sum()


def _inputs(rng):
    random = [rng.normal(scale=float(rng.uniform(0.5, 4.0)), size=int(rng.integers(1, 11))) for _ in range(8)]
    shifted = [{"z": rng.normal(size=int(rng.integers(2, 7))), "shift": shift} for shift in (1000.0, -1000.0)]
    return {"random": random, "one": [float(rng.normal(scale=3))], "shifted": shifted,
            "saturated": [1000.0, 0.0, -1000.0], "untouched": (rng.normal(size=6) + 50.0).tolist()}


# The driver reports z as it is after the call (data); _verify compares it with the z that _inputs drew.
_DRIVER = """
import numpy as np
result = {"random": [softmax_jacobian(np.array(z)) for z in inputs["random"]],
          "one": softmax_jacobian(np.array(inputs["one"])),
          "shifted": [softmax_jacobian(np.array(c["z"]) + c["shift"]) for c in inputs["shifted"]],
          "saturated": softmax_jacobian(np.array(inputs["saturated"]))}
z = np.array(inputs["untouched"])
result["untouched_jacobian"] = softmax_jacobian(z)
result["untouched"] = z.tolist()
"""

_HINT = "J = diag(p) - p pᵀ, where p pᵀ is the n x n outer product np.outer(p, p), not the number p @ p."


def _verify(inputs, result):
    probes.require(isinstance(result, dict) and isinstance(result.get("random"), list)
                   and len(result["random"]) == len(inputs["random"]), "softmax_jacobian gave too few results.")
    for z, got in zip(inputs["random"], result["random"], strict=True):
        z = np.array(z)
        probes.close(got, numdiff.jacobian(_softmax, z), what="softmax Jacobian", where=checks.describe_point(z),
                     hint=_HINT)
    probes.close(result.get("one"), np.zeros((1, 1)), what="softmax Jacobian", where="for one logit",
                 hint="With a single class p = [1] for every z, so J = [[0]].")
    probes.require(isinstance(result.get("shifted"), list) and len(result["shifted"]) == 2,
                   "softmax_jacobian gave too few results.")
    for case, got in zip(inputs["shifted"], result["shifted"], strict=True):
        probes.close(got, numdiff.jacobian(_softmax, np.array(case["z"])), what="softmax Jacobian",
                     where=f"at logits near {case['shift']:+g}",
                     hint="exp(1000) overflows and exp(-1000) underflows to 0: subtract max(z) before exponentiating.")
    probes.close(result.get("saturated"), np.zeros((3, 3)), what="softmax Jacobian", where="at z = [1000, 0, -1000]",
                 hint=_HINT)
    z = inputs["untouched"]
    after = result.get("untouched")
    probes.require(isinstance(after, list) and len(after) == len(z)
                   and all(type(a) is float and a == b for a, b in zip(after, z, strict=True)),
                   "softmax_jacobian changed its argument z in place; compute z - max(z) as a new array.")
    probes.close(result.get("untouched_jacobian"), numdiff.jacobian(_softmax, np.array(z)), what="softmax Jacobian",
                 where="at logits near 50", hint=_HINT)


probes.exercise(globals(), inputs=_inputs, driver=_DRIVER, verify=_verify, seed=20240603)
### END HIDDEN TESTS


# %% active="py" wrong_answer="03_jacobians-softmax_jacobian-solution" mistake="The inner product p @ p (a number) where the outer product p p^T belongs."
def softmax_jacobian(z):
    z = np.asarray(z, dtype=float)
    e = np.exp(z - np.max(z))
    p = e / e.sum()
    return np.diag(p) - p @ p


# %% active="py" wrong_answer="03_jacobians-softmax_jacobian-solution" mistake="The outer product forgotten: diag(p) - p broadcasts to J[i, j] = delta_ij p_i - p_j."
def softmax_jacobian(z):
    z = np.asarray(z, dtype=float)
    e = np.exp(z - np.max(z))
    p = e / e.sum()
    return np.diag(p) - p


# %% active="py" wrong_answer="03_jacobians-softmax_jacobian-solution" mistake="The right formula on an unstable softmax: exp(1000) overflows to inf and p becomes nan."
def softmax_jacobian(z):
    e = np.exp(z)
    p = e / e.sum()
    return np.diag(p) - np.outer(p, p)


# %% [markdown]
# ### Exercise 2 · The Jacobian of a chain (2 points)
#
# A chain $x_0 \xrightarrow{f_1} x_1 \xrightarrow{f_2} \cdots \xrightarrow{f_k} x_k$ is given as two lists of the
# same length: `maps[i]` is the function $f_{i+1}$, and `jacobians[i](point)` returns its Jacobian at `point`
# (a 2-D array, outputs by inputs). Write `chain_jacobian(maps, jacobians, x)` returning the Jacobian of the
# whole chain at $x = x_0$,
#
# $$ J = J_{f_k}(x_{k-1}) \cdots J_{f_2}(x_1)\, J_{f_1}(x_0), \qquad \text{shape } (\dim x_k) \times (\dim x_0). $$
#
# Two things to get right: the order of the product, and the point at which each Jacobian is evaluated.

# %% nbgrader={"grade": false, "grade_id": "03_jacobians-chain_jacobian-solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
def chain_jacobian(maps, jacobians, x):
    """The Jacobian of the chain f_k o ... o f_1 at x, by the chain rule.

    Args:
        maps: A non-empty list [f_1, ..., f_k] of functions; f_i maps a 1-D array of length n_{i-1}
            to a 1-D array of length n_i.
        jacobians: A list of the same length; jacobians[i](point) is the (n_{i+1} x n_i) Jacobian of maps[i]
            at point.
        x: The input x_0, a 1-D array of length n_0.

    Returns:
        The Jacobian of the chain at x, an array of shape (n_k, n_0).
    """
    ### BEGIN SOLUTION
    point = np.asarray(x, dtype=float)
    J = np.eye(point.size)
    for f, jac in zip(maps, jacobians, strict=True):
        J = np.asarray(jac(point), dtype=float) @ J
        point = np.asarray(f(point), dtype=float)
    return J
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "03_jacobians-chain_jacobian", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
_HINT_CHAIN = ("J = J_k(x_{k-1}) ... J_2(x_1) J_1(x_0): the Jacobian of the map applied last stands on the left, "
               "and each J_i is evaluated at the point the chain has reached, not at x.")


def _make_chain(dims, seed):
    """Maps f_i(h) = act(W_i h + b_i) between the given dimensions, with numerical Jacobian functions."""
    rng = np.random.default_rng(seed)
    activations = (np.sin, np.tanh, lambda a: a + 0.3 * a**2)
    maps, jacobians = [], []
    for i, (n_in, n_out) in enumerate(zip(dims[:-1], dims[1:], strict=True)):
        W, b, act = rng.normal(size=(n_out, n_in)) / np.sqrt(n_in), rng.normal(size=n_out), activations[i % 3]

        def f(h, W=W, b=b, act=act, i=i):
            h = np.asarray(h, dtype=float)
            if h.shape != (W.shape[1],):
                raise checks.CheckFailure(f"maps[{i}] takes a vector of length {W.shape[1]}, but it was called "
                                          f"with an array of shape {h.shape}.")
            return act(W @ h + b)

        def jac(h, f=f, i=i, n_in=n_in):
            h = np.asarray(h, dtype=float)
            if h.shape != (n_in,):
                raise checks.CheckFailure(
                    f"jacobians[{i}] was asked for at a point of shape {h.shape}, but maps[{i}] takes vectors of "
                    f"length {n_in}. Evaluate each Jacobian at the input of its own map: x for the first one, "
                    "the output of the maps before it for the others.")
            return numdiff.jacobian(f, h)

        maps.append(f)
        jacobians.append(jac)
    return maps, jacobians


def _check_chain(dims, seed):
    maps, jacobians = _make_chain(dims, seed)
    x0 = np.random.default_rng(seed + 1).normal(size=dims[0])

    def whole(x):
        for f in maps:
            x = f(x)
        return x

    try:
        J = chain_jacobian(list(maps), list(jacobians), x0.copy())
    except ValueError as error:
        raise checks.CheckFailure(f"chain_jacobian raised ValueError ({error}) for layer sizes {dims}. With "
                                  f"non-square Jacobians only one order of the product has matching shapes. "
                                  + _HINT_CHAIN) from error
    checks.assert_close(J, numdiff.jacobian(whole, x0), what="Jacobian of the chain",
                        where=f"with layer sizes {dims}", hint=_HINT_CHAIN)


_check_chain([3, 3, 3, 3], seed=1)      # square: every order multiplies, only one is right
_check_chain([4, 2, 3], seed=2)         # R^4 -> R^2 -> R^3

### BEGIN HIDDEN TESTS
# One definition of the hidden checks (calcml.probes): the kernel runs them here on a fixed seed; the grader
# draws each student's own inputs, runs the driver in a sandbox and _verify in its own process.
import numpy as np

from calcml import numdiff, probes

_ACTIVATIONS = (np.sin, np.tanh, lambda a: a + 0.3 * a**2)


def _inputs(rng):
    # the layer sizes of the visible and the old hidden tests (one map, square, one input, one output, a
    # bottleneck), then random ones
    chains = [[3, 3, 3, 3], [4, 2, 3], [2, 2], [5, 5, 5, 5, 5], [1, 3, 2], [6, 4, 3, 1], [3, 1, 4]]
    for _ in range(4):
        chains.append([int(d) for d in rng.integers(1, 7, size=int(rng.integers(2, 6)))])
    cases = []
    for dims in chains:
        layers = [{"W": rng.normal(size=(n_out, n_in)) / np.sqrt(n_in), "b": rng.normal(size=n_out)}
                  for n_in, n_out in zip(dims[:-1], dims[1:], strict=True)]
        cases.append({"dims": dims, "layers": layers, "x": rng.normal(size=dims[0])})
    return {"cases": cases}


_DRIVER = """
import numpy as np
ACTIVATIONS = (np.sin, np.tanh, lambda a: a + 0.3 * a**2)
SLOPES = (np.cos, lambda a: 1 - np.tanh(a) ** 2, lambda a: 1 + 0.6 * a)

def build(case):
    maps, jacobians = [], []
    for i, layer in enumerate(case["layers"]):
        W, b = np.array(layer["W"]), np.array(layer["b"])

        def check(h, i=i, W=W, what="maps"):
            h = np.asarray(h, dtype=float)
            if h.shape != (W.shape[1],):
                raise ValueError(f"{what}[{i}] takes a vector of length {W.shape[1]}, but it was called at a "
                                 f"point of shape {h.shape}: evaluate each map and Jacobian at the input of "
                                 "its own map")
            return h

        maps.append(lambda h, i=i, W=W, b=b: ACTIVATIONS[i % 3](W @ check(h, i, W) + b))
        jacobians.append(lambda h, i=i, W=W, b=b: SLOPES[i % 3](W @ check(h, i, W, "jacobians") + b)[:, None] * W)
    return maps, jacobians

result = []
for case in inputs["cases"]:
    maps, jacobians = build(case)
    result.append(chain_jacobian(maps, jacobians, np.array(case["x"])))
"""


def _verify(inputs, result):
    probes.require(isinstance(result, list) and len(result) == len(inputs["cases"]),
                   "chain_jacobian gave too few results.")
    for case, got in zip(inputs["cases"], result, strict=True):
        layers = [(np.array(layer["W"], dtype=float), np.array(layer["b"], dtype=float)) for layer in case["layers"]]

        def whole(x, layers=layers):
            for i, (W, b) in enumerate(layers):
                x = _ACTIVATIONS[i % 3](W @ x + b)
            return x

        probes.close(got, numdiff.jacobian(whole, np.array(case["x"])), what="Jacobian of the chain",
                     where=f"with layer sizes {case['dims']}",
                     hint="J = J_k(x_{k-1}) ... J_2(x_1) J_1(x_0): the Jacobian of the map applied last stands on "
                          "the left, and each J_i is evaluated at the point the chain has reached, not at x.")


probes.exercise(globals(), inputs=_inputs, driver=_DRIVER, verify=_verify, seed=35)
### END HIDDEN TESTS


# %% active="py" wrong_answer="03_jacobians-chain_jacobian-solution" mistake="The product in the wrong order: J_1 J_2 ... J_k."
def chain_jacobian(maps, jacobians, x):
    point = np.asarray(x, dtype=float)
    J = np.eye(point.size)
    for f, jac in zip(maps, jacobians, strict=True):
        J = J @ np.asarray(jac(point), dtype=float)
        point = np.asarray(f(point), dtype=float)
    return J


# %% active="py" wrong_answer="03_jacobians-chain_jacobian-solution" mistake="Every Jacobian evaluated at the input x instead of at the point the chain has reached."
def chain_jacobian(maps, jacobians, x):
    x = np.asarray(x, dtype=float)
    J = np.asarray(jacobians[0](x), dtype=float)
    for jac in jacobians[1:]:
        J = np.asarray(jac(x), dtype=float) @ J
    return J


# %% active="py" wrong_answer="03_jacobians-chain_jacobian-solution" mistake="Gradients stacked as columns (the transposed convention): returns J^T, shape (n_0, n_k)."
def chain_jacobian(maps, jacobians, x):
    point = np.asarray(x, dtype=float)
    J = np.eye(point.size)
    for f, jac in zip(maps, jacobians, strict=True):
        J = J @ np.asarray(jac(point), dtype=float).T
        point = np.asarray(f(point), dtype=float)
    return J


# %% [markdown]
# ### Exercise 3 · The JVP of a tanh layer (2 points)
#
# A dense layer with a tanh activation computes $y = \tanh(Wx + b)$ with $W\in\mathbb{R}^{m\times n}$. It is a
# linear map followed by an elementwise one, so by sections 2 and 3 its Jacobian with respect to $x$ is
#
# $$ J = \operatorname{diag}\big(1 - y^2\big)\, W \qquad (m\times n), $$
#
# since $\tanh'(a) = 1 - \tanh^2(a)$. Write `tanh_layer_jvp(W, b, x, v)` returning $Jv$ **without building
# $J$**: apply the two factors to $v$ one after the other (a matrix-vector product and an elementwise
# product).

# %% nbgrader={"grade": false, "grade_id": "03_jacobians-tanh_layer_jvp-solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
def tanh_layer_jvp(W, b, x, v):
    """Forward mode through y = tanh(W x + b): the Jacobian-vector product J v, with J = dy/dx.

    Args:
        W: Weights, shape (m, n).
        b: Bias, shape (m,).
        x: The input, shape (n,).
        v: A tangent vector in the input space, shape (n,).

    Returns:
        J v, shape (m,): how y moves when x moves along v.
    """
    ### BEGIN SOLUTION
    y = np.tanh(W @ x + b)
    return (1.0 - y**2) * (W @ v)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "03_jacobians-tanh_layer_jvp", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
_HINT_JVP = ("J v = (1 - y^2) * (W v) with y = tanh(W x + b): first W v (not W^T v), then multiply it "
             "elementwise by tanh'(W x + b) = 1 - y^2, the derivative taken at the pre-activation.")


def _layer(W, b, x):
    return np.tanh(W @ x + b)


def _check_jvp(m, n, seed):
    rng = np.random.default_rng(seed)
    W, b = rng.normal(size=(m, n)), rng.normal(size=m)
    x, v, u = rng.normal(size=n), rng.normal(size=n), rng.normal(size=m)
    where = f"for W of shape {W.shape}"
    try:
        Jv = tanh_layer_jvp(W.copy(), b.copy(), x.copy(), v.copy())
    except ValueError as error:
        raise checks.CheckFailure(f"tanh_layer_jvp raised ValueError ({error}) {where}: a JVP multiplies the "
                                  "(m x n) Jacobian by a vector of length n and returns length m. "
                                  + _HINT_JVP) from error
    # Against the Jacobian by finite differences ...
    checks.assert_close(Jv, numdiff.jacobian(lambda x_: _layer(W, b, x_), x) @ v, what="J v", where=where,
                        hint=_HINT_JVP)
    # ... and through the adjoint identity <u, J v> = <J^T u, v>, with J^T u = grad of u . y by finite differences.
    checks.assert_close(np.dot(u, Jv), np.dot(numdiff.gradient(lambda x_: u @ _layer(W, b, x_), x), v),
                        what="<u, J v>", where=where + " (the dot-product test <u, Jv> = <J^T u, v>)", hint=_HINT_JVP)


_check_jvp(3, 3, seed=5)
_check_jvp(2, 4, seed=6)

### BEGIN HIDDEN TESTS
# One definition of the hidden checks (calcml.probes): the kernel runs them here on a fixed seed; the grader
# draws each student's own inputs, runs the driver in a sandbox and _verify in its own process.
import numpy as np

from calcml import numdiff, probes


def _layer_cases(rng, shapes):  # the given shapes, three random ones and a partly saturated one (W x 2.5)
    shapes = [*shapes, *((int(rng.integers(1, 9)), int(rng.integers(1, 9))) for _ in range(3)), (4, 4)]
    return {"cases": [{"W": (2.5 if k == len(shapes) - 1 else 1.0) * rng.normal(size=(m, n)), "b": rng.normal(size=m),
        "x": rng.normal(size=n), "v": rng.normal(size=n), "u": rng.normal(size=m)} for k, (m, n) in enumerate(shapes)]}


def _inputs(rng):
    return _layer_cases(rng, [(3, 3), (2, 4), (1, 5), (4, 1), (1, 1), (6, 3), (3, 7), (5, 2)])


_DRIVER = """
import numpy as np
result = [tanh_layer_jvp(*(np.array(c[k], dtype=float) for k in ("W", "b", "x", "v"))) for c in inputs["cases"]]
"""


def _verify(inputs, result):
    probes.require(isinstance(result, list) and len(result) == len(inputs["cases"]),
                   "tanh_layer_jvp gave too few results.")
    for case, got in zip(inputs["cases"], result, strict=True):
        W, b, x, v = (np.array(case[k], dtype=float) for k in ("W", "b", "x", "v"))
        probes.close(got, numdiff.jacobian(lambda x_, W=W, b=b: np.tanh(W @ x_ + b), x) @ v, what="J v",
                     where=f"for W of shape {W.shape}",
                     hint="J v = (1 - y²) * (W v) with y = tanh(W x + b): first W v (not Wᵀ v), then multiply it "
                          "elementwise by tanh'(W x + b) = 1 - y².")


probes.exercise(globals(), inputs=_inputs, driver=_DRIVER, verify=_verify, seed=56)
### END HIDDEN TESTS


# %% active="py" wrong_answer="03_jacobians-tanh_layer_jvp-solution" mistake="The tanh derivative forgotten: the JVP of the linear part only."
def tanh_layer_jvp(W, b, x, v):
    return W @ v


# %% active="py" wrong_answer="03_jacobians-tanh_layer_jvp-solution" mistake="The derivative 1 - a^2 taken with the pre-activation a instead of y = tanh(a)."
def tanh_layer_jvp(W, b, x, v):
    a = W @ x + b
    return (1.0 - a**2) * (W @ v)


# %% active="py" wrong_answer="03_jacobians-tanh_layer_jvp-solution" mistake="W^T where W belongs (a VJP habit); only square layers even run."
def tanh_layer_jvp(W, b, x, v):
    y = np.tanh(W @ x + b)
    return (1.0 - y**2) * (W.T @ v)


# %% [markdown]
# ### Exercise 4 · The VJP of a tanh layer, for input and parameters (3 points)
#
# Reverse mode goes the other way. Given $u\in\mathbb{R}^m$ (in backpropagation: the gradient of the loss
# with respect to the layer's output $y$), write `tanh_layer_vjp(W, b, x, u)` returning the three products
#
# $$
# u_x = u^\top \frac{\partial y}{\partial x}\ \in\mathbb{R}^n, \qquad
# u_W = u^\top \frac{\partial y}{\partial W}\ \in\mathbb{R}^{m\times n}, \qquad
# u_b = u^\top \frac{\partial y}{\partial b}\ \in\mathbb{R}^{m},
# $$
#
# each with the shape of the variable it belongs to (so $u_W$ is shaped like $W$, with
# $(u_W)_{kl} = \sum_i u_i\, \partial y_i/\partial W_{kl}$). Equivalently: $u_x$, $u_W$, $u_b$ are the gradients
# of the scalar $u^\top y$ with respect to $x$, $W$ and $b$. Start from $g = u \odot (1 - y^2)$, the VJP
# through the tanh (the elementwise part), then go through the linear part with section 3 in mind: a VJP
# multiplies by $J^\top$, and $\partial (Wx + b)_i/\partial W_{kl} = \delta_{ik}x_l$. Do not build any Jacobian.

# %% nbgrader={"grade": false, "grade_id": "03_jacobians-tanh_layer_vjp-solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
def tanh_layer_vjp(W, b, x, u):
    """Reverse mode through y = tanh(W x + b): the vector-Jacobian products with respect to x, W and b.

    Args:
        W: Weights, shape (m, n).
        b: Bias, shape (m,).
        x: The input, shape (n,).
        u: A cotangent vector in the output space, shape (m,).

    Returns:
        A tuple (u_x, u_W, u_b) of arrays with shapes (n,), (m, n) and (m,): the gradients of the scalar
        u . tanh(W x + b) with respect to x, W and b.
    """
    ### BEGIN SOLUTION
    y = np.tanh(W @ x + b)
    g = u * (1.0 - y**2)
    return W.T @ g, np.outer(g, x), g
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "03_jacobians-tanh_layer_vjp", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
_HINT_VJP = {
    "x": "u_x = J^T u = W^T (u * (1 - y^2)): a VJP multiplies by the transpose, so W^T, not W.",
    "W": "(u_W)_kl = g_k x_l with g = u * (1 - y^2): the outer product of g (length m) and x (length n), in that order.",
    "b": "u_b = g = u * (1 - y^2): the bias enters the tanh exactly as W x does, with the identity as Jacobian.",
}


def _layer(W, b, x):
    return np.tanh(W @ x + b)


def _check_vjp(m, n, seed):
    rng = np.random.default_rng(seed)
    W, b = rng.normal(size=(m, n)), rng.normal(size=m)
    x, u, v = rng.normal(size=n), rng.normal(size=m), rng.normal(size=n)
    where = f"for W of shape {W.shape}"
    try:
        result = tanh_layer_vjp(W.copy(), b.copy(), x.copy(), u.copy())
    except ValueError as error:
        raise checks.CheckFailure(f"tanh_layer_vjp raised ValueError ({error}) {where}: u has length m, J is "
                                  "m x n, so u^T J = J^T u has length n. " + _HINT_VJP["x"]) from error
    if not (isinstance(result, (tuple, list)) and len(result) == 3):
        raise checks.CheckFailure("tanh_layer_vjp must return a tuple of three arrays (u_x, u_W, u_b), "
                                  f"not {type(result).__name__}.")
    u_x, u_W, u_b = result
    # Each product is the gradient of the scalar u . y, by finite differences.
    checks.assert_close(u_x, numdiff.gradient(lambda x_: u @ _layer(W, b, x_), x), what="u_x", where=where,
                        hint=_HINT_VJP["x"])
    checks.assert_close(u_W, numdiff.gradient(lambda W_: u @ _layer(W_, b, x), W), what="u_W", where=where,
                        hint=_HINT_VJP["W"])
    checks.assert_close(u_b, numdiff.gradient(lambda b_: u @ _layer(W, b_, x), b), what="u_b", where=where,
                        hint=_HINT_VJP["b"])
    # The dot-product test: <u, J v> = <u_x, v>, with J v = d/dt y(x + t v) by finite differences.
    Jv = numdiff.jacobian(lambda t: _layer(W, b, x + t[0] * v), np.zeros(1))[:, 0]
    checks.assert_close(np.dot(u_x, v), np.dot(u, Jv), what="<u_x, v>",
                        where=where + " (the dot-product test <J^T u, v> = <u, J v>)", hint=_HINT_VJP["x"])


_check_vjp(3, 3, seed=7)
_check_vjp(3, 4, seed=8)

### BEGIN HIDDEN TESTS
# One definition of the hidden checks (calcml.probes): the kernel runs them here on a fixed seed; the grader
# draws each student's own inputs, runs the driver in a sandbox and _verify in its own process.
import numpy as np

from calcml import numdiff, probes


def _layer_cases(rng, shapes):  # the given shapes, three random ones and a partly saturated one (W x 2.5)
    shapes = [*shapes, *((int(rng.integers(1, 9)), int(rng.integers(1, 9))) for _ in range(3)), (4, 4)]
    return {"cases": [{"W": (2.5 if k == len(shapes) - 1 else 1.0) * rng.normal(size=(m, n)), "b": rng.normal(size=m),
        "x": rng.normal(size=n), "v": rng.normal(size=n), "u": rng.normal(size=m)} for k, (m, n) in enumerate(shapes)]}


def _inputs(rng):
    cases = _layer_cases(rng, [(3, 3), (3, 4), (1, 6), (5, 1), (1, 1), (2, 7), (6, 2), (4, 3)])
    n = 5  # one output and u = 1: u_x is the gradient of y itself
    cases["cases"].append({"W": rng.normal(size=(1, n)), "b": rng.normal(size=1), "x": rng.normal(size=n),
                           "v": rng.normal(size=n), "u": np.ones(1)})
    return cases


_DRIVER = """
import numpy as np
result = []
for c in inputs["cases"]:
    u_x, u_W, u_b = tanh_layer_vjp(*(np.array(c[k], dtype=float) for k in ("W", "b", "x", "u")))
    result.append({"x": u_x, "W": u_W, "b": u_b})
"""

_HINT = {
    "x": "u_x = Jᵀ u = Wᵀ (u * (1 - y²)): a VJP multiplies by the transpose, so Wᵀ, not W.",
    "W": "(u_W)_kl = g_k x_l with g = u * (1 - y²): the outer product of g (length m) and x (length n), in that order.",
    "b": "u_b = g = u * (1 - y²): the bias enters the tanh exactly as W x does.",
}


def _verify(inputs, result):
    probes.require(isinstance(result, list) and len(result) == len(inputs["cases"]),
                   "tanh_layer_vjp gave too few results.")
    for case, got in zip(inputs["cases"], result, strict=True):
        W, b, x, u = (np.array(case[k], dtype=float) for k in ("W", "b", "x", "u"))
        where = f"for W of shape {W.shape}"
        probes.require(isinstance(got, dict), f"tanh_layer_vjp gave no products {where}.")
        probes.close(got.get("x"), numdiff.gradient(lambda x_, W=W, b=b, u=u: u @ np.tanh(W @ x_ + b), x),
                     what="u_x", where=where, hint=_HINT["x"])
        probes.close(got.get("W"), numdiff.gradient(lambda W_, b=b, x=x, u=u: u @ np.tanh(W_ @ x + b), W),
                     what="u_W", where=where, hint=_HINT["W"])
        probes.close(got.get("b"), numdiff.gradient(lambda b_, W=W, x=x, u=u: u @ np.tanh(W @ x + b_), b),
                     what="u_b", where=where, hint=_HINT["b"])


probes.exercise(globals(), inputs=_inputs, driver=_DRIVER, verify=_verify, seed=76)
### END HIDDEN TESTS


# %% active="py" wrong_answer="03_jacobians-tanh_layer_vjp-solution" mistake="J instead of J^T for the input: W g where W^T g belongs."
def tanh_layer_vjp(W, b, x, u):
    y = np.tanh(W @ x + b)
    g = u * (1.0 - y**2)
    return W @ g, np.outer(g, x), g


# %% active="py" wrong_answer="03_jacobians-tanh_layer_vjp-solution" mistake="The tanh derivative forgotten: u passed straight through to the linear part."
def tanh_layer_vjp(W, b, x, u):
    return W.T @ u, np.outer(u, x), u


# %% active="py" wrong_answer="03_jacobians-tanh_layer_vjp-solution" mistake="The outer product the wrong way round: u_W has the shape of W transposed."
def tanh_layer_vjp(W, b, x, u):
    y = np.tanh(W @ x + b)
    g = u * (1.0 - y**2)
    return W.T @ g, np.outer(x, g), g


# %% [markdown]
# ### Exercise 5 · Backpropagation through a tanh network (3 points)
#
# A network of $k$ tanh layers computes $x_0 = x$, $x_i = \tanh(W_i x_{i-1} + b_i)$ for $i = 1, \dots, k$, and
# outputs $x_k$. Write `tanh_network_vjp(params, x, u)` returning $u^\top J$ for every input of the network: the
# VJP with respect to $x$ and, for each layer, the VJPs with respect to $W_i$ and $b_i$. With
# $u = \partial\ell/\partial x_k$ this is exactly backpropagation: the gradient of a loss $\ell$ with respect to
# every parameter, from a single backward pass.
#
# Use your `tanh_layer_vjp` from exercise 4:
#
# 1. **Forward pass:** compute $x_1, \dots, x_k$ and store the input $x_{i-1}$ of every layer.
# 2. **Backward pass:** for $i = k, k-1, \dots, 1$, call `tanh_layer_vjp(W_i, b_i, x_{i-1}, u)`; keep the
#    parameter products, and pass the $u_x$ it returns on as the $u$ of layer $i - 1$ (section 4: the VJP runs
#    through the chain backwards).
#
# Return the parameter products **in layer order**, the first layer first.

# %% nbgrader={"grade": false, "grade_id": "03_jacobians-tanh_network_vjp-solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
def tanh_network_vjp(params, x, u):
    """Backpropagation through x_i = tanh(W_i x_{i-1} + b_i), i = 1..k: one reverse pass of VJPs.

    Args:
        params: A non-empty list [(W_1, b_1), ..., (W_k, b_k)]; W_i has shape (n_i, n_{i-1}), b_i shape (n_i,).
        x: The input x_0, shape (n_0,).
        u: A cotangent vector for the output x_k, shape (n_k,).

    Returns:
        A tuple (u_x, grads): u_x of shape (n_0,) is u^T dx_k/dx_0, and grads is a list of k tuples
        (u_W_i, u_b_i), first layer first, with the shapes of W_i and b_i: the gradients of the scalar
        u . x_k with respect to each W_i and b_i.
    """
    ### BEGIN SOLUTION
    inputs = []
    h = np.asarray(x, dtype=float)
    for W, b in params:
        inputs.append(h)
        h = np.tanh(W @ h + b)
    grads = []
    for (W, b), h_in in zip(reversed(params), reversed(inputs), strict=True):
        u, u_W, u_b = tanh_layer_vjp(W, b, h_in, u)
        grads.append((u_W, u_b))
    return u, grads[::-1]
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "03_jacobians-tanh_network_vjp", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
_HINT_NET = ("Run the forward pass first and keep each layer's INPUT; then call tanh_layer_vjp from the last layer "
             "back to the first, feeding each call the u_x returned by the layer above it, and return the "
             "parameter products first layer first.")


def _network(params, x):
    for W, b in params:
        x = np.tanh(W @ x + b)
    return x


def _check_network(dims, seed):
    rng = np.random.default_rng(seed)
    params = [(rng.normal(size=(d_out, d_in)) / np.sqrt(d_in), 0.5 * rng.normal(size=d_out))
              for d_in, d_out in zip(dims[:-1], dims[1:], strict=True)]
    x = rng.normal(size=dims[0])
    u = rng.normal(size=dims[-1])
    where = f"for layer sizes {dims}"
    try:
        result = tanh_network_vjp([(W.copy(), b.copy()) for W, b in params], x.copy(), u.copy())
    except ValueError as error:
        raise checks.CheckFailure(f"tanh_network_vjp raised ValueError ({error}) {where}. " + _HINT_NET) from error
    if not (isinstance(result, (tuple, list)) and len(result) == 2):
        raise checks.CheckFailure("tanh_network_vjp must return a tuple (u_x, grads).")
    u_x, grads = result
    if len(grads) != len(params):
        raise checks.CheckFailure(f"grads has {len(grads)} entries {where}, but the network has {len(params)} "
                                  "layers: one (u_W, u_b) per layer.")
    checks.assert_close(u_x, numdiff.gradient(lambda x_: u @ _network(params, x_), x), what="u_x", where=where,
                        hint=_HINT_NET)
    for i, ((W, b), (u_W, u_b)) in enumerate(zip(params, grads, strict=True)):
        def with_W(W_, i=i):
            return u @ _network(params[:i] + [(W_, params[i][1])] + params[i + 1:], x)

        def with_b(b_, i=i):
            return u @ _network(params[:i] + [(params[i][0], b_)] + params[i + 1:], x)

        checks.assert_close(u_W, numdiff.gradient(with_W, W), what=f"u_W of layer {i + 1} (grads[{i}][0])",
                            where=where, hint=_HINT_NET)
        checks.assert_close(u_b, numdiff.gradient(with_b, b), what=f"u_b of layer {i + 1} (grads[{i}][1])",
                            where=where, hint=_HINT_NET)


_check_network([3, 4, 2], seed=9)
_check_network([3, 3, 3], seed=10)

### BEGIN HIDDEN TESTS
# One definition of the hidden checks (calcml.probes): the kernel runs them here on a fixed seed; the grader
# draws each student's own inputs, runs the driver in a sandbox and _verify in its own process.
import numpy as np

from calcml import numdiff, probes


def _network(params, x):
    for W, b in params:
        x = np.tanh(W @ x + b)
    return x


def _inputs(rng):
    # the layer sizes of the visible and the old hidden tests, then random ones
    chains = [[3, 4, 2], [3, 3, 3], [4, 4], [5, 3, 4, 1], [1, 2, 3, 2], [2, 6, 1, 5], [3, 3, 3, 3, 3], [1, 3, 2]]
    chains += [[int(d) for d in rng.integers(1, 6, size=int(rng.integers(2, 5)))] for _ in range(3)]
    cases = []
    for dims in chains:
        params = [{"W": rng.normal(size=(d_out, d_in)) / np.sqrt(d_in), "b": 0.5 * rng.normal(size=d_out)}
                  for d_in, d_out in zip(dims[:-1], dims[1:], strict=True)]
        cases.append({"dims": dims, "params": params, "x": rng.normal(size=dims[0]), "u": rng.normal(size=dims[-1])})
    # a scalar output seeded with u = 1: the gradient itself
    dims = [5, 3, 4, 1]
    params = [{"W": rng.normal(size=(d_out, d_in)) / np.sqrt(d_in), "b": 0.5 * rng.normal(size=d_out)}
              for d_in, d_out in zip(dims[:-1], dims[1:], strict=True)]
    cases.append({"dims": dims, "params": params, "x": rng.normal(size=dims[0]), "u": [1.0]})
    return {"cases": cases}


_DRIVER = """
import numpy as np
result = []
for c in inputs["cases"]:
    params = [(np.array(p["W"], dtype=float), np.array(p["b"], dtype=float)) for p in c["params"]]
    u_x, grads = tanh_network_vjp(params, np.array(c["x"], dtype=float), np.array(c["u"], dtype=float))
    result.append({"x": u_x, "grads": [[u_W, u_b] for u_W, u_b in grads]})
"""

_HINT = ("Run the forward pass first and keep each layer's INPUT; then call tanh_layer_vjp from the last layer "
         "back to the first, feeding each call the u_x returned by the layer above it, and return the parameter "
         "products first layer first.")


def _verify(inputs, result):
    probes.require(isinstance(result, list) and len(result) == len(inputs["cases"]),
                   "tanh_network_vjp gave too few results.")
    for case, got in zip(inputs["cases"], result, strict=True):
        params = [(np.array(p["W"], dtype=float), np.array(p["b"], dtype=float)) for p in case["params"]]
        x, u = np.array(case["x"], dtype=float), np.array(case["u"], dtype=float)
        where = f"for layer sizes {case['dims']}"
        probes.require(isinstance(got, dict), f"tanh_network_vjp gave no products {where}.")
        probes.close(got.get("x"), numdiff.gradient(lambda x_, params=params, u=u: u @ _network(params, x_), x),
                     what="u_x", where=where, hint=_HINT)
        grads = got.get("grads")
        probes.require(isinstance(grads, list) and len(grads) == len(params),
                       f"grads {where} must hold one (u_W, u_b) per layer ({len(params)}).")
        for i, ((W, b), pair) in enumerate(zip(params, grads, strict=True)):
            probes.require(isinstance(pair, list) and len(pair) == 2, f"grads[{i}] {where} must be a pair (u_W, u_b).")

            def with_W(W_, i=i, params=params, u=u, x=x):
                return u @ _network(params[:i] + [(W_, params[i][1])] + params[i + 1:], x)

            def with_b(b_, i=i, params=params, u=u, x=x):
                return u @ _network(params[:i] + [(params[i][0], b_)] + params[i + 1:], x)

            probes.close(pair[0], numdiff.gradient(with_W, W), what=f"u_W of layer {i + 1} (grads[{i}][0])",
                         where=where, hint=_HINT)
            probes.close(pair[1], numdiff.gradient(with_b, b), what=f"u_b of layer {i + 1} (grads[{i}][1])",
                         where=where, hint=_HINT)


probes.exercise(globals(), inputs=_inputs, driver=_DRIVER, verify=_verify, seed=95)
### END HIDDEN TESTS


# %% active="py" wrong_answer="03_jacobians-tanh_network_vjp-solution" mistake="The layer VJPs applied in forward order, first layer first."
def tanh_network_vjp(params, x, u):
    inputs = []
    h = np.asarray(x, dtype=float)
    for W, b in params:
        inputs.append(h)
        h = np.tanh(W @ h + b)
    grads = []
    for (W, b), h_in in zip(params, inputs, strict=True):
        u, u_W, u_b = tanh_layer_vjp(W, b, h_in, u)
        grads.append((u_W, u_b))
    return u, grads


# %% active="py" wrong_answer="03_jacobians-tanh_network_vjp-solution" mistake="The parameter products left in backward order (last layer first)."
def tanh_network_vjp(params, x, u):
    inputs = []
    h = np.asarray(x, dtype=float)
    for W, b in params:
        inputs.append(h)
        h = np.tanh(W @ h + b)
    grads = []
    for (W, b), h_in in zip(reversed(params), reversed(inputs), strict=True):
        u, u_W, u_b = tanh_layer_vjp(W, b, h_in, u)
        grads.append((u_W, u_b))
    return u, grads


# %% active="py" wrong_answer="03_jacobians-tanh_network_vjp-solution" mistake="Each layer's output stored instead of its input."
def tanh_network_vjp(params, x, u):
    outputs = []
    h = np.asarray(x, dtype=float)
    for W, b in params:
        h = np.tanh(W @ h + b)
        outputs.append(h)
    grads = []
    for (W, b), h_out in zip(reversed(params), reversed(outputs), strict=True):
        u, u_W, u_b = tanh_layer_vjp(W, b, h_out, u)
        grads.append((u_W, u_b))
    return u, grads[::-1]


# %% [markdown]
# ## What you can now do
#
# - Write the Jacobian of $f:\mathbb{R}^n\to\mathbb{R}^m$ as the $m\times n$ matrix $J_{ij} = \partial f_i/\partial x_j$,
#   whose row $i$ is the gradient of output $i$, and use it as the best linear approximation
#   $f(x + \delta) \approx f(x) + J\delta$.
# - Apply the chain rule $J_{g\circ f}(x) = J_g(f(x))\,J_f(x)$: last map on the left, each factor at its own point.
# - Write down the Jacobians of an elementwise map (diagonal), a linear layer ($W$) and softmax
#   ($\operatorname{diag}(p) - pp^\top$).
# - Compute a JVP $Jv$ along the chain (forward mode) and a VJP $u^\top J$ against it (reverse mode), without
#   building $J$, and say which is cheaper: a full Jacobian costs $n$ JVPs or $m$ VJPs, so for a scalar loss one
#   VJP is the whole gradient. That single backward pass, layer VJP after layer VJP, is backpropagation, and you
#   have just written it.
#
# **Next: unit 4, *Computational graphs, forward and backward*.** A network is not always a neat chain of layers:
# values branch and merge. The computational graph turns this loop over layers into an algorithm for any
# expression.
