"""Fixtures for the course-wide tests: the manifest, and units parametrised by id.

Each unit's tests carry an xdist group named after the unit, so under `pytest -n auto --dist loadgroup`
(what `make test` runs) one worker takes all of a unit's tests and builds its expensive fixtures once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import kernel_walk
import pytest

from grading import manifest

UNITS = manifest.load()["units"]
UNIT_IDS = [entry["id"] for entry in UNITS]


@pytest.fixture(params=[pytest.param(uid, marks=pytest.mark.xdist_group(uid)) for uid in UNIT_IDS])
def unit(request) -> dict:
    """Each unit of the manifest in turn."""
    return manifest.unit(request.param)


@pytest.fixture(scope="session")
def once_per_unit() -> Callable[[str, str, Callable[[], Any]], Any]:
    """`once_per_unit(kind, unit_id, build)`: build an expensive per-unit result (a grading run, a rebuilt
    release) once per worker, however many tests use it."""
    built: dict[tuple[str, str], Any] = {}

    def get(kind: str, unit_id: str, build: Callable[[], Any]) -> Any:
        if (kind, unit_id) not in built:
            built[kind, unit_id] = build()
        return built[kind, unit_id]

    return get


@pytest.fixture
def walked(unit, tmp_path_factory, once_per_unit) -> dict[str, kernel_walk.TestCell]:
    """The unit's kernel walk over its known-wrong answers (`tests/kernel_walk.py`), once per worker."""
    return once_per_unit("walked", unit["id"], lambda: kernel_walk.walk(unit, tmp_path_factory.mktemp("walk")))

