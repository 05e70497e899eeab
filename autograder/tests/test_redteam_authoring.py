"""Red team of the "one exercise, one place" model, two rounds: each hole found, as the attack and the safe outcome.

1. The hidden region ran at the top level of the test cell, in the student's namespace, so its helpers (`_lse`,
   `_inputs`, ...) replaced the student's own names in the kernel only. The build now runs it inside one function
   (`grading.exercises.kernel_region`).
2. The kernel's JSON round trip and the probe runner's disagreed (`np.longdouble` recursed without end; other
   forms passed in one place only). Both now use `calcml.probes.plain`.
3. Unit 05's mlp probe decided in the student's process whether parameters() returned the model's own Values
   (`all(p is q ...)`, fooled by patching `all`, then `zip`). It is now checked by behaviour: two calls of
   parameters(), each nudged by distinct amounts, must move the model's outputs as NumPy predicts.
4. The hidden checks and the drivers read builtins (`sum`, `min`, `id`, `type`, ...) from the student's namespace,
   so a correct notebook with a variable named like a builtin lost points. The region now imports the builtins it
   reads, and drivers get the real ones (`calcml.probes.driver_scope`).

Each test builds the attack and asserts the safe outcome; each failed before its fix. `test_pipeline_*` run the
whole pipeline (`grading.grade` in a copy of the course).
"""

from __future__ import annotations

import collections
import json
import symtable
import sys
import textwrap

import numpy as np
import pytest

from calcml import probes
from grading import exercises, manifest, submissions

# one worker builds this module's graded classes (session fixtures) once: `--dist loadgroup`
pytestmark = pytest.mark.xdist_group("redteam_authoring")

UNIT07 = "07_loss_gradients"

# A correct answer whose helper is named like one the hidden region of logsumexp defines (`_lse`). The student's
# keeps the dimension, for broadcasting.
LSE_HELPER = {
    "07_loss_gradients-logsumexp-solution": textwrap.dedent('''
        def _lse(Z):
            """Row-wise log-sum-exp, shape (N, 1), for broadcasting."""
            m = np.max(Z, axis=1, keepdims=True)
            return m + np.log(np.sum(np.exp(Z - m), axis=1, keepdims=True))


        def logsumexp(Z):
            return _lse(Z)[:, 0]
        '''),
    "07_loss_gradients-stable_softmax-solution": textwrap.dedent('''
        def stable_softmax(Z):
            return np.exp(Z - _lse(Z))
        '''),
}

# A correct answer computed in extended precision: its values are np.longdouble.
LONGDOUBLE = {
    "07_loss_gradients-logsumexp-solution": textwrap.dedent('''
        def logsumexp(Z):
            Z = np.asarray(Z, dtype=np.longdouble)  # extended precision
            m = np.max(Z, axis=1, keepdims=True)
            return m[:, 0] + np.log(np.sum(np.exp(Z - m), axis=1))
        '''),
}


def _exercise(unit_id: str, grade_id: str) -> exercises.Exercise:
    return {e.grade_id: e for e in exercises.read(manifest.unit(unit_id))}[grade_id]


def _run_test_cell_here(unit_id: str, grade_id: str, student_code: str) -> dict:
    """The student's code, then the exercise's hidden region, in one namespace, as the kernel runs the test cell."""
    namespace: dict = {"__name__": "__main__"}
    exec("import numpy as np\n" + student_code, namespace)  # noqa: S102
    exec(compile(exercises.kernel_region(_exercise(unit_id, grade_id).hidden), "<test cell>", "exec"), namespace)  # noqa: S102
    return namespace


# ----------------------------------------------------------------------------------------------------------
# 1. The hidden region clobbers the student's names in the kernel


def test_hidden_region_leaves_a_students_helper_alone() -> None:
    """A correct logsumexp with a helper `_lse` passes its own hidden test in the kernel."""
    code = LSE_HELPER["07_loss_gradients-logsumexp-solution"]
    namespace = _run_test_cell_here(UNIT07, "07_loss_gradients-logsumexp", code)  # raised IndexError before the fix
    assert namespace["_lse"].__code__.co_filename == "<string>"


def test_hidden_region_leaves_a_students_helper_for_later_exercises() -> None:
    """After the logsumexp test cell, the student's stable_softmax still finds the student's own `_lse`."""
    code = LSE_HELPER["07_loss_gradients-logsumexp-solution"] + LSE_HELPER["07_loss_gradients-stable_softmax-solution"]
    namespace: dict = {"__name__": "__main__"}
    exec("import numpy as np\n" + code, namespace)  # noqa: S102
    with probes.recording():  # only the bindings of the region, not its checks
        region = exercises.kernel_region(_exercise(UNIT07, "07_loss_gradients-logsumexp").hidden)
        exec(compile(region, "<test cell>", "exec"), namespace)  # noqa: S102
    Z = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    np.testing.assert_allclose(namespace["stable_softmax"](Z).sum(axis=1), 1.0)  # raised ValueError before the fix


def _bound_names(source: str) -> set[str]:
    table = symtable.symtable(source, "<hidden>", "exec")
    return {s.get_name() for s in table.get_symbols() if s.is_assigned() or s.is_imported() or s.is_namespace()}


@pytest.mark.parametrize("unit_id", [u["id"] for u in manifest.load()["units"]])
def test_no_hidden_region_rebinds_a_name_of_the_students(unit_id: str) -> None:
    """No name the hidden region binds (helpers, imports, `_inputs`, `_verify`, ...) replaces the student's in the
    kernel, and the region's one private name (`exercises.PRIVATE`) is gone afterwards."""
    clobbered = {}
    for exercise in exercises.read(manifest.unit(unit_id)):
        if exercise.manual:
            continue  # a manually graded answer has no hidden region
        names = _bound_names(exercise.hidden)
        sentinels = {name: object() for name in names}
        namespace = {"__name__": "__main__", **sentinels}
        with probes.recording():
            exec(compile(exercises.kernel_region(exercise.hidden), "<hidden>", "exec"), namespace)  # noqa: S102
        assert exercises.PRIVATE not in namespace
        changed = sorted(n for n, s in sentinels.items() if namespace.get(n) is not s)
        if changed:
            clobbered[exercise.grade_id] = changed
    assert not clobbered, clobbered


# ----------------------------------------------------------------------------------------------------------
# 2. The kernel's JSON round trip and the probe runner's disagree


def _runner_plain():
    from grading import probe_process

    namespace: dict = {"__name__": "probe_runner_under_test"}
    exec(compile(probe_process.RUNNER.read_text(encoding="utf-8"), "probe_runner.py", "exec"), namespace)  # noqa: S102
    return namespace["plain"]


def _outcome(convert, value):
    try:
        return "ok", json.dumps(convert(value), sort_keys=True)
    except Exception as error:  # noqa: BLE001
        return "rejected", type(error).__name__


def test_kernel_round_trip_accepts_extended_precision() -> None:
    limit = sys.getrecursionlimit()
    try:
        assert probes.as_json(np.longdouble(0.5)) == 0.5  # RecursionError before the fix
        assert probes.as_json(np.array([0.25, 0.5], dtype=np.longdouble)) == [0.25, 0.5]
    finally:
        sys.setrecursionlimit(limit)


FORMS = {
    "longdouble": np.longdouble(1.5),
    "longdouble array": np.ones(3, dtype=np.longdouble),
    "np.str_": np.str_("tanh"),
    "string array": np.array(["a", "b"]),
    "int key": {0: 1.0},
    "defaultdict": collections.defaultdict(list, {"a": [1.0]}),
    "float subclass": type("F", (float,), {})(1.0),
    "masked array": np.ma.array([1.0, 2.0], mask=[False, True]),
}


@pytest.mark.parametrize("form", list(FORMS))
def test_kernel_and_probe_runner_convert_a_result_alike(form: str) -> None:
    """One form of a result: accepted (as the same JSON) in both places, or rejected in both."""
    value = FORMS[form]
    kernel = _outcome(lambda v: probes.as_json(v), value)
    runner = _outcome(lambda v: json.loads(json.dumps(_runner_plain()(v))), value)
    assert kernel[0] == runner[0] and (kernel[0] == "rejected" or kernel == runner), (kernel, runner)


def test_longdouble_answer_passes_in_the_kernel() -> None:
    """The extended-precision logsumexp passes its hidden test in the kernel, as it does out of it."""
    _run_test_cell_here(UNIT07, "07_loss_gradients-logsumexp", LONGDOUBLE["07_loss_gradients-logsumexp-solution"])


# ----------------------------------------------------------------------------------------------------------
# Confirmed through the whole pipeline: grading.grade, sandbox and integrity on, in a copy of the course


@pytest.fixture(scope="session")
def graded_07(tmp_path_factory):
    import hostile

    root = hostile.course(tmp_path_factory, "redteam07")
    entry = manifest.unit(UNIT07)
    students = {"helper": submissions.fill(submissions.solved(entry), LSE_HELPER),
                "extended": submissions.fill(submissions.solved(entry), LONGDOUBLE),
                "control": submissions.solved(entry)}
    hostile.write(root, students, UNIT07)
    hostile.run(root, UNIT07, workers=1)
    return root


@pytest.mark.slow
def test_pipeline_control_earns_full_marks(graded_07) -> None:
    import hostile

    for exercise in manifest.unit(UNIT07)["exercises"]:
        points = float(exercise["points"])
        assert hostile.gradebook_grade(graded_07, "control", exercise["grade_id"], UNIT07)[0] == points


@pytest.mark.slow
@pytest.mark.parametrize("grade_id", ["07_loss_gradients-logsumexp", "07_loss_gradients-stable_softmax",
                                      "07_loss_gradients-smoothed_cross_entropy_grad"])
def test_pipeline_a_correct_helper_named_like_a_hidden_one_keeps_its_points(graded_07, grade_id: str) -> None:
    import hostile

    points = {e["grade_id"]: float(e["points"]) for e in manifest.unit(UNIT07)["exercises"]}
    doc = hostile.integrity_doc(graded_07, "helper", UNIT07)
    report = next(iter(doc["notebooks"].values()))
    assert report["exercises"][grade_id]["passed"] is True  # out of kernel: passes
    assert hostile.gradebook_grade(graded_07, "helper", grade_id, UNIT07)[0] == points[grade_id]


@pytest.mark.slow
def test_pipeline_an_extended_precision_answer_keeps_its_points(graded_07) -> None:
    import hostile

    grade_id = "07_loss_gradients-logsumexp"
    doc = hostile.integrity_doc(graded_07, "extended", UNIT07)
    report = next(iter(doc["notebooks"].values()))
    assert report["exercises"][grade_id]["passed"] is True
    assert hostile.gradebook_grade(graded_07, "extended", grade_id, UNIT07)[0] == 1.0


# ----------------------------------------------------------------------------------------------------------
# 3. A verdict the driver computes in the student's process: 05_autograd-mlp trusts the driver's `same`
#    (`all(p is q for ...)`), and `all` is a builtin the notebook can replace there (and in the kernel).

UNIT05 = "05_autograd"

ALL_LIES = """
import builtins as _b, sys as _s
_real_all = _b.all
def _all(iterable):
    frame = _s._getframe(1)
    if "params" in frame.f_locals or "params" in frame.f_globals:  # the driver's and the visible test's frames
        return True
    return _real_all(iterable)
_b.all = _all
"""


def _wrong_parameters(kind: str) -> str:
    source = submissions.solution_cells(manifest.unit(UNIT05))["05_autograd-mlp-solution"]
    new = {"copies": "        return [Value(w.data) for w in self.w] + [Value(self.b.data)]  # copies\n",
           "bias first": "        return [self.b] + self.w\n"}[kind]
    wrong = source.replace("        return self.w + [self.b]\n", new)
    assert wrong != source
    return wrong


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["copies", "bias first"])
def test_mlp_parameters_check_is_not_decided_in_the_probe_process(tmp_path, kind: str) -> None:
    import hostile

    from grading import integrity

    entry = manifest.unit(UNIT05)
    notebook = hostile.inject(submissions.fill(submissions.solved(entry),
                                               {"05_autograd-mlp-solution": _wrong_parameters(kind)}), ALL_LIES)
    path = submissions.write(notebook, tmp_path / "nb.ipynb")
    verdicts = integrity.check(UNIT05, "ada", path, sandboxed=True, secret=b"k" * 32)
    assert not verdicts["05_autograd-mlp"].passed  # passed before the fix: the driver computed `same`


@pytest.fixture(scope="session")
def graded_05(tmp_path_factory):
    import hostile

    root = hostile.course(tmp_path_factory, "redteam05")
    entry = manifest.unit(UNIT05)
    wrong = {"05_autograd-mlp-solution": _wrong_parameters("copies")}
    students = {"liar": hostile.inject(submissions.fill(submissions.solved(entry), wrong), ALL_LIES),
                "honest": submissions.fill(submissions.solved(entry), wrong)}
    hostile.write(root, students, UNIT05)
    hostile.run(root, UNIT05, workers=1)
    return root


@pytest.mark.slow
def test_pipeline_a_wrong_parameters_loses_the_mlp_points_without_tampering(graded_05) -> None:
    import hostile

    assert hostile.gradebook_grade(graded_05, "honest", "05_autograd-mlp", UNIT05)[0] == 0.0


@pytest.mark.slow
def test_pipeline_a_wrong_parameters_loses_the_mlp_points_with_all_replaced(graded_05) -> None:
    import hostile

    assert hostile.gradebook_grade(graded_05, "liar", "05_autograd-mlp", UNIT05)[0] == 0.0  # 3.0 before the fix


# ----------------------------------------------------------------------------------------------------------
# Third red team (re-check of the fixes)
#
# 4. The wrap keeps the hidden region's writes off the student's names, but not its reads: every builtin the
#    region's functions (`_verify`, `_inputs`, helpers) and the driver call (`min`, `max`, `sum`, `all`, `id`,
#    `type`, `len`, ...) is looked up in the student's namespace first. A correct answer with a top-level variable
#    named like one (`min = 0`, `type = "tanh"`) passes its visible test and loses the exercise in the kernel
#    (verify) or in both places (driver: no disagreement flag, a silent 0).
# 5. 05 mlp's nudge check is still decided by code running among the student's objects: a `zip` that, called from
#    the driver, swaps `params` for the driver's own `structure` makes any wrong parameters() pass; and a
#    parameters() right on the first call only (a cached generator, exhausted after one call) passes too.

SHADOWED_BUILTIN = [  # (unit, grade_id, top-level line of the student's) -- each passes the visible test
    ("06_gradient_descent", "06_gradient_descent-best_fixed_step", "min = 0  # the smallest step tried"),
    ("06_gradient_descent", "06_gradient_descent-momentum", "all = []  # every run, for the plot"),
    ("04_computational_graphs", "04_computational_graphs-count_paths", "type = 'tanh'"),
    ("01_derivatives", "01_derivatives-central_difference", "sum = 0.0  # driver: fails out of kernel too"),
    ("04_computational_graphs", "04_computational_graphs-topological_sort", "id = 7  # driver: out of kernel too"),
]


@pytest.mark.parametrize(("unit_id", "grade_id", "line"), SHADOWED_BUILTIN)
def test_hidden_checks_do_not_read_a_students_variable_named_like_a_builtin(unit_id: str, grade_id: str,
                                                                             line: str) -> None:
    """The reference solutions of the unit, a student's top-level variable named like a builtin, then the test
    cell's hidden region (kernel form): the hidden checks pass, as the visible test does."""
    manual = {e.grade_id for e in exercises.read(manifest.unit(unit_id)) if e.manual}  # markdown answers
    solutions = "\n".join(source for solution_id, source in submissions.solution_cells(manifest.unit(unit_id)).items()
                           if solution_id not in manual)
    _run_test_cell_here(unit_id, grade_id, solutions + "\n" + line + "\n")  # TypeError: 'int' object is not callable


@pytest.mark.slow
@pytest.mark.parametrize(("unit_id", "grade_id", "line"), [c for c in SHADOWED_BUILTIN if "driver" in c[2]])
def test_probe_driver_does_not_read_a_students_variable_named_like_a_builtin(tmp_path, unit_id: str,
                                                                            grade_id: str, line: str) -> None:
    import hostile

    from grading import integrity

    notebook = hostile.inject(submissions.solved(manifest.unit(unit_id)), line)
    path = submissions.write(notebook, tmp_path / "nb.ipynb")
    verdicts = integrity.check(unit_id, "ada", path, sandboxed=True, secret=b"k" * 32)
    assert verdicts[grade_id].passed, verdicts[grade_id].message  # "TypeError: 'float' object is not callable"


ZIP_LIES = """
import builtins as _b, sys as _s
_real_zip = _b.zip
def _zip(*args, **kwargs):
    frame = _s._getframe(1)
    scope = {**frame.f_globals, **frame.f_locals}
    if args and "params" in scope and args[0] is scope["params"]:
        if "structure" in scope and not callable(scope["structure"]):  # the driver: nudge the model's own Values
            args = (scope["structure"],) + args[1:]
        elif "expected" in scope:  # the visible check_mlp
            args = (scope["expected"],) + args[1:]
    return _real_zip(*args, **kwargs)
_b.zip = _zip
"""


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["copies", "bias first"])
def test_mlp_nudge_check_is_not_fooled_by_a_zip_that_swaps_params(tmp_path, kind: str) -> None:
    import hostile

    from grading import integrity

    entry = manifest.unit(UNIT05)
    notebook = hostile.inject(submissions.fill(submissions.solved(entry),
                                               {"05_autograd-mlp-solution": _wrong_parameters(kind)}), ZIP_LIES)
    path = submissions.write(notebook, tmp_path / "nb.ipynb")
    verdicts = integrity.check(UNIT05, "ada", path, sandboxed=True, secret=b"k" * 32)
    assert not verdicts["05_autograd-mlp"].passed  # passed before the fix


def _first_call_only_parameters() -> str:
    source = submissions.solution_cells(manifest.unit(UNIT05))["05_autograd-mlp-solution"]
    old = "        return [p for layer in self.layers for p in layer.parameters()]\n"
    new = ("        if not hasattr(self, '_params'):  # built once, then cached\n"
           "            self._params = (p for layer in self.layers for p in layer.parameters())\n"
           "        return list(self._params)  # a generator: empty from the second call on\n")
    assert source.count(old) == 1
    return source.replace(old, new)


@pytest.mark.slow
def test_mlp_parameters_right_on_the_first_call_only_loses_the_points(tmp_path) -> None:
    """model.parameters() is called once per training step: one that returns [] from the second call on trains
    nothing (the notebook's own training cell crashes), yet passed both checks before the fix."""
    from grading import integrity

    notebook = submissions.fill(submissions.solved(manifest.unit(UNIT05)),
                                {"05_autograd-mlp-solution": _first_call_only_parameters()})
    path = submissions.write(notebook, tmp_path / "nb.ipynb")
    verdicts = integrity.check(UNIT05, "ada", path, sandboxed=True, secret=b"k" * 32)
    assert not verdicts["05_autograd-mlp"].passed  # passed before the fix
