"""Fixtures of the browser suite: one JupyterLab server and one Chromium per run, a fresh page per test.

The server serves a temporary copy of the course (nothing in the repository changes) and is stopped by a
finalizer, also when a step fails or the run is interrupted (and, on Linux, when pytest itself is killed).
Every test leaves its screenshots in `artifacts/browser/` (a run first removes those of earlier runs); a
failing test adds `FAILED-<test>.png`. The tests share one xdist group, meant to keep them on one worker
under `make test`; split over workers they still pass, each worker with a server of its own.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from .jupyterlab import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, CourseCopy, LabPage, LabServer
from .widgets import WIDGETS


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """The screenshot folder, without the screenshots of earlier runs (they would mislead).

    Under xdist each worker gets here, perhaps after another has saved screenshots of this run; so only files
    older than the run itself (the start of pytest's main process) are removed.
    """
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    main = psutil.Process(os.getppid() if os.environ.get("PYTEST_XDIST_WORKER") else os.getpid())
    for old in ARTIFACTS.glob("*.png"):
        if old.stat().st_mtime < main.create_time():
            old.unlink(missing_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def course(tmp_path_factory) -> CourseCopy:
    """The course as a learner has it once they have solved every unit the suite exercises."""
    return CourseCopy(tmp_path_factory.mktemp("learner"), sorted(WIDGETS))


@pytest.fixture(scope="session")
def lab(course, artifacts, tmp_path_factory) -> Iterator[LabServer]:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    log = artifacts / f"jupyterlab{'-' + worker if worker else ''}.log"
    server = LabServer(course.root, tmp_path_factory.mktemp("jupyter"), log)
    try:
        server.wait_until_ready()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def chromium(tmp_path_factory):
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"no Chromium at {CHROMIUM}: install Debian's (sudo apt-get install chromium), point "
                    "CALCML_CHROMIUM at another one, or leave the browser tests out with -m 'not browser'")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=CHROMIUM, headless=True,
            args=CHROMIUM_ARGS, viewport={"width": 1400, "height": 900}, device_scale_factor=1)
        try:
            yield context
        finally:
            context.close()


FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.stash[FAILED] = report.failed
    return report


@pytest.fixture
def lab_page(request, chromium, lab) -> Iterator[LabPage]:
    page = chromium.new_page()
    try:
        yield LabPage(page, lab)
    finally:
        if request.node.stash.get(FAILED, False):
            try:
                page.screenshot(path=str(ARTIFACTS / f"FAILED-{request.node.name}.png"))
            except Exception:  # a screenshot of a dead page is not worth a second error
                pass
        page.close()
        lab.shutdown_kernels()
