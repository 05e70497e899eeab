"""Every figure a unit draws labels its axes and uses colours that colour-blind readers can tell apart.

Each source notebook runs unchanged in a kernel whose IPython profile holds one startup file,
`tests/figure_audit.py`. It records every figure as it is rendered (pyplot figures and the widgets' own
figures alike), so the test judges the figures the learner sees, not the code that makes them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import jupytext
import nbformat
import pytest
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook

from calcml import plots
from grading import manifest

pytestmark = pytest.mark.slow

AUDIT = Path(__file__).with_name("figure_audit.py")
#: Colours anyone can tell apart: the Okabe-Ito palette of `calcml.plots`, plus greys, black and white.
SAFE_COLOURS = {colour.lower() for colour in plots.PALETTE}
#: Perceptually uniform colour maps that stay readable with colour-vision deficiencies, and grey scales.
SAFE_COLOUR_MAPS = {"cividis", "viridis", "plasma", "inferno", "magma", "gray", "Greys", "binary"}


def _is_grey(colour: str) -> bool:
    return colour[1:3] == colour[3:5] == colour[5:7]


def audit_figures(notebook: nbformat.NotebookNode, folder: Path) -> list[dict]:
    """Run `notebook` in an audited kernel (widgets drawn statically) and return its figure records."""
    startup = folder / "ipython" / "profile_default" / "startup"
    startup.mkdir(parents=True)
    shutil.copy(AUDIT, startup / "00-figure-audit.py")
    log = folder / "figures.jsonl"
    env = {key: value for key, value in os.environ.items() if key != "MPLBACKEND"}  # the learner's inline backend
    env.update(IPYTHONDIR=str(folder / "ipython"), CALCML_FIGURE_AUDIT=str(log), CALCML_STATIC="1")
    NotebookClient(notebook, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(folder)}}).execute(env=env, stderr=subprocess.DEVNULL)
    figures = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()] if log.exists() else []
    code_cells = [n for n, cell in enumerate(notebook.cells) if cell.cell_type == "code" and cell.source.strip()]
    for entry in figures:  # nbclient runs the non-empty code cells in order; name each by its index
        if "run" in entry:
            entry["cell"] = code_cells[entry["run"] - 1]
    return figures


def problems(figures: list[dict]) -> list[str]:
    """What is wrong with the recorded figures, one line each (empty when every figure is fine).

    An axis needs a label when it shows tick labels: twin axes, colour bars and drawings with the axes
    switched off (the computational graphs) have none to explain.
    """
    found = [f"the audit itself failed: {entry['audit_error']}" for entry in figures if "audit_error" in entry]
    for entry in (e for e in figures if "axes" in e):
        for ax in entry["axes"]:
            where = f"cell {entry['cell']}, axes {ax['title'] or entry['suptitle'] or '(untitled)'!r}"
            if ax["axis_on"] and ax["has_data"] and not ax["colorbar"]:
                if ax["x_shown"] and not ax["xlabel"].strip():
                    found.append(f"{where}: the x axis has no label")
                if ax["y_shown"] and not ax["ylabel"].strip():
                    found.append(f"{where}: the y axis has no label")
            unsafe = [c for c in ax["colours"] if c not in SAFE_COLOURS and not _is_grey(c)]
            if unsafe:
                found.append(f"{where}: colours outside the Okabe-Ito palette (calcml.plots.PALETTE): {unsafe}")
            maps = [m for m in ax["colour_maps"] if m not in SAFE_COLOUR_MAPS]
            if maps:
                found.append(f"{where}: colour maps that are not colour-blind safe: {maps} (use cividis or viridis)")
    return found


def test_every_figure_is_labelled_and_colour_blind_safe(unit, tmp_path) -> None:
    figures = audit_figures(jupytext.read(manifest.source_script(unit)), tmp_path)
    assert any("axes" in entry for entry in figures), "no figure was recorded: is the audit hook installed?"
    found = problems(figures)
    assert not found, f"{unit['id']}: " + "; ".join(found)


def test_the_audit_sees_pyplot_and_widget_figures_and_flags_what_is_wrong(tmp_path) -> None:
    notebook = new_notebook(cells=[
        new_code_cell("import matplotlib.pyplot as plt\n"
                      "plt.plot([0, 1], [0, 1], color='red')\nplt.xlabel('x')\nplt.show()"),
        new_code_cell("import io\nfrom matplotlib.figure import Figure\n"
                      "figure = Figure()\nax = figure.add_subplot()\nax.plot([1, 2], color='#0072B2')\n"
                      "ax.set(xlabel='t', ylabel='y')\nfigure.savefig(io.BytesIO(), format='png')"),
    ], metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    figures = audit_figures(notebook, tmp_path)
    assert [entry["cell"] for entry in figures] == [0, 1]
    assert problems(figures) == ["cell 0, axes '(untitled)': the y axis has no label",
                                 "cell 0, axes '(untitled)': colours outside the Okabe-Ito palette "
                                 "(calcml.plots.PALETTE): ['#ff0000']"]
