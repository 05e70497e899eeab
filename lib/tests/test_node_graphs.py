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
