# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Unit 2 · Gradients and their geometry
#
# A derivative measures how fast a function of *one* variable changes. A model's loss depends on thousands or
# millions of parameters at once: to improve the model we must know how the loss responds to each of them, and
# which way to move all of them together. The tool is the **gradient**, the vector of all partial derivatives,
# and it answers a geometric question: *which way is uphill?* It points where the function climbs fastest, its
# length is that fastest rate of climb, and it crosses every contour line at a right angle.
#
# **Learning objective 2.** Extend the derivative to multivariable functions through the gradient, and describe
# its geometric meaning. By the end of this unit you will be able to
#
# - compute partial derivatives and assemble them into the gradient, by hand and numerically;
# - compute the slope of $f$ in any direction $u$, the directional derivative $\nabla f\cdot u$, and prove
#   that the gradient is the direction of steepest ascent and is orthogonal to level sets, whose tangent in the
#   plane is the gradient turned by 90°;
# - derive $\nabla_x(a^\top x) = a$, $\nabla_x(x^\top A x) = (A + A^\top)x$ and $\nabla\|x\|^2 = 2x$ in index
#   notation, check them with sympy, and combine them into new gradients (least squares, a sandwiched form);
# - turn these results into NumPy code and test it against numerical gradients.
#
# The symbols ($h$ a finite-difference step, $\delta$ a perturbation, $\nabla f$ with the shape of $x$, ...) follow
# [the course's notation](../../course/notation.md).

# %%
import matplotlib.pyplot as plt
import numpy as np
import sympy as sp

from calcml import checks, gradient_field, numdiff, plots

# %% [markdown]
# ## 1 · Partial derivatives: freeze all variables but one
#
# Take a function of two variables, say
#
# $$ f(x_1, x_2) = x_1^2\, x_2 + \sin x_2 . $$
#
# Freeze $x_2$ at some value and $f$ becomes an ordinary function of $x_1$ alone, a *slice* through the surface.
# Its derivative is the **partial derivative** $\partial f / \partial x_1$. Formally, with $e_i$ the $i$-th unit
# vector,
#
# $$ \frac{\partial f}{\partial x_i}(x) = \lim_{h\to 0} \frac{f(x + h e_i) - f(x)}{h} . $$
#
# The rules of one-variable calculus apply unchanged; the frozen variables behave like constants:
#
# $$ \frac{\partial f}{\partial x_1} = 2 x_1 x_2, \qquad \frac{\partial f}{\partial x_2} = x_1^2 + \cos x_2 . $$
#
# Numerically a partial derivative *is* a one-variable derivative of a slice, so `numdiff.derivative` computes it.

# %%
def f(x):
    """The running example f(x1, x2) = x1^2 x2 + sin(x2); x has shape (2,)."""
    return x[0] ** 2 * x[1] + np.sin(x[1])


x0 = np.array([1.5, 0.5])
slice_1 = lambda t: f(np.array([t, x0[1]]))  # noqa: E731 -- x2 frozen at 0.5
slice_2 = lambda s: f(np.array([x0[0], s]))  # noqa: E731 -- x1 frozen at 1.5
d1, d2 = numdiff.derivative(slice_1, x0[0]), numdiff.derivative(slice_2, x0[1])
print(f"∂f/∂x1 at x0: numerically {d1:.8f}, by hand 2 x1 x2     = {2 * x0[0] * x0[1]:.8f}")
print(f"∂f/∂x2 at x0: numerically {d2:.8f}, by hand x1² + cos x2 = {x0[0] ** 2 + np.cos(x0[1]):.8f}")

fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), layout="constrained")
plots.tangent_line(slice_1, x0[0], d1, ax=axes[0], xlim=(-0.5, 2.5), label="f(x1, 0.5)")
axes[0].set(xlabel="$x_1$ (with $x_2 = 0.5$ frozen)", title=f"Slice along $x_1$: slope $\\partial f/\\partial x_1$ = {d1:.3f}")
plots.tangent_line(slice_2, x0[1], d2, ax=axes[1], xlim=(-1.5, 2.5), label="f(1.5, x2)")
axes[1].set(xlabel="$x_2$ (with $x_1 = 1.5$ frozen)", title=f"Slice along $x_2$: slope $\\partial f/\\partial x_2$ = {d2:.3f}")
plt.show()

# %% [markdown]
# ## 2 · The gradient: all partial derivatives in one vector
#
# For $f:\mathbb{R}^n \to \mathbb{R}$ the **gradient** collects the $n$ partial derivatives in a column, like $x$:
#
# $$ \nabla f(x) = \begin{pmatrix} \partial f/\partial x_1 (x) \\ \vdots \\ \partial f/\partial x_n (x) \end{pmatrix}. $$
#
# Its job is the **linear approximation**: near $x$, $f$ is almost a plane,
#
# $$ f(x + \delta) = f(x) + \nabla f(x) \cdot \delta + O(\|\delta\|^2), $$
#
# just as $f(x + h) \approx f(x) + f'(x)\,h$ in one variable. The error shrinks like $\|\delta\|^2$: ten times
# closer, a hundred times more accurate. (Strictly, *differentiable* means only that the error is $o(\|\delta\|)$,
# small compared with $\|\delta\|$; it is $O(\|\delta\|^2)$ when $f$ has continuous second derivatives. Having
# partial derivatives is not quite enough, but every function in this course is smooth and the distinction
# never bites.)
#
# **Shapes.** In this course the gradient with respect to $x$ has the *shape of $x$*: a vector for a vector, a
# matrix for a weight matrix $W$. That is the convention of `numdiff.gradient`, of PyTorch's `.grad` and of
# every optimiser, which updates `W -= lr * W.grad` element by element.

# %%
def grad_f(x):
    """The gradient of the running example, by hand."""
    return np.array([2 * x[0] * x[1], x[0] ** 2 + np.cos(x[1])])


print("numerical gradient:", numdiff.gradient(f, x0))
print("gradient by hand:  ", grad_f(x0))
checks.check_gradient(grad_f, f, x0)  # silent when right; a wrong gradient raises with an explanation

direction = np.array([0.6, -0.8])
for size in [1e-1, 1e-2, 1e-3]:
    delta = size * direction
    error = f(x0 + delta) - (f(x0) + grad_f(x0) @ delta)
    print(f"|δ| = {size:.0e}: error of the linear approximation {error:+.3e}")

# %% [markdown]
# A **gradient field** draws $\nabla f$ as an arrow at every point of a grid, on top of the contour lines (the
# *level sets* $\{x : f(x) = c\}$). Two things stand out: the arrows are long where contours crowd together (the
# slope is steep), and every arrow crosses the contours **at a right angle**. The next section proves both.

# %%
ax = gradient_field.plot_field(f, (-2.0, 2.0), (-2.0, 2.0), title=r"$f(x) = x_1^2 x_2 + \sin x_2$ and its gradient field")
plt.show()

# %% [markdown]
# ## 3 · The geometry: directional derivatives and steepest ascent
#
# **Directional derivative.** Walk from $x$ in the direction of a *unit* vector $u$ ($\|u\| = 1$). The slope you
# feel is the derivative of the one-variable function $t \mapsto f(x + t u)$:
#
# $$ D_u f(x) = \frac{d}{dt} f(x + t u) \Big|_{t=0} = \nabla f(x) \cdot u . $$
#
# *Why:* put $\delta = t u$ in the linear approximation: $f(x + t u) = f(x) + t\, \nabla f(x)\cdot u + O(t^2)$, a
# line in $t$ with slope $\nabla f(x)\cdot u$. The partial derivatives are the special cases $u = e_i$.
#
# Why must $u$ be a *unit* vector? Because $D_u f$ is a slope per unit of distance walked. With $v = 3u$ the
# same walk is covered three times as fast and $\nabla f \cdot v$ is three times larger, although the hill is just
# as steep. For a direction $v$ of any length, use $u = v / \|v\|$.
#
# **Steepest ascent.** Which direction climbs fastest? The Cauchy–Schwarz inequality
# $|a\cdot b| \le \|a\|\,\|b\|$, with equality exactly when $a$ and $b$ are parallel, answers it at once. For
# every unit vector $u$,
#
# $$ -\|\nabla f(x)\| \;\le\; D_u f(x) = \nabla f(x)\cdot u \;\le\; \|\nabla f(x)\|\,\|u\| = \|\nabla f(x)\| . $$
#
# If $\nabla f(x) \neq 0$, the upper bound is reached exactly by $u^\star = \nabla f(x) / \|\nabla f(x)\|$, and the lower
# bound by $-u^\star$. So:
#
# 1. the gradient points in the direction of **steepest ascent**, and $-\nabla f$ in the direction of steepest
#    descent (the whole idea of gradient descent, unit 6);
# 2. the **length** $\|\nabla f(x)\|$ is the steepest slope available at $x$;
# 3. in between, $D_u f = \|\nabla f\|\cos\varphi$, with $\varphi$ the angle between $u$ and $\nabla f$: the slope
#    falls off like a cosine and is **zero** for every $u \perp \nabla f$.
#
# If $\nabla f(x) = 0$, every directional derivative is zero: $x$ is a **stationary point** (a minimum, a maximum
# or a saddle) and there is no steepest direction at all.
#
# **Orthogonal to level sets.** Let $\gamma(t)$ be a curve that stays inside the level set $\{f = c\}$ through
# $x = \gamma(0)$. Then $f(\gamma(t)) = c$ for all $t$, and differentiating (the linear approximation again, with
# $\delta = \gamma(t) - \gamma(0) \approx t\,\gamma'(0)$) gives
#
# $$ 0 = \frac{d}{dt} f(\gamma(t)) \Big|_{t=0} = \nabla f(x) \cdot \gamma'(0) . $$
#
# The gradient is orthogonal to every direction that stays on the level set. In the plane the tangent of the
# level curve is therefore $(-\partial_2 f, \partial_1 f)$: the gradient turned by 90°.
#
# Let us check all three claims numerically on the running example.

# %%
g = grad_f(x0)
print(f"∇f(x0) = {g},  |∇f(x0)| = {np.linalg.norm(g):.6f}")
for degrees in [0, 45, 90, 180]:
    u = np.array([np.cos(np.radians(degrees)), np.sin(np.radians(degrees))])
    along_line = numdiff.derivative(lambda t, u=u: f(x0 + t * u), 0.0)
    print(f"θ = {degrees:3d}°: slope of t ↦ f(x0 + t u) = {along_line:+.6f},  ∇f·u = {g @ u:+.6f}")

# Cauchy-Schwarz at work: of 100,000 random unit directions, none beats the gradient's direction.
rng = np.random.default_rng(0)
directions = rng.normal(size=(100_000, 2))
directions /= np.linalg.norm(directions, axis=1, keepdims=True)
slopes = directions @ g
print(f"steepest random slope {slopes.max():.6f}  vs  |∇f| = {np.linalg.norm(g):.6f}")
print(f"its direction {directions[slopes.argmax()]}  vs  ∇f/|∇f| = {g / np.linalg.norm(g)}")

# Along the tangent of the level set, f changes only to second order: the change shrinks like s².
tangent = np.array([-g[1], g[0]]) / np.linalg.norm(g)
for s in [1e-1, 1e-2, 1e-3]:
    print(f"s = {s:.0e}: change of f along the tangent {f(x0 + s * tangent) - f(x0):+.2e},"
          f"  along the gradient direction {f(x0 + s * g / np.linalg.norm(g)) - f(x0):+.2e}")

# %% [markdown]
# ## 4 · Gradients of linear and quadratic forms
#
# Three gradients appear in almost every machine-learning derivation. **Index notation** derives them without
# guessing: write the scalar as a sum over indices, differentiate with respect to one component $x_k$, and use
# $\partial x_i / \partial x_k = \delta_{ik}$ (1 if $i = k$, else 0), which collapses any sum over $i$ to its
# term $i = k$.
#
# **Linear form.** $a^\top x = \sum_i a_i x_i$, so
#
# $$ \frac{\partial}{\partial x_k} \sum_i a_i x_i = \sum_i a_i \delta_{ik} = a_k, \qquad\text{i.e.}\qquad \nabla_x (a^\top x) = a . $$
#
# **Quadratic form.** $x^\top A x = \sum_i \sum_j x_i A_{ij} x_j$ for a square matrix $A$. Now $x$ appears
# *twice* in each term, so the product rule gives two sums:
#
# $$
# \frac{\partial}{\partial x_k} \sum_{i,j} x_i A_{ij} x_j
# = \sum_{i,j} \delta_{ik} A_{ij} x_j + \sum_{i,j} x_i A_{ij} \delta_{jk}
# = \sum_j A_{kj} x_j + \sum_i A_{ik} x_i
# = (A x)_k + (A^\top x)_k ,
# $$
#
# $$ \nabla_x (x^\top A x) = (A + A^\top)\, x . $$
#
# When $A$ is **symmetric** ($A = A^\top$, as for a covariance or a Hessian) this is the familiar $2Ax$, the matrix
# version of $(a x^2)' = 2 a x$. But a general $A$ is not symmetric, and then $2Ax$ is simply wrong. Only the
# symmetric part of $A$ matters: $x^\top A x = x^\top \tfrac12 (A + A^\top)\, x$ because $x^\top A x$ is a number
# and equals its own transpose $x^\top A^\top x$.
#
# **Squared norm.** $\|x\|^2 = \sum_i x_i^2 = x^\top I x$, so $\nabla \|x\|^2 = (I + I^\top)\,x = 2x$, or directly
# $\partial_k \sum_i x_i^2 = 2 x_k$.
#
# sympy can redo the derivations with symbolic entries: for $n = 3$, $A$ has nine independent symbols
# $A_{ij}$, so nothing is assumed about symmetry.

# %%
n = 3
x_sym = sp.Matrix(sp.symbols("x1:4"))
a_sym = sp.Matrix(sp.symbols("a1:4"))
A_sym = sp.Matrix(n, n, lambda i, j: sp.Symbol(f"A{i + 1}{j + 1}"))


def sympy_gradient(expr, variables):
    """The column of partial derivatives of a scalar sympy expression."""
    return sp.Matrix([sp.diff(expr, v) for v in variables])


linear = (a_sym.T * x_sym)[0, 0]
quadratic = (x_sym.T * A_sym * x_sym)[0, 0]
norm_squared = (x_sym.T * x_sym)[0, 0]
assert sp.simplify(sympy_gradient(linear, x_sym) - a_sym) == sp.zeros(n, 1)
assert sp.simplify(sympy_gradient(quadratic, x_sym) - (A_sym + A_sym.T) * x_sym) == sp.zeros(n, 1)
assert sp.simplify(sympy_gradient(norm_squared, x_sym) - 2 * x_sym) == sp.zeros(n, 1)
print("sympy agrees: ∇(aᵀx) = a, ∇(xᵀAx) = (A + Aᵀ)x, ∇|x|² = 2x")
print("and what 2Ax gets wrong, ∇(xᵀAx) - 2Ax =")
sp.simplify(sympy_gradient(quadratic, x_sym) - 2 * A_sym * x_sym)

# %% [markdown]
# The gap is $(A^\top - A)\,x$: zero for symmetric $A$, anything else otherwise. The numbers tell the same story,
# and this is what a failed check from `calcml.checks` looks like:

# %%
rng = np.random.default_rng(1)
A = rng.normal(size=(4, 4))  # a random matrix is not symmetric
x = rng.normal(size=4)
quadratic_form = lambda x: x @ A @ x  # noqa: E731
print("numerical gradient:", numdiff.gradient(quadratic_form, x))
print("(A + Aᵀ)x:         ", (A + A.T) @ x)
print("2Ax:               ", 2 * A @ x)
try:
    checks.check_gradient(lambda x: 2 * A @ x, quadratic_form, x, what="gradient of xᵀAx")
except checks.CheckFailure as failure:
    print("\nCheckFailure:", failure)

# %% [markdown]
# ## 5 · Worked example: a tilted Gaussian hill
#
# The function
#
# $$ G(x) = \exp\!\left(-\tfrac12\, x^\top S\, x\right), \qquad S = \begin{pmatrix} 2 & 0.8 \\ 0.8 & 1 \end{pmatrix}, $$
#
# is a smooth hill with its top $G = 1$ at the origin. Its level sets are the curves $x^\top S x = \text{const}$,
# ellipses tilted by the off-diagonal entry $0.8$. (Up to a constant factor it is the density of a Gaussian with
# covariance $S^{-1}$; with $S = I/\ell^2$, for a length scale $\ell$, it is the RBF kernel of machine learning.)
#
# **The gradient.** Write $G = e^{-q}$ with $q(x) = \tfrac12 x^\top S x$. Component by component the one-variable
# chain rule gives $\partial_k e^{-q} = -e^{-q}\, \partial_k q$, so $\nabla G = -G\, \nabla q$. From section 4,
# $\nabla q = \tfrac12 (S + S^\top) x = S x$ because this $S$ is symmetric. Hence
#
# $$ \nabla G(x) = -\,G(x)\; S x . $$
#
# **At the point** $x = (1, -1)$: $Sx = (1.2, -0.2)$, $x^\top S x = 1.4$, $G = e^{-0.7} \approx 0.4966$ and
# $\nabla G \approx (-0.596, 0.099)$. Let us check this, then read off the geometry: the steepest way up, the
# steepest slope, and the flat direction along the contour.

# %%
S = np.array([[2.0, 0.8], [0.8, 1.0]])


def hill(x):
    """The tilted Gaussian hill G(x) = exp(-x^T S x / 2) for a point x of shape (2,)."""
    return np.exp(-0.5 * x @ S @ x)


def grad_hill(x):
    """Its gradient -G(x) S x (S is symmetric here)."""
    return -hill(x) * S @ x


p = np.array([1.0, -1.0])
checks.check_gradient(grad_hill, hill, p)
g = grad_hill(p)
up = g / np.linalg.norm(g)  # unit direction of steepest ascent
flat = np.array([-up[1], up[0]])  # unit tangent of the contour through p
print(f"G(p) = {hill(p):.4f},  ∇G(p) = {g},  steepest slope |∇G(p)| = {np.linalg.norm(g):.4f}")
for name, u in [("steepest ascent ∇G/|∇G|", up), ("along the contour", flat), ("steepest descent", -up)]:
    slope = numdiff.derivative(lambda t, u=u: hill(p + t * u), 0.0)
    print(f"slope of G walking {name:24s}: {slope:+.2e}")

to_top = -p / np.linalg.norm(p)
angle = np.degrees(np.arccos(up @ to_top))
print(f"angle between the steepest way up and the straight line to the top: {angle:.1f}°")

# %% [markdown]
# The last line is a surprise worth remembering: **the steepest way up does not point at the top.** On a tilted
# elliptical hill the gradient is orthogonal to the contour, and the contour is not a circle around the summit,
# so the gradient misses the summit by about 35°. Only along the ellipse's axes (the eigenvectors of $S$) does it aim
# straight at the top. This is why gradient descent zig-zags in long narrow valleys (unit 6).
#
# ### Explore
#
# The explorer below puts a point $x$ (sliders $x_1$, $x_2$) and a unit direction $u = (\cos\theta, \sin\theta)$
# (slider $\theta$) on the contour plot. The vermillion arrow is $\nabla f(x)$, the blue arrow $u$, the dashed green
# line the tangent to the level set and the purple curve the level set through $x$. The right panel plots the
# slope $\nabla f\cdot u$ for every $\theta$, and the readout compares it with the slope of $t \mapsto f(x + tu)$
# measured along the line.
# Try this:
#
# 1. Turn $\theta$ until the slope is largest. Where is $u$ then, and what is the slope? (Compare with $|\nabla f|$.)
# 2. Turn $\theta$ by 90° from there. Where does $u$ point now?
# 3. Move the point to the top of the hill, $(0, 0)$. What happens to the arrow and the slope curve?
# 4. On the hill, find points where the arrow aims straight at the top. On which lines do they lie?
# 5. Pick the *saddle* $x_1^2 - x_2^2$ and go to the origin: $\nabla f = 0$ there, yet it is neither a
#    minimum nor a maximum.
#
# (Without a live kernel you see the figure for the starting position.)

# %%
explorer = gradient_field.gradient_explorer(
    {
        "tilted Gaussian hill exp(-xᵀSx/2)": hill,
        "quadratic bowl x₁² + 3x₂²": lambda x: x[0] ** 2 + 3 * x[1] ** 2,
        "saddle x₁² - x₂²": lambda x: x[0] ** 2 - x[1] ** 2,
        "running example x₁²x₂ + sin x₂": f,
    },
    xlim=(-2.0, 2.0),
    ylim=(-2.0, 2.0),
    point=(1.0, -1.0),
    angle=120.0,
)
explorer

# %% [markdown]
# ## Exercises
#
# The six exercises build the toolkit of this unit, one piece at a time. Every function is checked against
# numerical gradients from `calcml.numdiff` on random inputs, visible tests first; more tests, with other seeds,
# other sizes and edge cases, run when your notebook is graded.
#
# 1. `numerical_gradient`: your own gradient checker, by central differences, for an input of any shape.
# 2. `grad_least_squares`, `grad_sandwich`: two gradients that the rules of section 4 give, but this unit does not
#    print, for a non-square $A$ and a non-symmetric one.
# 3. `directional_derivative`: the slope of $f$ along any direction.
# 4. `steepest_ascent_direction`: the unit direction of steepest ascent, including at a stationary point.
# 5. `contour_tangent`: the unit tangent to the level curve through a point of the plane.
# 6. `grad_gaussian_hill`: the gradient of a shifted Gaussian hill with a general matrix, built from section 4.
#
# Exercises 3, 4 and 5 receive the gradient as a function `grad_f`, so they can be graded whatever happened in
# exercises 1 and 2.
#
# ### Exercise 1 · A numerical gradient for inputs of any shape (2 points)
#
# Write the central-difference gradient
#
# $$ \frac{\partial f}{\partial x_i}(x) \approx \frac{f(x + h e_i) - f(x - h e_i)}{2h} $$
#
# for `x` of **any shape**: a vector, or a matrix of weights. The gradient has the shape of `x`; loop over its
# positions with `np.ndindex(x.shape)`. Two traps: `x` may arrive as a list or as an array of *integers* (then
# adding $h$ to an entry rounds it straight back), and the caller's `x` must not change.

# %% nbgrader={"grade": false, "grade_id": "02_gradients-numerical_gradient-solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
def numerical_gradient(f, x, h=1e-5):
    """The gradient of a scalar function f at x, by central differences.

    Args:
        f: a function taking an array shaped like x and returning a float.
        x: the point: an array (or list) of any shape; integers are allowed.
        h: the step of the central difference (f(x + h e_i) - f(x - h e_i)) / (2h).

    Returns:
        A float array with the shape of x: entry i is the partial derivative of f with respect to x[i].
        The caller's x is left unchanged.
    """
    ### BEGIN SOLUTION
    point = np.array(x, dtype=float)  # a float copy: integers would swallow the step
    grad = np.zeros_like(point)
    for index in np.ndindex(point.shape):
        step = np.zeros_like(point)
        step[index] = h
        grad[index] = (f(point + step) - f(point - step)) / (2 * h)
    return grad
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "02_gradients-numerical_gradient", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
def f_test(x):
    return np.sin(x[0]) * x[1] + np.exp(0.3 * x[2]) * x[0] ** 2


CENTRAL_HINT = ("Use the central difference (f(x + h e_i) - f(x - h e_i)) / (2h) with the h you are given; "
                "a forward difference (f(x + h e_i) - f(x)) / h is off by about h f''/2.")
x_test = np.array([0.4, -1.2, 0.7])
x_before = x_test.copy()
checks.check_gradient(lambda x: numerical_gradient(f_test, x), f_test, x_test, what="numerical gradient",
                      hint=CENTRAL_HINT)
assert np.array_equal(x_test, x_before), "numerical_gradient changed the caller's x; work on a copy of x."
checks.assert_close(numerical_gradient(f_test, [0.4, -1.2, 0.7]), numdiff.gradient(f_test, x_test),
                    what="numerical gradient", where="for x given as a list")
### BEGIN HIDDEN TESTS
# One definition of the hidden checks (calcml.probes): the kernel runs them here on a fixed seed; the grader
# draws each student's own inputs, runs the driver in a sandbox and _verify in its own process.
import numpy as np

from calcml import checks, numdiff, probes


def _random_function(spec):
    w, phase, B = (np.array(spec[k], dtype=float) for k in ("w", "phase", "B"))
    return lambda x: np.sum(np.sin(w * x + phase)) + 0.5 * x @ B @ x + np.log1p(x @ x)


def _matrix_function(W):
    W = np.array(W, dtype=float)
    return lambda X: np.sum(np.tanh(W * X)) + np.sum(X[0] * X[-1]) + X[1, 2] ** 3


def _int_function(x):
    return np.sum(x**3) + x[0] * x[-1]


def _inputs(rng):
    functions = []
    for _ in range(5):  # five random functions, n up to 12, each with the default step and two given ones
        n = int(rng.integers(1, 13))
        functions.append({"w": rng.normal(size=n), "phase": rng.uniform(0, 2 * np.pi, n),
                          "B": rng.normal(size=(n, n)), "x": rng.normal(size=n)})
    return {"functions": functions, "steps": [0.1, 1e-3], "W": rng.normal(size=(3, 4)), "X": rng.normal(size=(3, 4)),
            "integer": rng.integers(-3, 4, size=int(rng.integers(2, 5))).tolist(), "single": [float(rng.normal())]}


# The driver reports the caller's arrays as they are after the calls (data); _verify compares them with the
# inputs. No verdict is made in the probe process.
_DRIVER = """
import numpy as np

def make(spec):
    w, phase, B = (np.array(spec[k], dtype=float) for k in ("w", "phase", "B"))
    return lambda x: np.sum(np.sin(w * x + phase)) + 0.5 * x @ B @ x + np.log1p(x @ x)

result = {"default": [], "step": [], "after": []}
for spec in inputs["functions"]:
    f, x = make(spec), np.array(spec["x"], dtype=float)
    result["default"].append(numerical_gradient(f, x))
    result["step"].append([numerical_gradient(f, x, h=h) for h in inputs["steps"]])
    result["after"].append(x.tolist())
W = np.array(inputs["W"], dtype=float)
result["matrix"] = numerical_gradient(
    lambda X: np.sum(np.tanh(W * X)) + np.sum(X[0] * X[-1]) + X[1, 2] ** 3, np.array(inputs["X"], dtype=float))
x_int = np.array(inputs["integer"])
result["integer"] = numerical_gradient(lambda x: np.sum(x**3) + x[0] * x[-1], x_int)
result["integer_after"] = x_int.tolist()
result["list"] = numerical_gradient(make(inputs["functions"][0]), list(inputs["functions"][0]["x"]))
result["single"] = numerical_gradient(np.sum, np.array(inputs["single"]))
"""

_HINT = ("Use the central difference (f(x + h e_i) - f(x - h e_i)) / (2h) with the h you are given; "
         "a forward difference (f(x + h e_i) - f(x)) / h is off by about h f''/2.")


def _unchanged(after, before):
    """Whether the caller's array, as reported after the calls, still holds exactly `before` (same types too:
    an int array that became floats has changed)."""
    return isinstance(after, list) and len(after) == len(before) and all(
        type(a) is type(b) and a == b for a, b in zip(after, before, strict=True))


def _verify(inputs, result):
    probes.require(isinstance(result, dict), "numerical_gradient gave no results.")
    for key in ("default", "step", "after"):
        probes.require(isinstance(result.get(key), list) and len(result[key]) == len(inputs["functions"]),
                       "numerical_gradient gave too few results.")
    for spec, default, stepped, after in zip(inputs["functions"], result["default"], result["step"], result["after"],
                                             strict=True):
        f, x = _random_function(spec), np.array(spec["x"], dtype=float)
        where = f"(n = {x.size}) {checks.describe_point(x)}"
        probes.close(default, numdiff.gradient(f, x), what="numerical gradient", where=where, hint=_HINT)
        probes.require(isinstance(stepped, list) and len(stepped) == len(inputs["steps"]),
                       "numerical_gradient gave too few results.")
        for h, got in zip(inputs["steps"], stepped, strict=True):
            probes.close(got, numdiff.gradient(f, x, h=h, order=2), what=f"numerical gradient with h = {h}",
                         where=where, rtol=1e-8, hint=_HINT)
        probes.require(_unchanged(after, spec["x"]), "numerical_gradient changed the caller's x; work on a copy of x.")
    X = np.array(inputs["X"], dtype=float)
    probes.close(result.get("matrix"), numdiff.gradient(_matrix_function(inputs["W"]), X),
                 what="numerical gradient of a function of a 3x4 matrix", where="",
                 hint="The gradient has the shape of x: loop over np.ndindex(x.shape).")
    x_int = np.array(inputs["integer"], dtype=float)
    probes.close(result.get("integer"), numdiff.gradient(_int_function, x_int), what="numerical gradient",
                 where=f"at the integer point x = {inputs['integer']}",
                 hint="x arrived as integers: convert it to a float array first, or x + h e_i rounds back to x.")
    probes.require(_unchanged(result.get("integer_after"), inputs["integer"]),
                   "numerical_gradient changed the caller's integer x.")
    first = inputs["functions"][0]
    probes.close(result.get("list"), numdiff.gradient(_random_function(first), np.array(first["x"])),
                 what="numerical gradient", where="for x given as a list")
    probes.close(result.get("single"), np.ones(1), what="numerical gradient of sum(x)", where="for a single variable")


probes.exercise(globals(), inputs=_inputs, driver=_DRIVER, verify=_verify, seed=2_202)
### END HIDDEN TESTS


# %% active="py" wrong_answer="02_gradients-numerical_gradient-solution" mistake="a forward difference: O(h) error, visible as soon as h is not tiny"
def numerical_gradient(f, x, h=1e-5):
    x = np.array(x, dtype=float)
    grad = np.zeros_like(x)
    fx = f(x)
    for index in np.ndindex(x.shape):
        step = np.zeros_like(x)
        step[index] = h
        grad[index] = (f(x + step) - fx) / h
    return grad


# %% active="py" wrong_answer="02_gradients-numerical_gradient-solution" mistake="the central difference divided by h instead of 2h"
def numerical_gradient(f, x, h=1e-5):
    x = np.array(x, dtype=float)
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        step = np.zeros_like(x)
        step[index] = h
        grad[index] = (f(x + step) - f(x - step)) / h
    return grad


# %% active="py" wrong_answer="02_gradients-numerical_gradient-solution" mistake="keeps the dtype of x: for integer x, x[i] + h is rounded back to x[i] and the gradient is 0"
def numerical_gradient(f, x, h=1e-5):
    x = np.asarray(x)
    grad = np.zeros(x.shape)
    for index in np.ndindex(x.shape):
        x_plus, x_minus = x.copy(), x.copy()
        x_plus[index] += h
        x_minus[index] -= h
        grad[index] = (f(x_plus) - f(x_minus)) / (2 * h)
    return grad


# %% [markdown]
# ### Exercise 2 · Gradients built from the rules of section 4 (3 points)
#
# Section 4 derived three rules. Combine them to get two gradients that this unit does not print, for any sizes
# (expand first, then differentiate term by term; the result must have the shape of $x$):
#
# - `grad_least_squares(A, b, x)` returns $\nabla_x \|Ax - b\|^2$, the squared error of linear least squares, for a
#   matrix $A$ of shape $(m, n)$, usually **not** square, and $b$ of shape $(m,)$.
# - `grad_sandwich(A, B, x)` returns $\nabla_x \big((Bx)^\top A\, (Bx)\big)$ for a square $A$ of shape $(m, m)$
#   that need **not** be symmetric and a rectangular $B$ of shape $(m, n)$: write it as a quadratic form in $x$.
#
# No loops needed: each is one line of NumPy. (Your `numerical_gradient` from exercise 1 is a good way to test them
# yourself before running the cell of tests; the functions you hand in must compute the gradient from its formula.)

# %% nbgrader={"grade": false, "grade_id": "02_gradients-grad_forms-solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
def grad_least_squares(A, b, x):
    """The gradient of the squared error |Ax - b|^2 with respect to x.

    Args:
        A: array of shape (m, n); m and n may differ.
        b: array of shape (m,).
        x: array of shape (n,).

    Returns:
        The gradient with respect to x, a float array of shape (n,).
    """
    ### BEGIN SOLUTION
    return 2 * A.T @ (A @ x - b)
    ### END SOLUTION


def grad_sandwich(A, B, x):
    """The gradient of (Bx)^T A (Bx) with respect to x.

    Args:
        A: array of shape (m, m), not necessarily symmetric.
        B: array of shape (m, n); m and n may differ.
        x: array of shape (n,).

    Returns:
        The gradient with respect to x, a float array of shape (n,).
    """
    ### BEGIN SOLUTION
    return B.T @ (A + A.T) @ B @ x
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "02_gradients-grad_forms", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
LEAST_SQUARES_HINT = ("Expand |Ax - b|^2 = (Ax - b)ᵀ(Ax - b) and apply the rules of section 4 term by term. The "
                      "gradient has the shape of x, (n,), and A is not square here.")
SANDWICH_HINT = "(Bx)ᵀA(Bx) is a quadratic form in x with the matrix BᵀAB. Is A symmetric here?"
rng = np.random.default_rng(3)
A_test, b_test, x_test = rng.normal(size=(5, 3)), rng.normal(size=5), rng.normal(size=3)
try:
    checks.check_gradient(lambda x: grad_least_squares(A_test, b_test, x),
                          lambda x: np.sum((A_test @ x - b_test) ** 2), x_test, what="gradient of |Ax - b|²",
                          hint=LEAST_SQUARES_HINT)
except ValueError as error:  # a product whose shapes do not match
    raise checks.CheckFailure(f"grad_least_squares raised ValueError for A of shape (5, 3) ({error}). If NumPy "
                              "complained about the shapes of a product, a transpose is missing: Aᵀ(Ax − b) has the "
                              "shape of x, (n,).") from None
M_test, B_test = rng.normal(size=(4, 4)), rng.normal(size=(4, 3))
checks.check_gradient(lambda x: grad_sandwich(M_test, B_test, x), lambda x: (B_test @ x) @ M_test @ (B_test @ x),
                      x_test, what="gradient of (Bx)ᵀA(Bx)", hint=SANDWICH_HINT)
### BEGIN HIDDEN TESTS
# One definition of the hidden checks (calcml.probes): the kernel runs them here on a fixed seed; the grader
# draws each student's own inputs, runs the driver in a sandbox and _verify in its own process.
import numpy as np

from calcml import checks, numdiff, probes


def _inputs(rng):
    least_squares, sandwich = [], []
    for m, n in [(6, 3), (2, 5), (4, 4), (1, 3), (3, 1), *((int(rng.integers(2, 9)), int(rng.integers(2, 9)))
                                                          for _ in range(2))]:
        if m == n and (m, n) != (4, 4):
            m += 1  # keep (4, 4) the only square A
        least_squares.append({"A": rng.normal(size=(m, n)) * 2, "b": rng.normal(size=m) * 3, "x": rng.normal(size=n)})
    for m, n in [(5, 3), (2, 4), (3, 1), (1, 2), (4, 4), (int(rng.integers(5, 9)), int(rng.integers(2, 5)))]:
        A = rng.normal(size=(m, m)) * 2
        A = A + np.triu(A, 1)  # far from symmetric
        sandwich.append({"A": A, "B": rng.normal(size=(m, n)), "x": rng.normal(size=n)})
    return {"least_squares": least_squares, "sandwich": sandwich}


# The driver reports what each call returned, or the name of the exception it raised; _verify decides.
_DRIVER = """
import numpy as np

def call(function, *args):
    try:
        return {"returned": function(*(np.array(arg, dtype=float) for arg in args))}
    except Exception as error:
        return {"raised": type(error).__name__}

result = {"least_squares": [call(grad_least_squares, c["A"], c["b"], c["x"]) for c in inputs["least_squares"]],
          "sandwich": [call(grad_sandwich, c["A"], c["B"], c["x"]) for c in inputs["sandwich"]]}
"""

_TRANSPOSE = "a transpose is missing: Aᵀ(Ax − b) has the shape of x, (n,)."


def _matches(value, candidate):
    try:
        value = np.array(value, dtype=float)
    except (TypeError, ValueError):
        return False
    return value.shape == candidate.shape and bool(np.allclose(value, candidate, rtol=1e-6, atol=1e-9))


def _check(name, got, expected, mistakes, *, what, where, shape_hint, hint):
    """`got` against `expected` (from numdiff); when it matches a known mistake, the message names it."""
    probes.require(isinstance(got, dict) and ("returned" in got or "raised" in got), f"{name} gave no result.")
    if "raised" in got:
        raise checks.CheckFailure(f"{name} raised {str(got['raised'])[:40]} {where}; if NumPy complained about "
                                  f"the shapes of a product, {shape_hint}")
    value = got["returned"]
    try:
        wrong_shape = np.shape(np.array(value, dtype=float)) != expected.shape
    except (TypeError, ValueError):
        wrong_shape = False
    if wrong_shape:
        raise checks.CheckFailure(f"Your {what} {where} has shape {np.shape(np.array(value, dtype=float))}, not "
                                  f"{expected.shape}: {shape_hint}")
    named = next((message for candidate, message in mistakes
                  if _matches(value, candidate) and not _matches(candidate, expected)), hint)
    probes.close(value, expected, what=what, where=where, hint=named)


def _verify(inputs, result):
    probes.require(isinstance(result, dict), "grad_forms gave no results.")
    for key, name in (("least_squares", "grad_least_squares"), ("sandwich", "grad_sandwich")):
        probes.require(isinstance(result.get(key), list) and len(result[key]) == len(inputs[key]),
                       f"{name} gave too few results.")
    for case, got in zip(inputs["least_squares"], result["least_squares"], strict=True):
        A, b, x = (np.array(case[k], dtype=float) for k in ("A", "b", "x"))
        expected = numdiff.gradient(lambda v, A=A, b=b: np.sum((A @ v - b) ** 2), x)
        mistakes = [(expected / 2, "The factor 2 is missing: the square in |Ax − b|² brings one."),
                    (numdiff.gradient(lambda v, A=A, b=b: np.sum((A @ v + b) ** 2), x),
                     "Check the sign of b: the residual is Ax − b, not Ax + b."),
                    (numdiff.gradient(lambda v, A=A: np.sum((A @ v) ** 2), x),
                     "b is missing: the cross term −2bᵀAx depends on x too."),
                    *([(2 * A @ (A @ x - b), _TRANSPOSE)] if A.shape[0] == A.shape[1] else [])]
        _check("grad_least_squares", got, expected, mistakes, what="gradient of |Ax − b|²",
               where=f"for A of shape {A.shape}", shape_hint=_TRANSPOSE,
               hint="Expand |Ax − b|² and apply the rules of section 4 term by term.")
    for case, got in zip(inputs["sandwich"], result["sandwich"], strict=True):
        A, B, x = (np.array(case[k], dtype=float) for k in ("A", "B", "x"))
        expected = numdiff.gradient(lambda v, A=A, B=B: (B @ v) @ A @ (B @ v), x)
        mistakes = [(2 * B.T @ A @ B @ x, "A + Aᵀ: A is not symmetric here, so 2A is wrong."),
                    (expected / 2, "Only one of the two occurrences of x was differentiated.")]
        _check("grad_sandwich", got, expected, mistakes, what="gradient of (Bx)ᵀA(Bx)",
               where=f"for A of shape {A.shape} (not symmetric) and B of shape {B.shape}",
               shape_hint="the chain rule through Bx brings a Bᵀ in front, so the gradient has the shape of x, (n,).",
               hint="(Bx)ᵀA(Bx) is a quadratic form in x with the matrix BᵀAB. A + Aᵀ: A is not symmetric here.")


probes.exercise(globals(), inputs=_inputs, driver=_DRIVER, verify=_verify, seed=4_404)
### END HIDDEN TESTS


# %% active="py" wrong_answer="02_gradients-grad_forms-solution" mistake="the factor 2 of the square forgotten"
def grad_least_squares(A, b, x):
    return A.T @ (A @ x - b)


def grad_sandwich(A, B, x):
    return B.T @ (A + A.T) @ B @ x


# %% active="py" wrong_answer="02_gradients-grad_forms-solution" mistake="A instead of Aᵀ in front of the residual: the shapes do not match for a non-square A"
def grad_least_squares(A, b, x):
    return 2 * A @ (A @ x - b)


def grad_sandwich(A, B, x):
    return B.T @ (A + A.T) @ B @ x


# %% active="py" wrong_answer="02_gradients-grad_forms-solution" mistake="the sign of b flipped: the residual taken as Ax + b"
def grad_least_squares(A, b, x):
    return 2 * A.T @ (A @ x + b)


def grad_sandwich(A, B, x):
    return B.T @ (A + A.T) @ B @ x


# %% active="py" wrong_answer="02_gradients-grad_forms-solution" mistake="the cross term -2bᵀAx dropped: 2AᵀAx without b"
def grad_least_squares(A, b, x):
    return 2 * A.T @ A @ x


def grad_sandwich(A, B, x):
    return B.T @ (A + A.T) @ B @ x


# %% active="py" wrong_answer="02_gradients-grad_forms-solution" mistake="the sandwich with 2A, the formula for a symmetric A"
def grad_least_squares(A, b, x):
    return 2 * A.T @ (A @ x - b)


def grad_sandwich(A, B, x):
    return 2 * B.T @ A @ B @ x


# %% active="py" wrong_answer="02_gradients-grad_forms-solution" mistake="calls numdiff.gradient instead of deriving the formula"
def grad_least_squares(A, b, x):
    return numdiff.gradient(lambda v: np.sum((A @ v - b) ** 2), x)


def grad_sandwich(A, B, x):
    return numdiff.gradient(lambda v: (B @ v) @ A @ (B @ v), x)


# %% [markdown]
# ### Exercise 3 · The directional derivative (2 points)
#
# `directional_derivative(grad_f, x, u)` returns the slope of $f$ at `x` in the direction of `u`, $D_u f(x)$.
# You are given the gradient as a function `grad_f` (for example from exercise 1 or 2), and `u` may have **any
# non-zero length**: only its direction counts. A zero `u` has no direction; raise `ValueError`.

# %% nbgrader={"grade": false, "grade_id": "02_gradients-directional_derivative-solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
def directional_derivative(grad_f, x, u):
    """The slope of f at x in the direction of u: the derivative of t -> f(x + t u/|u|) at t = 0.

    Args:
        grad_f: a function returning the gradient of f, an array of shape (n,), at a point of shape (n,).
        x: the point, shape (n,).
        u: the direction, shape (n,) (or a list), of any non-zero length.

    Returns:
        A float.

    Raises:
        ValueError: if u is the zero vector.
    """
    ### BEGIN SOLUTION
    direction = np.asarray(u, dtype=float)
    length = np.linalg.norm(direction)
    if length == 0:
        raise ValueError("the zero vector has no direction")
    return float(np.asarray(grad_f(x), dtype=float) @ direction / length)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "02_gradients-directional_derivative", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
def slope_along(f, x, u):
    """The reference: the derivative of t -> f(x + t u/|u|) at 0, measured along the line (no gradient)."""
    u_hat = np.asarray(u, dtype=float) / np.linalg.norm(u)
    return numdiff.derivative(lambda t: f(x + t * u_hat), 0.0)


def g_test(x):
    return np.exp(-x @ x / 4) + x[0] * x[1] ** 2 - np.cos(x[2])


x_test, u_test = np.array([0.5, -1.0, 2.0]), np.array([3.0, 0.0, 4.0])  # |u| = 5
checks.assert_close(directional_derivative(lambda x: numdiff.gradient(g_test, x), x_test, u_test),
                    slope_along(g_test, x_test, u_test), what="directional derivative",
                    where="at x = [0.5, -1, 2] along u = [3, 0, 4]", hint="Is u a unit vector here?")
### BEGIN HIDDEN TESTS
# One definition of the hidden checks (calcml.probes): the kernel runs them here on a fixed seed; the grader
# draws each student's own inputs, runs the driver in a sandbox and _verify in its own process.
import numpy as np

from calcml import call_outcomes, checks, numdiff, probes


def _cosine_function(case):
    w, B = np.array(case["w"]), np.array(case["B"])
    return lambda x: np.sum(np.cos(w * x)) + x @ B @ x


def _cosine_gradient(case, x):
    w, B = np.array(case["w"]), np.array(case["B"])
    return -w * np.sin(w * x) + (B + B.T) @ x


def _inputs(rng):
    cases = []
    for _ in range(5):
        n = int(rng.integers(1, 13))
        cases.append({"w": rng.normal(size=n), "B": rng.normal(size=(n, n)) / n, "x": rng.normal(size=n),
                      "u": rng.normal(size=n) * 10.0 ** rng.uniform(-3, 3)})
    n = int(rng.integers(2, 6))
    u_int = [0] * n  # u given as a list of integers
    u_int[int(rng.integers(n))] = int(rng.integers(2, 6))
    cases.append({"w": rng.normal(size=n), "B": rng.normal(size=(n, n)) / n, "x": rng.normal(size=n), "u": u_int})
    # Along the gradient (the slope is |grad f|) and orthogonal to it (the slope is 0).
    n = int(rng.integers(3, 8))
    case = {"w": rng.normal(size=n), "B": rng.normal(size=(n, n)) / n, "x": rng.normal(size=n)}
    g = _cosine_gradient(case, np.array(case["x"]))
    v = rng.normal(size=n)
    cases.append({**case, "u": 7 * g})
    cases.append({**case, "u": v - (v @ g) / (g @ g) * g})
    return {"cases": [{k: np.asarray(v).tolist() for k, v in c.items()} for c in cases]}


# The zero vector: the driver reports what came back, or the exception raised by the call itself (its class and
# their bases, by name); _verify decides.
_DRIVER = call_outcomes.DRIVER + """
import numpy as np

def gradient(case):
    w, B = np.array(case["w"]), np.array(case["B"])
    return lambda x: -w * np.sin(w * np.asarray(x)) + (B + B.T) @ np.asarray(x)

result = {"slopes": [directional_derivative(gradient(c), np.array(c["x"]), c["u"] if isinstance(c["u"][0], int)
                                            else np.array(c["u"])) for c in inputs["cases"]]}
case = inputs["cases"][0]
result["zero"] = outcome(directional_derivative, gradient(case), np.array(case["x"]), np.zeros(len(case["x"])))
"""


def _verify(inputs, result):
    probes.require(isinstance(result, dict) and isinstance(result.get("slopes"), list)
                   and len(result["slopes"]) == len(inputs["cases"]), "directional_derivative gave too few results.")
    for case, got in zip(inputs["cases"], result["slopes"], strict=True):
        f, x, u = _cosine_function(case), np.array(case["x"]), np.array(case["u"], dtype=float)
        u_hat = u / np.linalg.norm(u)
        expected = numdiff.derivative(lambda t, f=f, x=x, u_hat=u_hat: f(x + t * u_hat), 0.0)
        probes.close(got, expected, what="directional derivative",
                     where=f"(n = {x.size}, |u| = {np.linalg.norm(u):.3g})", hint="Is u a unit vector here?")
    outcome = call_outcomes.instead_of_raising(result.get("zero"), "ValueError")
    if outcome:
        raise checks.CheckFailure(f"directional_derivative(grad_f, x, u=0) {outcome}; the zero vector has no "
                                  "direction, so raise ValueError.")


probes.exercise(globals(), inputs=_inputs, driver=_DRIVER, verify=_verify, seed=5_505)
### END HIDDEN TESTS


# %% active="py" wrong_answer="02_gradients-directional_derivative-solution" mistake="u not normalised"
def directional_derivative(grad_f, x, u):
    return float(np.asarray(grad_f(x)) @ np.asarray(u, dtype=float))


# %% active="py" wrong_answer="02_gradients-directional_derivative-solution" mistake="the gradient normalised instead of u: the cosine of the angle, not the slope"
def directional_derivative(grad_f, x, u):
    g = np.asarray(grad_f(x), dtype=float)
    return float(g @ np.asarray(u, dtype=float) / np.linalg.norm(g))


# %% active="py" wrong_answer="02_gradients-directional_derivative-solution" mistake="divides by |u|² (u·u) instead of |u|: the projection coefficient, not the slope"
def directional_derivative(grad_f, x, u):
    u = np.asarray(u, dtype=float)
    if not np.any(u):
        raise ValueError("the zero vector has no direction")
    return float(np.asarray(grad_f(x), dtype=float) @ u / (u @ u))


# %% active="py" wrong_answer="02_gradients-directional_derivative-solution" mistake="normalises u without looking at its length: nan (with a warning) for the zero vector instead of ValueError"
def directional_derivative(grad_f, x, u):
    u = np.asarray(u, dtype=float)
    return float(np.asarray(grad_f(x), dtype=float) @ (u / np.linalg.norm(u)))


# %% [markdown]
# ### Exercise 4 · The direction of steepest ascent (2 points)
#
# `steepest_ascent_direction(grad_f, x)` returns the **unit** vector $u^\star$ that maximises $D_u f(x)$. At a
# stationary point ($\nabla f(x) = 0$, exactly) there is no such direction: return a vector of zeros, without
# dividing by zero. A gradient that is merely *small* (say $10^{-9}$) still has a direction, and you must return it.

# %% nbgrader={"grade": false, "grade_id": "02_gradients-steepest_ascent-solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
def steepest_ascent_direction(grad_f, x):
    """The unit direction in which f increases fastest at x.

    Args:
        grad_f: a function returning the gradient of f, an array of shape (n,), at a point of shape (n,).
        x: the point, shape (n,).

    Returns:
        A float array of shape (n,) and length 1, or zeros if the gradient at x is exactly zero.
    """
    ### BEGIN SOLUTION
    gradient = np.asarray(grad_f(x), dtype=float)
    length = np.linalg.norm(gradient)
    if length == 0:
        return np.zeros_like(gradient)
    return gradient / length
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "02_gradients-steepest_ascent", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
def check_steepest(f, x, where):
    g = numdiff.gradient(f, x)
    d = steepest_ascent_direction(lambda y: numdiff.gradient(f, y), x)
    checks.assert_close(np.linalg.norm(d), 1.0, what="length of the direction", where=where,
                        hint="Steepest ascent is a unit vector: divide the gradient by its norm.")
    checks.assert_close(d, g / np.linalg.norm(g), what="steepest ascent direction", where=where,
                        hint="Ascent goes with the gradient, not against it.")


x_test = np.array([1.0, -1.0])
check_steepest(hill, x_test, "on the tilted hill at x = (1, -1)")
### BEGIN HIDDEN TESTS
# One definition of the hidden checks (calcml.probes): the kernel runs them here on a fixed seed; the grader
# draws each student's own inputs, runs the driver in a sandbox and _verify in its own process. Out of the
# kernel, the grader also reads the source: dividing by zero and repairing the nan afterwards gives perfect
# numbers.
import numpy as np

from calcml import numdiff, probes


def _sine_function(case):
    w, B = np.array(case["w"]), np.array(case["B"])
    return lambda x: np.sum(np.sin(w * x)) + 0.5 * x @ B @ x


def _inputs(rng):
    cases = []
    for _ in range(4):
        n = int(rng.integers(1, 13))
        cases.append({"w": rng.normal(size=n), "B": rng.normal(size=(n, n)), "x": rng.normal(size=n)})
    tiny = rng.normal(size=3)
    return {"cases": cases, "tiny": (tiny / np.linalg.norm(tiny) * 1.3e-8).tolist(),
            "zero_n": int(rng.integers(2, 6)), "bowl_n": int(rng.integers(3, 7))}


_DRIVER = """
import numpy as np

def gradient(case):
    w, B = np.array(case["w"]), np.array(case["B"])
    return lambda x: w * np.cos(w * np.asarray(x)) + 0.5 * (B + B.T) @ np.asarray(x)

result = {"directions": [steepest_ascent_direction(gradient(c), np.array(c["x"])) for c in inputs["cases"]]}
tiny = np.array(inputs["tiny"])
result["tiny"] = steepest_ascent_direction(lambda y: tiny, np.zeros(3))
import warnings


def stationary(grad_f, x):
    # At a stationary point the answer must not divide by zero: floating-point division errors are raised here,
    # and warnings recorded, so a division repaired afterwards (np.where, np.nan_to_num) shows too.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with np.errstate(divide="raise", invalid="raise"):
                return steepest_ascent_direction(grad_f, x)
        except (FloatingPointError, ZeroDivisionError) as error:
            return {"raised": type(error).__name__, "message": str(error)}
        finally:
            divisions.extend(str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)
                             and ("divide" in str(w.message) or "invalid" in str(w.message)))


divisions = []
n = inputs["zero_n"]
result["zero"] = stationary(lambda y: np.zeros(n), np.ones(n))
m = inputs["bowl_n"]
result["bowl"] = stationary(lambda y: 2.0 * np.arange(1, y.size + 1) * (y - 1.0), np.ones(m))
result["divisions"] = divisions
"""


def _verify(inputs, result):
    probes.require(isinstance(result, dict) and isinstance(result.get("directions"), list)
                   and len(result["directions"]) == len(inputs["cases"]),
                   "steepest_ascent_direction gave too few results.")
    for case, got in zip(inputs["cases"], result["directions"], strict=True):
        f, x = _sine_function(case), np.array(case["x"])
        g = numdiff.gradient(f, x)
        probes.close(got, g / np.linalg.norm(g), what="steepest ascent direction", where=f"(n = {x.size})",
                     hint="Steepest ascent is the gradient divided by its length: a unit vector, with the gradient.")
    tiny = np.array(inputs["tiny"])
    probes.close(result.get("tiny"), tiny / np.linalg.norm(tiny), what="steepest ascent direction",
                 where=f"for a gradient of size {np.linalg.norm(tiny):.2g}",
                 hint="Only an exactly zero gradient means 'no direction'; a small one must be normalised too.")
    stationary = (("zero", inputs["zero_n"], "a constant f"), ("bowl", inputs["bowl_n"], "the bottom of a bowl"))
    divisions = result.get("divisions")
    probes.require(isinstance(divisions, list) and not divisions,
                   f"At a stationary point your direction divides by zero ({str(divisions)[:80]}): test whether the "
                   "gradient is exactly zero first, and return zeros without dividing.")
    for key, n, what in stationary:
        got = result.get(key)
        probes.require(not (isinstance(got, dict) and "raised" in got),
                       f"At {what} the gradient is exactly zero and your direction divides by zero "
                       f"({got.get('raised') if isinstance(got, dict) else ''}: {str(got.get('message', ''))[:60] if isinstance(got, dict) else ''}): "
                       "test whether the gradient is exactly zero first, and return zeros without dividing.")
        # exact zeros: a division by zero leaves nan or inf here (whether it is repaired is read from the source)
        probes.require(isinstance(got, list) and len(got) == n and all(type(v) in (int, float) and v == 0 for v in got),
                       f"At {what} the gradient is exactly zero and your direction is {str(got)[:80]}; return a "
                       "vector of zeros of the shape of x there, without dividing by zero.")


probes.exercise(globals(), inputs=_inputs, driver=_DRIVER, verify=_verify, seed=6_606,
                mechanism={"rule": "no_error_repair", "name": "steepest_ascent_direction"})
### END HIDDEN TESTS


# %% active="py" wrong_answer="02_gradients-steepest_ascent-solution" mistake="the gradient itself, not a unit vector"
def steepest_ascent_direction(grad_f, x):
    return np.asarray(grad_f(x), dtype=float)


# %% active="py" wrong_answer="02_gradients-steepest_ascent-solution" mistake="steepest descent: the sign flipped"
def steepest_ascent_direction(grad_f, x):
    g = np.asarray(grad_f(x), dtype=float)
    norm = np.linalg.norm(g)
    return -g / norm if norm > 0 else np.zeros_like(g)


# %% active="py" wrong_answer="02_gradients-steepest_ascent-solution" mistake="divides by zero at a stationary point (0/0 = NaN)"
def steepest_ascent_direction(grad_f, x):
    g = np.asarray(grad_f(x), dtype=float)
    return g / np.linalg.norm(g)


# %% active="py" wrong_answer="02_gradients-steepest_ascent-solution" mistake="divides by zero, then repairs the nan with np.nan_to_num: right numbers, a 0/0 computed"
def steepest_ascent_direction(grad_f, x):
    g = np.asarray(grad_f(x), dtype=float)
    return np.nan_to_num(g / np.linalg.norm(g))


# %% active="py" wrong_answer="02_gradients-steepest_ascent-solution" mistake="a tolerance instead of an exact test: a small gradient (1e-8) is wrongly treated as stationary"
def steepest_ascent_direction(grad_f, x):
    g = np.asarray(grad_f(x), dtype=float)
    norm = np.linalg.norm(g)
    return g / norm if norm > 1e-6 else np.zeros_like(g)


# %% [markdown]
# ### Exercise 5 · The tangent to a contour (2 points)
#
# In the plane, a level set $\{f = c\}$ through a point $x$ with $\nabla f(x) \ne 0$ is a curve, a contour line of
# a map. Section 3 proved that the gradient is orthogonal to it. Write `contour_tangent(grad_f, x)` for a point
# `x` of shape `(2,)`: it returns the **unit** vector $t$ tangent to the contour through $x$, oriented so that a
# walker who follows $t$ has the uphill side (the side where $f$ is larger) **on the left**, as a hiker who keeps
# the summit on the left while walking around it. Of the two unit tangents, exactly one has this orientation.
# A gradient that is merely small (say $10^{-9}$) still defines the contour's direction; at a point where the
# gradient is exactly zero there is no contour direction: raise `ValueError`.

# %% nbgrader={"grade": false, "grade_id": "02_gradients-contour_tangent-solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
def contour_tangent(grad_f, x):
    """The unit tangent to the level curve of f through x, with the uphill side on the left.

    Args:
        grad_f: a function returning the gradient of f, an array of shape (2,), at a point of shape (2,).
        x: the point, shape (2,).

    Returns:
        A float array of shape (2,) and length 1, tangent to the level curve of f through x, such that f increases
        to the left of it.

    Raises:
        ValueError: if the gradient at x is exactly zero.
    """
    ### BEGIN SOLUTION
    g = np.asarray(grad_f(x), dtype=float)
    length = np.linalg.norm(g)
    if length == 0:
        raise ValueError("a stationary point: the contour has no direction here")
    return np.array([g[1], -g[0]]) / length
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "02_gradients-contour_tangent", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
def check_contour_tangent(f, x, where):
    """Check contour_tangent at x by what a tangent does, measured on f itself with numdiff."""
    t = np.asarray(contour_tangent(lambda y: numdiff.gradient(f, y), x), dtype=float)
    assert t.shape == (2,), f"contour_tangent returned shape {t.shape} {where}; return a vector of shape (2,)."
    checks.assert_close(np.linalg.norm(t), 1.0, what="length of the tangent", where=where,
                        hint="A unit tangent: divide by the length of the gradient.")
    along = numdiff.derivative(lambda s: f(x + s * t), 0.0)  # the slope of f along t: zero on a contour
    scale = np.linalg.norm(numdiff.gradient(f, x))
    assert abs(along) <= 1e-6 * scale, (
        f"Walking along your tangent {where}, f changes at the rate {along:.3g} (the steepest rate there is {scale:.3g}): "
        "a contour tangent is orthogonal to the gradient, so f does not change to first order along it.")
    left = np.array([-t[1], t[0]])  # t turned by 90° counterclockwise: the walker's left
    uphill = numdiff.derivative(lambda s: f(x + s * left), 0.0)
    assert uphill > 0, (f"{where}, f decreases to the left of your tangent (slope {uphill:.3g}): the uphill side must "
                        "be on the left. Of the two unit tangents you returned the other one.")


check_contour_tangent(hill, np.array([1.0, -1.0]), "on the tilted hill at x = (1, -1)")
check_contour_tangent(f, np.array([1.5, 0.5]), "on the running example at x = (1.5, 0.5)")
### BEGIN HIDDEN TESTS
# One definition of the hidden checks (calcml.probes): the kernel runs them here on a fixed seed; the grader
# draws each student's own inputs, runs the driver in a sandbox and _verify in its own process.
import numpy as np

from calcml import call_outcomes, checks, numdiff, probes


def _plane_function(case):
    w, B = np.array(case["w"]), np.array(case["B"])
    return lambda x: np.sum(np.sin(w * x)) + 0.5 * x @ B @ x + w[0] * x[0] * x[1] ** 2


def _inputs(rng):
    cases = [{"w": rng.normal(size=2), "B": rng.normal(size=(2, 2)), "x": rng.normal(size=2)} for _ in range(6)]
    tiny = rng.normal(size=2)
    return {"cases": cases, "tiny": (tiny / np.linalg.norm(tiny) * 1.3e-9).tolist(),
            "axis": [float(rng.uniform(0.5, 3)), 0.0]}


# The driver reports what came back, or the exception raised by the call itself (its class and bases, by name).
_DRIVER = call_outcomes.DRIVER + """
import numpy as np

def gradient(case):
    w, B = np.array(case["w"]), np.array(case["B"])
    return lambda x: (w * np.cos(w * np.asarray(x)) + 0.5 * (B + B.T) @ np.asarray(x)
                      + w[0] * np.array([x[1] ** 2, 2 * x[0] * x[1]]))

result = {"tangents": [contour_tangent(gradient(c), np.array(c["x"])) for c in inputs["cases"]]}
tiny = np.array(inputs["tiny"])
result["tiny"] = contour_tangent(lambda y: tiny, np.zeros(2))
result["axis"] = contour_tangent(lambda y: np.array(inputs["axis"]), np.ones(2))
result["zero"] = outcome(contour_tangent, lambda y: np.zeros(2), np.array([0.3, -0.7]))
"""


def _tangent_properties(got, g, what):
    """The identities that define the answer, for a gradient g: |t| = 1, t·g = 0 and g on the left of t."""
    t = np.asarray(got, dtype=float) if isinstance(got, list) else None
    probes.require(t is not None and t.shape == (2,) and bool(np.all(np.isfinite(t))),
                   f"contour_tangent {what} returned {str(got)[:60]}, not a finite vector of shape (2,).")
    scale = np.linalg.norm(g)
    probes.close(float(np.linalg.norm(t)), 1.0, what="length of the contour tangent", where=what,
                 hint="A unit tangent: divide by the length of the gradient (even a small one).")
    probes.require(bool(abs(t @ g) <= 1e-6 * scale),
                   f"contour_tangent {what} is not orthogonal to the gradient (t·∇f = {t @ g:.3g}, |∇f| = {scale:.3g}): "
                   "f must not change to first order along a contour. Did you return the gradient's direction, or "
                   "swap its components without changing a sign?")
    probes.require(bool(t[0] * g[1] - t[1] * g[0] > 0),
                   f"contour_tangent {what}: the uphill side is on the right of your tangent; the contract asks for "
                   "it on the left. Of the two unit tangents you returned the other one.")


def _verify(inputs, result):
    probes.require(isinstance(result, dict) and isinstance(result.get("tangents"), list)
                   and len(result["tangents"]) == len(inputs["cases"]), "contour_tangent gave too few results.")
    for k, (case, got) in enumerate(zip(inputs["cases"], result["tangents"], strict=True)):
        f, x = _plane_function(case), np.array(case["x"])
        g = numdiff.gradient(f, x)  # the reference gradient, measured on f itself
        _tangent_properties(got, g, f"for function {k + 1} at x = ({x[0]:.3g}, {x[1]:.3g})")
        t = np.asarray(got, dtype=float)
        along = numdiff.derivative(lambda s, f=f, x=x, t=t: f(x + s * t), 0.0)
        probes.require(bool(abs(along) <= 1e-6 * np.linalg.norm(g)),
                       f"Along your contour tangent for function {k + 1}, f changes at the rate {along:.3g}: it should "
                       "not change to first order.")
    tiny = np.array(inputs["tiny"])
    _tangent_properties(result.get("tiny"), tiny, f"for a gradient of size {np.linalg.norm(tiny):.2g}")
    _tangent_properties(result.get("axis"), np.array(inputs["axis"]), f"for the gradient {inputs['axis']}")
    outcome = call_outcomes.instead_of_raising(result.get("zero"), "ValueError")
    if outcome:
        raise checks.CheckFailure(f"contour_tangent at a point where the gradient is exactly zero {outcome}; there is "
                                  "no contour direction there, so raise ValueError.")


probes.exercise(globals(), inputs=_inputs, driver=_DRIVER, verify=_verify, seed=8_808)
### END HIDDEN TESTS


# %% active="py" wrong_answer="02_gradients-contour_tangent-solution" mistake="the gradient's direction: the normal of the contour, not its tangent"
def contour_tangent(grad_f, x):
    g = np.asarray(grad_f(x), dtype=float)
    length = np.linalg.norm(g)
    if length == 0:
        raise ValueError("stationary point")
    return g / length


# %% active="py" wrong_answer="02_gradients-contour_tangent-solution" mistake="the gradient turned the other way: the uphill side on the right"
def contour_tangent(grad_f, x):
    g = np.asarray(grad_f(x), dtype=float)
    length = np.linalg.norm(g)
    if length == 0:
        raise ValueError("stationary point")
    return np.array([-g[1], g[0]]) / length


# %% active="py" wrong_answer="02_gradients-contour_tangent-solution" mistake="the components swapped without a sign change: not orthogonal to the gradient"
def contour_tangent(grad_f, x):
    g = np.asarray(grad_f(x), dtype=float)
    length = np.linalg.norm(g)
    if length == 0:
        raise ValueError("stationary point")
    return np.array([g[1], g[0]]) / length


# %% active="py" wrong_answer="02_gradients-contour_tangent-solution" mistake="not normalised: the gradient turned by 90°, with its length"
def contour_tangent(grad_f, x):
    g = np.asarray(grad_f(x), dtype=float)
    if not np.any(g):
        raise ValueError("stationary point")
    return np.array([g[1], -g[0]])


# %% active="py" wrong_answer="02_gradients-contour_tangent-solution" mistake="no test for a zero gradient: 0/0 gives nan instead of ValueError"
def contour_tangent(grad_f, x):
    g = np.asarray(grad_f(x), dtype=float)
    return np.array([g[1], -g[0]]) / np.linalg.norm(g)


# %% [markdown]
# ### Exercise 6 · The gradient of a shifted Gaussian hill (2 points)
#
# Generalise the worked example to $n$ dimensions, a centre $c$ and a square matrix $S$ that need **not** be
# symmetric:
#
# $$ G(x) = \exp\!\left(-\tfrac12 (x - c)^\top S\, (x - c)\right). $$
#
# Two facts from this unit are all you need. The outer function gives $\nabla G = -G(x)\, \nabla q(x)$ with
# $q(x) = \tfrac12 (x-c)^\top S (x-c)$, as in section 5. And shifting by $c$ does not change the derivation of
# section 4: with $y = x - c$, each $\partial y_i / \partial x_k = \delta_{ik}$, so $\nabla_x q$ is the gradient of
# $\tfrac12 y^\top S y$ evaluated at $y = x - c$. You may call your `grad_sandwich` from exercise 2 with
# $B = I$ (then this exercise needs exercise 2 to be right) or write the formula out.

# %% nbgrader={"grade": false, "grade_id": "02_gradients-gaussian_hill-solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
def grad_gaussian_hill(S, c, x):
    """The gradient of G(x) = exp(-(x - c)^T S (x - c) / 2) with respect to x.

    Args:
        S: array of shape (n, n), not necessarily symmetric.
        c: the centre, shape (n,).
        x: the point, shape (n,).

    Returns:
        The gradient of h at x, a float array of shape (n,) (zero at x = c).
    """
    ### BEGIN SOLUTION
    y = x - c
    height = np.exp(-0.5 * y @ S @ y)
    return -height * 0.5 * (S + S.T) @ y
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "02_gradients-gaussian_hill", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
HILL_HINT = "The outer exp contributes the factor G(x); the quadratic form inside contributes the rest. Is S symmetric here?"
S_test = np.array([[2.0, 1.5], [-0.3, 1.0]])
c_test = np.array([0.5, -0.3])


def hill_test(x):
    return np.exp(-0.5 * (x - c_test) @ S_test @ (x - c_test))


checks.check_gradient(lambda x: grad_gaussian_hill(S_test, c_test, x), hill_test, np.array([1.0, 0.2]),
                      what="gradient of the Gaussian hill", hint=HILL_HINT)
### BEGIN HIDDEN TESTS
# One definition of the hidden checks (calcml.probes): the kernel runs them here on a fixed seed; the grader
# draws each student's own inputs, runs the driver in a sandbox and _verify in its own process.
import numpy as np

from calcml import numdiff, probes


def _inputs(rng):
    cases = []
    for n in [1, 3, *(int(k) for k in rng.integers(2, 13, size=3))]:
        M, K = rng.normal(size=(n, n)), rng.normal(size=(n, n))
        S = M @ M.T / n + np.eye(n) + (K - K.T)  # a positive definite symmetric part, plus a twist
        c = rng.normal(size=n)
        cases.append({"S": S, "c": c, "x": c + rng.normal(size=n) / np.sqrt(n)})
    last = cases[-1]
    cases.append({"S": last["S"], "c": last["c"], "x": last["c"]})  # the summit
    M = rng.normal(size=(2, 2))
    cases.append({"S": M @ M.T + np.eye(2), "c": rng.normal(size=2), "x": rng.normal(size=2)})  # a symmetric S
    return {"cases": cases}


_DRIVER = """
import numpy as np
result = [grad_gaussian_hill(*(np.array(c[k], dtype=float) for k in ("S", "c", "x"))) for c in inputs["cases"]]
"""


def _verify(inputs, result):
    probes.require(isinstance(result, list) and len(result) == len(inputs["cases"]),
                   "grad_gaussian_hill gave too few results.")
    for case, got in zip(inputs["cases"], result, strict=True):
        S, c, x = (np.array(case[k], dtype=float) for k in ("S", "c", "x"))
        probes.close(got, numdiff.gradient(lambda v, S=S, c=c: np.exp(-0.5 * (v - c) @ S @ (v - c)), x),
                     what="gradient of the Gaussian hill", where=f"(non-symmetric S, n = {x.size})",
                     hint="The outer exp contributes the factor G(x); the quadratic form inside contributes the rest. "
                          "Is S symmetric here?")


probes.exercise(globals(), inputs=_inputs, driver=_DRIVER, verify=_verify, seed=7_707)
### END HIDDEN TESTS


# %% active="py" wrong_answer="02_gradients-gaussian_hill-solution" mistake="assumes S is symmetric"
def grad_gaussian_hill(S, c, x):
    y = x - c
    return -np.exp(-0.5 * y @ S @ y) * S @ y


# %% active="py" wrong_answer="02_gradients-gaussian_hill-solution" mistake="forgets the factor h(x) from the outer exp"
def grad_gaussian_hill(S, c, x):
    y = x - c
    return -0.5 * (S + S.T) @ y


# %% active="py" wrong_answer="02_gradients-gaussian_hill-solution" mistake="loses the minus sign of the exponent"
def grad_gaussian_hill(S, c, x):
    y = x - c
    return np.exp(-0.5 * y @ S @ y) * 0.5 * (S + S.T) @ y


# %% [markdown]
# ## What you can now do
#
# - Compute a partial derivative $\partial f/\partial x_i$ as the ordinary derivative of a slice, collect them
#   into the gradient $\nabla f$ (with the shape of $x$), and use the linear approximation
#   $f(x+\delta) \approx f(x) + \nabla f(x)\cdot\delta$.
# - Compute the slope along any direction, $D_u f = \nabla f\cdot u = \|\nabla f\|\cos\varphi$ for a *unit* $u$,
#   and prove with Cauchy–Schwarz that it is largest, $\|\nabla f\|$, along $\nabla f$ and zero along the level
#   set: **the gradient points uphill fastest and is orthogonal to the contours.**
# - Turn the gradient by 90° into the unit tangent of a contour in the plane, with a stated orientation.
# - Derive $\nabla(a^\top x) = a$, $\nabla(x^\top A x) = (A + A^\top)x$ and $\nabla\|x\|^2 = 2x$ in index
#   notation, knowing that $2Ax$ is right only for symmetric $A$, and combine them into gradients such as that of
#   the least-squares error $\|Ax - b\|^2$.
# - Check any analytic gradient against a numerical one: the idea behind every gradient check in this course,
#   and behind the hidden tests that graded your work.
#
# **Next: unit 3, *Jacobians and the chain rule*.** A layer of a network has many outputs, each with its own
# gradient. Stacked as rows, they form the Jacobian, and the chain rule becomes a product of Jacobians.
