# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Unit 1 · Derivatives as slopes and rates
#
# Every time a neural network learns, it asks one question, millions of times: *if I nudge this
# weight a little, how fast does the loss change?* That rate is a **derivative**. This unit builds it
# from scratch, as a limit, a slope and a rate, and then computes it three ways: numerically,
# symbolically, and by hand with the rules of differentiation. On the way you meet the first trap of
# numerical computing: a smaller step is not always a better one.
#
# **Learning objective 1.** Compute derivatives of common functions and read them as rates of change
# or slopes. By the end of this unit you will be able to
#
# - read $f'(x)$ as the slope of a tangent line and as a rate, with units;
# - approximate $f'(x)$ by forward and central differences, and predict their errors;
# - choose the step $h$ that balances truncation error against round-off error;
# - differentiate with sympy and with the product, quotient and chain rules, and check every answer
#   numerically.
#
# Run the cells from top to bottom. The six graded exercises are at the end; each has a test cell
# that explains what went wrong when it fails. The symbols ($h$ a step, $\varepsilon$ machine epsilon, $L$ a
# loss, ...) follow [the course's notation](../../course/notation.md).

# %%
import matplotlib.pyplot as plt
import numpy as np
import sympy as sp

from calcml import checks, numdiff, plots, widgets

# %% [markdown]
# ## 1 · The derivative is a limit of slopes
#
# The straight line through two points of a curve, $(x, f(x))$ and $(x + h, f(x + h))$, is a
# **secant**. Its slope is rise over run, the *difference quotient*
# $\dfrac{f(x+h) - f(x)}{h}$. Let $h$ shrink: the second point slides towards the first, and the
# secant pivots until it only touches the curve. That limiting line is the **tangent**, and its slope
# is the **derivative**:
#
# $$ f'(x) = \lim_{h \to 0} \frac{f(x+h) - f(x)}{h}. $$
#
# For $f(x) = x^2$ the algebra is short: $\frac{(x+h)^2 - x^2}{h} = \frac{2xh + h^2}{h} = 2x + h
# \to 2x$. The computer algebra system sympy takes the limit too:

# %%
x, h = sp.symbols("x h")
quotient = ((x + h) ** 2 - x**2) / h
sp.Eq(sp.Limit(quotient, h, 0, dir="+-"), sp.limit(quotient, h, 0, dir="+-"))


# %% [markdown]
# The picture: secants through $(1, 1)$ with shrinking $h$ close in on the tangent of slope
# $f'(1) = 2$. Their slopes are $2 + h$, so the error of the difference quotient is exactly $h$: keep
# that in mind for section 3.

# %%
def square(t):
    return t**2


x0 = 1.0
ts = np.linspace(-0.6, 2.8, 200)
ax = plots.new_axes("x", "y", "Secants through (1, 1) pivot onto the tangent as h shrinks")
ax.plot(ts, square(ts), color=plots.COLORS["blue"], lw=2.5, label="$f(x) = x^2$")
for color, step in zip(plots.PALETTE[2:5], [1.5, 0.8, 0.3], strict=True):
    slope = (square(x0 + step) - square(x0)) / step
    ax.plot(ts, square(x0) + slope * (ts - x0), color=color, lw=1.3, label=f"secant, h = {step}: slope {slope:.2f}")
    ax.plot([x0 + step], [square(x0 + step)], "o", color=color)
ax.plot(ts, square(x0) + 2 * x0 * (ts - x0), color=plots.COLORS["vermillion"], ls="--", lw=2,
        label="tangent: slope f'(1) = 2")
ax.plot([x0], [square(x0)], "o", color=plots.COLORS["black"], ms=8)
ax.set_ylim(-1.5, 7.5)
ax.legend(loc="upper left")
plt.show()


# %% [markdown]
# ## 2 · The derivative is a rate
#
# When $x$ is time, the slope is a **rate of change**, and it carries units: units of $f$ per unit of
# $x$. Throw a ball straight up at 12 m/s from a height of 1.5 m. Its height after $t$ seconds is
#
# $$ s(t) = 1.5 + 12\,t - \tfrac{1}{2}\,9.8\,t^2 \ \text{m}, \qquad
#    v(t) = s'(t) = 12 - 9.8\,t \ \text{m/s}. $$
#
# A phone in the ball logs its height every 0.1 s. It knows nothing about formulas, yet it can
# estimate the velocity at each sample as distance over time, using the samples just before and just
# after: $v(t) \approx \frac{s(t + 0.1) - s(t - 0.1)}{0.2}$.

# %%
def height(t):
    """Height in metres of the ball, t seconds after the throw."""
    return 1.5 + 12.0 * t - 0.5 * 9.8 * t**2


def velocity(t):
    """The derivative of height: metres per second."""
    return 12.0 - 9.8 * t


dt = 0.1
times = np.arange(0.0, 2.6, dt)
heights = height(times)  # what the phone records
estimate = (heights[2:] - heights[:-2]) / (2 * dt)  # velocity at times[1:-1]
print(f"largest error of the estimated velocity: {np.max(np.abs(estimate - velocity(times[1:-1]))):.1e} m/s")

# %%
apex = 12.0 / 9.8  # v(apex) = 0
fig, (ax_s, ax_v) = plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained")
plots.new_axes("time t (s)", "height s(t) (m)", "Position", ax=ax_s)
ax_s.plot(times, heights, "o-", color=plots.COLORS["blue"], ms=4, label="logged heights")
ax_s.plot([apex], [height(apex)], "*", color=plots.COLORS["vermillion"], ms=14, label="top: slope 0")
ax_s.legend(loc="lower center")
plots.new_axes("time t (s)", "velocity v(t) = s'(t) (m/s)", "Velocity: the slope of the position", ax=ax_v)
ax_v.plot(times, velocity(times), color=plots.COLORS["blue"], lw=2, label="exact: 12 - 9.8 t")
ax_v.plot(times[1:-1], estimate, "s", color=plots.COLORS["orange"], ms=5, label="from the samples")
ax_v.axhline(0.0, color=plots.COLORS["black"], lw=0.8)
ax_v.plot([apex], [0.0], "*", color=plots.COLORS["vermillion"], ms=14, label=f"v = 0 at t = {apex:.2f} s")
ax_v.legend(loc="lower left")
plt.show()

# %% [markdown]
# Read the two panels together. While the ball rises, $s$ increases and $v > 0$; at the top the
# tangent is flat and $v = 0$; on the way down $v < 0$. The velocity falls by 9.8 m/s every second:
# the slope of $v$, the acceleration $v'(t) = s''(t)$, is $-9.8\ \text{m/s}^2$, gravity.
#
# The estimate from the samples is exact up to rounding errors of $10^{-14}$ m/s. That is no luck: section 3 shows
# that the error of this *central difference* is proportional to $f'''$, which is zero for a parabola.
#
# **In machine learning** the function is a training loss $L$ and the input a weight $w$. Then
# $L'(w)$ is the rate at which the loss changes per unit of weight: its sign says which way to move
# $w$ to lower the loss, and its size says how sensitive the loss is to $w$. Gradient descent
# (unit 6) is nothing more than following this rate downhill.

# %% [markdown]
# ## 3 · Forward and central differences
#
# A computer cannot take a limit, so it picks a small $h$ and stops there. Two choices cost the same,
# two evaluations of $f$:
#
# $$ \text{forward: } \frac{f(x+h) - f(x)}{h}, \qquad \text{central: } \frac{f(x+h) - f(x-h)}{2h}. $$
#
# Taylor's theorem says how wrong each is. Expanding around $x$,
#
# $$ f(x \pm h) = f(x) \pm h f'(x) + \tfrac{h^2}{2} f''(x) \pm \tfrac{h^3}{6} f'''(x) + O(h^4), $$
#
# so
#
# $$ \frac{f(x+h) - f(x)}{h} = f'(x) + \underbrace{\tfrac{h}{2} f''(x) + O(h^2)}_{\text{error } O(h)},
#    \qquad
#    \frac{f(x+h) - f(x-h)}{2h} = f'(x) + \underbrace{\tfrac{h^2}{6} f'''(x) + O(h^4)}_{\text{error } O(h^2)}. $$
#
# In the central difference the even terms, $f(x)$ and $\frac{h^2}{2}f''(x)$, cancel. That symmetry buys
# a whole order: divide $h$ by 10 and the forward error drops 10 times, the central error 100 times.

# %%
x0 = 1.0  # the derivative of exp at 1 is e
print(f"{'h':>7} {'forward error':>15} {'central error':>15}")
for step in [1e-1, 1e-2, 1e-3, 1e-4]:
    forward = (np.exp(x0 + step) - np.exp(x0)) / step
    central = (np.exp(x0 + step) - np.exp(x0 - step)) / (2 * step)
    print(f"{step:7.0e} {abs(forward - np.e):15.2e} {abs(central - np.e):15.2e}")

# %% [markdown]
# The forward errors are $\frac{h}{2}e \approx 1.36\,h$ and the central ones
# $\frac{h^2}{6}e \approx 0.45\,h^2$, as Taylor predicted.
#
# ## 4 · Truncation against round-off: the best step
#
# So why not take $h = 10^{-15}$ and be done? Try it:

# %%
for step in [1e-5, 1e-10, 1e-15]:
    central = (np.exp(x0 + step) - np.exp(x0 - step)) / (2 * step)
    print(f"h = {step:.0e}: central difference {central:.15f}, error {abs(central - np.e):.1e}")

# %% [markdown]
# A float64 carries about 16 significant digits: each stored number is off by a relative error up to
# the machine epsilon $\varepsilon = 2.2 \times 10^{-16}$. So $f(x+h)$ and $f(x-h)$ are each off by about
# $\varepsilon |f(x)|$. Their difference is tiny, about $2h|f'(x)|$, while its error stays about
# $\varepsilon |f(x)|$ (*catastrophic cancellation*); dividing by $2h$ turns that into a
# **round-off error** of about $\varepsilon |f(x)| / h$, which *grows* as $h$ shrinks. The
# **truncation error** of the formula, $O(h)$ or $O(h^2)$, shrinks with $h$. Their sum is V-shaped on a
# log-log plot:

# %%
plots.step_size_error(np.exp, np.exp, 1.0)
plt.show()

# %% [markdown]
# Right of each minimum, truncation rules: the curves follow the dotted reference slopes $h^1$ and
# $h^2$. Left of it, round-off rules: both curves rise like $1/h$, noisily. Where is the bottom? Write
# $M_2 \approx |f''|$ and $M_3 \approx |f'''|$ near $x$, add the two errors and set the derivative with
# respect to $h$ to zero:
#
# $$ \text{forward: } E(h) \approx \frac{M_2}{2}h + \frac{2\varepsilon|f|}{h}, \quad
#    E'(h) = \frac{M_2}{2} - \frac{2\varepsilon|f|}{h^2} = 0 \;\Rightarrow\;
#    h^\star = 2\sqrt{\frac{\varepsilon|f|}{M_2}} \sim \varepsilon^{1/2} \approx 1.5 \times 10^{-8},
#    \quad E(h^\star) \sim \varepsilon^{1/2} \approx 10^{-8}; $$
#
# $$ \text{central: } E(h) \approx \frac{M_3}{6}h^2 + \frac{\varepsilon|f|}{h}, \quad
#    E'(h) = \frac{M_3}{3}h - \frac{\varepsilon|f|}{h^2} = 0 \;\Rightarrow\;
#    h^\star = \left(\frac{3\varepsilon|f|}{M_3}\right)^{1/3} \sim \varepsilon^{1/3} \approx 6 \times 10^{-6},
#    \quad E(h^\star) \sim \varepsilon^{2/3} \approx 4 \times 10^{-11}. $$
#
# When $|f|$, $M_2$ and $M_3$ are of order 1 the constants hardly matter; the exponents do. The central
# difference wins twice: a larger best step, and a best error hundreds of times smaller.
#
# One more catch. $\varepsilon$ is a *relative* spacing: near $x$, neighbouring floats are about
# $\varepsilon|x|$ apart. At $x = 10^8$ they are $1.5\times 10^{-8}$ apart, so the step you ask for is
# not the step you get:

# %%
big = 1e8
for asked in [1e-6, 1e-7, 1e-8]:
    got = (big + asked) - big
    print(f"at x = 1e8, asked for h = {asked:.0e}, got h = {got:.4e}: off by {abs(got - asked) / asked:.1%}")

# %% [markdown]
# So the step must grow with $|x|$: far from 0 it should be a *relative* step, proportional to $|x|$.
# Near 0 that fails, and not only at $x = 0$: a relative step $\varepsilon^{1/3}|x|$ shrinks with $|x|$, to about
# $6 \times 10^{-18}$ at $x = 10^{-12}$, where the round-off error $\varepsilon|f|/h$ of a function like $e^x$ is
# about 37, far larger than the derivative 1. Near 0 an absolute step is needed. Exercise 3 asks you to combine
# the two with the exponent derived above.
#
# The course's reference, `numdiff.derivative`, pushes the same idea further: a fourth-order stencil
# with error $O(h^4)$ and the matching best step $\varepsilon^{1/5}\max(1, |x|)$. It reaches about
# $10^{-11}$ relative error on smooth functions, and every test in this course compares your answers
# with it.

# %%
print(f"numdiff.derivative(np.exp, 1.0) - e = {numdiff.derivative(np.exp, 1.0) - np.e:.1e}")

# %% [markdown]
# ## 5 · Symbolic derivatives with sympy
#
# Numbers are approximate. A computer algebra system manipulates formulas instead and returns exact
# derivatives. Take a wave packet, $e^{-x^2/2}\sin 3x$:

# %%
wave = sp.exp(-(x**2) / 2) * sp.sin(3 * x)
d_wave = sp.diff(wave, x)
d_wave

# %% [markdown]
# `sp.lambdify` turns a formula into a NumPy function, so the exact derivative and the numerical one
# can meet on a grid:

# %%
wave_np = sp.lambdify(x, wave, "numpy")
d_wave_np = sp.lambdify(x, d_wave, "numpy")
grid = np.linspace(-3.0, 3.0, 121)
error = checks.relative_error(numdiff.derivative(wave_np, grid), d_wave_np(grid))
print(f"sympy against numdiff on 121 points: relative error {error:.1e}")

# %% [markdown]
# Symbolic derivatives are exact, but they differentiate formulas, not programs, and their formulas can
# grow far larger than the function's. Automatic differentiation (unit 5) keeps the exactness and
# avoids the growth, by applying the chain rule to numbers at each step of a program.
#
# ## 6 · The rules: product, quotient, chain
#
# Three rules, with the derivatives of a few basic functions ($x^n$, $e^x$, $\log x$, $\sin x$, ...),
# differentiate any formula. Each cell below checks a rule on an example: `sp.simplify(lhs - rhs) == 0`
# means the two sides are the same function.
#
# **Product rule**, $(uv)' = u'v + uv'$. When both factors change, each change counts, weighted by the
# other factor.

# %%
u, v = x**3, sp.exp(-x)
lhs = sp.diff(u * v, x)
rhs = sp.diff(u, x) * v + u * sp.diff(v, x)
print("product rule holds:", sp.simplify(lhs - rhs) == 0)

# %% [markdown]
# **Quotient rule**, $\left(\dfrac{u}{v}\right)' = \dfrac{u'v - uv'}{v^2}$. Mind the minus sign and the
# square.

# %%
u, v = sp.sin(x), 1 + x**2
lhs = sp.diff(u / v, x)
rhs = (sp.diff(u, x) * v - u * sp.diff(v, x)) / v**2
print("quotient rule holds:", sp.simplify(lhs - rhs) == 0)

# %% [markdown]
# **Chain rule**, $(f \circ g)'(x) = f'(g(x))\, g'(x)$, or with $y = f(u)$ and $u = g(x)$,
# $\dfrac{dy}{dx} = \dfrac{dy}{du}\dfrac{du}{dx}$. Rates multiply: if $u$ changes 3 times as fast as
# $x$, and $y$ 2 times as fast as $u$, then $y$ changes 6 times as fast as $x$. Note where $f'$ is
# evaluated: at the inner value $g(x)$, not at $x$. Example: $\sin(x^2)$.

# %%
u = sp.symbols("u")  # the inner variable
outer, inner = sp.sin(u), x**2
lhs = sp.diff(outer.subs(u, inner), x)  # d/dx sin(x^2)
rhs = sp.diff(outer, u).subs(u, inner) * sp.diff(inner, x)  # f'(g(x)) * g'(x) = cos(x^2) * 2x
print("chain rule holds:", sp.simplify(lhs - rhs) == 0)

# %% [markdown]
# sympy even states the chain rule for functions it knows nothing about. For unknown $F$ and $G$ it
# answers $F'(G(x))\,G'(x)$, which it writes as $\frac{d}{dG(x)}F(G(x)) \cdot \frac{d}{dx}G(x)$:

# %%
F, G = sp.Function("F"), sp.Function("G")
sp.diff(F(G(x)), x)

# %% [markdown]
# The chain rule is the engine of deep learning: a network is a long composition of simple functions,
# and backpropagation (units 3 to 5) is the chain rule applied to it from the output backwards.
#
# ## 7 · Worked example: the sigmoid, three ways
#
# The sigmoid $\sigma(x) = \dfrac{1}{1 + e^{-x}}$ squashes any number into $(0, 1)$; it turns scores into
# probabilities in logistic regression. Let us differentiate it by hand, then check the answer
# symbolically and numerically, as you will do in the exercises.
#
# **By hand.** Write $\sigma = u^{-1}$ with inner function $u = 1 + e^{-x}$. The outer derivative is
# $-u^{-2}$ and the inner one is $-e^{-x}$ (the chain rule again, for $e^{-x}$). So
#
# $$ \sigma'(x) = -\frac{1}{(1 + e^{-x})^2} \cdot \left(-e^{-x}\right)
#    = \frac{1}{1 + e^{-x}} \cdot \frac{e^{-x}}{1 + e^{-x}}
#    = \sigma(x)\,\bigl(1 - \sigma(x)\bigr). $$
#
# The derivative is a function of the value: code that has computed $\sigma(x)$ gets $\sigma'(x)$ for one
# multiplication, which is why backpropagation stores the sigmoid's output.
#
# **Symbolically:**

# %%
sigma = 1 / (1 + sp.exp(-x))
print("σ' = σ(1 - σ):", sp.simplify(sp.diff(sigma, x) - sigma * (1 - sigma)) == 0)


# %% [markdown]
# **Numerically**, with `checks.check_derivative`, which compares a derivative function with
# `numdiff.derivative` at each point and stays silent when they agree:

# %%
def sigmoid(t):
    return 1 / (1 + np.exp(-t))


def d_sigmoid(t):
    s = sigmoid(t)
    return s * (1 - s)


checks.check_derivative(d_sigmoid, sigmoid, np.linspace(-6, 6, 13), name="sigmoid")
print("d_sigmoid agrees with numdiff at 13 points.")


# %% [markdown]
# And this is what a failure looks like. Forget that the inner derivative of $e^{-x}$ is $-e^{-x}$, and
# the two minus signs no longer cancel:

# %%
def d_sigmoid_wrong(t):
    return -np.exp(-t) / (1 + np.exp(-t)) ** 2  # inner derivative taken as +e^{-x}


try:
    checks.check_derivative(d_sigmoid_wrong, sigmoid, np.linspace(-6, 6, 13), name="sigmoid")
except checks.CheckFailure as failure:
    print(failure)


# %% [markdown]
# The message names the point, the two values and the likely cause. The tests of the exercises speak
# the same way: read their messages.
#
# ## 8 · Explore: tangent lines
#
# Below, $f(x) = x\,e^{-x^2/2}$ with its tangent at a point $x_0$ that you move with the slider (click
# it, then use the arrow keys for fine steps). The readout gives $f(x_0)$ and the slope $f'(x_0)$.
# Look for:
#
# 1. the points where the slope is **zero**. What does the curve do there?
# 2. the point where the curve is **steepest uphill**. Is it where the curve is highest?
# 3. the points where it is **steepest downhill**, and how the slope changes as you pass through them.
#
# (If you see a still picture and no slider, the notebook is not connected to a live kernel: open it in
# JupyterLab and run the cell.)

# %%
def pulse(t):
    return t * np.exp(-(t**2) / 2)


widgets.tangent_explorer(pulse, x_range=(-3.5, 3.5), x0=-2.5, label="f(x) = x·exp(-x²/2)")

# %% [markdown]
# Now check your answers exactly. The slope is zero where $f'(x) = 0$. The steepest points are where the
# slope itself stops changing, $f''(x) = 0$:

# %%
pulse_expr = x * sp.exp(-(x**2) / 2)
d_pulse = sp.diff(pulse_expr, x)
print("slope zero at x =", sp.solve(d_pulse, x))
for point in sp.solve(sp.diff(d_pulse, x), x):
    print(f"f'' = 0 at x = {point}: slope f'(x) = {float(d_pulse.subs(x, point)):+.3f}")

# %% [markdown]
# The peak at $x = 1$ and the trough at $x = -1$ are where the slope is zero, not where it is largest.
# The curve climbs fastest at $x = 0$ (slope 1), where $f$ itself is 0, and falls fastest at
# $x = \pm\sqrt 3$ (slope $-2e^{-3/2} \approx -0.446$): the slope and the value are different
# functions, with their high points in different places.
#
# ## Exercises
#
# Six exercises, each building on the last: the derivative read as the slope of a tangent (1), a numerical
# derivative (2), its best step (3), derivatives by the rules (4 and 5), and the chain rule as a reusable tool
# (6). Write your code where it says
# `# YOUR CODE HERE` (delete the `raise NotImplementedError()` line), then run the test cell below it.
# The visible tests are a sample: hidden tests check more functions, more points and the edge cases,
# so make your code right in general, not just for the examples. Each exercise is graded on its own,
# so a mistake in one does not cost you another.
#
# ### Exercise 1 · The tangent line (1 point)
#
# Section 1 read $f'(a)$ as the slope of the tangent to the curve at the point $(a, f(a))$. Write
# `tangent_line(f, df, a)`: given a function `f`, a function `df` that gives its slope at any point, and a
# point `a`, it **returns a function**, the tangent line of $f$ at $a$, evaluated at any `x` (a float or an
# array). The slope must come from the `df` you are given: the tests also hand you slope functions that you
# have never seen, and compare your line with the one that `df` defines. Near $a$ the tangent and the curve
# agree closely; that is what makes it the best straight-line approximation of $f$ there.

# %% nbgrader={"grade": false, "grade_id": "01_derivatives-tangent_line-solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
def tangent_line(f, df, a):
    """The tangent line of f at the point a.

    Args:
        f: A function of one variable that works elementwise on NumPy arrays.
        df: Its derivative (a function of one variable, elementwise): df(t) is the slope of f at t.
        a: The point of tangency, a float.

    Returns:
        A function that takes x (a float or an array) and returns the height of the tangent line at x,
        elementwise, with the shape of x.
    """
    ### BEGIN SOLUTION
    height, slope = f(a), df(a)

    def line(x):
        return height + slope * (x - a)

    return line
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "01_derivatives-tangent_line", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
HINT_TANGENT = ("The tangent at a goes through the point (a, f(a)) with slope df(a): its height at x is the height at "
                "a plus the slope times the run from a to x.")
line = tangent_line(square, lambda t: 2 * t, 1.0)
assert callable(line), (f"tangent_line returned {type(line).__name__}, not a function: define an inner function of x "
                        "inside it and return that function.")
checks.assert_close(line(np.array([0.0, 1.0, 3.0])), np.array([-1.0, 1.0, 5.0]), what="tangent of x² at a = 1",
                    where="at x = 0, 1, 3", hint=HINT_TANGENT)
checks.assert_close(tangent_line(np.sin, np.cos, 0.5)(0.5 + 1e-4), np.sin(0.5 + 1e-4), rtol=1e-7,
                    what="tangent of sin at a = 0.5", where="at x = a + 1e-4 (it must hug the curve there)",
                    hint=HINT_TANGENT)
checks.assert_close(tangent_line(np.exp, lambda t: 3.0 + 0 * t, 0.0)(np.array([-1.0, 2.0])), np.array([-2.0, 7.0]),
                    what="line through (0, exp(0)) with the slope df(0) = 3 you are given", where="at x = -1, 2",
                    hint="Take the slope from df, whatever df is: here df is not the derivative of exp.")
### BEGIN HIDDEN TESTS
# One definition of the hidden checks (calcml.probes): the kernel runs them here on a fixed seed; the grader
# draws each student's own inputs, runs the driver in a sandbox and _verify in its own process.
import numpy as np

from calcml import checks, numdiff, probes

# Functions, their derivatives and made-up slope functions, by name: one source, run by the driver and _verify.
_CURVES = """
import numpy as np
CURVES = {"sin": np.sin, "exp": np.exp, "tanh": np.tanh, "arctan": np.arctan, "cube": lambda t: t**3,
          "gauss": lambda t: np.exp(-(t**2) / 2)}
SLOPES = {"sin": np.cos, "exp": np.exp, "tanh": lambda t: 1 / np.cosh(t) ** 2, "arctan": lambda t: 1 / (1 + t**2),
          "cube": lambda t: 3 * t**2, "gauss": lambda t: -t * np.exp(-(t**2) / 2),
          "wiggle": lambda t: np.cos(3 * t) + 0.5 * t, "ramp": lambda t: 1 + t - t**2 / 3,
          "constant": lambda t: -1.3 + 0 * t}
"""
_curves = {}
exec(_CURVES, _curves)


def _shape(rng):
    return [int(n) for n in rng.integers(1, 5, size=int(rng.integers(1, 3)))]


def _inputs(rng):
    names = sorted(_curves["CURVES"])
    cases = []
    for k in range(8):
        fn = str(rng.choice(names))
        slope = fn if k < 4 else str(rng.choice(["wiggle", "ramp", "constant"]))  # true slopes, then made-up ones
        a = float(rng.uniform(-2, 2))
        cases.append({"fn": fn, "df": slope, "a": a, "x": (a + rng.uniform(-3, 3, size=_shape(rng))).tolist()})
    return {"cases": cases, "float": {"fn": "sin", "df": "wiggle", "a": float(rng.uniform(-2, 2)),
                                      "x": float(rng.uniform(-3, 3))},
            "near": {"fn": str(rng.choice(names)), "a": float(rng.uniform(-1.5, 1.5)),
                     "offsets": (rng.choice([-1.0, 1.0], 4) * 10.0 ** rng.uniform(-4, -2, 4)).tolist()}}


_DRIVER = _CURVES + """
result = {"cases": []}
for case in inputs["cases"]:
    line = tangent_line(CURVES[case["fn"]], SLOPES[case["df"]], case["a"])
    result["cases"].append(line(np.array(case["x"], dtype=float)))
case = inputs["float"]
result["float"] = tangent_line(CURVES[case["fn"]], SLOPES[case["df"]], case["a"])(case["x"])
near = inputs["near"]
line = tangent_line(CURVES[near["fn"]], SLOPES[near["fn"]], near["a"])
result["near"] = line(near["a"] + np.array(near["offsets"]))
"""


def _verify(inputs, result):
    probes.require(isinstance(result, dict) and isinstance(result.get("cases"), list)
                   and len(result["cases"]) == len(inputs["cases"]), "tangent_line gave too few results.")
    curves, slopes = _curves["CURVES"], _curves["SLOPES"]
    hint = ("The tangent at a goes through (a, f(a)) with slope df(a), the slope at the point of tangency (not at x): "
            "its height at x is f(a) plus the slope times (x - a).")
    for case, got in zip(inputs["cases"], result["cases"], strict=True):
        f, a, x = curves[case["fn"]], case["a"], np.array(case["x"], dtype=float)
        if case["df"] == case["fn"]:  # the true derivative: the slope of f at a, measured by numdiff
            expected, what = f(a) + numdiff.derivative(f, a) * (x - a), f"tangent of {case['fn']} at a = {a:.4g}"
        else:  # a made-up slope function: the line through (a, f(a)) that it defines
            expected = f(a) + slopes[case["df"]](a) * (x - a)
            what = f"tangent_line({case['fn']}, made-up df ({case['df']}), a = {a:.4g})"
        probes.close(got, expected, what=what, where=checks.describe_point(x), hint=hint)
    case = inputs["float"]
    f, a, x = curves[case["fn"]], case["a"], case["x"]
    probes.close(result.get("float"), f(a) + slopes[case["df"]](a) * (x - a),
                 what="tangent_line(sin, made-up df, a)", where=f"at the float x = {x:.4g}", hint=hint)
    near = inputs["near"]
    f, a = curves[near["fn"]], near["a"]
    points = a + np.array(near["offsets"])
    got = np.asarray(result.get("near"), dtype=float) if isinstance(result.get("near"), list) else None
    probes.require(got is not None and got.shape == points.shape, "tangent_line gave no values near a.")
    # The identity that defines the tangent: the gap between the curve and the line shrinks like (x - a)².
    gap = np.abs(got - f(points))
    probes.require(bool(np.all(np.isfinite(gap)) and np.all(gap <= 10.0 * (points - a) ** 2 + 1e-12)),
                   f"Close to a = {a:.4g}, your tangent of {near['fn']} leaves the curve by {float(np.max(gap)):.2g}: a "
                   "tangent hugs the curve, with a gap that shrinks like (x - a)². " + hint)


probes.exercise(globals(), inputs=_inputs, driver=_DRIVER, verify=_verify, seed=3141)
### END HIDDEN TESTS


# %% active="py" wrong_answer="01_derivatives-tangent_line-solution" mistake="The slope taken at x, not at the point of tangency a."
def tangent_line(f, df, a):
    def line(x):
        return f(a) + df(x) * (x - a)

    return line


# %% active="py" wrong_answer="01_derivatives-tangent_line-solution" mistake="y = m x + b with b = f(a): the run measured from 0, not from a."
def tangent_line(f, df, a):
    def line(x):
        return f(a) + df(a) * x

    return line


# %% active="py" wrong_answer="01_derivatives-tangent_line-solution" mistake="The height f(a) forgotten: a line through (a, 0)."
def tangent_line(f, df, a):
    def line(x):
        return df(a) * (x - a)

    return line


# %% active="py" wrong_answer="01_derivatives-tangent_line-solution" mistake="The slope measured with numdiff.derivative instead of the df given."
def tangent_line(f, df, a):
    slope = numdiff.derivative(f, a)

    def line(x):
        return f(a) + slope * (x - a)

    return line


# %% [markdown]
# ### Exercise 2 · The central difference (2 points)
#
# Write `central_difference(f, x, h)`, returning $\dfrac{f(x+h) - f(x-h)}{2h}$. The point `x` may be a
# NumPy array: `f` works elementwise (like `np.sin`), so no loop is needed. The tests compare your
# answer with `numdiff.derivative`, allowing the truncation error $\frac{h^2}{6}|f'''|$, and check that
# your error shrinks about 4 times when $h$ is halved: that is what makes a difference *central*. They
# also count the evaluations of `f`: two per point, at $x + h$ and $x - h$, and no others.

# %% nbgrader={"grade": false, "grade_id": "01_derivatives-central_difference-solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
def central_difference(f, x, h):
    """Approximate f'(x) by the central difference (f(x + h) - f(x - h)) / (2h).

    Args:
        f: A function of one variable that works elementwise on NumPy arrays, such as np.sin.
        x: A point (a float) or an array of points of any shape.
        h: The step, a positive float.

    Returns:
        The approximation of f'(x): a float for a float x, an array with the shape of x for an array x.
    """
    ### BEGIN SOLUTION
    return (f(x + h) - f(x - h)) / (2 * h)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "01_derivatives-central_difference", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
HINT_CENTRAL = "Compute (f(x + h) - f(x - h)) / (2 * h); mind the brackets around 2 * h."


def halving_ratio(difference, f, x, h):
    """How many times the error of `difference` shrinks when h is halved: 4 if it is O(h^2), 2 if O(h)."""
    exact = numdiff.derivative(f, x)
    errors = [abs(float(difference(f, x, step)) - exact) for step in (h, h / 2)]
    return errors[0] / max(errors[1], 1e-300)


checks.assert_close(central_difference(np.sin, 0.5, 1e-5), np.cos(0.5), what="central difference of sin",
                    where="at x = 0.5 with h = 1e-5", hint=HINT_CENTRAL)
points = np.linspace(-2.0, 2.0, 9)
checks.assert_close(central_difference(np.exp, points, 1e-4), numdiff.derivative(np.exp, points),
                    what="central differences of exp", where="at 9 points in [-2, 2] with h = 1e-4",
                    hint="Is it central? A forward difference (f(x + h) - f(x)) / h is only accurate to O(h).")
shrink = halving_ratio(central_difference, np.sin, 0.5, 0.1)
assert 3.6 < shrink < 4.4, (
    f"When h is halved (0.1 -> 0.05), the error of your difference of sin at x = 0.5 shrinks {shrink:.2f} times; "
    "a central difference has error h²f'''/6, so it should shrink about 4 times (a forward one: 2 times; "
    "one that ignores h: not at all).")
### BEGIN HIDDEN TESTS
# One definition of the hidden checks (calcml.probes): the kernel runs them here on a fixed seed; the grader
# draws each student's own inputs, runs the driver in a sandbox and _verify in its own process.
import numpy as np

from calcml import checks, probes

# The functions handed to central_difference by name: one source, run by the driver and by _verify.
_FUNCTIONS = """
import numpy as np
FUNCTIONS = {"sin": np.sin, "cos": np.cos, "exp": np.exp, "log": np.log, "tanh": np.tanh, "arctan": np.arctan,
             "cube": lambda t: t**3}
"""
_functions = {}
exec(_FUNCTIONS, _functions)


def _shape(rng):
    return [int(n) for n in rng.integers(1, 5, size=int(rng.integers(1, 3)))]


def _inputs(rng):
    domains = {"sin": (-6, 6), "exp": (-3, 3), "log": (0.5, 5), "tanh": (-2, 2), "arctan": (-3, 3), "cube": (-2, 2),
               "poly": (-2, 2)}
    others = [str(n) for n in rng.choice(["tanh", "arctan", "cube"], size=2, replace=False)]
    coefficients = rng.integers(1, 6, size=5).tolist()  # a random quartic
    cases = []
    for name in ["exp", "sin", "poly", "log", *others]:
        lo, hi = domains[name]
        cases.append({"fn": name, "x": rng.uniform(lo, hi, size=_shape(rng)).tolist(),
                      "h": float(10.0 ** rng.uniform(-3.0, -1.3))})
    cases.append({"fn": "sin", "x": float(rng.uniform(-2, 2)), "h": 0.1})  # a step and its half
    cases.append({"fn": "sin", "x": float(rng.uniform(-2, 2)), "h": 0.05})
    cases.append({"fn": "exp", "x": int(rng.integers(-2, 3)), "h": 0.05})  # an integer point
    cases.append({"fn": "cos", "x": int(rng.integers(1, 4)), "h": 1e-5})
    return {"cases": cases, "poly": coefficients}


# The driver also records every point at which f is evaluated: a central difference needs f at x + h and x - h,
# two values per point, and nothing else (a one-sided or a many-point rule shows in these counts).
_DRIVER = _FUNCTIONS + """
FUNCTIONS["poly"] = lambda t: sum(c * t**k for k, c in enumerate(inputs["poly"]))


def counted(f, seen):
    def wrapper(t):
        seen.extend(np.ravel(np.asarray(t, dtype=float)).tolist())
        return f(t)
    return wrapper


result, evaluations = [], []
for case in inputs["cases"]:
    x = np.array(case["x"], dtype=float) if isinstance(case["x"], list) else case["x"]
    seen = []
    result.append(central_difference(counted(FUNCTIONS[case["fn"]], seen), x, case["h"]))
    evaluations.append(seen)
result = {"values": result, "evaluations": evaluations}
"""


def _function(name, coefficients):
    if name == "poly":
        return lambda t: sum(c * t**k for k, c in enumerate(coefficients))
    return _functions["FUNCTIONS"][name]


def _verify(inputs, result):
    probes.require(isinstance(result, dict) and isinstance(result.get("values"), list)
                   and len(result["values"]) == len(inputs["cases"]), "central_difference gave no results.")
    for case, got in zip(inputs["cases"], result["values"], strict=True):
        f, h = _function(case["fn"], inputs["poly"]), case["h"]
        x = np.array(case["x"], dtype=float)
        # The definition of the central difference, evaluated here on the grader's side: it must agree to
        # round-off. (A forward difference, a missing 2 or a step other than h is off by far more.)
        expected = (f(x + h) - f(x - h)) / (2 * h)
        where = f"of {case['fn']} {checks.describe_point(x)} with h = {h:.3g}"
        probes.close(got, expected, what="central difference", where=where, rtol=1e-7,
                     hint="Compute (f(x + h) - f(x - h)) / (2 * h) with the h you are given; mind the brackets "
                          "around 2 * h.")
    evaluations = result.get("evaluations")
    probes.require(isinstance(evaluations, list) and len(evaluations) == len(inputs["cases"]),
                   "central_difference: the evaluations of f were not recorded.")
    for case, seen in zip(inputs["cases"], evaluations, strict=True):
        x, h = np.ravel(np.array(case["x"], dtype=float)), case["h"]
        where = f"for {case['fn']} at {x.size} point{'s' if x.size > 1 else ''} with h = {h:.3g}"
        probes.require(isinstance(seen, list) and len(seen) == 2 * x.size,
                       f"central_difference evaluated f at {len(seen) if isinstance(seen, list) else '?'} points "
                       f"{where}; a central difference needs exactly two values of f per point, f(x + h) and "
                       "f(x - h). More is another rule (or a call to numdiff); f(x) itself is not needed.")
        wanted = np.sort(np.concatenate([x + h, x - h]))
        got = np.sort(np.array(seen, dtype=float))
        probes.require(bool(np.all(np.abs(got - wanted) <= 1e-9 * h + 4 * np.spacing(np.abs(wanted) + h))),
                       f"central_difference evaluated f at points other than x + h and x - h {where}: a central "
                       "difference steps the same h to each side of x (a forward difference uses f(x)).")


probes.exercise(globals(), inputs=_inputs, driver=_DRIVER, verify=_verify, seed=2718)
### END HIDDEN TESTS


# %% active="py" wrong_answer="01_derivatives-central_difference-solution" mistake="A forward difference: error O(h), not O(h^2)."
def central_difference(f, x, h):
    return (f(x + h) - f(x)) / h


# %% active="py" wrong_answer="01_derivatives-central_difference-solution" mistake="The 2 of 2h forgotten: twice the derivative."
def central_difference(f, x, h):
    return (f(x + h) - f(x - h)) / h


# %% active="py" wrong_answer="01_derivatives-central_difference-solution" mistake="Operator precedence: \"/ 2 * h\" multiplies by h instead of dividing by 2h."
def central_difference(f, x, h):
    return (f(x + h) - f(x - h)) / 2 * h


# %% active="py" wrong_answer="01_derivatives-central_difference-solution" mistake="\"More accurate is better\": the fourth-order five-point stencil of numdiff, four evaluations of f per point."
def central_difference(f, x, h):
    return (f(x - 2 * h) - 8 * f(x - h) + 8 * f(x + h) - f(x + 2 * h)) / (12 * h)


# %% active="py" wrong_answer="01_derivatives-central_difference-solution" mistake="The course's reference instead of the formula: numdiff.derivative ignores h."
def central_difference(f, x, h):
    return numdiff.derivative(f, x)


# %% [markdown]
# ### Exercise 3 · The best step (2 points)
#
# Write `choose_step(x)`, returning a step $h$ for the central difference at `x` that sits at the bottom
# of the V of section 4, for functions that change on the scale of $\max(1, |x|)$ (exp near 0, log, powers
# of $x$, ...). `x` may be an array; use `np.maximum` and `np.abs`, which work elementwise, rather than
# `max` and `abs`.
#
# The test does not compare your formula with ours: it *measures*. For several functions and many points,
# it computes the central difference with your step, and with every step on a fine logarithmic grid. Your
# typical error must be within 10 times the best typical error on the grid. (Round-off makes single errors
# erratic, so "typical" is a median over nearby steps and points.) Any step in the valley passes; a step
# on either arm of the V fails, and the message tells you which arm. The points include 0, large values
# and tiny nonzero ones such as $10^{-300}$ and $10^{-12}$.

# %% nbgrader={"grade": false, "grade_id": "01_derivatives-choose_step-solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
def choose_step(x):
    """A step h for the central difference at x that balances truncation and round-off error.

    Args:
        x: A point (a float) or an array of points of any shape.

    Returns:
        Positive, finite steps, one per point, each large enough that x + h != x in float64: a float for a
        float x, a float array with the shape of x otherwise.
    """
    ### BEGIN SOLUTION
    eps = np.finfo(np.float64).eps
    return eps ** (1 / 3) * np.maximum(1.0, np.abs(x))
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "01_derivatives-choose_step", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
from calcml import step_choice


def check_step_quality(choose_step, name, expr, symbol, xs, factor=10.0):
    """Fail unless central differences of `expr` with the steps `choose_step(xs)` are typically within
    `factor` times the error of the best step on a grid (errors against sympy's exact derivative)."""
    f, df = sp.lambdify(symbol, expr, "numpy"), sp.lambdify(symbol, sp.diff(expr, symbol), "numpy")
    xs = np.asarray(xs, dtype=float)
    try:
        steps = np.asarray(choose_step(xs.copy()), dtype=float)
    except ValueError as error:  # typically max(1, abs(x)) on an array
        raise checks.CheckFailure(f"choose_step failed on an array of points ({error}). Use np.maximum and np.abs, "
                                  "which work elementwise, rather than max and abs.") from error
    step_choice.check_steps(xs, steps)
    ratios, mine, best, best_step = step_choice.compare_with_best(f, df, xs, steps)
    if np.median(ratios) <= factor:
        return
    i = int(np.argsort(ratios)[xs.size // 2])  # a typical point
    arm = ("too small: round-off error, about ε|f|/h, dominates" if steps[i] < best_step[i] else
           "too large: truncation error, about h²|f'''|/6, dominates")
    raise checks.CheckFailure(
        f"With your steps, central differences of {name} are typically {np.median(ratios):.3g} times less accurate "
        f"than with the best step (allowed: {factor:g}). For example, at x = {xs[i]:.4g} your h = {steps[i]:.2g} gives "
        f"an error of {mine[i]:.2g}, while h near {best_step[i]:.2g} gives {best[i]:.2g}. Your step is {arm}. "
        "Aim for the bottom of the V: h ≈ ε^(1/3)·max(1, |x|).")


z = sp.symbols("z")
rng = np.random.default_rng(11)
h_scalar = choose_step(0.5)
assert np.ndim(h_scalar) == 0 and float(h_scalar) > 0, f"choose_step(0.5) should be one positive number, not {h_scalar!r}"
check_step_quality(choose_step, "exp", sp.exp(z), z, np.concatenate([[0.0, 1e-3], rng.uniform(-4, 4, 18)]))
check_step_quality(choose_step, "log", sp.log(z), z, 10 ** rng.uniform(0, 8, 20))
### BEGIN HIDDEN TESTS
# One definition of the hidden checks (calcml.probes): the kernel runs them here on a fixed seed; the grader
# draws each student's own inputs, runs the driver in a sandbox and _verify in its own process.
import numpy as np

from calcml import checks, probes, step_choice

# Each function with its exact derivative, and its points: 25 each, with the extremes (0, tiny, huge).
_STEP_FUNCTIONS = {
    "exp": (np.exp, np.exp), "log": (np.log, lambda t: 1 / t), "sin": (np.sin, np.cos),
    "tanh": (np.tanh, lambda t: 1 / np.cosh(t) ** 2), "arctan": (np.arctan, lambda t: 1 / (1 + t**2)),
    "cube": (lambda t: t**3, lambda t: 3 * t**2), "sqrt": (np.sqrt, lambda t: 0.5 / np.sqrt(t)),
    "inverse": (lambda t: 1 / t, lambda t: -1 / t**2),
    "shifted arctan": (lambda t: np.arctan(1 + t), lambda t: 1 / (1 + (1 + t) ** 2)),
}
_STEP_CASES = {
    "exp": lambda rng: np.concatenate([[0.0, 1e-3], rng.uniform(-5, 5, 23)]),
    "log": lambda rng: np.concatenate([[1e10], 10 ** rng.uniform(0, 10, 24)]),
    "sin": lambda rng: np.concatenate([[0.0, -1e-4], rng.uniform(-3, 3, 23)]),
    "tanh": lambda rng: np.concatenate([[0.0, 2e-6], rng.uniform(-2, 2, 23)]),
    "arctan": lambda rng: rng.uniform(-3, 3, 25),
    "cube": lambda rng: rng.choice([-1.0, 1.0], 25) * 10 ** rng.uniform(0, 5, 25),
    "sqrt": lambda rng: 10 ** rng.uniform(0, 8, 25),
    "inverse": lambda rng: 10 ** rng.uniform(0, 6, 25),
}


def _tiny(rng):
    """Tiny nonzero points, |x| from 1e-300 to 1e-3: a step proportional to |x| alone is far too small there."""
    fixed = np.array([1e-300, -1e-300, 1e-200, -1e-100, 1e-30, 1e-12, -1e-12, 3e-9, -1e-7, 2e-4])
    drawn = rng.choice([-1.0, 1.0], 11) * 10.0 ** rng.uniform(-300, -3, 11)
    return np.concatenate([fixed, drawn]).tolist()


def _inputs(rng):
    return {"sets": [{"fn": name, "x": _STEP_CASES[name](rng).tolist()} for name in sorted(_STEP_CASES)],
            "tiny": [{"fn": name, "x": _tiny(rng)} for name in ("exp", "shifted arctan")],
            "scalar": float(rng.uniform(-3, 3)), "grid": rng.uniform(-50, 50, size=(3, 4)).tolist()}


_DRIVER = """
import numpy as np
result = {"sets": [choose_step(np.array(s["x"], dtype=float)) for s in inputs["sets"]],
          "tiny": [choose_step(np.array(s["x"], dtype=float)) for s in inputs["tiny"]],
          "scalar": choose_step(inputs["scalar"]), "grid": choose_step(np.array(inputs["grid"], dtype=float))}
"""


def _step_quality(name, xs, steps, factor=10.0, note=""):
    """Fail unless central differences of the function `name` with `steps` are typically within `factor` times
    the error of the best step of a fine grid (errors against the exact derivative)."""
    f, df = _STEP_FUNCTIONS[name]
    where = f"for {name} at {xs.size} points"
    try:
        steps = np.asarray(steps, dtype=float)
    except (TypeError, ValueError):
        raise checks.CheckFailure(f"choose_step returned something that is not an array of numbers {where}.") from None
    step_choice.check_steps(xs, steps, where=where, lost=".")
    ratios = step_choice.compare_with_best(f, df, xs, steps).ratios
    if np.median(ratios) > factor:
        i = int(np.argsort(ratios)[xs.size // 2])
        raise checks.CheckFailure(
            f"With your steps, central differences of {name} are typically {np.median(ratios):.3g} times less "
            f"accurate than with the best step (allowed: {factor:g}); at x = {xs[i]:.4g} your h = {steps[i]:.2g}. "
            + note + "Aim for the bottom of the V: h ≈ ε^(1/3)·max(1, |x|).")


def _verify(inputs, result):
    probes.require(isinstance(result, dict) and isinstance(result.get("sets"), list), "choose_step gave no results.")
    probes.require(len(result["sets"]) == len(inputs["sets"]), "choose_step gave too few results.")
    for case, steps in zip(inputs["sets"], result["sets"], strict=True):
        _step_quality(case["fn"], np.array(case["x"], dtype=float), steps)
    tiny = result.get("tiny")
    probes.require(isinstance(tiny, list) and len(tiny) == len(inputs["tiny"]), "choose_step gave too few results.")
    for case, steps in zip(inputs["tiny"], tiny, strict=True):
        _step_quality(case["fn"], np.array(case["x"], dtype=float), steps,
                      note="These points are tiny but not zero (|x| from 1e-300 to 1e-3): a step proportional to |x| "
                           "shrinks with x, far below the round-off floor, so guarding x = 0 alone is not enough. ")
    x = inputs["scalar"]
    h = result.get("scalar")  # a float, a NumPy float or a 0-d array arrive as a float; an array as a list
    probes.require(not isinstance(h, list), f"choose_step({x:.3g}) should be one number, not an array.")
    probes.require(isinstance(h, float) and bool(np.isfinite(h)) and h > 0 and x + h != x,
                   f"choose_step({x:.3g}) is {h!r}, but a step must be a positive float that x + h can feel.")
    grid = np.asarray(result.get("grid"), dtype=float)
    probes.require(grid.shape == (3, 4), f"choose_step of an array of shape (3, 4) returned shape {grid.shape}.")
    probes.require(bool(np.all(np.isfinite(grid) & (grid > 0))), "choose_step must return positive steps for every "
                                                                   "point of a 2-D array.")


probes.exercise(globals(), inputs=_inputs, driver=_DRIVER, verify=_verify, seed=20240601)
### END HIDDEN TESTS


# %% active="py" wrong_answer="01_derivatives-choose_step-solution" mistake="\"Smaller is better\": round-off swamps the answer."
def choose_step(x):
    return np.full_like(np.asarray(x, dtype=float), 1e-15)


# %% active="py" wrong_answer="01_derivatives-choose_step-solution" mistake="The forward-difference rule sqrt(eps): 100 times too small for a central difference."
def choose_step(x):
    return np.sqrt(np.finfo(float).eps) * np.maximum(1.0, np.abs(x))


# %% active="py" wrong_answer="01_derivatives-choose_step-solution" mistake="Relative only, eps^(1/3)·|x|, guarded only at exactly 0: far too small at tiny nonzero x."
def choose_step(x):
    x = np.asarray(x, dtype=float)
    eps = np.finfo(float).eps
    return np.where(x == 0, eps ** (1 / 3), eps ** (1 / 3) * np.abs(x))


# %% active="py" wrong_answer="01_derivatives-choose_step-solution" mistake="The right exponent but no scaling with |x|: lost to float spacing at large x."
def choose_step(x):
    return np.finfo(float).eps ** (1 / 3) * np.ones_like(np.asarray(x, dtype=float))


# %% [markdown]
# ### Exercise 4 · The product and quotient rules (2 points)
#
# Write the two rules of section 6 as tools. `d_product(u, du, v, dv)` takes two functions and their
# derivatives and **returns a function**, the derivative of $x \mapsto u(x)\,v(x)$; `d_quotient(u, du, v, dv)`
# returns the derivative of $x \mapsto u(x)/v(x)$. Both must work on floats and on arrays. Use the `du` and `dv`
# you are given: the tests also hand you made-up derivatives, and expect the rule's combination of exactly those.
#
# Then use your two tools to write `d_ratio(x)`, the derivative of
#
# $$ r(x) = \frac{x^2 \sin x}{1 + x^2}: $$
#
# the numerator $x^2 \sin x$ is a product and the whole is a quotient. (sympy or numdiff could differentiate $r$
# for you, but the point is to practise the rules; use them afterwards to check yourself, if you like.) Before
# running the tests, compare `d_ratio` with `central_difference(ratio, x, choose_step(x))` from exercises 2 and 3
# at a few points.

# %%
def ratio(x):
    """r(x) = x² sin(x) / (1 + x²), elementwise."""
    return x**2 * np.sin(x) / (1 + x**2)


# %% nbgrader={"grade": false, "grade_id": "01_derivatives-d_ratio-solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
def d_product(u, du, v, dv):
    """The derivative of the product x -> u(x)·v(x), by the product rule.

    Args:
        u, v: Functions of one variable that work elementwise on NumPy arrays.
        du, dv: Their derivatives, elementwise functions too.

    Returns:
        A function that takes x (a float or an array) and returns (u·v)'(x), elementwise, with the shape of x.
    """
    ### BEGIN SOLUTION
    def derivative(x):
        return du(x) * v(x) + u(x) * dv(x)

    return derivative
    ### END SOLUTION


def d_quotient(u, du, v, dv):
    """The derivative of the quotient x -> u(x) / v(x), by the quotient rule (v is never zero where it is used).

    Args:
        u, v: Functions of one variable that work elementwise on NumPy arrays.
        du, dv: Their derivatives, elementwise functions too.

    Returns:
        A function that takes x (a float or an array) and returns (u/v)'(x), elementwise, with the shape of x.
    """
    ### BEGIN SOLUTION
    def derivative(x):
        return (du(x) * v(x) - u(x) * dv(x)) / v(x) ** 2

    return derivative
    ### END SOLUTION


def d_ratio(x):
    """The derivative r'(x) of r(x) = x² sin(x) / (1 + x²), built with d_product and d_quotient.

    Args:
        x: A point (a float) or an array of points of any shape.

    Returns:
        r'(x), elementwise: a float for a float x, an array with the shape of x otherwise.
    """
    ### BEGIN SOLUTION
    d_numerator = d_product(lambda t: t**2, lambda t: 2 * t, np.sin, np.cos)
    return d_quotient(lambda t: t**2 * np.sin(t), d_numerator, lambda t: 1 + t**2, lambda t: 2 * t)(x)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "01_derivatives-d_ratio", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
HINT_RULES = ("Product rule: (uv)' = u'v + uv'. Quotient rule: (u/v)' = (u'v - uv') / v², with a minus sign and a "
              "square. Return a function of x that combines the u, du, v, dv you are given.")
points = np.linspace(-2.0, 2.0, 9)
d_uv = d_product(np.sin, np.cos, np.exp, np.exp)
assert callable(d_uv), (f"d_product returned {type(d_uv).__name__}, not a function: define an inner function of x "
                        "inside it and return that function.")
checks.check_derivative(d_uv, lambda t: np.sin(t) * np.exp(t), points, name="sin(x)·exp(x)", hint=HINT_RULES)
checks.check_derivative(d_quotient(np.sin, np.cos, lambda t: 1 + t**2, lambda t: 2 * t), lambda t: np.sin(t) / (1 + t**2),
                        points, name="sin(x) / (1 + x²)", hint=HINT_RULES)
made_up = d_product(np.sin, lambda t: 1 + 0 * t, np.exp, lambda t: t)  # du = 1 and dv = t: not the true derivatives
checks.assert_close(made_up(points), np.exp(points) + np.sin(points) * points,
                    what="d_product(sin, du = 1, exp, dv = t)", where="at 9 points in [-2, 2]",
                    hint="Use the du and dv you are given, whatever they are: the rule combines them with u and v.")


def reference_ratio(t):
    return t**2 * np.sin(t) / (1 + t**2)


rng = np.random.default_rng(5)
checks.check_derivative(d_ratio, reference_ratio, rng.uniform(-4, 4, 8), name="x² sin(x) / (1 + x²)", hint=HINT_RULES)
### BEGIN HIDDEN TESTS
# One definition of the hidden checks (calcml.probes): the kernel runs them here on a fixed seed; the grader
# draws each student's own inputs, runs the driver in a sandbox and _verify in its own process.
import numpy as np
import sympy as sp

from calcml import checks, numdiff, probes

# Functions handed to the rules by name, with their derivatives, and made-up "derivatives" handed in their place:
# one source, run by the driver and by _verify. The denominators are positive everywhere.
_RULE_PIECES = """
import numpy as np
FUNCTIONS = {"sin": np.sin, "exp": np.exp, "arctan": np.arctan, "cube": lambda t: t**3,
             "bump": lambda t: 1 + t**2, "wave": lambda t: 2 + np.sin(t), "cosh": np.cosh}
DERIVATIVES = {"sin": np.cos, "exp": np.exp, "arctan": lambda t: 1 / (1 + t**2), "cube": lambda t: 3 * t**2,
               "bump": lambda t: 2 * t, "wave": np.cos, "cosh": np.sinh,
               "wiggle": lambda t: np.cos(3 * t) + 0.5 * t, "ramp": lambda t: 1 + t - t**2 / 3,
               "constant": lambda t: 1.7 + 0 * t}
"""
_rule_pieces = {}
exec(_RULE_PIECES, _rule_pieces)
_NUMERATORS, _DENOMINATORS, _FAKES = ["sin", "exp", "arctan", "cube"], ["bump", "wave", "cosh", "exp"], \
    ["wiggle", "ramp", "constant"]


def _ratio(t):
    return t**2 * np.sin(t) / (1 + t**2)


_Z = sp.symbols("z")
_D_RATIO = sp.diff(_Z**2 * sp.sin(_Z) / (1 + _Z**2), _Z)


def _exact_ratio_slope(x):
    """r'(x) from sympy's exact derivative, evaluated with 30 digits (reliable at large x too)."""
    return float(_D_RATIO.subs(_Z, sp.Float(repr(float(x)), 40)).evalf(30))


def _shape(rng):
    return [int(n) for n in rng.integers(1, 5, size=int(rng.integers(1, 3)))]


def _rule_cases(rng, denominators):
    cases = []
    for k in range(6):
        u, v = str(rng.choice(_NUMERATORS)), str(rng.choice(denominators))
        # two cases with the true derivatives, then made-up ones (one of du, dv, or both)
        du = u if k < 2 or k == 3 else str(rng.choice(_FAKES))
        dv = v if k < 3 else str(rng.choice(_FAKES))
        cases.append({"u": u, "du": du, "v": v, "dv": dv, "x": rng.uniform(-2, 2, size=_shape(rng)).tolist()})
    return cases


def _inputs(rng):
    # Fixed points (among them large ones), and random ones as large as |x| = 1000.
    exact = [-7 / 3, 0.0, 0.5, 12.0, -40.0, 1000.0, float(rng.uniform(-1000, 1000)), float(rng.uniform(10, 100))]
    return {"points": rng.uniform(-6, 6, size=_shape(rng) + [3]).tolist(), "line": rng.uniform(-6, 6, 15).tolist(),
            "floats": [float(rng.uniform(-40, 40)), 0.0, float(rng.uniform(-2, 2))], "exact": exact,
            "products": _rule_cases(rng, _NUMERATORS + _DENOMINATORS),
            "quotients": _rule_cases(rng, _DENOMINATORS), "float": float(rng.uniform(-2, 2))}


_DRIVER = _RULE_PIECES + """
points = np.array(inputs["points"], dtype=float)
result = {"array": d_ratio(points.copy()), "mirror": d_ratio(-points),
          "line": d_ratio(np.array(inputs["line"], dtype=float)),
          "floats": [d_ratio(x) for x in inputs["floats"]], "exact": [d_ratio(x) for x in inputs["exact"]]}
for key, rule in (("products", d_product), ("quotients", d_quotient)):
    result[key] = [rule(FUNCTIONS[c["u"]], DERIVATIVES[c["du"]], FUNCTIONS[c["v"]], DERIVATIVES[c["dv"]])(
        np.array(c["x"], dtype=float)) for c in inputs[key]]
x = inputs["float"]
wiggle, ramp = DERIVATIVES["wiggle"], DERIVATIVES["ramp"]
result["float"] = [d_product(np.sin, wiggle, np.exp, ramp)(x), d_quotient(np.sin, wiggle, np.cosh, ramp)(x)]
"""


def _verify(inputs, result):
    probes.require(isinstance(result, dict), "d_ratio gave no results.")
    hint = "Product rule for the numerator, then the quotient rule (u'v - uv') / v², with a minus sign and a square."
    points = np.array(inputs["points"], dtype=float)
    probes.close(result.get("array"), numdiff.derivative(_ratio, points), what="d_ratio",
                 where=f"at random points of shape {points.shape}", hint=hint)
    probes.close(result.get("mirror"), numdiff.derivative(_ratio, -points), what="d_ratio(-x)",
                 where=f"at random points of shape {points.shape}",
                 hint="r is an odd function, so its derivative is even; an odd term suggests a sign error.")
    line = np.array(inputs["line"])
    probes.close(result.get("line"), numdiff.derivative(_ratio, line), what="d_ratio",
                 where=checks.describe_point(line), hint=hint)
    floats = np.array(inputs["floats"])
    probes.close(result.get("floats"), numdiff.derivative(_ratio, floats), what="d_ratio",
                 where=checks.describe_point(floats), hint=hint)
    got = result.get("exact")
    probes.require(isinstance(got, list) and len(got) == len(inputs["exact"]), "d_ratio gave too few results.")
    for x, value in zip(inputs["exact"], got, strict=True):
        probes.close(value, _exact_ratio_slope(x), what="d_ratio",
                     where=f"at x = {x:.6g} (against sympy's exact derivative)", hint=hint)
    F, D = _rule_pieces["FUNCTIONS"], _rule_pieces["DERIVATIVES"]
    used = "Use the du and dv you are given, whatever they are: return a function that combines u, du, v and dv."
    rules = {"products": ("d_product", lambda u, v: (lambda t: u(t) * v(t)),
                          lambda u, du, v, dv, x: du(x) * v(x) + u(x) * dv(x),
                          "Product rule: (uv)' = u'v + uv', the sum of two products, not u'v'."),
             "quotients": ("d_quotient", lambda u, v: (lambda t: u(t) / v(t)),
                           lambda u, du, v, dv, x: (du(x) * v(x) - u(x) * dv(x)) / v(x) ** 2,
                           "Quotient rule: (u/v)' = (u'v - uv') / v², with a minus sign and a square.")}
    for key, (name, combine, rule, rule_hint) in rules.items():
        got = result.get(key)
        probes.require(isinstance(got, list) and len(got) == len(inputs[key]), f"{name} gave too few results.")
        for case, value in zip(inputs[key], got, strict=True):
            x, u, v = np.array(case["x"], dtype=float), F[case["u"]], F[case["v"]]
            where = checks.describe_point(x)
            if case["du"] == case["u"] and case["dv"] == case["v"]:  # the true derivatives: numdiff is the reference
                probes.close(value, numdiff.derivative(combine(u, v), x), what=f"{name}({case['u']}, {case['v']})",
                             where=where, hint=rule_hint)
            else:  # made-up derivatives: the rule's combination of exactly those
                probes.close(value, rule(u, D[case["du"]], v, D[case["dv"]], x), where=where, hint=rule_hint + " " + used,
                             what=f"{name}(u = {case['u']}, du = {case['du']}, v = {case['v']}, dv = {case['dv']}) "
                                  "with made-up derivatives")
    x, wiggle, ramp = inputs["float"], D["wiggle"], D["ramp"]
    probes.close(result.get("float"), [rule(np.sin, wiggle, g, ramp, x) for g, (_, _, rule, _) in
                                       zip((np.exp, np.cosh), rules.values(), strict=True)],
                 what="[d_product(sin, wiggle, exp, ramp), d_quotient(sin, wiggle, cosh, ramp)] with made-up "
                      "derivatives", where=f"at the float x = {x:.4g}", hint=used)


probes.exercise(globals(), inputs=_inputs, driver=_DRIVER, verify=_verify, seed=55)
### END HIDDEN TESTS


# %% active="py" wrong_answer="01_derivatives-d_ratio-solution" mistake="Quotient rule with a plus sign."
def d_product(u, du, v, dv):
    return lambda x: du(x) * v(x) + u(x) * dv(x)


def d_quotient(u, du, v, dv):
    return lambda x: (du(x) * v(x) + u(x) * dv(x)) / v(x) ** 2


def d_ratio(x):
    d_numerator = d_product(lambda t: t**2, lambda t: 2 * t, np.sin, np.cos)
    return d_quotient(lambda t: t**2 * np.sin(t), d_numerator, lambda t: 1 + t**2, lambda t: 2 * t)(x)


# %% active="py" wrong_answer="01_derivatives-d_ratio-solution" mistake="Quotient rule without the square in the denominator."
def d_product(u, du, v, dv):
    return lambda x: du(x) * v(x) + u(x) * dv(x)


def d_quotient(u, du, v, dv):
    return lambda x: (du(x) * v(x) - u(x) * dv(x)) / v(x)


def d_ratio(x):
    d_numerator = d_product(lambda t: t**2, lambda t: 2 * t, np.sin, np.cos)
    return d_quotient(lambda t: t**2 * np.sin(t), d_numerator, lambda t: 1 + t**2, lambda t: 2 * t)(x)


# %% active="py" wrong_answer="01_derivatives-d_ratio-solution" mistake="Product rule as the product of the derivatives: (uv)' taken as u'v'."
def d_product(u, du, v, dv):
    return lambda x: du(x) * dv(x)


def d_quotient(u, du, v, dv):
    return lambda x: (du(x) * v(x) - u(x) * dv(x)) / v(x) ** 2


def d_ratio(x):
    d_numerator = d_product(lambda t: t**2, lambda t: 2 * t, np.sin, np.cos)
    return d_quotient(lambda t: t**2 * np.sin(t), d_numerator, lambda t: 1 + t**2, lambda t: 2 * t)(x)


# %% active="py" wrong_answer="01_derivatives-d_ratio-solution" mistake="The rules skipped: numdiff.derivative differentiates the product and the quotient, ignoring du and dv."
def d_product(u, du, v, dv):
    return lambda x: numdiff.derivative(lambda t: u(t) * v(t), x)


def d_quotient(u, du, v, dv):
    return lambda x: numdiff.derivative(lambda t: u(t) / v(t), x)


def d_ratio(x):
    return numdiff.derivative(ratio, x)


# %% active="py" wrong_answer="01_derivatives-d_ratio-solution" mistake="The rules written, but r' taken from sympy.diff instead of built with them."
def d_product(u, du, v, dv):
    return lambda x: du(x) * v(x) + u(x) * dv(x)


def d_quotient(u, du, v, dv):
    return lambda x: (du(x) * v(x) - u(x) * dv(x)) / v(x) ** 2


def d_ratio(x):
    t = sp.Symbol("t")
    return sp.lambdify(t, sp.diff(t**2 * sp.sin(t) / (1 + t**2), t), "numpy")(x)


# %% [markdown]
# ### Exercise 5 · The chain rule, stably (2 points)
#
# **Softplus**, $s(x) = \log(1 + e^x)$, is a smooth version of the ReLU $\max(0, x)$, used as an activation
# and inside loss functions. Differentiate it with the chain rule (outer $\log u$, inner $u = 1 + e^x$) and
# write `d_softplus(x)`.
#
# The catch: your function must work for *every* float64 input, including $x = \pm 1000$. There
# `np.exp(1000)` overflows to `inf`, and a formula that is correct on paper returns `nan` (`inf / inf`)
# or only survives by luck. The tests run your function with overflow turned into an error, so compute no
# exponential of a large positive number: `np.exp(-np.abs(x))` never overflows, and
# `np.where(condition, a, b)` picks a formula per element (but computes both `a` and `b` everywhere, so
# each must be safe on its own). Stay accurate where the slope is tiny, too:
# $s'(-700) \approx e^{-700} \approx 10^{-304}$ is a perfectly good float64, and the tests expect it to
# about 9 digits. They also check the identity $s(x) - s(-x) = x$, which means $s'(x) + s'(-x) = 1$.

# %%
def softplus(x):
    """s(x) = log(1 + e^x), computed without overflow: np.logaddexp(0, x) = log(e^0 + e^x)."""
    return np.logaddexp(0.0, x)


# %% nbgrader={"grade": false, "grade_id": "01_derivatives-d_softplus-solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
def d_softplus(x):
    """The derivative of softplus(x) = log(1 + e^x), accurate and finite for every float64 x.

    Args:
        x: A point (a float) or an array of points of any shape.

    Returns:
        s'(x), elementwise, with the shape of x: values in [0, 1], accurate to about 9 digits even
        where they are tiny, computed without overflow even for x = ±1000.
    """
    ### BEGIN SOLUTION
    x = np.asarray(x, dtype=float)
    small = np.exp(-np.abs(x))  # in (0, 1]: never overflows
    return np.where(x >= 0, 1 / (1 + small), small / (1 + small))
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "01_derivatives-d_softplus", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
HINT_SOFTPLUS = ("Chain rule: (log u)' = u'/u with u = 1 + e^x. Then divide the top and the bottom by e^x "
                 "where x > 0, so that only exponentials of negative numbers are computed.")


def reference_softplus(t):
    return np.logaddexp(0.0, t)


rng = np.random.default_rng(8)
checks.check_derivative(d_softplus, reference_softplus, rng.uniform(-6, 6, 8), name="softplus", hint=HINT_SOFTPLUS)
extremes = np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0])
with np.errstate(over="raise"):  # an overflow is an error here, not a warning
    try:
        slopes = d_softplus(extremes.copy())
    except FloatingPointError as error:
        raise checks.CheckFailure(
            f"d_softplus at x = -1000, -50, 0, 50, 1000 overflowed ({error}). Compute exponentials of negative "
            "numbers only, e.g. np.exp(-np.abs(x)); np.where(c, a, b) computes both a and b for every element, "
            "so each of them must be safe on its own.") from None
checks.assert_close(slopes, numdiff.derivative(reference_softplus, extremes),
                    what="d_softplus", where="at x = -1000, -50, 0, 50, 1000", hint=HINT_SOFTPLUS)
HINT_TAIL = "For very negative x, s'(x) = e^x / (1 + e^x) ≈ e^x: compute it without subtracting nearly equal numbers."
tails = np.array([-700.0, -30.0])
checks.assert_close(d_softplus(tails) / np.exp(tails), 1 / (1 + np.exp(tails)), what="d_softplus(x) / e^x",
                    where="in the left tail, at x = -700 and -30", rtol=1e-9, hint=HINT_TAIL)
### BEGIN HIDDEN TESTS
# One definition of the hidden checks (calcml.probes): the kernel runs them here on a fixed seed; the grader
# draws each student's own inputs, runs the driver in a sandbox and _verify in its own process. Out of the
# kernel, the grader also reads the source: an overflow in the branch np.where throws away leaves perfect
# numbers, and no driver can see it (the student's code may rewrite np.errstate in the probe's process).
import mpmath
import numpy as np

from calcml import checks, numdiff, probes


def _shape(rng):
    return [int(n) for n in rng.integers(1, 5, size=int(rng.integers(1, 3)))]


def _inputs(rng):
    return {"moderate": rng.uniform(-30, 30, size=20).tolist(),
            "large": rng.uniform(-800, 800, size=_shape(rng) + [2]).tolist(),
            "both": rng.uniform(-1000, 1000, size=30).tolist(),
            "tails": (-np.sort(rng.uniform(20, 700, size=6))).tolist(),
            # e^x is a subnormal float64 here, and exp(-x) overflows: only a formula that never exponentiates a
            # large positive number gets these right (1 / (1 + exp(-x)) gives 0).
            "subnormal": (-rng.uniform(709.9, 730.0, size=4)).tolist() + [-709.9, -720.0],
            "extremes": [-1000.0, -50.0, 0.0, 50.0, 1000.0, -745.0, 745.0, 1e300, -1e300]}


_DRIVER = """
import numpy as np
result = {key: d_softplus(np.array(inputs[key], dtype=float))
          for key in ("moderate", "large", "both", "tails", "subnormal", "extremes")}
result["mirror"] = d_softplus(-np.array(inputs["both"], dtype=float))
result["zero"] = d_softplus(0.0)
"""


def _softplus(t):
    return np.logaddexp(0.0, t)


def _softplus_slope(t):
    """s'(x) = 1 / (1 + e^-x), evaluated by mpmath with 30 digits (no overflow at any float64 x)."""
    with mpmath.workdps(30):
        return np.array([float(1 / (1 + mpmath.exp(-mpmath.mpf(float(v))))) for v in np.ravel(t)]).reshape(np.shape(t))


def _verify(inputs, result):
    probes.require(isinstance(result, dict), "d_softplus gave no results.")
    hint = ("Chain rule: (log u)' = u'/u with u = 1 + e^x; divide top and bottom by e^x where x > 0, so that only "
            "exponentials of negative numbers are computed.")
    for key in ("moderate", "large"):
        points = np.array(inputs[key], dtype=float)
        probes.close(result.get(key), numdiff.derivative(_softplus, points), what="d_softplus",
                     where=f"at {points.size} points in [{points.min():.4g}, {points.max():.4g}]", hint=hint)
    extremes = np.array(inputs["extremes"])
    probes.close(result.get("extremes"), _softplus_slope(extremes), what="d_softplus",
                 where=checks.describe_point(extremes),
                 hint="Compute exponentials of negative numbers only, e.g. np.exp(-np.abs(x)): exp(1000) overflows.")
    both = np.array(inputs["both"])
    got, mirror = (np.asarray(result.get(key), dtype=float) for key in ("both", "mirror"))
    probes.close(got, _softplus_slope(both), what="d_softplus",
                 where=f"at 30 random x in [{both.min():.4g}, {both.max():.4g}]", hint=hint)
    probes.close(got + mirror if got.shape == mirror.shape else mirror, np.ones_like(both),
                 what="d_softplus(x) + d_softplus(-x)", where="at 30 random x in [-1000, 1000]",
                 hint="softplus(x) - softplus(-x) = x, so the slopes at x and -x must add up to 1.")
    for key, rtol in (("tails", 1e-9), ("subnormal", 1e-3)):
        tails = np.array(inputs[key])
        got = np.asarray(result.get(key), dtype=float)
        probes.close(got / np.exp(tails) if got.shape == tails.shape else got, 1 / (1 + np.exp(tails)),
                     what="d_softplus(x) / e^x", where=f"in the left tail, {checks.describe_point(tails)}", rtol=rtol,
                     hint="For very negative x, s'(x) = e^x / (1 + e^x) ≈ e^x, a tiny but representable float: "
                          "compute it as exp(x) / (1 + exp(x)) there, never through exp(-x), which overflows to inf.")
    probes.close(result.get("zero"), 0.5, what="d_softplus", where="at x = 0 (a float)", hint=hint)


probes.exercise(globals(), inputs=_inputs, driver=_DRIVER, verify=_verify, seed=88,
                mechanism={"rule": "no_overflowing_exp", "name": "d_softplus"})
### END HIDDEN TESTS


# %% active="py" wrong_answer="01_derivatives-d_softplus-solution" mistake="Correct on paper, nan at large x: exp(1000) / (1 + exp(1000)) = inf / inf."
def d_softplus(x):
    return np.exp(x) / (1 + np.exp(x))


# %% active="py" wrong_answer="01_derivatives-d_softplus-solution" mistake="A sign slip in the chain rule: this is the slope at -x."
def d_softplus(x):
    return 1 / (1 + np.exp(x))


# %% active="py" wrong_answer="01_derivatives-d_softplus-solution" mistake="Confused with the derivative of the sigmoid, sigma(x)(1 - sigma(x))."
def d_softplus(x):
    x = np.asarray(x, dtype=float)
    small = np.exp(-np.abs(x))
    return small / (1 + small) ** 2


# %% [markdown]
# ### Exercise 6 · The chain rule as a tool (3 points)
#
# In exercise 4 you wrote the product and quotient rules as tools, and in exercise 5 you applied the chain rule
# by hand to one formula. Now write the chain rule once and for all: `chain_derivative(f, df, g, dg)` takes two functions and their derivatives, and **returns a
# function**, the derivative of the composition $x \mapsto f(g(x))$:
#
# $$ (f \circ g)'(x) = f'\bigl(g(x)\bigr)\, g'(x). $$
#
# For example, `chain_derivative(np.sin, np.cos, square, lambda t: 2 * t)` should return a function that
# computes $\cos(x^2) \cdot 2x$. The returned function must work on floats and on arrays. Notice what it
# needs: the derivative of each piece, and the value flowing in. That is all that backpropagation needs
# at each node of a network (units 4 and 5), and your function can be chained: its result can serve as
# `dg` of another composition.

# %% nbgrader={"grade": false, "grade_id": "01_derivatives-chain_derivative-solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
def chain_derivative(f, df, g, dg):
    """The derivative of the composition x -> f(g(x)), by the chain rule.

    Args:
        f: The outer function (it may not be needed).
        df: The derivative of f.
        g: The inner function.
        dg: The derivative of g.
        All four are functions of one variable that work elementwise on NumPy arrays.

    Returns:
        A function that takes x (a float or an array) and returns (f∘g)'(x) = f'(g(x))·g'(x),
        elementwise, with the shape of x.
    """
    ### BEGIN SOLUTION
    def derivative(x):
        return df(g(x)) * dg(x)

    return derivative
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "01_derivatives-chain_derivative", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
# A library of functions, each with its derivative, to compose.
PIECES = {
    "sin": (np.sin, np.cos),
    "exp": (np.exp, np.exp),
    "tanh": (np.tanh, lambda t: 1 / np.cosh(t) ** 2),
    "cube": (lambda t: t**3, lambda t: 3 * t**2),
    "arctan": (np.arctan, lambda t: 1 / (1 + t**2)),
    "softplus": (lambda t: np.logaddexp(0.0, t), lambda t: np.exp(-np.logaddexp(0.0, -t))),
    "gauss": (lambda t: np.exp(-(t**2) / 2), lambda t: -t * np.exp(-(t**2) / 2)),
}


def chain_mistake(result, f, df, g, dg, points):
    """Name the classic chain-rule mistake that `result` makes at `points`, if any."""
    try:
        got = np.asarray(result(points), dtype=float)
    except Exception:  # the check itself will report the failure
        return ""
    if got.shape == points.shape and np.allclose(got, df(points) * dg(points), rtol=1e-8):
        return "You computed f'(x)·g'(x): evaluate the outer derivative at the inner value, f'(g(x))."
    if got.shape == points.shape and np.allclose(got, df(g(points)), rtol=1e-8):
        return "You computed f'(g(x)) alone: multiply by the inner derivative g'(x)."
    if got.shape == points.shape and np.allclose(got, dg(f(points)) * df(points), rtol=1e-8):
        return "You differentiated g(f(x)): in f(g(x)), g is applied first, so f' is evaluated at g(x)."
    return "The chain rule: (f∘g)'(x) = f'(g(x))·g'(x)."


def check_chain(outer, inner, points):
    f, df = PIECES[outer]
    g, dg = PIECES[inner]
    result = chain_derivative(f, df, g, dg)
    assert callable(result), (f"chain_derivative returned {type(result).__name__}, not a function: define an inner "
                              "function of x inside it and return that function.")
    hint = chain_mistake(result, f, df, g, dg, points)
    checks.assert_close(result(points), numdiff.derivative(lambda t: f(g(t)), points),
                        what=f"derivative of {outer}({inner}(x))", where=checks.describe_point(points), hint=hint)


check_chain("sin", "cube", np.linspace(-1.5, 1.5, 7))
check_chain("exp", "sin", np.linspace(-2.0, 2.0, 9))
### BEGIN HIDDEN TESTS
# One definition of the hidden checks (calcml.probes): the kernel runs them here on a fixed seed; the grader
# draws each student's own inputs, runs the driver in a sandbox and _verify in its own process.
import numpy as np

from calcml import checks, numdiff, probes

# Functions handed to chain_derivative by name, with their derivatives, and made-up "derivatives" handed to it
# in place of the true ones ("twice" is 2·f'): one source, run by the driver and by _verify.
_PIECES = """
import numpy as np
FUNCTIONS = {"sin": np.sin, "exp": np.exp, "tanh": np.tanh, "arctan": np.arctan, "cube": lambda t: t**3,
             "softplus": lambda t: np.logaddexp(0.0, t), "gauss": lambda t: np.exp(-(t**2) / 2)}
DERIVATIVES = {
    "sin": np.cos, "exp": np.exp, "tanh": lambda t: 1 / np.cosh(t) ** 2, "arctan": lambda t: 1 / (1 + t**2),
    "cube": lambda t: 3 * t**2, "softplus": lambda t: np.exp(-np.logaddexp(0.0, -t)),
    "gauss": lambda t: -t * np.exp(-(t**2) / 2),
}
FAKES = {
    "wiggle": lambda t: np.cos(3 * t) + 0.5 * t, "constant": lambda t: 1.7 + 0 * t,
    "ramp": lambda t: 1 + t - t**2 / 3, "bump": lambda t: 1 / (1 + t**2) - 0.25, "twice": None,
}


def fake(name, piece):
    return (lambda t: 2 * DERIVATIVES[piece](t)) if name == "twice" else FAKES[name]
"""
_pieces = {}
exec(_PIECES, _pieces)
_F, _FAKES = _pieces["FUNCTIONS"], {name: f for name, f in _pieces["FAKES"].items() if f is not None}


def _shape(rng):
    return [int(n) for n in rng.integers(1, 5, size=int(rng.integers(1, 3)))]


def _inputs(rng):
    safe = sorted(_F)  # functions defined everywhere
    pairs = [[str(a), str(b)] for a, b in (rng.choice(safe, size=2) for _ in range(6))]
    # Deliberately wrong "derivatives": the answer must use the df and dg it is given, exactly, whatever they are
    # (an answer that differentiates f∘g by itself, with numdiff, sympy or a finite difference, fails these).
    fakes = []
    for k in range(6):
        outer, inner = (str(n) for n in rng.choice(safe, size=2))
        df, dg = (str(n) for n in rng.choice(sorted(_FAKES), size=2))
        if k < 2:
            df, dg = ("twice", dg) if k == 0 else (df, "twice")
        fakes.append({"outer": outer, "inner": inner, "df": df, "dg": dg,
                      "points": rng.uniform(-1.5, 1.5, size=_shape(rng)).tolist()})
    return {"pairs": pairs, "points": [rng.uniform(-1.5, 1.5, size=_shape(rng)).tolist() for _ in pairs],
            "float": float(rng.uniform(-1, 1)), "triple": rng.uniform(-1.2, 1.2, size=7).tolist(), "fakes": fakes,
            "fake_float": float(rng.uniform(-1, 1))}


_DRIVER = _PIECES + """
fakes = []
for case in inputs["fakes"]:
    d = chain_derivative(FUNCTIONS[case["outer"]], fake(case["df"], case["outer"]), FUNCTIONS[case["inner"]],
                         fake(case["dg"], case["inner"]))
    fakes.append(d(np.array(case["points"], dtype=float)))
values = []
for (outer, inner), points in zip(inputs["pairs"], inputs["points"]):
    d = chain_derivative(FUNCTIONS[outer], DERIVATIVES[outer], FUNCTIONS[inner], DERIVATIVES[inner])
    values.append(d(np.array(points, dtype=float)))
d_sin_exp = chain_derivative(np.sin, np.cos, np.exp, np.exp)
d_inner = chain_derivative(np.sin, np.cos, FUNCTIONS["cube"], DERIVATIVES["cube"])
d_three = chain_derivative(np.arctan, DERIVATIVES["arctan"], lambda t: np.sin(t**3), d_inner)
d_fake = chain_derivative(np.sin, FAKES["wiggle"], np.exp, FAKES["ramp"])
result = {"values": values, "float": d_sin_exp(inputs["float"]), "triple": d_three(np.array(inputs["triple"])),
          "fakes": fakes, "fake_float": d_fake(inputs["fake_float"])}
"""


def _verify(inputs, result):
    probes.require(isinstance(result, dict) and isinstance(result.get("values"), list)
                   and len(result["values"]) == len(inputs["pairs"]), "chain_derivative gave no results.")
    hint = "The chain rule: (f∘g)'(x) = f'(g(x))·g'(x)."
    for (outer, inner), points, got in zip(inputs["pairs"], inputs["points"], result["values"], strict=True):
        x = np.array(points, dtype=float)
        f, g = _F[outer], _F[inner]
        probes.close(got, numdiff.derivative(lambda t, f=f, g=g: f(g(t)), x),
                     what=f"derivative of {outer}({inner}(x))", where=checks.describe_point(x), hint=hint)
    x = inputs["float"]
    probes.close(result.get("float"), numdiff.derivative(lambda t: np.sin(np.exp(t)), x),
                 what="derivative of sin(exp(x))", where=f"at the float x = {x:.4g}", hint=hint)
    x = np.array(inputs["triple"])
    probes.close(result.get("triple"), numdiff.derivative(lambda t: np.arctan(np.sin(t**3)), x),
                 what="derivative of arctan(sin(x³)) built by chaining chain_derivative twice",
                 where=checks.describe_point(x), hint="The function returned by chain_derivative must itself be usable "
                                                      "as dg.")
    fakes = result.get("fakes")
    probes.require(isinstance(fakes, list) and len(fakes) == len(inputs["fakes"]),
                   "chain_derivative gave too few results.")
    used = "Use the df and dg you are given: return a function computing df(g(x)) * dg(x), whatever df and dg are."
    fake = _pieces["fake"]
    for case, got in zip(inputs["fakes"], fakes, strict=True):
        x = np.array(case["points"], dtype=float)
        df, g, dg = fake(case["df"], case["outer"]), _F[case["inner"]], fake(case["dg"], case["inner"])
        probes.close(got, df(g(x)) * dg(x), what=f"chain_derivative(f, df, g, dg) with a made-up df ({case['df']}) "
                     f"and dg ({case['dg']}), f = {case['outer']}, g = {case['inner']}",
                     where=checks.describe_point(x), hint=used)
    x = inputs["fake_float"]
    probes.close(result.get("fake_float"), _FAKES["wiggle"](np.exp(x)) * _FAKES["ramp"](x),
                 what="chain_derivative(np.sin, made-up df, np.exp, made-up dg)", where=f"at the float x = {x:.4g}",
                 hint=used)


probes.exercise(globals(), inputs=_inputs, driver=_DRIVER, verify=_verify, seed=1234)
### END HIDDEN TESTS


# %% active="py" wrong_answer="01_derivatives-chain_derivative-solution" mistake="Both derivatives at x: the outer one belongs at g(x)."
def chain_derivative(f, df, g, dg):
    def derivative(x):
        return df(x) * dg(x)

    return derivative


# %% active="py" wrong_answer="01_derivatives-chain_derivative-solution" mistake="The inner derivative forgotten."
def chain_derivative(f, df, g, dg):
    def derivative(x):
        return df(g(x))

    return derivative


# %% active="py" wrong_answer="01_derivatives-chain_derivative-solution" mistake="The composition in the wrong order: the derivative of g(f(x))."
def chain_derivative(f, df, g, dg):
    def derivative(x):
        return dg(f(x)) * df(x)

    return derivative


# %% active="py" wrong_answer="01_derivatives-chain_derivative-solution" mistake="The chain rule skipped: numdiff.derivative differentiates f(g(x)) and ignores df and dg."
def chain_derivative(f, df, g, dg):
    def derivative(x):
        return numdiff.derivative(lambda t: f(g(t)), x)

    return derivative


# %% active="py" wrong_answer="01_derivatives-chain_derivative-solution" mistake="sympy.diff on the composition, translating NumPy functions to sympy ones: ignores df and dg."
def chain_derivative(f, df, g, dg):
    z = sp.Symbol("z")
    table = {np.sin: sp.sin, np.cos: sp.cos, np.exp: sp.exp, np.tanh: sp.tanh, np.arctan: sp.atan}

    def derivative(x):
        outer, inner = table.get(f, f), table.get(g, g)
        slope = sp.lambdify(z, sp.diff(outer(inner(z)), z), "numpy")
        return slope(np.asarray(x, dtype=float)) * np.ones_like(np.asarray(x, dtype=float))

    return derivative


# %% [markdown]
# Once exercise 6 passes, chain it as deep as you like. Here is the derivative of $\tanh(\sin(e^x))$,
# built from three local derivatives, against sympy's exact one:

# %%
d_sin_exp = chain_derivative(np.sin, np.cos, np.exp, np.exp)
d_deep = chain_derivative(np.tanh, lambda t: 1 / np.cosh(t) ** 2, lambda t: np.sin(np.exp(t)), d_sin_exp)
exact = sp.lambdify(x, sp.diff(sp.tanh(sp.sin(sp.exp(x))), x), "numpy")
grid = np.linspace(-2.0, 2.0, 41)
print(f"largest relative error against sympy: {checks.relative_error(d_deep(grid), exact(grid)):.1e}")

# %% [markdown]
# ## What you can now do
#
# - Read $f'(x)$ as the limit of secant slopes, the slope of the tangent, and a rate with units
#   (metres per second, loss per unit of weight), and write the tangent line at a point as a function.
# - Approximate a derivative by a central difference, knowing its error is $O(h^2)$ against $O(h)$ for
#   the forward difference, and explain why the error grows again when $h$ is too small.
# - Choose a step near $\varepsilon^{1/3}\max(1, |x|)$ from the balance of truncation and round-off, and
#   explain why a step proportional to $|x|$ alone fails near 0.
# - Differentiate with sympy, and by hand with the product, quotient and chain rules; write the product
#   and quotient rules as functions that combine the derivatives they are given; check any derivative
#   numerically with `checks.check_derivative`.
# - Write a derivative that stays finite where the naive formula overflows.
# - Compose derivatives with the chain rule as a function: the seed of backpropagation.
#
# **Next: unit 2, *Gradients and their geometry*.** A loss depends on many weights at once. The
# derivative with respect to each one, holding the others fixed, is a *partial derivative*; together they
# form the *gradient*, which points uphill and which `numdiff.gradient` computes with the same central
# differences you wrote here.
