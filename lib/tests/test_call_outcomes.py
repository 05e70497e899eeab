"""calcml.call_outcomes: a driver's report of what a call did, and what it did instead of raising."""

from __future__ import annotations

import numpy as np
import pytest

from calcml import call_outcomes, probes


class NoDirection(ValueError):
    pass


def report(fn, *args):
    scope: dict = {}
    exec(call_outcomes.DRIVER, scope)
    return probes.as_json(scope["outcome"](fn, *args))


def unit(u):
    u = np.asarray(u, dtype=float)
    if not np.any(u):
        raise NoDirection("the zero vector has no direction")
    return u / np.linalg.norm(u)


def test_the_driver_reports_the_value_or_the_exception_with_its_bases() -> None:
    assert report(unit, [3.0, 4.0]) == {"returned": [0.6, 0.8]}
    assert report(unit, [0.0, 0.0]) == {"raised": ["NoDirection", "ValueError", "Exception", "BaseException",
                                                   "object"]}


def test_a_subclass_of_the_exception_asked_for_counts() -> None:
    assert call_outcomes.instead_of_raising(report(unit, [0.0, 0.0]), "ValueError") is None
    assert call_outcomes.instead_of_raising(report(unit, [0.0, 0.0]), "NoDirection") is None


@pytest.mark.parametrize(("fn", "says"), [
    (lambda u: np.asarray(u) / np.linalg.norm(u), "returned [nan, nan]"),
    (lambda u: [0.0] * 40, "returned " + str([0.0] * 40)[:60]),
    (lambda u: 1 / 0, "raised ZeroDivisionError"),
])
def test_what_happened_instead_is_said(fn, says) -> None:
    with np.errstate(invalid="ignore"):
        got = report(fn, [0.0, 0.0])
    assert call_outcomes.instead_of_raising(got, "ValueError") == says


@pytest.mark.parametrize("got", [None, [], {}, {"raised": []}, {"raised": "ValueError"}])
def test_no_report_gave_no_answer(got) -> None:
    assert call_outcomes.instead_of_raising(got) == "gave no answer"
