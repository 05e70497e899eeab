"""release/ is exactly what the build makes from source/, and it leaks no solution and no hidden test."""

from __future__ import annotations

import nbformat
import pytest

from grading import feedback, manifest, submissions, workspace

pytestmark = pytest.mark.slow

LEAK_MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")


@pytest.fixture
def rebuilt(unit, tmp_path_factory, once_per_unit) -> list[bytes]:
    """The unit released twice in a copy of the course, from a clean release folder."""
    return once_per_unit("rebuilt", unit["id"], lambda: release_twice(unit, tmp_path_factory.mktemp("course")))


def release_twice(unit: dict, folder) -> list[bytes]:
    root = workspace.create(folder)
    builds = []
    for _ in range(2):
        workspace.run_nbgrader(root, "generate_assignment", unit["id"], "--force")
        builds.append((root / "release" / unit["id"] / f"{unit['notebook']}.ipynb").read_bytes())
    return builds


def test_release_is_in_sync_with_source(unit, rebuilt) -> None:
    committed = manifest.release_notebook(unit).read_bytes()
    assert rebuilt[0] == committed, f"release/{unit['id']} is stale: run `make release`"


def test_release_build_is_deterministic(unit, rebuilt) -> None:
    assert rebuilt[0] == rebuilt[1]


def test_release_has_no_solution_and_no_hidden_test(unit) -> None:
    text = manifest.release_notebook(unit).read_text(encoding="utf-8")
    for marker in LEAK_MARKERS:
        assert marker not in text
    released = "\n".join(cell.source for cell in nbformat.read(manifest.release_notebook(unit), as_version=4).cells)
    for grade_id, source in submissions.solution_cells(unit).items():
        for line in (line.strip() for line in feedback.solution_lines(source)):
            if len(line) > 25:  # a distinctive line of the solution, not `return x`
                assert line not in released, f"{grade_id}: solution line leaked into release: {line!r}"
