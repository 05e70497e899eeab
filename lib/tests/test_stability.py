"""calcml.stability: the extreme batches, the mpmath references and the readers of a driver's strict() reports."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from calcml import checks, probes, stability

from .strategies import seeds


def strict_report(fn, *args):
    scope: dict = {}
    exec(probes.STRICT_CALL, scope)
    return probes.as_json(list(scope["strict"](fn, *args)))


def test_batches_have_the_shapes_and_scales_asked_for() -> None:
    rng = np.random.default_rng(0)
    shapes, scales = [(1, 1), (400, 3), (50, 20)], [1.0, 1000.0, 0.01]
    drawn = stability.batches(rng, shapes, scales)
    assert [b.shape for b in drawn] == shapes
    assert np.std(drawn[1]) == pytest.approx(1000.0, rel=0.1)
    assert np.std(drawn[2]) == pytest.approx(0.01, rel=0.1)
    with pytest.raises(ValueError):
        stability.batches(rng, shapes, scales[:2])


@settings(max_examples=20, deadline=None)
@given(seeds)
def test_levels_need_a_maximum_per_row(seed) -> None:
    Z = stability.levels(np.random.default_rng(seed))
    assert Z.shape == (4, 3)
    m = Z.max()  # one maximum for the whole batch underflows the lower rows to log(0)
    with np.errstate(divide="ignore", under="ignore"):
        naive = m + np.log(np.sum(np.exp(Z - m), axis=1))
    assert np.isinf(naive).any()
    assert np.all(np.isfinite(stability.lse(Z)))


def test_lse_is_the_log_of_the_sum_of_exponentials() -> None:
    Z = np.array([[0.0, 0.0], [1.0, 2.0], [-3.0, 0.5]])
    np.testing.assert_allclose(stability.lse(Z), np.log(np.exp(Z).sum(axis=1)), rtol=1e-15)
    np.testing.assert_allclose(stability.lse(np.array([[1000.0, 1000.0], [-1000.0, -1000.0]])),
                               [1000.0 + math.log(2.0), -1000.0 + math.log(2.0)], rtol=1e-15)


@settings(max_examples=20, deadline=None)
@given(seeds, st.floats(-900.0, 900.0))
def test_lse_and_softmax_are_shift_covariant(seed, shift) -> None:
    Z = np.random.default_rng(seed).normal(scale=3.0, size=(3, 4))
    np.testing.assert_allclose(stability.lse(Z + shift), stability.lse(Z) + shift, rtol=1e-13, atol=1e-12)
    np.testing.assert_allclose(stability.softmax(Z + shift), stability.softmax(Z), rtol=1e-12)


def test_softmax_rows_are_distributions_down_to_subnormal_probabilities() -> None:
    Z = np.array([[0.0, np.log(3.0)], [1000.0, 1000.0 - 715.0]])
    P = stability.softmax(Z)
    np.testing.assert_allclose(P[0], [0.25, 0.75], rtol=1e-15)
    np.testing.assert_allclose(P.sum(axis=1), [1.0, 1.0], rtol=1e-15)
    assert 0.0 < P[1, 1] < 1e-308 and P[1, 1] == pytest.approx(math.exp(-715.0), rel=1e-6)


def test_strict_value_passes_a_value_and_teaches_on_an_error() -> None:
    assert stability.strict_value(strict_report(np.exp, 1.0), "f", "at 1") == pytest.approx(math.e)
    assert stability.strict_value({"value": [1.0], "error": ""}, "f", "at 1") == [1.0]
    with pytest.raises(checks.CheckFailure, match=r"Your f at 1000 hit a floating-point error \(FloatingPointError.*"
                                                  r"subtract each row's maximum"):
        stability.strict_value(strict_report(np.exp, 1000.0), "f", "at 1000")
    with pytest.raises(checks.CheckFailure, match="Your f at 1 gave no result"):
        stability.strict_value(None, "f", "at 1")


def test_untouched_fails_a_function_that_changed_its_argument() -> None:
    Z = np.array([[1.0, 3.0], [2.0, -1.0]])
    stability.untouched({"Z_after": probes.as_json(Z)}, Z, "softmax")
    with pytest.raises(checks.CheckFailure, match="Your softmax changed its argument Z in place; write Z - m"):
        stability.untouched({"Z_after": probes.as_json(Z - Z.max(axis=1, keepdims=True))}, Z, "softmax")
    with pytest.raises(checks.CheckFailure):
        stability.untouched([1.0], Z, "softmax")


def test_the_batch_driver_reports_each_batch_strictly_and_the_argument_as_left() -> None:
    def shifting_lse(Z):
        m = Z.max(axis=1, keepdims=True)
        Z -= m  # the in-place mistake: the value is right, the caller's logits are not
        return m[:, 0] + np.log(np.sum(np.exp(Z), axis=1))

    inputs = probes.as_json({"batches": [np.array([[1.0, 2.0]]), np.array([[1000.0, 0.0], [3.0, 3.0]])]})
    scope = {"inputs": inputs, "lse": shifting_lse, "textbook": lambda Z: np.log(np.sum(np.exp(Z), axis=1))}
    exec(probes.STRICT_CALL + stability.batch_driver("lse"), scope)
    result = probes.as_json(scope["result"])
    reports = list(stability.batch_reports(inputs, result, "lse"))
    assert [where for _, _, where in reports] == ["of a (1, 2) batch of logits up to 2",
                                                  "of a (2, 2) batch of logits up to 1e+03"]
    for Z, got, where in reports:
        np.testing.assert_allclose(stability.strict_value(got, "lse", where), stability.lse(Z), rtol=1e-14)
        with pytest.raises(checks.CheckFailure, match="changed its argument Z in place"):
            stability.untouched(got, Z, "lse")
    exec(probes.STRICT_CALL + stability.batch_driver("textbook"), scope)
    (_, overflowed, where), = list(stability.batch_reports(inputs, probes.as_json(scope["result"]), "textbook"))[1:]
    with pytest.raises(checks.CheckFailure, match="overflow"):
        stability.strict_value(overflowed, "textbook", where)
    with pytest.raises(ValueError):
        stability.batch_driver("lse(Z); import os")


@pytest.mark.parametrize("result", [None, [], {"batches": None}, {"batches": [{}]}])
def test_batch_reports_fail_on_missing_reports(result) -> None:
    inputs = {"batches": [[[1.0]], [[2.0]]]}
    with pytest.raises(checks.CheckFailure, match="lse gave too few results"):
        list(stability.batch_reports(inputs, result, "lse"))


def test_mean_smoothed_ce_is_the_mean_of_the_smoothed_targets_times_minus_log_softmax() -> None:
    rng = np.random.default_rng(7)
    Z, labels, s = rng.normal(scale=2.0, size=(6, 4)), rng.integers(0, 4, size=6), 0.15
    targets = (1 - s) * np.eye(4)[labels] + s / 4
    log_p = Z - np.log(np.exp(Z).sum(axis=1, keepdims=True))
    np.testing.assert_allclose(stability.mean_smoothed_ce(Z, labels, s), -(targets * log_p).sum() / 6, rtol=1e-13)
    # at logits ±1000 the float64 formula overflows; the reference stays finite: lse(1000, -1000) = 1000
    big = stability.mean_smoothed_ce(np.array([[1000.0, -1000.0]]), [0], 0.0)
    assert big == 0.0 and np.isfinite(stability.mean_smoothed_ce(np.array([[1000.0, -1000.0]]), [1], 0.5))
