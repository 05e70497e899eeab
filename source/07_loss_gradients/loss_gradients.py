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
# regularised quadratics). The text works the three classics; the graded exercises ask for variants it does not
# work, so that you derive them yourself. By the end of this unit you will be able to
#
# - derive the gradient of the mean squared error, $\frac{2}{N}X^\top(Xw - y)$, from the rules of unit 2, and
#   the gradient of a weighted mean squared error;
# - derive the gradient $p - y$ of softmax + cross-entropy from the softmax Jacobian of unit 3, and the gradient
#   of label-smoothed cross-entropy and of the logistic (binary cross-entropy) loss with respect to the logits;
# - compute softmax, log-sum-exp and the logistic gradient stably, so logits of $\pm 1000$ give numbers, not `nan`;
# - derive the gradient and the closed-form minimiser of ridge regression, constants included, and of a general
#   quadratic penalty $\alpha\, w^\top P w$;
# - derive the backward pass of a batched linear layer $Y = XW^\top + b$: the gradients of the inputs, of the
#   weights (out of the whole batch) and of the bias (broadcast over the batch);
# - write all of these as vectorised functions of a whole batch, and check them against numerical gradients.
#
# Symbols follow [the course's notation](../../course/notation.md): $L$ is a loss, $N$ the number of examples
# in a batch, $\alpha$ the strength of a penalty and $\lambda$ an eigenvalue.

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
# $$ L(w) = \frac1N\,\|Xw - y\|^2 + \alpha\,\|w\|^2, \qquad \alpha \ge 0 . $$
#
# Here $\alpha$ is the strength of the penalty ($\lambda$ is kept for eigenvalues, as in unit 6). The penalty is
# $\alpha\, w^\top w = \alpha\, w^\top I\, w$, a quadratic form with the symmetric matrix $\alpha I$, so its
# gradient is $2\alpha w$. With section 1,
#
# $$ \nabla L(w) = \frac2N\, X^\top (Xw - y) + 2\alpha\, w . $$
#
# **The closed form.** $L$ is a quadratic, so its minimiser is where the gradient vanishes. Set it to zero and
# multiply by $N/2$:
#
# $$ X^\top X w - X^\top y + N\alpha\, w = 0
#    \quad\Longrightarrow\quad
#    \boxed{\;(X^\top X + N\alpha\, I)\; w^\star = X^\top y\;} $$
#
# Mind the constant. It is $N\alpha$, not $\alpha$, because the data term is a *mean* and the penalty is
# not. (Textbooks that use the *sum* of squares, $\|Xw - y\|^2 + \alpha\|w\|^2$, get $X^\top X + \alpha I$;
# mixing the two conventions is the classic bug.)
#
# **Why it always has a solution for $\alpha > 0$.** For any $v \ne 0$,
# $v^\top (X^\top X + N\alpha I)\, v = \|Xv\|^2 + N\alpha \|v\|^2 > 0$, so the matrix is positive definite,
# hence invertible, even when there are fewer examples than features ($N < d$) or when two features are
# copies of each other; in both cases $X^\top X$ alone is singular. The Hessian $\frac2N X^\top X + 2\alpha I$
# is positive definite as well, so $w^\star$ is the unique minimiser. In code, solve the linear system
# (`np.linalg.solve`) rather than forming an inverse: it is faster and more accurate.
#
# Sympy solves $\nabla L = 0$ on a small integer dataset with $\alpha$ left as a symbol, and confirms the
# constant $N\alpha$:

# %%
alpha_s = sp.Symbol("alpha", positive=True)
X_r = sp.Matrix([[1, 2], [0, 1], [2, 1]])
y_r = sp.Matrix([1, 2, 0])
w_r = sp.Matrix(sp.symbols("w0:2"))
N_r = X_r.rows

ridge_s = ((X_r * w_r - y_r).T * (X_r * w_r - y_r))[0, 0] / N_r + alpha_s * (w_r.T * w_r)[0, 0]
stationary = sp.solve([sp.diff(ridge_s, wi) for wi in w_r], list(w_r), dict=True)[0]
w_star_s = sp.Matrix([sp.factor(stationary[wi]) for wi in w_r])
print("w*(α) =", w_star_s.T)
print("(XᵀX + NαI) w* − Xᵀy =", sp.simplify((X_r.T * X_r + N_r * alpha_s * sp.eye(2)) * w_star_s - X_r.T * y_r).T)
print("α w*(α) as α → ∞:", w_star_s.applyfunc(lambda wi: sp.limit(alpha_s * wi, alpha_s, sp.oo)).T,
      "   Xᵀy / N:", (X_r.T * y_r / N_r).T)

# %% [markdown]
# As $\alpha$ grows, $w^\star \approx X^\top y / (N\alpha) \to 0$: the penalty **shrinks** the weights.
#
# It also reshapes the bowl. The Hessian $\frac2N (X^\top X + N\alpha I)$ is the matrix $A$ of unit 6, and the
# penalty adds $N\alpha$ to every eigenvalue of $X^\top X$. Take a dataset whose two features are strongly
# correlated: at $\alpha = 0$ the bowl is a long, narrow valley, where many weights fit almost equally well.
# The penalty rounds it, lowering the condition number $\kappa$, and pulls its bottom towards $w = 0$:

# %%
rng = np.random.default_rng(7)
x_first = rng.normal(size=40)
X_toy = np.column_stack([x_first, x_first + 0.3 * rng.normal(size=40)])
y_toy = X_toy @ np.array([2.0, -1.0]) + 0.2 * rng.normal(size=40)

eigenvalues = np.linalg.eigvalsh(X_toy.T @ X_toy)  # of XᵀX, ascending
for alpha in [0.0, 0.1, 1.0]:
    shifted = eigenvalues + len(y_toy) * alpha  # the eigenvalues of XᵀX + NαI
    print(f"α = {alpha:<3g}: eigenvalues of XᵀX + NαI = {shifted.round(1)},  κ = {shifted[-1] / shifted[0]:.1f}")
axes = loss_explorer.ridge_contours(X_toy, y_toy, [0.0, 0.1, 1.0])
plt.show()

# %% [markdown]
# The condition number falls from 43.5 to 12.4 and then to 2.5. By unit 6, gradient descent needs about
# $1.15\,\kappa$ steps per digit even with its best fixed step, so the penalty that shrinks the weights also
# makes them faster to find.

# %% [markdown]
# ## Exercises
#
# Each function works on a whole batch at once, with NumPy operations instead of Python loops over examples.
# The text above worked the MSE, the softmax cross-entropy and ridge; the graded exercises 1 and 4 to 8 are
# variants it did not work: derive each on paper first (a component, then the whole batch), then write it.
# Each docstring states the contract (the loss, the shapes, what is returned), never the answer. The tests
# compare your gradients with `numdiff` applied to the loss itself and with high-precision references, and
# their messages say what looks wrong. You may call your earlier functions (exercise 4 is easiest that way), but
# then a bug in an earlier one shows up in the later tests too.
#
# The cell below holds the helper the stability tests of exercises 2 to 5 use: it runs your function with
# NumPy's overflow, division by zero and invalid operations (such as $\infty/\infty$) turned into errors.
# Nothing else fails it: a warning of your own, a deprecated NumPy call or a `print` is fine. You do not
# need to read it; do not change it.

# %% nbgrader={"grade": false, "grade_id": "07_loss_gradients-test_helpers", "locked": true, "schema_version": 3, "solution": false, "task": false}
_STABILITY_ADVICE = {
    "logsumexp": ". exp overflows above 709.8, and exp of a very negative number underflows to 0, whose log is "
                 "-inf: subtract each row's maximum before exponentiating.",
    "stable_softmax": ". exp overflows above 709.8, and 0/0 is nan: subtract each row's maximum before "
                      "exponentiating.",
    "smoothed_cross_entropy_grad": " at extreme logits: compute the probabilities with your stable_softmax, not "
                                   "with exp(Z) directly.",
    "logistic_grad": ". exp(-z) overflows for z below -709.8, and NumPy computes both branches of np.where: "
                     "exponentiate only numbers <= 0, such as -|z|.",
}
_FLOATING_POINT_WARNING = "(?i).*(overflow|invalid value|divide by zero) encountered"


def _strict(fn, *args, what):
    """Call fn(*args) with NumPy's overflow, divide-by-zero (log 0) and invalid operations (nan) raised, and turn
    them, NumPy's RuntimeWarning about them, or a Python OverflowError, into a failure that explains itself.
    Underflow is allowed, and every other warning is only a warning: the notebook's filters are reset for the
    call, so no unrelated warning can fail a correct answer."""
    try:
        with warnings.catch_warnings(), np.errstate(over="raise", divide="raise", invalid="raise", under="ignore"):
            warnings.resetwarnings()
            warnings.filterwarnings("error", message=_FLOATING_POINT_WARNING, category=RuntimeWarning)
            return fn(*args)
    except (FloatingPointError, OverflowError, RuntimeWarning) as err:
        raise checks.CheckFailure(f"Your {what} hit a floating-point error ({err}){_STABILITY_ADVICE[what]}") from None

# %% [markdown]
# ### Exercise 1 · The gradient of a weighted MSE (2 points)
#
# Some examples matter more than others: a rare case, a trusted measurement, a recent observation. Give example
# $n$ a weight $c_n \ge 0$ (not all zero) and average the squared errors with those weights:
#
# $$ L(w) = \frac{\sum_{n=1}^N c_n\,(x_n^\top w - y_n)^2}{\sum_{n=1}^N c_n} . $$
#
# Derive $\nabla L(w)$ with the rules of section 1 (write the numerator with a diagonal matrix, or differentiate
# one term and add up), check that its shape is the shape of $w$, then write `weighted_mse_grad(X, w, y, c)`
# for a whole batch. When every $c_n$ is the same, $L$ is the MSE of section 1, and so is its gradient.

# %% nbgrader={"grade": false, "grade_id": "07_loss_gradients-weighted_mse_grad-solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
def weighted_mse_grad(X, w, y, c):
    """Gradient, with respect to w, of the weighted mean squared error

        L(w) = sum_n c[n] * (X[n] @ w - y[n])**2 / sum_n c[n].

    Args:
        X: features, a float array of shape (N, d), one row per example (N >= 1).
        w: weights, a float array of shape (d,).
        y: targets, a float array of shape (N,).
        c: the examples' weights, an array of shape (N,) (ints or floats), each >= 0 and not all 0.

    Returns:
        dL/dw, a float array of shape (d,).
    """
    ### BEGIN SOLUTION
    c = np.asarray(c, dtype=float)
    residual = X @ w - y
    return 2.0 * (X.T @ (c * residual)) / np.sum(c)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "07_loss_gradients-weighted_mse_grad", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
# The reference is numdiff's gradient of the loss itself, defined here.
def _weighted_mse(X, y, c):
    return lambda w: np.sum(c * (X @ w - y) ** 2) / np.sum(c)


_hint = ("Differentiate c_n (x_nᵀw − y_n)² for one example (the chain rule gives a factor 2 and x_n), add up, and "
         "divide by Σ c_n, the normalisation of the loss, not by N.")
rng = np.random.default_rng(1)
X, w, y, c = rng.normal(size=(7, 3)), rng.normal(size=3), rng.normal(size=7), rng.uniform(0.5, 3.0, size=7)
checks.check_gradient(lambda v: weighted_mse_grad(X, v, y, c), _weighted_mse(X, y, c), w,
                      what="weighted MSE gradient", batch_size=7, hint=_hint)
checks.check_gradient(lambda v: weighted_mse_grad(X, v, y, np.full(7, 4.0)), _weighted_mse(X, y, np.full(7, 4.0)), w,
                      what="weighted MSE gradient", batch_size=7, hint=_hint)
### BEGIN HIDDEN TESTS
# One definition of the hidden checks (calcml.probes): the kernel runs them here on a fixed seed; the grader
# draws each student's own inputs, runs the driver in a sandbox and _verify in its own process.
import numpy as np

from calcml import numdiff, probes


def _dims(rng, low, high):
    return [int(rng.integers(low, high)), int(rng.integers(1, 8))]


def _inputs(rng):
    shapes = [(1, int(rng.integers(1, 4))), (int(rng.integers(5, 12)), 1), _dims(rng, 2, 8), _dims(rng, 20, 60),
              _dims(rng, 100, 250), _dims(rng, 6, 12)]
    cases = [{"X": rng.normal(scale=2.0, size=s), "w": rng.normal(size=s[1]), "y": rng.normal(loc=3.0, size=s[0]),
              "c": rng.uniform(0.1, 5.0, size=s[0])} for s in shapes]
    cases[2]["c"] = np.full(shapes[2][0], float(rng.uniform(2.0, 9.0)))  # equal weights, summing to more than N
    cases[3]["c"][: shapes[3][0] // 3] = 0.0  # a third of the examples left out
    cases[5]["c"] = rng.integers(0, 6, size=shapes[5][0]).tolist()  # integer weights (counts)
    cases[5]["c"][0] = 7
    return {"cases": cases}


_DRIVER = """
import numpy as np
result = [weighted_mse_grad(*(np.array(c[k], dtype=float) for k in ("X", "w", "y")), np.array(c["c"]))
          for c in inputs["cases"]]
"""


def _verify(inputs, result):
    probes.require(isinstance(result, list) and len(result) == len(inputs["cases"]),
                   "weighted_mse_grad gave too few results.")
    for case, got in zip(inputs["cases"], result, strict=True):
        X, w, y, c = (np.array(case[k], dtype=float) for k in ("X", "w", "y", "c"))
        N, d = X.shape
        loss = lambda v, X=X, y=y, c=c: np.sum(c * (X @ v - y) ** 2) / np.sum(c)  # noqa: E731
        probes.close(got, numdiff.gradient(loss, w), what=f"weighted MSE gradient for N={N}, d={d}",
                     where=f"(the weights add up to {np.sum(c):.4g})", batch_size=N,
                     hint="Differentiate c_n (x_nᵀw − y_n)² for one example, add up, and divide by Σ c_n, the "
                          "normalisation of the loss, not by N.")


probes.exercise(globals(), inputs=_inputs, driver=_DRIVER, verify=_verify, seed=101)
### END HIDDEN TESTS


# %% active="py" wrong_answer="07_loss_gradients-weighted_mse_grad-solution" mistake="The weights' normalisation forgotten: divided by N instead of the sum of the weights."
def weighted_mse_grad(X, w, y, c):
    return 2.0 * X.T @ (c * (X @ w - y)) / X.shape[0]


# %% active="py" wrong_answer="07_loss_gradients-weighted_mse_grad-solution" mistake="d(r²)/dr = 2r forgotten: the factor 2 is missing."
def weighted_mse_grad(X, w, y, c):
    return X.T @ (c * (X @ w - y)) / np.sum(c)


# %% active="py" wrong_answer="07_loss_gradients-weighted_mse_grad-solution" mistake="The weights squared: the weighted residual c * r squared, as if the loss were sum (c r)^2."
def weighted_mse_grad(X, w, y, c):
    return 2.0 * X.T @ (c**2 * (X @ w - y)) / np.sum(c)


# %% active="py" wrong_answer="07_loss_gradients-weighted_mse_grad-solution" mistake="The gradient of the weighted sum: no normalisation at all."
def weighted_mse_grad(X, w, y, c):
    return 2.0 * X.T @ (c * (X @ w - y))


# %% active="py" wrong_answer="07_loss_gradients-weighted_mse_grad-solution" mistake="Not derived: numdiff's gradient of the loss returned."
def weighted_mse_grad(X, w, y, c):
    return numdiff.gradient(lambda v: np.sum(c * (X @ v - y) ** 2) / np.sum(c), w)


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
from calcml import stability  # references in 40-digit arithmetic with unbounded exponents (mpmath)

_hint = "lse(z) = m + log Σ exp(z − m), summed over each row (axis=1), with m the maximum of that row; is m added back?"
rng = np.random.default_rng(2)
Z = rng.normal(scale=3.0, size=(4, 5))
checks.assert_close(_strict(logsumexp, Z, what="logsumexp"), stability.lse(Z), what="logsumexp",
                    where="of a (4, 5) batch of logits", hint=_hint)
Z_big = np.array([[1000.0, 999.0, 998.0], [-1000.0, -1000.0, -1000.0]])
checks.assert_close(_strict(logsumexp, Z_big, what="logsumexp"), stability.lse(Z_big), what="logsumexp",
                    where="at logits ±1000", hint=_hint)
### BEGIN HIDDEN TESTS
# One definition of the hidden checks (calcml.probes): the kernel runs them here on a fixed seed; the grader
# draws each student's own inputs, runs the driver in a sandbox and _verify in its own process.
import math

import numpy as np

from calcml import probes, stability


def _inputs(rng):
    shapes = [(1, 1), (int(rng.integers(2, 9)), 2), (3, int(rng.integers(5, 10))), (int(rng.integers(30, 70)), 4),
              (5, 6)]
    batches = stability.batches(rng, shapes, [1.0, rng.uniform(10, 50), rng.uniform(500, 1000), rng.uniform(2, 8),
                                              rng.uniform(1000, 4000)])
    constant = float(rng.uniform(-720, -650))
    return {"batches": batches + [stability.levels(rng)],
            "constant": {"value": constant, "shape": [3, int(rng.integers(2, 8))]},
            "shifted": {"Z": rng.normal(size=(5, 4)), "shift": rng.uniform(-900.0, 900.0, size=5)}}


_DRIVER = probes.STRICT_CALL + stability.batch_driver("logsumexp") + """
c = inputs["constant"]
result["constant"] = strict(logsumexp, np.full(c["shape"], c["value"]))
s = inputs["shifted"]
Z, shift = np.array(s["Z"]), np.array(s["shift"])
result["shifted"] = strict(logsumexp, Z + shift[:, None])
"""

_HINT = ("lse(z) = m + log Σ exp(z − m), summed over each row (axis=1), with m the maximum of that row; is m "
         "added back?")


def _verify(inputs, result):
    for Z, got, where in stability.batch_reports(inputs, result, "logsumexp"):
        probes.close(stability.strict_value(got, "logsumexp", where), stability.lse(Z), what="logsumexp", where=where,
                     hint=_HINT)
        stability.untouched(got, Z, "logsumexp")
    c = inputs["constant"]
    where = f"of constant rows of {c['value']:.4g}"
    probes.close(stability.strict_value(result.get("constant"), "logsumexp", where),
                 np.full(c["shape"][0], c["value"] + math.log(c["shape"][1])), what="logsumexp", where=where,
                 hint=_HINT)
    s = inputs["shifted"]
    Z = np.array(s["Z"]) + np.array(s["shift"])[:, None]
    probes.close(stability.strict_value(result.get("shifted"), "logsumexp", "of shifted rows"), stability.lse(Z),
                 what="logsumexp", where="of rows shifted by up to ±900", hint=_HINT)


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
_hint = "Divide the exponentials of each row by that row's sum (axis=1, keepdims=True)."
rng = np.random.default_rng(3)
Z = rng.normal(scale=2.0, size=(4, 5))
Z_copy = Z.copy()
P = _strict(stable_softmax, Z, what="stable_softmax")
assert np.array_equal(Z, Z_copy), "Your stable_softmax changed its argument Z in place; write Z - m, not Z -= m."
checks.assert_close(P, stability.softmax(Z), what="softmax", where="of a (4, 5) batch of logits", hint=_hint)
Z_big = np.array([[1000.0, 999.0, 998.0], [-1000.0, -1000.0, -999.0]])
checks.assert_close(_strict(stable_softmax, Z_big, what="stable_softmax"), stability.softmax(Z_big), what="softmax",
                    where="at logits ±1000", hint=_hint)
### BEGIN HIDDEN TESTS
# One definition of the hidden checks (calcml.probes): the kernel runs them here on a fixed seed; the grader
# draws each student's own inputs, runs the driver in a sandbox and _verify in its own process.
import numpy as np

from calcml import checks, probes, stability


def _inputs(rng):
    shapes = [(1, 1), (int(rng.integers(2, 9)), 2), (3, int(rng.integers(5, 10))), (int(rng.integers(30, 60)), 4),
              (5, 7)]
    batches = stability.batches(rng, shapes, [1.0, rng.uniform(20, 60), rng.uniform(500, 1000), rng.uniform(2, 8),
                                              rng.uniform(1000, 3000)])
    # Gaps of 710 to 722 below the row maximum: exp(gap) overflows, yet each probability is a subnormal number
    # (1e-314 to 1e-308), which a formula that overflows and divides by inf returns as 0.
    gaps = rng.uniform(710.0, 722.0, size=(4, 2))
    tiny = np.column_stack([np.zeros(4), -gaps]) + rng.uniform(-400.0, 400.0, size=(4, 1))
    return {"batches": batches + [stability.levels(rng), tiny],
            "shifted": {"Z": rng.normal(size=(6, 3)), "shift": rng.uniform(-900.0, 900.0, size=6)}}


_DRIVER = probes.STRICT_CALL + stability.batch_driver("stable_softmax") + """
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
            "there loses it. " + stability.STABLE_HINT)


def _verify(inputs, result):
    for Z, got, where in stability.batch_reports(inputs, result, "stable_softmax"):
        stability.untouched(got, Z, "stable_softmax")
        value, expected = stability.strict_value(got, "stable_softmax", where), stability.softmax(Z)
        probes.close(value, expected, what="softmax", where=where, hint=_HINT)
        _tiny_probabilities(value, expected, Z)
        probes.close(np.sum(np.asarray(value, dtype=float), axis=1), np.ones(len(Z)), what="row sums of the softmax",
                     where=where, hint=_HINT)
    s = inputs["shifted"]
    Z = np.array(s["Z"]) + np.array(s["shift"])[:, None]
    probes.close(stability.strict_value(result.get("shifted"), "stable_softmax", "of shifted rows"),
                 stability.softmax(Z), what="softmax", where="of rows shifted by up to ±900", hint=_HINT)


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
# ### Exercise 4 · The gradient of label-smoothed cross-entropy (3 points)
#
# A classifier trained on one-hot targets is pushed to make its true logit ever larger, and becomes
# over-confident. **Label smoothing** trains it against a softened target instead: with a smoothing
# $s \in [0, 1)$ and $K$ classes, the target of example $n$ is the distribution
#
# $$ t_n = (1 - s)\,\operatorname{onehot}(y_n) + \frac{s}{K}\,(1, 1, \ldots, 1), $$
#
# whose entries add up to 1, and the loss is the mean cross-entropy of these targets against the softmax,
#
# $$ L(Z) = \frac1N \sum_{n=1}^N \ell_n, \qquad \ell_n = -\sum_{k=1}^K t_{nk} \log P_{nk}, \qquad
#    P_n = \operatorname{softmax}(Z_n) . $$
#
# Section 2 worked the case $s = 0$. Derive $\partial L / \partial Z$ for any $s$ (write $\log P_{nk}$ with
# $\operatorname{lse}$ and use what you know of the $t_{nk}$), then write `smoothed_cross_entropy_grad(Z, y, s)`.
# Real code receives the targets in two forms, and your function must accept both:
# - **class indices**: a 1-D integer array `y` of shape `(N,)` with entries in `0..K-1`;
# - **one-hot rows**: a 2-D array of shape `(N, K)` (ints or floats), one 1 per row.
#
# Tell them apart by `np.ndim`; `np.eye(K)[y]` turns indices into one-hot rows. It must work for logits of
# $\pm 1000$ (use your `stable_softmax`, so a bug there will show up here too).

# %% nbgrader={"grade": false, "grade_id": "07_loss_gradients-smoothed_cross_entropy_grad-solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
def smoothed_cross_entropy_grad(Z, y, s):
    """Gradient of the mean label-smoothed cross-entropy over a batch, with respect to the logits.

    The loss is L = (1/N) sum_n sum_k -T[n, k] * log(P[n, k]), where P is the row-wise softmax of Z and
    T = (1 - s) * onehot(y) + s / K is the smoothed target (each row of T sums to 1).

    Args:
        Z: logits, an array of shape (N, K), K >= 2; any finite values (e.g. +-1000).
        y: the true classes, either class indices (1-D integer array of shape (N,), entries in 0..K-1)
           or one-hot rows (2-D array of shape (N, K) with a single 1 in each row).
        s: the smoothing, a float with 0 <= s < 1 (s = 0: plain cross-entropy).

    Returns:
        dL/dZ, a float array of shape (N, K). No overflow, nan or floating-point warning; Z is not modified.
    """
    ### BEGIN SOLUTION
    n_examples, n_classes = Z.shape
    labels = np.asarray(y)
    one_hot = labels.astype(float) if labels.ndim == 2 else np.eye(n_classes)[labels]
    targets = (1.0 - s) * one_hot + s / n_classes
    return (stable_softmax(Z) - targets) / n_examples
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "07_loss_gradients-smoothed_cross_entropy_grad", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
from calcml import stability


def _check_smoothed_grad(Z, labels, targets, s, where):
    """Compare the student's gradient with numdiff's gradient of the mean smoothed cross-entropy (step 1e-3, as
    the loss is smooth on the scale of 1 even where the logits are ±1000)."""
    N = Z.shape[0]
    expected = numdiff.gradient(lambda V: stability.mean_smoothed_ce(V, labels, s), Z, h=1e-3)
    Z_copy = Z.copy()
    try:
        G = _strict(smoothed_cross_entropy_grad, Z, targets, s, what="smoothed_cross_entropy_grad")
    except (IndexError, ValueError) as err:
        raise checks.CheckFailure(
            f"Your smoothed_cross_entropy_grad raised {type(err).__name__} ({err}) {where}. It must accept class "
            "indices (1-D, shape (N,)) and one-hot rows (2-D, shape (N, K)): tell them apart with np.ndim(y).") from None
    assert np.array_equal(Z, Z_copy), "Your smoothed_cross_entropy_grad changed its argument Z in place."
    checks.assert_close(G, expected, what="gradient of the mean smoothed cross-entropy", where=where, batch_size=N,
                        hint="The smoothing changes the target t, not the softmax; each row of t adds up to 1, and the "
                             "loss is a mean over the batch.")


rng = np.random.default_rng(4)
Z, labels = rng.normal(scale=2.0, size=(5, 3)), rng.integers(0, 3, size=5)
_check_smoothed_grad(Z, labels, labels, 0.1, "for class-index targets y of shape (5,), s = 0.1")
_check_smoothed_grad(Z, labels, np.eye(3)[labels], 0.2, "for one-hot targets of shape (5, 3), s = 0.2")
Z_big = np.array([[1000.0, -1000.0, 0.0], [0.0, 1000.0, -1000.0]])
_check_smoothed_grad(Z_big, np.array([1, 1]), np.array([1, 1]), 0.1, "at logits ±1000, s = 0.1")
### BEGIN HIDDEN TESTS
# One definition of the hidden checks (calcml.probes): the kernel runs them here on a fixed seed; the grader
# draws each student's own inputs, runs the driver in a sandbox and _verify in its own process.
import numpy as np

from calcml import checks, numdiff, probes, stability


def _inputs(rng):
    cases = []
    for (N, K), scale, s in zip([(1, 2), (int(rng.integers(5, 9)), 4), (3, int(rng.integers(4, 7))), (5, 5)],
                                [1.0, rng.uniform(1, 4), rng.uniform(500, 1000), rng.uniform(100, 400)],
                                [0.0, float(rng.uniform(0.05, 0.3)), float(rng.uniform(0.3, 0.6)), 0.1],
                                strict=True):
        cases.append({"Z": rng.normal(scale=float(scale), size=(N, K)), "labels": rng.integers(0, K, size=N), "s": s})
    ties = np.array([[1000.0, 1000.0, -1000.0], [-1000.0, 1000.0, 999.0], [500.0, 500.0, 500.0]])
    cases.append({"Z": ties + rng.uniform(-3, 3, size=(3, 1)), "labels": [0, 0, 2], "s": float(rng.uniform(0.1, 0.4))})
    return {"cases": cases}


_DRIVER = probes.STRICT_CALL + """
result = []
for case in inputs["cases"]:
    labels = np.array(case["labels"], dtype=int)
    K = np.shape(case["Z"])[1]
    entry = {}
    for kind, targets in [("index", labels), ("one_hot_int", np.eye(K, dtype=int)[labels]),
                          ("one_hot", np.eye(K)[labels])]:
        Z = np.array(case["Z"], dtype=float)
        try:
            value, error = strict(smoothed_cross_entropy_grad, Z, targets, case["s"])
        except (IndexError, ValueError) as failure:
            value, error = None, f"{type(failure).__name__}: {failure}"
        entry[kind] = {"value": value, "error": error, "Z_after": Z}
    result.append(entry)
"""


def _verify(inputs, result):
    probes.require(isinstance(result, list) and len(result) == len(inputs["cases"]),
                   "smoothed_cross_entropy_grad gave too few results.")
    for case, got in zip(inputs["cases"], result, strict=True):
        Z, labels, s = np.array(case["Z"], dtype=float), [int(t) for t in case["labels"]], float(case["s"])
        N, K = Z.shape
        expected = numdiff.gradient(lambda V, labels=labels, s=s: stability.mean_smoothed_ce(V, labels, s), Z, h=1e-3)
        probes.require(isinstance(got, dict), "smoothed_cross_entropy_grad gave no result.")
        for kind, label in [("index", "class-index targets"), ("one_hot_int", "integer one-hot targets"),
                            ("one_hot", "one-hot targets")]:
            entry = got.get(kind)
            where = f"for a ({N}, {K}) batch of logits up to {np.max(np.abs(Z)):.3g}, {label}, s = {s:.3g}"
            probes.require(isinstance(entry, dict), f"smoothed_cross_entropy_grad gave no result {where}.")
            if entry.get("error"):
                raise checks.CheckFailure(
                    f"Your smoothed_cross_entropy_grad {where} raised {entry['error']}. It must accept class indices "
                    "(1-D, shape (N,)) and one-hot rows (2-D, shape (N, K)), and compute the probabilities with your "
                    "stable_softmax.")
            stability.untouched(entry, Z, "smoothed_cross_entropy_grad")
            probes.close(entry.get("value"), expected, what="gradient of the mean smoothed cross-entropy",
                         where=where, batch_size=N,
                         hint="The smoothing changes the target t, not the softmax; each row of t adds up to 1, and "
                              "the loss is a mean over the batch.")
        # Each row of the gradient sums to 0: the rows of P and of the smoothed targets both sum to 1.
        probes.close(np.sum(np.asarray(got["index"]["value"], dtype=float), axis=1), np.zeros(N),
                     what="row sums of the gradient", where=f"for N={N}, s = {s:.3g}")


probes.exercise(globals(), inputs=_inputs, driver=_DRIVER, verify=_verify, seed=401)
### END HIDDEN TESTS


# %% active="py" wrong_answer="07_loss_gradients-smoothed_cross_entropy_grad-solution" mistake="The smoothing ignored: the gradient of plain cross-entropy, copied from the text."
def smoothed_cross_entropy_grad(Z, y, s):
    N, K = Z.shape
    Y = np.asarray(y, dtype=float) if np.ndim(y) == 2 else np.eye(K)[y]
    return (stable_softmax(Z) - Y) / N


# %% active="py" wrong_answer="07_loss_gradients-smoothed_cross_entropy_grad-solution" mistake="Label smoothing applied to the wrong term: the probabilities smoothed instead of the targets."
def smoothed_cross_entropy_grad(Z, y, s):
    N, K = Z.shape
    Y = np.asarray(y, dtype=float) if np.ndim(y) == 2 else np.eye(K)[y]
    return ((1 - s) * stable_softmax(Z) + s / K - Y) / N


# %% active="py" wrong_answer="07_loss_gradients-smoothed_cross_entropy_grad-solution" mistake="The smoothing spread over the K - 1 wrong classes only, not over all K as the contract says."
def smoothed_cross_entropy_grad(Z, y, s):
    N, K = Z.shape
    Y = np.asarray(y, dtype=float) if np.ndim(y) == 2 else np.eye(K)[y]
    T = (1 - s) * Y + s / (K - 1) * (1 - Y)
    return (stable_softmax(Z) - T) / N


# %% active="py" wrong_answer="07_loss_gradients-smoothed_cross_entropy_grad-solution" mistake="The gradient of the summed loss: the 1/N of the mean is missing."
def smoothed_cross_entropy_grad(Z, y, s):
    N, K = Z.shape
    Y = np.asarray(y, dtype=float) if np.ndim(y) == 2 else np.eye(K)[y]
    return stable_softmax(Z) - ((1 - s) * Y + s / K)


# %% active="py" wrong_answer="07_loss_gradients-smoothed_cross_entropy_grad-solution" mistake="A naive softmax inside: nan at logits of +-1000."
def smoothed_cross_entropy_grad(Z, y, s):
    N, K = Z.shape
    Y = np.asarray(y, dtype=float) if np.ndim(y) == 2 else np.eye(K)[y]
    E = np.exp(Z)
    return (E / E.sum(axis=1, keepdims=True) - ((1 - s) * Y + s / K)) / N


# %% active="py" wrong_answer="07_loss_gradients-smoothed_cross_entropy_grad-solution" mistake="Only class indices handled: one-hot targets are indexed as if they were indices."
def smoothed_cross_entropy_grad(Z, y, s):
    N, K = Z.shape
    Y = np.zeros((N, K))
    Y[np.arange(N), y] = 1.0
    return (stable_softmax(Z) - ((1 - s) * Y + s / K)) / N


# %% [markdown]
# Now drive the explorer with **your** functions, here with a smoothing of 0.1: it shows your gradient, and the
# readout compares it with the numerical gradient of the smoothed loss computed from your softmax. Make the true
# logit much larger than the others: unlike plain cross-entropy, the gradient does not fade away; it pulls the
# logits back until $p$ matches the smoothed target.

# %%
loss_explorer.loss_explorer(stable_softmax, lambda Z, y: smoothed_cross_entropy_grad(Z, y, 0.1),
                            logits=(0.0, 3.0, -2.0), true_class=0, smoothing=0.1)


# %% [markdown]
# ### Exercise 5 · The logistic loss, differentiated with respect to the logits (2 points)
#
# A binary classifier outputs one logit $z_n$ per example and reads it as the probability $\sigma(z_n)$ of class
# 1, with the logistic sigmoid $\sigma(z) = 1/(1 + e^{-z})$. With targets $y_n \in [0, 1]$ (0 or 1, or a soft
# label), the **binary cross-entropy** (the logistic loss), averaged over the batch, is
#
# $$ L(z) = \frac1N \sum_{n=1}^N -\Big[\,y_n \log \sigma(z_n) + (1 - y_n) \log\big(1 - \sigma(z_n)\big)\Big] . $$
#
# Derive $\partial L / \partial z_n$ (find $\sigma'$ in terms of $\sigma$ first, or write $\log \sigma(z)$ and
# $\log(1 - \sigma(z))$ with $\log(1 + e^{\pm z})$), simplify it as far as it goes, and write
# `logistic_grad(z, y)`. It must give accurate numbers for logits up to $\pm 1000$, with no overflow: the tests
# run it as strictly as exercises 2 to 4, and the grader also reads your code, because `np.where` computes
# both of its branches, so the branch it throws away must not overflow either.

# %% nbgrader={"grade": false, "grade_id": "07_loss_gradients-logistic_grad-solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
def logistic_grad(z, y):
    """Gradient of the mean binary cross-entropy with respect to the logits.

    The loss is L(z) = (1/N) sum_n -[y[n] log(sigma(z[n])) + (1 - y[n]) log(1 - sigma(z[n]))], where
    sigma(t) = 1 / (1 + exp(-t)) is the logistic sigmoid.

    Args:
        z: logits, a float array of shape (N,), N >= 1; any finite values (e.g. +-1000).
        y: targets, a float array of shape (N,), each in [0, 1].

    Returns:
        dL/dz, a float array of shape (N,). No overflow, nan or floating-point warning; z is not modified.
    """
    ### BEGIN SOLUTION
    z = np.asarray(z, dtype=float)
    small = np.exp(-np.abs(z))  # in (0, 1]: it never overflows
    sigma = np.where(z >= 0, 1.0 / (1.0 + small), small / (1.0 + small))
    return (sigma - y) / z.shape[0]
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "07_loss_gradients-logistic_grad", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
def _mean_logistic_loss(y):
    """The mean binary cross-entropy, written with log σ(z) = −log(1 + e^(−z)) and log(1 − σ(z)) = −log(1 + e^z),
    each computed by np.logaddexp(0, ·), which does not overflow: the reference loss."""
    return lambda z: np.mean(y * np.logaddexp(0.0, -z) + (1.0 - y) * np.logaddexp(0.0, z))


_hint = ("σ′ = σ(1 − σ) cancels the 1/σ and 1/(1 − σ) of the logarithms, and the loss is a mean over the batch; "
         "compute σ without ever exponentiating a large positive number.")
rng = np.random.default_rng(5)
z, y = rng.normal(scale=3.0, size=6), rng.uniform(0.0, 1.0, size=6)
checks.check_gradient(lambda v: _strict(logistic_grad, v, y, what="logistic_grad"), _mean_logistic_loss(y), z,
                      what="gradient of the logistic loss", batch_size=6, hint=_hint)
z_big, y_big = np.array([1000.0, -1000.0, 800.0, -750.0]), np.array([0.0, 1.0, 1.0, 0.0])
checks.assert_close(_strict(logistic_grad, z_big, y_big, what="logistic_grad"),
                    numdiff.gradient(_mean_logistic_loss(y_big), z_big, h=1e-3), what="gradient of the logistic loss",
                    where="at logits ±1000", batch_size=4, hint=_hint)
### BEGIN HIDDEN TESTS
# One definition of the hidden checks (calcml.probes): the kernel runs them here on a fixed seed; the grader
# draws each student's own inputs, runs the driver in a sandbox and _verify in its own process.
import numpy as np

from calcml import checks, in_place, numdiff, probes


def _inputs(rng):
    cases = []
    for N, scale in [(1, 1.0), (int(rng.integers(5, 12)), 4.0), (int(rng.integers(20, 60)), 30.0), (6, 900.0)]:
        cases.append({"z": rng.normal(scale=scale, size=N), "y": rng.uniform(0.0, 1.0, size=N)})
    cases.append({"z": [1000.0, -1000.0, 745.0, -745.0, 0.0, -720.0 + float(rng.uniform(-5, 5))],
                  "y": [0.0, 1.0, 1.0, 0.0, 1.0, 1.0]})
    hard = rng.integers(0, 2, size=8).astype(float)  # hard labels 0 and 1
    cases.append({"z": rng.normal(scale=5.0, size=8), "y": hard})
    return {"cases": cases}


_DRIVER = probes.STRICT_CALL + """
result = []
for case in inputs["cases"]:
    z, y = np.array(case["z"], dtype=float), np.array(case["y"], dtype=float)
    value, error = strict(logistic_grad, z, y)
    result.append({"value": value, "error": error, "z_after": z})
"""

_HINT = ("σ′ = σ(1 − σ) cancels the 1/σ and 1/(1 − σ) of the logarithms, and the loss is a mean over the batch; "
         "compute σ without ever exponentiating a large positive number.")


def _verify(inputs, result):
    probes.require(isinstance(result, list) and len(result) == len(inputs["cases"]),
                   "logistic_grad gave too few results.")
    for case, got in zip(inputs["cases"], result, strict=True):
        z, y = np.array(case["z"], dtype=float), np.array(case["y"], dtype=float)
        N = len(z)
        where = f"for N={N} logits up to {np.max(np.abs(z)):.3g}"
        probes.require(isinstance(got, dict), f"logistic_grad gave no result {where}.")
        if got.get("error"):
            raise checks.CheckFailure(f"Your logistic_grad {where} hit a floating-point error ({got['error']}). exp(-z) "
                                      "overflows for z below -709.8: exponentiate only numbers <= 0, such as -|z|.")
        probes.require(in_place.unchanged(got.get("z_after"), z), "Your logistic_grad changed its argument z in place.")
        # The reference: numdiff's gradient of the loss, each log(1 + e^(±z)) computed by np.logaddexp.
        loss = lambda v, y=y: np.mean(y * np.logaddexp(0.0, -v) + (1.0 - y) * np.logaddexp(0.0, v))  # noqa: E731
        probes.close(got.get("value"), numdiff.gradient(loss, z, h=1e-3), what="gradient of the logistic loss",
                     where=where, batch_size=N, hint=_HINT)


probes.exercise(globals(), inputs=_inputs, driver=_DRIVER, verify=_verify, seed=501,
                mechanism={"rule": "no_overflowing_exp", "name": "logistic_grad"})
### END HIDDEN TESTS


# %% active="py" wrong_answer="07_loss_gradients-logistic_grad-solution" mistake="sigma(z) - y with the textbook sigmoid: exp(-z) overflows at z = -1000."
def logistic_grad(z, y):
    return (1.0 / (1.0 + np.exp(-z)) - y) / len(z)


# %% active="py" wrong_answer="07_loss_gradients-logistic_grad-solution" mistake="Two formulas in np.where: the discarded branch exp(z) / (1 + exp(z)) still overflows at z = 1000."
def logistic_grad(z, y):
    sigma = np.where(z >= 0, 1.0 / (1.0 + np.exp(-z)), np.exp(z) / (1.0 + np.exp(z)))
    return (sigma - y) / len(z)


# %% active="py" wrong_answer="07_loss_gradients-logistic_grad-solution" mistake="The gradient of the summed loss: the 1/N of the mean is missing."
def logistic_grad(z, y):
    small = np.exp(-np.abs(z))
    sigma = np.where(z >= 0, 1.0 / (1.0 + small), small / (1.0 + small))
    return sigma - y


# %% active="py" wrong_answer="07_loss_gradients-logistic_grad-solution" mistake="The sign flipped: y - sigma(z), the direction of descent, not the gradient."
def logistic_grad(z, y):
    small = np.exp(-np.abs(z))
    sigma = np.where(z >= 0, 1.0 / (1.0 + small), small / (1.0 + small))
    return (y - sigma) / len(z)


# %% active="py" wrong_answer="07_loss_gradients-logistic_grad-solution" mistake="The chain rule through sigma kept although the logarithm cancels it: (sigma - y) sigma (1 - sigma), the gradient of a squared error."
def logistic_grad(z, y):
    small = np.exp(-np.abs(z))
    sigma = np.where(z >= 0, 1.0 / (1.0 + small), small / (1.0 + small))
    return (sigma - y) * sigma * (1.0 - sigma) / len(z)


# %% [markdown]
# ### Exercise 6 · The gradient of a general quadratic penalty (1 point)
#
# Ridge penalises every weight alike. A general quadratic penalty $\alpha\, w^\top P w$, with $P$ a symmetric
# positive semi-definite $d \times d$ matrix, can penalise some weights more than others (a diagonal $P$) or
# penalise the differences between neighbouring weights (with $P = D^\top D$, $D$ the matrix of first
# differences, a smooth $w$ is cheap). Ridge is the case $P = I$. Write `penalised_grad(X, w, y, alpha, P)`, the
# gradient of
#
# $$ L(w) = \frac1N\,\|Xw - y\|^2 + \alpha\, w^\top P\, w . $$

# %% nbgrader={"grade": false, "grade_id": "07_loss_gradients-penalised_grad-solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
def penalised_grad(X, w, y, alpha, P):
    """Gradient, with respect to w, of L(w) = (1/N) ||X w - y||^2 + alpha * w^T P w.

    Args:
        X: features, a float array of shape (N, d), one row per example (N >= 1).
        w: weights, a float array of shape (d,).
        y: targets, a float array of shape (N,).
        alpha: the strength of the penalty, a float >= 0 (the penalty is not divided by N).
        P: the penalty's matrix, a symmetric positive semi-definite float array of shape (d, d).

    Returns:
        dL/dw, a float array of shape (d,).
    """
    ### BEGIN SOLUTION
    n_examples = X.shape[0]
    return 2.0 * (X.T @ (X @ w - y)) / n_examples + 2.0 * alpha * (P @ w)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "07_loss_gradients-penalised_grad", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
def _penalised_loss(X, y, alpha, P):
    return lambda w: np.mean((X @ w - y) ** 2) + alpha * (w @ P @ w)


_hint = ("A quadratic form wᵀAw has gradient (A + Aᵀ)w (unit 2), and P is symmetric; the penalty is not divided "
         "by N.")
rng = np.random.default_rng(6)
X, w, y, A = rng.normal(size=(8, 3)), rng.normal(size=3), rng.normal(size=8), rng.normal(size=(3, 3))
checks.check_gradient(lambda v: penalised_grad(X, v, y, 0.5, A @ A.T), _penalised_loss(X, y, 0.5, A @ A.T), w,
                      what="gradient of the penalised loss (α = 0.5, P = AAᵀ)", batch_size=8, hint=_hint)
### BEGIN HIDDEN TESTS
# One definition of the hidden checks (calcml.probes): the kernel runs them here on a fixed seed; the grader
# draws each student's own inputs, runs the driver in a sandbox and _verify in its own process.
import numpy as np

from calcml import numdiff, probes


def _penalty_matrix(rng, d, kind):
    if kind == "diagonal":
        return np.diag(rng.uniform(0.0, 4.0, size=d))
    if kind == "differences":  # P = DᵀD, D the (d − 1) × d first differences: singular, constants are free
        D = np.diff(np.eye(d), axis=0)
        return D.T @ D
    A = rng.normal(size=(d, max(1, d - 1)))  # low rank: positive semi-definite, singular
    return A @ A.T


def _inputs(rng):
    shapes = [(int(rng.integers(5, 15)), int(rng.integers(2, 6))), (3, int(rng.integers(4, 8))),
              (int(rng.integers(30, 60)), int(rng.integers(2, 8))), (1, 3), (12, 1)]
    kinds = ["low rank", "differences", "diagonal", "low rank", "diagonal"]
    alphas = [float(rng.uniform(0.05, 0.5)), float(rng.uniform(1, 5)), float(rng.uniform(10, 30)), 0.7, 2.0]
    return {"cases": [{"X": rng.normal(scale=1.5, size=s), "w": rng.normal(size=s[1]), "y": rng.normal(size=s[0]),
                       "alpha": a, "P": _penalty_matrix(rng, s[1], k)}
                      for s, k, a in zip(shapes, kinds, alphas, strict=True)]}


_DRIVER = """
import numpy as np
result = [penalised_grad(*(np.array(c[k], dtype=float) for k in ("X", "w", "y")), c["alpha"],
                         np.array(c["P"], dtype=float)) for c in inputs["cases"]]
"""


def _verify(inputs, result):
    probes.require(isinstance(result, list) and len(result) == len(inputs["cases"]),
                   "penalised_grad gave too few results.")
    for case, got in zip(inputs["cases"], result, strict=True):
        X, w, y, P = (np.array(case[k], dtype=float) for k in ("X", "w", "y", "P"))
        alpha, (N, d) = case["alpha"], X.shape
        loss = lambda v, X=X, y=y, alpha=alpha, P=P: np.mean((X @ v - y) ** 2) + alpha * (v @ P @ v)  # noqa: E731
        probes.close(got, numdiff.gradient(loss, w), what=f"gradient of the penalised loss (N={N}, d={d}, α={alpha:.3g})",
                     batch_size=N, hint="A quadratic form wᵀAw has gradient (A + Aᵀ)w (unit 2), and P is symmetric; "
                                        "the penalty is not divided by N.")


probes.exercise(globals(), inputs=_inputs, driver=_DRIVER, verify=_verify, seed=601)
### END HIDDEN TESTS


# %% active="py" wrong_answer="07_loss_gradients-penalised_grad-solution" mistake="The penalty's gradient taken as alpha P w: the 2 of the quadratic form forgotten."
def penalised_grad(X, w, y, alpha, P):
    N = X.shape[0]
    return 2.0 * X.T @ (X @ w - y) / N + alpha * P @ w


# %% active="py" wrong_answer="07_loss_gradients-penalised_grad-solution" mistake="The penalty divided by N as well, as if it were part of the mean."
def penalised_grad(X, w, y, alpha, P):
    N = X.shape[0]
    return (2.0 * X.T @ (X @ w - y) + 2.0 * alpha * P @ w) / N


# %% active="py" wrong_answer="07_loss_gradients-penalised_grad-solution" mistake="The ridge gradient copied from the text: P ignored."
def penalised_grad(X, w, y, alpha, P):
    N = X.shape[0]
    return 2.0 * X.T @ (X @ w - y) / N + 2.0 * alpha * w


# %% active="py" wrong_answer="07_loss_gradients-penalised_grad-solution" mistake="Not derived: numdiff's gradient of the loss returned."
def penalised_grad(X, w, y, alpha, P):
    return numdiff.gradient(lambda v: np.mean((X @ v - y) ** 2) + alpha * v @ P @ v, w)


# %% [markdown]
# ### Exercise 7 · The minimiser of a penalised least-squares loss (2 points)
#
# Write `penalised_closed_form(X, y, alpha, P)`, the minimiser $w^\star$ of the loss of exercise 6. Set its
# gradient to zero, as section 4 did for ridge (mind the constants), and solve the linear system that comes out
# with `np.linalg.solve`: never form an inverse. The tests check that the gradient of the loss vanishes at your
# $w^\star$ (an independent fact), that no small step from it lowers the loss, and compare it with a
# least-squares reference. They only pose problems with a unique minimiser, including $N < d$ with $P$
# positive definite, and a singular $P$ with data that pins down what $P$ leaves free.

# %% nbgrader={"grade": false, "grade_id": "07_loss_gradients-penalised_closed_form-solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
def penalised_closed_form(X, y, alpha, P):
    """The minimiser of L(w) = (1/N) ||X w - y||^2 + alpha * w^T P w.

    Args:
        X: features, a float array of shape (N, d), one row per example; N < d is allowed.
        y: targets, a float array of shape (N,).
        alpha: the strength of the penalty, a float >= 0.
        P: a symmetric positive semi-definite float array of shape (d, d).
        The minimiser is unique: no v != 0 has both X v = 0 and (alpha = 0 or P v = 0).

    Returns:
        w_star, a float array of shape (d,), found by solving a linear system (np.linalg.solve).
    """
    ### BEGIN SOLUTION
    n_examples = X.shape[0]
    system = X.T @ X + n_examples * alpha * P
    return np.linalg.solve(system, X.T @ y)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "07_loss_gradients-penalised_closed_form", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
def _penalised_loss(X, y, alpha, P):
    return lambda w: np.mean((X @ w - y) ** 2) + alpha * (w @ P @ w)


_hint = ("Set the gradient of exercise 6 to zero and multiply by N/2: the data term's 1/N and the penalty's α "
         "meet in one matrix, and P takes the place of ridge's I.")


def _square_root(P):
    """R with RᵀR = P, from the eigendecomposition of the symmetric P (negative rounding errors clipped)."""
    eigenvalues, vectors = np.linalg.eigh(P)
    return np.sqrt(np.clip(eigenvalues, 0.0, None))[:, None] * vectors.T


def _check_minimiser(X, y, alpha, P, where):
    N, d = X.shape
    w_star = np.asarray(penalised_closed_form(X, y, alpha, P), dtype=float).reshape(d)
    # 1. The gradient of the loss (numdiff, from the loss alone) vanishes at the minimiser.
    loss = _penalised_loss(X, y, alpha, P)
    g_star = np.linalg.norm(numdiff.gradient(loss, w_star))
    g_zero = np.linalg.norm(numdiff.gradient(loss, np.zeros(d)))
    if not g_star <= 1e-7 * g_zero:
        raise checks.CheckFailure(
            f"At your w* {where}, the gradient of the penalised loss has norm {g_star:.3g} ({g_star / g_zero:.2g} "
            f"times its norm at w = 0), but it must vanish at the minimiser. {_hint}")
    # 2. Least squares on data augmented with the rows sqrt(N α) R (RᵀR = P) and targets 0.
    A = np.vstack([X, math.sqrt(N * alpha) * _square_root(P)])
    reference = np.linalg.lstsq(A, np.concatenate([y, np.zeros(d)]), rcond=None)[0]
    checks.assert_close(w_star, reference, what="minimiser w* of the penalised loss", where=where, hint=_hint)


rng = np.random.default_rng(7)
A = rng.normal(size=(3, 3))
_check_minimiser(rng.normal(size=(8, 3)), rng.normal(size=8), 0.5, A @ A.T + np.eye(3), "for N=8, d=3, α=0.5")
### BEGIN HIDDEN TESTS
# One definition of the hidden checks (calcml.probes): the kernel runs them here on a fixed seed; the grader
# draws each student's own inputs, runs the driver in a sandbox and _verify in its own process.
import math

import numpy as np

from calcml import checks, numdiff, probes


def _inputs(rng):
    cases = []
    # Full column rank X, P singular (first differences): unique minimiser.
    d = int(rng.integers(3, 7))
    D = np.diff(np.eye(d), axis=0)
    cases.append({"X": rng.normal(size=(int(rng.integers(10, 20)), d)), "alpha": float(rng.uniform(0.1, 2.0)),
                  "P": D.T @ D})
    # N < d with P positive definite.
    d = int(rng.integers(6, 10))
    A = rng.normal(size=(d, d))
    cases.append({"X": rng.normal(scale=2.0, size=(4, d)), "alpha": float(rng.uniform(0.1, 0.5)),
                  "P": A @ A.T / d + 0.5 * np.eye(d)})
    # One example, a diagonal P with positive entries.
    cases.append({"X": rng.normal(size=(1, 5)), "alpha": float(rng.uniform(0.5, 2.0)),
                  "P": np.diag(rng.uniform(0.5, 3.0, size=5))})
    # Many examples, a small α, P low rank plus a little of I.
    d = int(rng.integers(2, 8))
    B = rng.normal(size=(d, 1))
    cases.append({"X": rng.normal(size=(int(rng.integers(40, 80)), d)), "alpha": float(rng.uniform(0.01, 0.1)),
                  "P": B @ B.T + 0.1 * np.eye(d)})
    # α = 0 with full column rank: plain least squares.
    cases.append({"X": rng.normal(size=(20, 3)), "alpha": 0.0, "P": np.eye(3)})
    # Two copies of one feature, a large α with the differences penalty and a little of I.
    column = rng.normal(size=15)
    D = np.diff(np.eye(3), axis=0)
    cases.append({"X": np.column_stack([column, column, rng.normal(size=15)]), "alpha": float(rng.uniform(20, 60)),
                  "P": D.T @ D + 0.05 * np.eye(3)})
    for case in cases:
        case["y"] = rng.normal(loc=1.0, size=len(case["X"]))
    return {"cases": cases}


_DRIVER = """
import numpy as np
result = [penalised_closed_form(np.array(c["X"], dtype=float), np.array(c["y"], dtype=float), c["alpha"],
                                np.array(c["P"], dtype=float)) for c in inputs["cases"]]
"""

_HINT = ("Set the gradient of exercise 6 to zero and multiply by N/2: the data term's 1/N and the penalty's α "
         "meet in one matrix, and P takes the place of ridge's I.")


def _square_root(P):  # R with RᵀR = P, from the eigendecomposition of the symmetric P
    eigenvalues, vectors = np.linalg.eigh(P)
    return np.sqrt(np.clip(eigenvalues, 0.0, None))[:, None] * vectors.T


def _verify(inputs, result):
    probes.require(isinstance(result, list) and len(result) == len(inputs["cases"]),
                   "penalised_closed_form gave too few results.")
    for case, got in zip(inputs["cases"], result, strict=True):
        X, y, P, alpha = np.array(case["X"]), np.array(case["y"]), np.array(case["P"]), case["alpha"]
        N, d = X.shape
        where = f"for N={N}, d={d}, α={alpha:.3g}"
        # Least squares on data augmented with the rows sqrt(N α) R (RᵀR = P) and targets 0.
        A = np.vstack([X, math.sqrt(N * alpha) * _square_root(P)])
        reference = np.linalg.lstsq(A, np.concatenate([y, np.zeros(d)]), rcond=None)[0]
        probes.close(got, reference, what="minimiser w* of the penalised loss", where=where, hint=_HINT)
        # Independent facts: the gradient of the loss (numdiff, from the loss alone) vanishes at the minimiser,
        # and no small step lowers the loss.
        w_star = np.asarray(got, dtype=float).reshape(d)
        loss = lambda w, X=X, y=y, alpha=alpha, P=P: np.mean((X @ w - y) ** 2) + alpha * (w @ P @ w)  # noqa: E731
        g_star = np.linalg.norm(numdiff.gradient(loss, w_star))
        g_zero = np.linalg.norm(numdiff.gradient(loss, np.zeros(d)))
        if not g_star <= 1e-7 * g_zero:
            raise checks.CheckFailure(
                f"At your w* {where}, the gradient of the penalised loss has norm {g_star:.3g} ({g_star / g_zero:.2g} "
                f"times its norm at w = 0), but it must vanish at the minimiser. {_HINT}")
        rng = np.random.default_rng(N + d)
        for _ in range(20):
            step = 1e-3 * (1.0 + np.linalg.norm(w_star)) * rng.normal(size=d)
            if loss(w_star + step) < loss(w_star) - 1e-12:
                raise checks.CheckFailure(f"A small step from your w* {where} lowers the penalised loss from "
                                          f"{loss(w_star):.6g} to {loss(w_star + step):.6g}, so w* is not the "
                                          "minimiser.")


probes.exercise(globals(), inputs=_inputs, driver=_DRIVER, verify=_verify, seed=701)
### END HIDDEN TESTS


# %% active="py" wrong_answer="07_loss_gradients-penalised_closed_form-solution" mistake="The sum-of-squares textbook convention, used with the mean-squared loss: alpha where N * alpha belongs."
def penalised_closed_form(X, y, alpha, P):
    return np.linalg.solve(X.T @ X + alpha * P, X.T @ y)


# %% active="py" wrong_answer="07_loss_gradients-penalised_closed_form-solution" mistake="The ridge system copied from the text: N alpha I where N alpha P belongs."
def penalised_closed_form(X, y, alpha, P):
    N, d = X.shape
    return np.linalg.solve(X.T @ X + N * alpha * np.eye(d), X.T @ y)


# %% active="py" wrong_answer="07_loss_gradients-penalised_closed_form-solution" mistake="The 2 of the penalty's gradient kept on one side only: 2 N alpha P instead of N alpha P."
def penalised_closed_form(X, y, alpha, P):
    N = X.shape[0]
    return np.linalg.solve(X.T @ X + 2 * N * alpha * P, X.T @ y)


# %% active="py" wrong_answer="07_loss_gradients-penalised_closed_form-solution" mistake="The penalty divided by N along with the data term: alpha P / N."
def penalised_closed_form(X, y, alpha, P):
    N = X.shape[0]
    return np.linalg.solve(X.T @ X + alpha * P / N, X.T @ y)


# %% [markdown]
# ### Exercise 8 · Backward through a batched linear layer (3 points)
#
# A linear layer maps a batch of $N$ inputs with $n$ features each, the rows of $X \in \mathbb{R}^{N \times n}$, to
# $N$ outputs with $m$ features each,
#
# $$ Y = X W^\top + b, \qquad W \in \mathbb{R}^{m \times n}, \quad b \in \mathbb{R}^{m}, \quad Y \in \mathbb{R}^{N \times m}, $$
#
# where $b$ is added to every row of $XW^\top$ (NumPy's broadcasting; $W$ is stored as in PyTorch's
# `nn.Linear`). What follows the layer computes one loss $\ell_n$ per example, from row $n$ of $Y$ only, and the
# training loss is their mean, $L = \frac1N \sum_n \ell_n$. In the backward pass, the layer receives
# $G \in \mathbb{R}^{N \times m}$, whose row $n$ is $\partial \ell_n / \partial Y_n$, and must return the gradients
# of $L$ with respect to its input and its parameters.
#
# Derive them component by component from $Y_{nj} = \sum_i X_{ni} W_{ji} + b_j$ (which entries of $Y$ does
# $W_{ji}$ reach? and $b_j$?), then write them as matrix products over the whole batch, with no loop over the
# examples, in `linear_backward(X, W, b, G)`. Each gradient has the shape of what it is the gradient of. The tests
# use random shapes, $N = 1$ and $m = 1$ included, where a wrong axis or a stray `squeeze` shows.

# %% nbgrader={"grade": false, "grade_id": "07_loss_gradients-linear_backward-solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
def linear_backward(X, W, b, G):
    """The backward pass of the linear layer Y = X @ W.T + b, for the mean loss L = (1/N) sum_n loss_n(Y[n]).

    Args:
        X: the layer's inputs, a float array of shape (N, n), one row per example (N >= 1).
        W: the weights, a float array of shape (m, n).
        b: the bias, a float array of shape (m,), added to every row.
        G: the upstream gradients, a float array of shape (N, m): G[n] is the gradient of loss_n with respect
           to Y[n].

    Returns:
        A tuple (dX, dW, db) of float arrays: the gradients of L with respect to X (shape (N, n)), W (shape
        (m, n)) and b (shape (m,)).
    """
    ### BEGIN SOLUTION
    n_examples = X.shape[0]
    dX = G @ W / n_examples
    dW = G.T @ X / n_examples
    db = np.sum(G, axis=0) / n_examples
    return dX, dW, db
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "07_loss_gradients-linear_backward", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
def _layer_loss(G):
    """L = (1/N) Σ_n G_n · Y_n: each ℓ_n is linear in Y_n with gradient G_n, so the layer's gradients are those
    of L; numdiff differentiates it with respect to each of X, W and b in turn."""
    return lambda X, W, b: np.sum(G * (X @ W.T + b)) / X.shape[0]


def _check_linear_backward(N, n, m, seed):
    rng = np.random.default_rng(seed)
    X, W, b, G = rng.normal(size=(N, n)), rng.normal(size=(m, n)), rng.normal(size=m), rng.normal(size=(N, m))
    where, loss = f"for N={N}, n={n}, m={m}", _layer_loss(G)
    got = linear_backward(X.copy(), W.copy(), b.copy(), G.copy())
    assert isinstance(got, (tuple, list)) and len(got) == 3, "linear_backward must return a tuple (dX, dW, db)."
    hints = {"dX": "dX has the shape of X, (N, n); the loss is a mean over the batch.",
             "dW": "dW has the shape of W, (m, n), and collects every example of the batch; the loss is a mean.",
             "db": "db has the shape of b, (m,): b was added to every row, so every row of G contributes to it."}
    for name, value, expected in [("dX", got[0], numdiff.gradient(lambda V: loss(V, W, b), X)),
                                  ("dW", got[1], numdiff.gradient(lambda V: loss(X, V, b), W)),
                                  ("db", got[2], numdiff.gradient(lambda V: loss(X, W, V), b))]:
        checks.assert_close(value, expected, what=name, where=where, batch_size=N, hint=hints[name])


_check_linear_backward(5, 3, 2, seed=8)
### BEGIN HIDDEN TESTS
# One definition of the hidden checks (calcml.probes): the kernel runs them here on a fixed seed; the grader
# draws each student's own inputs, runs the driver in a sandbox and _verify in its own process.
import numpy as np

from calcml import checks, numdiff, probes


def _inputs(rng):
    shapes = [(1, int(rng.integers(2, 5)), int(rng.integers(2, 5))), (int(rng.integers(3, 9)), int(rng.integers(2, 6)), 1),
              (1, 1, 1), (int(rng.integers(10, 40)), int(rng.integers(2, 7)), int(rng.integers(2, 7))), (4, 4, 4),
              (int(rng.integers(2, 6)), 1, int(rng.integers(2, 5)))]
    return {"cases": [{"X": rng.normal(size=(N, n)), "W": rng.normal(size=(m, n)), "b": rng.normal(size=m),
                       "G": rng.normal(size=(N, m))} for N, n, m in shapes]}


_DRIVER = """
import numpy as np
result = []
for case in inputs["cases"]:
    X, W, b, G = (np.array(case[k], dtype=float) for k in ("X", "W", "b", "G"))
    try:
        got = linear_backward(X, W, b, G)
    except (ValueError, IndexError) as failure:
        result.append({"error": f"{type(failure).__name__}: {failure}"})
        continue
    if isinstance(got, (tuple, list)) and len(got) == 3:
        result.append({"dX": got[0], "dW": got[1], "db": got[2]})
    else:
        result.append({"error": "it did not return a tuple (dX, dW, db)"})
"""

_HINTS = {"dX": "dX has the shape of X, (N, n); the loss is a mean over the batch.",
          "dW": "dW has the shape of W, (m, n), and collects every example of the batch; the loss is a mean.",
          "db": "db has the shape of b, (m,): b was added to every row, so every row of G contributes to it."}


def _reference(X, W, b, G):
    """numdiff's gradients of L = (1/N) Σ_n G_n · Y_n (whose ∂ℓ_n/∂Y_n is G_n) with respect to X, W and b."""
    def loss(X, W, b):
        return np.sum(G * (X @ W.T + b)) / X.shape[0]
    return {"dX": numdiff.gradient(lambda V: loss(V, W, b), X), "dW": numdiff.gradient(lambda V: loss(X, V, b), W),
            "db": numdiff.gradient(lambda V: loss(X, W, V), b)}


def _verify(inputs, result):
    probes.require(isinstance(result, list) and len(result) == len(inputs["cases"]),
                   "linear_backward gave too few results.")
    for case, got in zip(inputs["cases"], result, strict=True):
        X, W, b, G = (np.array(case[k], dtype=float) for k in ("X", "W", "b", "G"))
        (N, n), m = X.shape, W.shape[0]
        where = f"for N={N}, n={n}, m={m}"
        probes.require(isinstance(got, dict), f"linear_backward gave no result {where}.")
        if got.get("error"):
            raise checks.CheckFailure(f"Your linear_backward {where} failed: {got['error']}. X is (N, n), W is (m, n), "
                                      "G is (N, m).")

        for name, expected in _reference(X, W, b, G).items():
            probes.close(got.get(name), expected, what=name, where=where, batch_size=N, hint=_HINTS[name])


probes.exercise(globals(), inputs=_inputs, driver=_DRIVER, verify=_verify, seed=801)
### END HIDDEN TESTS


# %% active="py" wrong_answer="07_loss_gradients-linear_backward-solution" mistake="dW transposed: X^T G, of shape (n, m), where W is (m, n)."
def linear_backward(X, W, b, G):
    N = X.shape[0]
    return G @ W / N, X.T @ G / N, G.sum(axis=0) / N


# %% active="py" wrong_answer="07_loss_gradients-linear_backward-solution" mistake="db not summed over the batch: dY/db is the identity, so db = G / N, of shape (N, m)."
def linear_backward(X, W, b, G):
    N = X.shape[0]
    return G @ W / N, G.T @ X / N, G / N


# %% active="py" wrong_answer="07_loss_gradients-linear_backward-solution" mistake="db summed over the wrong axis: over the outputs, not over the batch."
def linear_backward(X, W, b, G):
    N = X.shape[0]
    return G @ W / N, G.T @ X / N, G.sum(axis=1) / N


# %% active="py" wrong_answer="07_loss_gradients-linear_backward-solution" mistake="The gradients of the summed loss: the 1/N of the mean is missing everywhere."
def linear_backward(X, W, b, G):
    return G @ W, G.T @ X, G.sum(axis=0)


# %% active="py" wrong_answer="07_loss_gradients-linear_backward-solution" mistake="The mean taken for the parameters only: dX is N times too large."
def linear_backward(X, W, b, G):
    N = X.shape[0]
    return G @ W, G.T @ X / N, G.sum(axis=0) / N


# %% active="py" wrong_answer="07_loss_gradients-linear_backward-solution" mistake="A squeeze to tidy the shapes: db loses its axis when m = 1, dX and dW when N = 1 or n = 1."
def linear_backward(X, W, b, G):
    N = X.shape[0]
    return np.squeeze(G @ W / N), np.squeeze(G.T @ X / N), np.squeeze(G.sum(axis=0) / N)


# %% active="py" wrong_answer="07_loss_gradients-linear_backward-solution" mistake="Not derived: numdiff's gradients of a loss built from G."
def linear_backward(X, W, b, G):
    def loss(X, W, b):
        return np.sum(G * (X @ W.T + b)) / X.shape[0]
    return (numdiff.gradient(lambda V: loss(V, W, b), X), numdiff.gradient(lambda V: loss(X, V, b), W),
            numdiff.gradient(lambda V: loss(X, W, V), b))


# %% [markdown]
# ## What you can now do
#
# - Derive the MSE gradient $\frac2N X^\top(Xw - y)$ with the matrix rules of unit 2, and read it: each example
#   pulls $w$ along its own features, as hard as it is wrong; derive the gradient of a weighted MSE the same way.
# - Derive the softmax cross-entropy gradient $p - y$ through the softmax Jacobian, batch it as $\frac1N(P - Y)$
#   for class-index or one-hot targets, and derive the gradients of label-smoothed cross-entropy and of the
#   logistic loss with respect to the logits.
# - Compute log-sum-exp, softmax and the logistic gradient stably, and test them at logits of $\pm 1000$.
# - Write the ridge gradient and solve $(X^\top X + N\alpha I)\,w^\star = X^\top y$, with the constant $N\alpha$
#   that a mean-based loss requires; do the same for a general quadratic penalty $\alpha\, w^\top P w$.
# - Derive the backward pass of a batched linear layer: the weights' gradient collects the whole batch, and the
#   bias, broadcast over the batch on the way forward, sums over it on the way back.
#
# | loss | gradient | what it says |
# |---|---|---|
# | $\frac1N\|Xw - y\|^2$ | $\frac2N X^\top(Xw - y)$ | each example pulls $w$ along its features, as hard as it is wrong |
# | $\frac1N\sum_n -\log \operatorname{softmax}(Z_n)_{y_n}$ | $\frac1N(P - Y)$ | raise the true class, lower the others in proportion to their probability |
# | $\frac1N\|Xw - y\|^2 + \alpha\|w\|^2$ | $\frac2N X^\top(Xw - y) + 2\alpha w$ | shrink the weights; minimiser: solve $(X^\top X + N\alpha I)\,w^\star = X^\top y$ |
#
# Three habits carry over to every loss you will meet: derive the gradient with the matrix rules and the
# chain rule, check it against a numerical gradient before trusting it, and feed your code extreme inputs on
# purpose.
#
# **Next: unit 8, *Autograd pitfalls, and how to check a gradient*.** In practice an autograd engine computes
# these gradients for you, and it never complains when it is wrong. Unit 8 turns the numerical check of this
# unit into a tool that finds wrong backward rules, and meets the other ways training fails silently.
