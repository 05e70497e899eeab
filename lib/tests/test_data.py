"""Tests of calcml.data: shapes, labels, determinism and the geometry of each toy data set."""

from __future__ import annotations

import numpy as np
import pytest

from calcml import data

GENERATORS = [data.moons, data.blobs, data.spirals]


@pytest.mark.parametrize("make", GENERATORS)
@pytest.mark.parametrize("n", [2, 7, 100])
def test_shapes_and_balanced_signed_labels(make, n: int) -> None:
    X, y = make(n, seed=3)
    assert X.shape == (n, 2) and y.shape == (n,)
    assert X.dtype == np.float64 and y.dtype == np.float64
    assert set(np.unique(y)) <= {-1.0, 1.0}
    assert np.sum(y < 0) == n - n // 2 and np.sum(y > 0) == n // 2


@pytest.mark.parametrize("make", GENERATORS)
def test_unsigned_labels_are_the_same_points(make) -> None:
    X1, y1 = make(51, seed=5)
    X0, y0 = make(51, seed=5, signed=False)
    np.testing.assert_array_equal(X0, X1)
    assert set(np.unique(y0)) == {0.0, 1.0}
    np.testing.assert_array_equal(y0, (y1 + 1) / 2)


@pytest.mark.parametrize("make", GENERATORS)
def test_same_seed_same_data_other_seed_other_data(make) -> None:
    a, b, c = make(40, seed=1), make(40, seed=1), make(40, seed=2)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


@pytest.mark.parametrize("make", GENERATORS)
def test_order_is_shuffled(make) -> None:
    _, y = make(60, seed=0)
    assert np.any(np.diff(y) > 0) and np.any(np.diff(y) < 0), "labels are still sorted by class"


def test_moons_without_noise_lie_on_their_arcs() -> None:
    X, y = data.moons(41, noise=0.0, seed=0)
    upper, lower = X[y < 0], X[y > 0]
    np.testing.assert_allclose(np.hypot(*upper.T), 1.0, atol=1e-12)
    assert np.all(upper[:, 1] >= -1e-12)
    np.testing.assert_allclose(np.hypot(lower[:, 0] - 1.0, lower[:, 1] - 0.5), 1.0, atol=1e-12)
    assert np.all(lower[:, 1] <= 0.5 + 1e-12)
    # The end points of both arcs are included: t = 0 and t = pi.
    assert np.any(np.all(np.isclose(upper, [1.0, 0.0]), axis=1))
    assert np.any(np.all(np.isclose(lower, [2.0, 0.5]), axis=1))


def test_moons_noise_has_the_requested_spread() -> None:
    X, y = data.moons(4000, noise=0.2, seed=9)
    # Radial distance from each arc: for small noise it is close to N(0, 0.2^2).
    distance = np.where(y < 0, np.hypot(*X.T) - 1.0, np.hypot(X[:, 0] - 1, X[:, 1] - 0.5) - 1.0)
    assert 0.17 < np.std(distance) < 0.23
    assert abs(np.mean(distance)) < 0.03


def test_moons_are_not_linearly_separable_but_are_close() -> None:
    X, y = data.moons(200, noise=0.0, seed=0)
    # Least-squares linear classifier: good but not perfect on moons.
    A = np.column_stack([X, np.ones(len(y))])
    w, *_ = np.linalg.lstsq(A, y, rcond=None)
    accuracy = np.mean(np.sign(A @ w) == y)
    assert 0.75 < accuracy < 1.0


def test_blobs_are_centred_on_their_centres() -> None:
    centers = np.array([[-2.0, 0.0], [1.0, 3.0], [4.0, -1.0]])
    X, y = data.blobs(3000, centers, noise=0.3, seed=4, signed=False)
    assert set(np.unique(y)) == {0.0, 1.0, 2.0}
    for k, centre in enumerate(centers):
        cloud = X[y == k]
        assert len(cloud) == 1000
        np.testing.assert_allclose(cloud.mean(axis=0), centre, atol=0.05)
        np.testing.assert_allclose(cloud.std(axis=0), 0.3, rtol=0.1)


def test_blobs_signed_needs_two_centres() -> None:
    with pytest.raises(ValueError, match="two centres"):
        data.blobs(10, [[0, 0], [1, 1], [2, 2]])
    with pytest.raises(ValueError, match="shape"):
        data.blobs(10, [[0, 0]])


def test_spirals_without_noise_follow_their_formula() -> None:
    X, y = data.spirals(60, turns=1.5, noise=0.0, seed=2, signed=False)
    r = np.hypot(*X.T)
    assert np.all((r > 0.1 - 1e-12) & (r < 1.0 + 1e-12))
    theta = 2 * np.pi * 1.5 * r + y * np.pi
    np.testing.assert_allclose(X, np.column_stack([r * np.cos(theta), r * np.sin(theta)]), atol=1e-12)


def test_spiral_arms_are_half_a_turn_apart() -> None:
    X, y = data.spirals(40, noise=0.0, seed=0, signed=False)
    arm0 = X[y == 0][np.argsort(np.hypot(*X[y == 0].T))]
    arm1 = X[y == 1][np.argsort(np.hypot(*X[y == 1].T))]
    np.testing.assert_allclose(arm1, -arm0, atol=1e-12)


@pytest.mark.parametrize("bad", [dict(n=1), dict(n=2.5), dict(noise=-0.1), dict(noise=float("nan"))])
def test_bad_arguments_are_refused(bad: dict) -> None:
    kwargs = dict(n=10, noise=0.1) | bad
    with pytest.raises(ValueError):
        data.moons(**kwargs)
