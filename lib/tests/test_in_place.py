"""calcml.in_place: an argument reported after a call, compared with the array as it was given."""

from __future__ import annotations

import numpy as np
import pytest

from calcml import in_place, probes


def reported(array):
    """The array as a driver's report of it arrives, after the JSON crossing."""
    return probes.as_json(array)


@pytest.mark.parametrize("before", [np.array([1.5, -2.0, 3.25]), np.arange(6.0).reshape(2, 3), np.array([[7.0]]),
                                    np.array([3, -1, 4])])
def test_an_untouched_argument_is_unchanged(before) -> None:
    assert in_place.unchanged(reported(before.copy()), before)


@pytest.mark.parametrize("change", [
    lambda a: a - a.max(),  # Z -= m
    lambda a: a * (1 + 1e-15),  # the last bit
    lambda a: a.reshape(-1),  # the same numbers, another shape
    lambda a: a[:1],  # fewer numbers
])
def test_a_changed_argument_is_seen(change) -> None:
    before = np.array([[0.5, 2.0, -1.0], [4.0, 3.0, 1e-300]])
    assert not in_place.unchanged(reported(change(before.copy())), before)


@pytest.mark.parametrize("after", [None, "Z", 3.0, {"Z": [1.0]}, (1.0, 2.0)])
def test_no_report_is_no_proof(after) -> None:
    assert not in_place.unchanged(after, np.array([1.0, 2.0]))
