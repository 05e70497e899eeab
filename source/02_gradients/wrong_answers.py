"""Known-wrong solutions for unit 02_gradients: real student mistakes, each of which must lose its points.

Each entry maps a solution cell's grade_id to full replacement sources for that cell.
"""

WRONG_ANSWERS: dict[str, list[str]] = {
    "02_gradients-numerical_gradient-solution": [
        # a forward difference: O(h) error, visible as soon as h is not tiny
        '''def numerical_gradient(f, x, h=1e-5):
    x = np.array(x, dtype=float)
    grad = np.zeros_like(x)
    fx = f(x)
    for index in np.ndindex(x.shape):
        step = np.zeros_like(x)
        step[index] = h
        grad[index] = (f(x + step) - fx) / h
    return grad
''',
        # the central difference divided by h instead of 2h
        '''def numerical_gradient(f, x, h=1e-5):
    x = np.array(x, dtype=float)
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        step = np.zeros_like(x)
        step[index] = h
        grad[index] = (f(x + step) - f(x - step)) / h
    return grad
''',
        # keeps the dtype of x: for integer x, x[i] + h is rounded back to x[i] and the gradient is 0
        '''def numerical_gradient(f, x, h=1e-5):
    x = np.asarray(x)
    grad = np.zeros(x.shape)
    for index in np.ndindex(x.shape):
        x_plus, x_minus = x.copy(), x.copy()
        x_plus[index] += h
        x_minus[index] -= h
        grad[index] = (f(x_plus) - f(x_minus)) / (2 * h)
    return grad
''',
    ],
    "02_gradients-grad_forms-solution": [
        # the textbook formula for a symmetric A
        '''def grad_linear(a, x):
    return np.array(a, dtype=float)


def grad_quadratic(A, x):
    return 2 * A @ x
''',
        # only one of the two occurrences of x differentiated
        '''def grad_linear(a, x):
    return np.array(a, dtype=float)


def grad_quadratic(A, x):
    return A @ x
''',
        # the other one only
        '''def grad_linear(a, x):
    return np.array(a, dtype=float)


def grad_quadratic(A, x):
    return A.T @ x
''',
    ],
    "02_gradients-directional_derivative-solution": [
        # u not normalised
        '''def directional_derivative(grad_f, x, u):
    return float(np.asarray(grad_f(x)) @ np.asarray(u, dtype=float))
''',
        # the gradient normalised instead of u: the cosine of the angle, not the slope
        '''def directional_derivative(grad_f, x, u):
    g = np.asarray(grad_f(x), dtype=float)
    return float(g @ np.asarray(u, dtype=float) / np.linalg.norm(g))
''',
    ],
    "02_gradients-steepest_ascent-solution": [
        # the gradient itself, not a unit vector
        '''def steepest_ascent_direction(grad_f, x):
    return np.asarray(grad_f(x), dtype=float)
''',
        # steepest descent: the sign flipped
        '''def steepest_ascent_direction(grad_f, x):
    g = np.asarray(grad_f(x), dtype=float)
    norm = np.linalg.norm(g)
    return -g / norm if norm > 0 else np.zeros_like(g)
''',
        # divides by zero at a stationary point (0/0 = NaN)
        '''def steepest_ascent_direction(grad_f, x):
    g = np.asarray(grad_f(x), dtype=float)
    return g / np.linalg.norm(g)
''',
    ],
    "02_gradients-gaussian_hill-solution": [
        # assumes S is symmetric
        '''def grad_gaussian_hill(S, c, x):
    y = x - c
    return -np.exp(-0.5 * y @ S @ y) * S @ y
''',
        # forgets the factor h(x) from the outer exp
        '''def grad_gaussian_hill(S, c, x):
    y = x - c
    return -0.5 * (S + S.T) @ y
''',
        # loses the minus sign of the exponent
        '''def grad_gaussian_hill(S, c, x):
    y = x - c
    return np.exp(-0.5 * y @ S @ y) * 0.5 * (S + S.T) @ y
''',
    ],
}
