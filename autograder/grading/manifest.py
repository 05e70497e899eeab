"""The units manifest `course/units.yml`: the one list of units, their objectives and graded exercises."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = ROOT / "course" / "units.yml"


def load(path: Path = MANIFEST) -> dict[str, Any]:
    """The parsed manifest: `course_id`, `objectives` (number -> text) and `units` (a list, in order)."""
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def unit(unit_id: str) -> dict[str, Any]:
    """One unit's entry, by id such as `01_derivatives`."""
    for entry in load()["units"]:
        if entry["id"] == unit_id:
            return entry
    raise KeyError(f"no unit {unit_id!r} in {MANIFEST}")


def source_script(entry: dict[str, Any]) -> Path:
    """The jupytext source of a unit, e.g. `source/01_derivatives/derivatives.py`."""
    return ROOT / "source" / entry["id"] / f"{entry['notebook']}.py"


def release_notebook(entry: dict[str, Any]) -> Path:
    """The student notebook of a unit, e.g. `release/01_derivatives/derivatives.ipynb`."""
    return ROOT / "release" / entry["id"] / f"{entry['notebook']}.ipynb"
