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
#   contracts by its own factor $|1 - \eta\lambda_i|$;
# - predict divergence from the threshold $\eta < 2/\lambda_{\max}$, and read the condition number
#   $\kappa = \lambda_{\max}/\lambda_{\min}$ off a zig-zagging trajectory;
# - derive the best fixed step $\eta^\star = 2/(\lambda_{\min} + \lambda_{\max})$ and its rate
#   $(\kappa - 1)/(\kappa + 1)$, and momentum's stability bound $\eta\lambda < 2 + 2\beta$ and tuned asymptotic
#   rate $(\sqrt\kappa - 1)/(\sqrt\kappa + 1)$, and see why momentum's error can first grow;
# - explain why plain gradient descent crawls along Rosenbrock's banana-shaped valley.
#
# You need the gradient of a quadratic form (unit 2) and the eigenvalues and eigenvectors of a symmetric matrix
# (section 2 recalls what is used).

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
# Call the extreme eigenvalues $\mu = \lambda_{\min}$ and $L = \lambda_{\max}$. After $k$ steps the error has
# shrunk at least by the worst factor to the power $k$,
#
# $$ \|e_k\| \le \rho(\eta)^k \|e_0\|, \qquad \rho(\eta) = \max_i |1 - \eta\lambda_i| = \max\bigl(|1 - \eta\mu|,\ |1 - \eta L|\bigr), $$
#
# because $1 - \eta\lambda$ is linear in $\lambda$, so its extremes sit at the ends of the spectrum. As
# $\eta$ grows, $|1 - \eta\mu|$ falls and, past $1/L$, $|1 - \eta L|$ rises: the best step balances them with
# opposite signs, $1 - \eta\mu = \eta L - 1$:
#
# $$ \eta^\star = \frac{2}{\mu + L}, \qquad \rho(\eta^\star) = 1 - \frac{2\mu}{\mu + L} = \frac{L - \mu}{L + \mu} = \frac{\kappa - 1}{\kappa + 1}, \qquad \kappa = \frac{L}{\mu} . $$
#
# The **condition number** $\kappa$ is all that matters. Since $\ln\frac{\kappa-1}{\kappa+1} \approx -2/\kappa$
# for large $\kappa$, gaining one decimal digit of accuracy takes about $\frac{\ln 10}{2}\,\kappa \approx 1.15\,\kappa$
# steps even with the best fixed step: a problem with $\kappa = 1000$ needs over a thousand steps per digit.

# %%
mu, L = 0.1, 1.0
etas = np.linspace(0.0, 2.2, 441)
ax = plots.new_axes("learning rate η", "contraction per step ρ(η)", "The V of ρ(η) for κ = 10 (μ = 0.1, L = 1)",
                   figsize=(9.5, 4.0))
ax.plot(etas, np.abs(1 - etas * mu), ":", color=plots.COLORS["sky_blue"], label="|1 − ημ|  (flat direction)")
ax.plot(etas, np.abs(1 - etas * L), ":", color=plots.COLORS["orange"], label="|1 − ηL|  (steep direction)")
ax.plot(etas, np.maximum(np.abs(1 - etas * mu), np.abs(1 - etas * L)), color=plots.COLORS["blue"], lw=2.5,
        label="ρ(η), the worst of the two")
ax.axvline(2 / (mu + L), color=plots.COLORS["bluish_green"], ls="--", label="η* = 2/(μ + L): ρ = (κ−1)/(κ+1)")
ax.axvline(2 / L, color=plots.COLORS["vermillion"], ls="--", label="2/L: divergence beyond")
ax.axhline(1.0, color=plots.COLORS["black"], lw=0.8)
ax.set_ylim(0, 1.3)
ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize="small")
plt.show()

# %% [markdown]
# What does a large $\kappa$ look like? The level sets of $f$ are ellipses whose axes have lengths
# proportional to $1/\sqrt{\lambda_i}$, so $\kappa = 100$ is a valley ten times longer than it is wide. The
# gradient points across the valley, not along it: at $\eta^\star$ the steep component is multiplied by
# $1 - \eta^\star L = -\frac{\kappa - 1}{\kappa + 1} \approx -1$ (it flips sides every step) while the flat one
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
# the root $\pm\sqrt\beta$ is double). Fit the whole spectrum $[\mu, L]$ into that window, tightly:
#
# $$ \eta\mu = (1 - \sqrt\beta)^2, \quad \eta L = (1 + \sqrt\beta)^2
# \quad\Longrightarrow\quad \sqrt\kappa = \frac{1 + \sqrt\beta}{1 - \sqrt\beta}
# \quad\Longrightarrow\quad \sqrt\beta = \frac{\sqrt\kappa - 1}{\sqrt\kappa + 1}, \qquad
# \eta = \frac{(1 + \sqrt\beta)^2}{L} = \frac{4}{(\sqrt L + \sqrt\mu)^2} . $$
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
# $\eta L = (1 + \sqrt\beta)^2 \approx 3.3$. The first step is a plain gradient step, far past gradient descent's
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
# The exercises build the two optimisers and the formulas that tune them. Exercises 2, 3 and 5 take the
# matrix $A$ of $f(x) = \frac12 x^\top A x - b^\top x$, which **need not be symmetric**: as section 1
# showed, what gradient descent sees is the Hessian $H = \frac12(A + A^\top)$. `np.linalg.eigvalsh(H)` returns
# its (real) eigenvalues in ascending order. Each test cell grades its own exercise only.
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

from calcml import functions, probes


def _random_bowl(rng, n, low, high):  # f(x) = ½ (x − x*)ᵀ H (x − x*) with eigenvalues log-uniform in [low, high]
    lam = np.exp(rng.uniform(np.log(low), np.log(high), size=n))
    quadratic = functions.quadratic_with_spectrum(lam, seed=int(rng.integers(0, 2**31)))
    return lam, quadratic.A, np.linalg.solve(quadratic.A, quadratic.b)


def _exact(H, x_star, x0, lr, steps):  # x_k = x* + Q (1 − ηΛ)^k Qᵀ (x0 − x*): a closed form, no iteration
    lam, Q = np.linalg.eigh(H)
    return x_star + ((1 - lr * lam) ** np.arange(steps + 1)[:, None] * (Q.T @ (x0 - x_star))) @ Q.T


def _same(after, before):  # the caller's array, as the driver found it after the call (raw data), is still `before`
    return (isinstance(after, list) and np.shape(after) == np.shape(before)
            and bool(np.array_equal(np.asarray(after, dtype=float), np.asarray(before, dtype=float))))


def _inputs(rng):
    cases = []
    for _ in range(5):
        n = int(rng.integers(1, 7))
        lam, H, x_star = _random_bowl(rng, n, 0.1, 10.0)
        cases.append({"H": H, "x_star": x_star, "lr": float(rng.uniform(0.05, 1.95)) / lam.max(),
                      "steps": int(rng.integers(1, 41)), "x0": rng.normal(size=n) * 3})
    n = int(rng.integers(2, 5))
    lam, H, x_star = _random_bowl(rng, n, 0.5, 2.0)
    cases.append({"H": H, "x_star": x_star, "lr": 0.3, "steps": 0, "x0": rng.normal(size=n)})
    start = [float(rng.uniform(-1.5, -0.5)), float(rng.uniform(0.5, 1.5))]
    return {"cases": cases, "rosenbrock": {"x0": start, "lr": 1e-3, "steps": int(rng.integers(40, 80))},
            "integer": rng.integers(-5, 6, size=int(rng.integers(2, 5))).tolist(), "integer_lr": 0.1}


_DRIVER = """
import numpy as np

def bowl_gradient(case):
    H, x_star = np.array(case["H"], dtype=float), np.array(case["x_star"], dtype=float)
    return lambda x: H @ (np.asarray(x, dtype=float) - x_star)

def rosenbrock_grad(p):
    x, y = p[0], p[1]
    return np.array([-2 * (1 - x) - 400 * x * (y - x**2), 200 * (y - x**2)])

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
                   and all(_same(a, case["x0"]) for a, case in zip(after, inputs["cases"], strict=True))
                   and _same(result.get("rosenbrock_x0_after"), r["x0"]),
                   "gradient_descent changed the caller's x0: copy it first (np.array(x0, dtype=float)), then update "
                   "the copy.")
    x_int = np.array(inputs["integer"], dtype=float)
    probes.close(result.get("integer"), x_int * (1 - 2 * inputs["integer_lr"]) ** np.arange(5)[:, None],
                 what="trajectory", where=f"from an integer array x0 = {inputs['integer']}",
                 hint="Convert x0 to floats first.")
    integer = result.get("integer_after")
    probes.require(isinstance(integer, dict) and integer.get("kind") == "i" and _same(integer.get("values"), x_int),
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
# ### Exercise 2 · The divergence threshold (1 point)
#
# Write `divergence_threshold(A)`, the learning rate $2/\lambda_{\max}$ beyond which gradient descent on
# $f(x) = \frac12 x^\top A x - b^\top x$ diverges (section 4). Remember that the Hessian is the symmetric part
# of $A$.

# %% nbgrader={"grade": false, "grade_id": "06_gradient_descent-divergence_threshold-solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
def divergence_threshold(A):
    """The largest stable learning rate 2 / λ_max(H) of gradient descent on f(x) = ½ xᵀAx − bᵀx.

    Args:
        A: An (n, n) float array, n ≥ 1, not necessarily symmetric; its symmetric part H = (A + Aᵀ)/2,
            the Hessian of f, is positive definite.

    Returns:
        The float 2 / λ_max, with λ_max the largest eigenvalue of H.
    """
    ### BEGIN SOLUTION
    A = np.asarray(A, dtype=float)
    return float(2.0 / np.linalg.eigvalsh(0.5 * (A + A.T))[-1])
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "06_gradient_descent-divergence_threshold", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
_sym = "The Hessian of ½xᵀAx is (A + Aᵀ)/2: symmetrise A, then take its largest eigenvalue with np.linalg.eigvalsh."
checks.assert_close(divergence_threshold(np.diag([1.0, 4.0])), 2 / 4, what="threshold", where="for A = diag(1, 4)",
                    hint="The steepest direction (λ = 4) decides: η < 2/λ_max.")
checks.assert_close(divergence_threshold(np.array([[2.0, 1.0], [1.0, 2.0]])), 2 / 3, what="threshold",
                    where="for the worked example A = [[2, 1], [1, 2]] (eigenvalues 1 and 3)")
checks.assert_close(divergence_threshold(np.array([[2.0, 2.0], [0.0, 2.0]])), 2 / 3, what="threshold",
                    where="for the non-symmetric A = [[2, 2], [0, 2]], whose symmetric part is [[2, 1], [1, 2]]",
                    hint=_sym)
### BEGIN HIDDEN TESTS
# One definition of the hidden checks (calcml.probes): the kernel runs them here on a fixed seed; the grader
# draws each student's own inputs, runs the driver in a sandbox and _verify in its own process.
import numpy as np

from calcml import functions, probes


def _matrices(rng, count, low, high, n_min):  # A = H (+ a large skew part on odd trials) and H's eigenvalues
    lams = (np.exp(rng.uniform(np.log(low), np.log(high), size=int(rng.integers(n_min, 8)))) for _ in range(count))
    Hs = ((lam, functions.quadratic_with_spectrum(lam, seed=int(rng.integers(0, 2**31))).A) for lam in lams)
    return [{"A": H + (S - S.T) if t % 2 else H, "lam": lam}
            for t, (lam, H) in enumerate(Hs) for S in [rng.normal(size=H.shape) * 3]]


def _inputs(rng):
    cases = _matrices(rng, 6, 0.05, 20.0, 1)
    c = float(rng.uniform(1, 5))
    cases.append({"A": [[c, 4.0], [-4.0, c]], "lam": [c, c]})
    d = float(rng.uniform(0.5, 8))
    cases.append({"A": [[d]], "lam": [d]})
    return {"cases": cases}


_DRIVER = """
import numpy as np
result = [divergence_threshold(np.array(case["A"], dtype=float)) for case in inputs["cases"]]
"""

_HINT = "The Hessian of ½xᵀAx is (A + Aᵀ)/2: symmetrise A, then use its eigenvalues (np.linalg.eigvalsh)."


def _verify(inputs, result):
    probes.require(isinstance(result, list) and len(result) == len(inputs["cases"]),
                   "divergence_threshold gave too few results.")
    for case, got in zip(inputs["cases"], result, strict=True):
        A, lam = np.array(case["A"]), np.array(case["lam"])
        probes.close(got, 2 / lam.max(), what="threshold", where=f"for a random {len(lam)}×{len(lam)} A",
                     hint="η < 2/λ_max: the steepest direction decides. " + _HINT)
        # The independent fact: just below the threshold GD shrinks the error, just above it the error explodes.
        H = 0.5 * (A + A.T)
        e0 = np.ones(len(lam))
        for factor, shrinks in [(0.98, True), (1.02, False)]:
            e = np.linalg.matrix_power(np.eye(len(lam)) - factor * float(got) * H, 400) @ e0
            probes.require(bool(np.linalg.norm(e) < np.linalg.norm(e0)) == shrinks,
                           f"Gradient descent with η = {factor} × your threshold {float(got):.6g} "
                           f"{'diverges' if shrinks else 'still converges'}: it is not the edge of stability. "
                           + _HINT)


probes.exercise(globals(), inputs=_inputs, driver=_DRIVER, verify=_verify, seed=777)
### END HIDDEN TESTS


# %% active="py" wrong_answer="06_gradient_descent-divergence_threshold-solution" mistake="1/λ_max: the step that kills the steepest direction, not the edge of stability."
def divergence_threshold(A):
    A = np.asarray(A, dtype=float)
    return float(1.0 / np.linalg.eigvalsh(0.5 * (A + A.T))[-1])


# %% active="py" wrong_answer="06_gradient_descent-divergence_threshold-solution" mistake="2/λ_min: the flattest direction is not the one that blows up."
def divergence_threshold(A):
    A = np.asarray(A, dtype=float)
    return float(2.0 / np.linalg.eigvalsh(0.5 * (A + A.T))[0])


# %% active="py" wrong_answer="06_gradient_descent-divergence_threshold-solution" mistake="Eigenvalues of A itself, not of its symmetric part (and eigvals is not sorted)."
def divergence_threshold(A):
    return float(2.0 / np.max(np.linalg.eigvals(np.asarray(A, dtype=float)).real))


# %% [markdown]
# ### Exercise 3 · The best fixed step (2 points)
#
# Write `best_fixed_step(A)`, the step $\eta^\star = 2/(\lambda_{\min} + \lambda_{\max})$ of section 5, which
# makes the worst contraction factor $\max_i |1 - \eta\lambda_i|$ as small as it can be. (Check: for the
# worked example it should give $1/2$.)

# %% nbgrader={"grade": false, "grade_id": "06_gradient_descent-best_fixed_step-solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
def best_fixed_step(A):
    """The learning rate 2 / (λ_min + λ_max) that makes gradient descent on ½ xᵀAx − bᵀx contract fastest.

    Args:
        A: An (n, n) float array, n ≥ 1, not necessarily symmetric; its symmetric part H = (A + Aᵀ)/2 (the
            Hessian of f) is positive definite.

    Returns:
        The float 2 / (λ_min + λ_max), with λ_min, λ_max the extreme eigenvalues of H (1/λ when n = 1).
    """
    ### BEGIN SOLUTION
    A = np.asarray(A, dtype=float)
    lam = np.linalg.eigvalsh(0.5 * (A + A.T))
    return float(2.0 / (lam[0] + lam[-1]))
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "06_gradient_descent-best_fixed_step", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
_sym = "The Hessian of ½xᵀAx is (A + Aᵀ)/2: symmetrise A, then use its extreme eigenvalues (np.linalg.eigvalsh)."
checks.assert_close(best_fixed_step(np.array([[2.0, 1.0], [1.0, 2.0]])), 0.5, what="best step",
                    where="for the worked example A = [[2, 1], [1, 2]]",
                    hint="There the factors 1 − η and 1 − 3η balance at η = 1/2.")
checks.assert_close(best_fixed_step(np.diag([1.0, 4.0])), 2 / 5, what="best step", where="for A = diag(1, 4)",
                    hint="η* balances |1 − ηλ_min| = |1 − ηλ_max| with opposite signs.")
checks.assert_close(best_fixed_step(np.array([[2.0, 2.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 1.0]])), 0.5,
                    what="best step", where="for the non-symmetric A = [[2, 2, 0], [0, 2, 0], [0, 0, 1]] "
                    "(its symmetric part has eigenvalues 1, 1 and 3)", hint=_sym)
### BEGIN HIDDEN TESTS
# One definition of the hidden checks (calcml.probes): the kernel runs them here on a fixed seed; the grader
# draws each student's own inputs, runs the driver in a sandbox and _verify in its own process.
import numpy as np

from calcml import functions, probes


def _matrices(rng, count, low, high, n_min):  # A = H (+ a large skew part on odd trials) and H's eigenvalues
    lams = (np.exp(rng.uniform(np.log(low), np.log(high), size=int(rng.integers(n_min, 8)))) for _ in range(count))
    Hs = ((lam, functions.quadratic_with_spectrum(lam, seed=int(rng.integers(0, 2**31))).A) for lam in lams)
    return [{"A": H + (S - S.T) if t % 2 else H, "lam": lam}
            for t, (lam, H) in enumerate(Hs) for S in [rng.normal(size=H.shape) * 3]]


def _inputs(rng):
    cases = _matrices(rng, 6, 0.05, 20.0, 2)
    c = float(rng.uniform(0.5, 5))
    cases.append({"A": (c * np.eye(3)).tolist(), "lam": [c, c, c]})
    d = float(rng.uniform(0.5, 8))
    cases.append({"A": [[d]], "lam": [d]})
    return {"cases": cases}


_DRIVER = """
import numpy as np
result = [best_fixed_step(np.array(case["A"], dtype=float)) for case in inputs["cases"]]
"""

_HINT = "The Hessian of ½xᵀAx is (A + Aᵀ)/2: symmetrise A, then use its eigenvalues (np.linalg.eigvalsh)."


def _verify(inputs, result):
    probes.require(isinstance(result, list) and len(result) == len(inputs["cases"]),
                   "best_fixed_step gave too few results.")
    for case, got in zip(inputs["cases"], result, strict=True):
        A, lam = np.array(case["A"]), np.array(case["lam"])
        probes.close(got, 2 / (lam.min() + lam.max()), what="best step", where=f"for a random {len(lam)}×{len(lam)} A",
                     hint="η* balances |1 − ηλ_min| = |1 − ηλ_max| with opposite signs. " + _HINT)
        kappa = lam.max() / lam.min()
        mine = float(np.max(np.abs(1 - float(got) * lam)))
        probes.close(mine, (kappa - 1) / (kappa + 1), what="worst contraction factor of your step",
                     where=f"for κ = {kappa:.4g}")
        # Independent facts: no step on a fine grid does better in the worst direction, and measured over 200
        # steps (the 2-norm of (I − ηH)^200, the worst start) no nearby step shrinks errors more.
        worst = np.max(np.abs(1 - np.multiply.outer(np.linspace(1e-3, 2, 2000) / lam.max(), lam)), axis=-1)
        probes.require(bool(mine <= worst.min() + 1e-12), "Another fixed step contracts faster than yours in the "
                                                          "worst direction; balance the two extreme factors.")
        H = 0.5 * (A + A.T)
        shrink = [np.linalg.norm(np.linalg.matrix_power(np.eye(len(lam)) - r * float(got) * H, 200), 2)
                  for r in (1.0, 0.8, 0.95, 1.05, 1.2)]
        probes.require(bool(shrink[0] <= min(shrink[1:]) * (1 + 1e-9)),
                       f"After 200 steps GD with your step shrinks the worst error to {shrink[0]:.3g}×, but a nearby "
                       f"step reaches {min(shrink[1:]):.3g}×.")


probes.exercise(globals(), inputs=_inputs, driver=_DRIVER, verify=_verify, seed=31415)
### END HIDDEN TESTS


# %% active="py" wrong_answer="06_gradient_descent-best_fixed_step-solution" mistake="1/(λ_min + λ_max): a factor 2 lost."
def best_fixed_step(A):
    A = np.asarray(A, dtype=float)
    lam = np.linalg.eigvalsh(0.5 * (A + A.T))
    return float(1.0 / (lam[0] + lam[-1]))


# %% active="py" wrong_answer="06_gradient_descent-best_fixed_step-solution" mistake="1/λ_max, the safe textbook choice: stable, but not the fastest."
def best_fixed_step(A):
    A = np.asarray(A, dtype=float)
    return float(1.0 / np.linalg.eigvalsh(0.5 * (A + A.T))[-1])


# %% active="py" wrong_answer="06_gradient_descent-best_fixed_step-solution" mistake="eigvalsh on the non-symmetric A: it silently reads only the lower triangle."
def best_fixed_step(A):
    lam = np.linalg.eigvalsh(np.asarray(A, dtype=float))
    return float(2.0 / (lam[0] + lam[-1]))


# %% [markdown]
# ### Exercise 4 · Heavy-ball momentum (3 points)
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

from calcml import functions, probes


def _random_bowl(rng, n, low, high):  # f(x) = ½ (x − x*)ᵀ H (x − x*) with eigenvalues log-uniform in [low, high]
    lam = np.exp(rng.uniform(np.log(low), np.log(high), size=n))
    quadratic = functions.quadratic_with_spectrum(lam, seed=int(rng.integers(0, 2**31)))
    return lam, quadratic.A, np.linalg.solve(quadratic.A, quadratic.b)


def _exact(H, x_star, x0, lr, beta, steps):  # per eigen-direction, (c_k, c_{k−1}) = M(λ)^k (c_0, c_0)
    lam, Q = np.linalg.eigh(H)
    c0 = Q.T @ (np.asarray(x0, dtype=float) - x_star)
    rows = []
    for k in range(steps + 1):
        ck = [(np.linalg.matrix_power(np.array([[1 + beta - lr * li, -beta], [1.0, 0.0]]), k) @ [ci, ci])[0]
              for li, ci in zip(lam, c0, strict=True)]
        rows.append(x_star + Q @ np.array(ck))
    return np.array(rows)


def _same(after, before):  # the caller's array, as the driver found it after the call (raw data), is still `before`
    return (isinstance(after, list) and np.shape(after) == np.shape(before)
            and bool(np.array_equal(np.asarray(after, dtype=float), np.asarray(before, dtype=float))))


def _inputs(rng):
    cases = []
    for _ in range(5):
        n = int(rng.integers(1, 6))
        lam, H, x_star = _random_bowl(rng, n, 0.1, 10.0)
        beta = float(rng.uniform(0.0, 0.95))
        cases.append({"H": H, "x_star": x_star, "beta": beta, "steps": int(rng.integers(1, 31)),
                      "lr": float(rng.uniform(0.05, 0.95)) * 2 * (1 + beta) / lam.max(), "x0": rng.normal(size=n) * 2})
    n = int(rng.integers(1, 5))
    lam, H, x_star = _random_bowl(rng, n, 0.5, 2.0)
    cases.append({"H": H, "x_star": x_star, "beta": 0.0, "steps": 15, "lr": 0.4, "x0": rng.normal(size=n)})
    cases.append({"H": H, "x_star": x_star, "beta": 0.5, "steps": 0, "lr": 0.4, "x0": rng.normal(size=n)})
    bound = []
    for beta in (float(rng.uniform(0.2, 0.4)), float(rng.uniform(0.7, 0.9))):
        lam, H, x_star = _random_bowl(rng, 3, 0.5, 4.0)
        for factor in (0.9, 1.1):
            bound.append({"H": H, "x_star": x_star, "beta": beta, "factor": factor, "steps": 400,
                          "lr": factor * 2 * (1 + beta) / lam.max(), "x0": np.ones(3)})
    start = [float(rng.uniform(-1.5, -0.5)), float(rng.uniform(0.5, 1.5))]
    rosenbrock = {"x0": start, "lr": 1e-3, "beta": float(rng.uniform(0.5, 0.9)), "steps": int(rng.integers(40, 90))}
    return {"cases": cases, "bound": bound, "rosenbrock": rosenbrock}


_DRIVER = """
import numpy as np

def bowl_gradient(case):
    H, x_star = np.array(case["H"], dtype=float), np.array(case["x_star"], dtype=float)
    return lambda x: H @ (np.asarray(x, dtype=float) - x_star)

def rosenbrock_grad(p):
    x, y = p[0], p[1]
    return np.array([-2 * (1 - x) - 400 * x * (y - x**2), 200 * (y - x**2)])

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
                   and all(_same(a, case["x0"]) for a, case in zip(after, inputs["cases"], strict=True)),
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
# ### Exercise 5 · Tuned momentum (2 points)
#
# Write `tuned_momentum(A)`, returning the pair `(lr, beta)` derived at the end of section 6:
#
# $$ \eta = \frac{4}{(\sqrt{\lambda_{\max}} + \sqrt{\lambda_{\min}})^2}, \qquad
# \beta = \left(\frac{\sqrt\kappa - 1}{\sqrt\kappa + 1}\right)^2, \qquad \kappa = \frac{\lambda_{\max}}{\lambda_{\min}}, $$
#
# with the eigenvalues of the Hessian $\frac12(A + A^\top)$ again. The tests check the defining property: with
# your pair, every eigen-direction's recurrence has spectral radius (asymptotic rate) $(\sqrt\kappa - 1)/(\sqrt\kappa + 1)$.

# %% nbgrader={"grade": false, "grade_id": "06_gradient_descent-tuned_momentum-solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
def tuned_momentum(A):
    """Polyak's heavy-ball settings for f(x) = ½ xᵀAx − bᵀx, with asymptotic rate (√κ−1)/(√κ+1) in every direction.

    Args:
        A: An (n, n) float array, not necessarily symmetric; its symmetric part H = (A + Aᵀ)/2 (the Hessian
            of f) is positive definite.

    Returns:
        A tuple (lr, beta) of floats: lr = 4 / (√λ_max + √λ_min)² and beta = ((√κ − 1)/(√κ + 1))², with
        λ_min, λ_max the extreme eigenvalues of H and κ = λ_max / λ_min its condition number (κ = 1 gives
        beta = 0 and lr = 1/λ).
    """
    ### BEGIN SOLUTION
    A = np.asarray(A, dtype=float)
    lam = np.linalg.eigvalsh(0.5 * (A + A.T))
    small, large = np.sqrt(lam[0]), np.sqrt(lam[-1])
    return float(4.0 / (large + small) ** 2), float(((large - small) / (large + small)) ** 2)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "06_gradient_descent-tuned_momentum", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
def _hb_radius(lr, beta, lam):  # the largest |root| of z² − (1 + β − ηλ) z + β over the eigenvalues
    return max(np.max(np.abs(np.linalg.eigvals(np.array([[1 + beta - lr * li, -beta], [1.0, 0.0]])))) for li in lam)


def _check_tuned(A, lam, where):
    result = tuned_momentum(A)
    assert np.shape(result) == (2,), f"tuned_momentum should return a pair (lr, beta), not {result!r}."
    lr, beta = float(result[0]), float(result[1])
    kappa = max(lam) / min(lam)
    target = (np.sqrt(kappa) - 1) / (np.sqrt(kappa) + 1)
    sym = "" if np.array_equal(A, A.T) else " A is not symmetric here: the Hessian is (A + Aᵀ)/2."
    checks.assert_close(beta, target**2, what="β", where=where, hint="β is the square of (√κ − 1)/(√κ + 1)." + sym)
    checks.assert_close(lr, 4 / (np.sqrt(max(lam)) + np.sqrt(min(lam))) ** 2, what="learning rate η", where=where,
                        hint="η = 4/(√λ_max + √λ_min)², from η λ_max = (1 + √β)²." + sym)
    checks.assert_close(_hb_radius(lr, beta, lam), target, what="contraction per step of heavy ball with your (η, β)",
                        where=where, rtol=1e-6)


_check_tuned(np.array([[2.0, 1.0], [1.0, 2.0]]), [1.0, 3.0], "for the worked example A = [[2, 1], [1, 2]]")
_check_tuned(np.diag([0.01, 0.3, 1.0]), [0.01, 0.3, 1.0], "for A = diag(0.01, 0.3, 1)")
_check_tuned(np.array([[2.0, 2.0], [0.0, 2.0]]), [1.0, 3.0], "for the non-symmetric A = [[2, 2], [0, 2]]")
### BEGIN HIDDEN TESTS
# One definition of the hidden checks (calcml.probes): the kernel runs them here on a fixed seed; the grader
# draws each student's own inputs, runs the driver in a sandbox and _verify in its own process.
import numpy as np

from calcml import functions, probes


def _matrices(rng, count, low, high, n_min):  # A = H (+ a large skew part on odd trials) and H's eigenvalues
    lams = (np.exp(rng.uniform(np.log(low), np.log(high), size=int(rng.integers(n_min, 8)))) for _ in range(count))
    Hs = ((lam, functions.quadratic_with_spectrum(lam, seed=int(rng.integers(0, 2**31))).A) for lam in lams)
    return [{"A": H + (S - S.T) if t % 2 else H, "lam": lam}
            for t, (lam, H) in enumerate(Hs) for S in [rng.normal(size=H.shape) * 3]]


def _hb_radius(lr, beta, lam):  # the largest |root| of z² − (1 + β − ηλ) z + β over the eigenvalues
    return max(np.max(np.abs(np.linalg.eigvals(np.array([[1 + beta - lr * li, -beta], [1.0, 0.0]])))) for li in lam)


def _inputs(rng):
    cases = _matrices(rng, 6, 0.01, 50.0, 2)
    c = float(rng.uniform(0.5, 5))
    cases.append({"A": (c * np.eye(4)).tolist(), "lam": [c] * 4})
    return {"cases": cases}


_DRIVER = """
import numpy as np
result = [list(tuned_momentum(np.array(case["A"], dtype=float))) for case in inputs["cases"]]
"""

_HINT = "The Hessian of ½xᵀAx is (A + Aᵀ)/2: symmetrise A, then use its eigenvalues (np.linalg.eigvalsh)."


def _verify(inputs, result):
    probes.require(isinstance(result, list) and len(result) == len(inputs["cases"]),
                   "tuned_momentum gave too few results.")
    for case, got in zip(inputs["cases"], result, strict=True):
        lam = np.array(case["lam"])
        where = f"for a random {len(lam)}×{len(lam)} A"
        probes.require(isinstance(got, list) and len(got) == 2, f"tuned_momentum should return a pair (lr, beta) {where}.")
        kappa = lam.max() / lam.min()
        target = (np.sqrt(kappa) - 1) / (np.sqrt(kappa) + 1)
        probes.close(got[1], target**2, what="β", where=where, hint="β is the square of (√κ − 1)/(√κ + 1). " + _HINT)
        probes.close(got[0], 4 / (np.sqrt(lam.max()) + np.sqrt(lam.min())) ** 2, what="learning rate η", where=where,
                     hint="η = 4/(√λ_max + √λ_min)², from η λ_max = (1 + √β)². " + _HINT)
        radius = _hb_radius(float(got[0]), float(got[1]), lam)
        probes.close(radius, target, what="contraction per step of heavy ball with your (η, β)", where=where, rtol=1e-6)
        # Tuned momentum beats the best fixed step of gradient descent whenever κ > 1.
        probes.require(bool(kappa == 1 or radius < (kappa - 1) / (kappa + 1)),
                       f"Tuned heavy ball should beat gradient descent's best rate (κ − 1)/(κ + 1) {where}.")


probes.exercise(globals(), inputs=_inputs, driver=_DRIVER, verify=_verify, seed=4242)
### END HIDDEN TESTS


# %% active="py" wrong_answer="06_gradient_descent-tuned_momentum-solution" mistake="beta = (√κ − 1)/(√κ + 1), the rate, without the square."
def tuned_momentum(A):
    A = np.asarray(A, dtype=float)
    lam = np.linalg.eigvalsh(0.5 * (A + A.T))
    small, large = np.sqrt(lam[0]), np.sqrt(lam[-1])
    return float(4.0 / (large + small) ** 2), float((large - small) / (large + small))


# %% active="py" wrong_answer="06_gradient_descent-tuned_momentum-solution" mistake="Gradient descent's best step 2/(μ + L) reused as the learning rate."
def tuned_momentum(A):
    A = np.asarray(A, dtype=float)
    lam = np.linalg.eigvalsh(0.5 * (A + A.T))
    small, large = np.sqrt(lam[0]), np.sqrt(lam[-1])
    return float(2.0 / (lam[0] + lam[-1])), float(((large - small) / (large + small)) ** 2)


# %% active="py" wrong_answer="06_gradient_descent-tuned_momentum-solution" mistake="No symmetrisation: eigvalsh reads only the lower triangle of a non-symmetric A."
def tuned_momentum(A):
    lam = np.linalg.eigvalsh(np.asarray(A, dtype=float))
    small, large = np.sqrt(lam[0]), np.sqrt(lam[-1])
    return float(4.0 / (large + small) ** 2), float(((large - small) / (large + small)) ** 2)


# %% [markdown]
# ## The descent playground
#
# The playground runs **your** `momentum` from Exercise 4 (so it works once that exercise passes). The solid
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
# - Predict divergence from $\eta\lambda_{\max} \ge 2$, choose the best fixed step
#   $\eta^\star = 2/(\lambda_{\min} + \lambda_{\max})$, and read the condition number $\kappa$ as the number of
#   steps per digit.
# - Tune momentum so that every direction contracts at the asymptotic rate $(\sqrt\kappa - 1)/(\sqrt\kappa + 1)$,
#   knowing that its error may first grow, and explain why the curved, ill-conditioned valley of Rosenbrock
#   defeats plain gradient descent.
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
