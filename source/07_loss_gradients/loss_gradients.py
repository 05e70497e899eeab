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
# One definition of the hidden checks (calcml.probes): the kernel runs them here on a fixed seed; the grader
# draws each student's own inputs, runs the driver in a sandbox and _verify in its own process.
import numpy as np

from calcml import numdiff, probes


def _dims(rng, low, high):
    return [int(rng.integers(low, high)), int(rng.integers(1, 8))]


def _inputs(rng):
    shapes = [(1, int(rng.integers(1, 4))), (int(rng.integers(5, 12)), 1), _dims(rng, 2, 8), _dims(rng, 20, 60),
              _dims(rng, 100, 250)]
    return {"cases": [{"X": rng.normal(scale=2.0, size=s), "w": rng.normal(size=s[1]),
                       "y": rng.normal(loc=3.0, size=s[0])} for s in shapes]}


_DRIVER = """
import numpy as np
result = [mse_grad(*(np.array(c[k], dtype=float) for k in ("X", "w", "y"))) for c in inputs["cases"]]
"""


def _verify(inputs, result):
    probes.require(isinstance(result, list) and len(result) == len(inputs["cases"]), "mse_grad gave too few results.")
    for case, got in zip(inputs["cases"], result, strict=True):
        X, w, y = (np.array(case[k], dtype=float) for k in ("X", "w", "y"))
        N, d = X.shape
        probes.close(got, numdiff.gradient(lambda v, X=X, y=y: np.mean((X @ v - y) ** 2), w),
                     what=f"MSE gradient for N={N}, d={d}", batch_size=N,
                     hint="It is (2/N) Xᵀ(Xw − y), N = X.shape[0] the number of examples.")


probes.exercise(globals(), inputs=_inputs, driver=_DRIVER, verify=_verify, seed=101)
### END HIDDEN TESTS


# %% active="py" wrong_answer="07_loss_gradients-mse_grad-solution" mistake="The sum of squares differentiated, but the loss is a mean: N times too large."
def mse_grad(X, w, y):
    return 2.0 * X.T @ (X @ w - y)


# %% active="py" wrong_answer="07_loss_gradients-mse_grad-solution" mistake="d(r²)/dr = 2r forgotten."
def mse_grad(X, w, y):
    return X.T @ (X @ w - y) / X.shape[0]


# %% active="py" wrong_answer="07_loss_gradients-mse_grad-solution" mistake="Divided by the number of features instead of the number of examples."
def mse_grad(X, w, y):
    return 2.0 * X.T @ (X @ w - y) / X.shape[1]


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
# One definition of the hidden checks (calcml.probes): the kernel runs them here on a fixed seed; the grader
# draws each student's own inputs, runs the driver in a sandbox and _verify in its own process.
import math

import mpmath
import numpy as np

from calcml import probes

_STABLE_HINT = ("exp overflows above 709.8, and exp of a very negative number underflows to 0 (log(0) = -inf, "
                "0/0 = nan): subtract each row's maximum before exponentiating.")


def _batches(rng, shapes, scales):
    return [rng.normal(scale=float(s), size=shape) for shape, s in zip(shapes, scales, strict=True)]


def _levels(rng):  # rows at very different levels in one batch: each row needs its own maximum
    base = np.array([[1000.0, -1000.0, 0.0], [-1000.0, -1000.0, -999.0], [710.0, 710.0, 710.0],
                     [-5000.0, 3.0, -5000.0]])
    return base + rng.uniform(-5, 5, size=(4, 1))


def _strict_value(got, what, where):  # the value the driver's strict() reported, unless it hit an error
    probes.require(isinstance(got, (list, dict)), f"Your {what} {where} gave no result.")
    value, error = (got.get("value"), got.get("error")) if isinstance(got, dict) else (got + [None, None])[:2]
    probes.require(not error, f"Your {what} {where} hit a floating-point error ({error}). {_STABLE_HINT}")
    return value


def _untouched(got, Z, name):  # the argument as the function left it (raw data from the driver) is the one given
    after = got.get("Z_after") if isinstance(got, dict) else None
    probes.require(isinstance(after, list) and np.shape(after) == Z.shape
                   and bool(np.array_equal(np.asarray(after, dtype=float), Z)),
                   f"Your {name} changed its argument Z in place; write Z - m, not Z -= m.")


def _lse(Z):  # log Σ exp of each row, in 40-digit arithmetic with unbounded exponents (mpmath)
    with mpmath.workdps(40):
        return np.array([float(mpmath.log(mpmath.fsum(mpmath.exp(v) for v in row))) for row in np.asarray(Z).tolist()])


def _inputs(rng):
    shapes = [(1, 1), (int(rng.integers(2, 9)), 2), (3, int(rng.integers(5, 10))), (int(rng.integers(30, 70)), 4),
              (5, 6)]
    batches = _batches(rng, shapes, [1.0, rng.uniform(10, 50), rng.uniform(500, 1000), rng.uniform(2, 8),
                                     rng.uniform(1000, 4000)])
    constant = float(rng.uniform(-720, -650))
    return {"batches": batches + [_levels(rng)], "constant": {"value": constant, "shape": [3, int(rng.integers(2, 8))]},
            "shifted": {"Z": rng.normal(size=(5, 4)), "shift": rng.uniform(-900.0, 900.0, size=5)}}


_DRIVER = probes.STRICT_CALL + """
result = {"batches": []}
for Z in inputs["batches"]:
    Z = np.array(Z, dtype=float)
    value, error = strict(logsumexp, Z)
    result["batches"].append({"value": value, "error": error, "Z_after": Z})
c = inputs["constant"]
result["constant"] = strict(logsumexp, np.full(c["shape"], c["value"]))
s = inputs["shifted"]
Z, shift = np.array(s["Z"]), np.array(s["shift"])
result["shifted"] = strict(logsumexp, Z + shift[:, None])
"""

_HINT = ("lse(z) = m + log Σ exp(z − m), summed over each row (axis=1), with m the maximum of that row; is m "
         "added back?")


def _verify(inputs, result):
    probes.require(isinstance(result, dict) and isinstance(result.get("batches"), list)
                   and len(result["batches"]) == len(inputs["batches"]), "logsumexp gave too few results.")
    for Z, got in zip(inputs["batches"], result["batches"], strict=True):
        Z = np.array(Z)
        where = f"of a {Z.shape} batch of logits up to {np.max(np.abs(Z)):.3g}"
        probes.close(_strict_value(got, "logsumexp", where), _lse(Z), what="logsumexp", where=where, hint=_HINT)
        _untouched(got, Z, "logsumexp")
    c = inputs["constant"]
    where = f"of constant rows of {c['value']:.4g}"
    probes.close(_strict_value(result.get("constant"), "logsumexp", where),
                 np.full(c["shape"][0], c["value"] + math.log(c["shape"][1])), what="logsumexp", where=where,
                 hint=_HINT)
    s = inputs["shifted"]
    Z = np.array(s["Z"]) + np.array(s["shift"])[:, None]
    probes.close(_strict_value(result.get("shifted"), "logsumexp", "of shifted rows"), _lse(Z), what="logsumexp",
                 where="of rows shifted by up to ±900", hint=_HINT)


probes.exercise(globals(), inputs=_inputs, driver=_DRIVER, verify=_verify, seed=201)
### END HIDDEN TESTS


# %% active="py" wrong_answer="07_loss_gradients-logsumexp-solution" mistake="The textbook formula: exp(1000) overflows to inf, exp(-1000) underflows to 0 and log(0) = -inf."
def logsumexp(Z):
    return np.log(np.sum(np.exp(Z), axis=1))


# %% active="py" wrong_answer="07_loss_gradients-logsumexp-solution" mistake="The maximum is subtracted but never added back."
def logsumexp(Z):
    m = np.max(Z, axis=1, keepdims=True)
    return np.log(np.sum(np.exp(Z - m), axis=1))


# %% active="py" wrong_answer="07_loss_gradients-logsumexp-solution" mistake="One maximum for the whole batch: a row far below it underflows to log(0)."
def logsumexp(Z):
    m = np.max(Z)
    return m + np.log(np.sum(np.exp(Z - m), axis=1))


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
# One definition of the hidden checks (calcml.probes): the kernel runs them here on a fixed seed; the grader
# draws each student's own inputs, runs the driver in a sandbox and _verify in its own process.
import mpmath
import numpy as np

from calcml import checks, probes

_STABLE_HINT = ("exp overflows above 709.8, and exp of a very negative number underflows to 0 (log(0) = -inf, "
                "0/0 = nan): subtract each row's maximum before exponentiating.")


def _batches(rng, shapes, scales):
    return [rng.normal(scale=float(s), size=shape) for shape, s in zip(shapes, scales, strict=True)]


def _levels(rng):  # rows at very different levels in one batch: each row needs its own maximum
    base = np.array([[1000.0, -1000.0, 0.0], [-1000.0, -1000.0, -999.0], [710.0, 710.0, 710.0],
                     [-5000.0, 3.0, -5000.0]])
    return base + rng.uniform(-5, 5, size=(4, 1))


def _strict_value(got, what, where):  # the value the driver's strict() reported, unless it hit an error
    probes.require(isinstance(got, (list, dict)), f"Your {what} {where} gave no result.")
    value, error = (got.get("value"), got.get("error")) if isinstance(got, dict) else (got + [None, None])[:2]
    probes.require(not error, f"Your {what} {where} hit a floating-point error ({error}). {_STABLE_HINT}")
    return value


def _untouched(got, Z, name):  # the argument as the function left it (raw data from the driver) is the one given
    after = got.get("Z_after") if isinstance(got, dict) else None
    probes.require(isinstance(after, list) and np.shape(after) == Z.shape
                   and bool(np.array_equal(np.asarray(after, dtype=float), Z)),
                   f"Your {name} changed its argument Z in place; write Z - m, not Z -= m.")


def _softmax(Z):  # the softmax of each row, in 40-digit arithmetic with unbounded exponents (mpmath)
    rows = []
    with mpmath.workdps(40):
        for row in np.asarray(Z).tolist():
            e = [mpmath.exp(v) for v in row]
            total = mpmath.fsum(e)
            rows.append([float(x / total) for x in e])
    return np.array(rows)


def _inputs(rng):
    shapes = [(1, 1), (int(rng.integers(2, 9)), 2), (3, int(rng.integers(5, 10))), (int(rng.integers(30, 60)), 4),
              (5, 7)]
    batches = _batches(rng, shapes, [1.0, rng.uniform(20, 60), rng.uniform(500, 1000), rng.uniform(2, 8),
                                     rng.uniform(1000, 3000)])
    # Gaps of 710 to 722 below the row maximum: exp(gap) overflows, yet each probability is a subnormal number
    # (1e-314 to 1e-308), which a formula that overflows and divides by inf returns as 0.
    gaps = rng.uniform(710.0, 722.0, size=(4, 2))
    tiny = np.column_stack([np.zeros(4), -gaps]) + rng.uniform(-400.0, 400.0, size=(4, 1))
    return {"batches": batches + [_levels(rng), tiny],
            "shifted": {"Z": rng.normal(size=(6, 3)), "shift": rng.uniform(-900.0, 900.0, size=6)}}


_DRIVER = probes.STRICT_CALL + """
result = {"batches": []}
for Z in inputs["batches"]:
    Z = np.array(Z, dtype=float)
    value, error = strict(stable_softmax, Z)
    result["batches"].append({"value": value, "error": error, "Z_after": Z})
s = inputs["shifted"]
result["shifted"] = strict(stable_softmax, np.array(s["Z"]) + np.array(s["shift"])[:, None])
"""

_HINT = "Divide the exponentials of each row by that row's sum (axis=1, keepdims=True)."


def _tiny_probabilities(value, expected, Z):
    """Probabilities between 1e-314 and 1e-307 (the row maximum 708 to 723 above) must come out to 6 digits: a
    formula that overflows there (exp(gap) = inf, then 1/inf = 0) returns 0, which `close` cannot see next to 1."""
    band = (expected >= 1e-314) & (expected <= 1e-307)
    if not band.any():
        return
    got = np.asarray(value, dtype=float)
    bad = band & ~(np.abs(got - expected) <= 1e-6 * expected)
    if bad.any():
        n, k = (int(i) for i in np.argwhere(bad)[0])
        raise checks.CheckFailure(
            f"Your stable_softmax gives {got[n, k]:.6g} for a probability of {expected[n, k]:.6g} (row {n}: the logit "
            f"{Z[n, k]:.6g} is {np.max(Z[n]) - Z[n, k]:.4g} below the row's maximum). A formula whose exp overflows "
            "there loses it. " + _STABLE_HINT)


def _verify(inputs, result):
    probes.require(isinstance(result, dict) and isinstance(result.get("batches"), list)
                   and len(result["batches"]) == len(inputs["batches"]), "stable_softmax gave too few results.")
    for Z, got in zip(inputs["batches"], result["batches"], strict=True):
        Z = np.array(Z)
        _untouched(got, Z, "stable_softmax")
        where = f"of a {Z.shape} batch of logits up to {np.max(np.abs(Z)):.3g}"
        value, expected = _strict_value(got, "stable_softmax", where), _softmax(Z)
        probes.close(value, expected, what="softmax", where=where, hint=_HINT)
        _tiny_probabilities(value, expected, Z)
        probes.close(np.sum(np.asarray(value, dtype=float), axis=1), np.ones(len(Z)), what="row sums of the softmax",
                     where=where, hint=_HINT)
    s = inputs["shifted"]
    Z = np.array(s["Z"]) + np.array(s["shift"])[:, None]
    probes.close(_strict_value(result.get("shifted"), "stable_softmax", "of shifted rows"), _softmax(Z),
                 what="softmax", where="of rows shifted by up to ±900", hint=_HINT)


probes.exercise(globals(), inputs=_inputs, driver=_DRIVER, verify=_verify, seed=301)
### END HIDDEN TESTS


# %% active="py" wrong_answer="07_loss_gradients-stable_softmax-solution" mistake="The textbook formula: inf / inf = nan at logits of 1000."
def stable_softmax(Z):
    E = np.exp(Z)
    return E / E.sum(axis=1, keepdims=True)


# %% active="py" wrong_answer="07_loss_gradients-stable_softmax-solution" mistake="Right values, but the caller's logits are modified in place."
def stable_softmax(Z):
    Z -= Z.max(axis=1, keepdims=True)
    E = np.exp(Z)
    return E / E.sum(axis=1, keepdims=True)


# %% active="py" wrong_answer="07_loss_gradients-stable_softmax-solution" mistake="Normalised over the batch (columns) instead of over the classes (rows)."
def stable_softmax(Z):
    E = np.exp(Z - Z.max(axis=1, keepdims=True))
    return E / E.sum(axis=0, keepdims=True)


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
# One definition of the hidden checks (calcml.probes): the kernel runs them here on a fixed seed; the grader
# draws each student's own inputs, runs the driver in a sandbox and _verify in its own process.
import mpmath
import numpy as np

from calcml import checks, numdiff, probes


def _untouched(got, Z, name):  # the argument as the function left it (raw data from the driver) is the one given
    after = got.get("Z_after") if isinstance(got, dict) else None
    probes.require(isinstance(after, list) and np.shape(after) == Z.shape
                   and bool(np.array_equal(np.asarray(after, dtype=float), Z)),
                   f"Your {name} changed its argument Z in place; write Z - m, not Z -= m.")


def _mean_ce(Z, labels):  # (1/N) Σ_n [log Σ_k exp Z[n, k] − Z[n, labels[n]]], in 40-digit arithmetic (mpmath)
    with mpmath.workdps(40):
        total = mpmath.fsum(mpmath.log(mpmath.fsum(mpmath.exp(v) for v in row)) - row[t]
                            for row, t in zip(np.asarray(Z).tolist(), labels, strict=True))
        return float(total / len(labels))


def _inputs(rng):
    cases = []
    for (N, K), scale in zip([(1, 2), (int(rng.integers(5, 9)), 4), (3, int(rng.integers(4, 7))), (5, 5)],
                             [1.0, rng.uniform(1, 4), rng.uniform(500, 1000), rng.uniform(100, 400)], strict=True):
        cases.append({"Z": rng.normal(scale=float(scale), size=(N, K)), "labels": rng.integers(0, K, size=N)})
    ties = np.array([[1000.0, 1000.0, -1000.0], [-1000.0, 1000.0, 999.0], [500.0, 500.0, 500.0]])
    cases.append({"Z": ties + rng.uniform(-3, 3, size=(3, 1)), "labels": [0, 0, 2]})
    return {"cases": cases}


_DRIVER = probes.STRICT_CALL + """
result = []
for case in inputs["cases"]:
    Z, labels = np.array(case["Z"], dtype=float), np.array(case["labels"], dtype=int)
    K = Z.shape[1]
    entry = {}
    for kind, targets in [("index", labels), ("one_hot_int", np.eye(K, dtype=int)[labels]),
                          ("one_hot", np.eye(K)[labels])]:
        Z = np.array(case["Z"], dtype=float)
        try:
            value, error = strict(softmax_cross_entropy_grad, Z, targets)
        except (IndexError, ValueError) as failure:
            value, error = None, f"{type(failure).__name__}: {failure}"
        entry[kind] = {"value": value, "error": error, "Z_after": Z}
    result.append(entry)
"""


def _verify(inputs, result):
    probes.require(isinstance(result, list) and len(result) == len(inputs["cases"]),
                   "softmax_cross_entropy_grad gave too few results.")
    for case, got in zip(inputs["cases"], result, strict=True):
        Z, labels = np.array(case["Z"], dtype=float), [int(t) for t in case["labels"]]
        N, K = Z.shape
        expected = numdiff.gradient(lambda V, labels=labels: _mean_ce(V, labels), Z, h=1e-3)
        probes.require(isinstance(got, dict), "softmax_cross_entropy_grad gave no result.")
        for kind, label in [("index", "class-index targets"), ("one_hot_int", "integer one-hot targets"),
                            ("one_hot", "one-hot targets")]:
            entry = got.get(kind)
            where = f"for a ({N}, {K}) batch of logits up to {np.max(np.abs(Z)):.3g}, {label}"
            probes.require(isinstance(entry, dict), f"softmax_cross_entropy_grad gave no result {where}.")
            if entry.get("error"):
                raise checks.CheckFailure(
                    f"Your softmax_cross_entropy_grad {where} raised {entry['error']}. It must accept class indices "
                    "(1-D, shape (N,)) and one-hot rows (2-D, shape (N, K)), and compute the probabilities with your "
                    "stable_softmax.")
            _untouched(entry, Z, "softmax_cross_entropy_grad")
            probes.close(entry.get("value"), expected, what="gradient of the mean cross-entropy", where=where,
                         batch_size=N,
                         hint="It is (P − Y)/N: P the softmax of each row, Y the one-hot targets, N the batch size.")
        # Each row of the gradient sums to 0, because P and Y both have rows summing to 1.
        probes.close(np.sum(np.asarray(got["index"]["value"], dtype=float), axis=1), np.zeros(N),
                     what="row sums of the gradient", where=f"for N={N}")


probes.exercise(globals(), inputs=_inputs, driver=_DRIVER, verify=_verify, seed=401)
### END HIDDEN TESTS


# %% active="py" wrong_answer="07_loss_gradients-softmax_cross_entropy_grad-solution" mistake="The gradient of the summed loss: the 1/N of the mean is missing."
def softmax_cross_entropy_grad(Z, y):
    N, K = Z.shape
    Y = y if np.ndim(y) == 2 else np.eye(K)[y]
    return stable_softmax(Z) - Y


# %% active="py" wrong_answer="07_loss_gradients-softmax_cross_entropy_grad-solution" mistake="A naive softmax inside: nan at logits of +-1000."
def softmax_cross_entropy_grad(Z, y):
    N, K = Z.shape
    Y = y if np.ndim(y) == 2 else np.eye(K)[y]
    E = np.exp(Z)
    return (E / E.sum(axis=1, keepdims=True) - Y) / N


# %% active="py" wrong_answer="07_loss_gradients-softmax_cross_entropy_grad-solution" mistake="Only class indices handled: one-hot targets are indexed as if they were indices."
def softmax_cross_entropy_grad(Z, y):
    N, K = Z.shape
    Y = np.zeros((N, K))
    Y[np.arange(N), y] = 1.0
    return (stable_softmax(Z) - Y) / N


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
# One definition of the hidden checks (calcml.probes): the kernel runs them here on a fixed seed; the grader
# draws each student's own inputs, runs the driver in a sandbox and _verify in its own process.
import numpy as np

from calcml import numdiff, probes


def _dims(rng, low, high):
    return [int(rng.integers(low, high)), int(rng.integers(1, 8))]


def _inputs(rng):
    shapes = [_dims(rng, 5, 15), (3, int(rng.integers(4, 8))), _dims(rng, 30, 60), (1, 3)]
    lams = [0.0, float(rng.uniform(0.05, 0.5)), float(rng.uniform(1, 5)), float(rng.uniform(10, 30))]
    return {"cases": [{"X": rng.normal(scale=1.5, size=s), "w": rng.normal(size=s[1]), "y": rng.normal(size=s[0]),
                       "lam": lam} for s, lam in zip(shapes, lams, strict=True)]}


_DRIVER = """
import numpy as np
result = [ridge_grad(*(np.array(c[k], dtype=float) for k in ("X", "w", "y")), c["lam"]) for c in inputs["cases"]]
"""


def _verify(inputs, result):
    probes.require(isinstance(result, list) and len(result) == len(inputs["cases"]), "ridge_grad gave too few results.")
    for case, got in zip(inputs["cases"], result, strict=True):
        X, w, y = (np.array(case[k], dtype=float) for k in ("X", "w", "y"))
        lam, (N, d) = case["lam"], X.shape
        probes.close(got, numdiff.gradient(lambda v, X=X, y=y, lam=lam: np.mean((X @ v - y) ** 2) + lam * np.sum(v**2),
                                           w),
                     what=f"ridge gradient (N={N}, d={d}, λ={lam:.3g})", batch_size=N,
                     hint="The penalty λ‖w‖² = λ wᵀw has gradient 2λw, and it is not divided by N.")


probes.exercise(globals(), inputs=_inputs, driver=_DRIVER, verify=_verify, seed=501)
### END HIDDEN TESTS


# %% active="py" wrong_answer="07_loss_gradients-ridge_grad-solution" mistake="The penalty's gradient taken as lam * w (the 2 of d(w²)/dw forgotten)."
def ridge_grad(X, w, y, lam):
    N = X.shape[0]
    return 2.0 * X.T @ (X @ w - y) / N + lam * w


# %% active="py" wrong_answer="07_loss_gradients-ridge_grad-solution" mistake="The penalty averaged over the batch as well."
def ridge_grad(X, w, y, lam):
    N = X.shape[0]
    return (2.0 * X.T @ (X @ w - y) + 2.0 * lam * w) / N


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
# One definition of the hidden checks (calcml.probes): the kernel runs them here on a fixed seed; the grader
# draws each student's own inputs, runs the driver in a sandbox and _verify in its own process.
import math

import numpy as np

from calcml import checks, numdiff, probes


def _dims(rng, low, high):
    return [int(rng.integers(low, high)), int(rng.integers(1, 8))]


def _inputs(rng):
    shapes = [_dims(rng, 10, 20), (4, int(rng.integers(6, 10))), (1, 5), _dims(rng, 40, 80), (20, 2)]
    lams = [0.0, float(rng.uniform(0.1, 0.5)), float(rng.uniform(0.5, 2)), float(rng.uniform(0.01, 0.1)),
            float(rng.uniform(20, 60))]
    cases = [{"X": rng.normal(scale=2.0, size=s), "y": rng.normal(loc=1.0, size=s[0]), "lam": lam}
             for s, lam in zip(shapes, lams, strict=True)]
    cases[0]["X"] = rng.normal(scale=2.0, size=(max(cases[0]["X"].shape[0], 8), 3))  # full column rank for λ = 0
    cases[0]["y"] = rng.normal(loc=1.0, size=cases[0]["X"].shape[0])
    column = rng.normal(size=15)
    cases.append({"X": np.column_stack([column, column, rng.normal(size=15)]), "y": rng.normal(size=15),
                  "lam": float(rng.uniform(0.1, 0.5))})
    return {"cases": cases}


_DRIVER = """
import numpy as np
result = [ridge_closed_form(np.array(c["X"], dtype=float), np.array(c["y"], dtype=float), c["lam"])
          for c in inputs["cases"]]
"""

_HINT = ("Set (2/N) Xᵀ(Xw − y) + 2λw = 0 and multiply by N/2: the matrix is XᵀX + NλI, with N λ on the "
         "diagonal.")


def _verify(inputs, result):
    probes.require(isinstance(result, list) and len(result) == len(inputs["cases"]),
                   "ridge_closed_form gave too few results.")
    for case, got in zip(inputs["cases"], result, strict=True):
        X, y, lam = np.array(case["X"]), np.array(case["y"]), case["lam"]
        N, d = X.shape
        where = f"for N={N}, d={d}, λ={lam:.3g}"
        # Ridge is least squares on data augmented with rows sqrt(N λ) I and targets 0.
        A = np.vstack([X, math.sqrt(N * lam) * np.eye(d)])
        reference = np.linalg.lstsq(A, np.concatenate([y, np.zeros(d)]), rcond=None)[0]
        probes.close(got, reference, what="ridge minimiser w*", where=where, hint=_HINT)
        # Independent facts: the gradient of the loss (numdiff, from the loss alone) vanishes at the minimiser,
        # and no small step lowers the loss.
        w_star = np.asarray(got, dtype=float).reshape(d)
        loss = lambda w, X=X, y=y, lam=lam: np.mean((X @ w - y) ** 2) + lam * np.sum(w**2)  # noqa: E731
        g_star = np.linalg.norm(numdiff.gradient(loss, w_star))
        g_zero = np.linalg.norm(numdiff.gradient(loss, np.zeros(d)))
        if not g_star <= 1e-7 * g_zero:
            raise checks.CheckFailure(
                f"At your w* {where}, the gradient of the ridge loss has norm {g_star:.3g} ({g_star / g_zero:.2g} "
                f"times its norm at w = 0), but it must vanish at the minimiser. {_HINT}")
        rng = np.random.default_rng(N + d)
        for _ in range(20):
            step = 1e-3 * (1.0 + np.linalg.norm(w_star)) * rng.normal(size=d)
            if loss(w_star + step) < loss(w_star) - 1e-12:
                raise checks.CheckFailure(f"A small step from your w* {where} lowers the ridge loss from "
                                          f"{loss(w_star):.6g} to {loss(w_star + step):.6g}, so w* is not the "
                                          "minimiser.")


probes.exercise(globals(), inputs=_inputs, driver=_DRIVER, verify=_verify, seed=601)
### END HIDDEN TESTS


# %% active="py" wrong_answer="07_loss_gradients-ridge_closed_form-solution" mistake="The sum-of-squares textbook formula, used with the mean-squared loss: lam where N * lam belongs."
def ridge_closed_form(X, y, lam):
    d = X.shape[1]
    return np.linalg.solve(X.T @ X + lam * np.eye(d), X.T @ y)


# %% active="py" wrong_answer="07_loss_gradients-ridge_closed_form-solution" mistake="A scalar added to every entry of XᵀX instead of a multiple of the identity."
def ridge_closed_form(X, y, lam):
    N = X.shape[0]
    return np.linalg.solve(X.T @ X + N * lam, X.T @ y)


# %% active="py" wrong_answer="07_loss_gradients-ridge_closed_form-solution" mistake="The 2 of the penalty's gradient kept on one side only: 2 N lam instead of N lam."
def ridge_closed_form(X, y, lam):
    N, d = X.shape
    return np.linalg.solve(X.T @ X + 2 * N * lam * np.eye(d), X.T @ y)


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
