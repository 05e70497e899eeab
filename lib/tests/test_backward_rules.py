"""calcml.backward_rules: the reference rules the driver gives unit 08's engine, against numerical Jacobians."""

from __future__ import annotations

import numpy as np
import pytest

from calcml import backward_rules, gradient_flow, numdiff


def rules():
    scope: dict = {}
    exec(backward_rules.REFERENCE, scope)
    return scope["REFERENCE"]


@pytest.mark.parametrize("seed", range(4))
def test_each_rule_is_the_vector_jacobian_product_of_its_op(seed) -> None:
    rng = np.random.default_rng(seed)
    a, b, up = rng.normal(size=(3, 5)) * np.array([[1.0], [1.0], [2.0]])
    reference = rules()
    assert sorted(reference) == ["mul", "sigmoid", "tanh"]
    grad_a, grad_b = reference["mul"]((a, b), a * b, up)
    np.testing.assert_allclose(grad_a, up @ numdiff.jacobian(lambda v: v * b, a), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(grad_b, up @ numdiff.jacobian(lambda v: a * v, b), rtol=1e-6, atol=1e-9)
    for name, forward in [("tanh", np.tanh), ("sigmoid", gradient_flow.sigmoid)]:
        (got,) = reference[name]((a,), forward(a), up)
        np.testing.assert_allclose(got, up @ numdiff.jacobian(forward, a), rtol=1e-6, atol=1e-9)
