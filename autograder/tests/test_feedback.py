"""Feedback HTML never shows a hidden test or a solution (nbgrader #1363), checked line by line."""

from __future__ import annotations

import copy

import jupytext
import nbformat
import pytest
from nbconvert import HTMLExporter

from grading import feedback, feedback_notebook, grade, manifest, samples, submissions, workspace

# one worker builds this module's graded classes (session fixtures) once: `--dist loadgroup`
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("feedback")]

UNIT = "01_derivatives"
ENTRY = manifest.unit(UNIT)
NOTEBOOK = f"{ENTRY['notebook']}.ipynb"


def source_secrets() -> tuple[list[str], list[str], str]:
    """Hidden-test lines and solution lines, read straight from the jupytext source (not via the gradebook),
    and the release notebook's text (what every student may see)."""
    source = jupytext.read(manifest.source_script(ENTRY))
    hidden, solutions = [], []
    for cell in source.cells:
        hidden += feedback.hidden_lines(cell.source)
        solutions += feedback.solution_lines(cell.source)
    release = "\n".join(cell.source for cell in submissions.release(ENTRY).cells)
    return hidden, solutions, release


@pytest.fixture(scope="session")
def graded(tmp_path_factory):
    root = workspace.create(tmp_path_factory.mktemp("feedback") / "course")
    notebooks = {name: nb for name, nb in samples.samples(ENTRY).items() if name in ("wrong", "partial")}
    deleted = copy.deepcopy(notebooks["wrong"])  # a deleted test cell comes back with its hidden tests
    last = ENTRY["exercises"][-1]["grade_id"]
    deleted.cells = [c for c in deleted.cells if c.metadata.get("nbgrader", {}).get("grade_id") != last]
    notebooks["deleted"] = deleted
    for student, notebook in notebooks.items():
        submissions.write(notebook, root / "autograder" / "submitted" / student / UNIT / NOTEBOOK)
    config = root / "autograder" / "nbgrader_config.py"
    grade.Grader(UNIT, grade.Options(workers=2, integrity=False, report=False, progress=False, config=config)).run()
    return root, config, notebooks


def test_feedback_pages_hold_no_hidden_test_and_no_solution_line(graded) -> None:
    root, config, notebooks = graded
    assert feedback.main([UNIT, "--config", str(config)]) == 0
    hidden, solutions, release = source_secrets()
    assert len(hidden) > 10 and len(solutions) > 3, "the unit should have hidden tests and solutions to hide"
    for student, notebook in notebooks.items():
        page = root / "autograder" / "feedback" / student / UNIT / f"{ENTRY['notebook']}.html"
        html = page.read_text()
        own = "\n".join(cell.source for cell in notebook.cells)
        secrets = feedback.secret_lines(hidden + solutions, [release, own])
        assert secrets, "nothing secret left to check"
        assert feedback.leaks(html, secrets) == [], f"{student}'s feedback shows hidden tests or solutions"
        text = feedback.html_text(html)
        for exercise in ENTRY["exercises"]:  # each test cell shows the grader's verdict, not the kernel's output
            assert f"Grader's verdict for {exercise['grade_id']}: " in text
        assert "This exercise was graded by the tests in this cell." in text  # no integrity.json here
        assert "output_error" not in html  # no error output made in the kernel
        assert not (page.parent / "grading.json").exists()


def test_without_the_guard_nbgrader_feedback_would_leak(graded) -> None:
    """The check above can fail: the same autograded notebook rendered as plain nbgrader does leaks."""
    root, _, _ = graded
    autograded = nbformat.read(root / "autograder" / "autograded" / "wrong" / UNIT / NOTEBOOK, as_version=4)
    hidden, solutions, release = source_secrets()
    own = "\n".join(cell.source for cell in autograded.cells if not feedback.is_test_cell(cell))
    secrets = feedback.secret_lines(hidden, [release, own])
    plain, _ = HTMLExporter().from_notebook_node(copy.deepcopy(autograded))
    assert feedback.leaks(plain, secrets), "plain rendering should show the hidden tests"
    hidden_away = feedback_notebook.HideHiddenTests().preprocess(copy.deepcopy(autograded), {})[0]
    guarded, _ = HTMLExporter().from_notebook_node(hidden_away)
    assert feedback.leaks(guarded, secrets) == []
    assert any(o.output_type == "error" for c in autograded.cells if feedback.is_test_cell(c) for o in c.outputs)
    for cell in hidden_away.cells:
        if feedback.is_test_cell(cell):  # the kernel's outputs are gone; the grader's verdict stands in their place
            assert [o.output_type for o in cell.outputs] == ["display_data"]
            assert cell.outputs[0].data["text/plain"].startswith("Grader's verdict for ")


def test_a_leaking_page_is_caught_and_deleted(graded, capsys) -> None:
    root, config, _ = graded
    assert feedback.main([UNIT, "--student", "partial", "--config", str(config)]) == 0
    page = root / "autograder" / "feedback" / "partial" / UNIT / f"{ENTRY['notebook']}.html"
    hidden, _, release = source_secrets()
    secret = feedback.secret_lines(hidden, [release])[0]
    page.write_text(page.read_text() + f"<pre>{secret}</pre>")
    assert list(feedback.remove_leaks(config, UNIT, ["partial"])) == [str(page)]
    assert not page.exists()
    assert "LEAK" in capsys.readouterr().err
