"""Fixtures for the course-wide tests: the manifest, and units parametrised by id."""

from __future__ import annotations

import pytest

from grading import manifest

UNITS = manifest.load()["units"]
UNIT_IDS = [entry["id"] for entry in UNITS]


@pytest.fixture(params=UNIT_IDS)
def unit(request) -> dict:
    """Each unit of the manifest in turn."""
    return manifest.unit(request.param)
