# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Unit 6 · Gradient descent, curvature and momentum
#
# Unit 5 computed the gradient of any loss in one backward pass. Training a model means using it: walking
# downhill on the loss, one gradient at a time. The walk is simple to write and subtle to tune: a step too
# small and training crawls, a step slightly too large and the loss explodes to `inf`. Both behaviours are
# predicted, to the digit, by the **curvature** of the loss, the eigenvalues of its Hessian. This unit derives
# those predictions on quadratics, where everything can be solved exactly, then adds **momentum**, the
# one-line change that cuts the number of steps from about $\kappa$ to about $\sqrt{\kappa}$.
#
# **Learning objective 5.** Implement gradient descent, and explain how the learning rate, momentum and
# curvature govern convergence. By the end of this unit you will be able to
#
# - implement gradient descent and heavy-ball momentum, returning whole trajectories;
# - explain the error recursion $e_{k+1} = (I - \eta A) e_k$ and why each eigen-direction of the Hessian
#   contracts by its own factor $|1 - \eta\lambda_i|$, and count the steps to a given tolerance;
# - predict divergence from the threshold $\eta < 2/\lambda_{\max}$, also when the curvature comes from data,
#   and read the condition number $\kappa = \lambda_{\max}/\lambda_{\min}$ off a zig-zagging trajectory;
# - derive the best fixed step $\eta^\star = 2/(\lambda_{\min} + \lambda_{\max})$ and its rate
#   $(\kappa - 1)/(\kappa + 1)$, and apply it near the minimum of a function that is not a quadratic;
# - derive momentum's stability bound $\eta\lambda < 2 + 2\beta$, its asymptotic rate for any settings and the
#   tuned rate $(\sqrt\kappa - 1)/(\sqrt\kappa + 1)$, and see why momentum's error can first grow;
# - explain why plain gradient descent crawls along Rosenbrock's banana-shaped valley.
#
# You need the gradient of a quadratic form (unit 2) and the eigenvalues and eigenvectors of a symmetric matrix
# (section 2 recalls what is used). The symbols follow [the course's notation](../../course/notation.md):
# $\eta$ the learning rate, $\beta$ the momentum, $\lambda_i$ eigenvalues, $k$ the step counter, and $L$ only
# ever a loss.

# %%
import matplotlib.pyplot as plt
import numpy as np

from calcml import checks, descent_playground, functions, numdiff, plots

# %% [markdown]
# ## 1 · One step downhill
#
# The gradient $\nabla f(x)$ points in the direction of steepest ascent (unit 2), so a small step against it
# lowers $f$. **Gradient descent** repeats that step with a fixed **learning rate** (step size) $\eta > 0$:
#
# $$ x_{k+1} = x_k - \eta\, \nabla f(x_k), \qquad k = 0, 1, 2, \dots $$
#
# How large may $\eta$ be? That depends on how fast the gradient itself changes, that is on the second
# derivatives. They form the **Hessian** $\nabla^2 f(x)$, the $n \times n$ matrix with entries
# $\partial^2 f / \partial x_i \partial x_j$: the Jacobian of the gradient (unit 3), symmetric when $f$ is
# smooth. Near a minimum $x^\star$ every smooth function looks like a quadratic (Taylor, with
# $\nabla f(x^\star) = 0$):
#
# $$ f(x) \approx f(x^\star) + \tfrac12 (x - x^\star)^\top H (x - x^\star), \qquad H = \nabla^2 f(x^\star), $$
#
# so the **quadratic** $f(x) = \tfrac12 x^\top A x - b^\top x$ is the model problem: whatever we learn about
# it describes every smooth problem close to its minimum. Its gradient needs one line of care: unit 2 gave
# $\nabla(x^\top A x) = (A + A^\top)\,x$, so
#
# $$ \nabla f(x) = \tfrac12 (A + A^\top)\, x - b, \qquad \nabla^2 f = \tfrac12 (A + A^\top). $$
#
# **Only the symmetric part of $A$ matters.** When $A$ is symmetric this is the familiar $Ax - b$, the
# Hessian is $A$, and (for $A$ positive definite) the minimiser solves $Ax^\star = b$. The course's
# `calcml.functions.Quadratic` implements exactly these formulas; let us check the symmetric part against
# finite differences on a matrix that is *not* symmetric.

# %%
A = np.array([[2.0, 2.0], [0.0, 2.0]])  # not symmetric
b = np.array([1.0, 2.0])
bowl = functions.Quadratic(A, b)
x = np.array([0.3, -0.4])
print("numerical gradient      :", numdiff.gradient(bowl.f, x))
print("(A + Aᵀ)/2 · x − b      :", 0.5 * (A + A.T) @ x - b)
print("A · x − b  (wrong here) :", A @ x - b)

# %% [markdown]
# ## 2 · The error recursion: every eigen-direction on its own
#
# Take $A$ symmetric positive definite and measure the error $e_k = x_k - x^\star$. Because $b = Ax^\star$,
# the gradient is $\nabla f(x_k) = Ax_k - Ax^\star = A e_k$, and subtracting $x^\star$ from both sides of the
# update gives a linear recursion for the error alone:
#
# $$ e_{k+1} = e_k - \eta A e_k = (I - \eta A)\, e_k, \qquad\text{so}\qquad e_k = (I - \eta A)^k e_0 . $$
#
# *Refresher.* An **eigenvector** of $A$ is a nonzero vector $v$ that $A$ only stretches, $Av = \lambda v$, and
# the factor $\lambda$ is its **eigenvalue**; for a $2 \times 2$ matrix the eigenvalues are the roots of
# $\lambda^2 - (\operatorname{tr} A)\,\lambda + \det A = 0$. A symmetric $n \times n$ matrix has $n$ real
# eigenvalues and $n$ orthonormal eigenvectors (the spectral theorem), and it is positive definite exactly
# when every $\lambda_i > 0$; `np.linalg.eigh` returns them, eigenvalues in ascending order.
#
# Now diagonalise. A symmetric $A$ has an orthonormal basis of eigenvectors: $A = Q \Lambda Q^\top$ with
# $Q^\top Q = I$ and $\Lambda = \operatorname{diag}(\lambda_1, \dots, \lambda_n)$. Then
# $I - \eta A = Q (I - \eta\Lambda) Q^\top$, and in the eigen-coordinates $c_k = Q^\top e_k$ the matrix is
# diagonal:
#
# $$ c_{k,i} = (1 - \eta\lambda_i)^k\, c_{0,i} . $$
#
# **Gradient descent on a quadratic is $n$ independent one-dimensional problems.** Along eigenvector $i$
# the error is multiplied by $1 - \eta\lambda_i$ at every step: it shrinks if $|1 - \eta\lambda_i| < 1$,
# flips sign if $1 - \eta\lambda_i < 0$, and grows if $|1 - \eta\lambda_i| > 1$. Let us check the recursion
# against one honest gradient step, and the two closed forms against each other.

# %%
bowl = functions.quadratic_with_spectrum([1.0, 0.1], seed=0)  # Hessian eigenvalues 1 and 0.1
lam, Q = np.linalg.eigh(bowl.A)
x_star, x0, lr = bowl.minimiser, np.array([2.0, 1.0]), 0.5

x1 = x0 - lr * bowl.grad(x0)
print("one step obeys e1 = (I − ηA) e0:", np.allclose(x1 - x_star, (np.eye(2) - lr * bowl.A) @ (x0 - x_star)))
k = 20
e_matrix = np.linalg.matrix_power(np.eye(2) - lr * bowl.A, k) @ (x0 - x_star)
e_eigen = Q @ ((1 - lr * lam) ** k * (Q.T @ (x0 - x_star)))
print(f"e_{k} by matrix power: {e_matrix},  by eigen-coordinates: {e_eigen}")

# %% [markdown]
# Since the closed form needs no loop, it gives us exact trajectories to draw with, until you write the
# iterative method yourself in Exercise 1:

# %%
def gd_on_quadratic(bowl, x0, lr, steps):
    """Exact gradient-descent iterates x_0..x_steps on a quadratic, from x_k = x* + Q (1 − ηΛ)^k Qᵀ (x0 − x*)."""
    lam, Q = np.linalg.eigh(bowl.hessian())
    c0 = Q.T @ (np.asarray(x0, dtype=float) - bowl.minimiser)
    powers = (1 - lr * lam) ** np.arange(steps + 1)[:, None]  # (steps + 1, n)
    return bowl.minimiser + (powers * c0) @ Q.T


path = gd_on_quadratic(bowl, x0, lr, 40)
coords = np.abs((path - x_star) @ Q)  # |c_{k,i}|, one column per eigen-direction
ax = plots.new_axes("step k", "|error along eigenvector i|", "Each eigen-direction contracts geometrically")
for i, colour in zip(range(2), plots.PALETTE, strict=False):
    ax.semilogy(coords[:, i], "o", ms=4, color=colour, label=f"λ = {lam[i]:g}: measured")
    ax.semilogy(coords[0, i] * np.abs(1 - lr * lam[i]) ** np.arange(41), "-", color=colour, lw=1,
                label=f"|1 − ηλ|^k = {abs(1 - lr * lam[i]):g}^k")
ax.legend()
plt.show()

# %% [markdown]
# Straight lines on a log scale: geometric decay, with slope $\log|1 - \eta\lambda_i|$. With $\eta = 0.5$
# the stiff direction ($\lambda = 1$) halves at every step while the flat one ($\lambda = 0.1$) loses only 5%.
# **The slowest direction sets the pace.**
#
# ## 3 · Worked example: a bowl you can solve by hand
#
# Take $A = \begin{pmatrix} 2 & 1 \\ 1 & 2 \end{pmatrix}$. Its trace is 4 and its determinant 3, so its
# eigenvalues solve $\lambda^2 - 4\lambda + 3 = 0$: $\lambda = 1$ with eigenvector $(1, -1)/\sqrt2$, and
# $\lambda = 3$ with eigenvector $(1, 1)/\sqrt2$. Gradient descent multiplies the two error components by
#
# $$ 1 - \eta \quad\text{and}\quad 1 - 3\eta . $$
#
# - **When does it diverge?** $|1 - 3\eta| < 1$ needs $\eta < 2/3$; the other factor only needs $\eta < 2$.
#   The steep direction decides: above $\eta = 2/3$ the iterates blow up.
# - **Which step is fastest?** Raising $\eta$ helps the first factor and, beyond $\eta = 1/3$, hurts the
#   second. The worst of the two is smallest where they balance with opposite signs:
#   $1 - \eta = -(1 - 3\eta)$, that is $\eta = 1/2$, where both factors have size $1/2$.
#
# So with $\eta = 1/2$ **the error halves at every step, exactly, whatever the start.** In fact
# $I - \tfrac12 A = \begin{pmatrix} 0 & -1/2 \\ -1/2 & 0 \end{pmatrix}$, whose square is $\tfrac14 I$.

# %%
A = np.array([[2.0, 1.0], [1.0, 2.0]])
M = np.eye(2) - 0.5 * A
print("I − A/2 =\n", M, "\n(I − A/2)² =\n", M @ M)
e0 = np.array([0.7, -1.9])
ratios = [np.linalg.norm(np.linalg.matrix_power(M, k) @ e0) / np.linalg.norm(e0) for k in range(6)]
print("‖e_k‖ / ‖e_0‖ for k = 0..5:", np.round(ratios, 6))

# %% [markdown]
# ## 4 · The divergence threshold $\eta < 2/\lambda_{\max}$
#
# The worked example generalises at once. Every factor must satisfy $|1 - \eta\lambda_i| < 1$, that is
# $0 < \eta\lambda_i < 2$, and the largest eigenvalue is the hardest to satisfy:
#
# $$ \boxed{\ \text{gradient descent converges from every start} \iff 0 < \eta < \frac{2}{\lambda_{\max}}\ } $$
#
# The threshold is sharp. Just below it, the stiff component flips sign at every step but still shrinks;
# just above it, the same component grows by a factor slightly over 1 per step, and nothing else matters
# for long.

# %%
bowl = functions.quadratic_with_spectrum([1.0, 0.1], seed=0)
threshold = 2 / bowl.eigenvalues.max()
ax = plots.new_axes("step k", "‖x_k − x*‖  (log scale)", f"Just below and just above η = 2/λ_max = {threshold:g}")
for factor, colour in [(0.95, plots.COLORS["blue"]), (1.05, plots.COLORS["vermillion"])]:
    path = gd_on_quadratic(bowl, x0, factor * threshold, 80)
    ax.semilogy(np.linalg.norm(path - bowl.minimiser, axis=1), color=colour, lw=2,
                label=f"η = {factor:g} × 2/λ_max")
ax.legend()
plt.show()

# %% [markdown]
# ## 5 · The condition number, zig-zags, and the best fixed step
#
# Let $\lambda_{\min}$ and $\lambda_{\max}$ be the extreme eigenvalues. After $k$ steps the error has
# shrunk at least by the worst factor to the power $k$,
#
# $$ \|e_k\| \le \rho(\eta)^k \|e_0\|, \qquad \rho(\eta) = \max_i |1 - \eta\lambda_i| = \max\bigl(|1 - \eta\lambda_{\min}|,\ |1 - \eta\lambda_{\max}|\bigr), $$
#
# because $1 - \eta\lambda$ is linear in $\lambda$, so its extremes sit at the ends of the spectrum. As
# $\eta$ grows, $|1 - \eta\lambda_{\min}|$ falls and, past $1/\lambda_{\max}$, $|1 - \eta\lambda_{\max}|$ rises: the best
# step balances them with opposite signs, $1 - \eta\lambda_{\min} = \eta\lambda_{\max} - 1$:
#
# $$ \eta^\star = \frac{2}{\lambda_{\min} + \lambda_{\max}}, \qquad \rho(\eta^\star) = 1 - \frac{2\lambda_{\min}}{\lambda_{\min} + \lambda_{\max}} = \frac{\lambda_{\max} - \lambda_{\min}}{\lambda_{\max} + \lambda_{\min}} = \frac{\kappa - 1}{\kappa + 1}, \qquad \kappa = \frac{\lambda_{\max}}{\lambda_{\min}} . $$
#
# The **condition number** $\kappa$ is all that matters. Since $\ln\frac{\kappa-1}{\kappa+1} \approx -2/\kappa$
# for large $\kappa$, gaining one decimal digit of accuracy takes about $\frac{\ln 10}{2}\,\kappa \approx 1.15\,\kappa$
# steps even with the best fixed step: a problem with $\kappa = 1000$ needs over a thousand steps per digit.

# %%
lam_min, lam_max = 0.1, 1.0
etas = np.linspace(0.0, 2.2, 441)
ax = plots.new_axes("learning rate η", "contraction per step ρ(η)", "The V of ρ(η) for κ = 10 (λ_min = 0.1, λ_max = 1)",
                   figsize=(9.5, 4.0))
ax.plot(etas, np.abs(1 - etas * lam_min), ":", color=plots.COLORS["sky_blue"], label="|1 − ηλ_min|  (flat direction)")
ax.plot(etas, np.abs(1 - etas * lam_max), ":", color=plots.COLORS["orange"], label="|1 − ηλ_max|  (steep direction)")
ax.plot(etas, np.maximum(np.abs(1 - etas * lam_min), np.abs(1 - etas * lam_max)), color=plots.COLORS["blue"], lw=2.5,
        label="ρ(η), the worst of the two")
ax.axvline(2 / (lam_min + lam_max), color=plots.COLORS["bluish_green"], ls="--",
           label="η* = 2/(λ_min + λ_max): ρ = (κ−1)/(κ+1)")
ax.axvline(2 / lam_max, color=plots.COLORS["vermillion"], ls="--", label="2/λ_max: divergence beyond")
ax.axhline(1.0, color=plots.COLORS["black"], lw=0.8)
ax.set_ylim(0, 1.3)
ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize="small")
plt.show()

# %% [markdown]
# What does a large $\kappa$ look like? The level sets of $f$ are ellipses whose axes have lengths
# proportional to $1/\sqrt{\lambda_i}$, so $\kappa = 100$ is a valley ten times longer than it is wide. The
# gradient points across the valley, not along it: at $\eta^\star$ the steep component is multiplied by
# $1 - \eta^\star \lambda_{\max} = -\frac{\kappa - 1}{\kappa + 1} \approx -1$ (it flips sides every step) while the flat one
# creeps by the factor $+\frac{\kappa - 1}{\kappa + 1} \approx 1$. The result is the famous **zig-zag**:

# %%
fig, axes = plt.subplots(1, 3, figsize=(12, 4), layout="constrained")
grid = np.stack(np.meshgrid(np.linspace(-2.5, 2.5, 201), np.linspace(-2.5, 2.5, 201)))
start = np.array([-2.0, 1.2])
for ax, kappa in zip(axes, [1, 10, 100], strict=True):
    bowl = functions.quadratic_with_spectrum([1.0, 1.0 / kappa], seed=4, minimiser=[0.0, 0.0])
    best = 2 / (1.0 + 1.0 / kappa)
    path = gd_on_quadratic(bowl, start, best, 30)
    plots.new_axes("x₁", "x₂", f"κ = {kappa}: 30 steps at η*, ρ = {(kappa - 1) / (kappa + 1):.3f}", ax=ax)
    ax.contour(grid[0], grid[1], bowl.f(grid), levels=np.geomspace(1e-3, 4, 10), colors=plots.COLORS["sky_blue"],
               linewidths=0.8)
    ax.plot(path[:, 0], path[:, 1], "o-", color=plots.COLORS["vermillion"], ms=3, lw=1.2, label="iterates x_k")
    ax.plot(0, 0, "*", color=plots.COLORS["black"], ms=12, label="minimum x*")
    ax.set_aspect("equal")
    ax.legend(loc="lower right")
plt.show()

# %% [markdown]
# With $\kappa = 1$ the bowl is round, the gradient points straight at the minimum, and one step of
# $\eta^\star = 1/\lambda$ lands on it. With $\kappa = 100$ thirty steps bounce from wall to wall and have
# covered less than half of the way along the valley ($0.98^{30} \approx 0.55$ of the error is left).
#
# ## 6 · Heavy-ball momentum
#
# A ball rolling down the valley would not stop at every step to ask the gradient for directions: it keeps
# part of its velocity. Polyak's **heavy-ball method** adds that memory to gradient descent,
#
# $$ x_{k+1} = x_k - \eta \nabla f(x_k) + \beta\, (x_k - x_{k-1}), \qquad x_{-1} = x_0, $$
#
# with **momentum** $0 \le \beta < 1$ ($\beta = 0$ is plain gradient descent; $x_{-1} = x_0$ makes the first
# step a plain gradient step). Across the valley the zig-zag's alternating pushes cancel in the velocity;
# along the valley the small, consistent pushes add up.
#
# **The recursion, per eigen-direction.** On a quadratic the error obeys
# $e_{k+1} = e_k - \eta A e_k + \beta(e_k - e_{k-1})$, and in eigen-coordinates each direction is again on its
# own, now with a two-term recurrence:
#
# $$ c_{k+1} = (1 + \beta - \eta\lambda)\, c_k - \beta\, c_{k-1}, \qquad
# \begin{pmatrix} c_{k+1} \\ c_k \end{pmatrix} = \underbrace{\begin{pmatrix} 1 + \beta - \eta\lambda & -\beta \\ 1 & 0 \end{pmatrix}}_{M(\lambda)} \begin{pmatrix} c_k \\ c_{k-1} \end{pmatrix}. $$
#
# The eigenvalues of $M(\lambda)$ are the roots of $p(z) = z^2 - (1 + \beta - \eta\lambda) z + \beta$, and the
# direction converges exactly when both roots have modulus below 1. The largest modulus, the **spectral
# radius** $\rho$, is the *asymptotic* contraction per step: in the long run $|c_k|$ shrinks like $\rho^k$, but
# the first steps can do something else (the end of this section shows what).
#
# **Stability.** A real monic quadratic $p(z) = z^2 + a_1 z + a_0$ has both roots inside the unit circle exactly
# when $|a_0| < 1$, $p(1) > 0$ and $p(-1) > 0$ (the second-order Jury test). Complex roots come as a conjugate
# pair $z, \bar z$ whose product is $a_0$ (expand $(z - z_1)(z - z_2)$), so $|z|^2 = z\bar z = a_0$; real roots have $p(\pm 1) > 0$ only if neither $+1$ nor $-1$ lies between them, and the
# product $a_0$ below 1 in size rules out both lying beyond the same end. Here $a_0 = \beta$,
# $p(1) = \eta\lambda$ and $p(-1) = 2 + 2\beta - \eta\lambda$, so
#
# $$ \boxed{\ \text{for } 0 \le \beta < 1, \text{ heavy ball converges from every start} \iff 0 < \eta\lambda_i < 2 + 2\beta \text{ for every } i\ } $$
#
# Momentum stretches the stable range of $\eta\lambda_{\max}$ from $2$ towards $4$. The map below colours
# each setting by its spectral radius: dark is fast, yellow is slow, and beyond the line the iterates diverge.

# %%
t, beta = np.meshgrid(np.linspace(0.0, 4.2, 421), np.linspace(0.0, 0.99, 100))  # t = ηλ
trace = (1 + beta - t).astype(complex)
disc = np.sqrt(trace**2 - 4 * beta)
radius = np.maximum(np.abs(trace + disc), np.abs(trace - disc)) / 2
ax = plots.new_axes("ηλ  (step size × curvature)", "momentum β", "Spectral radius of the heavy-ball recurrence")
image = ax.pcolormesh(t, beta, np.minimum(radius, 1.0), cmap="cividis", shading="auto")
ax.figure.colorbar(image, ax=ax, label="contraction per step (clipped at 1)")
ax.plot(2 + 2 * beta[:, 0], beta[:, 0], color=plots.COLORS["vermillion"], lw=2.5, label="ηλ = 2 + 2β: stability edge")
ax.plot((1 - np.sqrt(beta[:, 0])) ** 2, beta[:, 0], "--", color=plots.COLORS["sky_blue"], lw=1.5,
        label="(1 ± √β)²: complex roots between")
ax.plot((1 + np.sqrt(beta[:, 0])) ** 2, beta[:, 0], "--", color=plots.COLORS["sky_blue"], lw=1.5)
ax.set_xlim(0, 4.2)
ax.legend(loc="lower right", fontsize="small")
plt.show()

# %% [markdown]
# **The tuned rate.** Between the dashed curves the discriminant $(1 + \beta - \eta\lambda)^2 - 4\beta$ is
# negative, the two roots are complex conjugates, and their modulus is fixed by their product:
# $|z|^2 = \beta$. So *every* eigen-direction with $(1 - \sqrt\beta)^2 \le \eta\lambda \le (1 + \sqrt\beta)^2$
# has spectral radius exactly $\sqrt\beta$, whatever its $\lambda$ (on the two edges the discriminant is zero and
# the root $\pm\sqrt\beta$ is double). Fit the whole spectrum $[\lambda_{\min}, \lambda_{\max}]$ into that window, tightly:
#
# $$ \eta\lambda_{\min} = (1 - \sqrt\beta)^2, \quad \eta\lambda_{\max} = (1 + \sqrt\beta)^2
# \quad\Longrightarrow\quad \sqrt\kappa = \frac{1 + \sqrt\beta}{1 - \sqrt\beta}
# \quad\Longrightarrow\quad \sqrt\beta = \frac{\sqrt\kappa - 1}{\sqrt\kappa + 1}, \qquad
# \eta = \frac{(1 + \sqrt\beta)^2}{\lambda_{\max}} = \frac{4}{(\sqrt{\lambda_{\max}} + \sqrt{\lambda_{\min}})^2} . $$
#
# With these settings the asymptotic rate is $\dfrac{\sqrt\kappa - 1}{\sqrt\kappa + 1}$ instead of
# $\dfrac{\kappa - 1}{\kappa + 1}$: the number of steps grows like $\sqrt\kappa$, not $\kappa$. For
# $\kappa = 10^4$ that is 100 times fewer steps.

# %%
kappas = np.geomspace(2, 1e4, 200)
digits = 6 * np.log(10)  # steps to gain six digits: k = ln(10⁶) / −ln ρ
ax = plots.new_axes("condition number κ", "steps for a 10⁶-fold shrink, ln(10⁶)/(−ln ρ)", "Momentum: √κ instead of κ")
ax.loglog(kappas, digits / -np.log((kappas - 1) / (kappas + 1)), color=plots.COLORS["blue"], lw=2,
          label="gradient descent, best fixed step: ρ = (κ−1)/(κ+1)")
ax.loglog(kappas, digits / -np.log((np.sqrt(kappas) - 1) / (np.sqrt(kappas) + 1)), color=plots.COLORS["vermillion"],
          lw=2, label="heavy ball, tuned: asymptotic ρ = (√κ−1)/(√κ+1)")
ax.legend()
plt.show()

# %% [markdown]
# **Asymptotic, not per step.** $\sqrt\beta$ is the rate *in the long run*. Unlike $I - \eta A$, the matrix
# $M(\lambda)$ is not symmetric (not even normal: $MM^\top \ne M^\top M$), so it can stretch a vector more than
# its spectral radius says; and on the edges of the window, where the root $z = \pm\sqrt\beta$ is double, the
# recurrence is solved by $c_k = (a + bk)\,z^k$: the factor $k$ grows before $|z|^k$ wins. Take $\kappa = 100$
# ($\sqrt\beta = 9/11$) and start from rest with the error along the stiff eigenvector, where
# $\eta\lambda_{\max} = (1 + \sqrt\beta)^2 \approx 3.3$. The first step is a plain gradient step, far past gradient descent's
# limit of 2, and then $|c_k| = \bigl(1 + (1 + \sqrt\beta)\,k\bigr)\,\beta^{k/2}$ climbs to **3.7 times** its
# start at step 4, and drops back below it only at step 18.
#
# Gradient descent never does this. Its $I - \eta A$ is symmetric, so its norm is its spectral radius and
# $\|e_{k+1}\| \le \max_i |1 - \eta\lambda_i|\, \|e_k\|$: with a stable step the error shrinks at *every* step.

# %%
def heavy_ball_on_quadratic(bowl, x0, lr, beta, steps):
    """Heavy-ball iterates x_0..x_steps on a quadratic, with x_{-1} = x0, from the update rule itself."""
    x = np.asarray(x0, dtype=float)
    path = [x, x]  # x_{-1}, x_0
    for _ in range(steps):
        path.append(path[-1] - lr * bowl.grad(path[-1]) + beta * (path[-1] - path[-2]))
    return np.array(path[1:])


bowl = functions.quadratic_with_spectrum([1.0, 0.01], seed=3, minimiser=[0.0, 0.0])  # κ = 100
lam, Q = np.linalg.eigh(bowl.A)
root = (np.sqrt(lam[1]) - np.sqrt(lam[0])) / (np.sqrt(lam[1]) + np.sqrt(lam[0]))  # √β = 9/11
lr_hb, beta_hb, lr_gd, steps = 4 / (np.sqrt(lam[0]) + np.sqrt(lam[1])) ** 2, root**2, 2 / (lam[0] + lam[1]), 60
ax = plots.new_axes("step k", "‖x_k − x*‖ / ‖x_0 − x*‖  (log scale)", "κ = 100: momentum's error first grows")
for start, name, colour in [(Q[:, 1], "stiff", plots.COLORS["vermillion"]), (Q[:, 0], "flat", plots.COLORS["orange"])]:
    ratio = np.linalg.norm(heavy_ball_on_quadratic(bowl, start, lr_hb, beta_hb, steps), axis=1)
    ax.semilogy(ratio, "o-", ms=3, color=colour, label=f"tuned heavy ball, start along the {name} eigenvector")
    if name == "stiff":
        print(f"heavy ball, stiff start: peak {ratio.max():.2f} at step {ratio.argmax()}; back below 1 at step "
              f"{np.argmax((ratio < 1) & (np.arange(steps + 1) > 0))}")
ratio = np.linalg.norm(gd_on_quadratic(bowl, Q[:, 1], lr_gd, steps), axis=1)
ax.semilogy(ratio, color=plots.COLORS["blue"], lw=2, label="gradient descent at η*, either start")
ax.semilogy(root ** np.arange(steps + 1), ":", color=plots.COLORS["black"], label="(√β)^k = (9/11)^k")
ax.axhline(1.0, color=plots.COLORS["black"], lw=0.8)
ax.legend(fontsize="small")
plt.show()
print("gradient descent's error never grows:", bool(np.all(np.diff(ratio) < 0)))

# %% [markdown]
# ## 7 · Rosenbrock's banana: why gradient descent crawls
#
# Real losses are not quadratics, but near any point they look like one, with the local Hessian in the role of
# $A$. Rosenbrock's function
#
# $$ f(x, y) = (1 - x)^2 + 100\,(y - x^2)^2 $$
#
# is the classic test. Its minimum is $(1, 1)$, at the end of a long, curved, flat-bottomed valley along
# $y = x^2$. The Hessian
#
# $$ \nabla^2 f = \begin{pmatrix} 2 - 400y + 1200x^2 & -400x \\ -400x & 200 \end{pmatrix}
# \quad\text{is}\quad \begin{pmatrix} 802 & -400 \\ -400 & 200 \end{pmatrix} \text{ at } (1, 1), $$
#
# with eigenvalues $\approx 1001.6$ and $0.40$: a condition number of about $2500$. Stability forces
# $\eta < 2/1001.6 \approx 0.002$ (the valley walls are steep), and then the valley floor (curvature 0.4)
# contracts by about $1 - 0.002 \times 0.4 = 0.9992$ per step: thousands of steps per digit. Worse, the valley
# *bends*, so the slow direction keeps turning and the trajectory must follow it. Along the floor $y = x^2$
# the Hessian is $\begin{pmatrix} 2 + 800x^2 & -400x \\ -400x & 200 \end{pmatrix}$. Its determinant is 400 at
# every point and its trace at least 202, so $\kappa \ge 100$ everywhere along the floor:

# %%
fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
grid = np.stack(np.meshgrid(np.linspace(-2, 2, 241), np.linspace(-1, 3, 241)))
plots.new_axes("x", "y", "Rosenbrock's valley (log-spaced contours)", ax=left)
left.contour(grid[0], grid[1], functions.rosenbrock(grid), levels=np.geomspace(0.05, 2500, 15),
             colors=plots.COLORS["sky_blue"], linewidths=0.8)
floor = np.linspace(-2, 2, 200)
left.plot(floor, floor**2, "--", color=plots.COLORS["orange"], lw=1.5, label="valley floor y = x²")
left.plot(1, 1, "*", color=plots.COLORS["black"], ms=14, label="minimum (1, 1)")
left.plot(-1.2, 1.0, "o", color=plots.COLORS["vermillion"], ms=7, label="classic start (−1.2, 1)")
left.set_ylim(-1, 3)
left.legend(loc="lower right")

along = np.linalg.eigvalsh(np.moveaxis(functions.rosenbrock_hessian(np.stack([floor, floor**2])), [0, 1], [-2, -1]))
plots.new_axes("x  (on the floor y = x²)", "eigenvalue, or κ (log scale)", "Curvature across and along the valley",
               ax=right)
right.semilogy(floor, along[:, 1], color=plots.COLORS["vermillion"], lw=2, label="λ_max: across the valley")
right.semilogy(floor, along[:, 0], color=plots.COLORS["blue"], lw=2, label="λ_min: along the valley")
right.semilogy(floor, along[:, 1] / along[:, 0], ":", color=plots.COLORS["black"], lw=1.5, label="κ = λ_max/λ_min")
right.legend()
plt.show()

# %% [markdown]
# You will watch gradient descent crawl along this valley, and momentum roll down it, with your own code at
# the end of the unit.
#
# ## Exercises
#
# The exercises build the two optimisers and predict what they do from the curvature. The curvature is not
# always handed to you as a symmetric matrix: Exercise 2 finds it in a data matrix, Exercise 3 in a function
# that is not a quadratic, and Exercise 6 takes the matrix $A$ of $f(x) = \frac12 x^\top A x - b^\top x$, which
# **need not be symmetric**: as section 1 showed, what the optimisers see is the Hessian
# $H = \frac12(A + A^\top)$. `np.linalg.eigvalsh(H)` returns its (real) eigenvalues in ascending order. Each
# test cell grades its own exercise only.
#
# ### Exercise 1 · Gradient descent, as a trajectory (2 points)
#
# Write `gradient_descent(grad, x0, lr, steps)`, returning the whole **trajectory**: an array whose row $k$
# is $x_k$, starting with $x_0$ itself in row 0. Do not modify the caller's `x0` (an in-place `x -= ...`
# on it would), and remember that `x0` may arrive as a list of integers.

# %% nbgrader={"grade": false, "grade_id": "06_gradient_descent-gradient_descent-solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
def gradient_descent(grad, x0, lr, steps):
    """Run `steps` steps of gradient descent x_{k+1} = x_k − lr · grad(x_k) from x0.

    Args:
        grad: A function taking a float array of shape (n,) and returning the gradient, shape (n,).
        x0: The start, array-like of shape (n,) (a list of ints is fine); it must not be modified.
        lr: The learning rate η > 0.
        steps: The number of steps, an int ≥ 0.

    Returns:
        A float array of shape (steps + 1, n) whose row k is x_k; row 0 is x0 (so steps = 0 gives [x0]).
    """
    ### BEGIN SOLUTION
    x = np.array(x0, dtype=float)  # a new array: the caller's x0 is never touched
    trajectory = np.empty((steps + 1, x.size))
    trajectory[0] = x
    for k in range(steps):
        x = x - lr * grad(x)
        trajectory[k + 1] = x
    return trajectory
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "06_gradient_descent-gradient_descent", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
def _exact_gd(bowl, x0, lr, steps):  # x_k = x* + Q (1 − ηΛ)^k Qᵀ (x0 − x*): no iteration at all
    lam, Q = np.linalg.eigh(bowl.hessian())
    return bowl.minimiser + ((1 - lr * lam) ** np.arange(steps + 1)[:, None] * (Q.T @ (x0 - bowl.minimiser))) @ Q.T


# f(x) = ‖x‖², grad 2x: with η = 1/4 every step halves x (an identity you can check by hand).
checks.assert_close(gradient_descent(lambda x: 2 * x, [1, 2], 0.25, 3), [[1, 2], [0.5, 1], [0.25, 0.5], [0.125, 0.25]],
                    what="trajectory", where="for f = ‖x‖², x0 = [1, 2], η = 1/4, 3 steps",
                    hint="Row 0 must be x0 itself, then one row per step: shape (steps + 1, n).")
_bowl = functions.quadratic_with_spectrum([2.0, 0.5], seed=1)
_x0 = np.array([1.0, -2.0])
_saved = _x0.copy()
checks.assert_close(gradient_descent(_bowl.grad, _x0, 0.3, 25), _exact_gd(_bowl, _saved, 0.3, 25),
                    what="trajectory", where="on a quadratic with Hessian eigenvalues 2 and 0.5, η = 0.3, 25 steps",
                    hint="Compare with the closed form x_k = x* + (I − ηA)^k (x0 − x*) of section 2.")
assert np.array_equal(_x0, _saved), (
    f"gradient_descent changed the caller's x0 from {_saved} to {_x0}: copy it first (np.array(x0, dtype=float)), "
    "then update the copy.")
### BEGIN HIDDEN TESTS
# One definition of the hidden checks (calcml.probes): the kernel runs them here on a fixed seed; the grader
# draws each student's own inputs, runs the driver in a sandbox and _verify in its own process.
import numpy as np

from calcml import descent_cases, functions, in_place, probes


def _exact(H, x_star, x0, lr, steps):  # x_k = x* + Q (1 − ηΛ)^k Qᵀ (x0 − x*): a closed form, no iteration
    lam, Q = np.linalg.eigh(H)
    return x_star + ((1 - lr * lam) ** np.arange(steps + 1)[:, None] * (Q.T @ (x0 - x_star))) @ Q.T


def _inputs(rng):
    cases = []
    for _ in range(5):
        n = int(rng.integers(1, 7))
        lam, H, x_star = descent_cases.random_bowl(rng, n, 0.1, 10.0)
        cases.append({"H": H, "x_star": x_star, "lr": float(rng.uniform(0.05, 1.95)) / lam.max(),
                      "steps": int(rng.integers(1, 41)), "x0": rng.normal(size=n) * 3})
    n = int(rng.integers(2, 5))
    lam, H, x_star = descent_cases.random_bowl(rng, n, 0.5, 2.0)
    cases.append({"H": H, "x_star": x_star, "lr": 0.3, "steps": 0, "x0": rng.normal(size=n)})
    start = [float(rng.uniform(-1.5, -0.5)), float(rng.uniform(0.5, 1.5))]
    return {"cases": cases, "rosenbrock": {"x0": start, "lr": 1e-3, "steps": int(rng.integers(40, 80))},
            "integer": rng.integers(-5, 6, size=int(rng.integers(2, 5))).tolist(), "integer_lr": 0.1}


_DRIVER = descent_cases.GRADIENTS + """
result = {"cases": [], "x0_after": []}
for case in inputs["cases"]:
    x0 = np.array(case["x0"], dtype=float)
    result["cases"].append(gradient_descent(bowl_gradient(case), x0, case["lr"], case["steps"]))
    result["x0_after"].append(x0)
r = inputs["rosenbrock"]
x0 = np.array(r["x0"])
result["rosenbrock"] = gradient_descent(rosenbrock_grad, x0, r["lr"], r["steps"])
result["rosenbrock_x0_after"] = x0
x_int = np.array(inputs["integer"])
result["integer"] = gradient_descent(lambda x: 2 * x, x_int, inputs["integer_lr"], 4)
result["integer_after"] = {"values": x_int, "kind": x_int.dtype.kind}
"""

_HINT = "Row 0 is x0, then one row per step: shape (steps + 1, n)."


def _verify(inputs, result):
    probes.require(isinstance(result, dict) and isinstance(result.get("cases"), list)
                   and len(result["cases"]) == len(inputs["cases"]), "gradient_descent gave too few results.")
    for case, got in zip(inputs["cases"], result["cases"], strict=True):
        H, x_star, x0 = (np.array(case[k], dtype=float) for k in ("H", "x_star", "x0"))
        probes.close(got, _exact(H, x_star, x0, case["lr"], case["steps"]), what="trajectory",
                     where=f"on a random {x0.size}-D quadratic, η = {case['lr']:.3g}, {case['steps']} steps",
                     hint=_HINT)
    r = inputs["rosenbrock"]
    path = np.asarray(result.get("rosenbrock"), dtype=float)
    probes.require(path.shape == (r["steps"] + 1, 2), f"On Rosenbrock with {r['steps']} steps the trajectory has "
                                                      f"shape {path.shape}, not {(r['steps'] + 1, 2)}. {_HINT}")
    probes.close(path[0], r["x0"], what="first row", where="on Rosenbrock", hint="Row 0 must be x0.")
    expected_next = path[:-1] - r["lr"] * np.array([functions.rosenbrock_grad(p) for p in path[:-1]])
    probes.close(path[1:], expected_next, what="rows of the trajectory", where=f"on Rosenbrock, η = {r['lr']}",
                 hint="Each row must be x_{k+1} = x_k − η ∇f(x_k) of the row before.")
    after = result.get("x0_after")
    probes.require(isinstance(after, list) and len(after) == len(inputs["cases"])
                   and all(in_place.unchanged(a, case["x0"]) for a, case in zip(after, inputs["cases"], strict=True))
                   and in_place.unchanged(result.get("rosenbrock_x0_after"), r["x0"]),
                   "gradient_descent changed the caller's x0: copy it first (np.array(x0, dtype=float)), then update "
                   "the copy.")
    x_int = np.array(inputs["integer"], dtype=float)
    probes.close(result.get("integer"), x_int * (1 - 2 * inputs["integer_lr"]) ** np.arange(5)[:, None],
                 what="trajectory", where=f"from an integer array x0 = {inputs['integer']}",
                 hint="Convert x0 to floats first.")
    integer = result.get("integer_after")
    probes.require(isinstance(integer, dict) and integer.get("kind") == "i"
                   and in_place.unchanged(integer.get("values"), x_int),
                   "gradient_descent modified the caller's integer x0.")


probes.exercise(globals(), inputs=_inputs, driver=_DRIVER, verify=_verify, seed=20240606)
### END HIDDEN TESTS


# %% active="py" wrong_answer="06_gradient_descent-gradient_descent-solution" mistake="x0 missing from the trajectory: only the `steps` new iterates are returned."
def gradient_descent(grad, x0, lr, steps):
    x = np.array(x0, dtype=float)
    trajectory = []
    for _ in range(steps):
        x = x - lr * grad(x)
        trajectory.append(x)
    return np.array(trajectory)


# %% active="py" wrong_answer="06_gradient_descent-gradient_descent-solution" mistake="Only the final point instead of the whole trajectory."
def gradient_descent(grad, x0, lr, steps):
    x = np.array(x0, dtype=float)
    for _ in range(steps):
        x = x - lr * grad(x)
    return x


# %% active="py" wrong_answer="06_gradient_descent-gradient_descent-solution" mistake="In-place update on the caller's array: the trajectory is right, but x0 is overwritten."
def gradient_descent(grad, x0, lr, steps):
    x = np.asarray(x0, dtype=float)
    trajectory = [x.copy()]
    for _ in range(steps):
        x -= lr * grad(x)
        trajectory.append(x.copy())
    return np.array(trajectory)


# %% [markdown]
# ### Exercise 2 · The divergence threshold of least squares (1 point)
#
# Section 4 found the threshold for a quadratic written with its matrix $A$. The loss of a linear model
# trained by least squares is a quadratic too, but its curvature comes from the data: with the $N$ examples
# $\mathbf x_i$ as the rows of a matrix $X$ of shape $(N, n)$ and targets $y_i$,
#
# $$ L(\mathbf w) = \frac1N \sum_{i=1}^{N} \bigl(\mathbf x_i^\top \mathbf w - y_i\bigr)^2 = \frac1N \lVert X\mathbf w - \mathbf y\rVert^2 . $$
#
# Write `divergence_threshold(X)`, the learning rate $\eta$ above which gradient descent on $L$ diverges.
# Bring $L$ to the form $\frac12 \mathbf w^\top A \mathbf w - \mathbf b^\top \mathbf w + c$ first: which
# matrix plays the role of $A$, and do the targets matter?

# %% nbgrader={"grade": false, "grade_id": "06_gradient_descent-divergence_threshold-solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
def divergence_threshold(X):
    """The learning rate above which gradient descent on the mean squared error of a linear model diverges.

    The loss is L(w) = (1/N) Σᵢ (X[i] · w − y[i])², for any targets y.

    Args:
        X: The data, a float array of shape (N, n), N ≥ 1, one example per row, with at least one nonzero
            entry (XᵀX may be singular).

    Returns:
        A float η̂: for every 0 < η < η̂ the error of gradient descent on L never grows, from any start; for
        η > η̂ it grows without bound from almost every start.
    """
    ### BEGIN SOLUTION
    X = np.asarray(X, dtype=float)
    hessian = 2.0 / X.shape[0] * X.T @ X  # L = ½ wᵀ (2XᵀX/N) w − (2Xᵀy/N)ᵀ w + ‖y‖²/N
    return float(2.0 / np.linalg.eigvalsh(hessian)[-1])
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "06_gradient_descent-divergence_threshold", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
# One weight, X a column of ones: L(w) = mean of (w − yᵢ)², whose second derivative is 2, so η < 2/2 = 1.
checks.assert_close(divergence_threshold(np.ones((4, 1))), 1.0, what="threshold", where="for X = four rows of [1]",
                    hint="With X a column of ones, L(w) is the mean of (w − yᵢ)²: its second derivative is 2.")
checks.assert_close(divergence_threshold(np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])), 1.0, what="threshold",
                    where="for X = [[1, 0], [0, 1], [1, 1]] (N = 3, XᵀX = [[2, 1], [1, 2]])",
                    hint="Expand (1/N)‖Xw − y‖² = (1/N)(wᵀXᵀXw − 2yᵀXw + yᵀy) and compare with ½wᵀAw: the Hessian "
                         "of L is A, with both the 2 and the 1/N in it.")
### BEGIN HIDDEN TESTS
# One definition of the hidden checks (calcml.probes): the kernel runs them here on a fixed seed; the grader
# draws each student's own inputs, runs the driver in a sandbox and _verify in its own process.
import numpy as np

from calcml import probes


def _inputs(rng):
    cases = []
    for _ in range(6):
        N, n = int(rng.integers(1, 40)), int(rng.integers(1, 6))
        X = rng.normal(size=(N, n)) * np.exp(rng.uniform(-1.0, 1.0, size=n))  # columns of different scales
        cases.append({"X": X, "y": rng.normal(size=N)})
    N = int(rng.integers(1, 3))  # a wide X (N < n): XᵀX is singular, some directions have no curvature at all
    cases.append({"X": rng.normal(size=(N, N + int(rng.integers(1, 4)))), "y": rng.normal(size=N)})
    N = int(rng.integers(2, 9))
    cases.append({"X": np.full((N, 1), float(rng.uniform(0.5, 3.0))), "y": rng.normal(size=N)})
    return {"cases": cases}


_DRIVER = """
import numpy as np
result = [divergence_threshold(np.array(case["X"], dtype=float)) for case in inputs["cases"]]
"""

_HINT = ("Write L(w) = (1/N)‖Xw − y‖² as ½wᵀAw − bᵀw + c: its Hessian A has both the 2 of the square and the 1/N "
         "of the mean. Then η < 2/λ_max(A).")


def _loss(X, y, w):
    return float(np.mean((X @ w - y) ** 2))


def _hessian(X, y):  # exact for a quadratic loss: L(u + v) − L(u) − L(v) + L(0) = uᵀ H v
    n = X.shape[1]
    E = np.eye(n)
    single = [_loss(X, y, E[i]) for i in range(n)]
    zero = _loss(X, y, np.zeros(n))
    return np.array([[_loss(X, y, E[i] + E[j]) - single[i] - single[j] + zero for j in range(n)] for i in range(n)])


def _verify(inputs, result):
    probes.require(isinstance(result, list) and len(result) == len(inputs["cases"]),
                   "divergence_threshold gave too few results.")
    for case, got in zip(inputs["cases"], result, strict=True):
        X, y = np.array(case["X"], dtype=float), np.array(case["y"], dtype=float)
        H = _hessian(X, y)
        where = f"for a random X of shape {X.shape}"
        probes.close(got, 2 / np.linalg.eigvalsh(H)[-1], what="threshold", where=where, hint=_HINT)
        # The independent fact: just below the threshold GD shrinks the error, just above it the error explodes.
        e0 = 1.0 + 0.1 * np.arange(X.shape[1])
        for factor, shrinks in [(0.98, True), (1.02, False)]:
            e = np.linalg.matrix_power(np.eye(X.shape[1]) - factor * float(got) * H, 400) @ e0
            probes.require(bool(np.linalg.norm(e) < np.linalg.norm(e0)) == shrinks,
                           f"Gradient descent with η = {factor} × your threshold {float(got):.6g} "
                           f"{'diverges' if shrinks else 'still converges'} {where}: it is not the edge of "
                           "stability. " + _HINT)


probes.exercise(globals(), inputs=_inputs, driver=_DRIVER, verify=_verify, seed=777)
### END HIDDEN TESTS


# %% active="py" wrong_answer="06_gradient_descent-divergence_threshold-solution" mistake="The Hessian taken as XᵀX: both the 2 of the square and the 1/N of the mean dropped."
def divergence_threshold(X):
    X = np.asarray(X, dtype=float)
    return float(2.0 / np.linalg.eigvalsh(X.T @ X)[-1])


# %% active="py" wrong_answer="06_gradient_descent-divergence_threshold-solution" mistake="The Hessian taken as XᵀX/N: the factor 2 from differentiating the square lost."
def divergence_threshold(X):
    X = np.asarray(X, dtype=float)
    return float(2.0 / np.linalg.eigvalsh(X.T @ X / X.shape[0])[-1])


# %% active="py" wrong_answer="06_gradient_descent-divergence_threshold-solution" mistake="The largest singular value of X used where its square (an eigenvalue of XᵀX) belongs."
def divergence_threshold(X):
    X = np.asarray(X, dtype=float)
    return float(2.0 / (2.0 / X.shape[0] * np.linalg.norm(X, 2)))


# %% active="py" wrong_answer="06_gradient_descent-divergence_threshold-solution" mistake="eigvalsh(...)[0], read as the largest eigenvalue: it is the smallest (ascending order)."
def divergence_threshold(X):
    X = np.asarray(X, dtype=float)
    return float(2.0 / np.linalg.eigvalsh(2.0 / X.shape[0] * X.T @ X)[0])


# %% active="py" wrong_answer="06_gradient_descent-divergence_threshold-solution" mistake="The Hessian measured with numdiff (a gradient of a gradient) instead of derived from the loss."
def divergence_threshold(X):
    X = np.asarray(X, dtype=float)
    H = numdiff.jacobian(lambda w: numdiff.gradient(lambda v: np.mean((X @ v) ** 2), w), np.zeros(X.shape[1]))
    return float(2.0 / np.linalg.eigvalsh(0.5 * (H + H.T))[-1])


# %% [markdown]
# ### Exercise 3 · The best fixed step near a minimum (2 points)
#
# Close to its minimum every smooth function is a quadratic whose Hessian is the Hessian at the minimum
# (section 1), so section 5's best fixed step applies there too. Write `best_fixed_step(a, b)`: the fixed
# learning rate with the fastest asymptotic convergence of gradient descent to the minimum of the
# generalised Rosenbrock function
#
# $$ f(x, y) = (a - x)^2 + b\,(y - x^2)^2, \qquad b > 0 $$
#
# (section 7 is the case $a = 1$, $b = 100$). Find the minimum and the Hessian there yourself, for any $a$.

# %% nbgrader={"grade": false, "grade_id": "06_gradient_descent-best_fixed_step-solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
def best_fixed_step(a, b):
    """The fixed learning rate with the fastest local convergence of gradient descent to the minimum of
    f(x, y) = (a − x)² + b (y − x²)².

    Args:
        a: A float (any sign).
        b: A float, b > 0.

    Returns:
        A float: the learning rate η > 0 that makes the worst contraction factor per step of gradient descent
        on the quadratic model of f at its minimum as small as possible.
    """
    ### BEGIN SOLUTION
    hessian = np.array([[2 + 8 * b * a**2, -4 * a * b], [-4 * a * b, 2 * b]], dtype=float)  # at (a, a²)
    lam = np.linalg.eigvalsh(hessian)
    return float(2.0 / (lam[0] + lam[-1]))
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "06_gradient_descent-best_fixed_step", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
checks.assert_close(best_fixed_step(1.0, 100.0), 2 / (802 + 200), what="best step", where="for a = 1, b = 100",
                    hint="Section 7's Hessian at (1, 1) is [[802, −400], [−400, 200]]; η* = 2/(λ_min + λ_max).")
checks.assert_close(best_fixed_step(0.0, 3.0), 2 / (2 + 6), what="best step", where="for a = 0, b = 3",
                    hint="For a = 0 the minimum is (0, 0), where the Hessian is diag(2, 2b).")
checks.assert_close(best_fixed_step(2.0, 1.0), 2 / 36, what="best step", where="for a = 2, b = 1",
                    hint="The minimum is (a, a²), not (1, 1): differentiate f twice for a general a, then evaluate.")
### BEGIN HIDDEN TESTS
# One definition of the hidden checks (calcml.probes): the kernel runs them here on a fixed seed; the grader
# draws each student's own inputs, runs the driver in a sandbox and _verify in its own process.
import numpy as np
import sympy as sp

from calcml import probes


def _inputs(rng):
    cases = []
    for t in range(6):  # |a| away from 1, where the minimum (a, a²) differs from section 7's (1, 1)
        size = float(rng.uniform(0.2, 0.75) if t % 2 else rng.uniform(1.3, 2.5))
        cases.append({"a": float(rng.choice([-1.0, 1.0])) * size, "b": float(np.exp(rng.uniform(np.log(0.5), np.log(300))))})
    cases.append({"a": 0.0, "b": float(rng.uniform(0.5, 5.0))})
    return {"cases": cases}


_DRIVER = """
result = [best_fixed_step(case["a"], case["b"]) for case in inputs["cases"]]
"""

_HINT = ("The minimum of (a − x)² + b(y − x²)² is (a, a²); the Hessian there is the A of the local quadratic, and "
         "η* = 2/(λ_min + λ_max) balances |1 − ηλ_min| = |1 − ηλ_max|.")


def _verify(inputs, result):
    x, y, a, b = sp.symbols("x y a b", real=True)
    f = (a - x) ** 2 + b * (y - x**2) ** 2
    hessian = sp.lambdify((x, y, a, b), sp.hessian(f, (x, y)), "numpy")
    probes.require(isinstance(result, list) and len(result) == len(inputs["cases"]),
                   "best_fixed_step gave too few results.")
    for case, got in zip(inputs["cases"], result, strict=True):
        at = (case["a"], case["a"] ** 2)  # the minimum: f ≥ 0 is 0 there
        lam = np.linalg.eigvalsh(np.array(hessian(*at, case["a"], case["b"]), dtype=float))
        where = f"for a = {case['a']:.4g}, b = {case['b']:.4g}"
        probes.close(got, 2 / (lam[0] + lam[-1]), what="best step", where=where, hint=_HINT)
        # Independent fact: no step on a fine grid does better in the worst direction.
        mine = float(np.max(np.abs(1 - float(got) * lam)))
        worst = np.max(np.abs(1 - np.multiply.outer(np.linspace(1e-3, 2, 4000) / lam[-1], lam)), axis=-1)
        probes.require(bool(mine <= worst.min() + 1e-12), f"Another fixed step contracts faster than yours {where}; "
                                                          "balance the two extreme factors.")


probes.exercise(globals(), inputs=_inputs, driver=_DRIVER, verify=_verify, seed=31415)
### END HIDDEN TESTS


# %% active="py" wrong_answer="06_gradient_descent-best_fixed_step-solution" mistake="Section 7's Hessian at (1, 1) reused for every a: the minimum (a, a²) moves with a."
def best_fixed_step(a, b):
    lam = np.linalg.eigvalsh(np.array([[2 + 8 * b, -4 * b], [-4 * b, 2 * b]], dtype=float))
    return float(2.0 / (lam[0] + lam[-1]))


# %% active="py" wrong_answer="06_gradient_descent-best_fixed_step-solution" mistake="The Hessian evaluated at (a, a) instead of the minimum (a, a²)."
def best_fixed_step(a, b):
    x, y = a, a
    hessian = np.array([[2 - 4 * b * (y - x**2) + 8 * b * x**2, -4 * b * x], [-4 * b * x, 2 * b]], dtype=float)
    lam = np.linalg.eigvalsh(hessian)
    return float(2.0 / (lam[0] + lam[-1]))


# %% active="py" wrong_answer="06_gradient_descent-best_fixed_step-solution" mistake="2/λ_max, the divergence threshold, taken for the best step."
def best_fixed_step(a, b):
    hessian = np.array([[2 + 8 * b * a**2, -4 * a * b], [-4 * a * b, 2 * b]], dtype=float)
    return float(2.0 / np.linalg.eigvalsh(hessian)[-1])


# %% active="py" wrong_answer="06_gradient_descent-best_fixed_step-solution" mistake="1/(λ_min + λ_max): a factor 2 lost."
def best_fixed_step(a, b):
    hessian = np.array([[2 + 8 * b * a**2, -4 * a * b], [-4 * a * b, 2 * b]], dtype=float)
    lam = np.linalg.eigvalsh(hessian)
    return float(1.0 / (lam[0] + lam[-1]))


# %% active="py" wrong_answer="06_gradient_descent-best_fixed_step-solution" mistake="The Hessian left to sympy.hessian instead of derived."
import sympy as sp


def best_fixed_step(a, b):
    x, y = sp.symbols("x y")
    hessian = sp.hessian((a - x) ** 2 + b * (y - x**2) ** 2, (x, y)).subs({x: a, y: a**2})
    lam = np.linalg.eigvalsh(np.array(hessian, dtype=float))
    return float(2.0 / (lam[0] + lam[-1]))


# %% [markdown]
# ### Exercise 4 · Steps to a tolerance (2 points)
#
# How many steps does gradient descent need? Write `steps_to_tolerance(eigenvalues, lr, tol)`: on a quadratic
# whose Hessian has the given eigenvalues, the smallest number of steps $k$ after which gradient descent with
# learning rate $\eta$ has shrunk the error along **every** eigenvector by at least the factor `tol`, whatever
# the start: $|c_{k,i}| \le \texttt{tol}\cdot|c_{0,i}|$ for every $i$ (section 2). Return `None` when some
# direction never gets there. Mind directions that overshoot, and settings where a single step removes the whole
# error.

# %% nbgrader={"grade": false, "grade_id": "06_gradient_descent-steps_to_tolerance-solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
def steps_to_tolerance(eigenvalues, lr, tol):
    """The number of gradient-descent steps that shrinks every eigen-component of the error by `tol`.

    Args:
        eigenvalues: The eigenvalues of the Hessian of a quadratic, array-like of shape (n,), all > 0.
        lr: The learning rate η > 0.
        tol: The shrink factor, 0 < tol < 1.

    Returns:
        The smallest int k ≥ 0 such that, after k steps of gradient descent from any start, the error's
        component along every eigenvector is at most tol times its start; None if no such k exists.
    """
    ### BEGIN SOLUTION
    rho = float(np.max(np.abs(1.0 - lr * np.asarray(eigenvalues, dtype=float))))
    if rho >= 1.0:
        return None  # some direction keeps its size, or grows
    if rho == 0.0:
        return 1  # one step removes every component
    k = max(int(np.ceil(np.log(tol) / np.log(rho))), 1)
    while rho**k > tol:  # guard the rounding of the logarithms at an exact power
        k += 1
    while k > 1 and rho ** (k - 1) <= tol:
        k -= 1
    return k
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "06_gradient_descent-steps_to_tolerance", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
# The worked example (eigenvalues 1 and 3) at η = 1/2 halves every component: 2⁻¹⁰ ≈ 0.00098 ≤ 10⁻³ < 2⁻⁹.
assert steps_to_tolerance([1.0, 3.0], 0.5, 1e-3) == 10, (
    f"steps_to_tolerance([1, 3], 0.5, 1e-3) is {steps_to_tolerance([1.0, 3.0], 0.5, 1e-3)!r}, not 10: at η = 1/2 "
    "both factors have size 1/2, and 2⁻⁹ ≈ 0.002 is still above 10⁻³. Round the number of steps up.")
assert steps_to_tolerance(np.array([1.0, 3.0]), 0.6, 1e-3) == 31, (
    f"steps_to_tolerance([1, 3], 0.6, 1e-3) is {steps_to_tolerance(np.array([1.0, 3.0]), 0.6, 1e-3)!r}, not 31: "
    "the factors are 1 − 0.6 = 0.4 and 1 − 1.8 = −0.8, and it is the size 0.8 of the overshooting one that "
    "decides (0.8³¹ ≈ 0.00099).")
assert steps_to_tolerance([1.0, 3.0], 0.7, 1e-3) is None, (
    f"steps_to_tolerance([1, 3], 0.7, 1e-3) is {steps_to_tolerance([1.0, 3.0], 0.7, 1e-3)!r}, not None: with "
    "η = 0.7 > 2/3 the factor 1 − 2.1 = −1.1 makes that component grow, so no number of steps is enough.")
assert steps_to_tolerance([2.0], 0.5, 1e-6) == 1, (
    f"steps_to_tolerance([2], 0.5, 1e-6) is {steps_to_tolerance([2.0], 0.5, 1e-6)!r}, not 1: ηλ = 1 removes "
    "the component in one step (0 steps shrink nothing).")
### BEGIN HIDDEN TESTS
# One definition of the hidden checks (calcml.probes): the kernel runs them here on a fixed seed; the grader
# draws each student's own inputs, runs the driver in a sandbox and _verify in its own process.
import numpy as np

from calcml import probes


def _inputs(rng):
    cases = []
    while len(cases) < 9:  # in turn: ordinary settings, overshooting ones (η near 2/λ_max), diverging ones
        kind = len(cases) % 3
        if kind == 1:  # a narrow spectrum and ηλ_max in [1.6, 1.9]: the overshooting direction is the slowest
            lam = rng.uniform(1.0, 2.0, size=int(rng.integers(2, 6)))
            lr = float(rng.uniform(1.6, 1.9)) / lam.max()
        else:
            lam = np.exp(rng.uniform(np.log(0.1), np.log(10.0), size=int(rng.integers(1, 6))))
            lr = float(rng.uniform(0.05, 1.9) if kind == 0 else rng.uniform(2.05, 3.0)) / lam.max()
        tol = float(10 ** rng.uniform(-8, -1))
        rho = float(np.max(np.abs(1 - lr * lam)))
        if kind != 2:  # a run must be able to tell k − 1 from k: skip near-exact powers, and very slow settings
            count = np.log(tol) / np.log(rho)
            if rho > 0.995 or abs(count - np.round(count)) * abs(np.log(rho)) < 1e-6:
                continue
        cases.append({"lam": lam, "lr": lr, "tol": tol})
    cases.append({"lam": [4.0, float(rng.uniform(0.5, 3.5))], "lr": 0.5, "tol": 1e-4})  # |1 − ηλ_max| = 1 exactly
    cases.append({"lam": [2.0, float(rng.uniform(0.3, 0.9))], "lr": 0.5, "tol": float(10 ** rng.uniform(-6, -2))})
    cases.append({"lam": [2.0, 2.0], "lr": 0.5, "tol": float(10 ** rng.uniform(-9, -1))})  # ηλ = 1 everywhere
    for case in cases:
        n = len(case["lam"])
        case["seed"] = int(rng.integers(0, 2**31))
        case["c0"] = rng.choice([-1.0, 1.0], size=n) * rng.uniform(0.5, 2.0, size=n)
    return {"cases": cases}


_DRIVER = """
import numpy as np
result = [steps_to_tolerance(case["lam"] if i % 2 else np.array(case["lam"]), case["lr"], case["tol"])
          for i, case in enumerate(inputs["cases"])]
"""

_HINT = ("Along eigenvector i the error is multiplied by 1 − ηλᵢ at every step: the direction with the largest "
         "|1 − ηλᵢ| is the last to shrink by tol. Round the number of steps up.")


def _verify(inputs, result):
    probes.require(isinstance(result, list) and len(result) == len(inputs["cases"]),
                   "steps_to_tolerance gave too few results.")
    for case, got in zip(inputs["cases"], result, strict=True):
        lam, c0, tol = np.array(case["lam"], dtype=float), np.array(case["c0"], dtype=float), case["tol"]
        n = lam.size
        Q = np.linalg.qr(np.random.default_rng(case["seed"]).normal(size=(n, n)))[0]
        H = (Q * lam) @ Q.T  # a quadratic with these Hessian eigenvalues, eigenvectors the columns of Q
        where = f"for eigenvalues {np.round(lam, 4).tolist()}, η = {case['lr']:.4g}, tol = {tol:.3g}"
        e = Q @ c0
        # One step of the run, measured per eigen-direction, says whether every direction shrinks at all.
        factor = np.max(np.abs(Q.T @ (e - case["lr"] * (H @ e))) / np.abs(c0))
        if factor >= 1 - 1e-9:
            probes.require(got is None, f"steps_to_tolerance returned {got!r} {where}, but gradient descent never gets "
                                        f"there: some direction is multiplied by a factor of size {factor:.4g} ≥ 1 "
                                        "at every step. Return None.")
            continue
        probes.require(isinstance(got, (int, float)) and not isinstance(got, bool) and np.isfinite(got)
                       and float(got).is_integer() and 0 <= got <= 100_000,
                       f"steps_to_tolerance returned {got!r} {where}: expected a whole number of steps. " + _HINT)
        k = int(got)
        sizes = [np.abs(c0)]
        for _ in range(k):  # the run itself: x_{k+1} − x* = e_{k+1} = e_k − η H e_k
            e = e - case["lr"] * (H @ e)
            sizes.append(np.abs(Q.T @ e))
        left = sizes[k] / np.abs(c0)
        probes.require(bool(np.all(left <= tol * (1 + 1e-9))),
                       f"After your {k} steps {where}, the error along the eigenvector with λ = "
                       f"{lam[np.argmax(left)]:.4g} has only shrunk to {left.max():.3g} of its start, above tol: too "
                       "few steps. " + _HINT)
        probes.require(bool(k >= 1 and np.any(sizes[k - 1] / np.abs(c0) > tol * (1 - 1e-9))),
                       f"Already after {k - 1} steps {where} every component of the error has shrunk by tol: {k} is "
                       "one step too many. " + _HINT)


probes.exercise(globals(), inputs=_inputs, driver=_DRIVER, verify=_verify, seed=4096)
### END HIDDEN TESTS


# %% [raw] wrong_answer="06_gradient_descent-steps_to_tolerance-solution" mistake="The number of steps truncated instead of rounded up: one step short."
# ### REPLACE
#     k = max(int(np.ceil(np.log(tol) / np.log(rho))), 1)
#     while rho**k > tol:  # guard the rounding of the logarithms at an exact power
#         k += 1
#     while k > 1 and rho ** (k - 1) <= tol:
#         k -= 1
#     return k
# ### WITH
#     return int(np.log(tol) / np.log(rho))
# ### END


# %% active="py" wrong_answer="06_gradient_descent-steps_to_tolerance-solution" mistake="The smallest |1 − ηλ|, the fastest direction, instead of the slowest."
def steps_to_tolerance(eigenvalues, lr, tol):
    factors = np.abs(1.0 - lr * np.asarray(eigenvalues, dtype=float))
    if factors.max() >= 1.0:
        return None
    rho = float(factors.min())
    if rho == 0.0:
        return 1
    return int(np.ceil(np.log(tol) / np.log(rho)))


# %% active="py" wrong_answer="06_gradient_descent-steps_to_tolerance-solution" mistake="The |·| forgotten: max(1 − ηλ) misses the overshooting directions, whose factor is negative."
def steps_to_tolerance(eigenvalues, lr, tol):
    rho = float(np.max(1.0 - lr * np.asarray(eigenvalues, dtype=float)))
    if rho >= 1.0:
        return None
    if rho <= 0.0:
        return 1
    return int(np.ceil(np.log(tol) / np.log(rho)))


# %% active="py" wrong_answer="06_gradient_descent-steps_to_tolerance-solution" mistake="No divergence case: a factor of size ≥ 1 gives a negative count (or an error) instead of None."
def steps_to_tolerance(eigenvalues, lr, tol):
    rho = float(np.max(np.abs(1.0 - lr * np.asarray(eigenvalues, dtype=float))))
    if rho == 0.0:
        return 1
    return int(np.ceil(np.log(tol) / np.log(rho)))


# %% active="py" wrong_answer="06_gradient_descent-steps_to_tolerance-solution" mistake="ηλ = 1 forgotten: log(0) = −inf gives 0 steps, and 0 steps shrink nothing."
def steps_to_tolerance(eigenvalues, lr, tol):
    rho = float(np.max(np.abs(1.0 - lr * np.asarray(eigenvalues, dtype=float))))
    if rho >= 1.0:
        return None
    with np.errstate(divide="ignore"):
        return int(np.ceil(np.log(tol) / np.log(rho)))


# %% [markdown]
# ### Exercise 5 · Heavy-ball momentum (3 points)
#
# Write `momentum(grad, x0, lr, beta, steps)` for the heavy-ball update of section 6,
#
# $$ x_{k+1} = x_k - \eta \nabla f(x_k) + \beta (x_k - x_{k-1}), \qquad x_{-1} = x_0, $$
#
# returning the trajectory exactly as in Exercise 1. With `beta = 0` it must reproduce gradient descent.
# (It is this function that drives the playground at the end of the unit.)

# %% nbgrader={"grade": false, "grade_id": "06_gradient_descent-momentum-solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
def momentum(grad, x0, lr, beta, steps):
    """Run `steps` steps of heavy-ball momentum x_{k+1} = x_k − lr·grad(x_k) + beta·(x_k − x_{k−1}), x_{−1} = x0.

    Args:
        grad: A function taking a float array of shape (n,) and returning the gradient, shape (n,).
        x0: The start, array-like of shape (n,) (a list of ints is fine); it must not be modified.
        lr: The learning rate η > 0.
        beta: The momentum β, 0 ≤ β < 1; beta = 0 is plain gradient descent.
        steps: The number of steps, an int ≥ 0.

    Returns:
        A float array of shape (steps + 1, n) whose row k is x_k; row 0 is x0 (so steps = 0 gives [x0]).
    """
    ### BEGIN SOLUTION
    x = np.array(x0, dtype=float)
    previous = x.copy()
    trajectory = np.empty((steps + 1, x.size))
    trajectory[0] = x
    for k in range(steps):
        x, previous = x - lr * grad(x) + beta * (x - previous), x
        trajectory[k + 1] = x
    return trajectory
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "06_gradient_descent-momentum", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
def _exact_hb(bowl, x0, lr, beta, steps):  # per eigen-direction, (c_k, c_{k-1}) = M(λ)^k (c_0, c_0)
    lam, Q = np.linalg.eigh(bowl.hessian())
    c0 = Q.T @ (np.asarray(x0, dtype=float) - bowl.minimiser)
    rows = []
    for k in range(steps + 1):
        ck = [(np.linalg.matrix_power(np.array([[1 + beta - lr * li, -beta], [1.0, 0.0]]), k) @ [ci, ci])[0]
              for li, ci in zip(lam, c0, strict=True)]
        rows.append(bowl.minimiser + Q @ np.array(ck))
    return np.array(rows)


# By hand, f = x²/2 (grad x), η = β = 1/2, x_{-1} = x0 = 1: x1 = 1 − 1/2 = 1/2, x2 = 1/2 − 1/4 + (1/2)(1/2 − 1) = 0,
# x3 = 0 − 0 + (1/2)(0 − 1/2) = −1/4.
checks.assert_close(momentum(lambda x: x, [1.0], 0.5, 0.5, 3), [[1.0], [0.5], [0.0], [-0.25]], what="trajectory",
                    where="for f = x²/2, x0 = 1, η = β = 1/2, 3 steps",
                    hint="x_{-1} = x0, so the first step is a plain gradient step; then add +β(x_k − x_{k−1}).")
_bowl = functions.quadratic_with_spectrum([2.0, 0.5], seed=1)
_x0 = np.array([1.0, -2.0])
_saved = _x0.copy()
checks.assert_close(momentum(_bowl.grad, _x0, 0.3, 0.0, 20), _exact_hb(_bowl, _saved, 0.3, 0.0, 20),
                    what="trajectory with β = 0", where="on a quadratic with eigenvalues 2 and 0.5, η = 0.3",
                    hint="With β = 0 heavy ball is plain gradient descent.")
checks.assert_close(momentum(_bowl.grad, _x0, 0.6, 0.7, 30), _exact_hb(_bowl, _saved, 0.6, 0.7, 30),
                    what="trajectory", where="on a quadratic with eigenvalues 2 and 0.5, η = 0.6, β = 0.7",
                    hint="The momentum term is +β(x_k − x_{k−1}), with x_{-1} = x0.")
assert np.array_equal(_x0, _saved), "momentum modified the caller's x0; update a copy instead."
### BEGIN HIDDEN TESTS
# One definition of the hidden checks (calcml.probes): the kernel runs them here on a fixed seed; the grader
# draws each student's own inputs, runs the driver in a sandbox and _verify in its own process.
import numpy as np

from calcml import descent_cases, functions, in_place, probes


def _exact(H, x_star, x0, lr, beta, steps):  # per eigen-direction, (c_k, c_{k−1}) = M(λ)^k (c_0, c_0)
    lam, Q = np.linalg.eigh(H)
    c0 = Q.T @ (np.asarray(x0, dtype=float) - x_star)
    rows = []
    for k in range(steps + 1):
        ck = [(np.linalg.matrix_power(np.array([[1 + beta - lr * li, -beta], [1.0, 0.0]]), k) @ [ci, ci])[0]
              for li, ci in zip(lam, c0, strict=True)]
        rows.append(x_star + Q @ np.array(ck))
    return np.array(rows)


def _inputs(rng):
    cases = []
    for _ in range(5):
        n = int(rng.integers(1, 6))
        lam, H, x_star = descent_cases.random_bowl(rng, n, 0.1, 10.0)
        beta = float(rng.uniform(0.0, 0.95))
        cases.append({"H": H, "x_star": x_star, "beta": beta, "steps": int(rng.integers(1, 31)),
                      "lr": float(rng.uniform(0.05, 0.95)) * 2 * (1 + beta) / lam.max(), "x0": rng.normal(size=n) * 2})
    n = int(rng.integers(1, 5))
    lam, H, x_star = descent_cases.random_bowl(rng, n, 0.5, 2.0)
    cases.append({"H": H, "x_star": x_star, "beta": 0.0, "steps": 15, "lr": 0.4, "x0": rng.normal(size=n)})
    cases.append({"H": H, "x_star": x_star, "beta": 0.5, "steps": 0, "lr": 0.4, "x0": rng.normal(size=n)})
    bound = []
    for beta in (float(rng.uniform(0.2, 0.4)), float(rng.uniform(0.7, 0.9))):
        lam, H, x_star = descent_cases.random_bowl(rng, 3, 0.5, 4.0)
        for factor in (0.9, 1.1):
            bound.append({"H": H, "x_star": x_star, "beta": beta, "factor": factor, "steps": 400,
                          "lr": factor * 2 * (1 + beta) / lam.max(), "x0": np.ones(3)})
    start = [float(rng.uniform(-1.5, -0.5)), float(rng.uniform(0.5, 1.5))]
    rosenbrock = {"x0": start, "lr": 1e-3, "beta": float(rng.uniform(0.5, 0.9)), "steps": int(rng.integers(40, 90))}
    return {"cases": cases, "bound": bound, "rosenbrock": rosenbrock}


_DRIVER = descent_cases.GRADIENTS + """
result = {"cases": [], "x0_after": [], "bound": []}
for case in inputs["cases"]:
    x0 = np.array(case["x0"], dtype=float)
    result["cases"].append(momentum(bowl_gradient(case), x0, case["lr"], case["beta"], case["steps"]))
    result["x0_after"].append(x0)
for case in inputs["bound"]:
    path = np.asarray(momentum(bowl_gradient(case), np.array(case["x0"], dtype=float), case["lr"], case["beta"],
                               case["steps"]), dtype=float)
    result["bound"].append(path[-1] if path.ndim == 2 and len(path) == case["steps"] + 1 else path)
r = inputs["rosenbrock"]
result["rosenbrock"] = momentum(rosenbrock_grad, np.array(r["x0"]), r["lr"], r["beta"], r["steps"])
"""

_HINT = "x_{k+1} = x_k − η∇f(x_k) + β(x_k − x_{k−1}) with x_{-1} = x0; row 0 is x0."


def _verify(inputs, result):
    probes.require(isinstance(result, dict) and isinstance(result.get("cases"), list)
                   and len(result["cases"]) == len(inputs["cases"]), "momentum gave too few results.")
    for case, got in zip(inputs["cases"], result["cases"], strict=True):
        H, x_star, x0 = (np.array(case[k], dtype=float) for k in ("H", "x_star", "x0"))
        probes.close(got, _exact(H, x_star, x0, case["lr"], case["beta"], case["steps"]), what="trajectory",
                     where=f"on a random {x0.size}-D quadratic, η = {case['lr']:.3g}, β = {case['beta']:.3g}",
                     hint=_HINT)
    after = result.get("x0_after")
    probes.require(isinstance(after, list) and len(after) == len(inputs["cases"])
                   and all(in_place.unchanged(a, case["x0"]) for a, case in zip(after, inputs["cases"], strict=True)),
                   "momentum modified the caller's x0; update a copy instead.")
    bound = result.get("bound")
    probes.require(isinstance(bound, list) and len(bound) == len(inputs["bound"]), "momentum gave too few results.")
    for case, last in zip(inputs["bound"], bound, strict=True):
        H, x_star, x0 = (np.array(case[k], dtype=float) for k in ("H", "x_star", "x0"))
        probes.close(last, _exact(H, x_star, x0, case["lr"], case["beta"], case["steps"])[-1], what="last point",
                     where=f"after {case['steps']} steps at {case['factor']} × the stability bound 2(1 + β)/λ_max, "
                           f"β = {case['beta']:.3g}", hint=_HINT)
    r = inputs["rosenbrock"]
    path = np.asarray(result.get("rosenbrock"), dtype=float)
    probes.require(path.shape == (r["steps"] + 1, 2), f"On Rosenbrock with {r['steps']} steps the trajectory has "
                                                      f"shape {path.shape}, not {(r['steps'] + 1, 2)}.")
    probes.close(path[0], r["x0"], what="first row", where="on Rosenbrock", hint="Row 0 must be x0.")
    previous = np.vstack([path[:1], path[:-2]])
    gradients = np.array([functions.rosenbrock_grad(p) for p in path[:-1]])
    expected_next = path[:-1] - r["lr"] * gradients + r["beta"] * (path[:-1] - previous)
    probes.close(path[1:], expected_next, what="rows of the trajectory", where=f"on Rosenbrock, β = {r['beta']:.3g}",
                 hint=_HINT)


probes.exercise(globals(), inputs=_inputs, driver=_DRIVER, verify=_verify, seed=8675309)
### END HIDDEN TESTS


# %% active="py" wrong_answer="06_gradient_descent-momentum-solution" mistake="Wrong sign of the momentum term."
def momentum(grad, x0, lr, beta, steps):
    x = np.array(x0, dtype=float)
    previous = x.copy()
    trajectory = [x.copy()]
    for _ in range(steps):
        x, previous = x - lr * grad(x) - beta * (x - previous), x
        trajectory.append(x.copy())
    return np.array(trajectory)


# %% active="py" wrong_answer="06_gradient_descent-momentum-solution" mistake="The velocity form mixed up with an exponential moving average (v = βv + (1 − β)g): not heavy ball."
def momentum(grad, x0, lr, beta, steps):
    x = np.array(x0, dtype=float)
    v = np.zeros_like(x)
    trajectory = [x.copy()]
    for _ in range(steps):
        v = beta * v + (1 - beta) * grad(x)
        x = x - lr * v
        trajectory.append(x.copy())
    return np.array(trajectory)


# %% active="py" wrong_answer="06_gradient_descent-momentum-solution" mistake="x_{-1} = 0 instead of x0: the first step gets a spurious push of beta * x0."
def momentum(grad, x0, lr, beta, steps):
    x = np.array(x0, dtype=float)
    previous = np.zeros_like(x)
    trajectory = [x.copy()]
    for _ in range(steps):
        x, previous = x - lr * grad(x) + beta * (x - previous), x
        trajectory.append(x.copy())
    return np.array(trajectory)


# %% [markdown]
# ### Exercise 6 · The asymptotic rate of momentum (2 points)
#
# Section 6 tuned $(\eta, \beta)$ so that every eigen-direction's recurrence has the same spectral radius
# $\sqrt\beta$. Any other settings leave some directions outside the window, and then the rate differs from
# direction to direction. Write `momentum_rate(A, lr, beta)`: the asymptotic contraction factor per step of
# heavy ball on $f(x) = \frac12 x^\top A x - b^\top x$ with these settings, that is the spectral radius of the
# iteration on the error, the factor $\rho$ with which the slowest direction shrinks (or grows, when $\rho > 1$)
# in the long run. Derive it from the recurrence of section 6: mind real roots of either sign. $A$ need not be
# symmetric.

# %% nbgrader={"grade": false, "grade_id": "06_gradient_descent-momentum_rate-solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
def momentum_rate(A, lr, beta):
    """The asymptotic contraction factor per step of heavy-ball momentum on f(x) = ½ xᵀAx − bᵀx.

    Args:
        A: An (n, n) float array, not necessarily symmetric; its symmetric part H = (A + Aᵀ)/2 (the Hessian
            of f) is positive definite.
        lr: The learning rate η > 0.
        beta: The momentum β, 0 ≤ β < 1.

    Returns:
        A float ρ ≥ 0: the spectral radius of the linear map that takes (e_k, e_{k−1}) to (e_{k+1}, e_k) for
        the error e_k = x_k − x*; above 1 when heavy ball diverges.
    """
    ### BEGIN SOLUTION
    A = np.asarray(A, dtype=float)
    lam = np.linalg.eigvalsh(0.5 * (A + A.T))
    t = 1 + beta - lr * lam  # each direction: z² − t z + β = 0
    root = np.sqrt((t**2 - 4 * beta).astype(complex))
    return float(np.max(np.maximum(np.abs(t + root), np.abs(t - root))) / 2)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "06_gradient_descent-momentum_rate", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
checks.assert_close(momentum_rate(np.diag([1.0, 0.01]), 4 / 1.1**2, (9 / 11) ** 2), 9 / 11, rtol=1e-6,
                    what="rate", where="with section 6's tuned settings at κ = 100 (η = 4/1.1², β = (9/11)²)",
                    hint="Inside the window the two roots are complex conjugates with |z|² = β, so the rate is √β.")
checks.assert_close(momentum_rate(np.array([[2.0, 1.0], [1.0, 2.0]]), 0.5, 0.0), 0.5, what="rate",
                    where="with β = 0 on the worked example (eigenvalues 1 and 3), η = 1/2",
                    hint="With β = 0 heavy ball is gradient descent: the rate is max |1 − ηλᵢ|.")
checks.assert_close(momentum_rate(np.array([[3.375]]), 1.0, 0.25), 2.0, what="rate",
                    where="for A = [[3.375]], η = 1, β = 1/4 (ηλ = 3.375 > 2 + 2β: divergence)",
                    hint="Here z² − (1 + β − ηλ) z + β = z² + 2.125 z + 0.25 has the real roots −2 and −1/8: the rate "
                         "is the largest modulus, 2.")
checks.assert_close(momentum_rate(np.array([[0.09, 1.0], [-1.0, 0.09]]), 1.0, 0.09), 0.9, what="rate",
                    where="for the non-symmetric A = [[0.09, 1], [−1, 0.09]], η = 1, β = 0.09",
                    hint="The Hessian is (A + Aᵀ)/2 = 0.09 I; then z² − z + 0.09 has the real roots 0.9 and 0.1.")
### BEGIN HIDDEN TESTS
# One definition of the hidden checks (calcml.probes): the kernel runs them here on a fixed seed; the grader
# draws each student's own inputs, runs the driver in a sandbox and _verify in its own process.
import numpy as np

from calcml import functions, probes


def _inputs(rng):
    cases = []
    for t in range(9):  # ηλ_max inside the stable range, past the complex window, or past the stability edge
        lam = np.exp(rng.uniform(np.log(0.05), np.log(20.0), size=int(rng.integers(1, 7))))
        H = functions.quadratic_with_spectrum(lam, seed=int(rng.integers(0, 2**31))).A
        S = rng.normal(size=H.shape) * 3
        beta = float(rng.uniform(0.0, 0.95))
        edge = 2 + 2 * beta
        top = [rng.uniform(0.05, 1.5), rng.uniform((1 + np.sqrt(beta)) ** 2, edge), rng.uniform(edge, edge + 1.5)][t % 3]
        cases.append({"A": H + (S - S.T) if t % 2 else H, "lr": float(top) / lam.max(), "beta": beta})
    c = float(rng.uniform(0.5, 4.0))
    cases.append({"A": [[c]], "lr": float(rng.uniform(0.1, 1.0)) / c, "beta": 0.0})
    return {"cases": cases}


_DRIVER = """
import numpy as np
result = [momentum_rate(np.array(case["A"], dtype=float), case["lr"], case["beta"]) for case in inputs["cases"]]
"""

_HINT = ("Per eigen-direction the error obeys c_{k+1} = (1 + β − ηλ) c_k − β c_{k−1}: the rate is the largest |z| "
         "over the roots of z² − (1 + β − ηλ) z + β, real or complex, and over the eigenvalues λ of (A + Aᵀ)/2.")


def _verify(inputs, result):
    probes.require(isinstance(result, list) and len(result) == len(inputs["cases"]),
                   "momentum_rate gave too few results.")
    for case, got in zip(inputs["cases"], result, strict=True):
        A = np.array(case["A"], dtype=float)
        n, lr, beta = len(A), case["lr"], case["beta"]
        H, eye = 0.5 * (A + A.T), np.eye(len(A))
        # The whole iteration (e_{k+1}, e_k) = T (e_k, e_{k−1}), built from the update rule, not per direction.
        T = np.block([[(1 + beta) * eye - lr * H, -beta * eye], [eye, np.zeros((n, n))]])
        expected = float(np.max(np.abs(np.linalg.eigvals(T))))
        probes.close(got, expected, rtol=1e-6, what="rate", where=f"for a random {n}×{n} A, η = {lr:.4g}, β = {beta:.3g}",
                     hint=_HINT)


probes.exercise(globals(), inputs=_inputs, driver=_DRIVER, verify=_verify, seed=4242)
### END HIDDEN TESTS


# %% active="py" wrong_answer="06_gradient_descent-momentum_rate-solution" mistake="√β in every direction: the tuned window assumed to hold for any settings."
def momentum_rate(A, lr, beta):
    return float(np.sqrt(beta))


# %% active="py" wrong_answer="06_gradient_descent-momentum_rate-solution" mistake="Gradient descent's rate max |1 − ηλ|: the momentum term ignored."
def momentum_rate(A, lr, beta):
    A = np.asarray(A, dtype=float)
    return float(np.max(np.abs(1 - lr * np.linalg.eigvalsh(0.5 * (A + A.T)))))


# %% active="py" wrong_answer="06_gradient_descent-momentum_rate-solution" mistake="Only the + root of the quadratic formula: when 1 + β − ηλ < 0 the − root has the larger modulus."
def momentum_rate(A, lr, beta):
    A = np.asarray(A, dtype=float)
    t = 1 + beta - lr * np.linalg.eigvalsh(0.5 * (A + A.T))
    return float(np.max(np.abs(t + np.sqrt((t**2 - 4 * beta).astype(complex)))) / 2)


# %% active="py" wrong_answer="06_gradient_descent-momentum_rate-solution" mistake="No symmetrisation: eigvalsh reads only the lower triangle of a non-symmetric A."
def momentum_rate(A, lr, beta):
    t = 1 + beta - lr * np.linalg.eigvalsh(np.asarray(A, dtype=float))
    root = np.sqrt((t**2 - 4 * beta).astype(complex))
    return float(np.max(np.maximum(np.abs(t + root), np.abs(t - root))) / 2)


# %% active="py" wrong_answer="06_gradient_descent-momentum_rate-solution" mistake="The smallest spectral radius over the directions: the fastest direction, not the slowest."
def momentum_rate(A, lr, beta):
    A = np.asarray(A, dtype=float)
    t = 1 + beta - lr * np.linalg.eigvalsh(0.5 * (A + A.T))
    root = np.sqrt((t**2 - 4 * beta).astype(complex))
    return float(np.min(np.maximum(np.abs(t + root), np.abs(t - root))) / 2)


# %% active="py" wrong_answer="06_gradient_descent-momentum_rate-solution" mistake="The course's own (private) descent_playground._spectral_radius called instead of the derivation."
def momentum_rate(A, lr, beta):
    A = np.asarray(A, dtype=float)
    return float(descent_playground._spectral_radius(lr, beta, np.linalg.eigvalsh(0.5 * (A + A.T))))


# %% [markdown]
# ## The descent playground
#
# The playground runs **your** `momentum` from Exercise 5 (so it works once that exercise passes). The solid
# curve is heavy ball with your $\beta$; the dashed one is the same function with $\beta = 0$, plain gradient
# descent, for comparison. The readout says, live, whether your settings are inside the stability region
# $\eta\lambda_{\max} < 2(1 + \beta)$, and predicts the asymptotic contraction per step, the spectral radius. Things to
# try:
#
# - With $\beta = 0$, push $\eta$ just past $2$ (here $\lambda_{\max} = 1$): the readout turns to UNSTABLE and
#   the loss curve turns up. Now raise $\beta$: the same $\eta$ becomes stable again.
# - Raise $\kappa$ to 100 and find the best $\eta$ for plain descent; compare with $\eta^\star = 2/(1 + 1/\kappa)$.
# - At $\kappa = 100$, set the tuned values $\beta = (9/11)^2 \approx 0.67$, $\eta = 4/1.1^2 \approx 3.3$ and
#   count the steps to $10^{-10}$ against plain descent.
# - Switch the landscape to the Rosenbrock valley.

# %%
descent_playground.playground(momentum)

# %% [markdown]
# ## Rosenbrock, with your optimisers
#
# From the classic start $(-1.2, 1)$ with $\eta = 10^{-3}$ (half the local stability limit at the minimum),
# 2000 steps of plain gradient descent are still crawling along the valley floor, while momentum
# $\beta = 0.9$ (which allows 1.9× larger $\eta\lambda$ and remembers the direction of the valley) has brought
# $f - f^\star$ below $10^{-8}$.

# %%
descent_playground.playground(momentum, problem="rosenbrock", lr=1e-3, beta=0.9, steps=2000)

# %% [markdown]
# ## What you can now do
#
# - Write gradient descent and heavy-ball momentum as functions that return whole trajectories, and test them
#   against the closed form $e_k = (I - \eta A)^k e_0$.
# - Split the error of gradient descent on a quadratic into eigen-directions of the Hessian
#   $\frac12(A + A^\top)$, each contracting by its own factor $|1 - \eta\lambda_i|$.
# - Count the steps gradient descent needs to shrink every component of the error by a given factor, from the
#   slowest factor $\max_i |1 - \eta\lambda_i|$.
# - Predict divergence from $\eta\lambda_{\max} > 2$ (and no convergence at $\eta\lambda_{\max} = 2$), even when
#   the Hessian has to be read off the data of a least-squares loss; choose the best fixed step
#   $\eta^\star = 2/(\lambda_{\min} + \lambda_{\max})$, also with the Hessian at the minimum of a function that
#   is not a quadratic; and read the condition number $\kappa$ as the number of steps per digit.
# - Compute momentum's asymptotic rate for any $(\eta, \beta)$ from the roots of its recurrence, tune it so that
#   every direction contracts at the asymptotic rate $(\sqrt\kappa - 1)/(\sqrt\kappa + 1)$, knowing that its
#   error may first grow, and explain why the curved, ill-conditioned valley of Rosenbrock defeats plain
#   gradient descent.
#
# | quantity | gradient descent | heavy ball ($\beta$) |
# |---|---|---|
# | error recursion per eigen-direction | $c_{k+1} = (1 - \eta\lambda) c_k$ | $c_{k+1} = (1 + \beta - \eta\lambda) c_k - \beta c_{k-1}$ |
# | stable iff | $0 < \eta\lambda_{\max} < 2$ | $0 < \eta\lambda_{\max} < 2 + 2\beta$ (with $0 \le \beta < 1$) |
# | best settings | $\eta^\star = \frac{2}{\lambda_{\min} + \lambda_{\max}}$ | $\eta = \frac{4}{(\sqrt{\lambda_{\max}} + \sqrt{\lambda_{\min}})^2}$, $\sqrt\beta = \frac{\sqrt\kappa - 1}{\sqrt\kappa + 1}$ |
# | contraction per step | $\frac{\kappa - 1}{\kappa + 1}$, at every step | $\frac{\sqrt\kappa - 1}{\sqrt\kappa + 1}$, asymptotically (the error may first grow) |
# | steps per digit, large $\kappa$ | $\approx 1.15\,\kappa$ | $\approx 1.15\,\sqrt\kappa$ |
#
# The curvature sets both the largest safe step and the speed. On a real loss the Hessian changes from place to
# place, as on Rosenbrock, so these bounds are local guides rather than guarantees; that is why adaptive methods
# exist.
#
# **Next: unit 7, *Gradients of the standard losses*.** Every optimiser here took `grad` as given. Unit 7
# derives the gradients of the losses real models minimise (mean squared error, softmax cross-entropy, ridge),
# and meets the quadratic of this unit again: the ridge loss is one, and its penalty lowers the condition number.
