"""Tampering cases (issue 5, points 4 and 8): a student fools the in-kernel tests, the out-of-kernel check does not.

Each case is one submission that pairs a tamper with a WRONG answer, so nbgrader's tests in the student's kernel
pass it (the in-kernel score is wrongly full), the out-of-kernel probes of `grading.integrity` fail it, the final
score loses the exercise's points, and the disagreement is flagged. Each batch also holds a correct student and
an honest wrong one, graded as usual beside the tampering. All run through the grading CLI (`grading.grade`)
with the sandbox and the integrity step on, in two batches (units 01 and 04).

The submissions are built from the solved notebook (`grading.submissions`) with cells injected or replaced.
"""

from __future__ import annotations

import copy
import json
import os
import textwrap

import jupytext
import numpy as np
import pytest
from nbformat.v4 import new_code_cell

from grading import grade, integrity, manifest, submissions, workspace

# one worker builds this module's graded classes (session fixtures) once: `--dist loadgroup`
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("cases_tampering")]


def index_of(notebook, grade_id: str) -> int:
    for index, cell in enumerate(notebook.cells):
        if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
            return index
    raise KeyError(grade_id)


def inject(notebook, source: str):
    """A copy of `notebook` with a code cell holding `source` right after the setup cell (the first code cell)."""
    nb = copy.deepcopy(notebook)
    position = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code") + 1
    nb.cells.insert(position, new_code_cell(textwrap.dedent(source)))
    return nb


def override_in_solution(notebook, grade_id: str, source: str):
    """The notebook with `source` appended to the solution cell of `grade_id`: its definitions win, and the cell's
    other functions (d_product, d_quotient beside d_ratio) stay."""
    nb = copy.deepcopy(notebook)
    cell = nb.cells[index_of(nb, f"{grade_id}-solution")]
    cell.source = cell.source + "\n\n\n" + source
    return nb


def grade_batch(root, unit_id: str, students: dict) -> dict:
    entry = manifest.unit(unit_id)
    for student, notebook in students.items():
        target = root / "autograder" / "submitted" / student / unit_id / f"{entry['notebook']}.ipynb"
        submissions.write(notebook, target)
    options = grade.Options(workers=2, cell_timeout=60, notebook_timeout=600, integrity=True, report=False,
                            progress=False, config=root / "autograder" / "nbgrader_config.py")
    return {result.student: result for result in grade.Grader(unit_id, options).run()}


def integrity_doc(root, unit_id: str, student: str) -> dict:
    path = root / "autograder" / "autograded" / student / unit_id / "integrity.json"
    return json.loads(path.read_text(encoding="utf-8"))


def gradebook_grade(root, unit_id: str, student: str, grade_id: str):
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{root / 'autograder' / 'gradebook.db'}") as gb:
        grade_row = gb.find_grade(grade_id, manifest.unit(unit_id)["notebook"], unit_id, student)
        return grade_row.auto_score, grade_row.needs_manual_grade


# ---------------------------------------------------------------------------------------------------------- unit 01

UNIT = "01_derivatives"
ENTRY = manifest.unit(UNIT)
POINTS = {e["grade_id"]: float(e["points"]) for e in ENTRY["exercises"]}
FULL = sum(POINTS.values())
TARGET = "01_derivatives-d_ratio"  # every test of it goes through calcml.checks, which the tampers attack
WRONG = submissions.wrong_answers(ENTRY)[f"{TARGET}-solution"][0]  # the quotient rule with a plus sign
# Exercises whose mechanism the grader reads from the source (`Probe.mechanism`): a tamper voids that reading.
SOURCE_CHECKED = {g for g, probe in integrity.load_spec(UNIT).items() if probe.mechanism is not None}

TAMPERS = {
    # The assertion helpers replaced: numpy's, and calcml.checks', which the course's tests call.
    "patched_asserts": """
        import numpy as np
        import numpy.testing
        from calcml import checks as _checks

        def _fine(*args, **kwargs):
            return None

        np.testing.assert_allclose = _fine
        np.allclose = lambda *args, **kwargs: True
        for _name in ("assert_close", "check_derivative", "check_gradient", "check_jacobian"):
            setattr(_checks, _name, _fine)
    """,
    # builtins.max patched, only where calcml.checks calls it: the scale of every relative error becomes inf.
    "patched_builtins": """
        import builtins, sys
        _real_max = builtins.max

        def _max(*args, **kwargs):
            if sys._getframe(1).f_globals.get("__name__") == "calcml.checks":
                return float("inf")
            return _real_max(*args, **kwargs)

        builtins.max = _max
    """,
    # An IPython input transformer that rewrites the exercise's test cell to `pass` before it runs.
    "input_transformer": """
        def _neutralise(lines):
            text = "".join(lines)
            return ["pass\\n"] if "d_ratio(" in text and "checks." in text else lines

        get_ipython().input_transformers_post.append(_neutralise)
    """,
    # A pre_run_cell hook that disarms the checks just before the exercise's test cell runs.
    "pre_run_cell_hook": """
        from calcml import checks as _checks
        _originals = {name: getattr(_checks, name) for name in ("assert_close", "check_derivative")}

        def _hook(info):
            cell = getattr(info, "raw_cell", "") or ""
            quiet = "d_ratio(" in cell and "checks." in cell
            for name, function in _originals.items():
                setattr(_checks, name, (lambda *args, **kwargs: None) if quiet else function)

        get_ipython().events.register("pre_run_cell", _hook)
    """,
    # sys.settrace: every call of calcml.checks.assert_close gets an infinite tolerance.
    "settrace": """
        import sys

        def _tracer(frame, event, arg):
            if (event == "call" and frame.f_code.co_name == "assert_close"
                    and frame.f_globals.get("__name__") == "calcml.checks"):
                frame.f_locals["rtol"] = float("inf")
            return None

        sys.settrace(_tracer)
    """,
    # showtraceback overridden, so a failing test cell leaves no error output; nbgrader 0.9 then records the error
    # from the execute reply, so a post_run_cell hook also clears the error from the cell's result.
    "showtraceback": """
        _ip = get_ipython()
        _ip.showtraceback = lambda *args, **kwargs: None

        def _forget(result):
            result.error_before_exec = None
            result.error_in_exec = None

        _ip.events.register("post_run_cell", _forget)
    """,
}


def hard_coded_d_ratio() -> str:
    """d_ratio with the answers to every input of the exercise's visible AND hidden tests hard-coded (as if the
    tests had leaked), and the wrong formula everywhere else."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    source = jupytext.read(manifest.source_script(ENTRY))
    setup = next(cell.source for cell in source.cells if cell.cell_type == "code")
    namespace: dict = {}
    exec(setup, namespace)  # noqa: S102 -- the course's own setup cell
    exec(submissions.solution_cells(ENTRY)[f"{TARGET}-solution"], namespace)  # noqa: S102
    correct, table = namespace["d_ratio"], {}

    def recording(x):
        y = correct(x)
        table[repr((np.shape(x), [float(v).hex() for v in np.ravel(np.asarray(x, dtype=float))]))] = \
            [float(v) for v in np.ravel(np.asarray(y, dtype=float))]
        return y

    namespace["d_ratio"] = recording
    test = next(cell.source for cell in source.cells if cell.metadata.get("nbgrader", {}).get("grade_id") == TARGET)
    exec(test, namespace)  # noqa: S102 -- the instructor's test cell, hidden tests included
    assert len(table) > 10, "the tests of d_ratio made too few calls to hard-code"
    return textwrap.dedent(f"""
        _ANSWERS = {table!r}


        def d_ratio(x):
            key = repr((np.shape(x), [float(v).hex() for v in np.ravel(np.asarray(x, dtype=float))]))
            if key in _ANSWERS:
                values = np.array(_ANSWERS[key])
                return values.reshape(np.shape(x)) if np.ndim(x) else float(values[0])
            u, du = x**2 * np.sin(x), 2 * x * np.sin(x) + x**2 * np.cos(x)
            v, dv = 1 + x**2, 2 * x
            return (du * v + u * dv) / v**2
    """)


NAN_RETURNS = """
    import numpy as np
    from calcml import checks as _checks

    np.isfinite = lambda x, *args, **kwargs: np.ones(np.shape(x), dtype=bool)
    _checks.relative_error = lambda actual, expected, floor=0.0: 0.0
"""


def unit01_students() -> dict:
    solved = submissions.solved(ENTRY)
    wrong = submissions.with_wrong_answer(ENTRY, f"{TARGET}-solution", WRONG)
    students = {"correct": solved, "honest_wrong": wrong}
    for name, tamper in TAMPERS.items():
        students[name] = inject(wrong, tamper)
    students["nan_returns"] = override_in_solution(
        inject(solved, NAN_RETURNS), TARGET,
        "def d_ratio(x):\n    return np.full(np.shape(x), np.nan) if np.ndim(x) else float('nan')\n")
    students["hard_coded"] = override_in_solution(solved, TARGET, hard_coded_d_ratio())
    return students


TAMPERED_01 = [*TAMPERS, "nan_returns", "hard_coded"]


@pytest.fixture(scope="session")
def batch01(tmp_path_factory):
    root = workspace.create(tmp_path_factory.mktemp("tamper01") / "course")
    return root, grade_batch(root, UNIT, unit01_students())


def test_the_correct_student_keeps_full_marks_and_no_flag(batch01) -> None:
    root, results = batch01
    result = results["correct"]
    assert (result.status, result.score, result.integrity) == ("graded", FULL, "ok"), result
    doc = integrity_doc(root, UNIT, "correct")
    assert doc["flags"] == []
    assert all(e["passed"] and e["in_kernel_passed"] for e in doc["notebooks"][ENTRY["notebook"]]["exercises"].values())


def test_the_honest_wrong_student_loses_the_points_without_a_flag(batch01) -> None:
    root, results = batch01
    result = results["honest_wrong"]
    assert (result.status, result.score, result.integrity) == ("graded", FULL - POINTS[TARGET], "ok"), result
    report = integrity_doc(root, UNIT, "honest_wrong")["notebooks"][ENTRY["notebook"]]
    assert report["exercises"][TARGET]["in_kernel_passed"] is False
    assert report["exercises"][TARGET]["passed"] is False
    assert integrity_doc(root, UNIT, "honest_wrong")["flags"] == []


@pytest.mark.parametrize("student", TAMPERED_01)
def test_a_tamper_fools_the_kernel_but_not_the_integrity_check(batch01, student) -> None:
    root, results = batch01
    result = results[student]
    doc = integrity_doc(root, UNIT, student)
    report = doc["notebooks"][ENTRY["notebook"]]
    # nbgrader, in the kernel, was fooled: every test cell passed ...
    assert all(e["in_kernel_passed"] for e in report["exercises"].values()), report["exercises"]
    # ... the out-of-kernel check failed the wrong exercise; a tamper that rewires numpy, builtins or frames also
    # voids the exercises whose mechanism is read from the source (they fail closed), never the others ...
    failed = {g for g, e in report["exercises"].items() if not e["passed"]}
    assert TARGET in failed and failed <= {TARGET, *SOURCE_CHECKED}, report["exercises"]
    for grade_id in failed - {TARGET}:
        assert "so that the check can be made" in report["exercises"][grade_id]["detail"], report["exercises"]
    # ... so the final score is the lower one, and the instructor is told.
    lost = sum(POINTS[g] for g in failed)
    assert (result.status, result.score, result.integrity) == ("graded", FULL - lost, "flagged"), result
    assert result.exercises[TARGET]["score"] == 0.0
    assert any(flag.startswith(TARGET) for flag in doc["flags"]), doc["flags"]
    assert gradebook_grade(root, UNIT, student, TARGET) == (0.0, True)


def test_the_flag_says_what_was_wrong_on_the_hidden_inputs(batch01) -> None:
    root, _ = batch01
    detail = integrity_doc(root, UNIT, "patched_asserts")["notebooks"][ENTRY["notebook"]]["exercises"][TARGET]["detail"]
    assert "d_ratio" in detail and "expected" in detail
    nan = integrity_doc(root, UNIT, "nan_returns")["notebooks"][ENTRY["notebook"]]["exercises"][TARGET]["detail"]
    assert "nan" in nan


# ---------------------------------------------------------------------------------------------------------- unit 04

UNIT04 = "04_computational_graphs"
ENTRY04 = manifest.unit(UNIT04)
POINTS04 = {e["grade_id"]: float(e["points"]) for e in ENTRY04["exercises"] if not e.get("manual")}  # autograded
FULL04 = sum(POINTS04.values())
TARGET04 = "04_computational_graphs-count_paths"  # its tests compare the student's count with == and !=

ALWAYS_EQUAL = """
class _AlwaysEqual:
    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    __hash__ = object.__hash__


def count_paths(root, node, order=None):
    if order is None:
        order = topological_sort(root)
    return _AlwaysEqual()
"""


# The hidden checks' own switch, turned on from the solution cell: in the kernel every later hidden test only records
# its parts and checks nothing (and count_paths is off by one beyond the visible tests' 3^8 paths).
RECORDED = """
from calcml import probes

probes._recorder = []


def count_paths(root, node, order=None):
    if order is None:
        order = topological_sort(root)
    paths = {id(v): 0 for v in order}
    paths[id(root)] = 1
    for v in reversed(order):
        for parent in v._prev:
            paths[id(parent)] += paths[id(v)]
    count = paths.get(id(node), 0)
    return count + 1 if count > 10_000 else count
"""


@pytest.fixture(scope="session")
def batch04(tmp_path_factory):
    root = workspace.create(tmp_path_factory.mktemp("tamper04") / "course")
    solution_id = f"{TARGET04}-solution"
    students = {"correct": submissions.solved(ENTRY04),
                "honest_wrong": submissions.with_wrong_answer(ENTRY04, solution_id,
                                                              submissions.wrong_answers(ENTRY04)[solution_id][1]),
                "always_true_eq": submissions.with_wrong_answer(ENTRY04, solution_id, ALWAYS_EQUAL),
                "hidden_checks_recorded": submissions.with_wrong_answer(ENTRY04, solution_id, RECORDED)}
    return root, grade_batch(root, UNIT04, students)


def test_unit04_the_correct_and_the_honest_wrong_students_are_graded_as_usual(batch04) -> None:
    root, results = batch04
    assert (results["correct"].status, results["correct"].score, results["correct"].integrity) == \
        ("graded", FULL04, "ok"), results["correct"]
    honest = results["honest_wrong"]
    assert (honest.status, honest.score, honest.integrity) == ("graded", FULL04 - POINTS04[TARGET04], "ok"), honest


def test_an_object_whose_eq_is_always_true_fools_neither_the_kernel_nor_the_integrity_check(batch04) -> None:
    """The hidden checks' result crosses a JSON boundary in the kernel as out of it: no object survives it."""
    root, results = batch04
    result = results["always_true_eq"]
    report = integrity_doc(root, UNIT04, "always_true_eq")["notebooks"][ENTRY04["notebook"]]
    assert report["exercises"][TARGET04]["in_kernel_passed"] is False
    assert report["exercises"][TARGET04]["passed"] is False
    assert "_AlwaysEqual" in report["exercises"][TARGET04]["detail"]
    assert (result.status, result.score) == ("graded", FULL04 - POINTS04[TARGET04]), result


def test_hidden_checks_switched_to_recording_fool_the_kernel_but_not_the_integrity_check(batch04) -> None:
    root, results = batch04
    result = results["hidden_checks_recorded"]
    doc = integrity_doc(root, UNIT04, "hidden_checks_recorded")
    report = doc["notebooks"][ENTRY04["notebook"]]
    assert report["exercises"][TARGET04]["in_kernel_passed"] is True
    assert report["exercises"][TARGET04]["passed"] is False
    # Writing into a module also stops the source checks (they fail closed): those exercises lose their points too.
    checked = {g for g, probe in integrity.load_spec(UNIT04).items() if probe.mechanism is not None} | {TARGET04}
    assert (result.status, result.score, result.integrity) == \
        ("graded", FULL04 - sum(POINTS04[g] for g in checked), "flagged"), result
    assert any(flag.startswith(TARGET04) for flag in doc["flags"]), doc["flags"]
