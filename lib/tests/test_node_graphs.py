"""calcml.node_graphs: JSON recipes of expression graphs, and the driver source that builds them."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from calcml import node_graphs


def built(recipe):
    scope: dict = {}
    exec(node_graphs.BUILD, scope)
    return scope["build"](recipe)


def plain_values(recipe) -> list[float]:
    """The recipe evaluated with math, independently of BUILD."""
    values = list(recipe["leaves"])
    for op, i, j in recipe["recipe"]:
        values.append(math.tanh(values[i]) if op == "tanh" else values[i] + values[j] if op == "add"
                      else values[i] * values[j])
    return values


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 6), st.integers(1, 40))
def test_random_graphs_are_dags_whose_every_node_reaches_the_root(seed, n_leaves, n_ops) -> None:
    recipe = node_graphs.random_graph(np.random.default_rng(seed), n_leaves, n_ops)
    parents = node_graphs.inputs_of(recipe)
    assert len(parents) == node_graphs.size(recipe) == n_leaves + len(recipe["recipe"])
    assert all(p < k for k, ps in enumerate(parents) for p in ps), "an input must be an earlier node"
    reached, stack = set(), [len(parents) - 1]
    while stack:
        k = stack.pop()
        if k not in reached:
            reached.add(k)
            stack.extend(parents[k])
    assert reached == set(range(len(parents)))


@pytest.mark.parametrize("seed", range(5))
def test_build_makes_the_nodes_with_their_values_and_local_derivatives(seed) -> None:
    recipe = node_graphs.random_graph(np.random.default_rng(seed))
    nodes, values = built(recipe), plain_values(recipe)
    assert [node.data for node in nodes] == pytest.approx(values, rel=1e-15)
    index = {id(node): k for k, node in enumerate(nodes)}
    for node, (op, i, j) in zip(nodes[len(recipe["leaves"]):], recipe["recipe"], strict=True):
        assert [index[id(p)] for p in node._prev] == ([i] if op == "tanh" else [i, j])
        expected = {"tanh": (1 - math.tanh(values[i]) ** 2,), "add": (1.0, 1.0), "mul": (values[j], values[i])}[op]
        assert node._local_grads == pytest.approx(expected, rel=1e-15)
        assert node.grad == 0.0


def count_paths_to_leaves(recipe) -> int:
    """Paths from the root to the leaves, by dynamic programming over the recipe (independent of BUILD)."""
    parents = node_graphs.inputs_of(recipe)
    paths = [1 if not ps else 0 for ps in parents]
    for k, ps in enumerate(parents):
        paths[k] += sum(paths[p] for p in ps)
    return paths[-1]


@pytest.mark.parametrize("count", [1, 2, 5])
def test_each_diamond_triples_the_paths(count) -> None:
    assert count_paths_to_leaves(node_graphs.diamonds(count, 0.2)) == 3**count


def test_a_chain_is_as_deep_as_asked_and_a_comb_reuses_w() -> None:
    chain = node_graphs.chain(50, 0.3)
    assert node_graphs.size(chain) == 51 and all(op == "tanh" for op, _, _ in chain["recipe"])
    assert built(chain)[-1].data == pytest.approx(plain_values(chain)[-1])
    comb = node_graphs.comb(7, 0.9, 0.99)
    uses_of_w = sum(ps.count(1) for ps in node_graphs.inputs_of(comb))
    assert uses_of_w == 8
    assert plain_values(comb)[-1] == pytest.approx(0.9 * 0.99**8)


# ----------------------------------------------------------------------------------------------------------
# The graph worked by hand

RIGHT_VALUES = {"x": 2, "y": -3, "z": 4, "u": -6, "v": -2, "w": -4, "L": 16}
RIGHT_ADJOINTS = {"L": 1, "w": -8, "v": -16, "u": -16, "z": -16, "y": -32, "x": 64}


def test_hand_values_and_adjoints_agree_with_central_differences() -> None:
    graph = node_graphs.BY_HAND
    assert node_graphs.names(graph) == ["x", "y", "z", "u", "v", "w", "L"]
    values = node_graphs.hand_values(graph)
    assert values == RIGHT_VALUES
    adjoints = node_graphs.hand_adjoints(graph)
    h = 1e-4
    for name in node_graphs.names(graph):
        up = node_graphs.hand_values(graph, (name, values[name] + h))["L"]
        down = node_graphs.hand_values(graph, (name, values[name] - h))["L"]
        assert adjoints[name] == pytest.approx((up - down) / (2 * h), rel=1e-6)


def test_right_answers_pass_in_any_form() -> None:
    graph = node_graphs.BY_HAND
    assert node_graphs.diagnose_values(graph, RIGHT_VALUES) is None
    assert node_graphs.diagnose_values(graph, {k: float(v) for k, v in reversed(RIGHT_VALUES.items())}) is None
    assert node_graphs.diagnose_adjoints(graph, RIGHT_ADJOINTS) is None
    assert node_graphs.diagnose_adjoints(graph, {k: np.float64(v) for k, v in RIGHT_ADJOINTS.items()}) is None


@pytest.mark.parametrize(("changes", "words"), [
    ({"x": 48}, ["adjoint['x']", "only the contribution of the path through u", "used twice", "path is missing"]),
    ({"x": 16}, ["adjoint['x']", "path through w"]),
    ({"w": 32, "v": 64, "u": 64, "z": 64, "y": 128, "x": -256}, ["adjoint['w']", "wrong point", "at L = 16",
                                                                   "at w = -4"]),
    ({"v": 16, "u": 16, "z": 16, "y": 32, "x": -32}, ["adjoint['v']", "sign is wrong"]),
    ({"y": 48}, ["adjoint['y']", "OTHER factor, x = 2"]),
    ({"L": 0}, ["seed"]),
    ({"v": 32}, ["adjoint['v']", "wrong point", "at w = -4"]),
])
def test_wrong_adjoints_name_the_node_and_the_cause(changes, words) -> None:
    message = node_graphs.diagnose_adjoints(node_graphs.BY_HAND, {**RIGHT_ADJOINTS, **changes})
    assert message is not None
    for word in words:
        assert word in message, message


@pytest.mark.parametrize(("changes", "words"), [
    ({"u": 6, "v": 10, "w": 20, "L": 400}, ["forward['u']", "sign"]),
    ({"L": -8}, ["forward['L']", "not 2·w"]),
    ({"w": -2, "L": 4}, ["forward['w']", "factor x is missing"]),
    ({"v": -24}, ["forward['v']", "a sum, not a product"]),
    ({"x": 3}, ["forward['x']", "copy the inputs"]),
])
def test_wrong_values_name_the_node_and_the_cause(changes, words) -> None:
    message = node_graphs.diagnose_values(node_graphs.BY_HAND, {**RIGHT_VALUES, **changes})
    for word in words:
        assert word in message, message


@pytest.mark.parametrize("answer", [None, [1, 2], {"x": 2}, {**RIGHT_VALUES, "q": 1}, {**RIGHT_VALUES, "u": "six"},
                                    {**RIGHT_VALUES, "u": float("nan")}])
def test_malformed_answers_are_reported_not_raised(answer) -> None:
    assert isinstance(node_graphs.diagnose_values(node_graphs.BY_HAND, answer), str)
    assert isinstance(node_graphs.diagnose_adjoints(node_graphs.BY_HAND, answer), str)


# ----------------------------------------------------------------------------------------------------------
# The hidden checks of the graph worked by hand


def run_hand_checks(answer_name, answer, check, seed=0):
    """inputs -> driver (on the answer, as a student's namespace holds it) -> JSON -> verifier, as probes runs them."""
    from calcml import probes

    inputs = probes.as_json(node_graphs.hand_inputs(np.random.default_rng(seed)))
    scope = {answer_name: answer, "inputs": inputs}
    exec(node_graphs.hand_driver(answer_name), scope)
    check(inputs, probes.as_json(scope["result"]))
    return inputs, scope["result"]


@pytest.mark.parametrize("seed", range(3))
def test_hand_inputs_are_the_graph_and_an_order_of_its_nodes(seed) -> None:
    inputs = node_graphs.hand_inputs(np.random.default_rng(seed))
    assert inputs["graph"] == node_graphs.BY_HAND
    assert sorted(inputs["order"]) == sorted(node_graphs.names(node_graphs.BY_HAND))


def test_the_hand_driver_reports_every_node_in_order_and_keeps_what_is_no_number() -> None:
    inputs, result = run_hand_checks("forward", RIGHT_VALUES, node_graphs.check_values, seed=4)
    assert list(result) == inputs["order"] and result == RIGHT_VALUES
    scope = {"adjoint": {**RIGHT_ADJOINTS, "q": 1, "x": np.float32(64)}, "inputs": inputs}
    exec(node_graphs.hand_driver("adjoint"), scope)
    assert list(scope["result"])[-1] == "q" and scope["result"]["x"] == repr(np.float32(64))
    with pytest.raises(ValueError):
        node_graphs.hand_driver("forward); import os; (")


def test_the_hand_checks_pass_right_answers_and_fail_wrong_ones_with_the_diagnosis() -> None:
    from calcml import checks

    run_hand_checks("adjoint", RIGHT_ADJOINTS, node_graphs.check_adjoints)
    wrong = {**RIGHT_ADJOINTS, "x": 48}
    with pytest.raises(checks.CheckFailure) as failure:
        run_hand_checks("adjoint", wrong, node_graphs.check_adjoints)
    assert str(failure.value) == node_graphs.diagnose_adjoints(node_graphs.BY_HAND, wrong)
    with pytest.raises(checks.CheckFailure, match="a square is w·w, not 2·w"):
        run_hand_checks("forward", {**RIGHT_VALUES, "L": -8}, node_graphs.check_values)
