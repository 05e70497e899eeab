"""The browser suite's JupyterLab stops, and so does every kernel it started."""

from __future__ import annotations

import psutil
import pytest

from .jupyterlab import LabServer

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.xdist_group("browser")]


def test_the_server_and_its_kernels_always_stop(tmp_path) -> None:
    (tmp_path / "root").mkdir()
    server = LabServer(tmp_path / "root", tmp_path / "state", tmp_path / "jupyterlab.log")
    processes: list[psutil.Process] = []
    try:
        server.wait_until_ready()
        assert server.request("POST", "/api/kernels", timeout=120)[0] == 201
        processes = [psutil.Process(server.process.pid), *psutil.Process(server.process.pid).children(recursive=True)]
    finally:  # as in the `lab` fixture, which wraps the whole session the same way
        server.stop()
    assert len(processes) >= 2, "the kernel never started"
    _, alive = psutil.wait_procs(processes, timeout=60)
    assert not alive, f"still running after stop(): {alive}"
