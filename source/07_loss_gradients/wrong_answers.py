"""Known-wrong answers for unit 07: each must lose the points of its exercise (see source/README.md)."""

WRONG_ANSWERS: dict[str, list[str]] = {
    "07_loss_gradients-mse_grad-solution": [
        # The sum of squares differentiated, but the loss is a mean: N times too large.
        '''def mse_grad(X, w, y):
    return 2.0 * X.T @ (X @ w - y)
''',
        # d(r²)/dr = 2r forgotten.
        '''def mse_grad(X, w, y):
    return X.T @ (X @ w - y) / X.shape[0]
''',
        # Divided by the number of features instead of the number of examples.
        '''def mse_grad(X, w, y):
    return 2.0 * X.T @ (X @ w - y) / X.shape[1]
''',
    ],
    "07_loss_gradients-logsumexp-solution": [
        # The textbook formula: exp(1000) overflows to inf, exp(-1000) underflows to 0 and log(0) = -inf.
        '''def logsumexp(Z):
    return np.log(np.sum(np.exp(Z), axis=1))
''',
        # The maximum is subtracted but never added back.
        '''def logsumexp(Z):
    m = np.max(Z, axis=1, keepdims=True)
    return np.log(np.sum(np.exp(Z - m), axis=1))
''',
        # One maximum for the whole batch: a row far below it underflows to log(0).
        '''def logsumexp(Z):
    m = np.max(Z)
    return m + np.log(np.sum(np.exp(Z - m), axis=1))
''',
    ],
    "07_loss_gradients-stable_softmax-solution": [
        # The textbook formula: inf / inf = nan at logits of 1000.
        '''def stable_softmax(Z):
    E = np.exp(Z)
    return E / E.sum(axis=1, keepdims=True)
''',
        # Right values, but the caller's logits are modified in place.
        '''def stable_softmax(Z):
    Z -= Z.max(axis=1, keepdims=True)
    E = np.exp(Z)
    return E / E.sum(axis=1, keepdims=True)
''',
        # Normalised over the batch (columns) instead of over the classes (rows).
        '''def stable_softmax(Z):
    E = np.exp(Z - Z.max(axis=1, keepdims=True))
    return E / E.sum(axis=0, keepdims=True)
''',
    ],
    "07_loss_gradients-softmax_cross_entropy_grad-solution": [
        # The gradient of the summed loss: the 1/N of the mean is missing.
        '''def softmax_cross_entropy_grad(Z, y):
    N, K = Z.shape
    Y = y if np.ndim(y) == 2 else np.eye(K)[y]
    return stable_softmax(Z) - Y
''',
        # A naive softmax inside: nan at logits of +-1000.
        '''def softmax_cross_entropy_grad(Z, y):
    N, K = Z.shape
    Y = y if np.ndim(y) == 2 else np.eye(K)[y]
    E = np.exp(Z)
    return (E / E.sum(axis=1, keepdims=True) - Y) / N
''',
        # Only class indices handled: one-hot targets are indexed as if they were indices.
        '''def softmax_cross_entropy_grad(Z, y):
    N, K = Z.shape
    Y = np.zeros((N, K))
    Y[np.arange(N), y] = 1.0
    return (stable_softmax(Z) - Y) / N
''',
    ],
    "07_loss_gradients-ridge_grad-solution": [
        # The penalty's gradient taken as lam * w (the 2 of d(w²)/dw forgotten).
        '''def ridge_grad(X, w, y, lam):
    N = X.shape[0]
    return 2.0 * X.T @ (X @ w - y) / N + lam * w
''',
        # The penalty averaged over the batch as well.
        '''def ridge_grad(X, w, y, lam):
    N = X.shape[0]
    return (2.0 * X.T @ (X @ w - y) + 2.0 * lam * w) / N
''',
    ],
    "07_loss_gradients-ridge_closed_form-solution": [
        # The sum-of-squares textbook formula, used with the mean-squared loss: lam where N * lam belongs.
        '''def ridge_closed_form(X, y, lam):
    d = X.shape[1]
    return np.linalg.solve(X.T @ X + lam * np.eye(d), X.T @ y)
''',
        # A scalar added to every entry of XᵀX instead of a multiple of the identity.
        '''def ridge_closed_form(X, y, lam):
    N = X.shape[0]
    return np.linalg.solve(X.T @ X + N * lam, X.T @ y)
''',
        # The 2 of the penalty's gradient kept on one side only: 2 N lam instead of N lam.
        '''def ridge_closed_form(X, y, lam):
    N, d = X.shape
    return np.linalg.solve(X.T @ X + 2 * N * lam * np.eye(d), X.T @ y)
''',
    ],
}
