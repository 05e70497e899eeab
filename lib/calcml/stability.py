"""The hidden checks of unit 07's stable exponentials (log-sum-exp, softmax, cross-entropy): extreme batches of
logits, 40-digit references, and what a driver's `probes.STRICT_CALL` reported.

A driver calls the student's function through `strict` (`probes.STRICT_CALL`): NumPy's overflow, division and
invalid-operation warnings become errors, and each call reports `[value, error]` (or a dict with "value" and
"error", and the argument "Z_after" as the function left it; `batch_driver` writes that loop over a list of
batches). `batch_reports`, `strict_value` and `untouched` read those reports in `verify`, with the unit's teaching
messages; `lse` and `softmax` are the references, computed in mpmath with unbounded exponents, so that no
floating-point formula of the student's kind is the judge of its own kind.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import mpmath
import numpy as np
from numpy.typing import ArrayLike, NDArray

from calcml import in_place, probes

#: The cause of every floating-point error in an exponential of logits, and its cure.
STABLE_HINT = ("exp overflows above 709.8, and exp of a very negative number underflows to 0 (log(0) = -inf, "
               "0/0 = nan): subtract each row's maximum before exponentiating.")


def batches(rng: np.random.Generator, shapes: Sequence[tuple[int, ...]], scales: Sequence[float]) -> list[NDArray]:
    """Normal logits, one batch per shape, each with its own scale.

    Args:
        rng: The generator of the hidden inputs.
        shapes: The shape of each batch, e.g. `[(1, 1), (5, 2)]`.
        scales: The standard deviation of each batch, as many as `shapes`.

    Returns:
        One array per shape, drawn in order.
    """
    return [rng.normal(scale=float(s), size=shape) for shape, s in zip(shapes, scales, strict=True)]


def levels(rng: np.random.Generator) -> NDArray[np.float64]:
    """A (4, 3) batch whose rows lie at very different levels (near ±1000, 710, -5000): one maximum for the whole
    batch underflows some row to log(0), so each row needs its own maximum. The rows move by a random shift."""
    base = np.array([[1000.0, -1000.0, 0.0], [-1000.0, -1000.0, -999.0], [710.0, 710.0, 710.0],
                     [-5000.0, 3.0, -5000.0]])
    return base + rng.uniform(-5, 5, size=(4, 1))


def batch_driver(function: str) -> str:
    """Driver source, to follow `probes.STRICT_CALL`: call `function` strictly on each batch of `inputs["batches"]`.

    Args:
        function: The name of the student's function of one batch of logits, e.g. "logsumexp".

    Returns:
        Python source that assigns `result = {"batches": [...]}`, one report per batch: a dict with the "value" and
        the "error" of the strict call and "Z_after", the batch as the function left it.
    """
    if not function.isidentifier():
        raise ValueError(f"function must be a name, not {function!r}")
    return f"""
result = {{"batches": []}}
for Z in inputs["batches"]:
    Z = np.array(Z, dtype=float)
    value, error = strict({function}, Z)
    result["batches"].append({{"value": value, "error": error, "Z_after": Z}})
"""


def batch_reports(inputs: dict[str, Any], result: Any, function: str) -> Iterator[tuple[NDArray, Any, str]]:
    """The reports of `batch_driver`, each with its batch and the words that say where.

    Args:
        inputs: The hidden inputs, with the list "batches".
        result: The driver's result, a dict with the list "batches" (or anything else a broken answer gave).
        function: The student's function, for the message.

    Yields:
        `(Z, report, where)` for each batch, in order: the batch as an array, the report (a dict, as the driver
        made it) and "of a (N, K) batch of logits up to M".

    Raises:
        checks.CheckFailure: There are no reports, or not one per batch (raised at the first step).
    """
    probes.require(isinstance(result, dict) and isinstance(result.get("batches"), list)
                   and len(result["batches"]) == len(inputs["batches"]), f"{function} gave too few results.")
    for Z, got in zip(inputs["batches"], result["batches"], strict=True):
        Z = np.array(Z)
        yield Z, got, f"of a {Z.shape} batch of logits up to {np.max(np.abs(Z)):.3g}"


def strict_value(got: Any, what: str, where: str) -> Any:
    """The value a driver's `strict()` call reported, unless the call hit a floating-point error.

    Args:
        got: The report: `[value, error]`, or a dict with keys "value" and "error".
        what: The student's function, for the message ("logsumexp").
        where: On what it was called ("of a (3, 4) batch of logits up to 900").

    Returns:
        The reported value (any data: `probes.close` judges it).

    Raises:
        checks.CheckFailure: No report, or an error, with `STABLE_HINT`.
    """
    probes.require(isinstance(got, (list, dict)), f"Your {what} {where} gave no result.")
    value, error = (got.get("value"), got.get("error")) if isinstance(got, dict) else (got + [None, None])[:2]
    probes.require(not error, f"Your {what} {where} hit a floating-point error ({error}). {STABLE_HINT}")
    return value


def untouched(got: Any, Z: NDArray, name: str) -> None:
    """Require that the student's `name` left its argument `Z` as it was given.

    Args:
        got: A driver's report, a dict whose "Z_after" is the argument as the function left it (raw data).
        Z: The argument as it was given.
        name: The student's function, for the message.

    Raises:
        checks.CheckFailure: Z was changed in place (or not reported).
    """
    after = got.get("Z_after") if isinstance(got, dict) else None
    probes.require(in_place.unchanged(after, Z),
                   f"Your {name} changed its argument Z in place; write Z - m, not Z -= m.")


def lse(Z: ArrayLike) -> NDArray[np.float64]:
    """log Σ_k exp(Z[n, k]) for each row n, in 40-digit arithmetic with unbounded exponents (mpmath).

    Args:
        Z: Logits of shape (N, K), any finite values.

    Returns:
        The N log-sum-exps, rounded to float64.
    """
    with mpmath.workdps(40):
        return np.array([float(mpmath.log(mpmath.fsum(mpmath.exp(v) for v in row))) for row in np.asarray(Z).tolist()])


def mean_smoothed_ce(Z: ArrayLike, labels: Sequence[int], s: float) -> float:
    r"""The mean label-smoothed cross-entropy, from its definition, in 40-digit arithmetic (mpmath):
    $\frac1N \sum_n \sum_k t_{nk}\,(\operatorname{lse}(Z_n) - Z_{nk})$ with $t_n = (1 - s)\,e_{y_n} + s/K$.

    Args:
        Z: Logits of shape (N, K), any finite values.
        labels: The N class indices $y_n$.
        s: The smoothing, from 0 (one-hot targets) to 1 (uniform targets).

    Returns:
        The loss, rounded to float64.
    """
    K = np.shape(Z)[1]
    with mpmath.workdps(40):
        terms = []
        for row, t in zip(np.asarray(Z).tolist(), labels, strict=True):
            lse = mpmath.log(mpmath.fsum(mpmath.exp(v) for v in row))
            terms += [((1 - mpmath.mpf(s)) * (k == t) + mpmath.mpf(s) / K) * (lse - row[k]) for k in range(K)]
        return float(mpmath.fsum(terms) / len(labels))


def softmax(Z: ArrayLike) -> NDArray[np.float64]:
    """The softmax of each row of Z, in 40-digit arithmetic with unbounded exponents (mpmath).

    Args:
        Z: Logits of shape (N, K), any finite values.

    Returns:
        The (N, K) probabilities, rounded to float64 (a probability below 1e-308 stays a subnormal number).
    """
    rows = []
    with mpmath.workdps(40):
        for row in np.asarray(Z).tolist():
            e = [mpmath.exp(v) for v in row]
            total = mpmath.fsum(e)
            rows.append([float(x / total) for x in e])
    return np.array(rows)
