"""Attacks on feedback and formgrader (issue 9, classes 3 and 7), each built, graded and rendered for real.

Class 3, hidden tests leaking through kernel output: the hidden tests run in the student's kernel, where the
student's code can read their source and print it *encoded*, so the line-by-line leak scan sees nothing.
Variants: a `pre_run_cell` hook printing the base64 of each test cell; a `post_run_cell` hook displaying HTML
with the cell's rot13 hidden in an attribute; `calcml.checks` patched to walk `sys._getframe` to the test
cell's code and print it reversed; a display handle from an earlier cell updated (hex) while a test cell runs;
a cell after the last test printing `_ih` in base32. Feedback must show the grader's verdict instead.

Class 7, script in what the grader renders: HTML with `<script>`, `<img onerror>`, `application/javascript`,
SVG with `onload`, a widget view breaking out of its script tag, markdown outputs and cells with raw
`<script>`/`<iframe>`/`javascript:` links, attachments, a raw cell, bad image data, and `metadata.widgets`
with `</script><script>`. Neither the feedback page nor the autograded notebook (what formgrader renders)
may keep any of it.

One batch of unit 01 (an honest student and three attackers), graded by `grading.grade` with the sandbox and
the integrity check on, then `python -m grading.feedback`.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import concurrent.futures
import copy
import html
import json
import os
import re
import textwrap
from html.parser import HTMLParser
from pathlib import Path

import jupytext
import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_raw_cell

from grading import feedback, feedback_notebook, grade, manifest, sanitize, submissions, workspace

slow = pytest.mark.slow  # the tests that grade the batch; the unit tests below the fixture run in a second

UNIT = "01_derivatives"
ENTRY = manifest.unit(UNIT)
NOTEBOOK = f"{ENTRY['notebook']}.ipynb"
GRADE_IDS = [exercise["grade_id"] for exercise in ENTRY["exercises"]]
WRONG_ID = "01_derivatives-d_ratio"  # leak_frames hands in a wrong d_ratio, so its verdict has a detail

# Every marker below is printed or displayed by student code while a test cell runs; none may survive.
TEST_CELL_MARKERS = ["MARKER-PRE-RUN-7f3a", "MARKER-HTML-ATTR-51c2", "MARKER-FRAME-9b1e"]
LATE_MARKER = "MARKER-LATE-CELL-4d0c"
PWN = "window.__pwned=(window.__pwned||[]).concat(['%s']);document.title='PWNED'"

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="

LEAK_HOOKS = """
import base64, codecs, html
from IPython.display import HTML, display

# one worker builds this module's graded classes (session fixtures) once: `--dist loadgroup`
pytestmark = pytest.mark.xdist_group("feedback_attacks")

def _leak_before(info):
    if "HIDDEN TESTS" in info.raw_cell:
        print("MARKER-PRE-RUN-" + "7f3a")
        print(base64.b64encode(info.raw_cell.encode()).decode())

def _leak_after(result):
    if "HIDDEN TESTS" in result.info.raw_cell:
        hidden = html.escape(codecs.encode(result.info.raw_cell, "rot13"), quote=True)
        display(HTML(f'<div data-leak="{hidden}">{"MARKER-HTML-ATTR-" + "51c2"}</div>'))

get_ipython().events.register("pre_run_cell", _leak_before)
get_ipython().events.register("post_run_cell", _leak_after)
"""

LEAK_FRAMES = """
import linecache, sys
from IPython.display import display
from calcml import checks as _checks

def _spy(function):
    def wrapper(*args, **kwargs):
        frame = sys._getframe(1)
        while frame is not None:
            lines = linecache.getlines(frame.f_code.co_filename)
            mine = frame.f_code.co_filename == wrapper.__code__.co_filename
            if not mine and any("HIDDEN TESTS" in line for line in lines):
                print("MARKER-FRAME-" + "9b1e")
                print("".join(lines)[::-1])
                break
            frame = frame.f_back
        return function(*args, **kwargs)
    return wrapper

for _name in ("assert_close", "check_derivative"):
    setattr(_checks, _name, _spy(getattr(_checks, _name)))

# A display made now, before any test, and rewritten (hex) while each test cell runs.
_handle = display({"text/plain": "placeholder"}, raw=True, display_id=True)

def _rewrite(info):
    if "HIDDEN TESTS" in info.raw_cell:
        _handle.update({"text/plain": info.raw_cell.encode().hex()}, raw=True)

get_ipython().events.register("pre_run_cell", _rewrite)
"""

LATE_CELL = """
import base64
print("MARKER-LATE-CELL-" + "4d0c")
print(base64.b32encode("\\n".join(_ih).encode()).decode())
"""

SCRIPT_OUTPUTS = """
from IPython.display import HTML, Javascript, display

def pwn(label):
    return "window.__pwned=(window.__pwned||[]).concat(['%s']);document.title='PWNED'" % label

display(HTML("<script>%s</script><b>MARKER-SCRIPT-HTML</b>" % pwn("html-script")))
display(HTML('<img src="x-missing.png" onerror="%s">' % pwn("img-onerror")))
display(HTML("<b>isolated</b><script>%s</script>" % pwn("isolated-html")), metadata={"isolated": True})
display(Javascript(pwn("javascript-output")))
svg = '<svg xmlns="http://www.w3.org/2000/svg" onload="%s"><script>%s</script></svg>'
display({"image/svg+xml": svg % (pwn("svg-onload"), pwn("svg-script"))}, raw=True)
display({"application/vnd.jupyter.widget-view+json": {"version_major": 2, "version_minor": 0,
         "model_id": "</script><script>%s</script>" % pwn("widget-view")}, "text/plain": "a widget"}, raw=True)
display({"text/markdown": "<script>%s</script> [go](javascript:window.__pwned=1)" % pwn("markdown-output")}, raw=True)
display({"image/png": 'AAAA"><script>%s</script>' % pwn("png-data")}, raw=True)
display({"image/png": PNG}, raw=True, metadata={"image/png": {"width": "1 onerror=%s" % pwn("png-width")}})
""".replace("PNG", repr(PNG))

MARKDOWN = f"""## Notes <script>{PWN % 'md-heading'}</script>

<script>{PWN % 'md-script'}</script>

<iframe src="javascript:{PWN % 'md-iframe'}"></iframe>

<a href="javascript:{PWN % 'md-anchor'}">click</a> and [a link](javascript:window.__pwned=1)
and <a href="jav&#x09;ascript:{PWN % 'md-tab'}">tab</a>

<img src="x-missing.png" onerror="{PWN % 'md-img'}">

<svg onload="{PWN % 'md-svg'}"><circle r="4"/></svg>

![an svg](attachment:evil.svg) ![a png](attachment:bad.png)
"""

EVIL_SVG = f'<svg xmlns="http://www.w3.org/2000/svg" onload="{PWN % "attachment"}"></svg>'


def first_code_index(notebook) -> int:
    return next(i for i, c in enumerate(notebook.cells) if c.cell_type == "code")


def inject(notebook, source: str):
    """A copy of `notebook` with a code cell holding `source` right after the setup cell."""
    nb = copy.deepcopy(notebook)
    nb.cells.insert(first_code_index(nb) + 1, new_code_cell(textwrap.dedent(source)))
    return nb


def attackers() -> dict:
    solved = submissions.solved(ENTRY)
    hooks = inject(solved, LEAK_HOOKS)
    wrong = submissions.wrong_answers(ENTRY)[f"{WRONG_ID}-solution"][0]
    frames = inject(submissions.with_wrong_answer(ENTRY, f"{WRONG_ID}-solution", wrong), LEAK_FRAMES)
    frames.cells.append(new_code_cell(LATE_CELL))

    scripter = inject(solved, SCRIPT_OUTPUTS)
    cell = new_markdown_cell(MARKDOWN)
    cell.attachments = {"evil.svg": {"image/svg+xml": base64.b64encode(EVIL_SVG.encode()).decode()},
                        "bad.png": {"image/png": f'x"><script>{PWN % "attachment-png"}</script>'}}
    scripter.cells.insert(first_code_index(scripter) + 2, cell)
    release_markdown = next(c for c in scripter.cells if c.cell_type == "markdown")
    release_markdown.source += f"\n\n<script>{PWN % 'release-cell'}</script>"
    raw = new_raw_cell(f"<script>{PWN % 'raw-cell'}</script>")
    raw.metadata["raw_mimetype"] = "text/html"
    scripter.cells.insert(first_code_index(scripter) + 2, raw)
    scripter.cells[first_code_index(scripter)].metadata["tags"] = [f'"><script>{PWN % "tag"}</script>']
    scripter.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {
        "version_major": 2, "version_minor": 0, "state": {},
        "note": f"</script><script>{PWN % 'nb-widgets'}</script>"}}
    return {"honest": solved, "leak_hooks": hooks, "leak_frames": frames, "scripter": scripter}


@pytest.fixture(scope="session")
def course(tmp_path_factory):
    root = workspace.create(tmp_path_factory.mktemp("attacks") / "course")
    students = attackers()
    for student, notebook in students.items():
        submissions.write(notebook, root / "autograder" / "submitted" / student / UNIT / NOTEBOOK)
    config = root / "autograder" / "nbgrader_config.py"
    options = grade.Options(workers=2, cell_timeout=60, notebook_timeout=600, integrity=True, report=False,
                            progress=False, config=config)
    results = {result.student: result for result in grade.Grader(UNIT, options).run()}
    assert {r.status for r in results.values()} == {"graded"}, {s: r.notes for s, r in results.items()}
    status = feedback.main([UNIT, "--config", str(config)])
    return root, config, students, status


def page_of(root: Path, student: str) -> str:
    page = root / "autograder" / "feedback" / student / UNIT / f"{ENTRY['notebook']}.html"
    assert page.exists(), f"no feedback page for {student}"
    return page.read_text(encoding="utf-8")


def hidden_secrets(own: str) -> list[str]:
    """Hidden-test lines, straight from the jupytext source, that the student could not have seen or written."""
    source = jupytext.read(manifest.source_script(ENTRY))
    hidden = [line for cell in source.cells for line in feedback.hidden_lines(cell.source)]
    release = "\n".join(cell.source for cell in submissions.release(ENTRY).cells)
    secrets = feedback.secret_lines(hidden, [release, own])
    assert len(secrets) > 10
    return secrets


def decoded_views(page: str) -> list[str]:
    """The page, unescaped, then rot13-ed, reversed, and every long base64/base32/hex token decoded."""
    raw = html.unescape(page)
    views = [raw, codecs.decode(raw, "rot13"), raw[::-1], feedback.html_text(page)]
    decoders = [(r"[A-Za-z0-9+/]{40,}={0,2}", base64.b64decode), (r"[A-Z2-7]{40,}={0,6}", base64.b32decode),
                (r"(?:[0-9a-f]{2}){20,}", bytes.fromhex)]
    for pattern, decode in decoders:
        for token in re.findall(pattern, raw):
            try:
                views.append(decode(token).decode("utf-8", errors="ignore"))
            except (binascii.Error, ValueError):
                continue
    return [" ".join(view.split()) for view in views]


class Markup(HTMLParser):
    """Scripts, event handlers, script URLs and embedding elements of an HTML page, as a browser would see them."""

    URL = {"href", "src", "action", "formaction", "xlink:href", "data", "srcdoc"}

    def __init__(self, page: str) -> None:
        super().__init__(convert_charrefs=True)
        self.scripts: list[tuple] = []
        self.problems: list[str] = []
        self._script: list | None = None
        self.feed(page)
        self.close()

    def handle_starttag(self, tag, attrs):
        if tag == "script":
            self._script = [tuple(sorted((k, v or "") for k, v in attrs)), ""]
        if tag in {"iframe", "object", "embed", "svg", "math", "frame"}:
            self.problems.append(f"<{tag}>")
        for name, value in attrs:
            if name.lower().startswith("on"):
                self.problems.append(f"{tag} {name}={value}")
            squeezed = re.sub(r"[\x00-\x20\x7f]+", "", value or "").lower()
            if name.lower() in self.URL and re.match(r"(javascript|vbscript|data:text|data:image/svg)", squeezed):
                self.problems.append(f"{tag} {name}={value}")

    def handle_data(self, data):
        if self._script is not None:
            self._script[1] += data

    def handle_endtag(self, tag):
        if tag == "script" and self._script is not None:
            self.scripts.append((self._script[0], self._script[1].strip()))
            self._script = None


def student_scripts(page: str, reference: str) -> list:
    """The scripts and script-bearing markup of `page` that the honest `reference` page does not have."""
    ours, template = Markup(page), Markup(reference)
    return ([s for s in ours.scripts if s not in template.scripts]
            + [p for p in ours.problems if p not in template.problems])


def formgrader_html(notebook) -> str:
    """The autograded notebook as formgrader renders it (nbgrader's formgrade template)."""
    from nbconvert.exporters import HTMLExporter
    from nbgrader.server_extensions.formgrader import handlers

    exporter = HTMLExporter(template_name="formgrade", extra_template_basedirs=[handlers.template_path])
    resources = {"assignment_id": UNIT, "notebook_id": ENTRY["notebook"], "submission_id": "x", "index": 0,
                 "total": 1, "base_url": "", "student": "s", "last_name": "", "first_name": "",
                 "notebook_path": "/x"}
    body, _ = exporter.from_notebook_node(copy.deepcopy(notebook), resources=resources)
    return body


# --------------------------------------------------------------------------------------------------------------
# Class 3


@pytest.mark.parametrize("student", ["leak_hooks", "leak_frames"])
@slow
def test_no_hidden_test_line_in_any_encoding(course, student) -> None:
    root, _, students, _ = course
    own = "\n".join(c.source for c in students[student].cells if not feedback.is_test_cell(c))
    secrets = hidden_secrets(own)
    views = decoded_views(page_of(root, student))
    leaked = [line for line in secrets if any(line in view for view in views)]
    assert leaked == [], f"{student}'s feedback leaks {len(leaked)} hidden-test line(s), e.g. {leaked[:2]}"


@pytest.mark.parametrize("student", ["leak_hooks", "leak_frames"])
@slow
def test_no_output_made_in_the_kernel_during_a_test_survives(course, student) -> None:
    root, _, _, _ = course
    page = page_of(root, student)
    for marker in [*TEST_CELL_MARKERS, LATE_MARKER]:
        assert marker not in page, f"{marker}, printed while a test cell ran, reached {student}'s feedback"


@pytest.mark.parametrize("student", ["honest", "leak_hooks", "leak_frames", "scripter"])
@slow
def test_every_exercise_shows_the_graders_verdict(course, student) -> None:
    from nbgrader.api import Gradebook

    root, config, _, status = course
    assert status == 0, "python -m grading.feedback failed"
    text = feedback.html_text(page_of(root, student))
    with Gradebook(f"sqlite:///{root / 'autograder' / 'gradebook.db'}") as gb:
        notebook = gb.find_submission_notebook(ENTRY["notebook"], UNIT, student)
        grades = {g.name: (g.score, g.max_score) for g in notebook.grades}
    for grade_id in GRADE_IDS:
        score, max_score = grades[grade_id]
        line = f"Grader's verdict for {grade_id}: {score:g} / {max_score:g} point"
        assert line in text, f"{student}: no verdict for {grade_id}"
    doc = json.loads((root / "autograder" / "autograded" / student / UNIT / "integrity.json").read_text())
    for grade_id in GRADE_IDS:
        detail = doc["notebooks"][ENTRY["notebook"]]["exercises"][grade_id]["detail"]
        if detail:
            assert " ".join(detail.split())[:60] in " ".join(text.split()), f"{grade_id}: detail missing"
    if student == "leak_frames":
        assert doc["notebooks"][ENTRY["notebook"]]["exercises"][WRONG_ID]["detail"], "a detail was expected"


# --------------------------------------------------------------------------------------------------------------
# Class 7


@slow
def test_feedback_page_runs_no_student_script(course) -> None:
    root, _, _, _ = course
    reference = page_of(root, "honest")
    for student in ("scripter", "leak_hooks", "leak_frames"):
        found = student_scripts(page_of(root, student), reference)
        assert found == [], f"{student}'s feedback page keeps script content: {found[:3]}"


@slow
def test_autograded_notebook_holds_no_student_script(course) -> None:
    """What formgrader renders: the autograded notebook as written by `grading.grade`."""
    root, _, _, _ = course
    honest = nbformat.read(root / "autograder" / "autograded" / "honest" / UNIT / NOTEBOOK, as_version=4)
    reference = formgrader_html(honest)
    path = root / "autograder" / "autograded" / "scripter" / UNIT / NOTEBOOK
    notebook = nbformat.read(path, as_version=4)
    assert "widgets" not in notebook.metadata
    found = student_scripts(formgrader_html(notebook), reference)
    assert found == [], f"formgrader would run the student's script: {found[:3]}"


@slow
def test_sanitised_copy_of_the_autograded_notebook_renders_no_script(course) -> None:
    """`sanitize.untrusted_notebook` on the attacker's notebook, as submitted and as autograded (whether or not
    grade.py already sanitised it): the contract grade.py relies on."""
    root, _, _, _ = course
    honest = nbformat.read(root / "autograder" / "autograded" / "honest" / UNIT / NOTEBOOK, as_version=4)
    reference = formgrader_html(sanitize.untrusted_notebook(honest))
    for folder in ("autograded", "submitted"):
        notebook = nbformat.read(root / "autograder" / folder / "scripter" / UNIT / NOTEBOOK, as_version=4)
        assert student_scripts(formgrader_html(sanitize.untrusted_notebook(notebook)), reference) == [], folder
    attacked = nbformat.read(root / "autograder" / "submitted" / "scripter" / UNIT / NOTEBOOK, as_version=4)
    clean = sanitize.untrusted_notebook(attacked)
    assert student_scripts(formgrader_html(clean), reference) == []
    assert student_scripts(formgrader_html(attacked), reference), "the attack should show without sanitising"
    nbformat.validate(clean)


@slow
@pytest.mark.browser
def test_malicious_feedback_page_runs_nothing_in_chromium(course, tmp_path) -> None:
    from playwright.sync_api import sync_playwright

    chromium = os.environ.get("CALCML_CHROMIUM", "/usr/bin/chromium")
    if not os.access(chromium, os.X_OK):
        pytest.fail(f"no Chromium at {chromium}: install Debian's (apt-get install chromium)")
    root, _, _, _ = course
    attacked = nbformat.read(root / "autograder" / "autograded" / "scripter" / UNIT / NOTEBOOK, as_version=4)
    formgrader_page = tmp_path / "formgrader.html"
    formgrader_page.write_text(formgrader_html(sanitize.untrusted_notebook(attacked)), encoding="utf-8")
    pages = [root / "autograder" / "feedback" / s / UNIT / f"{ENTRY['notebook']}.html"
             for s in ("scripter", "leak_hooks")] + [formgrader_page]

    def visit() -> None:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, headless=True,
                                                 args=["--no-sandbox", "--disable-gpu", "--no-first-run"])
            try:
                page = browser.new_page()
                page.route(re.compile(r"^https?://"), lambda route: route.abort())  # no CDN, no network
                for path in pages:
                    page.goto(path.as_uri(), wait_until="load")
                    page.wait_for_timeout(1500)
                    pwned = page.evaluate("window.__pwned || []")
                    assert pwned == [], f"{path.name} ran the student's script: {pwned}"
                    assert "PWNED" not in page.title()
            finally:
                browser.close()

    # Playwright's sync API refuses a thread with an asyncio loop running (an earlier test on this pytest worker
    # may leave one behind): a thread of its own has none.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(visit).result()


# --------------------------------------------------------------------------------------------------------------
# Unit tests of the sanitiser and the verdicts (no grading)


def feedback_html(notebook) -> str:
    """`notebook` rendered by nbgrader's feedback template, as `nbgrader generate_feedback` does."""
    import nbgrader.converters
    from nbconvert.exporters import HTMLExporter

    base = Path(nbgrader.converters.__file__).parent.parent / "server_extensions" / "formgrader"
    exporter = HTMLExporter(template_name="feedback", extra_template_basedirs=[str(base / "templates")],
                            extra_template_paths=[str(base / "static/node_modules/bootstrap/dist/css")])
    resources = {"nbgrader": {"notebook": "n", "score": 0, "max_score": 0, "late_penalty": 0}}
    notebook = copy.deepcopy(notebook)
    for cell in notebook.cells:  # what GetGrades adds from the gradebook
        if isinstance(cell.metadata.get("nbgrader"), dict):
            cell.metadata.nbgrader.update(score=0, points=1)
    return exporter.from_notebook_node(notebook, resources=resources)[0]


def test_the_release_passes_the_sanitiser_unchanged() -> None:
    """The course's own markdown (LaTeX, tables, code, links) is inert, so it keeps every byte."""
    for entry in manifest.load()["units"]:
        release = submissions.release(entry)
        clean = sanitize.untrusted_notebook(release)
        nbformat.validate(clean)
        assert [(c.cell_type, c.source, c.metadata) for c in clean.cells] == \
            [(c.cell_type, c.source, c.metadata) for c in release.cells], entry["id"]
        assert clean.metadata == release.metadata


def test_cell_json_edited_by_hand_renders_no_script() -> None:
    """Fields the templates print raw: grade_id, execution_count, cell id, tags, image file names and sizes."""
    honest = submissions.solved(ENTRY)
    attacked = copy.deepcopy(honest)
    code = attacked.cells[first_code_index(attacked)]
    code.outputs = [
        {"output_type": "display_data", "metadata": {"filenames": {"image/png": "javascript:alert(1)"}},
         "data": {"image/png": PNG, "text/html": f"<script>{PWN % 'html'}</script>"}},
        {"output_type": "display_data", "metadata": {"text/html": {"isolated": True}},
         "data": {"text/html": f"<script>{PWN % 'isolated'}</script>"}},
        {"output_type": "execute_result", "execution_count": 3, "metadata": {},
         "data": {"text/latex": "$x$", "application/pdf": "JVBERi0="}},
    ]
    solution = next(c for c in attacked.cells if c.metadata.get("nbgrader", {}).get("solution"))
    solution.metadata["nbgrader"]["grade_id"] = f'x"><script>{PWN % "grade-id"}</script>'
    solution.metadata["nbgrader"]["comment"] = f"<script>{PWN % 'comment'}</script>"
    reference = feedback_html(sanitize.untrusted_notebook(honest))
    assert student_scripts(feedback_html(attacked), reference), "the attack should show without sanitising"
    # Fields nbconvert's schema check would reject (so it renders nothing) are still made valid and inert.
    code.execution_count = f"<script>{PWN % 'execution-count'}</script>"
    code.id = f'"><script>{PWN % "cell-id"}</script>'
    code.outputs[2]["execution_count"] = "<script>x</script>"
    code.outputs.append({"output_type": "made_up", "text": f"<script>{PWN % 'made-up'}</script>"})
    clean = sanitize.untrusted_notebook(attacked)
    nbformat.validate(clean)
    assert student_scripts(feedback_html(clean), reference) == []
    outputs = clean.cells[first_code_index(clean)].outputs
    assert [sorted(o.get("data", {})) for o in outputs] == [["image/png"], ["text/plain"], ["text/plain"]]
    assert outputs[2].data["text/plain"] == "$x$" and outputs[2].execution_count is None


def test_images_must_be_what_they_claim() -> None:
    assert sanitize.valid_image("image/png", PNG)
    assert not sanitize.valid_image("image/png", PNG[:8] + '"><script>')
    assert not sanitize.valid_image("image/jpeg", PNG)  # PNG bytes under a JPEG type
    assert not sanitize.valid_image("image/svg+xml", base64.b64encode(EVIL_SVG.encode()).decode())
    assert sanitize.safe_url(f"data:image/png;base64,{PNG}", image=True)
    for url in ("javascript:alert(1)", "JaVa\tScRiPt:alert(1)", "jav&#x09;ascript:alert(1)", "data:text/html,x",
                "vbscript:x"):
        assert not sanitize.safe_url(url, image=False), url
        assert not sanitize.safe_url(url, image=True), url


def test_verdict_is_plain_short_text() -> None:
    """The out-of-kernel detail may quote an exception the student raised: it stays text, and short."""
    detail = "\x1b[31m<script>" + PWN % "detail" + "</script>\x00" + "x" * 5000
    report = {"exercises": {"g": {"passed": False, "points": 0, "detail": detail}}}
    text = feedback_notebook.verdict_text("g", (0.0, 2.0, True), report)
    assert text.startswith("Grader's verdict for g: 0 / 2 points.")
    assert "\x1b" not in text and "\x00" not in text and len(text) < feedback_notebook.DETAIL_LIMIT + 400
    assert "instructor will look" in text
    assert "graded by the tests in this cell" in feedback_notebook.verdict_text("g", (1.0, 1.0, False), None)
    assert "score not available" in feedback_notebook.verdict_text("g", None, {})
    notebook = nbformat.v4.new_notebook(cells=[new_code_cell("pass")])
    notebook.cells[0].outputs = [nbformat.v4.new_output("display_data", data={"text/plain": text})]
    page = feedback_html(notebook)
    assert student_scripts(page, feedback_html(nbformat.v4.new_notebook())) == []
    assert "&lt;script&gt;" in page


@pytest.mark.parametrize("raised", ["ValueError: x = [0.123456789, -2.5, 1e-300]", "builtins.KeyError: 'x=0.3'",
                                    "<not a name>: x = 0.1", ""])
def test_a_students_own_exception_text_never_reaches_feedback(raised) -> None:
    """The student's code chooses what its exceptions say: in the probe it could print the hidden inputs, for a
    later attempt to hard-code. Feedback names the exception's type only."""
    from grading import integrity

    report = {"exercises": {"g": {"passed": False, "points": 0, "detail": integrity.RAISED + raised}}}
    text = feedback_notebook.verdict_text("g", (0.0, 2.0, False), report)
    assert "0.1" not in text and "0.123" not in text and "x =" not in text and "x=" not in text, text
    assert "Your code raised" in text and "not shown" in text
