"""The out-of-kernel integrity checks (`grading.integrity`, `grading.probe_runner`, the probes in the sources).

- every exercise of the manifest has a probe, and a correct submission passes every probe of every unit, for
  several students (which proves the specs right);
- every known-wrong answer (the sources' wrong-answer cells) fails its exercise's probe;
- hidden inputs are the same for a student on every run and differ between students;
- the probe process survives what a notebook can throw at it (exits, crashes, endless loops, huge or non-plain
  results, forged result lines), runs no test cell, restores locked cells, and is sandboxed;
- `check_and_apply` after a plain `nbgrader autograde` lowers a tampered score, flags it, and is idempotent.

The tampering cases run through the grading CLI in `test_cases_tampering.py`.
"""

from __future__ import annotations

import copy
import json
import sys
import textwrap

import nbformat
import pytest
from nbformat.v4 import new_code_cell

from grading import integrity, manifest, sandbox, submissions, workspace

UNITS = manifest.load()["units"]
UNIT_IDS = [entry["id"] for entry in UNITS]
STUDENTS = ("ada", "brahmagupta", "cauchy", "dedekind")


def wrong_answer_cases() -> list[tuple[str, str, int]]:
    cases = []
    for entry in UNITS:
        for solution_id, sources in submissions.wrong_answers(entry).items():
            cases += [(entry["id"], solution_id, k) for k in range(len(sources))]
    return cases


WRONG = wrong_answer_cases()
# Each unit's tests share one worker under `--dist loadgroup` (as the course-wide tests do), so that worker
# builds the unit's one batched probe run (`many`) and no other worker builds it again.
BY_UNIT = [pytest.param(unit_id, marks=pytest.mark.xdist_group(unit_id)) for unit_id in UNIT_IDS]
WRONG_BY_UNIT = [pytest.param(*case, marks=pytest.mark.xdist_group(case[0]), id=f"{case[1]}-{case[2]}")
                 for case in WRONG]


@pytest.fixture(scope="session")
def solved_paths(tmp_path_factory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("solved")
    return {unit_id: str(submissions.write(submissions.solved(manifest.unit(unit_id)), folder / unit_id / "nb.ipynb"))
            for unit_id in UNIT_IDS}


_MANY: dict[str, tuple[dict, object]] = {}


def many(unit_id: str, path: str):
    """One sandboxed probe process per unit: the correct notebook for several students, and every known-wrong
    answer of the unit substituted for its solution cell (a prelude run in the probe's own child process)."""
    if unit_id not in _MANY:
        probes = integrity.load_spec(unit_id)
        trials = [{"key": f"{student}:{grade_id}", "grade_id": grade_id, "student": student}
                  for student in STUDENTS for grade_id in probes]
        entry = manifest.unit(unit_id)
        for solution_id, sources in submissions.wrong_answers(entry).items():
            for k, source in enumerate(sources):
                trials.append({"key": f"wrong:{solution_id}:{k}", "grade_id": solution_id.removesuffix("-solution"),
                               "student": "eve", "prelude": source})
        _MANY[unit_id] = integrity.check_many(unit_id, path, trials)
    return _MANY[unit_id]


# ------------------------------------------------------------------------------------------------------- the specs


@pytest.mark.parametrize("unit_id", UNIT_IDS)
def test_every_exercise_has_a_probe(unit_id) -> None:
    probes = integrity.load_spec(unit_id)
    autograded = [e["grade_id"] for e in manifest.unit(unit_id)["exercises"] if not e.get("manual")]
    assert list(probes) == autograded, "every AUTOGRADED exercise has a probe (a manual one has none)"
    for probe in probes.values():
        assert isinstance(probe, integrity.Probe)
        compile(probe.driver, "<driver>", "exec")


@pytest.mark.parametrize("unit_id", UNIT_IDS)
def test_hidden_inputs_are_stable_per_student_and_differ_between_students(unit_id) -> None:
    first = integrity.make_inputs(unit_id, "ada")
    assert integrity.make_inputs(unit_id, "ada") == first, "a regrade must draw the same inputs"
    assert json.loads(json.dumps(first)) == first, "inputs must be plain JSON"
    other = integrity.make_inputs(unit_id, "brahmagupta")
    for grade_id in first:
        assert other[grade_id] != first[grade_id], f"two students got the same inputs for {grade_id}"
    course = integrity.make_inputs(unit_id, "ada", course_id="another-course")
    assert all(course[g] != first[g] for g in first), "the course id must enter the seed"


def test_seeds_are_64_bit_and_depend_on_every_part() -> None:
    key = b"k" * 32
    seed = integrity.seed_for("calcml", "ada", "01_derivatives-d_ratio", key)
    assert 0 <= seed < 2**64
    assert seed == integrity.seed_for("calcml", "ada", "01_derivatives-d_ratio", key)
    assert len({seed, integrity.seed_for("calcml", "ada", "01_derivatives-d_softplus", key),
                integrity.seed_for("calcml", "eve", "01_derivatives-d_ratio", key),
                integrity.seed_for("other", "ada", "01_derivatives-d_ratio", key),
                integrity.seed_for("calcml", "ada", "01_derivatives-d_ratio", b"j" * 32)}) == 5


@pytest.mark.slow
@pytest.mark.parametrize("unit_id", BY_UNIT)
def test_a_correct_submission_passes_every_probe(unit_id, solved_paths) -> None:
    verdicts = integrity.check(unit_id, "zeno", solved_paths[unit_id])
    run = integrity.last_run(unit_id, "zeno")
    assert run.status == "ok" and run.finished, run
    assert not run.cell_errors, run.cell_errors
    assert {g: v.message for g, v in verdicts.items() if not v.passed} == {}
    results, _ = many(unit_id, solved_paths[unit_id])
    failed = {key: v.message for key, v in results.items() if not key.startswith("wrong:") and not v.passed}
    assert failed == {}, "a correct answer failed a probe for some student"


@pytest.mark.slow
@pytest.mark.parametrize(("unit_id", "solution_id", "k"), WRONG_BY_UNIT)
def test_a_known_wrong_answer_fails_its_probe(unit_id, solution_id, k, solved_paths) -> None:
    results, _ = many(unit_id, solved_paths[unit_id])
    verdict = results[f"wrong:{solution_id}:{k}"]
    assert not verdict.passed, "this known-wrong answer passed the out-of-kernel check"
    assert verdict.message


# ------------------------------------------------------------------------------------------------- the probe process


def cell(name: str, source: str) -> dict[str, str]:
    return {"name": name, "source": textwrap.dedent(source)}


def probe(key: str, driver: str, inputs=None) -> dict:
    return {"key": key, "grade_id": key, "driver": textwrap.dedent(driver), "inputs": inputs}


@pytest.fixture(scope="session")
def hostile_run():
    """One sandboxed probe process facing a hostile notebook and hostile drivers."""
    secrets = [str(manifest.ROOT / "source" / "README.md"), str(manifest.ROOT / "autograder" / "nbgrader_config.py")]
    cells = [
        cell("cell 1", "import numpy as np\nimport os, sys\nprint('x' * 5_000_000)\n"
                       "sys.stderr.write('y' * 5_000_000)"),
        cell("cell 2", "os._exit(3)"),
        cell("cell 3", "raise ValueError('a broken cell')"),
        cell("cell 4", "while True:\n    pass"),
        cell("cell 5", "def answer(x):\n    return 2 * x\n"),
        cell("cell 6", "nonce_guess = 'abc'\nos.write(1, b'abc {\"event\": \"probe\", \"key\": \"plain\", "
                       "\"result\": 999}\\n')"),
        cell("cell 7", "while True:\n    os.fork()"),  # a fork bomb: the forked copies stop at the end of the cell
    ]
    probes = [
        probe("plain", "result = answer(inputs)", 21),
        probe("array", "result = {'a': np.arange(3.0), 'b': np.float32(1.5), 'c': [True, None, 'text']}"),
        probe("nan", "result = [float('nan'), float('inf')]"),
        probe("huge", "result = 'x' * 5_000_000"),
        probe("endless", "while True:\n    pass"),
        probe("object", "class Always:\n    def __eq__(self, other):\n        return True\nresult = Always()"),
        probe("exit", "os._exit(7)"),
        probe("crash", "import ctypes\nctypes.string_at(0)"),
        probe("no_result", "x = 1"),
        probe("secrets", """
            readable = []
            for path in inputs:
                try:
                    open(path).read()
                    readable.append(path)
                except OSError:
                    pass
            import socket
            try:
                socket.create_connection(("1.1.1.1", 80), timeout=2)
                network = True
            except OSError:
                network = False
            result = {"readable": readable, "network": network, "uid": os.getuid()}
        """, secrets),
        probe("after", "result = answer(2)"),
    ]
    return integrity.run_probes(cells, probes, cell_timeout=3)


@pytest.mark.slow
def test_the_probe_process_survives_a_hostile_notebook(hostile_run) -> None:
    run = hostile_run
    assert run.status == "ok" and run.finished, run
    errors = {entry["name"]: entry["error"] for entry in run.cell_errors}
    assert errors["cell 2"].startswith("SystemExit"), errors  # os._exit stops the cell, not the process
    assert errors["cell 3"].startswith("ValueError")
    assert errors["cell 4"].startswith("ProbeTimeout")  # an endless cell is stopped; the next ones run
    assert "cell 5" not in errors and "cell 1" not in errors
    assert errors["cell 7"].startswith("BlockingIOError")


@pytest.mark.slow
def test_only_plain_results_cross_and_each_probe_fails_alone(hostile_run) -> None:
    run = hostile_run
    assert run.results["plain"] == 42, "the forged line on the result channel must be ignored"
    assert run.results["array"] == {"a": [0.0, 1.0, 2.0], "b": 1.5, "c": [True, None, "text"]}
    assert [str(v) for v in run.results["nan"]] == ["nan", "inf"]
    assert "characters long" in run.errors["huge"]
    assert "TimeoutError" in run.errors["endless"] or "ProbeTimeout" in run.errors["endless"]
    assert "Always" in run.errors["object"] and "TypeError" in run.errors["object"]
    assert "SystemExit" in run.errors["exit"]
    assert "signal" in run.errors["crash"]
    assert "no result" in run.errors["no_result"]
    assert run.results["after"] == 4, "a probe after crashes and exits still runs"


@pytest.mark.slow
def test_the_probe_process_is_sandboxed(hostile_run) -> None:
    secrets = hostile_run.results["secrets"]
    assert secrets["readable"] == [], "the probe process could read course files"
    assert secrets["network"] is False
    assert secrets["uid"] != 0


def test_the_result_channel_needs_the_nonce_and_rejects_duplicates() -> None:
    stdout = "\n".join([
        'n0nce {"event": "probe", "key": "a", "result": 1}',
        'other {"event": "probe", "key": "b", "result": 2}',
        'n0nce {"event": "probe", "key": "c", "result": 3}',
        'n0nce {"event": "probe", "key": "c", "result": 4}',
        'n0nce not json',
        'n0nce {"event": "probe", "key": "z", "result": 5}',
        'n0nce {"event": "done"}',
    ])
    run = integrity.parse_output(stdout, "n0nce", ["a", "b", "c"], "ok", 1.0, [])
    assert run.results == {"a": 1} and run.finished
    assert "reported 2 results" in run.errors["c"]
    assert "b" not in run.results and "z" not in run.results


def test_the_refusal_without_a_sandbox_and_the_trusted_opt_out(monkeypatch, solved_paths) -> None:
    monkeypatch.setattr(sandbox, "isolation", lambda: sandbox.Isolation(False, "no bwrap here", "none", None, None))
    with pytest.raises(sandbox.SandboxUnavailable):
        integrity.check("02_gradients", "ada", solved_paths["02_gradients"])
    verdicts = integrity.check("02_gradients", "ada", solved_paths["02_gradients"], trusted=True)
    assert all(v.passed for v in verdicts.values())


# --------------------------------------------------------------------------------------------- what the process runs


def test_test_cells_never_run_and_locked_cells_come_from_the_release() -> None:
    entry = manifest.unit("04_computational_graphs")
    notebook = submissions.solved(entry)
    tests = [c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade") and c.cell_type == "code"]
    stripped = copy.deepcopy(tests[0])
    stripped.metadata = {}  # a test cell with its metadata stripped is still recognised by its source
    notebook.cells.append(stripped)
    helpers = next(c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade_id", "").endswith("helpers"))
    original = helpers.source
    helpers.source = "raise SystemExit('tampered helpers')"
    cells, notes = integrity.notebook_cells(notebook, entry, prune=False)
    sources = [c["source"] for c in cells if "source" in c]
    assert not any(t.source in sources for t in tests)
    markers = [c["probe"] for c in cells if "probe" in c]
    assert markers == [t.metadata["nbgrader"]["grade_id"] for t in tests], "each test cell leaves a marker"
    assert original in sources and "raise SystemExit('tampered helpers')" not in sources
    assert notes[0] == f"{len(tests) + 1} test cell(s) not run"


@pytest.mark.slow
def test_each_probe_sees_the_notebook_as_its_test_cell_saw_it(tmp_path) -> None:
    """A probe runs where its test cell stood: what later cells do (a redefinition, an exit, an endless loop)
    cannot change it, as it cannot change the test in the kernel."""
    entry = manifest.unit("01_derivatives")
    notebook = submissions.solved(entry)
    first = entry["exercises"][0]["grade_id"]
    name = submissions.solution_cells(entry)[f"{first}-solution"].split("def ", 1)[1].split("(", 1)[0]
    after = next(i for i, c in enumerate(notebook.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == first)
    notebook.cells.insert(after + 1, new_code_cell(f"def {name}(*args, **kwargs):\n    return 0.0"))
    notebook.cells.append(new_code_cell("import os\nos._exit(1)"))
    path = submissions.write(notebook, tmp_path / "nb.ipynb")
    verdicts = integrity.check("01_derivatives", "ada", path)
    assert all(v.passed for v in verdicts.values()), {g: v.message for g, v in verdicts.items() if not v.passed}


def test_pruning_keeps_the_students_own_cells_and_what_they_use() -> None:
    entry = manifest.unit("01_derivatives")
    notebook = submissions.solved(entry)
    index = next(i for i, c in enumerate(notebook.cells) if c.metadata.get("nbgrader", {}).get("grade_id")
                 == "01_derivatives-d_ratio-solution")
    notebook.cells.insert(index, new_code_cell("def _helper(x):\n    return 2 * x\n\nprint('mine')"))
    notebook.cells[index + 1].source = "def d_ratio(x):\n    return _helper(x) / 2 + sp_used(x)\n"
    notebook.cells.insert(index, new_code_cell("sp_used = lambda x: 0 * np.sin(x)"))
    probes = integrity.load_spec("01_derivatives")
    cells, _ = integrity.notebook_cells(notebook, entry, drivers=[p.driver for p in probes.values()])
    sources = "\n".join(c.get("source", "") for c in cells)
    assert "def _helper" in sources and "sp_used = lambda" in sources and "import numpy as np" in sources
    assert "plt.show()" not in sources  # the release's plots are not needed by any exercise


# ------------------------------------------------------------------------------- apply after plain nbgrader autograde


@pytest.mark.slow
def test_check_and_apply_lowers_a_tampered_score_flags_it_and_is_idempotent(tmp_path) -> None:
    from nbgrader.api import Gradebook

    unit_id, target = "01_derivatives", "01_derivatives-d_ratio"
    entry = manifest.unit(unit_id)
    wrong = submissions.with_wrong_answer(entry, f"{target}-solution",
                                          submissions.wrong_answers(entry)[f"{target}-solution"][0])
    tampered = copy.deepcopy(wrong)
    tampered.cells.insert(1, new_code_cell("from calcml import checks as _c, probes as _p\n"
                                           "_c.assert_close = _c.check_derivative = lambda *a, **k: None\n"
                                           "_p.close = _p.require = lambda *a, **k: None"))
    root = workspace.create(tmp_path / "course")
    scores = workspace.autograde(root, unit_id, {"good": submissions.solved(entry), "tampered": tampered})
    full = sum(e["points"] for e in entry["exercises"])
    assert scores["good"]["total"] == full and scores["tampered"]["total"] == full  # nbgrader was fooled
    gradebook = root / "autograder" / "gradebook.db"
    autograded = root / "autograder" / "autograded"
    lost = 0.0
    for _ in range(2):  # applying twice changes nothing
        for student in ("good", "tampered"):
            path = autograded / student / unit_id / f"{entry['notebook']}.ipynb"
            flags = [f.grade_id for f in integrity.check_and_apply(gradebook, unit_id, student, path)]
            # Rewiring calcml.checks also voids the source-read mechanism checks (they fail closed).
            source_checked = {g for g, p in integrity.load_spec(unit_id).items() if p.mechanism is not None}
            assert (target in flags and set(flags) <= {target, *source_checked}) if student == "tampered" else not flags
            lost = lost if student == "good" else sum(e["points"] for e in entry["exercises"] if e["grade_id"] in flags)
        report = integrity.read_report(autograded, "tampered", unit_id)
        exercise = report["notebooks"][entry["notebook"]]["exercises"][target]
        assert (exercise["in_kernel_score"], exercise["final_score"], exercise["passed"]) == (2.0, 0.0, False)
        assert any(flag.startswith(target) for flag in report["flags"]), report["flags"]
        assert integrity.read_report(autograded, "good", unit_id)["flags"] == []
    with Gradebook(f"sqlite:///{gradebook}") as gb:
        assert gb.find_submission_notebook(entry["notebook"], unit_id, "tampered").score == full - lost
        assert gb.find_submission_notebook(entry["notebook"], unit_id, "good").score == full
        assert gb.find_grade(target, entry["notebook"], unit_id, "tampered").needs_manual_grade


def test_a_notebook_that_cannot_be_read_fails_every_probe(tmp_path) -> None:
    path = tmp_path / "broken.ipynb"
    path.write_text("{ not json")
    verdicts = integrity.check("01_derivatives", "ada", path)
    assert verdicts and all(not v.passed and "could not be read" in v.message for v in verdicts.values())
    assert integrity.last_run("01_derivatives", "ada").status == "malformed"


def test_check_submission_reports_in_the_shape_the_grader_expects(tmp_path) -> None:
    entry = manifest.unit("02_gradients")
    notebook = submissions.solved(entry)
    first_test = next(c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade"))
    first_test.outputs = [nbformat.v4.new_output("error", ename="CheckFailure", evalue="x", traceback=[])]
    path = submissions.write(notebook, tmp_path / "nb.ipynb")
    report = integrity.check_submission(assignment="02_gradients", student="ada", notebook_path=str(path),
                                        workdir=str(tmp_path), trusted=False)
    assert report["ran"] is True and json.loads(json.dumps(report)) == report
    grade_id = first_test.metadata["nbgrader"]["grade_id"]
    assert set(report["exercises"]) == {e["grade_id"] for e in entry["exercises"]}
    assert all(e["passed"] and e["points"] == e["max_points"] for e in report["exercises"].values())
    assert report["exercises"][grade_id]["in_kernel_passed"] is False
    assert len(report["flags"]) == 1 and report["flags"][0].startswith(grade_id)
    assert integrity.check_submission(assignment="no_such_unit", student="ada", notebook_path=str(path))["ran"] \
        is False


def test_the_runner_is_self_contained() -> None:
    """The sandbox cannot see autograder/: the runner may import only the standard library, numpy and calcml (the
    student's own imports, which the sandbox binds read-only)."""
    source = integrity.RUNNER.read_text()
    for line in source.splitlines():
        if line.startswith(("import ", "from ")):
            module = line.split()[1].split(".")[0]
            assert module in sys.stdlib_module_names or module in ("numpy", "calcml"), line


# ------------------------------------------------------------------------------------- values worked out by hand


def _literal_check(source: str, name: str = "adjoint") -> None:
    from grading.mechanism import StudentCode, rules

    rules.literal_values([name])(StudentCode({}, (source,)))


@pytest.mark.parametrize("source", [
    'adjoint = {"L": 1, "w": 2 * -4, "x": -16 * -3 + -8 * -2, "p": math.pi}\nprint(adjoint)\nadjoint["x"]',
    'adjoint = dict(L=1.0, w=-8.0)\nadjoint["x"] = 64\nassert adjoint["x"] == 64\nprint(f"{adjoint}")',
    'from calcml import numdiff\nprint(numdiff.derivative(lambda t: t * t, 3.0))\nadjoint = {"L": 1}',
    'adjoint: dict = {"L": 1.0}\nfor name, value in adjoint.items():\n    print(name, value)',
])
def test_values_typed_by_hand_pass_the_literal_rule(source) -> None:
    _literal_check(source)


@pytest.mark.parametrize("source", [
    'adjoint = {"L": L.grad}', 'adjoint = {"w": numdiff.derivative(lambda t: t**2, -4.0)}',
    'w = -8\nadjoint = {"w": w}',
    'adjoint = {}\nadjoint["w"] = f(3)', 'adjoint = {"L": 1}\nadjoint.update(g())', 'adjoint = {k: 1.0 for k in "Lw"}',
    'a = adjoint = {"L": 1}', 'b = adjoint\nb["w"] = f()', 'for adjoint in [1]:\n    pass',
    'adjoint = {"L": 1}\nmutate(adjoint)', 'adjoint = {"L": True}', 'import adjoint',
    'adjoint = {"L": 1}\nglobals()["adjoint"] = g()', 'adjoint = {"L": sp.diff(t**2, t)}',
])
def test_values_computed_by_code_fail_the_literal_rule(source) -> None:
    from calcml import checks

    with pytest.raises(checks.CheckFailure, match="adjoint|globals"):
        _literal_check(source)
