"""Robustness cases (issue 5, point 8): one submission per case, all in ONE grading batch with good students.

Each case asserts its status and score, and the batch asserts that the good students beside it are still
graded correctly. The submissions are built from the unit's solved notebook with one cell injected or
changed (`grading.submissions`), never committed as files. Tampering cases (monkeypatching, hooks, traces)
live in the integrity tests.
"""

from __future__ import annotations

import copy
import json
import socket
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell

from grading import config, grade, manifest, submissions, workspace

# one worker builds this module's graded classes (session fixtures) once: `--dist loadgroup`
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("cases_robustness")]

UNIT = "01_derivatives"
CELL_TIMEOUT = 25  # seconds: ample for any cell of the unit, short enough for the infinite loop
ENTRY = manifest.unit(UNIT)
POINTS = {exercise["grade_id"]: float(exercise["points"]) for exercise in ENTRY["exercises"]}
FULL = sum(POINTS.values())
GRADE_IDS = [exercise["grade_id"] for exercise in ENTRY["exercises"]]
FIRST, SECOND, LAST = GRADE_IDS[0], GRADE_IDS[1], GRADE_IDS[-1]


def index_of(notebook, grade_id: str) -> int:
    for index, cell in enumerate(notebook.cells):
        if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
            return index
    raise KeyError(grade_id)


def inject(notebook, source: str, after: str | None = None):
    """A copy of `notebook` with a code cell holding `source` after the cell `after` (default: the setup cell,
    the first code cell)."""
    nb = copy.deepcopy(notebook)
    first_code = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")
    position = index_of(nb, after) + 1 if after else first_code + 1
    nb.cells.insert(position, new_code_cell(source))
    return nb


def wrong_last():
    """The solved notebook with a known-wrong answer for the last exercise."""
    solution_id = f"{LAST}-solution"
    return submissions.with_wrong_answer(ENTRY, solution_id, submissions.wrong_answers(ENTRY)[solution_id][0])


@pytest.fixture(scope="session")
def batch(tmp_path_factory):
    root = workspace.create(tmp_path_factory.mktemp("robust") / "course")
    autograder = root / "autograder"
    submitted = autograder / "submitted"
    solved = submissions.solved(ENTRY)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    port = listener.getsockname()[1]
    secrets = [root / "source" / UNIT / f"{ENTRY['notebook']}.py", autograder / "gradebook.db",
               submitted / "good1" / UNIT / f"{ENTRY['notebook']}.ipynb",
               autograder / "autograded" / "good1" / UNIT / f"{ENTRY['notebook']}.ipynb",
               f"../{ENTRY['notebook']}.ipynb",  # its own notebook as the grader runs it, hidden tests included
               f"../../../good1/{UNIT}/{ENTRY['notebook']}.ipynb", manifest.ROOT / "source" / "README.md"]
    reader = (f"for path in {[str(s) for s in secrets]!r}:\n    try:\n        text = open(path).read()\n"
              "        print('LEAK', path, len(text))\n"
              "    except OSError as error:\n        print('blocked', type(error).__name__)\n")
    stripped = wrong_last()
    test = stripped.cells[index_of(stripped, LAST)]
    test.metadata = {}
    test.source = "pass  # the test was here"
    edited = wrong_last()
    edited.cells[index_of(edited, LAST)].source = "pass  # nothing to see"
    deleted = wrong_last()
    del deleted.cells[index_of(deleted, LAST)]
    nan = submissions.solved(ENTRY)
    nan_cell = nan.cells[index_of(nan, f"{FIRST}-solution")]
    name = nan_cell.source.split("def ", 1)[1].split("(", 1)[0]
    nan_cell.source += (f"\n\n_{name} = {name}\n\ndef {name}(*args, **kwargs):\n"
                        f"    return _{name}(*args, **kwargs) * float('nan')\n")
    noisy = submissions.solved(ENTRY)
    noisy_cell = noisy.cells[index_of(noisy, f"{FIRST}-solution")]
    noisy_cell.source += (f"\n\nimport sys as _sys, warnings as _warnings\n_{name}_quiet = {name}\n\n"
                          f"def {name}(*args, **kwargs):\n"
                          f"    print('debugging on stderr', file=_sys.stderr)\n"
                          f"    _warnings.warn('a harmless warning')\n"
                          f"    return _{name}_quiet(*args, **kwargs)\n")
    cases = {
        "good1": solved,
        "good2": solved,
        "wrong_last": wrong_last(),
        "reads_secrets": inject(solved, reader),
        "network": inject(solved, "import socket\ntry:\n"
                                  f"    socket.create_connection(('127.0.0.1', {port}), timeout=3)\n"
                                  "    print('CONNECTED')\nexcept OSError as error:\n    print('blocked', error)\n"),
        "infinite_loop": inject(solved, "while True:\n    pass"),
        # After every test: the memory it holds (its traceback keeps `hog` alive) cannot break later cells.
        "memory_bomb": inject(solved, "hog = []\nwhile True:\n    hog.append(np.ones(8 << 20))", after=LAST),
        "fork_bomb": inject(solved, "import os\nwhile True:\n    os.fork()"),
        "os_exit": inject(solved, "import os\nos._exit(3)", after=SECOND),
        "huge_output": inject(solved, "for _ in range(400):\n    print('x' * 100_000)"),
        "edited_test": edited,
        "deleted_test": deleted,
        "stripped_test": stripped,
        "stderr_and_warning": noisy,
        "nan_returns": nan,
    }
    path = f"{ENTRY['notebook']}.ipynb"
    for student, notebook in cases.items():
        submissions.write(notebook, submitted / student / UNIT / path)
    text = nbformat.writes(solved)
    (submitted / "malformed_json" / UNIT).mkdir(parents=True)
    (submitted / "malformed_json" / UNIT / path).write_text(text[: len(text) // 2])
    (submitted / "wrong_nbformat" / UNIT).mkdir(parents=True)
    (submitted / "wrong_nbformat" / UNIT / path).write_text(nbformat.writes(nbformat.convert(solved, 3)))
    (submitted / "renamed" / UNIT).mkdir(parents=True)
    (submitted / "renamed" / UNIT / f"{ENTRY['notebook']} (1).ipynb").write_text(text)
    options = grade.Options(workers=2, cell_timeout=CELL_TIMEOUT, notebook_timeout=400,
                            max_output_bytes=2 << 20, integrity=False, report=False, progress=False,
                            config=autograder / "nbgrader_config.py")
    grader = grade.Grader(UNIT, options)
    grader.ensure_assignment()
    with grader.gradebook() as gb:
        gb.add_student("ghost")  # on the roster, never submitted
    try:
        results = {r.student: r for r in grader.run()}
    finally:
        listener.close()
    return root, results


def executed(root: Path, student: str):
    path = root / "autograder" / "autograded" / student / UNIT / f"{ENTRY['notebook']}.ipynb"
    return nbformat.read(path, as_version=4)


def outputs_text(notebook) -> str:
    return "\n".join(json.dumps(cell.get("outputs", [])) for cell in notebook.cells if cell.cell_type == "code")


def exercise_scores(result) -> dict[str, float]:
    return {grade_id: result.exercises[grade_id]["score"] for grade_id in POINTS}


def test_the_good_students_beside_every_case_get_full_marks(batch) -> None:
    _, results = batch
    for student in ("good1", "good2"):
        assert results[student].status == "graded", results[student]
        assert results[student].score == FULL, results[student]


def test_a_wrong_answer_loses_exactly_its_points(batch) -> None:
    _, results = batch
    result = results["wrong_last"]
    assert result.status == "graded"
    assert result.score == FULL - POINTS[LAST]


def test_reading_the_source_the_gradebook_or_another_student_is_blocked(batch) -> None:
    root, results = batch
    result = results["reads_secrets"]
    assert (result.status, result.score) == ("graded", FULL), result
    text = outputs_text(executed(root, "reads_secrets"))
    assert "LEAK" not in text
    assert text.count("blocked") == 7


def test_a_network_connection_fails(batch) -> None:
    root, results = batch
    assert (results["network"].status, results["network"].score) == ("graded", FULL), results["network"]
    text = outputs_text(executed(root, "network"))
    assert "CONNECTED" not in text and "blocked" in text


def test_an_infinite_loop_times_out_and_the_rest_still_runs(batch) -> None:
    _, results = batch
    result = results["infinite_loop"]
    assert result.status == "timeout", result
    assert result.score == FULL, result  # the loop was interrupted; every test after it ran and passed
    assert any("time limit" in note for note in result.notes)


def test_a_memory_bomb_raises_memory_error_and_the_rest_still_runs(batch) -> None:
    root, results = batch
    result = results["memory_bomb"]
    assert (result.status, result.score) == ("graded", FULL), result
    assert "MemoryError" in outputs_text(executed(root, "memory_bomb"))


def test_a_fork_bomb_is_contained(batch) -> None:
    root, results = batch
    result = results["fork_bomb"]
    assert (result.status, result.score) == ("graded", FULL), result
    assert "BlockingIOError" in outputs_text(executed(root, "fork_bomb"))  # the fork that hit the limit
    assert any("left running by cells were killed" in note for note in result.notes), result.notes


def test_os_exit_is_a_crash_and_keeps_only_the_tests_that_ran(batch) -> None:
    root, results = batch
    result = results["os_exit"]
    assert result.status == "crashed", result
    ran = list(POINTS)[: list(POINTS).index(SECOND) + 1]
    assert exercise_scores(result) == {g: (POINTS[g] if g in ran else 0.0) for g in POINTS}
    assert result.score == sum(POINTS[g] for g in ran)
    assert all(result.exercises[g]["needs_manual_grade"] for g in POINTS if g not in ran)
    assert "NotExecuted" in outputs_text(executed(root, "os_exit"))


def test_a_huge_output_is_cut_and_the_notebook_still_graded(batch) -> None:
    root, results = batch
    result = results["huge_output"]
    assert (result.status, result.score) == ("graded", FULL), result
    assert any("truncated" in note for note in result.notes)
    size = (root / "autograder" / "autograded" / "huge_output" / UNIT / f"{ENTRY['notebook']}.ipynb").stat().st_size
    assert size < 4 << 20


@pytest.mark.parametrize("student", ["malformed_json", "wrong_nbformat"])
def test_malformed_notebooks_score_zero_with_a_reason(batch, student) -> None:
    _, results = batch
    result = results[student]
    assert (result.status, result.score, result.max_score) == ("malformed", 0.0, FULL), result
    assert result.notes and ("JSON" in result.notes[0] or "nbformat 3" in result.notes[0])
    assert all(e["needs_manual_grade"] for e in result.exercises.values())


@pytest.mark.parametrize("student", ["edited_test", "deleted_test", "stripped_test"])
def test_tampered_test_cells_are_restored_and_run(batch, student) -> None:
    _, results = batch
    result = results[student]
    assert result.status == "graded", result
    assert exercise_scores(result) == {g: (0.0 if g == LAST else POINTS[g]) for g in POINTS}


def test_a_correct_answer_that_prints_to_stderr_and_warns_keeps_its_points(batch) -> None:
    root, results = batch
    assert (results["stderr_and_warning"].status, results["stderr_and_warning"].score) == ("graded", FULL)
    assert "debugging on stderr" in outputs_text(executed(root, "stderr_and_warning"))


def test_nan_returns_lose_the_points(batch) -> None:
    _, results = batch
    result = results["nan_returns"]
    assert result.status == "graded"
    assert exercise_scores(result)[FIRST] == 0.0
    assert result.score <= FULL - POINTS[FIRST]


def test_missing_submissions_are_reported(batch) -> None:
    _, results = batch
    assert (results["ghost"].status, results["ghost"].score) == ("missing", 0.0)
    renamed = results["renamed"]  # its only notebook, renamed by the student: graded, with a note saying so
    assert (renamed.status, renamed.score) == ("graded", FULL), renamed
    assert any("(1).ipynb graded as" in note for note in renamed.notes), renamed.notes


def test_every_student_has_a_status_file_and_no_zero_is_silent(batch) -> None:
    root, results = batch
    for student, result in results.items():
        status = json.loads((root / "autograder" / "autograded" / student / UNIT / "grading.json").read_text())
        assert status["status"] == result.status in config.STATUSES
        if result.score == 0 and result.status == "graded":
            raise AssertionError(f"{student}: a graded zero in a batch where no case should score 0")
