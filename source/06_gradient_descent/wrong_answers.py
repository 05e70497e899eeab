"""Known-wrong solutions for 06_gradient_descent: each must lose the points of its exercise.

Each entry maps a solution cell's grade_id to full replacement sources for that cell, written the way students
really get them wrong.
"""

WRONG_ANSWERS: dict[str, list[str]] = {
    "06_gradient_descent-gradient_descent-solution": [
        # x0 missing from the trajectory: only the `steps` new iterates are returned.
        '''def gradient_descent(grad, x0, lr, steps):
    x = np.array(x0, dtype=float)
    trajectory = []
    for _ in range(steps):
        x = x - lr * grad(x)
        trajectory.append(x)
    return np.array(trajectory)
''',
        # Only the final point instead of the whole trajectory.
        '''def gradient_descent(grad, x0, lr, steps):
    x = np.array(x0, dtype=float)
    for _ in range(steps):
        x = x - lr * grad(x)
    return x
''',
        # In-place update on the caller's array: the trajectory is right, but x0 is overwritten.
        '''def gradient_descent(grad, x0, lr, steps):
    x = np.asarray(x0, dtype=float)
    trajectory = [x.copy()]
    for _ in range(steps):
        x -= lr * grad(x)
        trajectory.append(x.copy())
    return np.array(trajectory)
''',
    ],
    "06_gradient_descent-divergence_threshold-solution": [
        # 1/λ_max: the step that kills the steepest direction, not the edge of stability.
        '''def divergence_threshold(A):
    A = np.asarray(A, dtype=float)
    return float(1.0 / np.linalg.eigvalsh(0.5 * (A + A.T))[-1])
''',
        # 2/λ_min: the flattest direction is not the one that blows up.
        '''def divergence_threshold(A):
    A = np.asarray(A, dtype=float)
    return float(2.0 / np.linalg.eigvalsh(0.5 * (A + A.T))[0])
''',
        # Eigenvalues of A itself, not of its symmetric part (and eigvals is not sorted).
        '''def divergence_threshold(A):
    return float(2.0 / np.max(np.linalg.eigvals(np.asarray(A, dtype=float)).real))
''',
    ],
    "06_gradient_descent-best_fixed_step-solution": [
        # 1/(λ_min + λ_max): a factor 2 lost.
        '''def best_fixed_step(A):
    A = np.asarray(A, dtype=float)
    lam = np.linalg.eigvalsh(0.5 * (A + A.T))
    return float(1.0 / (lam[0] + lam[-1]))
''',
        # 1/λ_max, the safe textbook choice: stable, but not the fastest.
        '''def best_fixed_step(A):
    A = np.asarray(A, dtype=float)
    return float(1.0 / np.linalg.eigvalsh(0.5 * (A + A.T))[-1])
''',
        # eigvalsh on the non-symmetric A: it silently reads only the lower triangle.
        '''def best_fixed_step(A):
    lam = np.linalg.eigvalsh(np.asarray(A, dtype=float))
    return float(2.0 / (lam[0] + lam[-1]))
''',
    ],
    "06_gradient_descent-momentum-solution": [
        # Wrong sign of the momentum term.
        '''def momentum(grad, x0, lr, beta, steps):
    x = np.array(x0, dtype=float)
    previous = x.copy()
    trajectory = [x.copy()]
    for _ in range(steps):
        x, previous = x - lr * grad(x) - beta * (x - previous), x
        trajectory.append(x.copy())
    return np.array(trajectory)
''',
        # The velocity form mixed up with an exponential moving average (v = βv + (1 − β)g): not heavy ball.
        '''def momentum(grad, x0, lr, beta, steps):
    x = np.array(x0, dtype=float)
    v = np.zeros_like(x)
    trajectory = [x.copy()]
    for _ in range(steps):
        v = beta * v + (1 - beta) * grad(x)
        x = x - lr * v
        trajectory.append(x.copy())
    return np.array(trajectory)
''',
        # x_{-1} = 0 instead of x0: the first step gets a spurious push of beta * x0.
        '''def momentum(grad, x0, lr, beta, steps):
    x = np.array(x0, dtype=float)
    previous = np.zeros_like(x)
    trajectory = [x.copy()]
    for _ in range(steps):
        x, previous = x - lr * grad(x) + beta * (x - previous), x
        trajectory.append(x.copy())
    return np.array(trajectory)
''',
    ],
    "06_gradient_descent-tuned_momentum-solution": [
        # beta = (√κ − 1)/(√κ + 1), the rate, without the square.
        '''def tuned_momentum(A):
    A = np.asarray(A, dtype=float)
    lam = np.linalg.eigvalsh(0.5 * (A + A.T))
    small, large = np.sqrt(lam[0]), np.sqrt(lam[-1])
    return float(4.0 / (large + small) ** 2), float((large - small) / (large + small))
''',
        # Gradient descent's best step 2/(μ + L) reused as the learning rate.
        '''def tuned_momentum(A):
    A = np.asarray(A, dtype=float)
    lam = np.linalg.eigvalsh(0.5 * (A + A.T))
    small, large = np.sqrt(lam[0]), np.sqrt(lam[-1])
    return float(2.0 / (lam[0] + lam[-1])), float(((large - small) / (large + small)) ** 2)
''',
        # No symmetrisation: eigvalsh reads only the lower triangle of a non-symmetric A.
        '''def tuned_momentum(A):
    lam = np.linalg.eigvalsh(np.asarray(A, dtype=float))
    small, large = np.sqrt(lam[0]), np.sqrt(lam[-1])
    return float(4.0 / (large + small) ** 2), float(((large - small) / (large + small)) ** 2)
''',
    ],
}
