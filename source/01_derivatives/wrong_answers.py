"""Known-wrong answers for unit 01_derivatives: each must lose the points of its exercise.

Each entry maps a solution cell's grade_id to whole replacement sources for that cell, written as a
student would: the same function name and signature, with one real mistake.
"""

WRONG_ANSWERS: dict[str, list[str]] = {
    "01_derivatives-central_difference-solution": [
        # A forward difference: error O(h), not O(h^2).
        '''def central_difference(f, x, h):
    return (f(x + h) - f(x)) / h
''',
        # The 2 of 2h forgotten: twice the derivative.
        '''def central_difference(f, x, h):
    return (f(x + h) - f(x - h)) / h
''',
        # Operator precedence: "/ 2 * h" multiplies by h instead of dividing by 2h.
        '''def central_difference(f, x, h):
    return (f(x + h) - f(x - h)) / 2 * h
''',
    ],
    "01_derivatives-choose_step-solution": [
        # "Smaller is better": round-off swamps the answer.
        '''def choose_step(x):
    return np.full_like(np.asarray(x, dtype=float), 1e-15)
''',
        # The forward-difference rule sqrt(eps): 100 times too small for a central difference.
        '''def choose_step(x):
    return np.sqrt(np.finfo(float).eps) * np.maximum(1.0, np.abs(x))
''',
        # The right exponent but no scaling with |x|: lost to float spacing at large x.
        '''def choose_step(x):
    return np.finfo(float).eps ** (1 / 3) * np.ones_like(np.asarray(x, dtype=float))
''',
    ],
    "01_derivatives-d_ratio-solution": [
        # Quotient rule with a plus sign.
        '''def d_ratio(x):
    u, du = x**2 * np.sin(x), 2 * x * np.sin(x) + x**2 * np.cos(x)
    v, dv = 1 + x**2, 2 * x
    return (du * v + u * dv) / v**2
''',
        # Quotient rule without the square in the denominator.
        '''def d_ratio(x):
    u, du = x**2 * np.sin(x), 2 * x * np.sin(x) + x**2 * np.cos(x)
    v, dv = 1 + x**2, 2 * x
    return (du * v - u * dv) / v
''',
        # Product rule as the product of the derivatives: (x^2 sin x)' taken as 2x cos x.
        '''def d_ratio(x):
    u, du = x**2 * np.sin(x), 2 * x * np.cos(x)
    v, dv = 1 + x**2, 2 * x
    return (du * v - u * dv) / v**2
''',
    ],
    "01_derivatives-d_softplus-solution": [
        # Correct on paper, nan at large x: exp(1000) / (1 + exp(1000)) = inf / inf.
        '''def d_softplus(x):
    return np.exp(x) / (1 + np.exp(x))
''',
        # A sign slip in the chain rule: this is the slope at -x.
        '''def d_softplus(x):
    return 1 / (1 + np.exp(x))
''',
        # Confused with the derivative of the sigmoid, sigma(x)(1 - sigma(x)).
        '''def d_softplus(x):
    x = np.asarray(x, dtype=float)
    small = np.exp(-np.abs(x))
    return small / (1 + small) ** 2
''',
    ],
    "01_derivatives-chain_derivative-solution": [
        # Both derivatives at x: the outer one belongs at g(x).
        '''def chain_derivative(f, df, g, dg):
    def derivative(x):
        return df(x) * dg(x)

    return derivative
''',
        # The inner derivative forgotten.
        '''def chain_derivative(f, df, g, dg):
    def derivative(x):
        return df(g(x))

    return derivative
''',
        # The composition in the wrong order: the derivative of g(f(x)).
        '''def chain_derivative(f, df, g, dg):
    def derivative(x):
        return dg(f(x)) * df(x)

    return derivative
''',
    ],
}
