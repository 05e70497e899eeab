"""A kernel-side audit of every matplotlib figure a notebook renders (an IPython startup file, test-only).

`tests/test_accessibility.py` copies this file into the startup folder of a throwaway IPython profile and
runs each notebook in a kernel that uses that profile. Nothing in the notebook changes: the audit wraps
`FigureCanvasBase.print_figure`, through which every figure passes when it is rendered -- pyplot figures
shown by the inline backend as well as the unmanaged `Figure` objects of the `calcml` widgets -- and it
appends one JSON line per rendered figure to the file named by `CALCML_FIGURE_AUDIT`: which cell ran
(counted from 1), and for each axes its labels and the colours and colour maps of what it draws.
"""

from __future__ import annotations

import json
import os

from matplotlib import colors as mcolors
from matplotlib.backend_bases import FigureCanvasBase


def _hex(colour) -> str | None:
    try:
        rgba = mcolors.to_rgba(colour)
    except (TypeError, ValueError):
        return None
    if rgba[3] == 0:
        return None  # fully transparent: not a colour anyone sees
    return mcolors.to_hex(rgba, keep_alpha=False)


def _hexes(values) -> set[str]:
    try:
        rgba = mcolors.to_rgba_array(values)
    except (TypeError, ValueError):
        return set()
    return {mcolors.to_hex(c, keep_alpha=False) for c in rgba if c[3] > 0}


def _colour_map(cmap, colours: set[str], colour_maps: set[str]) -> None:
    """A short listed map (a contour's `colors=`, a tint) counts as its colours; any other map by its name."""
    listed = getattr(cmap, "colors", None)
    if listed is not None and len(listed) <= 16:
        colours |= _hexes(listed)
    else:
        colour_maps.add(cmap.name)


def _axes_record(ax) -> dict:
    colours: set[str] = set()
    colour_maps: set[str] = set()
    for line in ax.get_lines():
        if line.get_visible() and line.get_linestyle() not in ("None", "none", " ", ""):
            colours.add(_hex(line.get_color()))
        if line.get_visible() and line.get_marker() not in (None, "None", "none", "", " "):
            colours.add(_hex(line.get_markerfacecolor()))
    for collection in ax.collections:
        if not collection.get_visible():
            continue
        if collection.get_array() is not None:  # coloured by a colour map (contourf, scatter with c=...)
            _colour_map(collection.get_cmap(), colours, colour_maps)
        else:
            colours |= _hexes(collection.get_facecolor()) | _hexes(collection.get_edgecolor())
    for patch in ax.patches:
        if patch.get_visible():
            colours |= {_hex(patch.get_facecolor()), _hex(patch.get_edgecolor())}
    for image in ax.images:
        _colour_map(image.get_cmap(), colours, colour_maps)
    has_data = bool(ax.get_lines() or ax.collections or ax.patches or ax.images)
    return {
        "xlabel": ax.get_xlabel(), "ylabel": ax.get_ylabel(), "title": ax.get_title(),
        "axis_on": bool(ax.axison) and ax.get_visible(),
        "x_shown": ax.xaxis.get_visible() and any(t.get_visible() and t.get_text() for t in ax.get_xticklabels()),
        "y_shown": ax.yaxis.get_visible() and any(t.get_visible() and t.get_text() for t in ax.get_yticklabels()),
        "colorbar": hasattr(ax, "_colorbar"), "projection": ax.name, "has_data": has_data,
        "colours": sorted(c for c in colours if c), "colour_maps": sorted(colour_maps),
    }


_cells_run = [0]  # how many cells have started: the n-th cell run is the n-th non-empty code cell


def _count_cell(info) -> None:
    _cells_run[0] += 1


def _record(figure) -> None:
    entry = {"run": _cells_run[0], "figure": id(figure),
             "suptitle": figure._suptitle.get_text() if getattr(figure, "_suptitle", None) else "",
             "axes": [_axes_record(ax) for ax in figure.get_axes()]}
    with open(os.environ["CALCML_FIGURE_AUDIT"], "a", encoding="utf-8") as log:
        log.write(json.dumps(entry) + "\n")


_print_figure = FigureCanvasBase.print_figure


def _audited_print_figure(self, *args, **kwargs):
    try:
        _record(self.figure)
    except Exception as error:  # the audit must never change what the notebook does
        with open(os.environ["CALCML_FIGURE_AUDIT"], "a", encoding="utf-8") as log:
            log.write(json.dumps({"audit_error": repr(error)}) + "\n")
    return _print_figure(self, *args, **kwargs)


if os.environ.get("CALCML_FIGURE_AUDIT"):
    FigureCanvasBase.print_figure = _audited_print_figure
    get_ipython().events.register("pre_run_cell", _count_cell)  # noqa: F821 -- a startup file's global
