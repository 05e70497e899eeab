"""A learner's path through the course in JupyterLab, in headless Chromium, as set up for Binder.

START_HERE opens and links to unit 01; the progress cell shows a table of every exercise (for a learner
half-way: passed, failing with the test's message, not started); each unit of
`widgets.WIDGETS` runs from top to bottom (solved) without an error or a warning, and its widget follows the
arrow keys; nbgrader's Validate passes a solved notebook and fails an untouched one, with its messages; the
instructor-only nbgrader tools are absent. Screenshots of every step go to `artifacts/browser/`.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from grading import manifest

from .jupyterlab import MIDWAY, WIDGET_MS, CourseCopy, LabPage, code_cells
from .widgets import WIDGETS

# One xdist group: under `make test` (pytest -n auto --dist loadgroup) one worker runs the whole suite
# against one server.
pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.xdist_group("browser")]

ERROR = "application/vnd.jupyter.error"
STDERR = "application/vnd.jupyter.stderr"
UNITS = manifest.load()["units"]
FIRST = UNITS[0]["id"]


def test_start_here_links_to_unit_01(lab_page: LabPage) -> None:
    lab_page.open("course/START_HERE.ipynb")
    notebook = lab_page.notebook
    expect(notebook.locator("h1").first).to_contain_text("Calculus for Machine Learning")
    links = notebook.locator(".jp-MarkdownOutput a[href*='release/']")
    expect(links).to_have_count(len(UNITS))
    lab_page.screenshot("start-here-1-opened")

    first = UNITS[0]
    links.filter(has_text=first["title"]).click()
    tab = lab_page.page.locator("#jp-main-dock-panel .lm-TabBar-tab.lm-mod-current")
    expect(tab).to_contain_text(f"{first['notebook']}.ipynb")
    expect(tab).to_have_attribute("title", re.compile(rf"^Path: {re.escape(CourseCopy.path(first['id']))}$", re.M))
    expect(lab_page.notebook.locator("h1").first).to_contain_text("Unit 1")
    lab_page.wait_for_idle_kernel()
    lab_page.screenshot("start-here-2-unit-01-opened-by-its-link")


def test_progress_cell_shows_every_exercise(lab_page: LabPage, course: CourseCopy) -> None:
    """The half-way learner's START_HERE: unit 01 passes, one exercise of unit 02 fails and says why."""
    lab_page.open(f"{MIDWAY}/course/START_HERE.ipynb")
    lab_page.run_all(code_cells(course.root / MIDWAY / "course" / "START_HERE.ipynb"))
    table = lab_page.notebook.locator("table.calcml-progress")
    expect(table).to_be_visible()
    rows = table.locator("tbody tr")
    exercises = [(index, unit["id"], x) for index, unit in enumerate(UNITS) for x in unit["exercises"]
                 if not x.get("manual")]
    expect(rows).to_have_count(len(exercises))
    for row, (index, unit_id, exercise) in zip(rows.all(), exercises, strict=True):
        cells = row.locator("td").all_text_contents()
        assert cells[0] == unit_id and exercise["grade_id"] in cells[1] and exercise["title"] in cells[1]
        if exercise["grade_id"] == course.wrong_exercise:
            assert "failing" in cells[3] and re.match(r"(CheckFailure|AssertionError): \S", cells[4]), cells
        elif index == 0:
            assert "passed" in cells[3], f"{exercise['grade_id']}: {cells[3]!r} ({cells[4]})"
        elif index > 1:
            assert "not started" in cells[3], f"{exercise['grade_id']}: {cells[3]!r}"
    assert not lab_page.outputs(STDERR), f"the progress cell printed to stderr: {lab_page.outputs(STDERR)}"
    assert not lab_page.outputs(ERROR)
    lab_page.screenshot("progress-1-table", table)
    autograded = [x for x in UNITS[0]["exercises"] if not x.get("manual")]
    table.locator("tbody tr").nth(len(autograded)).scroll_into_view_if_needed()
    lab_page.screenshot("progress-2-a-failing-exercise")


@pytest.mark.parametrize("unit_id", sorted(WIDGETS))
def test_unit_runs_clean_and_its_widget_follows_the_keyboard(lab_page: LabPage, course: CourseCopy,
                                                              unit_id: str) -> None:
    spec = WIDGETS[unit_id]
    lab_page.open(CourseCopy.path(unit_id))
    lab_page.run_all(code_cells(course.notebook(unit_id)))
    lab_page.screenshot(f"{unit_id}-1-all-cells-run")
    assert not lab_page.outputs(ERROR), f"cells raised errors: {lab_page.outputs(ERROR)}"
    assert not lab_page.outputs(STDERR), f"cells printed warnings: {lab_page.outputs(STDERR)}"

    widget = lab_page.notebook.locator(f".{spec.container}").first
    widget.scroll_into_view_if_needed()
    expect(widget).to_be_visible()
    slider = widget.locator(f".{spec.slider} [role='slider']" if spec.slider else "[role='slider']").first
    readout = widget.locator(f".{spec.readout} [role='status']")
    image = widget.locator("img").first
    expect(readout).not_to_be_empty()
    before = {"readout": readout.text_content(), "value": slider.get_attribute("aria-valuenow"),
              "image": image.get_attribute("src")}
    before_path = lab_page.screenshot(f"{unit_id}-2-widget-before", widget)

    # From the keyboard: the slider handle is in the tab order and follows the arrow keys.
    assert slider.get_attribute("tabindex") == "0", "the slider cannot be reached with Tab"
    slider.focus()
    assert slider.evaluate("element => element === document.activeElement")
    for _ in range(spec.presses):
        lab_page.page.keyboard.press(spec.key)
    expect(readout).not_to_have_text(before["readout"], timeout=WIDGET_MS)
    expect(image).not_to_have_attribute("src", before["image"], timeout=WIDGET_MS)
    after = {"readout": readout.text_content(), "value": slider.get_attribute("aria-valuenow")}
    moved = float(after["value"]) - float(before["value"])
    assert moved > 0 if spec.key == "ArrowRight" else moved < 0, (before, after)
    lab_page.page.wait_for_timeout(500)  # let the new image paint before the screenshot
    after_path = lab_page.screenshot(f"{unit_id}-3-widget-after-{spec.presses}-{spec.key}", widget)
    assert before_path.read_bytes() != after_path.read_bytes(), "the widget looks the same after the keys"
    assert not lab_page.outputs(ERROR) and not lab_page.outputs(STDERR)


def test_validate_passes_a_solved_notebook(lab_page: LabPage) -> None:
    lab_page.open(CourseCopy.path(FIRST))
    dialog = lab_page.validate()
    expect(dialog.locator(".validation-success")).to_contain_text("Success! Your notebook passes all the tests.")
    lab_page.screenshot(f"validate-{FIRST}-solved", dialog.locator(".jp-Dialog-content"))
    dialog.get_by_role("button", name="Ok").click()


def test_validate_fails_an_untouched_notebook_and_says_why(lab_page: LabPage) -> None:
    lab_page.open(CourseCopy.untouched(FIRST))
    dialog = lab_page.validate()
    failed = dialog.locator(".validation-failed")
    expect(failed).to_contain_text("The following cell failed:")
    expect(failed).to_contain_text("NotImplementedError")
    first_test = UNITS[0]["exercises"][0]["grade_id"]
    assert first_test.split("-", 1)[1] in failed.text_content(), "the message does not show the failing test"
    lab_page.screenshot(f"validate-{FIRST}-untouched-1-failed-cell", dialog.locator(".jp-Dialog-content"))
    failed.locator("pre").nth(1).scroll_into_view_if_needed()  # the error, under the cell's source
    lab_page.screenshot(f"validate-{FIRST}-untouched-2-its-error", dialog.locator(".jp-Dialog-content"))
    dialog.get_by_role("button", name="Ok").click()


def test_binder_keeps_validate_and_hides_the_instructor_tools(lab_page: LabPage) -> None:
    lab_page.open(CourseCopy.path(FIRST))
    expect(lab_page.notebook.locator(".jp-Toolbar .validate-button")).to_be_visible()
    sidebars = lab_page.page.locator(".jp-SideBar .lm-TabBar-tab").evaluate_all("tabs => tabs.map(t => t.title)")
    assert not [title for title in sidebars if re.search("assignment", title, re.I)], sidebars
    lab_page.page.locator(".lm-MenuBar-item", has_text="Nbgrader").click()
    items = [text.strip() for text in lab_page.page.locator(".lm-Menu-content .lm-Menu-item").all_text_contents()]
    lab_page.screenshot("binder-nbgrader-menu")
    lab_page.page.keyboard.press("Escape")
    assert [item for item in items if item] == ["Assignment List"], items
    assert lab_page.server.request("GET", "/formgrader")[0] == 404
    assert lab_page.server.request("GET", "/formgraders")[0] == 404  # the course list's server side
    assert lab_page.server.request("GET", "/assignments/validate")[0] == 405  # Validate's: there, POST only
