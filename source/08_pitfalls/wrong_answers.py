"""Known-wrong answers for 08_pitfalls: each must lose the points of its exercise."""

WRONG_ANSWERS: dict[str, list[str]] = {
    "08_pitfalls-gradient_check-solution": [
        # Forward differences: an O(h) error of about 1e-6 even for a correct gradient.
        '''def gradient_check(f, grad_f, x, h=1e-6):
    x = np.array(x, dtype=float)
    analytic = np.asarray(grad_f(x.copy()), dtype=float)
    numeric = np.zeros_like(x)
    fx = f(x)
    for i in np.ndindex(x.shape):
        step = np.zeros_like(x)
        step[i] = h
        numeric[i] = (f(x + step) - fx) / h
    difference = np.abs(analytic - numeric)
    scale = max(np.max(np.abs(analytic)), np.max(np.abs(numeric)), 1e-6)
    worst = np.unravel_index(np.argmax(difference), x.shape)
    return float(difference[worst] / scale), tuple(int(i) for i in worst)
''',
        # Each component measured on its own scale: rounding noise where the derivative is ~0 becomes "100%".
        '''def gradient_check(f, grad_f, x, h=1e-6):
    x = np.array(x, dtype=float)
    analytic = np.asarray(grad_f(x.copy()), dtype=float)
    numeric = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        step = np.zeros_like(x)
        step[i] = h
        numeric[i] = (f(x + step) - f(x - step)) / (2 * h)
    relative = np.abs(analytic - numeric) / np.maximum(np.maximum(np.abs(analytic), np.abs(numeric)), 1e-300)
    worst = np.unravel_index(np.argmax(relative), x.shape)
    return float(relative[worst]), tuple(int(i) for i in worst)
''',
        # The flat index from np.argmax: right for vectors, wrong for matrices.
        '''def gradient_check(f, grad_f, x, h=1e-6):
    x = np.array(x, dtype=float)
    analytic = np.asarray(grad_f(x.copy()), dtype=float)
    numeric = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        step = np.zeros_like(x)
        step[i] = h
        numeric[i] = (f(x + step) - f(x - step)) / (2 * h)
    difference = np.abs(analytic - numeric)
    scale = max(np.max(np.abs(analytic)), np.max(np.abs(numeric)), 1e-6)
    return float(np.max(difference) / scale), int(np.argmax(difference))
''',
    ],
    "08_pitfalls-fixed_rules-solution": [
        # The operands swapped: d(ab)/da taken as a.
        '''def mul_backward(inputs, out, upstream):
    a, b = inputs
    return upstream * a, upstream * b


def tanh_backward(inputs, out, upstream):
    return (upstream * (1 - out**2),)


def sigmoid_backward(inputs, out, upstream):
    return (upstream * out * (1 - out),)
''',
        # tanh applied once more to the output: 1 - tanh(tanh(x))².
        '''def mul_backward(inputs, out, upstream):
    a, b = inputs
    return upstream * b, upstream * a


def tanh_backward(inputs, out, upstream):
    return (upstream * (1 - np.tanh(out) ** 2),)


def sigmoid_backward(inputs, out, upstream):
    return (upstream * out * (1 - out),)
''',
        # The local derivative alone: the upstream gradient is forgotten.
        '''def mul_backward(inputs, out, upstream):
    a, b = inputs
    return upstream * b, upstream * a


def tanh_backward(inputs, out, upstream):
    return (upstream * (1 - out**2),)


def sigmoid_backward(inputs, out, upstream):
    return (out * (1 - out),)
''',
    ],
    "08_pitfalls-detach-solution": [
        # The same tensor: no stop at all.
        '''def detach(t):
    return t


def stop_gradient_loss(y, target):
    return ((y - detach(target)) ** 2).sum()
''',
        # A "detached" tensor that still holds its parents, and so the whole graph.
        '''def detach(t):
    return Tensor(t.data, t._prev, t._op)


def stop_gradient_loss(y, target):
    return ((y - detach(target)) ** 2).sum()
''',
        # The prediction detached instead of the target.
        '''def detach(t):
    return Tensor(t.data)


def stop_gradient_loss(y, target):
    return ((detach(y) - target) ** 2).sum()
''',
    ],
    "08_pitfalls-version_check-solution": [
        # Saves the tensors but never their versions: never raises.
        '''def save_for_backward(*tensors):
    return list(tensors)


def unpack_saved(saved, op):
    return [t.data for t in saved]
''',
        # Compares with version 0: a change BEFORE the forward pass raises too.
        '''def save_for_backward(*tensors):
    return list(tensors)


def unpack_saved(saved, op):
    for t in saved:
        if t._version != 0:
            raise RuntimeError(f"{op}: a saved tensor was modified by an inplace operation: "
                               f"it is at version {t._version}; expected version 0")
    return [t.data for t in saved]
''',
        # Checks only the first saved tensor.
        '''def save_for_backward(*tensors):
    return [(t, t._version) for t in tensors]


def unpack_saved(saved, op):
    first, version = saved[0]
    if first._version != version:
        raise RuntimeError(f"{op}: a saved tensor was modified by an inplace operation: "
                           f"it is at version {first._version}; expected version {version}")
    return [t.data for t, _ in saved]
''',
    ],
    "08_pitfalls-training_loop-solution": [
        # The graph leak: the total is a Tensor holding every step's graph.
        '''def train(loss_fn, w, steps, lr):
    total = 0.0
    for _ in range(steps):
        w.zero_grad()
        loss = loss_fn(w)
        loss.backward()
        w.data -= lr * w.grad
        total = total + loss
    return total
''',
        # Gradients never zeroed: each step uses the sum of all the gradients so far.
        '''def train(loss_fn, w, steps, lr):
    total = 0.0
    for _ in range(steps):
        loss = loss_fn(w)
        loss.backward()
        w.data -= lr * w.grad
        total += float(loss.data)
    return total
''',
        # A new tensor instead of an update in place: the caller's w never moves.
        '''def train(loss_fn, w, steps, lr):
    total = 0.0
    for _ in range(steps):
        w.zero_grad()
        loss = loss_fn(w)
        loss.backward()
        w = Tensor(w.data - lr * w.grad)
        total += float(loss.data)
    return total
''',
    ],
}
