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
# - derive the Jacobians of elementwise maps, of a linear layer and of softmax, and apply the chain rule to
#   variants the text does not work out (a softmax with a temperature, a sigmoid layer, a residual layer);
# - compute Jacobian-vector products $Jv$ (forward mode) and vector-Jacobian products $J^\top u$ (reverse mode)
#   without ever building a Jacobian, and explain why backpropagation is a chain of VJPs;
# - choose between forward and reverse mode from a count of passes ($n$ JVPs or $m$ VJPs), and measure it.
#
# The symbols follow [the course's notation](../../course/notation.md): $J_{ij} = \partial f_i/\partial x_j$
# (outputs index the rows), a VJP is written $J^\top u$, $L$ is a loss and $D$ the depth of a chain.

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
# Take $f:\mathbb{R}^n\to\mathbb{R}^m$ and $g:\mathbb{R}^m\to\mathbb{R}^p$, and their composition $g\circ f$.
# Near $x$, $f(x+\delta) \approx f(x) + J_f(x)\,\delta$, and near $y = f(x)$, $g(y + \delta') \approx g(y) +
# J_g(y)\,\delta'$. Put $\delta' = J_f(x)\,\delta$: the linear approximations compose, so
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
# $\dfrac{\partial (g\circ f)_i}{\partial x_j} = \sum_{k=1}^{m} \dfrac{\partial g_i}{\partial y_k}\,
# \dfrac{\partial f_k}{\partial x_j}$: $x_j$ influences output $i$ through each intermediate $y_k$, and the
# contributions add up. For a longer chain of depth $D$, $x_0 \xrightarrow{f_1} x_1 \xrightarrow{f_2} \cdots
# \xrightarrow{f_D} x_D$, the rule repeats:
#
# $$ J = J_{f_D}(x_{D-1})\cdots J_{f_2}(x_1)\,J_{f_1}(x_0). $$
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
J_gf = numdiff.jacobian(lambda x: g_chain(f_chain(x)), x)  # shape (4, 3)
print("shapes:", J_g.shape, "@", J_f.shape, "=", (J_g @ J_f).shape)
print("relative error of J_g(f(x)) J_f(x) against J_(g o f)(x):", checks.relative_error(J_g @ J_f, J_gf))
print("relative error if J_g is wrongly taken at x[:2] instead of f(x):",
      round(checks.relative_error(numdiff.jacobian(g_chain, x[:2]) @ J_f, J_gf), 3))

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
# An activation $\phi$ applied componentwise, $a_i = \phi(z_i)$, lets output $i$ depend on input $i$ only,
# so every off-diagonal partial derivative vanishes:
#
# $$ J = \operatorname{diag}\big(\phi'(z_1), \dots, \phi'(z_n)\big). $$
#
# Nobody stores this $n\times n$ matrix of mostly zeros: multiplying by it is an elementwise product,
# $Jv = \phi'(z)\odot v$.

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
# this array: it only ever needs its product with one vector $u$, $\sum_i u_i\,\partial y_i/\partial W_{kl} =
# u_k x_l$, which is an ordinary $m\times n$ matrix, the outer product $u x^\top$ (section 4 uses it).
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
# - a **vector-Jacobian product** (VJP) $u \mapsto J^\top u$, for $u$ in the output space (the same numbers as
#   the row $u^\top J$, stored with the shape of $x$). It is a gradient, $J^\top u = \nabla_x\big(u^\top f(x)\big)$:
#   how the weighted sum $u^\top f$ of the outputs depends on each input. It combines the *rows* of $J$; with
#   $u = e_i$ it returns row $i$.
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
print("J^T u           =", np.round(J.T @ u, 6))
print("grad of u . f   =", np.round(numdiff.gradient(lambda x: u @ f_demo(x), x), 6))
print("<u, J v> =", round(u @ (J @ v), 10), "  <J^T u, v> =", round((J.T @ u) @ v, 10))

# %% [markdown]
# ### Along a chain: forward mode and reverse mode
# For a chain $J = J_D \cdots J_2 J_1$ (each $J_i$ at its own point $x_{i-1}$), the brackets decide the order:
#
# $$
# Jv = J_D\Big(\cdots\big(J_2\,(J_1 v)\big)\Big)
# \qquad\qquad
# J^\top u = J_1^\top\Big(\cdots\big(J_{D-1}^\top\,(J_D^\top u)\big)\Big) .
# $$
#
# - The JVP is evaluated from $J_1$ to $J_D$, **in the same order as $f$ itself**: this is **forward mode**.
#   Each step needs only the current point, so the tangent can travel alongside the values.
# - The VJP is evaluated from $J_D$ back to $J_1$, **against the order of evaluation**: this is
#   **reverse mode**. It needs every intermediate point $x_0, \dots, x_{D-1}$, so the forward pass must store
#   them first.
#
# Every step is a matrix-vector product; no matrix-matrix product ever happens.
#
# **Backpropagation is reverse mode.** Training minimises a *scalar* loss $L:\mathbb{R}^n\to\mathbb{R}$ of
# all the parameters. Its Jacobian is a single row, $1\times n$: the gradient. One VJP, seeded with $u = 1$
# ($\partial L/\partial L$), sweeps back through the network and returns all $n$ partial derivatives at
# once. Forward mode would need $n$ JVPs, one per parameter.
#
# ### Worked example: the JVP and VJP of a tanh layer
# A dense layer with a tanh activation computes $y = \tanh(Wx + b)$, $W\in\mathbb{R}^{m\times n}$: a linear map
# followed by an elementwise one. By sections 2 and 3, with $\tanh'(a) = 1 - \tanh^2(a)$,
#
# $$ J_x = \operatorname{diag}\big(1 - y^2\big)\, W \qquad (m\times n). $$
#
# Neither product needs $J_x$ itself. The JVP applies the two factors one after the other, right to left:
# $J_x v = (1 - y^2)\odot(Wv)$. The VJP applies their transposes in the reverse order: first through the tanh,
# $g = u\odot(1 - y^2)$, then through the linear part, $J_x^\top u = W^\top g$. For the parameters, $g$ plays the
# role of $u$ in section 3's linear layer: $u_W = g\,x^\top$ (shaped like $W$) and $u_b = g$. These are the
# gradients of the scalar $u^\top y$ with respect to $x$, $W$ and $b$, as finite differences confirm:

# %%
rng = np.random.default_rng(4)
W, b, x = rng.normal(size=(3, 5)), rng.normal(size=3), rng.normal(size=5)   # m = 3, n = 5
v, u = rng.normal(size=5), rng.normal(size=3)
y = np.tanh(W @ x + b)
g = u * (1 - y**2)
jvp, u_x, u_W, u_b = (1 - y**2) * (W @ v), W.T @ g, np.outer(g, x), g
print("J v   agrees:", checks.relative_error(jvp, numdiff.jacobian(lambda x: np.tanh(W @ x + b), x) @ v) < checks.RTOL)
print("J^T u agrees:", checks.relative_error(u_x, numdiff.gradient(lambda x: u @ np.tanh(W @ x + b), x)) < checks.RTOL)
print("u_W   agrees:", checks.relative_error(u_W, numdiff.gradient(lambda W: u @ np.tanh(W @ x + b), W)) < checks.RTOL,
      "  shape", u_W.shape, "= the shape of W")
print("u_b   agrees:", checks.relative_error(u_b, numdiff.gradient(lambda b: u @ np.tanh(W @ x + b), b)) < checks.RTOL)

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
        for A in reversed(mats):    # J_D first: reverse mode
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
# The six exercises build one piece of backpropagation each. Exercises 1 to 4 and 6 are graded independently;
# exercise 5 uses your `residual_layer_vjp` from exercise 4 (that reuse is the point: backpropagation is a loop
# over layer VJPs), so finish exercise 4 first. Exercises 1, 3 and 4 ask for Jacobians and products that the
# text did not work out: derive them from sections 2 to 4 first, on paper. The tests compare your answers with
# finite differences (`calcml.numdiff`) and with identities, on random shapes that are rarely square: a
# transposed or misordered product will not slip through.
#
# ### Exercise 1 · The Jacobian of a softmax with a temperature (2 points)
#
# A language model samples its next word from $p = \operatorname{softmax}(z / T)$, where the **temperature**
# $T > 0$ sharpens ($T < 1$) or flattens ($T > 1$) the distribution. Write `softmax_jacobian(z, T=1.0)`
# returning the Jacobian $\partial p_i/\partial z_j$ of this $p$ with respect to the logits $z$. Section 3
# derived the case $T = 1$; the chain rule of section 2 does the rest.
#
# It must work for logits as large as $|z_i| \approx 1000$ and temperatures as small as $T = 0.1$, where
# $z/T$ reaches $\pm 10^4$ and `np.exp` overflows: use the invariance
# $\operatorname{softmax}(s - c) = \operatorname{softmax}(s)$. Do not modify `z` in place.

# %% nbgrader={"grade": false, "grade_id": "03_jacobians-softmax_jacobian-solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
def softmax_jacobian(z, T=1.0):
    """The Jacobian of p = softmax(z / T) with respect to the logits z.

    Args:
        z: Logits, a 1-D float array of length n >= 1 (possibly with entries near +-1000).
        T: The temperature, a number > 0 (1.0 when not given).

    Returns:
        A float array J of shape (n, n) with J[i, j] = dp_i / dz_j, finite for every finite z.
        The argument z is not modified.
    """
    ### BEGIN SOLUTION
    s = np.asarray(z, dtype=float) / T
    e = np.exp(s - np.max(s))
    p = e / e.sum()
    return (np.diag(p) - np.outer(p, p)) / T
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "03_jacobians-softmax_jacobian", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
def _tempered_softmax(z, T):
    """An independent, numerically stable softmax of z / T: the forward function whose Jacobian is checked."""
    s = z / T
    e = np.exp(s - np.max(s))
    return e / e.sum()


_HINT_SOFTMAX = ("p = softmax(s) at s = z / T: by the chain rule, J = (Jacobian of softmax at s) times (Jacobian of "
                 "z -> z / T). Section 3 gives the first factor, with the n x n outer product np.outer(p, p).")

_z = np.random.default_rng(0).normal(size=4)
checks.check_jacobian(softmax_jacobian, lambda z: _tempered_softmax(z, 1.0), _z, hint=_HINT_SOFTMAX)
checks.check_jacobian(lambda z: softmax_jacobian(z, 0.4), lambda z: _tempered_softmax(z, 0.4), _z,
                      hint=_HINT_SOFTMAX)
checks.assert_close(np.sum(softmax_jacobian(_z.copy(), 2.0), axis=1), np.zeros(4),
                    what="row sums of the softmax Jacobian", where=checks.describe_point(_z) + " with T = 2",
                    hint="Adding one constant to every logit leaves p unchanged, so every row of J sums to 0.")

### BEGIN HIDDEN TESTS
# One definition of the hidden checks (calcml.probes): the kernel runs them here on a fixed seed; the grader
# draws each student's own inputs, runs the driver in a sandbox and _verify in its own process.
import numpy as np

from calcml import checks, numdiff, probes


def _softmax(z, T):
    s = z / T
    e = np.exp(s - np.max(s))
    return e / e.sum()


def _inputs(rng):
    random = [{"z": rng.normal(scale=float(rng.uniform(0.5, 4.0)), size=int(rng.integers(1, 11))),
               "T": float(rng.choice([rng.uniform(0.2, 0.9), rng.uniform(1.1, 5.0)]))} for _ in range(8)]
    random += [{"z": rng.normal(size=int(rng.integers(2, 8))), "T": 1.0} for _ in range(2)]
    shifted = [{"z": rng.normal(size=int(rng.integers(2, 7))), "shift": shift, "T": T}
               for shift, T in ((1000.0, 1.0), (-1000.0, 1.0), (1000.0, 0.1), (-1000.0, 0.1))]
    return {"random": random, "one": {"z": [float(rng.normal(scale=3))], "T": 0.5}, "shifted": shifted,
            "saturated": [1000.0, 0.0, -1000.0], "untouched": (rng.normal(size=6) + 50.0).tolist()}


# The driver reports z as it is after the call (data); _verify compares it with the z that _inputs drew. The
# untouched case leaves T out: the contract's default is T = 1.
_DRIVER = """
import numpy as np
result = {"random": [softmax_jacobian(np.array(c["z"]), c["T"]) for c in inputs["random"]],
          "one": softmax_jacobian(np.array(inputs["one"]["z"]), inputs["one"]["T"]),
          "shifted": [softmax_jacobian(np.array(c["z"]) + c["shift"], c["T"]) for c in inputs["shifted"]],
          "saturated": softmax_jacobian(np.array(inputs["saturated"]), 0.5)}
z = np.array(inputs["untouched"])
result["untouched_jacobian"] = softmax_jacobian(z)
result["untouched"] = z.tolist()
"""


def _hint(got, z, T):
    """Name the chain-rule mistake a wrong Jacobian shows (the candidates are built here, from p = softmax(z/T))."""
    try:
        got = np.asarray(got, dtype=float)
        p, q = _softmax(z, T), _softmax(z, 1.0)
        if got.shape == (z.size, z.size) and T != 1.0:
            for guess, cause in (
                    (np.diag(p) - np.outer(p, p), "it is section 3's Jacobian at z / T without the factor that the "
                     "inner map z -> z / T contributes by the chain rule."),
                    (T * (np.diag(p) - np.outer(p, p)), "the factor of the inner map z -> z / T is inverted: its "
                     "Jacobian is I / T, not T I."),
                    ((np.diag(q) - np.outer(q, q)) / T, "p was computed from z, not from z / T: the outer "
                     "Jacobian is evaluated where softmax receives its input, at z / T.")):
                if checks.relative_error(got, guess) < checks.RTOL:
                    return "Likely mistake: " + cause
    except (TypeError, ValueError):
        pass
    return ("p = softmax(s) at s = z / T: by the chain rule J is section 3's Jacobian at s times the Jacobian of "
            "z -> z / T, with p pᵀ the n x n outer product np.outer(p, p), not the number p @ p.")


def _verify(inputs, result):
    probes.require(isinstance(result, dict) and isinstance(result.get("random"), list)
                   and len(result["random"]) == len(inputs["random"]), "softmax_jacobian gave too few results.")
    for case, got in zip(inputs["random"], result["random"], strict=True):
        z, T = np.array(case["z"]), case["T"]
        probes.close(got, numdiff.jacobian(lambda z_, T=T: _softmax(z_, T), z), what="softmax Jacobian",
                     where=checks.describe_point(z) + f" with T = {T:.3g}", hint=_hint(got, z, T))
    probes.close(result.get("one"), np.zeros((1, 1)), what="softmax Jacobian", where="for one logit",
                 hint="With a single class p = [1] for every z, so J = [[0]].")
    probes.require(isinstance(result.get("shifted"), list) and len(result["shifted"]) == len(inputs["shifted"]),
                   "softmax_jacobian gave too few results.")
    for case, got in zip(inputs["shifted"], result["shifted"], strict=True):
        T = case["T"]
        probes.close(got, numdiff.jacobian(lambda z_, T=T: _softmax(z_, T), np.array(case["z"])),
                     what="softmax Jacobian", where=f"at logits near {case['shift']:+g} with T = {T:g}",
                     hint="exp overflows above about 709 and underflows to 0 below about -745: subtract the "
                          "largest entry of z / T before exponentiating.")
    probes.close(result.get("saturated"), np.zeros((3, 3)), what="softmax Jacobian",
                 where="at z = [1000, 0, -1000] with T = 0.5", hint="p is one-hot here, so J is 0.")
    z = inputs["untouched"]
    after = result.get("untouched")
    probes.require(isinstance(after, list) and len(after) == len(z)
                   and all(type(a) is float and a == b for a, b in zip(after, z, strict=True)),
                   "softmax_jacobian changed its argument z in place; compute z / T as a new array.")
    probes.close(result.get("untouched_jacobian"), numdiff.jacobian(lambda z_: _softmax(z_, 1.0), np.array(z)),
                 what="softmax Jacobian", where="at logits near 50, called without T (the default T = 1)",
                 hint="softmax_jacobian(z) must work without T: the contract's default is T = 1.0.")


probes.exercise(globals(), inputs=_inputs, driver=_DRIVER, verify=_verify, seed=20240603)
### END HIDDEN TESTS


# %% active="py" wrong_answer="03_jacobians-softmax_jacobian-solution" mistake="Section 3's formula copied at z / T: the chain rule's inner factor 1/T is missing."
def softmax_jacobian(z, T=1.0):
    s = np.asarray(z, dtype=float) / T
    e = np.exp(s - np.max(s))
    p = e / e.sum()
    return np.diag(p) - np.outer(p, p)


# %% active="py" wrong_answer="03_jacobians-softmax_jacobian-solution" mistake="The inner factor inverted: times T where 1/T belongs."
def softmax_jacobian(z, T=1.0):
    s = np.asarray(z, dtype=float) / T
    e = np.exp(s - np.max(s))
    p = e / e.sum()
    return T * (np.diag(p) - np.outer(p, p))


# %% active="py" wrong_answer="03_jacobians-softmax_jacobian-solution" mistake="The outer Jacobian at the wrong point: p = softmax(z) instead of softmax(z / T)."
def softmax_jacobian(z, T=1.0):
    z = np.asarray(z, dtype=float)
    e = np.exp(z - np.max(z))
    p = e / e.sum()
    return (np.diag(p) - np.outer(p, p)) / T


# %% active="py" wrong_answer="03_jacobians-softmax_jacobian-solution" mistake="The inner product p @ p (a number) where the outer product p p^T belongs."
def softmax_jacobian(z, T=1.0):
    s = np.asarray(z, dtype=float) / T
    e = np.exp(s - np.max(s))
    p = e / e.sum()
    return (np.diag(p) - p @ p) / T


# %% active="py" wrong_answer="03_jacobians-softmax_jacobian-solution" mistake="The right formula on an unstable softmax: exp(z / T) overflows to inf and p becomes nan."
def softmax_jacobian(z, T=1.0):
    e = np.exp(np.asarray(z, dtype=float) / T)
    p = e / e.sum()
    return (np.diag(p) - np.outer(p, p)) / T


# %% [markdown]
# ### Exercise 2 · The Jacobian of a chain (2 points)
#
# A chain $x_0 \xrightarrow{f_1} x_1 \xrightarrow{f_2} \cdots \xrightarrow{f_D} x_D$ is given as two lists of the
# same length: `maps[i]` is the function $f_{i+1}$, and `jacobians[i](point)` returns its Jacobian at `point`
# (a 2-D array, outputs by inputs). Write `chain_jacobian(maps, jacobians, x)` returning the Jacobian of the
# whole chain at $x = x_0$, with the chain rule of section 2, using the Jacobians that `jacobians` gives you
# (the tests also hand it made-up ones, and expect their product). Two things to get right: the order of the
# product, and the point at which each Jacobian is evaluated.

# %% nbgrader={"grade": false, "grade_id": "03_jacobians-chain_jacobian-solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
def chain_jacobian(maps, jacobians, x):
    """The Jacobian of the chain f_D o ... o f_1 at x, by the chain rule, from the given Jacobians.

    Args:
        maps: A non-empty list [f_1, ..., f_D] of functions; f_i maps a 1-D array of length n_{i-1}
            to a 1-D array of length n_i.
        jacobians: A list of the same length; jacobians[i](point) is the (n_{i+1} x n_i) Jacobian of maps[i]
            at point.
        x: The input x_0, a 1-D array of length n_0.

    Returns:
        The Jacobian of the chain at x, an array of shape (n_D, n_0), built from the matrices that
        `jacobians` returns.
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
_HINT_CHAIN = ("J = J_D(x_{D-1}) ... J_2(x_1) J_1(x_0): the Jacobian of the map applied last stands on the left, "
               "and each J_i is evaluated at the point the chain has reached, not at x.")


def _make_chain(dims, seed):
    """Maps f_i(a) = act(W_i a + b_i) between the given dimensions, with numerical Jacobian functions."""
    rng = np.random.default_rng(seed)
    activations = (np.sin, np.tanh, lambda a: a + 0.3 * a**2)
    maps, jacobians = [], []
    for i, (n_in, n_out) in enumerate(zip(dims[:-1], dims[1:], strict=True)):
        W, b, act = rng.normal(size=(n_out, n_in)) / np.sqrt(n_in), rng.normal(size=n_out), activations[i % 3]

        def f(a, W=W, b=b, act=act, i=i):
            a = np.asarray(a, dtype=float)
            if a.shape != (W.shape[1],):
                raise checks.CheckFailure(f"maps[{i}] takes a vector of length {W.shape[1]}, but it was called "
                                          f"with an array of shape {a.shape}.")
            return act(W @ a + b)

        def jac(a, f=f, i=i, n_in=n_in):
            a = np.asarray(a, dtype=float)
            if a.shape != (n_in,):
                raise checks.CheckFailure(
                    f"jacobians[{i}] was asked for at a point of shape {a.shape}, but maps[{i}] takes vectors of "
                    f"length {n_in}. Evaluate each Jacobian at the input of its own map: x for the first one, "
                    "the output of the maps before it for the others.")
            return numdiff.jacobian(f, a)

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

# The chain rule multiplies the Jacobians it is given: here made-up constant matrices A_1 (2 x 3), A_2 (4 x 2).
_A = [np.arange(6.0).reshape(2, 3) - 2.0, np.arange(8.0).reshape(4, 2) / 4.0]
checks.assert_close(chain_jacobian([lambda a: a[:2], lambda a: np.r_[a, a]], [lambda a: _A[0], lambda a: _A[1]],
                                   np.ones(3)),
                    _A[1] @ _A[0], what="product of the given Jacobians",
                    where="with made-up Jacobians A_1 (2 x 3) and A_2 (4 x 2)",
                    hint="Multiply what jacobians[i] returns, last map on the left: A_2 A_1. Do not differentiate "
                         "the maps yourself.")

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
    # made-up Jacobians (not the maps' own), every inner one non-square: only their product, in the right order,
    # at the right points, is right. Each is M_i scaled column by column by 1 + 0.5 sin(point).
    fakes = []
    for dims in ([3, 5, 2, 4], [2, 4, 1, 3, 2], [4, 2, 5], [3, 3, 3, 3], [1, 3, 2, 1]):
        layers = [{"W": rng.normal(size=(n_out, n_in)) / np.sqrt(n_in), "b": rng.normal(size=n_out),
                   "M": rng.normal(size=(n_out, n_in))} for n_in, n_out in zip(dims[:-1], dims[1:], strict=True)]
        fakes.append({"dims": dims, "layers": layers, "x": rng.normal(size=dims[0])})
    return {"cases": cases, "fakes": fakes}


_DRIVER = """
import numpy as np
ACTIVATIONS = (np.sin, np.tanh, lambda a: a + 0.3 * a**2)
SLOPES = (np.cos, lambda a: 1 - np.tanh(a) ** 2, lambda a: 1 + 0.6 * a)

def build(case, fake):
    maps, jacobians = [], []
    for i, layer in enumerate(case["layers"]):
        W, b = np.array(layer["W"]), np.array(layer["b"])
        M = np.array(layer["M"]) if fake else None

        def check(a, i=i, W=W, what="maps"):
            a = np.asarray(a, dtype=float)
            if a.shape != (W.shape[1],):
                raise ValueError(f"{what}[{i}] takes a vector of length {W.shape[1]}, but it was called at a "
                                 f"point of shape {a.shape}: evaluate each map and Jacobian at the input of "
                                 "its own map")
            return a

        maps.append(lambda a, i=i, W=W, b=b: ACTIVATIONS[i % 3](W @ check(a, i, W) + b))
        if fake:
            jacobians.append(lambda a, i=i, W=W, M=M: M * (1.0 + 0.5 * np.sin(check(a, i, W, "jacobians"))))
        else:
            jacobians.append(lambda a, i=i, W=W, b=b: SLOPES[i % 3](W @ check(a, i, W, "jacobians") + b)[:, None] * W)
    return maps, jacobians

result = {}
for key in ("cases", "fakes"):
    result[key] = []
    for case in inputs[key]:
        maps, jacobians = build(case, key == "fakes")
        try:
            result[key].append(chain_jacobian(maps, jacobians, np.array(case["x"])))
        except ValueError as error:  # reported as data: _verify explains it
            result[key].append({"error": str(error)})
"""

_HINT = ("J = J_D(x_{D-1}) ... J_2(x_1) J_1(x_0): the Jacobian of the map applied last stands on the left, and each "
         "J_i is evaluated at the point the chain has reached, not at x.")


def _forward(layers, x):
    points = [np.asarray(x, dtype=float)]
    for i, layer in enumerate(layers):
        points.append(_ACTIVATIONS[i % 3](np.array(layer["W"]) @ points[-1] + np.array(layer["b"])))
    return points


def _no_error(got, dims):
    probes.require(not (isinstance(got, dict) and "error" in got),
                   f"chain_jacobian raised ValueError ({str(got.get('error') if isinstance(got, dict) else '')[:300]}) "
                   f"with layer sizes {dims}. With non-square Jacobians only one order of the product has matching "
                   "shapes, and each Jacobian takes the point its own map receives. " + _HINT)


def _verify(inputs, result):
    probes.require(isinstance(result, dict), "chain_jacobian gave no results.")
    for key in ("cases", "fakes"):
        probes.require(isinstance(result.get(key), list) and len(result[key]) == len(inputs[key]),
                       "chain_jacobian gave too few results.")
        for case, got in zip(inputs[key], result[key], strict=True):
            _no_error(got, case["dims"])
    for case, got in zip(inputs["cases"], result["cases"], strict=True):
        layers = case["layers"]
        probes.close(got, numdiff.jacobian(lambda x, layers=layers: _forward(layers, x)[-1], np.array(case["x"])),
                     what="Jacobian of the chain", where=f"with layer sizes {case['dims']}", hint=_HINT)
    for case, got in zip(inputs["fakes"], result["fakes"], strict=True):
        points = _forward(case["layers"], case["x"])
        expected = np.eye(len(case["x"]))
        for layer, point in zip(case["layers"], points[:-1], strict=True):
            expected = (np.array(layer["M"]) * (1.0 + 0.5 * np.sin(point))) @ expected
        probes.close(got, expected, what="product of the given Jacobians",
                     where=f"with layer sizes {case['dims']} and made-up Jacobians (not the maps' own)",
                     hint="chain_jacobian must multiply the matrices that jacobians[i] returns, each called at "
                          "the input of its own map, last map on the left; differentiating the maps instead "
                          "(numdiff, sympy) does not apply the chain rule. " + _HINT)


probes.exercise(globals(), inputs=_inputs, driver=_DRIVER, verify=_verify, seed=35)
### END HIDDEN TESTS


# %% [raw] wrong_answer="03_jacobians-chain_jacobian-solution" mistake="The product in the wrong order: J_1 J_2 ... J_D."
# ### REPLACE
#         J = np.asarray(jac(point), dtype=float) @ J
# ### WITH
#         J = J @ np.asarray(jac(point), dtype=float)
# ### END


# %% active="py" wrong_answer="03_jacobians-chain_jacobian-solution" mistake="Every Jacobian evaluated at the input x instead of at the point the chain has reached."
def chain_jacobian(maps, jacobians, x):
    x = np.asarray(x, dtype=float)
    J = np.asarray(jacobians[0](x), dtype=float)
    for jac in jacobians[1:]:
        J = np.asarray(jac(x), dtype=float) @ J
    return J


# %% [raw] wrong_answer="03_jacobians-chain_jacobian-solution" mistake="Gradients stacked as columns (the transposed convention): returns J^T, shape (n_0, n_D)."
# ### REPLACE
#         J = np.asarray(jac(point), dtype=float) @ J
# ### WITH
#         J = J @ np.asarray(jac(point), dtype=float).T
# ### END


# %% active="py" wrong_answer="03_jacobians-chain_jacobian-solution" mistake="The chain rule skipped: the whole chain differentiated with numdiff.jacobian, the given Jacobians ignored."
def chain_jacobian(maps, jacobians, x):
    from calcml import numdiff

    def whole(a):
        for f in maps:
            a = f(a)
        return a

    return numdiff.jacobian(whole, np.asarray(x, dtype=float))


# %% [raw] wrong_answer="03_jacobians-chain_jacobian-solution" mistake="Each Jacobian evaluated at the output of its own map instead of its input."
# ### REPLACE
#         J = np.asarray(jac(point), dtype=float) @ J
#         point = np.asarray(f(point), dtype=float)
# ### WITH
#         point = np.asarray(f(point), dtype=float)
#         J = np.asarray(jac(point), dtype=float) @ J
# ### END


# %% [markdown]
# ### Exercise 3 · The JVP of a sigmoid layer (2 points)
#
# Section 4 worked out the JVP of a tanh layer. Many layers use the logistic sigmoid instead,
# $\sigma(a) = 1/(1 + e^{-a})$: the layer computes $y = \sigma(Wx + b)$ with $W\in\mathbb{R}^{m\times n}$.
# Write `sigmoid_layer_jvp(W, b, x, v)` returning $Jv$, with $J = \partial y/\partial x$, **without building
# $J$**. Derive $\sigma'$ first, and write it, as tanh's was, in terms of the layer's output $y$.

# %% nbgrader={"grade": false, "grade_id": "03_jacobians-sigmoid_layer_jvp-solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
def sigmoid_layer_jvp(W, b, x, v):
    """Forward mode through y = sigmoid(W x + b): the Jacobian-vector product J v, with J = dy/dx.

    Args:
        W: Weights, shape (m, n).
        b: Bias, shape (m,).
        x: The input, shape (n,).
        v: A tangent vector in the input space, shape (n,).

    Returns:
        J v, shape (m,): how y moves when x moves along v.
    """
    ### BEGIN SOLUTION
    y = 0.5 * (1.0 + np.tanh(0.5 * (W @ x + b)))   # sigmoid, without overflow
    return y * (1.0 - y) * (W @ v)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "03_jacobians-sigmoid_layer_jvp", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
_HINT_JVP = ("J v: first W v (a vector of length m, not W^T v), then multiply it elementwise by the slope of the "
             "sigmoid at the pre-activation W x + b. Derive sigma'(a) and write it with y = sigma(a).")


def _sigmoid_layer(W, b, x):
    return 0.5 * (1.0 + np.tanh(0.5 * (W @ x + b)))


def _check_jvp(m, n, seed):
    rng = np.random.default_rng(seed)
    W, b = rng.normal(size=(m, n)), rng.normal(size=m)
    x, v, u = rng.normal(size=n), rng.normal(size=n), rng.normal(size=m)
    where = f"for W of shape {W.shape}"
    try:
        Jv = sigmoid_layer_jvp(W.copy(), b.copy(), x.copy(), v.copy())
    except ValueError as error:
        raise checks.CheckFailure(f"sigmoid_layer_jvp raised ValueError ({error}) {where}: a JVP multiplies the "
                                  "(m x n) Jacobian by a vector of length n and returns length m. "
                                  + _HINT_JVP) from error
    # Against the Jacobian by finite differences ...
    checks.assert_close(Jv, numdiff.jacobian(lambda x_: _sigmoid_layer(W, b, x_), x) @ v, what="J v", where=where,
                        hint=_HINT_JVP)
    # ... and through the adjoint identity <u, J v> = <J^T u, v>, with J^T u = grad of u . y by finite differences.
    checks.assert_close(np.dot(u, Jv), np.dot(numdiff.gradient(lambda x_: u @ _sigmoid_layer(W, b, x_), x), v),
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
        "x": rng.normal(size=n), "v": rng.normal(size=n)} for k, (m, n) in enumerate(shapes)]}


def _inputs(rng):
    return _layer_cases(rng, [(3, 3), (2, 4), (1, 5), (4, 1), (1, 1), (6, 3), (3, 7), (5, 2)])


_DRIVER = """
import numpy as np
result = []
for c in inputs["cases"]:
    try:
        result.append(sigmoid_layer_jvp(*(np.array(c[k], dtype=float) for k in ("W", "b", "x", "v"))))
    except ValueError as error:  # reported as data: _verify explains it
        result.append({"error": str(error)})
"""


def _sigmoid(a):
    return 0.5 * (1.0 + np.tanh(0.5 * a))


def _hint(got, W, b, x, v):
    """Name the slope a wrong J v used (candidates built here from y = sigmoid(W x + b))."""
    a = W @ x + b
    y = _sigmoid(a)
    try:
        got = np.asarray(got, dtype=float)
        for guess, cause in (((1.0 - y**2) * (W @ v), "1 - y² is the slope of tanh, not of the sigmoid."),
                             (W @ v, "the sigmoid's slope is missing: that is the JVP of the linear part only."),
                             (_sigmoid(y) * (1.0 - _sigmoid(y)) * (W @ v),
                              "the slope is taken at the output y; it belongs at the pre-activation W x + b."),
                             (y * (W @ v), "sigma' is not sigma (that is the exponential's property)."),
                             (y * (1.0 - y) * (W.T @ v) if W.shape[0] == W.shape[1] else None,
                              "Wᵀ v where W v belongs: a JVP multiplies by J itself, not by its transpose.")):
            if guess is None:
                continue
            if got.shape == guess.shape and np.allclose(got, guess, rtol=1e-6, atol=1e-12):
                return "Likely mistake: " + cause
    except (TypeError, ValueError):
        pass
    return ("J v = (slope of the sigmoid at W x + b) * (W v), elementwise: first W v (not Wᵀ v); derive sigma'(a) "
            "and write it with y = sigma(a).")


def _verify(inputs, result):
    probes.require(isinstance(result, list) and len(result) == len(inputs["cases"]),
                   "sigmoid_layer_jvp gave too few results.")
    for case, got in zip(inputs["cases"], result, strict=True):
        W, b, x, v = (np.array(case[k], dtype=float) for k in ("W", "b", "x", "v"))
        error = str(got.get("error"))[:300] if isinstance(got, dict) else ""
        probes.require(not (isinstance(got, dict) and "error" in got),
                       f"sigmoid_layer_jvp raised ValueError ({error}) for W of shape {W.shape}: a JVP multiplies the "
                       "(m x n) Jacobian by v of length n and returns length m, so W v, not Wᵀ v.")
        probes.close(got, numdiff.jacobian(lambda x_, W=W, b=b: _sigmoid(W @ x_ + b), x) @ v, what="J v",
                     where=f"for W of shape {W.shape}", hint=_hint(got, W, b, x, v))


probes.exercise(globals(), inputs=_inputs, driver=_DRIVER, verify=_verify, seed=56)
### END HIDDEN TESTS


# %% active="py" wrong_answer="03_jacobians-sigmoid_layer_jvp-solution" mistake="The tanh layer's slope 1 - y^2 copied from section 4."
def sigmoid_layer_jvp(W, b, x, v):
    y = 1.0 / (1.0 + np.exp(-(W @ x + b)))
    return (1.0 - y**2) * (W @ v)


# %% active="py" wrong_answer="03_jacobians-sigmoid_layer_jvp-solution" mistake="The slope taken at the output: sigma'(y) instead of sigma'(W x + b)."
def sigmoid_layer_jvp(W, b, x, v):
    y = 1.0 / (1.0 + np.exp(-(W @ x + b)))
    s = 1.0 / (1.0 + np.exp(-y))
    return s * (1.0 - s) * (W @ v)


# %% active="py" wrong_answer="03_jacobians-sigmoid_layer_jvp-solution" mistake="The sigmoid's slope forgotten: the JVP of the linear part only."
def sigmoid_layer_jvp(W, b, x, v):
    return W @ v


# %% active="py" wrong_answer="03_jacobians-sigmoid_layer_jvp-solution" mistake="W^T where W belongs (a VJP habit); only square layers even run."
def sigmoid_layer_jvp(W, b, x, v):
    y = 1.0 / (1.0 + np.exp(-(W @ x + b)))
    return y * (1.0 - y) * (W.T @ v)


# %% active="py" wrong_answer="03_jacobians-sigmoid_layer_jvp-solution" mistake="sigma' taken to be sigma itself, as for the exponential."
def sigmoid_layer_jvp(W, b, x, v):
    y = 1.0 / (1.0 + np.exp(-(W @ x + b)))
    return y * (W @ v)


# %% [markdown]
# ### Exercise 4 · The VJP of a residual layer, for input and parameters (3 points)
#
# A **residual** layer (the building block of ResNets and transformers) adds its input back to its output:
#
# $$ y = x + \tanh(Wx + b), \qquad W\in\mathbb{R}^{n\times n},\ b, x, y\in\mathbb{R}^n . $$
#
# Given $u\in\mathbb{R}^n$ (in backpropagation: the gradient of the loss with respect to $y$), write
# `residual_layer_vjp(W, b, x, u)` returning the three products
#
# $$ u_x = J_x^\top u\ \in\mathbb{R}^n, \qquad u_W = J_W^\top u\ \in\mathbb{R}^{n\times n}, \qquad
#    u_b = J_b^\top u\ \in\mathbb{R}^{n}, $$
#
# each with the shape of the variable it belongs to: the gradients of the scalar $u^\top y$ with respect to
# $x$, $W$ and $b$. Section 4's tanh layer is the starting point: what does the skip connection $x$ add to each
# of the three? Do not build any Jacobian.

# %% nbgrader={"grade": false, "grade_id": "03_jacobians-residual_layer_vjp-solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
def residual_layer_vjp(W, b, x, u):
    """Reverse mode through y = x + tanh(W x + b): the vector-Jacobian products with respect to x, W and b.

    Args:
        W: Weights, shape (n, n).
        b: Bias, shape (n,).
        x: The input, shape (n,).
        u: A cotangent vector in the output space, shape (n,).

    Returns:
        A tuple (u_x, u_W, u_b) of arrays with shapes (n,), (n, n) and (n,): the gradients of the scalar
        u . (x + tanh(W x + b)) with respect to x, W and b.
    """
    ### BEGIN SOLUTION
    t = np.tanh(W @ x + b)
    g = u * (1.0 - t**2)
    return u + W.T @ g, np.outer(g, x), g
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "03_jacobians-residual_layer_vjp", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
_HINT_VJP = {
    "x": ("u_x = J_x^T u, and J_x is now the sum of two Jacobians: the skip connection's and the tanh layer's "
          "(a VJP multiplies by the transpose, so W^T, not W)."),
    "W": "u_W is shaped like W: the outer product of the tanh branch's g (length n) and x, in that order.",
    "b": "u_b: the bias enters only the tanh branch, exactly as W x does.",
}


def _residual(W, b, x):
    return x + np.tanh(W @ x + b)


def _check_vjp(n, seed):
    rng = np.random.default_rng(seed)
    W, b = rng.normal(size=(n, n)) / np.sqrt(n), rng.normal(size=n)
    x, u, v = rng.normal(size=n), rng.normal(size=n), rng.normal(size=n)
    where = f"for n = {n}"
    result = residual_layer_vjp(W.copy(), b.copy(), x.copy(), u.copy())
    if not (isinstance(result, (tuple, list)) and len(result) == 3):
        raise checks.CheckFailure("residual_layer_vjp must return a tuple of three arrays (u_x, u_W, u_b), "
                                  f"not {type(result).__name__}.")
    u_x, u_W, u_b = result
    # Each product is the gradient of the scalar u . y, by finite differences.
    checks.assert_close(u_x, numdiff.gradient(lambda x_: u @ _residual(W, b, x_), x), what="u_x", where=where,
                        hint=_HINT_VJP["x"])
    checks.assert_close(u_W, numdiff.gradient(lambda W_: u @ _residual(W_, b, x), W), what="u_W", where=where,
                        hint=_HINT_VJP["W"])
    checks.assert_close(u_b, numdiff.gradient(lambda b_: u @ _residual(W, b_, x), b), what="u_b", where=where,
                        hint=_HINT_VJP["b"])
    # The dot-product test: <u, J v> = <u_x, v>, with J v = d/dt y(x + t v) by finite differences.
    Jv = numdiff.jacobian(lambda t: _residual(W, b, x + t[0] * v), np.zeros(1))[:, 0]
    checks.assert_close(np.dot(u_x, v), np.dot(u, Jv), what="<u_x, v>",
                        where=where + " (the dot-product test <J^T u, v> = <u, J v>)", hint=_HINT_VJP["x"])


_check_vjp(3, seed=7)
_check_vjp(5, seed=8)

### BEGIN HIDDEN TESTS
# One definition of the hidden checks (calcml.probes): the kernel runs them here on a fixed seed; the grader
# draws each student's own inputs, runs the driver in a sandbox and _verify in its own process.
import numpy as np

from calcml import numdiff, probes


def _inputs(rng):
    sizes = [1, 2, 3, 4, 6, *(int(rng.integers(1, 9)) for _ in range(3))]
    cases = [{"W": rng.normal(size=(n, n)) / np.sqrt(n), "b": rng.normal(size=n), "x": rng.normal(size=n),
              "u": rng.normal(size=n)} for n in sizes]
    n = 4  # partly saturated units (W x 2.5)
    cases.append({"W": 2.5 * rng.normal(size=(n, n)), "b": rng.normal(size=n), "x": rng.normal(size=n),
                  "u": rng.normal(size=n)})
    return {"cases": cases}


_DRIVER = """
import numpy as np
result = []
for c in inputs["cases"]:
    u_x, u_W, u_b = residual_layer_vjp(*(np.array(c[k], dtype=float) for k in ("W", "b", "x", "u")))
    result.append({"x": u_x, "W": u_W, "b": u_b})
"""


def _residual(W, b, x):
    return x + np.tanh(W @ x + b)


def _hint(name, got, W, b, x, u):
    """Name the mistake a wrong product shows (candidates built here from the layer's own quantities)."""
    t = np.tanh(W @ x + b)
    g, g_out = u * (1.0 - t**2), u * (1.0 - (x + t) ** 2)
    candidates = {
        "x": ((W.T @ g, "the skip connection is missing: y = x + tanh(...) adds the identity to J_x, so u itself "
                        "joins u_x."),
              (u + W @ g, "W where Wᵀ belongs: a VJP multiplies by the transpose."),
              (u + W.T @ g_out, "the slope 1 - (·)² is taken at the output y = x + tanh(...); it belongs to the "
                                "tanh alone, at W x + b.")),
        "W": ((np.outer(x, g), "the outer product the wrong way round: u_W is the transpose of the right one."),
              (np.outer(g_out, x), "the slope 1 - (·)² is taken at the output y = x + tanh(...), not at the tanh.")),
        "b": ((u + g, "the skip connection does not involve b: only the tanh branch contributes to u_b."),
              (g_out, "the slope 1 - (·)² is taken at the output y = x + tanh(...), not at the tanh.")),
    }[name]
    try:
        got = np.asarray(got, dtype=float)
        for guess, cause in candidates:
            if got.shape == guess.shape and np.allclose(got, guess, rtol=1e-6, atol=1e-12):
                return "Likely mistake: " + cause
    except (TypeError, ValueError):
        pass
    return {"x": "u_x = J_xᵀ u, where J_x is the sum of the skip connection's Jacobian and the tanh layer's.",
            "W": "u_W is shaped like W: the outer product of the tanh branch's g and x, in that order.",
            "b": "u_b: the bias enters only the tanh branch, exactly as W x does."}[name]


def _verify(inputs, result):
    probes.require(isinstance(result, list) and len(result) == len(inputs["cases"]),
                   "residual_layer_vjp gave too few results.")
    for case, got in zip(inputs["cases"], result, strict=True):
        W, b, x, u = (np.array(case[k], dtype=float) for k in ("W", "b", "x", "u"))
        where = f"for n = {len(x)}"
        probes.require(isinstance(got, dict), f"residual_layer_vjp gave no products {where}.")
        probes.close(got.get("x"), numdiff.gradient(lambda x_, W=W, b=b, u=u: u @ _residual(W, b, x_), x),
                     what="u_x", where=where, hint=_hint("x", got.get("x"), W, b, x, u))
        probes.close(got.get("W"), numdiff.gradient(lambda W_, b=b, x=x, u=u: u @ _residual(W_, b, x), W),
                     what="u_W", where=where, hint=_hint("W", got.get("W"), W, b, x, u))
        probes.close(got.get("b"), numdiff.gradient(lambda b_, W=W, x=x, u=u: u @ _residual(W, b_, x), b),
                     what="u_b", where=where, hint=_hint("b", got.get("b"), W, b, x, u))


probes.exercise(globals(), inputs=_inputs, driver=_DRIVER, verify=_verify, seed=76)
### END HIDDEN TESTS


# %% active="py" wrong_answer="03_jacobians-residual_layer_vjp-solution" mistake="Section 4's tanh-layer VJP copied: the skip connection's identity missing from u_x."
def residual_layer_vjp(W, b, x, u):
    t = np.tanh(W @ x + b)
    g = u * (1.0 - t**2)
    return W.T @ g, np.outer(g, x), g


# %% active="py" wrong_answer="03_jacobians-residual_layer_vjp-solution" mistake="The tanh slope taken at the layer's output y = x + tanh(W x + b)."
def residual_layer_vjp(W, b, x, u):
    y = x + np.tanh(W @ x + b)
    g = u * (1.0 - y**2)
    return u + W.T @ g, np.outer(g, x), g


# %% active="py" wrong_answer="03_jacobians-residual_layer_vjp-solution" mistake="J instead of J^T for the input: W g where W^T g belongs."
def residual_layer_vjp(W, b, x, u):
    t = np.tanh(W @ x + b)
    g = u * (1.0 - t**2)
    return u + W @ g, np.outer(g, x), g


# %% active="py" wrong_answer="03_jacobians-residual_layer_vjp-solution" mistake="The outer product the wrong way round: u_W is the transpose of the right one."
def residual_layer_vjp(W, b, x, u):
    t = np.tanh(W @ x + b)
    g = u * (1.0 - t**2)
    return u + W.T @ g, np.outer(x, g), g


# %% active="py" wrong_answer="03_jacobians-residual_layer_vjp-solution" mistake="The skip connection added to every product, u_b included."
def residual_layer_vjp(W, b, x, u):
    t = np.tanh(W @ x + b)
    g = u * (1.0 - t**2)
    return u + W.T @ g, np.outer(g, x), u + g


# %% active="py" wrong_answer="03_jacobians-residual_layer_vjp-solution" mistake="No derivation: all three products by finite differences with numdiff.gradient."
def residual_layer_vjp(W, b, x, u):
    from calcml import numdiff
    return (numdiff.gradient(lambda x_: u @ (x_ + np.tanh(W @ x_ + b)), x),
            numdiff.gradient(lambda W_: u @ (x + np.tanh(W_ @ x + b)), W),
            numdiff.gradient(lambda b_: u @ (x + np.tanh(W @ x + b_)), b))


# %% [markdown]
# ### Exercise 5 · Backpropagation through a residual network (3 points)
#
# A residual network of depth $D$ computes $x_0 = x$, $x_i = x_{i-1} + \tanh(W_i x_{i-1} + b_i)$ for
# $i = 1, \dots, D$, all of width $n$, and outputs $x_D$. Write `residual_network_vjp(params, x, u)` returning
# $J^\top u$ for every input of the network: the VJP with respect to $x$ and, for each layer, the VJPs with
# respect to $W_i$ and $b_i$. With $u = \partial L/\partial x_D$ this is exactly backpropagation: the gradient of
# a loss $L$ with respect to every parameter, from a single backward pass.
#
# Use your `residual_layer_vjp` from exercise 4, once per layer, in the order that section 4 gives for a VJP
# along a chain; each call needs that layer's own input. Return the parameter products **in layer order**, the
# first layer first.

# %% nbgrader={"grade": false, "grade_id": "03_jacobians-residual_network_vjp-solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
def residual_network_vjp(params, x, u):
    """Backpropagation through x_i = x_{i-1} + tanh(W_i x_{i-1} + b_i), i = 1..D: one reverse pass of VJPs.

    Args:
        params: A non-empty list [(W_1, b_1), ..., (W_D, b_D)]; every W_i has shape (n, n), every b_i shape (n,).
        x: The input x_0, shape (n,).
        u: A cotangent vector for the output x_D, shape (n,).

    Returns:
        A tuple (u_x, grads): u_x of shape (n,) is the gradient of the scalar u . x_D with respect to x_0, and
        grads is a list of D tuples (u_W_i, u_b_i), first layer first, with the shapes of W_i and b_i: the
        gradients of u . x_D with respect to each W_i and b_i.
    """
    ### BEGIN SOLUTION
    inputs = []
    a = np.asarray(x, dtype=float)
    for W, b in params:
        inputs.append(a)
        a = a + np.tanh(W @ a + b)
    grads = []
    for (W, b), a_in in zip(reversed(params), reversed(inputs), strict=True):
        u, u_W, u_b = residual_layer_vjp(W, b, a_in, u)
        grads.append((u_W, u_b))
    return u, grads[::-1]
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "03_jacobians-residual_network_vjp", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
_HINT_NET = ("Run the forward pass first and keep each layer's INPUT; then call residual_layer_vjp from the last "
             "layer back to the first, feeding each call the u_x returned by the layer above it, and return the "
             "parameter products first layer first.")


def _network(params, x):
    for W, b in params:
        x = x + np.tanh(W @ x + b)
    return x


def _check_network(n, depth, seed):
    rng = np.random.default_rng(seed)
    params = [(rng.normal(size=(n, n)) / np.sqrt(n), 0.5 * rng.normal(size=n)) for _ in range(depth)]
    x, u = rng.normal(size=n), rng.normal(size=n)
    where = f"for width n = {n} and depth D = {depth}"
    result = residual_network_vjp([(W.copy(), b.copy()) for W, b in params], x.copy(), u.copy())
    if not (isinstance(result, (tuple, list)) and len(result) == 2):
        raise checks.CheckFailure("residual_network_vjp must return a tuple (u_x, grads).")
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


_check_network(3, 2, seed=9)
_check_network(4, 3, seed=10)

### BEGIN HIDDEN TESTS
# One definition of the hidden checks (calcml.probes): the kernel runs them here on a fixed seed; the grader
# draws each student's own inputs, runs the driver in a sandbox and _verify in its own process.
import numpy as np

from calcml import numdiff, probes


def _network(params, x):
    for W, b in params:
        x = x + np.tanh(W @ x + b)
    return x


def _inputs(rng):
    # (width, depth): the visible ones, one layer, width 1, a deeper one, then random ones
    shapes = [(3, 2), (4, 3), (4, 1), (1, 3), (2, 5), (5, 2)]
    shapes += [(int(rng.integers(1, 6)), int(rng.integers(1, 5))) for _ in range(3)]
    cases = []
    for n, depth in shapes:
        params = [{"W": rng.normal(size=(n, n)) / np.sqrt(n), "b": 0.5 * rng.normal(size=n)} for _ in range(depth)]
        cases.append({"n": n, "depth": depth, "params": params, "x": rng.normal(size=n), "u": rng.normal(size=n)})
    return {"cases": cases}


_DRIVER = """
import numpy as np
result = []
for c in inputs["cases"]:
    params = [(np.array(p["W"], dtype=float), np.array(p["b"], dtype=float)) for p in c["params"]]
    u_x, grads = residual_network_vjp(params, np.array(c["x"], dtype=float), np.array(c["u"], dtype=float))
    result.append({"x": u_x, "grads": [[u_W, u_b] for u_W, u_b in grads]})
"""

_HINT = ("Run the forward pass first and keep each layer's INPUT; then call residual_layer_vjp from the last layer "
         "back to the first, feeding each call the u_x returned by the layer above it, and return the parameter "
         "products first layer first.")


def _verify(inputs, result):
    probes.require(isinstance(result, list) and len(result) == len(inputs["cases"]),
                   "residual_network_vjp gave too few results.")
    for case, got in zip(inputs["cases"], result, strict=True):
        params = [(np.array(p["W"], dtype=float), np.array(p["b"], dtype=float)) for p in case["params"]]
        x, u = np.array(case["x"], dtype=float), np.array(case["u"], dtype=float)
        where = f"for width n = {case['n']} and depth D = {case['depth']}"
        probes.require(isinstance(got, dict), f"residual_network_vjp gave no products {where}.")
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


# %% [raw] wrong_answer="03_jacobians-residual_network_vjp-solution" mistake="The layer VJPs applied in forward order, first layer first."
# ### REPLACE
#     for (W, b), a_in in zip(reversed(params), reversed(inputs), strict=True):
# ### WITH
#     for (W, b), a_in in zip(params, inputs, strict=True):
# ### END
# ### REPLACE
#     return u, grads[::-1]
# ### WITH
#     return u, grads
# ### END


# %% [raw] wrong_answer="03_jacobians-residual_network_vjp-solution" mistake="The parameter products left in backward order (last layer first)."
# ### REPLACE
#     return u, grads[::-1]
# ### WITH
#     return u, grads
# ### END


# %% active="py" wrong_answer="03_jacobians-residual_network_vjp-solution" mistake="Each layer's output stored instead of its input."
def residual_network_vjp(params, x, u):
    outputs = []
    a = np.asarray(x, dtype=float)
    for W, b in params:
        a = a + np.tanh(W @ a + b)
        outputs.append(a)
    grads = []
    for (W, b), a_out in zip(reversed(params), reversed(outputs), strict=True):
        u, u_W, u_b = residual_layer_vjp(W, b, a_out, u)
        grads.append((u_W, u_b))
    return u, grads[::-1]


# %% [raw] wrong_answer="03_jacobians-residual_network_vjp-solution" mistake="Every layer's VJP fed the same u (the output's) instead of the u_x of the layer above."
# ### REPLACE
#     for (W, b), a_in in zip(reversed(params), reversed(inputs), strict=True):
#         u, u_W, u_b = residual_layer_vjp(W, b, a_in, u)
# ### WITH
#     u_x = u
#     for (W, b), a_in in zip(reversed(params), reversed(inputs), strict=True):
#         u_x, u_W, u_b = residual_layer_vjp(W, b, a_in, u)
# ### END
# ### REPLACE
#     return u, grads[::-1]
# ### WITH
#     return u_x, grads[::-1]
# ### END


# %% active="py" wrong_answer="03_jacobians-residual_network_vjp-solution" mistake="No backward pass: every gradient by finite differences with numdiff.gradient."
def residual_network_vjp(params, x, u):
    from calcml import numdiff

    def net(params_, x_):
        for W, b in params_:
            x_ = x_ + np.tanh(W @ x_ + b)
        return u @ x_

    x = np.asarray(x, dtype=float)
    grads = []
    for i, (W, b) in enumerate(params):
        u_W = numdiff.gradient(lambda W_, i=i, b=b: net(params[:i] + [(W_, b)] + params[i + 1:], x), W)
        u_b = numdiff.gradient(lambda b_, i=i, W=W: net(params[:i] + [(W, b_)] + params[i + 1:], x), b)
        grads.append((u_W, u_b))
    return numdiff.gradient(lambda x_: net(params, x_), x), grads


# %% [markdown]
# ### Forward or reverse: the rule, from a count of passes
#
# A JVP $Jv$ with $v = e_j$ returns column $j$ of $J$, and one JVP returns one combination of the columns, no
# more: the full $m\times n$ Jacobian takes **$n$ JVPs**, one per input. A VJP $J^\top u$ with $u = e_i$ returns
# row $i$: the full Jacobian takes **$m$ VJPs**, one per output. Each pass costs a small multiple of one
# evaluation of $f$, whatever $n$ and $m$ are, so the number of passes decides:
#
# | the map | $n$ inputs | $m$ outputs | forward mode | reverse mode | cheaper |
# |---|---|---|---|---|---|
# | the loss of a network with a million weights | 1,000,000 | 1 | 1,000,000 JVPs | 1 VJP | reverse |
# | a layer from a 28 × 28 image to 10 class scores | 784 | 10 | 784 JVPs | 10 VJPs | reverse |
# | a curve in space, $t \mapsto (x(t), y(t), z(t))$ | 1 | 3 | 1 JVP | 3 VJPs | forward |
# | softmax over 10 classes | 10 | 10 | 10 JVPs | 10 VJPs | a tie |
#
# The first row is why deep learning lives in reverse mode: one backward pass gives all the million partial
# derivatives of the loss. On a tie, prefer forward mode: it runs alongside the evaluation and stores nothing,
# while reverse mode must keep every intermediate point (section 4). Counting *entries* instead of passes hides
# the choice: the image layer's Jacobian has 784 · 10 = 7,840 entries in both modes; what differs is how many
# of them one pass fills, a column of 10 in forward mode, a row of 784 in reverse mode.
#
# ### Exercise 6 · Forward or reverse? (3 points)
#
# Write three functions:
#
# - `jacobian_cost(n, m, mode)`: the number of passes that build the full Jacobian of a map
#   $f:\mathbb{R}^n\to\mathbb{R}^m$ in `mode`, `"forward"` or `"reverse"`;
# - `cheaper_mode(n, m)`: the mode that needs fewer passes, `"forward"` on a tie;
# - `jacobian_from_products(jvp, vjp, n, m)`: the full Jacobian of $f$, built from its products alone (`jvp(v)`
#   returns $Jv$, `vjp(u)` returns $J^\top u$) in the cheaper mode, calling only that mode's product, and no
#   more often than `jacobian_cost` says. The tests count your calls.

# %% nbgrader={"grade": false, "grade_id": "03_jacobians-mode_choice-solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
def jacobian_cost(n, m, mode):
    """The number of passes that build the full Jacobian of a map f: R^n -> R^m.

    Args:
        n: The number of inputs, a whole number >= 1.
        m: The number of outputs, a whole number >= 1.
        mode: "forward" (each pass is one JVP, J v) or "reverse" (each pass is one VJP, J^T u).

    Returns:
        The number of passes, an int.
    """
    ### BEGIN SOLUTION
    return n if mode == "forward" else m
    ### END SOLUTION


def cheaper_mode(n, m):
    """The mode that builds the full Jacobian of f: R^n -> R^m in fewer passes.

    Args:
        n: The number of inputs, a whole number >= 1.
        m: The number of outputs, a whole number >= 1.

    Returns:
        "forward" or "reverse": the one with fewer passes, and "forward" when both need as many.
    """
    ### BEGIN SOLUTION
    return "forward" if jacobian_cost(n, m, "forward") <= jacobian_cost(n, m, "reverse") else "reverse"
    ### END SOLUTION


def jacobian_from_products(jvp, vjp, n, m):
    """The full Jacobian of a map f: R^n -> R^m, from its Jacobian-vector and vector-Jacobian products alone.

    Args:
        jvp: A function; jvp(v) returns J v, shape (m,), for v of shape (n,).
        vjp: A function; vjp(u) returns J^T u, shape (n,), for u of shape (m,).
        n: The number of inputs, a whole number >= 1.
        m: The number of outputs, a whole number >= 1.

    Returns:
        J, an array of shape (m, n) with J[i, j] = df_i/dx_j, built in the mode cheaper_mode(n, m) chooses:
        with jacobian_cost(n, m, that mode) calls of that mode's product, and none of the other.
    """
    ### BEGIN SOLUTION
    if cheaper_mode(n, m) == "forward":
        return np.stack([np.asarray(jvp(e), dtype=float) for e in np.eye(n)], axis=1)
    return np.stack([np.asarray(vjp(e), dtype=float) for e in np.eye(m)], axis=0)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "03_jacobians-mode_choice", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
_HINT_MODE = ("A JVP J v fills one column of J (one input), a VJP J^T u one row (one output): n JVPs or m VJPs "
              "build the whole m x n Jacobian.")

for _n, _m in ((4, 1), (1, 3)):
    for _mode in ("forward", "reverse"):
        checks.assert_close(jacobian_cost(_n, _m, _mode), {"forward": _n, "reverse": _m}[_mode],
                            what=f"jacobian_cost(n={_n}, m={_m}, {_mode!r})", hint=_HINT_MODE)
if cheaper_mode(10**6, 1) != "reverse":
    raise checks.CheckFailure("cheaper_mode(n=1000000, m=1), a loss of a million weights, should be 'reverse', not "
                              f"{cheaper_mode(10**6, 1)!r}: one VJP gives the whole gradient.")


def _counted(A):
    """jvp and vjp of the linear map x -> A x, counting their calls."""
    calls = {"jvp": 0, "vjp": 0}

    def jvp(v):
        calls["jvp"] += 1
        return A @ np.asarray(v, dtype=float)

    def vjp(u):
        calls["vjp"] += 1
        return A.T @ np.asarray(u, dtype=float)

    return jvp, vjp, calls


_A = np.random.default_rng(11).normal(size=(2, 5))   # n = 5 inputs, m = 2 outputs
_jvp, _vjp, _calls = _counted(_A)
checks.assert_close(jacobian_from_products(_jvp, _vjp, 5, 2), _A, what="Jacobian from products",
                    where="of a linear map R^5 -> R^2", hint="J has one row per output: shape (m, n).")
if _calls != {"jvp": 0, "vjp": 2}:
    raise checks.CheckFailure(f"jacobian_from_products made {_calls['jvp']} JVP and {_calls['vjp']} VJP calls for "
                              "n = 5, m = 2; the cheaper mode needs 2 VJPs and no JVP. " + _HINT_MODE)

### BEGIN HIDDEN TESTS
# One definition of the hidden checks (calcml.probes): the kernel runs them here on a fixed seed; the grader
# draws each student's own inputs, runs the driver in a sandbox and _verify in its own process.
import numpy as np

from calcml import probes

_WHY = ("A JVP J v fills one column of J (one input), a VJP Jᵀ u one row (one output): the full m x n Jacobian "
        "takes n JVPs or m VJPs, and a tie goes to forward mode (it stores no intermediate points).")


def _inputs(rng):
    # (n, m): many inputs, many outputs, ties, one by one, then random shapes; the first ones are built too
    shapes = [(5, 2), (2, 5), (3, 3), (1, 1), (1, 4), (6, 1), (7, 7), (40, 3), (3, 40)]
    shapes += [(int(rng.integers(1, 12)), int(rng.integers(1, 12))) for _ in range(4)]
    built = [{"n": n, "m": m, "A": rng.normal(size=(m, n))} for n, m in shapes]
    counted = [[n, m] for n, m in shapes] + [[10**6, 1], [784, 10], [1, 3], [10, 10], [1, 10**6]]
    return {"built": built, "counted": counted}


_DRIVER = """
import numpy as np
result = {"cost": [], "mode": [], "built": []}
for n, m in inputs["counted"]:
    result["cost"].append([jacobian_cost(n, m, "forward"), jacobian_cost(n, m, "reverse")])
    result["mode"].append(cheaper_mode(n, m))
for case in inputs["built"]:
    A, calls = np.array(case["A"], dtype=float), {"jvp": 0, "vjp": 0, "bad": 0}

    def jvp(v, A=A, calls=calls):
        calls["jvp"] += 1
        v = np.asarray(v, dtype=float)
        if v.shape != (A.shape[1],):
            calls["bad"] += 1
        return A @ v.reshape(-1)[:A.shape[1]]

    def vjp(u, A=A, calls=calls):
        calls["vjp"] += 1
        u = np.asarray(u, dtype=float)
        if u.shape != (A.shape[0],):
            calls["bad"] += 1
        return A.T @ u.reshape(-1)[:A.shape[0]]

    J = jacobian_from_products(jvp, vjp, case["n"], case["m"])
    result["built"].append({"J": J, "calls": calls})
"""


def _passes(A, mode):
    """Build J = A column by column from counted JVPs (forward) or row by row from counted VJPs (reverse), and
    return the number of products it took; the build itself proves that this many passes suffice."""
    m, n = A.shape
    count = 0
    if mode == "forward":
        columns = []
        for j in range(n):
            count += 1
            e = np.zeros(n)
            e[j] = 1.0
            columns.append(A @ e)
        assert np.array_equal(np.stack(columns, axis=1), A)
    else:
        rows = []
        for i in range(m):
            count += 1
            e = np.zeros(m)
            e[i] = 1.0
            rows.append(A.T @ e)
        assert np.array_equal(np.stack(rows, axis=0), A)
    return count


def _verify(inputs, result):
    probes.require(isinstance(result, dict) and all(isinstance(result.get(k), list) for k in ("cost", "mode", "built"))
                   and len(result["cost"]) == len(result["mode"]) == len(inputs["counted"])
                   and len(result["built"]) == len(inputs["built"]), "The mode functions gave too few results.")
    rng = np.random.default_rng(0)
    for (n, m), cost, mode in zip(inputs["counted"], result["cost"], result["mode"], strict=True):
        # n JVPs and m VJPs, by building a Jacobian of that shape (a scaled-down one beyond 1000 inputs or
        # outputs: a pass per column or row, whatever the size)
        small = rng.normal(size=(min(m, 1000), min(n, 1000)))
        forward, reverse = (_passes(small, "forward") * n // min(n, 1000),
                            _passes(small, "reverse") * m // min(m, 1000))
        probes.require(isinstance(cost, list) and len(cost) == 2, f"jacobian_cost(n={n}, m={m}, ...) gave no number.")
        for name, got, want in (("forward", cost[0], forward), ("reverse", cost[1], reverse)):
            probes.require(isinstance(got, (int, float)) and got == want,
                           f"jacobian_cost(n={n}, m={m}, {name!r}) is {got!r}, but building the {m} x {n} Jacobian "
                           f"in {name} mode takes {want} passes. " + _WHY)
        best = "forward" if forward <= reverse else "reverse"
        reason = ("the contract says 'forward' on a tie" if forward == reverse else f"{best!r} needs fewer passes")
        probes.require(isinstance(mode, str) and mode.strip().lower() == best,
                       f"cheaper_mode(n={n}, m={m}) is {mode!r}, but {reason} ({forward} JVPs against {reverse} "
                       "VJPs). " + _WHY)
    for case, got in zip(inputs["built"], result["built"], strict=True):
        A, n, m = np.array(case["A"], dtype=float), case["n"], case["m"]
        where = f"for a linear map R^{n} -> R^{m}"
        probes.require(isinstance(got, dict) and isinstance(got.get("calls"), dict),
                       f"jacobian_from_products gave no Jacobian {where}.")
        probes.close(got.get("J"), A, what="Jacobian from products", where=where,
                     hint="J has one row per output and one column per input: shape (m, n). A JVP gives a column, "
                          "a VJP a row.")
        calls, best = got["calls"], "forward" if n <= m else "reverse"
        want = {"jvp": n, "vjp": 0} if best == "forward" else {"jvp": 0, "vjp": m}
        probes.require(calls.get("bad") == 0, f"jacobian_from_products called jvp or vjp {where} with a vector of the "
                       "wrong length: jvp takes a vector of length n, vjp one of length m.")
        probes.require(calls.get("jvp") == want["jvp"] and calls.get("vjp") == want["vjp"],
                       f"jacobian_from_products made {calls.get('jvp')} JVP and {calls.get('vjp')} VJP calls {where}; "
                       f"the cheaper mode ({best}) needs {want['jvp'] or want['vjp']} "
                       f"{'JVPs' if best == 'forward' else 'VJPs'} and nothing else. " + _WHY)


probes.exercise(globals(), inputs=_inputs, driver=_DRIVER, verify=_verify, seed=61)
### END HIDDEN TESTS


# %% [raw] wrong_answer="03_jacobians-mode_choice-solution" mistake="n and m swapped: forward mode counted per output, reverse mode per input."
# ### REPLACE
#     return n if mode == "forward" else m
# ### WITH
#     return m if mode == "forward" else n
# ### END


# %% [raw] wrong_answer="03_jacobians-mode_choice-solution" mistake="Entries counted instead of passes: n m for both modes, so the choice is always a tie."
# ### REPLACE
#     return n if mode == "forward" else m
# ### WITH
#     return n * m
# ### END


# %% [raw] wrong_answer="03_jacobians-mode_choice-solution" mistake="The tie broken the wrong way: reverse mode when n = m, where the contract says forward."
# ### REPLACE
#     return "forward" if jacobian_cost(n, m, "forward") <= jacobian_cost(n, m, "reverse") else "reverse"
# ### WITH
#     return "forward" if n < m else "reverse"
# ### END


# %% [raw] wrong_answer="03_jacobians-mode_choice-solution" mistake="Always reverse mode, because deep learning uses it."
# ### REPLACE
#     return "forward" if jacobian_cost(n, m, "forward") <= jacobian_cost(n, m, "reverse") else "reverse"
# ### WITH
#     return "reverse"
# ### END
# ### REPLACE
#     if cheaper_mode(n, m) == "forward":
#         return np.stack([np.asarray(jvp(e), dtype=float) for e in np.eye(n)], axis=1)
#     return np.stack([np.asarray(vjp(e), dtype=float) for e in np.eye(m)], axis=0)
# ### WITH
#     return np.stack([np.asarray(vjp(e), dtype=float) for e in np.eye(m)], axis=0)
# ### END


# %% [raw] wrong_answer="03_jacobians-mode_choice-solution" mistake="The VJP rows stacked as columns: returns J^T, shape (n, m)."
# ### REPLACE
#     return "forward" if jacobian_cost(n, m, "forward") <= jacobian_cost(n, m, "reverse") else "reverse"
# ### WITH
#     return "forward" if n <= m else "reverse"
# ### END
# ### REPLACE
#     return np.stack([np.asarray(vjp(e), dtype=float) for e in np.eye(m)], axis=0)
# ### WITH
#     return np.stack([np.asarray(vjp(e), dtype=float) for e in np.eye(m)], axis=1)
# ### END


# %% [markdown]
# ## What you can now do
#
# - Write the Jacobian of $f:\mathbb{R}^n\to\mathbb{R}^m$ as the $m\times n$ matrix
#   $J_{ij} = \partial f_i/\partial x_j$, whose row $i$ is the gradient of output $i$, and use it as the best
#   linear approximation $f(x + \delta) \approx f(x) + J\delta$.
# - Apply the chain rule $J_{g\circ f}(x) = J_g(f(x))\,J_f(x)$: last map on the left, each factor at its own point,
#   to a softmax with a temperature and to a chain of maps.
# - Derive the Jacobians of an elementwise map (diagonal), a linear layer ($W$) and softmax
#   ($\operatorname{diag}(p) - pp^\top$), and the products of a layer without building its Jacobian: the JVP of
#   a sigmoid layer and the VJP of a residual layer, from the worked tanh layer.
# - Compute a JVP $Jv$ along the chain (forward mode) and a VJP $J^\top u$ against it (reverse mode), and choose
#   between them from a count of passes: a full Jacobian costs $n$ JVPs or $m$ VJPs, so for a scalar loss one
#   VJP is the whole gradient. That single backward pass, layer VJP after layer VJP, is backpropagation, and you
#   have just written it.
#
# **Next: unit 4, *Computational graphs, forward and backward*.** A network is not always a neat chain of layers:
# values branch and merge. The computational graph turns this loop over layers into an algorithm for any
# expression.
