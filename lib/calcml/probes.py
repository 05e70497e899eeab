"""One definition of an exercise's hidden checks, run in two places.

An exercise's hidden tests are written once, in its test cell, as three parts:

- `inputs(rng)` draws the hidden inputs from a NumPy generator, as plain JSON data;
- `driver`, Python source that calls the student's functions on `inputs` and assigns `result`, plain data only;
- `verify(inputs, result)` rebuilds the problem from `inputs` with its own code, computes the reference
  (`numdiff`, sympy, mpmath or an identity) and raises `checks.CheckFailure` with a teaching message.

`exercise(globals(), inputs=..., driver=..., verify=..., seed=...)` ends the hidden region. In the student's
kernel it runs all three in place, on the fixed `seed`: that is the in-kernel hidden test. The grader reads the
same region from the source notebook, `recording()` the parts instead of running them, and splits them across
the sandbox boundary: inputs drawn per student with a secret seed, the driver in a sandboxed process, `verify`
in the grader's own process. Only JSON crosses that boundary, so both places see `inputs` and `result` as JSON.

`close` and `require` are for `verify`: `result` comes from the student's code and may be anything.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import dataclasses
import json
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from calcml import checks, typed_by_hand


@dataclasses.dataclass(frozen=True)
class Parts:
    """An exercise's hidden checks as written in its test cell.

    Attributes:
        inputs: `inputs(rng)`, the hidden inputs as JSON data.
        driver: Source run in a copy of the student's namespace with `inputs` bound; it assigns `result`.
        verify: `verify(inputs, result)`, raises `checks.CheckFailure` when `result` is wrong.
        mechanism: How the grader checks the method on the submitted source, or None: a dict with the rule's
            name under `"rule"` and its keyword arguments (the grader's `grading.mechanism.rules`). The
            kernel cannot check it (the student's code could rewrite anything there), so it skips it.
    """

    inputs: Callable[[np.random.Generator], Any]
    driver: str
    verify: Callable[[Any, Any], None]
    mechanism: dict[str, Any] | None = None


#: Driver source defining `strict(fn, *args)`: `(fn(*args), "")`, or `(None, message)` when NumPy overflows,
#: divides by zero or makes a NaN on the way (a FloatingPointError, or NumPy's RuntimeWarning about it), or Python
#: overflows. Any other warning is only a warning: the notebook's own warning filters are reset for the call, so a
#: correct answer that warns about something else keeps its points. The message only explains a failure: the
#: numbers decide.
STRICT_CALL = """
import warnings

import numpy as np

def strict(fn, *args):
    try:
        with warnings.catch_warnings(), np.errstate(over="raise", divide="raise", invalid="raise", under="ignore"):
            warnings.resetwarnings()
            warnings.filterwarnings("error", message="(?i).*(overflow|invalid value|divide by zero) encountered",
                                    category=RuntimeWarning)
            return fn(*args), ""
    except (FloatingPointError, OverflowError, RuntimeWarning) as error:
        return None, f"{type(error).__name__}: {error}"
"""

MAX_DEPTH = 32  # the deepest nesting of lists and dicts in a result
_recorder: list[Parts] | None = None


@contextlib.contextmanager
def recording() -> Iterator[list[Parts]]:
    """While active, `exercise` records its parts in the yielded list instead of running them."""
    global _recorder
    previous, _recorder = _recorder, []
    try:
        yield _recorder
    finally:
        _recorder = previous


def exercise(namespace: dict[str, Any], *, inputs: Callable[[np.random.Generator], Any], driver: str,
             verify: Callable[[Any, Any], None], seed: int, mechanism: dict[str, Any] | None = None) -> None:
    """Run an exercise's hidden checks here, on `seed`'s inputs (or record them, see `recording`).

    Args:
        namespace: The student's namespace, `globals()`; the driver runs in a copy of it.
        inputs, driver, verify, mechanism: See `Parts`.
        seed: The seed of the in-kernel inputs (the grader draws each student's own).
    """
    parts = Parts(inputs, driver, verify, mechanism)
    if _recorder is not None:
        _recorder.append(parts)
        return
    data = as_json(inputs(np.random.default_rng(seed)))
    scope = driver_scope(namespace, driver, data, vars(builtins))
    exec(driver, scope)
    if "result" not in scope:
        raise checks.CheckFailure("The driver did not assign `result`.")
    verify(data, as_json(scope["result"]))
    if mechanism and mechanism.get("rule") == "literal_values":  # the one rule the kernel can read for itself
        typed_by_hand.check_in_kernel(mechanism["names"])


def driver_scope(namespace: dict[str, Any], driver: str, inputs: Any, real: dict[str, Any]) -> dict[str, Any]:
    """The namespace a driver runs in: a copy of the student's, with `inputs` bound and every builtin the driver
    reads (`sum`, `zip`, `id`, ...) bound to `real`, the builtins as they were before the student's code ran. A
    student's variable named `sum`, or a patched `zip`, changes the student's own functions only, never the driver.
    The sandbox's probe runner uses this very function too."""
    scope = dict(namespace)
    scope.update({name: real[name] for name in builtins_read(driver) if name in real})
    scope["inputs"] = inputs
    return scope


def builtins_read(source: str) -> list[str]:
    """The names of builtins that `source` reads (sorted), whether or not it binds them too."""
    names = {node.id for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Name)}
    return sorted(names & set(dir(builtins)))


def as_json(value: Any, *, allow_nan: bool = True) -> Any:
    """`value` after a JSON round trip of `plain(value)`, exactly as the sandbox boundary gives it."""
    return json.loads(json.dumps(plain(value), allow_nan=allow_nan))


def plain(value: Any, depth: int = 0) -> Any:
    """`value` as plain JSON data, or TypeError naming the first object that is not: None, bools, ints, floats and
    strings of exactly those types, lists and tuples, dicts with string keys, NumPy numbers and numeric arrays.
    Anything else (a subclass, an object with its own `__eq__`, an array of strings) is refused. The sandbox's
    probe runner uses this very function, so a result crosses both boundaries alike."""
    if depth > MAX_DEPTH:
        raise TypeError("the result is nested too deeply")
    kind = type(value)
    if value is None or kind in (bool, str, int, float):
        return value
    if kind in (list, tuple):
        return [plain(item, depth + 1) for item in value]
    if kind is dict:
        out = {}
        for key, item in value.items():
            if type(key) is not str:
                raise TypeError(f"a dict key of type {type(key).__name__}")
            out[key] = plain(item, depth + 1)
        return out
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.ndarray):
        array = np.asarray(value)
        if array.dtype.kind in "biuf":
            return plain(array.tolist(), depth + 1)
        if array.dtype.kind == "O":
            items = array.tolist()
            return [plain(item, depth + 1) for item in items] if array.ndim else plain(items, depth + 1)
        raise TypeError(f"an array of dtype {array.dtype}")
    raise TypeError(f"a {kind.__module__}.{kind.__qualname__} object")


def close(actual: Any, expected: Any, *, what: str, where: str = "", rtol: float | None = None,
          hint: str = "", batch_size: int | None = None) -> None:
    """`checks.assert_close` on an untrusted JSON value (None, strings and ragged lists fail cleanly)."""
    kwargs: dict[str, Any] = {"what": what, "where": where, "hint": hint, "batch_size": batch_size}
    if rtol is not None:
        kwargs["rtol"] = rtol
    place = f"{what}{' ' + where if where else ''}"
    if actual is None:
        raise checks.CheckFailure(f"Your {place} is missing (None)." + (f" {hint}" if hint else ""))
    try:
        checks.assert_close(actual, expected, **kwargs)
    except checks.CheckFailure:
        raise
    except (TypeError, ValueError) as error:
        raise checks.CheckFailure(f"Your {place} is not an array of numbers ({error}).") from None


def require(condition: Any, message: str) -> None:
    """Raise `checks.CheckFailure(message)` unless `condition` is a true bool (not merely a truthy value, such
    as a non-empty string or list that came back from the student's code)."""
    if not (isinstance(condition, (bool, np.bool_)) and condition):
        raise checks.CheckFailure(message)
