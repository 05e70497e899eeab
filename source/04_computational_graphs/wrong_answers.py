"""Known-wrong solutions for unit 04: each must lose the points of its exercise.

Each entry maps a solution cell's grade_id to full replacement sources for that cell.
"""

WRONG_ANSWERS: dict[str, list[str]] = {
    "04_computational_graphs-forward_backward-solution": [
        # tanh' applied to the pre-activation instead of to tanh of it: 1 - v² for 1 - tanh(v)².
        '''def forward_backward(a, b, c, f):
    v = a * b + c
    t = math.tanh(v)
    dv = (1 - v * v) * f
    return t * f, dv * b, dv * a, dv, t
''',
        # The product rule backwards: a gets a instead of the other factor b.
        '''def forward_backward(a, b, c, f):
    v = a * b + c
    t = math.tanh(v)
    dv = (1 - t * t) * f
    return t * f, dv * a, dv * b, dv, t
''',
        # The upstream gradient f dropped: only local gradients multiplied.
        '''def forward_backward(a, b, c, f):
    v = a * b + c
    t = math.tanh(v)
    dv = 1 - t * t
    return t * f, dv * b, dv * a, dv, t
''',
    ],
    "04_computational_graphs-topological_sort-solution": [
        # Recursive depth-first search: right on small graphs, RecursionError on the 10,000-deep chain.
        '''def topological_sort(root):
    order, seen = [], set()

    def visit(node):
        if node not in seen:
            seen.add(node)
            for parent in node._prev:
                visit(parent)
            order.append(node)

    visit(root)
    return order
''',
        # Breadth-first search from the output, reversed: wrong when a node is reachable along paths of
        # different lengths (fan-out).
        '''def topological_sort(root):
    order, seen, queue = [], {root}, [root]
    while queue:
        node = queue.pop(0)
        order.append(node)
        for parent in node._prev:
            if parent not in seen:
                seen.add(parent)
                queue.append(parent)
    return order[::-1]
''',
        # Iterative post-order without a visited set: a node reached along two paths is listed twice.
        '''def topological_sort(root):
    order, stack = [], [(root, False)]
    while stack:
        node, inputs_done = stack.pop()
        if inputs_done:
            order.append(node)
        else:
            stack.append((node, True))
            stack.extend((parent, False) for parent in node._prev)
    return order
''',
    ],
    "04_computational_graphs-backward-solution": [
        # Overwriting instead of accumulating: a reused node keeps only its last contribution.
        '''def backward(root, order=None):
    if order is None:
        order = topological_sort(root)
    root.grad = 1.0
    for node in reversed(order):
        for parent, local in zip(node._prev, node._local_grads):
            parent.grad = local * node.grad
''',
        # The seed forgotten: every gradient stays 0.
        '''def backward(root, order=None):
    if order is None:
        order = topological_sort(root)
    for node in reversed(order):
        for parent, local in zip(node._prev, node._local_grads):
            parent.grad += local * node.grad
''',
        # Walking the order forwards: a node passes its gradient on before it is complete.
        '''def backward(root, order=None):
    if order is None:
        order = topological_sort(root)
    root.grad = 1.0
    for node in order:
        for parent, local in zip(node._prev, node._local_grads):
            parent.grad += local * node.grad
''',
    ],
    "04_computational_graphs-count_paths-solution": [
        # Following every path one by one: exponential in the number of diamonds.
        '''def count_paths(root, node, order=None):
    if root is node:
        return 1
    return sum(count_paths(parent, node) for parent in root._prev)
''',
        # A set of inputs: mul(x, x) counted as one arrow instead of two.
        '''def count_paths(root, node, order=None):
    if order is None:
        order = topological_sort(root)
    paths = {n: 0 for n in order}
    paths[root] = 1
    for n in reversed(order):
        for parent in set(n._prev):
            paths[parent] += paths[n]
    return paths.get(node, 0)
''',
        # Overwriting instead of adding where a node has several users.
        '''def count_paths(root, node, order=None):
    if order is None:
        order = topological_sort(root)
    paths = {n: 0 for n in order}
    paths[root] = 1
    for n in reversed(order):
        for parent in n._prev:
            paths[parent] = paths[n]
    return paths.get(node, 0)
''',
    ],
}
