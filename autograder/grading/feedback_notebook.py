"""The feedback notebook: what nbgrader renders for a student, rewritten by `HideHiddenTests`.

`HideHiddenTests` is first in `c.GenerateFeedback.preprocessors` (see `autograder/nbgrader_config.py`), so a
hand-run `nbgrader generate_feedback` and formgrader's button get it too:

- the notebook is replaced by `sanitize.untrusted_notebook` (no script, no raw HTML, no widget state);
- test cells lose their `### BEGIN HIDDEN TESTS` ... `### END HIDDEN TESTS` regions (an unterminated region
  runs to the end of the cell) and **all** their outputs: in their place stands the grader's verdict, the
  score from the gradebook and the out-of-kernel check's message from `integrity.json` (`verdict_text`);
- other code cells keep only stream and error outputs, and only if they ran before the first test cell: later
  cells could print what the tests' source held, and any rich output, even an earlier one, can be rewritten
  through a display id while a test runs.

`grading.feedback` then checks the rendered pages.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
from nbconvert.preprocessors import Preprocessor

from grading.feedback import is_test_cell, strip_hidden

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
DETAIL_LIMIT = 600  # characters of the out-of-kernel message shown; it may quote the student's exception
REPORT_LIMIT = 4_000_000  # bytes of integrity.json read at most
KERNEL_OUTPUT_NOTE = ("[Output not shown in feedback: this cell ran after the first test cell, and what it printed "
                      "could carry the hidden tests.]")
RICH_OUTPUT_NOTE = "[Rich output (a figure, HTML, a value) is not shown in feedback: only printed text is.]"


def plain_text(text: object, limit: int = DETAIL_LIMIT) -> str:
    """`text` as short plain text: no ANSI or control characters, at most `limit` characters.

    The template escapes it (it becomes a `text/plain` output), so markup shows as text.
    """
    cleaned = ANSI.sub("", str(text))
    cleaned = re.sub(r"[^\S\n]+", " ", re.sub(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]", " ", cleaned)).strip()
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1].rstrip() + "…"


def gradebook_scores(resources: dict) -> dict[str, tuple[float | None, float | None, bool]]:
    """{grade_id: (score, max score, flagged for a manual look)} of this submission, from the gradebook
    named in nbgrader's `resources` ({} when there is none: the verdict then says the score is unknown)."""
    info = resources.get("nbgrader") or {}
    try:
        from nbgrader.api import Gradebook

        with Gradebook(info["db_url"]) as gb:
            notebook = gb.find_submission_notebook(info["notebook"], info["assignment"], info["student"])
            return {g.name: (g.score, g.max_score, bool(g.needs_manual_grade)) for g in notebook.grades}
    except Exception:
        return {}


def integrity_report(resources: dict) -> dict | None:
    """This notebook's out-of-kernel report from `integrity.json` beside the autograded notebook: None if there
    is no such file, {} if it cannot be read (the verdicts then say so)."""
    folder = (resources.get("metadata") or {}).get("path")
    notebook = (resources.get("nbgrader") or {}).get("notebook") or (resources.get("metadata") or {}).get("name")
    path = Path(folder or ".") / "integrity.json"
    if not folder or not path.is_file():
        return None
    try:
        with path.open("rb") as stream:
            doc = json.loads(stream.read(REPORT_LIMIT + 1)[:REPORT_LIMIT].decode("utf-8"))
        report = doc["notebooks"][notebook]
        return report if isinstance(report, dict) else {}
    except Exception:
        return {}


def student_safe(detail: object) -> str:
    """The out-of-kernel message as a student may see it. An exception the student's code raised is named by its
    type only: its text is the student's own, and could carry the grader's hidden inputs out to the next attempt."""
    from grading.probe_process import RAISED

    text = str(detail)
    if not text.startswith(RAISED):
        return text
    name = text[len(RAISED):].split(":", 1)[0].strip()
    shown = name if re.fullmatch(r"[A-Za-z_][\w.]{0,80}", name) else "an exception"
    return f"Your code raised {shown} on the grader's inputs (its message is not shown here)."


def verdict_text(grade_id: str, score: tuple[float | None, float | None, bool] | None,
                 report: dict | None) -> str:
    """The grader's message for one exercise: the score, then what the out-of-kernel check found."""
    points = "score not available"
    if score and score[0] is not None and score[1] is not None:
        points = f"{float(score[0]):g} / {float(score[1]):g} point{'s' if float(score[1]) != 1 else ''}"
    lines = [f"Grader's verdict for {plain_text(grade_id, 100)}: {points}."]
    if report is None:
        lines.append("This exercise was graded by the tests in this cell.")
    else:
        exercises = report.get("exercises") if isinstance(report.get("exercises"), dict) else {}
        check = exercises.get(grade_id)
        if not isinstance(check, dict):
            lines.append("No out-of-kernel result was recorded for this exercise; the instructor will look at it.")
        elif check.get("passed") is True:
            lines.append("Checked again outside your notebook, on inputs the grader chose: passed.")
        else:
            detail = plain_text(student_safe(check.get("detail") or "no details were recorded."))
            lines.append(f"Checked again outside your notebook, on inputs the grader chose: not passed. {detail}")
    if score and score[2]:
        lines.append("The instructor will look at this exercise by hand, so the score may still change.")
    lines.append("(Feedback shows the grader's verdict here, not what the cell printed while the tests ran.)")
    return "\n".join(lines)


class HideHiddenTests(Preprocessor):
    """Sanitise the notebook, cut hidden tests, and put the grader's verdicts in place of kernel output (see
    the module docstring)."""

    enabled = True

    def preprocess(self, nb, resources):
        from grading.sanitize import untrusted_notebook

        nb = untrusted_notebook(nb)
        scores = gradebook_scores(resources)
        report = integrity_report(resources)
        tests = [index for index, cell in enumerate(nb.cells) if is_test_cell(cell)]
        first_test = tests[0] if tests else len(nb.cells)
        for index, cell in enumerate(nb.cells):
            if is_test_cell(cell):
                cell.source = strip_hidden(cell.source)
                if cell.cell_type == "code":
                    grade_id = cell.metadata["nbgrader"].get("grade_id", "")
                    text = verdict_text(grade_id, scores.get(grade_id), report)
                    cell.outputs = [nbformat.v4.new_output("display_data", data={"text/plain": text})]
            elif cell.cell_type == "code" and cell.outputs:
                if index > first_test:
                    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=KERNEL_OUTPUT_NOTE)]
                else:
                    kept = [o for o in cell.outputs if o.output_type in ("stream", "error")]
                    if len(kept) < len(cell.outputs):
                        kept.append(nbformat.v4.new_output("stream", name="stdout", text=RICH_OUTPUT_NOTE))
                    cell.outputs = kept
        return nb, resources

