# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Unit 7 · Gradients of the standard losses
#
# Unit 6 walked downhill on a loss whose gradient it was handed. Here we derive those gradients for the losses
# that train almost every model in practice: the **mean squared error** of regression, the **softmax
# cross-entropy** of classification, and either of them plus a **quadratic penalty** on the weights. Each
# gradient is a short formula that tells a story about how learning works. This unit derives them with the
# rules you already have, checks each derivation twice (symbolically with sympy, numerically with `numdiff`),
# and turns them into batched NumPy code that survives extreme inputs.
#
# **Learning objective 6.** Derive the gradients of the standard losses (MSE, softmax + cross-entropy,
# regularised quadratics). By the end of this unit you will be able to
#
# - derive the gradient of the mean squared error, $\frac{2}{N}X^\top(Xw - y)$, from the rules of unit 2;
# - derive the gradient $p - y$ of softmax + cross-entropy from the softmax Jacobian of unit 3;
# - compute softmax and log-sum-exp stably, so logits of $\pm 1000$ give numbers, not `nan`;
# - derive the gradient and the closed-form minimiser of ridge regression, constants included;
# - write all of these as vectorised functions of a whole batch, and check them against numerical gradients.

# %%
import math
import warnings

import matplotlib.pyplot as plt
import mpmath
import numpy as np
import sympy as sp

from calcml import checks, loss_explorer, numdiff

# %% [markdown]
# ## 1 · Mean squared error
#
# A linear model predicts $\hat y = Xw$ for a batch of $N$ examples: row $n$ of the matrix $X \in
# \mathbb{R}^{N\times d}$ holds the $d$ features of example $n$, and $w \in \mathbb{R}^d$ holds the weights.
# The mean squared error is
#
# $$ L(w) = \frac{1}{N}\,\|Xw - y\|^2 = \frac1N (Xw - y)^\top (Xw - y)
#        = \frac1N\left( w^\top X^\top X\, w \;-\; 2\, (X^\top y)^\top w \;+\; y^\top y \right). $$
#
# (The two cross terms $w^\top X^\top y$ and $y^\top X w$ are the same number, so they add up.) Each term is
# one of the two patterns whose gradients you found in unit 2:
#
# $$ \nabla_w\, (w^\top A\, w) = (A + A^\top)\, w = 2Aw \ \text{ for symmetric } A, \qquad
#    \nabla_w\, (a^\top w) = a . $$
#
# With $A = X^\top X$ (symmetric) and $a = X^\top y$, and the constant $y^\top y$ contributing nothing,
#
# $$ \boxed{\;\nabla L(w) = \frac1N\left(2X^\top X w - 2X^\top y\right) = \frac{2}{N}\, X^\top (Xw - y)\;} $$
#
# Read it from right to left. $r = Xw - y \in \mathbb{R}^N$ is the residual, one number per example: how far
# each prediction is off. $X^\top r = \sum_n r_n x_n$ adds up the feature vectors $x_n$, each weighted by its
# own error. Gradient descent moves $w$ against this sum, so each example drags the weights along its own
# features, as hard as it is wrong. The $\frac1N$ makes the drag an *average*: copying the dataset twice
# leaves the gradient unchanged, so its size, and a good learning rate, do not depend on the batch size.
# The shapes check out too: $(d \times N)\,(N) \to (d)$, the shape of $w$.
#
# Let sympy redo the derivation on a small symbolic example: $N = 3$ examples, $d = 2$ features, every entry
# a symbol.

# %%
N_sym, d_sym = 3, 2
X_s = sp.Matrix(N_sym, d_sym, lambda i, j: sp.Symbol(f"x{i}{j}"))
w_s = sp.Matrix(sp.symbols(f"w0:{d_sym}"))
y_s = sp.Matrix(sp.symbols(f"y0:{N_sym}"))

residual_s = X_s * w_s - y_s
mse_s = (residual_s.T * residual_s)[0, 0] / N_sym
grad_sympy = sp.Matrix([sp.diff(mse_s, wi) for wi in w_s])  # differentiate component by component
derived = sp.Rational(2, N_sym) * X_s.T * residual_s  # the boxed formula

print("sympy's gradient minus (2/N) Xᵀ(Xw − y):", sp.expand(grad_sympy - derived).T)

# %% [markdown]
# Zero, symbolically. Now a numerical check of the same gradient: evaluate sympy's gradient at random numbers
# and compare it with `numdiff.gradient`, which knows nothing about the formula and only evaluates the loss.

# %%
rng = np.random.default_rng(0)
X_num, w_num, y_num = rng.normal(size=(N_sym, d_sym)), rng.normal(size=d_sym), rng.normal(size=N_sym)

symbols = [*X_s, *w_s, *y_s]
grad_sympy_at = sp.lambdify(symbols, grad_sympy, "numpy")(*X_num.ravel(), *w_num, *y_num).ravel()
grad_numdiff = numdiff.gradient(lambda w: np.mean((X_num @ w - y_num) ** 2), w_num)

print("sympy   :", grad_sympy_at)
print("numdiff :", grad_numdiff)
print(f"relative error: {checks.relative_error(grad_numdiff, grad_sympy_at):.1e}")

# %% [markdown]
# ## 2 · Softmax and cross-entropy
#
# A classifier with $K$ classes outputs $K$ real numbers per example, the **logits** $z \in \mathbb{R}^K$.
# The softmax turns them into probabilities,
#
# $$ p_k = \operatorname{softmax}(z)_k = \frac{e^{z_k}}{\sum_{j=1}^K e^{z_j}}, \qquad p_k > 0, \quad
#    \sum_k p_k = 1 , $$
#
# and the **cross-entropy** against the true class $c$, written as a one-hot vector $y$ ($y_c = 1$, all other
# $y_k = 0$), is
#
# $$ \ell(z) = -\sum_k y_k \log p_k = -\log p_c . $$
#
# It is 0 when the model puts all its probability on the right class and grows without bound as $p_c \to 0$.
#
# **The gradient, by the chain rule.** $\ell$ is a function of $p$, which is a function of $z$. In unit 3 you
# found the Jacobian of the softmax:
#
# $$ \frac{\partial p_k}{\partial z_j} = p_k\,([k = j] - p_j), \qquad\text{that is}\qquad
#    J = \frac{\partial p}{\partial z} = \operatorname{diag}(p) - p\,p^\top \quad (\text{symmetric}). $$
#
# The outer function has $\partial \ell / \partial p_k = -y_k / p_k$. The chain rule contracts the two:
#
# $$ \frac{\partial \ell}{\partial z_j} = \sum_k \frac{\partial \ell}{\partial p_k}\frac{\partial p_k}{\partial z_j}
#    = \sum_k \left(-\frac{y_k}{p_k}\right) p_k\,([k=j] - p_j)
#    = -y_j + p_j \sum_k y_k = p_j - y_j , $$
#
# because the $y_k$ add up to 1. The $p_k$ of the Jacobian cancels the $1/p_k$ of the logarithm, and what is
# left is the simplest gradient in machine learning:
#
# $$ \boxed{\;\nabla_z\, \ell = p - y\;} $$
#
# **A second derivation, as a check.** Write $\ell = -\log p_c = -z_c + \log\sum_j e^{z_j}$. The gradient of
# $\operatorname{lse}(z) = \log \sum_j e^{z_j}$ is $e^{z_k} / \sum_j e^{z_j} = p_k$, and the gradient of $-z_c$
# is $-y$. Same answer.
#
# **For a batch.** With logits $Z \in \mathbb{R}^{N \times K}$ (one row per example), probabilities $P$ (softmax
# of each row) and one-hot targets $Y$, the *mean* loss $L = \frac1N \sum_n \ell_n$ has
#
# $$ \frac{\partial L}{\partial Z} = \frac{1}{N}\,(P - Y), $$
#
# since row $n$ of $Z$ only enters $\ell_n$. Sympy confirms the Jacobian and the gradient for $K = 3$:

# %%
z_s = sp.symbols("z0:3")
exps = [sp.exp(v) for v in z_s]
p_s = sp.Matrix([e / sum(exps) for e in exps])

jacobian_gap = sp.simplify(p_s.jacobian(z_s) - (sp.diag(*p_s) - p_s * p_s.T))
print("Jacobian − (diag(p) − ppᵀ) is zero:", jacobian_gap == sp.zeros(3, 3))

for c in range(3):
    ell_s = -sp.log(p_s[c])
    grad_ell = sp.Matrix([sp.diff(ell_s, v) for v in z_s])
    one_hot = sp.Matrix([int(k == c) for k in range(3)])
    print(f"true class {c}: ∇ℓ − (p − y) is zero:", sp.simplify(grad_ell - (p_s - one_hot)) == sp.zeros(3, 1))

# %% [markdown]
# ### Worked example: one example, three classes
#
# Take logits $z = (2,\ 0.5,\ -1)$ and true class $c = 1$. The model is fairly sure of class 0, and wrong. Here
# is the softmax straight from its definition, for a batch: exponentiate, then divide each row by its sum.

# %%
def softmax_naive(Z):
    """Softmax of each row of Z, straight from the definition (this overflows for large logits: see section 3)."""
    E = np.exp(Z)
    return E / E.sum(axis=1, keepdims=True)


z = np.array([2.0, 0.5, -1.0])
c = 1
p = softmax_naive(z[None, :])[0]  # a batch of one
y_one_hot = np.eye(3)[c]


def example_loss(v):
    return -np.log(softmax_naive(v[None, :])[0, c])


print("p               =", p.round(4), f"   loss −log p_1 = {example_loss(z):.4f}")
print("numdiff gradient=", numdiff.gradient(example_loss, z).round(4))
print("p − y           =", (p - y_one_hot).round(4))

# %% [markdown]
# The numerical gradient (computed from the loss alone) and $p - y$ agree. Read the signs: the component of
# the true class is $p_c - 1 < 0$, every other component is $p_k > 0$. Gradient descent moves **against** the
# gradient, $z \leftarrow z - \eta\,(p - y)$, so it
#
# - raises the true logit, by $\eta\,(1 - p_c)$: a lot if the model was badly wrong, nothing if it was sure
#   and right;
# - lowers each wrong logit by $\eta\, p_k$, in proportion to its probability: the most confident wrong
#   answer is pushed down hardest, and a class that already has $p_k \approx 0$ is left alone.
#
# The components add up to zero ($\sum_k p_k = \sum_k y_k = 1$): adding the same constant to every logit
# changes nothing, so the gradient has no component along $(1, 1, \ldots, 1)$. One step with $\eta = 1$:

# %%
z_next = z - 1.0 * numdiff.gradient(example_loss, z)
print("after one step: z =", z_next.round(3), " p =", softmax_naive(z_next[None, :])[0].round(3),
      f" loss = {example_loss(z_next):.4f}")

# %% [markdown]
# The true class went from $p_1 = 0.175$ to $0.503$, and the loss fell from 1.74 to 0.69. The wrong but
# confident class 0 lost most; the logit of class 2, which was already unlikely, hardly moved.
#
# ### Explore
#
# Move the logits and change the true class. The left panel shows $p$; the right one shows the gradient of
# $\ell = -\log p_c$, computed by `numdiff` from the loss alone (here with `softmax_naive`), with $p$ outlined
# for comparison. Try to make the loss small: what happens to the gradient? Make two logits equal and large: how
# is the push shared between them? (Without a live front end you see the figure for the starting values.)

# %%
loss_explorer.loss_explorer(softmax_naive)

# %% [markdown]
# ## 3 · Keeping the exponentials in range
#
# The largest float64 is about $1.8 \times 10^{308} = e^{709.78}$, so `np.exp` overflows to `inf` for any
# argument above 709.78. Logits of a few hundred are not unusual in a badly scaled network, and then the
# textbook softmax computes $\infty / \infty$, which is `nan`. (We silence NumPy's warnings here on purpose, to
# look at the result.)

# %%
z_big = np.array([[1000.0, 999.0, 998.0]])
with np.errstate(over="ignore", invalid="ignore"):
    print("naive softmax of (1000, 999, 998):", softmax_naive(z_big)[0])
print("the same logits minus 1000       :", softmax_naive(z_big - 1000.0)[0].round(4))

# %% [markdown]
# The second line is the way out. The softmax does not change when the same constant $m$ is subtracted from
# every logit, because $e^{-m}$ cancels between numerator and denominator:
#
# $$ \frac{e^{z_k - m}}{\sum_j e^{z_j - m}} = \frac{e^{-m}\, e^{z_k}}{e^{-m} \sum_j e^{z_j}} = p_k . $$
#
# Choose $m = \max_k z_k$ (for each example separately). Then every exponent is $\le 0$, so nothing
# overflows; and the largest term is exactly $e^0 = 1$, so the denominator is at least 1 and never underflows
# to 0. Terms that underflow to 0 were negligible anyway.
#
# The same trick gives a stable **log-sum-exp**, the other half of the cross-entropy
# ($\ell = \operatorname{lse}(z) - z_c$):
#
# $$ \operatorname{lse}(z) = \log \sum_k e^{z_k} = m + \log \sum_k e^{z_k - m}, \qquad m = \max_k z_k . $$
#
# The sum on the right lies between 1 and $K$, so its logarithm is tame. The naive formula fails at *both*
# ends: large logits overflow to `inf`, and very negative logits underflow to $\log 0 = -\infty$. mpmath,
# which computes with arbitrary exponents, gives the true values:

# %%
z_low = np.array([-1000.0, -1001.0])
with np.errstate(divide="ignore"):
    naive_low = np.log(np.sum(np.exp(z_low)))
exact_low = mpmath.log(mpmath.exp(-1000) + mpmath.exp(-1001))
print(f"naive lse(−1000, −1001) = {naive_low},  true value = {float(exact_low):.6f}")

# %% [markdown]
# Two more habits follow. Compute $\log p_k$ as $z_k - \operatorname{lse}(z)$, never as `np.log(p)`: when $p_k$
# underflows to 0 the second gives $-\infty$ while the first gives the right, large negative number. And test
# with extreme inputs on purpose, as the tests of this unit do.

# %% [markdown]
# ## 4 · A regularised quadratic: ridge regression
#
# Adding a penalty on the size of the weights gives ridge regression,
#
# $$ L(w) = \frac1N\,\|Xw - y\|^2 + \lambda\,\|w\|^2, \qquad \lambda \ge 0 . $$
#
# Here $\lambda$ is the strength of the penalty, not an eigenvalue as in unit 6. The penalty is
# $\lambda\, w^\top w = \lambda\, w^\top I\, w$, a quadratic form with the symmetric matrix $\lambda I$, so its
# gradient is $2\lambda w$. With section 1,
#
# $$ \nabla L(w) = \frac2N\, X^\top (Xw - y) + 2\lambda\, w . $$
#
# **The closed form.** $L$ is a quadratic, so its minimiser is where the gradient vanishes. Set it to zero and
# multiply by $N/2$:
#
# $$ X^\top X w - X^\top y + N\lambda\, w = 0
#    \quad\Longrightarrow\quad
#    \boxed{\;(X^\top X + N\lambda\, I)\; w^\star = X^\top y\;} $$
#
# Mind the constant. It is $N\lambda$, not $\lambda$, because the data term is a *mean* and the penalty is
# not. (Textbooks that use the *sum* of squares, $\|Xw - y\|^2 + \lambda\|w\|^2$, get $X^\top X + \lambda I$;
# mixing the two conventions is the classic bug.)
#
# **Why it always has a solution for $\lambda > 0$.** For any $v \ne 0$,
# $v^\top (X^\top X + N\lambda I)\, v = \|Xv\|^2 + N\lambda \|v\|^2 > 0$, so the matrix is positive definite,
# hence invertible, even when there are fewer examples than features ($N < d$) or when two features are
# copies of each other; in both cases $X^\top X$ alone is singular. The Hessian $\frac2N X^\top X + 2\lambda I$
# is positive definite as well, so $w^\star$ is the unique minimiser. In code, solve the linear system
# (`np.linalg.solve`) rather than forming an inverse: it is faster and more accurate.
#
# Sympy solves $\nabla L = 0$ on a small integer dataset with $\lambda$ left as a symbol, and confirms the
# constant $N\lambda$:

# %%
lam_s = sp.Symbol("lambda", positive=True)
X_r = sp.Matrix([[1, 2], [0, 1], [2, 1]])
y_r = sp.Matrix([1, 2, 0])
w_r = sp.Matrix(sp.symbols("w0:2"))
N_r = X_r.rows

ridge_s = ((X_r * w_r - y_r).T * (X_r * w_r - y_r))[0, 0] / N_r + lam_s * (w_r.T * w_r)[0, 0]
stationary = sp.solve([sp.diff(ridge_s, wi) for wi in w_r], list(w_r), dict=True)[0]
w_star_s = sp.Matrix([sp.factor(stationary[wi]) for wi in w_r])
print("w*(λ) =", w_star_s.T)
print("(XᵀX + NλI) w* − Xᵀy =", sp.simplify((X_r.T * X_r + N_r * lam_s * sp.eye(2)) * w_star_s - X_r.T * y_r).T)
print("λ w*(λ) as λ → ∞:", w_star_s.applyfunc(lambda wi: sp.limit(lam_s * wi, lam_s, sp.oo)).T,
      "   Xᵀy / N:", (X_r.T * y_r / N_r).T)

# %% [markdown]
# As $\lambda$ grows, $w^\star \approx X^\top y / (N\lambda) \to 0$: the penalty **shrinks** the weights.
#
# It also reshapes the bowl. The Hessian $\frac2N (X^\top X + N\lambda I)$ is the matrix $A$ of unit 6, and the
# penalty adds $N\lambda$ to every eigenvalue of $X^\top X$. Take a dataset whose two features are strongly
# correlated: at $\lambda = 0$ the bowl is a long, narrow valley, where many weights fit almost equally well.
# The penalty rounds it, lowering the condition number $\kappa$, and pulls its bottom towards $w = 0$:

# %%
rng = np.random.default_rng(7)
x_first = rng.normal(size=40)
X_toy = np.column_stack([x_first, x_first + 0.3 * rng.normal(size=40)])
y_toy = X_toy @ np.array([2.0, -1.0]) + 0.2 * rng.normal(size=40)

eigenvalues = np.linalg.eigvalsh(X_toy.T @ X_toy)  # of XᵀX, ascending
for strength in [0.0, 0.1, 1.0]:
    shifted = eigenvalues + len(y_toy) * strength  # the eigenvalues of XᵀX + NλI
    print(f"λ = {strength:<3g}: eigenvalues of XᵀX + NλI = {shifted.round(1)},  κ = {shifted[-1] / shifted[0]:.1f}")
axes = loss_explorer.ridge_contours(X_toy, y_toy, [0.0, 0.1, 1.0])
plt.show()

# %% [markdown]
# The condition number falls from 44 to 12 and then to 2.5. By unit 6, gradient descent needs about
# $1.15\,\kappa$ steps per digit even with its best fixed step, so the penalty that shrinks the weights also
# makes them faster to find.

# %% [markdown]
# ## Exercises
#
# Each function works on a whole batch at once, with NumPy operations instead of Python loops over examples.
# The tests compare your gradients with `numdiff` and with high-precision references, and their messages
# say what looks wrong. The exercises build on one another: you may call your earlier functions (and
# exercises 3 and 4 are easiest that way), but then a bug in an earlier one shows up in the later tests too.
#
# The cell below holds the helper the stability tests of exercises 2 to 4 use: it runs your function with
# NumPy's overflow, division by zero and invalid operations (such as $\infty/\infty$) turned into errors.
# Nothing else fails it: a warning of your own, a deprecated NumPy call or a `print` is fine. You do not
# need to read it; do not change it.

# %% nbgrader={"grade": false, "grade_id": "07_loss_gradients-test_helpers", "locked": true, "schema_version": 3, "solution": false, "task": false}
_STABILITY_ADVICE = {
    "logsumexp": ". exp overflows above 709.8, and exp of a very negative number underflows to 0, whose log is "
                 "-inf: subtract each row's maximum before exponentiating.",
    "stable_softmax": ". exp overflows above 709.8, and 0/0 is nan: subtract each row's maximum before "
                      "exponentiating.",
    "softmax_cross_entropy_grad": " at extreme logits: compute the probabilities with your stable_softmax, not "
                                  "with exp(Z) directly.",
}


def _strict(fn, *args, what):
    """Call fn(*args) with NumPy's overflow, divide-by-zero (log 0) and invalid operations (nan) raised, and turn
    them, or a Python OverflowError, into a failure that explains itself. Underflow is allowed, and warnings are
    only warnings: the notebook's filters are reset for the call, so no warning can fail a correct answer."""
    try:
        with warnings.catch_warnings(), np.errstate(over="raise", divide="raise", invalid="raise", under="ignore"):
            warnings.resetwarnings()
            return fn(*args)
    except (FloatingPointError, OverflowError) as err:
        raise checks.CheckFailure(f"Your {what} hit a floating-point error ({err}){_STABILITY_ADVICE[what]}") from None

# %% [markdown]
# ### Exercise 1 · The MSE gradient (2 points)
#
# Write `mse_grad(X, w, y)`, the gradient of $L(w) = \frac1N\|Xw - y\|^2$. One line of NumPy is enough; watch
# the factor 2, the mean, and the transpose.

# %% nbgrader={"grade": false, "grade_id": "07_loss_gradients-mse_grad-solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
def mse_grad(X, w, y):
    """Gradient of the mean squared error L(w) = (1/N) ||X w - y||^2 with respect to w.

    Args:
        X: features, a float array of shape (N, d), one row per example (N >= 1).
        w: weights, a float array of shape (d,).
        y: targets, a float array of shape (N,).

    Returns:
        The gradient (2/N) X^T (X w - y), a float array of shape (d,).
    """
    ### BEGIN SOLUTION
    return (2.0 / X.shape[0]) * (X.T @ (X @ w - y))
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "07_loss_gradients-mse_grad", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
# The reference is numdiff's gradient of the loss itself, defined here.
def _mse(X, y):
    return lambda w: np.mean((X @ w - y) ** 2)


_hint = "It is (2/N) Xᵀ(Xw − y), N = X.shape[0] the number of examples: Xᵀ maps the residual, shape (N,), to shape (d,)."
rng = np.random.default_rng(1)
X, w, y = rng.normal(size=(7, 3)), rng.normal(size=3), rng.normal(size=7)
checks.check_gradient(lambda v: mse_grad(X, v, y), _mse(X, y), w, what="MSE gradient", batch_size=7, hint=_hint)
### BEGIN HIDDEN TESTS
for seed, (N, d) in zip([101, 102, 103, 104, 105], [(1, 2), (9, 1), (4, 7), (40, 5), (200, 3)], strict=True):
    rng = np.random.default_rng(seed)
    X = rng.normal(scale=2.0, size=(N, d))
    w, y = rng.normal(size=d), rng.normal(loc=3.0, size=N)
    checks.check_gradient(lambda v, X=X, y=y: mse_grad(X, v, y), _mse(X, y), w, what=f"MSE gradient for N={N}, d={d}",
                          batch_size=N, hint=_hint)
### END HIDDEN TESTS

# %% [markdown]
# ### Exercise 2 · A stable log-sum-exp (1 point)
#
# Write `logsumexp(Z)`: for each row of a batch of logits, $\log \sum_k e^{Z_{nk}}$. It must give the right
# finite value for any finite logits, including $\pm 1000$, with **no** overflow, `nan`, `inf` or NumPy
# floating-point warning. The tests run your function with NumPy's overflow, division and invalid-operation
# errors turned into exceptions. Use `max(..., axis=1, keepdims=True)` so the row maxima broadcast against `Z`,
# and do not modify `Z` in place.

# %% nbgrader={"grade": false, "grade_id": "07_loss_gradients-logsumexp-solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
def logsumexp(Z):
    """Row-wise log-sum-exp of a batch of logits, computed stably.

    Args:
        Z: logits, an array of shape (N, K); any finite values (e.g. +-1000).

    Returns:
        An array of shape (N,) whose entry n is log(sum_k exp(Z[n, k])).
        No overflow or floating-point warning; Z is not modified.
    """
    ### BEGIN SOLUTION
    row_max = np.max(Z, axis=1, keepdims=True)
    return row_max[:, 0] + np.log(np.sum(np.exp(Z - row_max), axis=1))
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "07_loss_gradients-logsumexp", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
def _lse_reference(Z):
    """log(sum(exp(row))) for each row, in 40-digit arithmetic with unbounded exponents (mpmath)."""
    with mpmath.workdps(40):
        return np.array([float(mpmath.log(mpmath.fsum(mpmath.exp(v) for v in row))) for row in np.asarray(Z).tolist()])


_hint = "lse(z) = m + log Σ exp(z − m), summed over each row (axis=1), with m the maximum of that row; is m added back?"
rng = np.random.default_rng(2)
Z = rng.normal(scale=3.0, size=(4, 5))
checks.assert_close(_strict(logsumexp, Z, what="logsumexp"), _lse_reference(Z), what="logsumexp",
                    where="of a (4, 5) batch of logits", hint=_hint)
Z_big = np.array([[1000.0, 999.0, 998.0], [-1000.0, -1000.0, -1000.0]])
checks.assert_close(_strict(logsumexp, Z_big, what="logsumexp"), _lse_reference(Z_big), what="logsumexp",
                    where="at logits ±1000", hint=_hint)
### BEGIN HIDDEN TESTS
for seed, (N, K), scale in zip([201, 202, 203, 204, 205], [(1, 1), (7, 2), (3, 9), (60, 4), (5, 6)],
                               [1.0, 30.0, 800.0, 5.0, 3000.0], strict=True):
    rng = np.random.default_rng(seed)
    Z = rng.normal(scale=scale, size=(N, K))
    Z_copy = Z.copy()
    checks.assert_close(_strict(logsumexp, Z, what="logsumexp"), _lse_reference(Z), what="logsumexp",
                        where=f"of a ({N}, {K}) batch of logits of scale {scale:g}", hint=_hint)
    assert np.array_equal(Z, Z_copy), "Your logsumexp changed its argument Z in place; write Z - m, not Z -= m."
# Rows at very different levels in one batch: each row needs its own maximum.
Z = np.array([[1000.0, -1000.0, 0.0], [-1000.0, -1000.0, -999.0], [710.0, 710.0, 710.0], [-5000.0, 3.0, -5000.0]])
checks.assert_close(_strict(logsumexp, Z, what="logsumexp"), _lse_reference(Z), what="logsumexp",
                    where="for rows at very different levels", hint=_hint)
# Identities: a constant row c gives c + log K; shifting a row by s shifts its lse by s.
Z = np.full((3, 6), -700.0)
checks.assert_close(_strict(logsumexp, Z, what="logsumexp"), np.full(3, -700.0 + math.log(6)), what="logsumexp",
                    where="of constant rows of -700 (expected -700 + log 6)", hint=_hint)
rng = np.random.default_rng(206)
Z, shift = rng.normal(size=(5, 4)), rng.uniform(-900.0, 900.0, size=5)
checks.assert_close(_strict(logsumexp, Z + shift[:, None], what="logsumexp"), logsumexp(Z) + shift, what="logsumexp",
                    where="of shifted rows (lse(z + s) = lse(z) + s)", hint=_hint)
### END HIDDEN TESTS

# %% [markdown]
# ### Exercise 3 · A stable softmax (2 points)
#
# Write `stable_softmax(Z)`: the softmax of each row of a batch, with the same guarantees as `logsumexp`
# (you can build it on your `logsumexp`, since $p_k = e^{z_k - \operatorname{lse}(z)}$, or subtract the row
# maximum directly). It must not change its argument: `Z -= ...` would silently modify the caller's logits.

# %% nbgrader={"grade": false, "grade_id": "07_loss_gradients-stable_softmax-solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
def stable_softmax(Z):
    """Row-wise softmax of a batch of logits, computed stably.

    Args:
        Z: logits, an array of shape (N, K); any finite values (e.g. +-1000).

    Returns:
        P of shape (N, K) with P[n, k] = exp(Z[n, k]) / sum_j exp(Z[n, j]); each row sums to 1.
        No overflow, nan or floating-point warning; Z is not modified.
    """
    ### BEGIN SOLUTION
    shifted_exp = np.exp(Z - np.max(Z, axis=1, keepdims=True))
    return shifted_exp / np.sum(shifted_exp, axis=1, keepdims=True)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "07_loss_gradients-stable_softmax", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
def _softmax_reference(Z):
    """Softmax of each row in 40-digit arithmetic with unbounded exponents (mpmath)."""
    rows = []
    with mpmath.workdps(40):
        for row in np.asarray(Z).tolist():
            e = [mpmath.exp(v) for v in row]
            total = mpmath.fsum(e)
            rows.append([float(x / total) for x in e])
    return np.array(rows)


_hint = "Divide the exponentials of each row by that row's sum (axis=1, keepdims=True)."
rng = np.random.default_rng(3)
Z = rng.normal(scale=2.0, size=(4, 5))
Z_copy = Z.copy()
P = _strict(stable_softmax, Z, what="stable_softmax")
assert np.array_equal(Z, Z_copy), "Your stable_softmax changed its argument Z in place; write Z - m, not Z -= m."
checks.assert_close(P, _softmax_reference(Z), what="softmax", where="of a (4, 5) batch of logits", hint=_hint)
Z_big = np.array([[1000.0, 999.0, 998.0], [-1000.0, -1000.0, -999.0]])
checks.assert_close(_strict(stable_softmax, Z_big, what="stable_softmax"), _softmax_reference(Z_big), what="softmax",
                    where="at logits ±1000", hint=_hint)
### BEGIN HIDDEN TESTS
for seed, (N, K), scale in zip([301, 302, 303, 304, 305], [(1, 1), (6, 2), (3, 8), (50, 4), (5, 7)],
                               [1.0, 40.0, 900.0, 4.0, 2500.0], strict=True):
    rng = np.random.default_rng(seed)
    Z = rng.normal(scale=scale, size=(N, K))
    Z_copy = Z.copy()
    P = _strict(stable_softmax, Z, what="stable_softmax")
    assert np.array_equal(Z, Z_copy), "Your stable_softmax changed its argument Z in place; write Z - m, not Z -= m."
    where = f"of a ({N}, {K}) batch of logits of scale {scale:g}"
    checks.assert_close(np.sum(P, axis=1), np.ones(N), what="row sums of the softmax", where=where, hint=_hint)
    checks.assert_close(P, _softmax_reference(Z), what="softmax", where=where, hint=_hint)
# Rows at very different levels in one batch: each row needs its own maximum.
Z = np.array([[1000.0, -1000.0, 0.0], [-1000.0, -1000.0, -999.0], [710.0, 710.0, 710.0], [-5000.0, 3.0, -5000.0]])
checks.assert_close(_strict(stable_softmax, Z, what="stable_softmax"), _softmax_reference(Z), what="softmax",
                    where="for rows at very different levels", hint=_hint)
# Shift invariance: adding s to every logit of a row changes nothing.
rng = np.random.default_rng(306)
Z, shift = rng.normal(size=(6, 3)), rng.uniform(-900.0, 900.0, size=6)
checks.assert_close(_strict(stable_softmax, Z + shift[:, None], what="stable_softmax"), stable_softmax(Z),
                    what="softmax", where="of shifted rows (softmax(z + s) = softmax(z))", hint=_hint)
### END HIDDEN TESTS

# %% [markdown]
# ### Exercise 4 · The gradient of softmax cross-entropy (3 points)
#
# Write `softmax_cross_entropy_grad(Z, y)`, the gradient of the **mean** cross-entropy over the batch with
# respect to the logits,
#
# $$ L(Z) = \frac1N \sum_{n=1}^N \Big(\operatorname{lse}(Z_n) - Z_{n, y_n}\Big), \qquad
#    \frac{\partial L}{\partial Z} = \frac{P - Y}{N} . $$
#
# Real code receives the targets in two forms, and your function must accept both:
# - **class indices**: a 1-D integer array `y` of shape `(N,)` with entries in `0..K-1`;
# - **one-hot rows**: a 2-D array `Y` of shape `(N, K)` (ints or floats), one 1 per row.
#
# Tell them apart by `np.ndim`. `np.eye(K)[y]` turns indices into one-hot rows. It must work for logits of
# $\pm 1000$ (use your `stable_softmax`, so a bug there will show up here too).

# %% nbgrader={"grade": false, "grade_id": "07_loss_gradients-softmax_cross_entropy_grad-solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
def softmax_cross_entropy_grad(Z, y):
    """Gradient of the mean softmax cross-entropy over a batch, with respect to the logits.

    Args:
        Z: logits, an array of shape (N, K); any finite values (e.g. +-1000).
        y: the true classes, either class indices (1-D integer array of shape (N,), entries in 0..K-1)
           or one-hot rows (2-D array of shape (N, K) with a single 1 in each row).

    Returns:
        dL/dZ = (P - Y) / N, of shape (N, K), where P is the row-wise softmax of Z, Y the one-hot targets
        and L = (1/N) sum_n -log P[n, y_n]. No overflow, nan or floating-point warning.
    """
    ### BEGIN SOLUTION
    n_examples, n_classes = Z.shape
    targets = np.asarray(y)
    one_hot = targets.astype(float) if targets.ndim == 2 else np.eye(n_classes)[targets]
    return (stable_softmax(Z) - one_hot) / n_examples
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "07_loss_gradients-softmax_cross_entropy_grad", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
def _mean_cross_entropy(Z, labels):
    """(1/N) Σ_n [log Σ_k exp Z[n, k] − Z[n, labels[n]]], in 40-digit arithmetic (mpmath): the reference loss."""
    with mpmath.workdps(40):
        total = mpmath.fsum(mpmath.log(mpmath.fsum(mpmath.exp(v) for v in row)) - row[t]
                            for row, t in zip(np.asarray(Z).tolist(), labels, strict=True))
        return float(total / len(labels))


def _check_ce_grad(Z, labels, targets, where):
    """Compare the student's gradient with numdiff's gradient of the mean cross-entropy (step 1e-3, as the
    loss is smooth on the scale of 1 even where the logits are ±1000)."""
    N = Z.shape[0]
    expected = numdiff.gradient(lambda V: _mean_cross_entropy(V, labels), Z, h=1e-3)
    Z_copy = Z.copy()
    try:
        G = _strict(softmax_cross_entropy_grad, Z, targets, what="softmax_cross_entropy_grad")
    except (IndexError, ValueError) as err:
        raise checks.CheckFailure(
            f"Your softmax_cross_entropy_grad raised {type(err).__name__} ({err}) {where}. It must accept class indices "
            "(1-D, shape (N,)) and one-hot rows (2-D, shape (N, K)): tell them apart with np.ndim(y).") from None
    assert np.array_equal(Z, Z_copy), "Your softmax_cross_entropy_grad changed its argument Z in place."
    checks.assert_close(G, expected, what="gradient of the mean cross-entropy", where=where, batch_size=N,
                        hint="It is (P − Y)/N: P the softmax of each row, Y the one-hot targets, N the batch size.")


rng = np.random.default_rng(4)
Z, labels = rng.normal(scale=2.0, size=(5, 3)), rng.integers(0, 3, size=5)
_check_ce_grad(Z, labels, labels, "for class-index targets y of shape (5,)")
_check_ce_grad(Z, labels, np.eye(3)[labels], "for one-hot targets Y of shape (5, 3)")
Z_big = np.array([[1000.0, -1000.0, 0.0], [0.0, 1000.0, -1000.0]])
_check_ce_grad(Z_big, np.array([1, 1]), np.array([1, 1]), "at logits ±1000")
### BEGIN HIDDEN TESTS
for seed, (N, K), scale in zip([401, 402, 403, 404], [(1, 2), (8, 4), (3, 6), (6, 5)], [1.0, 3.0, 1000.0, 300.0],
                               strict=True):
    rng = np.random.default_rng(seed)
    Z, labels = rng.normal(scale=scale, size=(N, K)), rng.integers(0, K, size=N)
    _check_ce_grad(Z, labels, labels, f"for a ({N}, {K}) batch of logits of scale {scale:g}, index targets")
    _check_ce_grad(Z, labels, np.eye(K, dtype=int)[labels], f"for a ({N}, {K}) batch, integer one-hot targets")
    # Each row of the gradient sums to 0, because P and Y both have rows summing to 1.
    G = softmax_cross_entropy_grad(Z, labels)
    checks.assert_close(G.sum(axis=1), np.zeros(N), what="row sums of the gradient", where=f"for N={N}")
# Ties at the top and a true class far below the others.
Z = np.array([[1000.0, 1000.0, -1000.0], [-1000.0, 1000.0, 999.0], [500.0, 500.0, 500.0]])
_check_ce_grad(Z, np.array([0, 0, 2]), np.array([0, 0, 2]), "at tied and extreme logits")
_check_ce_grad(Z, np.array([0, 0, 2]), np.eye(3)[[0, 0, 2]], "at tied and extreme logits, one-hot targets")
### END HIDDEN TESTS

# %% [markdown]
# Now drive the explorer with **your** functions: it shows your gradient, and the readout compares it with the
# numerical gradient of the loss computed from your softmax.

# %%
loss_explorer.loss_explorer(stable_softmax, softmax_cross_entropy_grad, logits=(0.0, 3.0, -2.0), true_class=0)

# %% [markdown]
# ### Exercise 5 · The ridge gradient (1 point)
#
# Write `ridge_grad(X, w, y, lam)`, the gradient of $L(w) = \frac1N\|Xw - y\|^2 + \lambda\|w\|^2$. You may call
# your `mse_grad`.

# %% nbgrader={"grade": false, "grade_id": "07_loss_gradients-ridge_grad-solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
def ridge_grad(X, w, y, lam):
    """Gradient of the ridge loss L(w) = (1/N) ||X w - y||^2 + lam ||w||^2 with respect to w.

    Args:
        X: features, a float array of shape (N, d), one row per example (N >= 1).
        w: weights, a float array of shape (d,).
        y: targets, a float array of shape (N,).
        lam: the regularisation strength, a float >= 0 (not divided by N).

    Returns:
        The gradient (2/N) X^T (X w - y) + 2 lam w, a float array of shape (d,).
    """
    ### BEGIN SOLUTION
    n_examples = X.shape[0]
    return 2.0 * (X.T @ (X @ w - y)) / n_examples + 2.0 * lam * w
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "07_loss_gradients-ridge_grad", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
def _ridge_loss(X, y, lam):
    return lambda w: np.mean((X @ w - y) ** 2) + lam * np.sum(w**2)


_hint = "The penalty λ‖w‖² = λ wᵀw has gradient 2λw, and it is not divided by N."
rng = np.random.default_rng(5)
X, w, y = rng.normal(size=(8, 3)), rng.normal(size=3), rng.normal(size=8)
checks.check_gradient(lambda v: ridge_grad(X, v, y, 0.5), _ridge_loss(X, y, 0.5), w, what="ridge gradient (λ = 0.5)",
                      batch_size=8, hint=_hint)
### BEGIN HIDDEN TESTS
for seed, (N, d), lam in zip([501, 502, 503, 504], [(10, 2), (3, 6), (50, 4), (1, 3)], [0.0, 0.1, 3.0, 25.0],
                             strict=True):
    rng = np.random.default_rng(seed)
    X, w, y = rng.normal(scale=1.5, size=(N, d)), rng.normal(size=d), rng.normal(size=N)
    checks.check_gradient(lambda v, X=X, y=y, lam=lam: ridge_grad(X, v, y, lam), _ridge_loss(X, y, lam), w,
                          what=f"ridge gradient (N={N}, d={d}, λ={lam:g})", batch_size=N, hint=_hint)
### END HIDDEN TESTS

# %% [markdown]
# ### Exercise 6 · The ridge minimiser in closed form (2 points)
#
# Write `ridge_closed_form(X, y, lam)`, the minimiser $w^\star$ of the ridge loss, by solving
# $(X^\top X + N\lambda I)\,w^\star = X^\top y$ with `np.linalg.solve`. It must work for $N < d$ when
# $\lambda > 0$. The tests check that the gradient of the ridge loss vanishes at your $w^\star$ (an
# independent fact), that no small step from it lowers the loss, and that it matches a least-squares
# reference.

# %% nbgrader={"grade": false, "grade_id": "07_loss_gradients-ridge_closed_form-solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
def ridge_closed_form(X, y, lam):
    """The minimiser of the ridge loss L(w) = (1/N) ||X w - y||^2 + lam ||w||^2.

    Args:
        X: features, a float array of shape (N, d), one row per example; N < d is allowed when lam > 0.
        y: targets, a float array of shape (N,).
        lam: the regularisation strength; lam > 0, or lam = 0 when X has full column rank (rank d).

    Returns:
        w_star, a float array of shape (d,): the solution of (X^T X + N lam I) w = X^T y.
    """
    ### BEGIN SOLUTION
    n_examples, n_features = X.shape
    system = X.T @ X + n_examples * lam * np.eye(n_features)
    return np.linalg.solve(system, X.T @ y)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "07_loss_gradients-ridge_closed_form", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
def _ridge_loss(X, y, lam):
    return lambda w: np.mean((X @ w - y) ** 2) + lam * np.sum(w**2)


_hint = "Set (2/N) Xᵀ(Xw − y) + 2λw = 0 and multiply by N/2: the matrix is XᵀX + NλI, with N λ on the diagonal."


def _check_ridge_minimiser(X, y, lam, where):
    N, d = X.shape
    w_star = ridge_closed_form(X, y, lam)
    # 1. The gradient of the loss (numdiff, from the loss alone) vanishes at the minimiser.
    loss = _ridge_loss(X, y, lam)
    g_star = np.linalg.norm(numdiff.gradient(loss, np.asarray(w_star, dtype=float).reshape(d)))
    g_zero = np.linalg.norm(numdiff.gradient(loss, np.zeros(d)))
    if not g_star <= 1e-7 * g_zero:
        raise checks.CheckFailure(
            f"At your w* {where}, the gradient of the ridge loss has norm {g_star:.3g} ({g_star / g_zero:.2g} times "
            f"its norm at w = 0), but it must vanish at the minimiser. {_hint}")
    # 2. No small step lowers the loss.
    rng = np.random.default_rng(N + d)
    for _ in range(20):
        step = 1e-3 * (1.0 + np.linalg.norm(w_star)) * rng.normal(size=d)
        if loss(w_star + step) < loss(w_star) - 1e-12:
            raise checks.CheckFailure(f"A small step from your w* {where} lowers the ridge loss from "
                                      f"{loss(w_star):.6g} to {loss(w_star + step):.6g}, so w* is not the minimiser.")
    # 3. Ridge is least squares on data augmented with rows sqrt(N λ) I and targets 0.
    A = np.vstack([X, math.sqrt(N * lam) * np.eye(d)])
    reference = np.linalg.lstsq(A, np.concatenate([y, np.zeros(d)]), rcond=None)[0]
    checks.assert_close(w_star, reference, what="ridge minimiser w*", where=where, hint=_hint)


rng = np.random.default_rng(6)
_check_ridge_minimiser(rng.normal(size=(8, 3)), rng.normal(size=8), 0.5, "for N=8, d=3, λ=0.5")
### BEGIN HIDDEN TESTS
for seed, (N, d), lam in zip([601, 602, 603, 604, 605], [(12, 3), (4, 9), (1, 5), (60, 6), (20, 2)],
                             [0.0, 0.2, 1.0, 0.05, 40.0], strict=True):
    rng = np.random.default_rng(seed)
    X, y = rng.normal(scale=2.0, size=(N, d)), rng.normal(loc=1.0, size=N)
    _check_ridge_minimiser(X, y, lam, f"for N={N}, d={d}, λ={lam:g}")
# Two identical features and λ > 0: XᵀX is singular, XᵀX + NλI is not.
rng = np.random.default_rng(606)
column = rng.normal(size=15)
_check_ridge_minimiser(np.column_stack([column, column, rng.normal(size=15)]), rng.normal(size=15), 0.3,
                       "for two identical features, λ=0.3")
### END HIDDEN TESTS

# %% [markdown]
# ## What you can now do
#
# - Derive the MSE gradient $\frac2N X^\top(Xw - y)$ with the matrix rules of unit 2, and read it: each example
#   pulls $w$ along its own features, as hard as it is wrong.
# - Derive the softmax cross-entropy gradient $p - y$ through the softmax Jacobian, and batch it as
#   $\frac1N(P - Y)$ for class-index or one-hot targets.
# - Compute log-sum-exp and softmax stably by subtracting each row's maximum, and test them at logits of $\pm 1000$.
# - Write the ridge gradient and solve $(X^\top X + N\lambda I)\,w^\star = X^\top y$, with the constant $N\lambda$
#   that a mean-based loss requires.
#
# | loss | gradient | what it says |
# |---|---|---|
# | $\frac1N\|Xw - y\|^2$ | $\frac2N X^\top(Xw - y)$ | each example pulls $w$ along its features, as hard as it is wrong |
# | $\frac1N\sum_n -\log \operatorname{softmax}(Z_n)_{y_n}$ | $\frac1N(P - Y)$ | raise the true class, lower the others in proportion to their probability |
# | $\frac1N\|Xw - y\|^2 + \lambda\|w\|^2$ | $\frac2N X^\top(Xw - y) + 2\lambda w$ | shrink the weights; minimiser $(X^\top X + N\lambda I)^{-1}X^\top y$ |
#
# Three habits carry over to every loss you will meet: derive the gradient with the matrix rules and the
# chain rule, check it against a numerical gradient before trusting it, and feed your code extreme inputs on
# purpose.
#
# **Next: unit 8, *Autograd pitfalls, and how to check a gradient*.** In practice an autograd engine computes
# these gradients for you, and it never complains when it is wrong. Unit 8 turns the numerical check of this
# unit into a tool that finds wrong backward rules, and meets the other ways training fails silently.
