"""Every source notebook runs top to bottom with every test passing, and prints no warning."""

from __future__ import annotations

import nbformat
import pytest
from nbclient import NotebookClient

from grading import manifest, release

pytestmark = pytest.mark.slow


def test_source_notebook_runs_clean(unit, tmp_path) -> None:
    path = release.build_source_notebook(manifest.source_script(unit))
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    noisy = [(i, o.get("text", "")[:300]) for i, cell in enumerate(notebook.cells)
             for o in cell.get("outputs", []) if o.get("output_type") == "stream" and o.get("name") == "stderr"]
    assert not noisy, f"cells wrote to stderr (a warning?): {noisy}"
