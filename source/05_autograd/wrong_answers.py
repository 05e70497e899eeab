"""Known-wrong solutions for unit 05: each must lose the points of its exercise.

Each entry maps a solution cell's grade_id to full replacement sources for that cell. Every wrong answer is
the instructor's solution cell (read from autograd.py, so the two never drift apart) with one realistic
mistake edited in; `_mistake` refuses an edit whose text is not found exactly once.
"""

from pathlib import Path

import jupytext


def _solution(grade_id: str) -> str:
    notebook = jupytext.read(Path(__file__).with_name("autograd.py"))
    (source,) = [c.source for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id]
    return source


def _mistake(grade_id: str, old: str, new: str) -> str:
    source = _solution(grade_id)
    if source.count(old) != 1:
        raise ValueError(f"wrong answer for {grade_id}: the text to replace occurs {source.count(old)} times:\n{old}")
    return source.replace(old, new)


_TOPOLOGICAL_BODY = """        order, visited, stack = [], set(), [(self, False)]
        while stack:
            v, inputs_placed = stack.pop()
            if inputs_placed:
                order.append(v)  # all inputs of v are already in the order
            elif id(v) not in visited:
                visited.add(id(v))
                stack.append((v, True))  # come back to v after its inputs
                stack.extend((child, False) for child in v._prev)
        return order
"""

WRONG_ANSWERS: dict[str, list[str]] = {
    "05_autograd-value_core-solution": [
        # The textbook recursive depth-first search: right on small graphs, RecursionError on the chain
        # 10,000 operations deep.
        _mistake("05_autograd-value_core-solution", _TOPOLOGICAL_BODY, """        order, visited = [], set()
        def visit(v):
            if id(v) not in visited:
                visited.add(id(v))
                for child in v._prev:
                    visit(child)
                order.append(v)
        visit(self)
        return order
"""),
        # `=` instead of `+=` in a backward closure: a value used twice keeps only its last contribution.
        _mistake("05_autograd-value_core-solution", """            self.grad += other.data * out.grad
            other.grad += self.data * out.grad""", """            self.grad = other.data * out.grad
            other.grad = self.data * out.grad"""),
        # A mutable default argument as the visited set: it survives between calls, so the second
        # topological_order() (and so zero_grad() and a second backward()) sees no node at all.
        _mistake("05_autograd-value_core-solution", """    def topological_order(self):""",
                 """    def topological_order(self, visited=set()):""").replace(
            "        order, visited, stack = [], set(), [(self, False)]", "        order, stack = [], [(self, False)]"),
    ],
    "05_autograd-arithmetic-solution": [
        # 2 - x computed as x - 2: the reflected operator's operands swapped.
        _mistake("05_autograd-arithmetic-solution", "    return (-self) + other\n", "    return self - other\n"),
        # The power rule for a Value exponent without the ln a: d(a^b)/db taken as a^b.
        _mistake("05_autograd-arithmetic-solution",
                 "            other.grad += out.data * math.log(self.data) * out.grad  # d(a^b)/db = a^b ln a",
                 "            other.grad += out.data * out.grad"),
        # A number exponent wrapped in a Value like in __add__, so x ** 3 takes log(x): a math domain
        # error for a negative base.
        _mistake("05_autograd-arithmetic-solution", "    if isinstance(other, Value):\n",
                 "    other = other if isinstance(other, Value) else Value(other)\n    if isinstance(other, Value):\n"),
    ],
    "05_autograd-functions-solution": [
        # tanh' from the input instead of the output: 1 - x^2 for 1 - tanh(x)^2.
        _mistake("05_autograd-functions-solution",
                 "        self.grad += (1.0 - out.data**2) * out.grad  # 1 - tanh^2: the output, squared",
                 "        self.grad += (1.0 - self.data**2) * out.grad"),
        # The textbook sigmoid formula: math.exp(800) raises OverflowError for x = -800.
        _mistake("05_autograd-functions-solution",
                 "    out = Value(1.0 / (1.0 + z) if self.data >= 0 else z / (1.0 + z), (self,), \"sigmoid\")",
                 "    out = Value(1.0 / (1.0 + math.exp(-self.data)), (self,), \"sigmoid\")"),
        # relu passes the gradient through even where it is flat (x < 0).
        _mistake("05_autograd-functions-solution", "        self.grad += (self.data > 0) * out.grad",
                 "        self.grad += out.grad"),
    ],
    "05_autograd-mlp-solution": [
        # The forward pass uses .data, so the weights drop out of the graph and get no gradient.
        _mistake("05_autograd-mlp-solution", "sum((wi * xi for wi, xi in zip(self.w, x, strict=True)), self.b)",
                 "sum((wi.data * xi for wi, xi in zip(self.w, x, strict=True)), self.b)"),
        # The loss sums over the points instead of averaging: N times too large, and so is its gradient.
        _mistake("05_autograd-mlp-solution", "    return total / len(y)\n", "    return total\n"),
        # tanh on every layer, the output layer included.
        _mistake("05_autograd-mlp-solution", "        return act.tanh() if self.nonlin else act\n",
                 "        return act.tanh()\n"),
    ],
    "05_autograd-dual-solution": [
        # The product rule forgotten: the derivative of a product taken as the product of derivatives.
        _mistake("05_autograd-dual-solution",
                 "        return Dual(self.val * other.val, self.dot * other.val + self.val * other.dot)",
                 "        return Dual(self.val * other.val, self.dot * other.dot)"),
        # (sin x)' = -cos x: the sign of the cosine's derivative.
        _mistake("05_autograd-dual-solution", "        return Dual(math.sin(self.val), math.cos(self.val) * self.dot)",
                 "        return Dual(math.sin(self.val), -math.cos(self.val) * self.dot)"),
        # jvp seeds every input with derivative 1, ignoring the direction v.
        _mistake("05_autograd-dual-solution", "    out = f([Dual(xi, vi) for xi, vi in zip(x, v, strict=True)])",
                 "    out = f([Dual(xi, 1.0) for xi in x])"),
    ],
}
