"""Did a call change its argument in place? Read from what a hidden check's driver reported.

A driver keeps the array it passed to the student's function and reports it after the call, as raw data (the
sandbox turns an array into nested lists). `unchanged` compares that report with the array as it was drawn.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike


def unchanged(after: Any, before: ArrayLike) -> bool:
    """Whether `after`, the caller's array as a driver reported it after the call, still holds exactly `before`.

    Args:
        after: The report: nested lists of numbers (an array after the JSON crossing), or anything else a broken
            driver or answer produced (then the answer is False).
        before: The array as it was given, with its shape.

    Returns:
        True when `after` is a list of the shape of `before` with exactly its values (compared as floats).
    """
    return (isinstance(after, list) and np.shape(after) == np.shape(before)
            and bool(np.array_equal(np.asarray(after, dtype=float), np.asarray(before, dtype=float))))
