"""Known-wrong solutions of 03_jacobians: the mistakes students make. Each must lose its exercise's points."""

WRONG_ANSWERS: dict[str, list[str]] = {
    "03_jacobians-softmax_jacobian-solution": [
        # The inner product p @ p (a number) where the outer product p p^T belongs.
        '''def softmax_jacobian(z):
    z = np.asarray(z, dtype=float)
    e = np.exp(z - np.max(z))
    p = e / e.sum()
    return np.diag(p) - p @ p
''',
        # The outer product forgotten: diag(p) - p broadcasts to J[i, j] = delta_ij p_i - p_j.
        '''def softmax_jacobian(z):
    z = np.asarray(z, dtype=float)
    e = np.exp(z - np.max(z))
    p = e / e.sum()
    return np.diag(p) - p
''',
        # The right formula on an unstable softmax: exp(1000) overflows to inf and p becomes nan.
        '''def softmax_jacobian(z):
    e = np.exp(z)
    p = e / e.sum()
    return np.diag(p) - np.outer(p, p)
''',
    ],
    "03_jacobians-chain_jacobian-solution": [
        # The product in the wrong order: J_1 J_2 ... J_k.
        '''def chain_jacobian(maps, jacobians, x):
    point = np.asarray(x, dtype=float)
    J = np.eye(point.size)
    for f, jac in zip(maps, jacobians, strict=True):
        J = J @ np.asarray(jac(point), dtype=float)
        point = np.asarray(f(point), dtype=float)
    return J
''',
        # Every Jacobian evaluated at the input x instead of at the point the chain has reached.
        '''def chain_jacobian(maps, jacobians, x):
    x = np.asarray(x, dtype=float)
    J = np.asarray(jacobians[0](x), dtype=float)
    for jac in jacobians[1:]:
        J = np.asarray(jac(x), dtype=float) @ J
    return J
''',
        # Gradients stacked as columns (the transposed convention): returns J^T, shape (n_0, n_k).
        '''def chain_jacobian(maps, jacobians, x):
    point = np.asarray(x, dtype=float)
    J = np.eye(point.size)
    for f, jac in zip(maps, jacobians, strict=True):
        J = J @ np.asarray(jac(point), dtype=float).T
        point = np.asarray(f(point), dtype=float)
    return J
''',
    ],
    "03_jacobians-tanh_layer_jvp-solution": [
        # The tanh derivative forgotten: the JVP of the linear part only.
        '''def tanh_layer_jvp(W, b, x, v):
    return W @ v
''',
        # The derivative 1 - a^2 taken with the pre-activation a instead of y = tanh(a).
        '''def tanh_layer_jvp(W, b, x, v):
    a = W @ x + b
    return (1.0 - a**2) * (W @ v)
''',
        # W^T where W belongs (a VJP habit); only square layers even run.
        '''def tanh_layer_jvp(W, b, x, v):
    y = np.tanh(W @ x + b)
    return (1.0 - y**2) * (W.T @ v)
''',
    ],
    "03_jacobians-tanh_layer_vjp-solution": [
        # J instead of J^T for the input: W g where W^T g belongs.
        '''def tanh_layer_vjp(W, b, x, u):
    y = np.tanh(W @ x + b)
    g = u * (1.0 - y**2)
    return W @ g, np.outer(g, x), g
''',
        # The tanh derivative forgotten: u passed straight through to the linear part.
        '''def tanh_layer_vjp(W, b, x, u):
    return W.T @ u, np.outer(u, x), u
''',
        # The outer product the wrong way round: u_W has the shape of W transposed.
        '''def tanh_layer_vjp(W, b, x, u):
    y = np.tanh(W @ x + b)
    g = u * (1.0 - y**2)
    return W.T @ g, np.outer(x, g), g
''',
    ],
    "03_jacobians-tanh_network_vjp-solution": [
        # The layer VJPs applied in forward order, first layer first.
        '''def tanh_network_vjp(params, x, u):
    inputs = []
    h = np.asarray(x, dtype=float)
    for W, b in params:
        inputs.append(h)
        h = np.tanh(W @ h + b)
    grads = []
    for (W, b), h_in in zip(params, inputs, strict=True):
        u, u_W, u_b = tanh_layer_vjp(W, b, h_in, u)
        grads.append((u_W, u_b))
    return u, grads
''',
        # The parameter products left in backward order (last layer first).
        '''def tanh_network_vjp(params, x, u):
    inputs = []
    h = np.asarray(x, dtype=float)
    for W, b in params:
        inputs.append(h)
        h = np.tanh(W @ h + b)
    grads = []
    for (W, b), h_in in zip(reversed(params), reversed(inputs), strict=True):
        u, u_W, u_b = tanh_layer_vjp(W, b, h_in, u)
        grads.append((u_W, u_b))
    return u, grads
''',
        # Each layer's output stored instead of its input.
        '''def tanh_network_vjp(params, x, u):
    outputs = []
    h = np.asarray(x, dtype=float)
    for W, b in params:
        h = np.tanh(W @ h + b)
        outputs.append(h)
    grads = []
    for (W, b), h_out in zip(reversed(params), reversed(outputs), strict=True):
        u, u_W, u_b = tanh_layer_vjp(W, b, h_out, u)
        grads.append((u_W, u_b))
    return u, grads[::-1]
''',
    ],
}
