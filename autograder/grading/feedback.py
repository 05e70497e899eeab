"""Students' feedback without hidden tests or solutions: `python -m grading.feedback A [--student S ...]`.

`nbgrader generate_feedback` renders the autograded notebook, whose test cells were restored from the
gradebook *with* their hidden tests (nbgrader #1363), and IPython tracebacks quote the failing test line.
Two guards, so neither a hand-run `nbgrader generate_feedback` nor formgrader's button can leak:

1. `HideHiddenTests`, first in `c.GenerateFeedback.preprocessors` (see `autograder/nbgrader_config.py`):
   in every test cell it cuts the `### BEGIN HIDDEN TESTS` ... `### END HIDDEN TESTS` regions out of the
   source (an unterminated region runs to the end of the cell), and reduces each error output's traceback
   to its last line, the exception and its message (a CheckFailure says what is wrong, never the code).
2. After rendering, `python -m grading.feedback` scans every HTML file for each line of the hidden tests
   (from the gradebook) and of the solutions (from the source notebook) that the student could not have
   seen or written; a file that contains one is deleted and the command fails.

The gradebook never holds solutions: nbgrader saves cells after clearing them.
"""

from __future__ import annotations

import argparse
import html
import re
import subprocess
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

import nbformat
from nbconvert.preprocessors import Preprocessor

BEGIN, END = "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"
SOLUTION_BEGIN, SOLUTION_END = "BEGIN SOLUTION", "END SOLUTION"
MIN_LINE = 12  # shorter lines ("x = 1.0", ")") are too common to mean a leak
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
TAGS = re.compile(r"<[^>]+>")


def strip_hidden(source: str) -> str:
    """`source` without its hidden-test regions (markers included)."""
    kept, hidden = [], False
    for line in source.split("\n"):
        if BEGIN in line:
            hidden = True
            continue
        if END in line and hidden:
            hidden = False
            continue
        if not hidden:
            kept.append(line)
    return "\n".join(kept).rstrip("\n")


def marked_lines(source: str, begin: str, end: str) -> list[str]:
    """The lines of `source` between each `begin` marker line and the `end` marker line after it."""
    lines, inside = [], False
    for line in source.split("\n"):
        if begin in line:
            inside = True
        elif end in line and inside:
            inside = False
        elif inside:
            lines.append(line)
    return lines


def hidden_lines(source: str) -> list[str]:
    """The lines inside the hidden-test regions of `source`."""
    return marked_lines(source, BEGIN, END)


def solution_lines(source: str) -> list[str]:
    """The lines inside the solution regions of `source`."""
    return marked_lines(source, SOLUTION_BEGIN, SOLUTION_END)


def _is_test_cell(cell) -> bool:
    nbg = cell.get("metadata", {}).get("nbgrader", {})
    return bool(nbg.get("grade")) and not nbg.get("solution")


class HideHiddenTests(Preprocessor):
    """Cut hidden tests out of test cells and tracebacks out of their errors (see the module docstring)."""

    enabled = True

    def preprocess_cell(self, cell, resources, index):
        if not _is_test_cell(cell):
            return cell, resources
        cell.source = strip_hidden(cell.source)
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                last = [line for line in output.get("traceback", []) if ANSI.sub("", line).strip()]
                summary = ANSI.sub("", last[-1]).strip() if last else f"{output.get('ename')}: {output.get('evalue')}"
                if not summary.startswith(str(output.get("ename", ""))):
                    summary = f"{output.get('ename')}: {output.get('evalue')}"
                output["traceback"] = [summary]
        return cell, resources


# --------------------------------------------------------------------------------------------------------------
# Checking rendered HTML


def html_text(page: str) -> str:
    """The visible text of an HTML page, unescaped, with its whitespace runs collapsed per line."""
    text = html.unescape(TAGS.sub("", page))
    return "\n".join(" ".join(line.split()) for line in text.splitlines())


def secret_lines(candidates: Iterable[str], allowed: Iterable[str]) -> list[str]:
    """The candidate lines long enough to mean something that do not occur anywhere in `allowed` (text the
    student may see or wrote): a hidden line that is also part of a visible one is no secret."""
    allowed_flat = " ".join(" ".join(text.split()) for text in allowed)
    secrets: list[str] = []
    for line in candidates:
        norm = " ".join(line.split())
        if len(norm) >= MIN_LINE and norm not in allowed_flat and norm not in secrets:
            secrets.append(norm)
    return secrets


def leaks(page: str, secrets: Iterable[str]) -> list[str]:
    """The secret lines that appear in the HTML `page` (as rendered text or as raw source)."""
    text = html_text(page)
    flat = " ".join(text.split())
    return [line for line in secrets if line in flat or html.escape(line) in page]


def course_secrets(config_path: Path, assignment: str) -> tuple[list[str], list[str], list[str]]:
    """(hidden-test lines from the gradebook, solution lines from the source notebooks, visible text of the
    release: lines a student may legitimately see)."""
    from nbgrader.api import Gradebook

    from grading.grade import course_directory, load_config

    config = load_config(config_path)
    coursedir = course_directory(config)
    hidden, solutions, visible = [], [], []
    with Gradebook(coursedir.db_url, coursedir.course_id) as gb:
        for notebook in gb.find_assignment(assignment).notebooks:
            for cell in notebook.source_cells:
                hidden += hidden_lines(cell.source)
                visible.append(strip_hidden(cell.source))
            source = Path(coursedir.format_path(coursedir.source_directory, ".", assignment)) / f"{notebook.name}.ipynb"
            if source.exists():
                for cell in nbformat.read(source, as_version=4).cells:
                    solutions += solution_lines(cell.source)
                    if not (cell.get("metadata", {}).get("nbgrader", {}).get("solution")):
                        visible.append(strip_hidden(cell.source))
    return hidden, solutions, visible


def check_feedback(config_path: Path, assignment: str, students: Sequence[str] | None = None) -> dict[str, list[str]]:
    """Scan the feedback HTML of `assignment`: {html path: leaked lines}; an empty dict means clean."""
    from grading.grade import course_directory, load_config

    config = load_config(config_path)
    coursedir = course_directory(config)
    hidden, solutions, visible = course_secrets(config_path, assignment)
    found: dict[str, list[str]] = {}
    root = Path(coursedir.format_path(coursedir.feedback_directory, ".", ".")).resolve()
    for page in sorted(root.glob(f"*/{assignment}/*.html")):
        student = page.parent.parent.name
        if students and student not in students:
            continue
        own = []  # what the student wrote may equal a solution line; that is no leak
        submitted = Path(coursedir.format_path(coursedir.autograded_directory, student, assignment))
        for notebook in submitted.glob("*.ipynb"):
            for cell in nbformat.read(notebook, as_version=4).cells:
                if not _is_test_cell(cell):
                    own.append(cell.source)
        secrets = secret_lines(hidden + solutions, visible + own)
        bad = leaks(page.read_text(encoding="utf-8", errors="replace"), secrets)
        if bad:
            found[str(page)] = bad
    return found


def remove_leaks(config_path: Path, assignment: str, students: Sequence[str] | None = None) -> dict[str, list[str]]:
    """Delete every feedback page that shows a hidden-test or solution line, saying so; return them."""
    found = check_feedback(config_path, assignment, students)
    for page, lines in found.items():
        Path(page).unlink()
        print(f"LEAK: {page} showed {len(lines)} hidden-test or solution line(s), e.g. {lines[0]!r}; deleted it",
              file=sys.stderr)
    return found


def generate(config_path: Path, assignment: str, students: Sequence[str] = ()) -> subprocess.CompletedProcess:
    """Run `nbgrader generate_feedback` for `assignment` with the course config (which hides hidden tests)."""
    import os

    command = [sys.executable, "-m", "nbgrader", "generate_feedback", assignment, "--force", "--log-level=WARN"]
    if students:
        command.append(f"--student={students[0]}")
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["PYTHONPATH"] = str(config_path.parent)
    return subprocess.run(command, cwd=config_path.parent, env=env, capture_output=True, text=True)


def main(argv: Sequence[str] | None = None) -> int:
    from grading.grade import DEFAULT_CONFIG

    parser = argparse.ArgumentParser(prog="python -m grading.feedback", description=__doc__.splitlines()[0])
    parser.add_argument("assignment")
    parser.add_argument("--student", action="append", default=[], help="only this student (repeatable)")
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    args = parser.parse_args(argv)
    config = args.config.resolve()
    students = args.student or [""]
    failed = False
    for student in students:
        result = generate(config, args.assignment, [student] if student else [])
        if result.returncode != 0:
            failed = True
            print(result.stdout[-3000:], result.stderr[-3000:], sep="\n", file=sys.stderr)
            print(f"error: nbgrader generate_feedback {args.assignment} failed for some submissions "
                  "(see above); the others were written", file=sys.stderr)
    if remove_leaks(config, args.assignment, args.student or None):
        return 1
    from grading.grade import course_directory, load_config

    coursedir = course_directory(load_config(config))
    root = Path(coursedir.format_path(coursedir.feedback_directory, ".", ".")).resolve()
    pages = sorted(root.glob(f"*/{args.assignment}/*.html"))
    print(f"{len(pages)} feedback page(s) in {root}, checked: no hidden test or solution line in any")
    return 1 if failed and not pages else 0


if __name__ == "__main__":
    sys.exit(main())
