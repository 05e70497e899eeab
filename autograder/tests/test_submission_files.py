"""Issue 9, class 6: the grader reads only regular files that belong to the submission.

A unit folder, a student folder or a notebook in `submitted/` that is a symbolic link is not followed (it could
lead to the instructor's solutions or a classmate's work); a file the sandbox could replace with a link is read
through the descriptor the grader holds; and the files beside a notebook come from an allowlist of data files,
so none of them can shadow a module on the kernel's `sys.path`.
"""

from __future__ import annotations

import csv
import os

import hostile
import nbformat
import pytest
from nbconvert.filters import markdown2html

from grading import bwrap, manifest, report

# one worker builds this module's graded classes (session fixtures) once: `--dist loadgroup`
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("submission_files")]

NOTEBOOK = f"{hostile.ENTRY['notebook']}.ipynb"
MARKER = "TOP-SECRET-LINE-THAT-ONLY-THE-GRADER-MAY-READ"
SHADOWS = {
    "ipykernel_launcher.py": "raise SystemExit('the student replaced the kernel')\n",
    "numpy.py": "raise ImportError('shadowed numpy')\n",
    "sitecustomize.py": "print('student code at start-up')\n",
    "calcml/__init__.py": "raise ImportError('shadowed calcml')\n",
    "calcml/checks.py": "def check_derivative(*a, **k):\n    pass\n",
    "numpy.cpython-311-x86_64-linux-gnu.so": "not an ELF file, but the import system would try it first\n",
    "easy.pth": "import os; os.environ['PWNED'] = '1'\n",
}
INJECTION = "=HYPERLINK(\"http://x\") <script>alert(1)</script> [click](javascript:alert(1)) | `x`"
LISTING = "import os\nprint('LISTING', sorted(os.listdir('.')))\nprint('DATA', open('data.csv').read().strip())"


@pytest.fixture(scope="session")
def graded(tmp_path_factory):
    root = hostile.course(tmp_path_factory, "files")
    submitted = root / "autograder" / "submitted"
    secret_file = root / "source" / "instructor-only.txt"
    secret_file.write_text("nothing to see\n" + MARKER + "\n")
    solution_notebook = root / "source" / hostile.UNIT / NOTEBOOK  # the instructor's, with every solution
    assert solution_notebook.exists()
    # The kernel's log sits beside its connection file, whose path is on the kernel's command line.
    log_swap = ("import os, sys\nlog = os.path.join(os.path.dirname(sys.argv[sys.argv.index('-f') + 1]), "
                f"'kernel.log')\nos.remove(log)\nos.symlink({str(secret_file)!r}, log)\nos._exit(1)")
    # A FIFO in place of the log: a grader that opened it by its path would wait forever.
    log_fifo = ("import os, sys\nlog = os.path.join(os.path.dirname(sys.argv[sys.argv.index('-f') + 1]), "
                "'kernel.log')\nos.remove(log)\nos.mkfifo(log)\nos._exit(1)")
    injector = hostile.solved()
    injector.cells[hostile.index_of(injector, "01_derivatives-central_difference-solution")].source = (
        f"def central_difference(f, x, h):\n    raise ValueError({INJECTION!r})")
    hostile.write(root, {
        "honest": hostile.solved(),
        "shadows": hostile.inject(hostile.solved(), LISTING),
        "log_swap": hostile.inject(hostile.untouched(), log_swap),
        "log_fifo": hostile.inject(hostile.untouched(), log_fifo),
        "injector": injector,
    })
    for name, text in SHADOWS.items():
        path = hostile.submission_folder(root, "shadows") / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (hostile.submission_folder(root, "shadows") / "data.csv").write_text("1,2,3\n")
    # Links: a unit folder, a notebook, a student folder.
    (submitted / "linked_unit").mkdir()
    os.symlink(root / "source" / hostile.UNIT, submitted / "linked_unit" / hostile.UNIT)
    hostile.submission_folder(root, "linked_notebook").mkdir(parents=True)
    os.symlink(solution_notebook, hostile.notebook_path(root, "linked_notebook"))
    os.symlink(submitted / "honest", submitted / "linked_student")
    results = hostile.run(root)
    report.write_all(root / "autograder" / "nbgrader_config.py", assignments=[hostile.UNIT])
    return root, results


def solution_lines() -> list[str]:
    from grading import feedback, submissions

    return [line for source in submissions.solution_cells(hostile.ENTRY).values()
            for line in feedback.solution_lines(source) if len(line.strip()) > 25]


@pytest.mark.parametrize("student", ["linked_unit", "linked_notebook", "linked_student"])
def test_a_linked_submission_is_malformed_and_nothing_behind_the_link_is_graded(graded, student) -> None:
    root, results = graded
    result = results[student]
    assert (result.status, result.score) == ("malformed", 0), (result.status, result.score, result.notes)
    assert any("symbolic link" in note for note in result.notes), result.notes
    graded_notebook = hostile.autograded(root, student) / NOTEBOOK
    if graded_notebook.exists():
        text = graded_notebook.read_text()
        assert not [line for line in solution_lines() if line in text], "the instructor's solutions were graded"


def test_files_that_could_shadow_a_module_are_left_out_and_data_files_kept(graded) -> None:
    root, results = graded
    result = results["shadows"]
    assert (result.status, result.score) == ("graded", hostile.FULL), result.notes
    assert any("left out of grading" in note for note in result.notes), result.notes
    cells = nbformat.read(hostile.autograded(root, "shadows") / NOTEBOOK, as_version=4).cells
    outputs = "".join(o.get("text", "") for c in cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "LISTING" in outputs and "DATA 1,2,3" in outputs, outputs[:2000]
    listing = next(line for line in outputs.splitlines() if line.startswith("LISTING"))
    for name in SHADOWS:
        assert name.split("/")[0] not in listing, f"{name} reached the kernel's folder: {listing}"


def test_the_kernel_log_is_read_through_the_grader_s_descriptor_not_a_planted_link(graded) -> None:
    root, results = graded
    result = results["log_swap"]
    assert result.status == "crashed", result.notes
    status = (hostile.autograded(root, "log_swap") / "grading.json").read_text()
    assert MARKER not in status, "the grader followed a link the kernel planted and copied the file into the notes"
    assert MARKER not in (root / "autograder").joinpath("grades.csv").read_text() \
        if (root / "autograder" / "grades.csv").exists() else True


def test_the_honest_student_is_graded(graded) -> None:
    _, results = graded
    assert (results["honest"].status, results["honest"].score) == ("graded", hostile.FULL)
    assert manifest.unit(hostile.UNIT)  # the layout the links point into is the real one


def test_a_kernel_log_swapped_for_a_fifo_cannot_stall_the_class(graded) -> None:
    _, results = graded
    assert results["log_fifo"].status == "crashed", results["log_fifo"].notes


def test_text_from_a_submission_is_inert_in_the_report_and_the_csv(graded) -> None:
    root, results = graded
    assert results["injector"].score < hostile.FULL
    page = (root / "autograder" / "report" / hostile.UNIT / "report.md").read_text()
    assert "alert(" in page, "the injected message should be quoted in the report (escaped), or the test is void"
    html = markdown2html(page).lower()
    assert "<script" not in html and 'href="javascript' not in html, html[-3000:]
    with open(root / "autograder" / "grades.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            assert not any(str(v).startswith(("=", "+", "-", "@")) for v in row.values()), row


def test_two_live_sandboxes_never_share_a_uid(monkeypatch) -> None:
    """A uid shared by two students' sandboxes would let one signal the other and read its folder."""
    seen = set()
    for pid in (2, 3, 97, 98, 32767, 4_194_303):
        monkeypatch.setattr(bwrap.os, "getpid", lambda pid=pid: pid)
        for _ in range(bwrap.UIDS_PER_PROCESS):
            seen.add(bwrap.fresh_uid())
    assert len(seen) == 6 * bwrap.UIDS_PER_PROCESS
