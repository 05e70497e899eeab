"""Students' feedback without hidden tests, solutions or student script: `python -m grading.feedback A [--student S]`.

`nbgrader generate_feedback` renders the autograded notebook, whose test cells were restored from the
gradebook *with* their hidden tests (nbgrader #1363). The hidden tests ran in the student's kernel, where the
student's code could read their source and print it in any encoding, and every output is the student's to
shape (HTML, script, SVG...). So feedback is written by the grader (see `autograder/nbgrader_config.py`):

1. `grading.feedback_notebook.HideHiddenTests`, first in `c.GenerateFeedback.preprocessors`, rewrites the
   notebook before it is rendered: sanitised, hidden tests cut, the grader's verdicts in place of the test
   cells' outputs, no kernel output after the first test cell.
2. After rendering, `python -m grading.feedback` scans every HTML file for each line of the hidden tests
   (from the gradebook) and of the solutions (from the source notebook) that the student could not have
   seen or written, and for script the template did not write (`page_problems`); such a page is deleted and
   the command fails.

The gradebook never holds solutions: nbgrader saves cells after clearing them.
"""

from __future__ import annotations

import argparse
import html
import re
import subprocess
import sys
from collections.abc import Iterable, Sequence
from html.parser import HTMLParser
from pathlib import Path

import nbformat

BEGIN, END = "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"
SOLUTION_BEGIN, SOLUTION_END = "BEGIN SOLUTION", "END SOLUTION"
MIN_LINE = 12  # shorter lines ("x = 1.0", ")") are too common to mean a leak
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


def is_test_cell(cell) -> bool:
    """Whether `cell` is an autograded test cell (graded, not a solution)."""
    nbg = cell.get("metadata", {}).get("nbgrader", {})
    return bool(nbg.get("grade")) and not nbg.get("solution")


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


class _Markup(HTMLParser):
    """What in a page can run script: script elements, event handlers, script URLs, embedding elements."""

    URL_ATTRS = frozenset({"href", "src", "action", "formaction", "xlink:href", "data", "poster", "background"})
    EMBEDS = frozenset({"iframe", "frame", "object", "embed", "svg", "math", "base", "form", "applet", "portal"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.scripts: list[tuple[tuple[tuple[str, str], ...], str]] = []
        self.problems: list[str] = []
        self._script: list | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script":
            self._script = [tuple(sorted((k, v or "") for k, v in attrs)), ""]
        if tag in self.EMBEDS:
            self.problems.append(f"<{tag}>")
        for name, value in attrs:
            squeezed = re.sub(r"[`\x00-\x20\x7f-\xa0\s]+", "", value or "").lower()
            if name.startswith("on") or name == "srcdoc" or (tag == "meta" and name == "http-equiv"):
                self.problems.append(f"<{tag} {name}=...>")
            elif name in self.URL_ATTRS and re.match(r"(javascript|vbscript|livescript|data:(?!image/(png|jpeg);))",
                                                     squeezed):
                self.problems.append(f"<{tag} {name}={squeezed[:40]}...>")

    def handle_data(self, data: str) -> None:
        if self._script is not None:
            self._script[1] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self._script is not None:
            self.scripts.append((self._script[0], self._script[1].strip()))
            self._script = None


def markup(page: str) -> _Markup:
    """`page` parsed for script (see `_Markup`)."""
    parser = _Markup()
    parser.feed(page)
    parser.close()
    return parser


def template_scripts(config: object = None) -> list[tuple]:
    """The script elements nbgrader's feedback template writes itself (MathJax), from an empty notebook
    rendered with the course config."""
    import os

    import nbgrader.converters
    from nbconvert.exporters import HTMLExporter

    formgrader = os.path.join(os.path.dirname(nbgrader.converters.__file__), "..", "server_extensions", "formgrader")
    css = os.path.join(formgrader, "static", "node_modules", "bootstrap", "dist", "css")
    exporter = HTMLExporter(config=config, template_name="feedback", extra_template_paths=[css],
                            extra_template_basedirs=[os.path.join(formgrader, "templates")])
    resources = {"nbgrader": {"notebook": "n", "score": 0, "max_score": 0, "late_penalty": 0}}
    page, _ = exporter.from_notebook_node(nbformat.v4.new_notebook(), resources=resources)
    return markup(page).scripts


def page_problems(page: str, allowed_scripts: Iterable[tuple]) -> list[str]:
    """Script in the HTML `page` that the template did not write: scripts not in `allowed_scripts`, event
    handler attributes, `javascript:` or non-image `data:` URLs, frames, objects, SVG ([] if none)."""
    found = markup(page)
    allowed = list(allowed_scripts)
    return [f"<script> {text[:60]!r}" for attrs, text in found.scripts if (attrs, text) not in allowed] + found.problems


def course_secrets(config_path: Path, assignment: str) -> tuple[list[str], list[str], list[str]]:
    """(hidden-test lines from the gradebook, solution lines from the source notebooks, visible text of the
    release: lines a student may legitimately see)."""
    from nbgrader.api import Gradebook

    from grading.config import course_directory, load_config

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
    """Scan the feedback HTML of `assignment`: {html path: leaked lines and unsafe markup}; {} means clean."""
    from grading.config import course_directory, load_config

    config = load_config(config_path)
    coursedir = course_directory(config)
    hidden, solutions, visible = course_secrets(config_path, assignment)
    scripts = template_scripts(config)
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
                if not is_test_cell(cell):
                    own.append(cell.source)
        secrets = secret_lines(hidden + solutions, visible + own)
        text = page.read_text(encoding="utf-8", errors="replace")
        bad = leaks(text, secrets) + [f"unsafe markup: {problem}" for problem in page_problems(text, scripts)]
        if bad:
            found[str(page)] = bad
    return found


def remove_leaks(config_path: Path, assignment: str, students: Sequence[str] | None = None) -> dict[str, list[str]]:
    """Delete every feedback page that shows a hidden-test or solution line or holds script, saying so;
    return them."""
    found = check_feedback(config_path, assignment, students)
    for page, lines in found.items():
        Path(page).unlink()
        print(f"LEAK: {page} showed {len(lines)} hidden-test or solution line(s) or unsafe markup, e.g. "
              f"{lines[0]!r}; deleted it (regenerate it once the cause is fixed)", file=sys.stderr)
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


def releasable(root: Path, assignment: str) -> tuple[list[str], dict[str, str]]:
    """Who of the feedback under `root` (the feedback folder) `nbgrader release_feedback` can release, and why
    each other student cannot: ([student], {student: reason}).

    The records beside a student's feedback came from their submission, so they are read as a student's file:
    regular, never through a link, at most `intake.MAX_RECORD_BYTES`, `timestamp.txt` holding a time and
    `submission_secret.txt` one token (nbgrader asserts on an empty secret, which would stop the release of
    everyone after). nbgrader names each page in the exchange `md5(secret + notebook id)`: students whose
    pages would land on the same name (a secret copied from a classmate) are all left out, so no one's
    feedback is written over, or shown as, another's.
    """
    from grading import intake

    pages: dict[str, list[str]] = {}
    for page in sorted(root.glob(f"*/{assignment}/*.html")):
        pages.setdefault(page.parent.parent.name, []).append(page.stem)
    ready: list[str] = []
    left_out: dict[str, str] = {}
    claimed: dict[str, set[str]] = {}
    for student, notebooks in pages.items():
        folder = root / student / assignment
        try:
            for name in intake.SUBMISSION_RECORDS:
                if not (folder / name).exists() and not (folder / name).is_symlink():
                    raise intake.Malformed(f"no {name}")
            secret = intake.read_regular_file(folder / "submission_secret.txt", intake.MAX_RECORD_BYTES)
            secret_text = secret.decode("ascii")
            if not intake.SECRET.fullmatch(secret_text.strip()):
                raise intake.Malformed("submission_secret.txt is not an nbgrader submission secret")
            if intake.submission_timestamp(folder) is None:
                raise intake.Malformed("timestamp.txt holds no time")
        except (intake.Malformed, UnicodeDecodeError, OSError) as error:
            why = str(error) if isinstance(error, intake.Malformed) else "its records are unreadable"
            left_out[student] = f"{why} (not handed in with nbgrader submit, or refused: see the notes of their " \
                                "grading.json)"
            continue
        ready.append(student)
        for notebook_id in notebooks:  # what nbgrader hashes, exactly as it reads it
            claimed.setdefault(secret_text + notebook_id, set()).add(student)
    for students in claimed.values():
        if len(students) > 1:
            for student in students:
                others = ", ".join(sorted(students - {student}))
                left_out[student] = (f"its submission secret is also {others}'s: released, one page would overwrite "
                                     "the other's in the exchange (a copied submission_secret.txt?)")
    return [s for s in ready if s not in left_out], dict(sorted(left_out.items()))


def release(config_path: Path, assignment: str) -> int:
    """Run `nbgrader release_feedback` for the feedback made: each page goes to the exchange, named by the
    secret of the student's submission (`make release-feedback`).

    `make grade` keeps the submission's `timestamp.txt` and `submission_secret.txt` beside the autograded
    notebook and `make feedback` beside the feedback, as nbgrader does. A student whose feedback lacks them
    (handed in through a zip, not `nbgrader submit`, or refused: see their grading.json notes), whose records
    are not valid, or whose secret another student's submission also holds (`releasable`) is left out and
    named, instead of stopping the release of the whole class or overwriting a classmate's page.
    """
    import os

    from grading.config import course_directory, load_config

    coursedir = course_directory(load_config(config_path))
    root = Path(coursedir.format_path(coursedir.feedback_directory, ".", ".")).resolve()
    ready, left_out = releasable(root, assignment)
    for student, why in left_out.items():
        print(f"not released: {student}'s feedback: {why}", file=sys.stderr)
    if not ready:
        print(f"no feedback of {assignment} to release (run make feedback first)", file=sys.stderr)
        return 1
    command = [sys.executable, "-m", "nbgrader", "release_feedback", assignment]
    if left_out:
        command.append(f"--CourseDirectory.student_id_exclude={','.join(left_out)}")
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["PYTHONPATH"] = str(config_path.parent)
    result = subprocess.run(command, cwd=config_path.parent, env=env)
    if result.returncode == 0:
        print(f"feedback of {assignment} released for: {', '.join(ready)}")
    return result.returncode


def main(argv: Sequence[str] | None = None) -> int:
    from grading.config import DEFAULT_CONFIG

    parser = argparse.ArgumentParser(prog="python -m grading.feedback", description=__doc__.splitlines()[0])
    parser.add_argument("assignment")
    parser.add_argument("--student", action="append", default=[], help="only this student (repeatable)")
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    parser.add_argument("--release", action="store_true",
                        help="release the feedback made to the exchange (nbgrader release_feedback) instead")
    args = parser.parse_args(argv)
    config = args.config.resolve()
    if args.release:
        return release(config, args.assignment)
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
    from grading.config import course_directory, load_config

    coursedir = course_directory(load_config(config))
    root = Path(coursedir.format_path(coursedir.feedback_directory, ".", ".")).resolve()
    pages = sorted(root.glob(f"*/{args.assignment}/*.html"))
    print(f"{len(pages)} feedback page(s) in {root}, checked: no hidden test, solution line or script in any")
    return 1 if failed and not pages else 0


if __name__ == "__main__":
    sys.exit(main())
