"""calcml.probes: an exercise's hidden checks run in place, or are recorded for the grader."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from calcml import checks, probes

DRIVER = "import numpy as np\nresult = {'y': square(np.array(inputs['x'])), 'seen': sorted(inputs)}"


def _inputs(rng):
    return {"x": rng.normal(size=3)}


def _verify(inputs, result):
    probes.close(result.get("y"), np.square(inputs["x"]), what="square")


def test_runs_the_driver_on_the_seeded_inputs_and_verifies_the_json_result() -> None:
    seen = []

    def verify(inputs, result):
        seen.append((inputs, result))
        _verify(inputs, result)

    namespace = {"square": np.square}
    probes.exercise(namespace, inputs=_inputs, driver=DRIVER, verify=verify, seed=7)
    (inputs, result), = seen
    assert inputs == {"x": np.random.default_rng(7).normal(size=3).tolist()}
    assert isinstance(result["y"], list), "the result crosses a JSON boundary, as in the sandbox"
    assert set(namespace) == {"square"}, "the driver runs in a copy of the student's namespace"


def test_a_wrong_answer_fails_with_the_verify_message() -> None:
    with pytest.raises(checks.CheckFailure, match="square"):
        probes.exercise({"square": lambda x: 2 * x}, inputs=_inputs, driver=DRIVER, verify=_verify, seed=7)


def test_a_driver_without_result_fails() -> None:
    with pytest.raises(checks.CheckFailure, match="result"):
        probes.exercise({}, inputs=_inputs, driver="pass", verify=_verify, seed=7)


def test_an_object_that_is_not_plain_data_fails_at_the_boundary() -> None:
    class AlwaysEqual:
        def __eq__(self, other):
            return True

    with pytest.raises(TypeError, match="AlwaysEqual object"):
        probes.exercise({"square": lambda x: AlwaysEqual()}, inputs=_inputs, driver=DRIVER, verify=_verify, seed=7)


def test_recording_keeps_the_parts_and_runs_nothing() -> None:
    with probes.recording() as recorded:
        probes.exercise({}, inputs=_inputs, driver=DRIVER, verify=_verify, seed=7,
                        mechanism={"rule": "no_recursion", "name": "square"})
    assert recorded == [probes.Parts(_inputs, DRIVER, _verify, {"rule": "no_recursion", "name": "square"})]
    with pytest.raises(NameError):  # outside the block, the call runs again (and `square` is not defined)
        probes.exercise({}, inputs=_inputs, driver=DRIVER, verify=_verify, seed=7)


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
                    max_leaves=10))
def test_as_json_is_the_identity_on_json_data(value) -> None:
    assert probes.as_json(value) == value


def _nested(depth: int) -> list:
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


def test_as_json_turns_numpy_values_into_plain_data_and_refuses_objects() -> None:
    value = {"a": np.arange(3), "b": (np.float64(1.5), np.int64(2), np.bool_(True)), "c": [np.zeros((2, 1))],
             "d": np.longdouble(0.25)}
    assert probes.as_json(value) == {"a": [0, 1, 2], "b": [1.5, 2, True], "c": [[[0.0], [0.0]]], "d": 0.25}
    for refused in ({"a": [object()]}, np.array([object()], dtype=object), {3: 1.0}, np.str_("tanh"),
                    np.array(["a"]), type("F", (float,), {})(1.0), _nested(40)):
        with pytest.raises(TypeError):
            probes.as_json(refused)
    with pytest.raises(ValueError):
        probes.as_json([float("nan")], allow_nan=False)


@pytest.mark.parametrize("actual", [None, "1.0", [[1.0], [2.0, 3.0]]])
def test_close_fails_cleanly_on_untrusted_values(actual) -> None:
    with pytest.raises(checks.CheckFailure, match="Your slope at x = 1"):
        probes.close(actual, [1.0, 2.0], what="slope", where="at x = 1")


def test_close_passes_equal_numbers_and_names_a_wrong_component() -> None:
    probes.close([1.0, 2.0], np.array([1.0, 2.0]), what="slope")
    with pytest.raises(checks.CheckFailure, match="component 1"):
        probes.close([1.0, 4.0], [1.0, 2.0], what="slope")


@pytest.mark.parametrize("condition", [False, 1, "yes", [True], math.nan, None])
def test_require_accepts_only_a_true_bool(condition) -> None:
    with pytest.raises(checks.CheckFailure, match="must hold"):
        probes.require(condition, "must hold")
    probes.require(True, "must hold")
    probes.require(np.bool_(True), "must hold")


def test_strict_call_reports_floating_point_errors_and_passes_clean_results() -> None:
    scope: dict = {}
    exec(probes.STRICT_CALL, scope)
    assert scope["strict"](np.exp, 1.0) == (pytest.approx(np.e), "")
    value, message = scope["strict"](np.exp, 1000.0)
    assert value is None and message.startswith("FloatingPointError") and "overflow" in message
    assert scope["strict"](np.exp, -1000.0) == (0.0, ""), "underflow to 0 is no error"


def test_a_driver_reads_the_real_builtins_whatever_the_student_named_a_variable() -> None:
    namespace = {"sum": 0.0, "zip": None, "square": np.square}
    probes.exercise(namespace, inputs=_inputs, driver="result = {'y': square(inputs['x']), 'n': sum([1, 2])}",
                    verify=lambda inputs, result: probes.require(result["n"] == 3, "sum is the builtin"), seed=3)
    assert namespace["sum"] == 0.0, "the student's own variable stays as it was"


def test_builtins_read_lists_the_builtin_names_a_source_reads() -> None:
    assert probes.builtins_read("x = sum(zip(a, b))\nid = 3\nprint(id)") == ["id", "print", "sum", "zip"]
    scope = probes.driver_scope({"len": "mine", "f": 1}, "result = len([f])", [1], {"len": len})
    assert scope["len"] is len and scope["f"] == 1 and scope["inputs"] == [1]
