"""A real class on a JupyterHub, end to end, in headless Chromium: `make class`, then the whole round trip.

`make class` starts a hub for a throwaway class (its own folder and ports, accounts named `calcmlt-*`, removed
afterwards): the instructor releases unit 01 (nbgrader's CLI); student A logs in on the hub's login page,
fetches the unit in the Assignment List, submits it untouched, answers it (the solution pasted through the
contents API), presses Validate and submits again; student B submits a partly wrong notebook; student C never
submits. The instructor collects, runs `make grade` (sandboxed, out-of-kernel check on) and `make feedback`,
and releases the feedback, which A and B fetch and open in the Assignment List: the scores shown are the
gradebook's (A's later submission counts, the earlier stays in the exchange) and no hidden test is shown.
A cannot read B's work, the exchange's inbox or the instructor's course, nor open formgrader; the instructor
can. Running `make class` again keeps accounts, passwords, submissions and grades. A roster with a duplicate
or invalid name is refused before anything is created. Screenshots: `artifacts/browser/class-*.png`.

It needs root on Debian (accounts, PAM), npm (configurable-http-proxy), bubblewrap and Chromium; elsewhere it
is skipped, saying what is missing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import jupytext
import nbformat
import pytest
from playwright.sync_api import expect

from grading import feedback, manifest, submissions

from .jupyterlab import ARTIFACTS, LabPage

UNIT = "01_derivatives"
PREFIX = "calcmlt-"  # every account this test makes, and removes
INSTRUCTOR, A, B, C = (f"{PREFIX}{name}" for name in ("teacher", "alice", "bob", "carol"))
COURSE_ID = manifest.load()["course_id"]
MAKE_SECONDS = 1200  # a fresh class venv on a slow machine; nothing is timed
UI_MS = 180_000  # bounds a hang in the hub's pages; nothing is timed


def missing_requirements() -> str | None:
    if os.geteuid() != 0:
        return "needs root: make class creates Unix accounts and starts a server as each of them"
    if not Path("/etc/debian_version").exists():
        return "needs Debian or Ubuntu (useradd, chpasswd, PAM as there)"
    tools = ["useradd", "chpasswd", "runuser", "npm", "bwrap", "make", "git"]
    missing = [tool for tool in tools if not shutil.which(tool)]
    if missing:
        return f"missing tools: {', '.join(missing)} (sudo apt-get install nodejs npm bubblewrap)"
    if subprocess.run(["dpkg", "-s", "python3-venv"], capture_output=True).returncode:
        return "Debian's python3 cannot make a venv (sudo apt-get install python3-venv)"
    return None


REASON = missing_requirements()
pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.xdist_group("class"),
              pytest.mark.skipif(REASON is not None, reason=f"the class hub test {REASON}")]


def _free_ports(count: int) -> int:
    """A port P such that P .. P+count-1 are free on localhost now."""
    for _ in range(200):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port + count >= 65536:
            continue
        try:
            for offset in range(1, count):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", port + offset))
            return port
        except OSError:
            continue
    raise RuntimeError("no block of free ports")


def make(*args: str, timeout: float = MAKE_SECONDS) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "--no-print-directory", *args], cwd=manifest.ROOT, capture_output=True,
                          text=True, timeout=timeout)


@dataclass
class ClassHub:
    root: Path
    url: str
    settings: dict
    passwords: dict[str, str]

    @property
    def course(self) -> Path:
        return Path(self.settings["course"])

    @property
    def exchange(self) -> Path:
        return Path(self.settings["exchange"]) / COURSE_ID

    def make_args(self, roster: Path) -> list[str]:
        return [f"ROSTER={roster}", f"CLASS_ROOT={self.root}", f"CLASS_PORT={self.settings['port']}"]

    def as_instructor(self, *argv: str, cwd: Path | None = None, timeout: float = 900) -> str:
        """Run a command as the instructor, in their course (or `cwd`); fail the test with its output."""
        from classhub.accounts import PATH, run_as

        done = run_as(INSTRUCTOR, list(argv), cwd=cwd or self.course, capture_output=True, text=True,
                      timeout=timeout, env={"PATH": f"{self.settings['venv']}/bin:{PATH}"})
        assert done.returncode == 0, f"{' '.join(argv)} failed ({done.returncode}):\n{done.stdout[-3000:]}\n" \
                                     f"{done.stderr[-3000:]}"
        return done.stdout

    def nbgrader(self, *args: str) -> str:
        return self.as_instructor(str(self.course / ".venv" / "bin" / "python"), "-m", "nbgrader", *args,
                                  cwd=self.course / "autograder")

    def gradebook(self) -> dict[str, dict]:
        """Every student's score and submission time for the unit, read by the instructor through nbgrader."""
        script = f"""
import json
from nbgrader.api import Gradebook, MissingEntry
out = {{}}
with Gradebook("sqlite:///{self.course}/autograder/gradebook.db", {COURSE_ID!r}) as gb:
    for student in gb.students:
        try:
            s = gb.find_submission({UNIT!r}, student.id)
        except MissingEntry:
            continue
        out[student.id] = {{"score": s.score, "max_score": s.max_score, "timestamp": str(s.timestamp)}}
print(json.dumps(out))
"""
        return json.loads(self.as_instructor(str(self.course / ".venv" / "bin" / "python"), "-c", script)
                          .strip().splitlines()[-1])


def write_roster(path: Path, *lines: str) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _remove_accounts() -> None:
    from classhub import accounts

    accounts.remove([INSTRUCTOR, A, B, C, f"{PREFIX}x", f"{PREFIX}y"], COURSE_ID)


@pytest.fixture(scope="module")
def hub(artifacts) -> Iterator[ClassHub]:
    _remove_accounts()  # what an interrupted earlier run may have left
    root = Path(tempfile.mkdtemp(prefix="calcml-class-test-"))
    os.chmod(root, 0o755)
    port = _free_ports(3)
    roster = write_roster(root / "roster", f"instructor {INSTRUCTOR}", f"student {A}", f"student {B}",
                          f"student {C}")
    started = time.monotonic()
    try:
        done = make("class", f"ROSTER={roster}", f"CLASS_ROOT={root}", f"CLASS_PORT={port}")
        assert done.returncode == 0, f"make class failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
        print(f"make class took {time.monotonic() - started:.0f} s")
        settings = json.loads((root / "settings.json").read_text(encoding="utf-8"))
        passwords = dict(line.split(" ", 1) for line in (root / "passwords.txt").read_text().splitlines())
        yield ClassHub(root, f"http://127.0.0.1:{port}", settings, passwords)
    finally:
        stopped = make("class-stop", f"CLASS_ROOT={root}", timeout=300)
        log = root / "hub" / "jupyterhub.log"
        if log.exists():
            shutil.copy(log, artifacts / "class-jupyterhub.log")
        _remove_accounts()
        shutil.rmtree(root, ignore_errors=True)
        assert stopped.returncode == 0, stopped.stderr


class HubPage(LabPage):
    """A Playwright page on the hub, logged in as one user (the browser's cookies are that user's only)."""

    def __init__(self, page, hub: ClassHub, user: str) -> None:
        super().__init__(page, None)
        self.hub, self.user = hub, user
        self.base = f"{hub.url}/user/{user}"

    def login(self, screenshot: str | None = None) -> None:
        self.page.context.clear_cookies()
        self.page.goto(f"{self.hub.url}/hub/login")
        self.page.fill("#username_input", self.user)
        self.page.fill("#password_input", self.hub.passwords[self.user])
        if screenshot:
            self.screenshot(screenshot)
        self.page.click("#login_submit")
        self.page.wait_for_url(re.compile(rf"/user/{re.escape(self.user)}/lab"), timeout=UI_MS)
        self.page.locator("#jp-main-dock-panel").wait_for()
        self.page.locator(".lm-MenuBar-item", has_text="Nbgrader").wait_for()

    def assignment_list(self):
        """Open nbgrader's Assignment List (Nbgrader menu) and return its panel."""
        self.page.goto(f"{self.base}/lab?reset")
        self.page.locator(".lm-MenuBar-item", has_text="Nbgrader").wait_for()
        self.menu("Nbgrader", "Assignment List")
        panel = self.page.locator("#released_assignments_list").locator("xpath=ancestor::*[contains(@class, "
                                                                         "'lm-Widget')][1]")
        expect(self.page.locator("#released_assignments_list_loading")).to_be_hidden(timeout=UI_MS)
        return panel

    def nbgrader_menu(self) -> list[str]:
        """The items of JupyterLab's Nbgrader menu."""
        self.page.locator(".lm-MenuBar-item", has_text="Nbgrader").click()
        items = self.page.locator(".lm-Menu-content .lm-Menu-item").all_text_contents()
        self.page.keyboard.press("Escape")
        return [item.strip() for item in items if item.strip()]

    def row(self, listing: str, text: str = UNIT):
        return self.page.locator(f"#{listing} .list_item", has_text=text)

    def put_notebook(self, path: str, notebook) -> None:
        """Save `notebook` at `path` through the user's server's contents API (as JupyterLab saves)."""
        status = self.page.evaluate(
            """async ([url, content]) => {
                const xsrf = decodeURIComponent((document.cookie.match(/(?:^|; )_xsrf=([^;]+)/) || [])[1] || '');
                const response = await fetch(url, {method: 'PUT', credentials: 'same-origin',
                    headers: {'Content-Type': 'application/json', 'X-XSRFToken': xsrf},
                    body: JSON.stringify({type: 'notebook', format: 'json', content})});
                return response.status;
            }""", [f"{self.base}/api/contents/{path}", json.loads(nbformat.writes(notebook))])
        assert status in (200, 201), f"saving {path} answered {status}"

    def status_of(self, url: str) -> int:
        """The HTTP status this user's browser gets for `url` (following the hub's redirects)."""
        return self.page.evaluate("async url => (await fetch(url, {credentials: 'same-origin'})).status", url)

    def submit(self, shot: str, submissions_before: int) -> None:
        self.row("fetched_assignments_list").get_by_role("button", name="Submit").click()
        # One row per assignment, holding one nested row per submission (its time).
        expect(self.page.locator("#submitted_assignments_list .nested_list_item")).to_have_count(
            submissions_before + 1, timeout=UI_MS)
        self.screenshot(shot)


def notebook_path() -> str:
    return f"{UNIT}/{manifest.unit(UNIT)['notebook']}.ipynb"


def hidden_test_lines() -> list[str]:
    source = jupytext.read(manifest.source_script(manifest.unit(UNIT)))
    return [line.strip() for cell in source.cells for line in feedback.hidden_lines(cell.source)
            if len(line.strip()) >= 12]


def fetch_and_open_feedback(page: HubPage, shot: str) -> str:
    """Fetch Feedback in the Assignment List, follow its "view feedback" link to the feedback's folder, open the
    page there in JupyterLab's HTML viewer, screenshot it and return its HTML."""
    page.assignment_list()
    page.row("submitted_assignments_list").get_by_role("button", name="Fetch Feedback").click()
    link = page.page.locator("#submitted_assignments_list a", has_text="view feedback").last
    link.wait_for(timeout=UI_MS)
    link.click()  # JupyterLab's file browser goes to the feedback's folder
    page.page.locator(".jp-DirListing-item", has_text=f"{manifest.unit(UNIT)['notebook']}.html").dblclick()
    frame = page.page.locator("#jp-main-dock-panel .jp-HTMLViewer:not(.lm-mod-hidden) iframe")
    frame.wait_for(timeout=UI_MS)
    content = frame.element_handle().content_frame()
    content.wait_for_load_state()
    content.locator("body").get_by_text("Score", exact=False).first.wait_for(timeout=UI_MS)
    page.screenshot(shot)
    return content.content()


def test_a_roster_with_a_duplicate_or_invalid_name_creates_nothing(tmp_path) -> None:
    root = tmp_path / "class"
    twice = f"{PREFIX}y"
    roster = write_roster(tmp_path / "roster", f"instructor {PREFIX}x", f"student {twice}", f"student {twice}",
                          "student Not_Valid!")
    done = make("class", f"ROSTER={roster}", f"CLASS_ROOT={root}", "CLASS_PORT=1")
    assert done.returncode != 0
    assert "nothing was created or changed" in done.stderr
    assert f"'{twice}' is listed twice (first on line 2)" in done.stderr
    assert "'Not_Valid!' is not a valid user name" in done.stderr
    assert not root.exists()
    for name in (f"{PREFIX}x", twice):
        assert subprocess.run(["id", name], capture_output=True).returncode != 0, f"{name} was created"


def test_a_class_round_trip(hub: ClassHub, chromium) -> None:
    timings: dict[str, float] = {}
    clock = time.monotonic()

    def lap(name: str) -> None:
        nonlocal clock
        timings[name] = time.monotonic() - clock
        clock = time.monotonic()

    # 1. The instructor releases unit 01 to the exchange.
    hub.nbgrader("release_assignment", UNIT, "--force")
    assert (hub.exchange / "outbound" / UNIT / f"{manifest.unit(UNIT)['notebook']}.ipynb").is_file()
    lap("release")

    browser_page = chromium.new_page()
    try:
        # 2. Student A: log in, fetch, submit the untouched notebook, answer, Validate, submit again.
        a = HubPage(browser_page, hub, A)
        a.login(screenshot="class-01-login-page")
        lap("A logs in (server spawned)")
        assert a.nbgrader_menu() == ["Assignment List"], "a student sees instructor tools"
        a.assignment_list()
        released = a.row("released_assignments_list")
        expect(released).to_be_visible(timeout=UI_MS)
        a.screenshot("class-02-a-assignment-list-released")
        released.get_by_role("button", name="Fetch").click()
        expect(a.row("fetched_assignments_list")).to_be_visible(timeout=UI_MS)
        a.screenshot("class-03-a-fetched")
        assert (Path(f"/home/{A}") / notebook_path()).is_file()
        a.submit("class-04-a-submitted-untouched", 0)
        first_submission = sorted((hub.root / "exchange").glob(f"{COURSE_ID}/inbound/{A}+{UNIT}+*"))
        assert len(first_submission) == 1
        lap("A fetches and submits")

        a.put_notebook(notebook_path(), submissions.solved(manifest.unit(UNIT)))
        a.page.goto(f"{a.base}/lab/tree/{notebook_path()}?reset")
        a.notebook.locator(".jp-Cell").first.wait_for()
        a.wait_for_idle_kernel()
        dialog = a.validate()
        expect(dialog.locator(".validation-success")).to_contain_text("Success! Your notebook passes all the tests.")
        a.screenshot("class-05-a-validate-passes", dialog.locator(".jp-Dialog-content"))
        dialog.get_by_role("button", name="Ok").click()
        a.assignment_list()
        a.submit("class-06-a-submitted-again", 1)
        lap("A answers, validates, submits again")

        # 3. Student B submits a partly wrong notebook; C never submits.
        b = HubPage(browser_page, hub, B)
        b.login()
        b.assignment_list()
        b.row("released_assignments_list").get_by_role("button", name="Fetch").click()
        expect(b.row("fetched_assignments_list")).to_be_visible(timeout=UI_MS)
        entry = manifest.unit(UNIT)
        wrong_id = f"{entry['exercises'][0]['grade_id']}-solution"
        wrong = submissions.with_wrong_answer(entry, wrong_id, submissions.wrong_answers(entry)[wrong_id][0])
        b.put_notebook(notebook_path(), wrong)
        b.submit("class-07-b-submitted-partly-wrong", 0)
        lap("B fetches and submits")

        # 4. The instructor collects, grades (sandboxed, out-of-kernel check on), makes and releases feedback.
        collected = hub.nbgrader("collect", UNIT)
        inbound = sorted(p.name for p in (hub.exchange / "inbound").iterdir())
        assert len([n for n in inbound if n.startswith(f"{A}+")]) == 2, inbound  # the earlier one is kept
        graded = hub.as_instructor("make", "--no-print-directory", "grade", f"A={UNIT}",
                                   "GRADE_ARGS=--quiet --workers 2")
        assert "sandbox: NONE" not in graded, graded
        lap("collect and make grade")
        hub.as_instructor("make", "--no-print-directory", "feedback", f"A={UNIT}")
        released_feedback = hub.as_instructor("make", "--no-print-directory", "release-feedback", f"A={UNIT}")
        assert f"released for: {A}, {B}" in released_feedback, released_feedback
        lap("feedback made and released")
        scores = hub.gradebook()
        assert set(scores) == {A, B}, (scores, collected, graded)
        assert scores[A]["score"] == scores[A]["max_score"] > 0, f"A's later, solved submission counts: {scores}"
        assert 0 < scores[B]["score"] < scores[B]["max_score"], scores
        summary = {line.split()[0]: line for line in graded.splitlines() if line.startswith(PREFIX)}
        assert "missing" in summary.get(C, ""), graded

        # The instructor has formgrader, in their own server, with the class's submissions.
        teacher = HubPage(browser_page, hub, INSTRUCTOR)
        teacher.login()
        assert "Formgrader" in teacher.nbgrader_menu()
        teacher.page.goto(f"{teacher.base}/formgrader/gradebook/{UNIT}/{manifest.unit(UNIT)['notebook']}")
        expect(teacher.page.get_by_role("link", name=re.compile(r"^Submission #\d+$"))).to_have_count(2, timeout=UI_MS)
        teacher.screenshot("class-08-instructor-formgrader")
        lap("instructor opens formgrader")

        # 5. A and B fetch their feedback and open it: the gradebook's scores, and no hidden test.
        hidden = hidden_test_lines()
        assert hidden, "the unit has no hidden tests to look for"
        for student, shot in ((A, "class-09-a-feedback"), (B, "class-10-b-feedback")):
            page = HubPage(browser_page, hub, student)
            page.login()
            shown = fetch_and_open_feedback(page, shot)
            text = " ".join(feedback.html_text(shown).split())
            shown_score = re.search(r"Score:\s*([\d.]+)\s*/\s*([\d.]+)", text)  # the page's heading: the total
            assert shown_score, text[:3000]
            assert (float(shown_score[1]), float(shown_score[2])) == (scores[student]["score"],
                                                                    scores[student]["max_score"]), text[:3000]
            assert "BEGIN HIDDEN TESTS" not in shown
            assert not [line for line in hidden if line in shown], "hidden tests in the feedback"
        lap("A and B fetch and open feedback")

        # 6. A sees neither B's work nor the instructor's, and has no formgrader.
        a.login()
        a.page.goto(f"{a.base}/formgrader")
        a.screenshot("class-11-a-no-formgrader")
        assert a.status_of(f"{a.base}/formgrader") == 404
        assert a.status_of(f"{hub.url}/user/{B}/api/contents/{UNIT}") in (403, 404, 424, 503)
        assert a.status_of(f"{hub.url}/user/{INSTRUCTOR}/api/contents/{COURSE_ID}/source") in (403, 404, 424, 503)
        response = a.page.goto(f"{hub.url}/user/{B}/lab")
        assert response is not None and response.status >= 400, response and response.status
        assert a.page.locator("#jp-main-dock-panel").count() == 0, "A opened B's JupyterLab"
        a.screenshot("class-12-a-cannot-open-b")
        lap("A's isolation, in the browser")
    except BaseException:
        browser_page.screenshot(path=str(ARTIFACTS / "FAILED-class-round-trip.png"))
        raise
    finally:
        browser_page.close()

    from classhub.accounts import run_as

    for what in (f"/home/{B}", f"/home/{INSTRUCTOR}/{COURSE_ID}/source", f"/home/{INSTRUCTOR}",
                 str(hub.exchange / "inbound"), str(hub.exchange / "feedback")):
        listing = run_as(A, ["ls", what], capture_output=True, text=True)
        assert listing.returncode != 0 and "Permission denied" in listing.stderr, (what, listing)

    # Running make class again keeps accounts, passwords, submissions and grades.
    before = (hub.passwords, inbound, scores)
    done = make("class", *hub.make_args(hub.root / "roster"))
    assert done.returncode == 0, done.stderr[-3000:]
    passwords = dict(line.split(" ", 1) for line in (hub.root / "passwords.txt").read_text().splitlines())
    assert (passwords, sorted(p.name for p in (hub.exchange / "inbound").iterdir()), hub.gradebook()) == before
    lap("make class again")
    print("round trip, seconds per step: " + ", ".join(f"{k}: {v:.0f}" for k, v in timings.items()))
