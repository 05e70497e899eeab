"""JupyterLab on a throwaway copy of the course, and the few moves a learner makes in it, for Playwright.

`CourseCopy` lays out what learners have: the front door (`course/`), their notebooks (`release/`, with the
units the suite exercises already solved), an untouched hand-out of unit 01, and a second learner half-way
through (`midway/`). `LabServer` serves it on a
free localhost port with a random token, configured as on Binder (the repository's `.jupyter/` is the user
configuration folder), and always stops it, kernels included. `LabPage` wraps a Playwright page: open a
notebook, run it, find a widget, press Validate.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil

from grading import manifest, submissions

#: Debian's Chromium. Playwright never downloads a browser here; CALCML_CHROMIUM may point elsewhere.
CHROMIUM = os.environ.get("CALCML_CHROMIUM", "/usr/bin/chromium")
#: Flags for a quiet, reproducible headless Chromium (Playwright adds --headless itself).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
#: Where screenshots and the server log go; ignored by git (`artifacts/`).
ARTIFACTS = manifest.ROOT / "artifacts" / "browser"
#: Generous limits: the machine may be small and busy. Nothing is timed; these only bound a hang.
SERVER_START_SECONDS = 300
STEP_MS = 600_000  # running a notebook, validating one
WIDGET_MS = 120_000  # a widget answering a key press
#: The configuration Binder applies (repo2docker puts the repository in $HOME, so this is ~/.jupyter).
BINDER_CONFIG = manifest.ROOT / ".jupyter"
#: The status bar's kernel item once the notebook's kernel is connected and idle.
KERNEL_IDLE = re.compile(r"^Python 3 \(ipykernel\) \| Idle$")
#: The untouched hand-out, next to the learner's own copies, and the folder of a learner half-way through.
UNTOUCHED, MIDWAY = "untouched", "midway"


class CourseCopy:
    """What learners have, built in `root` (never in the repository).

    - `course/` and `release/`: a learner who has solved `solved_units` (the others are untouched);
    - `untouched/`: the hand-out of the first unit, as nbgrader released it;
    - `midway/`: a learner half-way, with a front door and notebooks of their own: the first unit solved,
      a known-wrong answer in the first exercise of the second unit (the rest of it solved), the others
      untouched, so that the progress table shows every status.
    """

    def __init__(self, root: Path, solved_units: list[str]) -> None:
        self.root = root
        self.solved_units = solved_units
        units = manifest.load()["units"]
        for learner in (root, root / MIDWAY):
            shutil.copytree(manifest.ROOT / "course", learner / "course")
            shutil.copytree(manifest.ROOT / "release", learner / "release",
                            ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
        for unit_id in solved_units:
            submissions.write(submissions.solved(manifest.unit(unit_id)), root / self.path(unit_id))
        submissions.write(submissions.release(units[0]), root / self.untouched(units[0]["id"]))

        first, second = units[0], units[1]
        submissions.write(submissions.solved(first), root / MIDWAY / self.path(first["id"]))
        self.wrong_exercise = second["exercises"][0]["grade_id"]
        wrong = submissions.wrong_answers(second)[f"{self.wrong_exercise}-solution"][0]
        submissions.write(submissions.with_wrong_answer(second, f"{self.wrong_exercise}-solution", wrong),
                          root / MIDWAY / self.path(second["id"]))

    @staticmethod
    def path(unit_id: str) -> str:
        """The learner's notebook of a unit, relative to the server root: `release/NN_topic/topic.ipynb`."""
        return f"release/{unit_id}/{manifest.unit(unit_id)['notebook']}.ipynb"

    def notebook(self, unit_id: str) -> Path:
        return self.root / self.path(unit_id)

    @staticmethod
    def untouched(unit_id: str) -> str:
        """An untouched copy of the unit's release notebook, relative to the server root."""
        return f"{UNTOUCHED}/{unit_id}/{manifest.unit(unit_id)['notebook']}.ipynb"


def _terminate_with_parent() -> None:
    """In the child, before exec: ask Linux to send SIGTERM when the parent exits (prctl PR_SET_PDEATHSIG)."""
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LabServer:
    """`jupyter lab` serving `root` on localhost with a random token; `stop()` always ends it and its kernels."""

    def __init__(self, root: Path, state: Path, log: Path) -> None:
        self.root, self.token, self.port = root, secrets.token_hex(24), free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = state / "config"
        shutil.copytree(BINDER_CONFIG, config)
        env = {key: value for key, value in os.environ.items()
               if key not in {"MPLBACKEND", "CALCML_STATIC", "PYTHONPATH", "IPYTHONDIR"}
               and not key.startswith("JUPYTER_")}
        env.update(JUPYTER_CONFIG_DIR=str(config), JUPYTER_DATA_DIR=str(state / "data"),
                   JUPYTER_RUNTIME_DIR=str(state / "runtime"), IPYTHONDIR=str(state / "ipython"),
                   PATH=os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]))
        command = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
                   f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0",
                   f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={root}",
                   f"--LabApp.user_settings_dir={state / 'settings'}",
                   f"--LabApp.workspaces_dir={state / 'workspaces'}"]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            command.append("--allow-root")  # CI containers run as root
        self.log = log
        self._log_file = open(log, "w", encoding="utf-8")  # noqa: SIM115 -- closed in stop()
        # A session of its own: stop() can signal the server's whole process group, and nothing else. On Linux
        # the server also gets SIGTERM if pytest itself dies without running its finalizers.
        self.process = subprocess.Popen(command, cwd=root, env=env, stdout=self._log_file,
                                        stderr=subprocess.STDOUT, start_new_session=True,
                                        preexec_fn=_terminate_with_parent if sys.platform == "linux" else None)

    def request(self, method: str, path: str, timeout: float = 30) -> tuple[int, bytes]:
        request = urllib.request.Request(f"{self.url}{path}", method=method, data=b"" if method == "POST" else None,
                                         headers={"Authorization": f"token {self.token}"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def wait_until_ready(self) -> None:
        deadline = time.monotonic() + SERVER_START_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"JupyterLab exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                if self.request("GET", "/api/status", timeout=5)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"JupyterLab did not answer within {SERVER_START_SECONDS} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        self._log_file.flush()
        return "\n".join(self.log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])

    def shutdown_kernels(self) -> None:
        """End every kernel session (each test starts from fresh kernels, and memory stays low)."""
        status, body = self.request("GET", "/api/sessions")
        for session in json.loads(body) if status == 200 else []:
            self.request("DELETE", f"/api/sessions/{session['id']}", timeout=60)

    def stop(self) -> None:
        """Stop the server and every process it started: gracefully first, then by force."""
        if self.process.poll() is None:
            try:
                descendants = psutil.Process(self.process.pid).children(recursive=True)
            except psutil.Error:
                descendants = []
            try:
                self.request("POST", "/api/shutdown", timeout=30)  # shuts the kernels down too
                self.process.wait(timeout=60)
            except (OSError, subprocess.TimeoutExpired):
                for sig, wait in ((signal.SIGTERM, 30), (signal.SIGKILL, 30)):
                    if self.process.poll() is not None:
                        break
                    try:
                        os.killpg(self.process.pid, sig)
                        self.process.wait(timeout=wait)
                    except (ProcessLookupError, subprocess.TimeoutExpired):
                        pass
            for child in descendants:  # kernels live in sessions of their own: end any that outlived the server
                try:
                    child.kill()
                except psutil.Error:
                    pass
        self._log_file.close()


class LabPage:
    """A Playwright page on the server, with the moves of a learner in JupyterLab."""

    def __init__(self, page, server: LabServer) -> None:
        self.page, self.server = page, server
        page.set_default_timeout(STEP_MS)

    def open(self, path: str) -> None:
        """Open `path` in a reset workspace (no tab restored from an earlier test) and wait for its kernel."""
        self.page.goto(f"{self.server.url}/lab/tree/{path}?reset&token={self.server.token}")
        self.notebook.locator(".jp-Cell").first.wait_for()
        self.wait_for_idle_kernel()

    @property
    def notebook(self):
        """The notebook panel of the current tab."""
        return self.page.locator("#jp-main-dock-panel .jp-NotebookPanel:not(.lm-mod-hidden)")

    def wait_for_idle_kernel(self) -> None:
        """Wait until the current notebook's kernel is connected and idle, as the status bar says.

        Running cells before the kernel is attached would open JupyterLab's "Select Kernel" dialog.
        """
        self.page.locator("#jp-main-statusbar").get_by_text(KERNEL_IDLE).wait_for()
        self.notebook.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").wait_for(state="attached")

    def menu(self, *labels: str) -> None:
        """Click through the menu bar, for example `menu("Run", "Run All Cells")`."""
        self.page.locator(".lm-MenuBar-item", has_text=labels[0]).click()
        for label in labels[1:]:
            self.page.get_by_role("menuitem", name=label, exact=True).click()

    def run_all(self, code_cells: int) -> None:
        """Run > Run All Cells, then wait until `code_cells` cells have an execution count and none is busy.

        The prompts are read with textContent: JupyterLab skips rendering off-screen cells, which empties
        innerText but not textContent.
        """
        self.menu("Run", "Run All Cells")
        self.page.wait_for_function(
            """([panel, expected]) => {
                const prompts = [...document.querySelectorAll(panel + ' .jp-CodeCell .jp-InputPrompt')]
                    .map(p => p.textContent.trim());
                return !prompts.some(p => p.includes('*'))
                    && prompts.filter(p => /^\\[\\d+\\]:$/.test(p)).length >= expected;
            }""",
            arg=["#jp-main-dock-panel .jp-NotebookPanel:not(.lm-mod-hidden)", code_cells], timeout=STEP_MS)
        self.wait_for_idle_kernel()

    def outputs(self, mime_type: str) -> list[str]:
        """The text of every output of the current notebook with this MIME type."""
        return self.notebook.locator(f".jp-OutputArea-output[data-mime-type='{mime_type}']").all_text_contents()

    def validate(self):
        """Press nbgrader's Validate and return the results dialog once it has an answer."""
        self.notebook.locator(".jp-Toolbar .validate-button").click()
        dialog = self.page.locator(".jp-Dialog")
        dialog.locator(".validation-success, .validation-failed, .validation-changed, .validation-type-changed, "
                       "pre").first.wait_for(timeout=STEP_MS)
        return dialog

    def screenshot(self, name: str, target=None) -> Path:
        """Save a screenshot of the page (or of `target`) as `artifacts/browser/<name>.png`."""
        path = ARTIFACTS / f"{name}.png"
        (target or self.page).screenshot(path=str(path))
        return path


def code_cells(path: Path) -> int:
    """How many code cells of the notebook at `path` JupyterLab will give an execution count."""
    notebook = json.loads(path.read_text(encoding="utf-8"))
    return sum(1 for cell in notebook["cells"]
               if cell["cell_type"] == "code" and "".join(cell["source"]).strip())
