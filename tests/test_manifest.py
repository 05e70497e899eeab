"""The units manifest agrees with the notebooks, covers every objective, and the course pages are in sync."""

from __future__ import annotations

import re

import jupytext

from grading import course_pages, exercises, manifest

GRADE_ID = re.compile(r"^(?P<unit>\d\d_[a-z_]+)-(?P<name>[a-z0-9_]+)$")


def graded_cells(entry: dict) -> dict[str, dict]:
    notebook = jupytext.read(manifest.source_script(entry))
    return {c.metadata["nbgrader"]["grade_id"]: c.metadata["nbgrader"] for c in notebook.cells
            if c.metadata.get("nbgrader", {}).get("grade")}


def test_exercises_match_the_locked_test_cells(unit) -> None:
    cells = graded_cells(unit)
    listed = {exercise["grade_id"]: exercise["points"] for exercise in unit["exercises"]}
    assert {gid: meta["points"] for gid, meta in cells.items()} == listed
    manual = {exercise["grade_id"] for exercise in unit["exercises"] if exercise.get("manual")}
    assert all(meta["locked"] and not meta["solution"] for gid, meta in cells.items() if gid not in manual), (
        "test cells must be locked")
    assert all(cells[gid]["solution"] and not cells[gid]["locked"] for gid in manual), (
        "a manually graded cell is the student's answer: a solution cell, not locked")


def test_a_manual_exercise_is_a_markdown_answer_followed_by_a_locked_rubric(unit) -> None:
    notebook = jupytext.read(manifest.source_script(unit))
    for k, cell in enumerate(notebook.cells):
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade") and meta.get("solution"):
            assert cell.cell_type == "markdown", f"{meta['grade_id']}: a manually graded answer is a markdown cell"
            rubric = notebook.cells[k + 1]
            assert rubric.cell_type == "markdown" and rubric.metadata.get("nbgrader", {}).get("locked"), (
                f"{meta['grade_id']} needs a locked markdown rubric cell right after it")
            assert "Rubric" in rubric.source and "numdiff" in rubric.source


def test_grade_ids_follow_the_convention(unit) -> None:
    for exercise in unit["exercises"]:
        match = GRADE_ID.match(exercise["grade_id"])
        assert match and match["unit"] == unit["id"], f"{exercise['grade_id']} should be {unit['id']}-<name>"


def test_every_exercise_has_a_solution_cell(unit) -> None:
    notebook = jupytext.read(manifest.source_script(unit))
    solutions = {c.metadata["nbgrader"]["grade_id"] for c in notebook.cells
                 if c.metadata.get("nbgrader", {}).get("solution")}
    for exercise in unit["exercises"]:
        suffix = "" if exercise.get("manual") else "-solution"  # a manual exercise's answer cell is its own
        assert exercise["grade_id"] + suffix in solutions


def test_each_unit_has_at_least_four_exercises(unit) -> None:
    assert len(unit["exercises"]) >= 4


def test_units_are_numbered_in_order_and_objectives_exist() -> None:
    data = manifest.load()
    ids = [entry["id"] for entry in data["units"]]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    for entry in data["units"]:
        assert set(entry["objectives"]) <= set(data["objectives"]), entry["id"]


def test_every_unit_has_its_source() -> None:
    for entry in manifest.load()["units"]:
        assert manifest.source_script(entry).is_file(), entry["id"]


def test_manifest_lists_syllabus_and_start_page_are_generated_from_the_sources() -> None:
    for path, text in course_pages.render().items():
        assert path.read_text(encoding="utf-8") == text, f"{path.name} is stale: run `make pages`"


def test_each_exercise_heading_states_its_points(unit) -> None:
    for exercise in exercises.read(unit):
        assert exercise.title, f"{exercise.grade_id} needs a heading `### Exercise N · Title (P points)` above it"
        assert exercise.heading_points == exercise.points, (
            f"{exercise.grade_id}: its heading says {exercise.heading_points:g} points, its test cell "
            f"{exercise.points:g}")


def test_every_learning_objective_is_taught_and_graded() -> None:
    data = manifest.load()
    for number in data["objectives"]:
        units = [e for e in data["units"] if number in e["objectives"]]
        assert units and any(e["exercises"] for e in units), f"objective {number} has no graded unit"


def test_every_lib_module_is_mirrored_by_a_test_module() -> None:
    lib = manifest.ROOT / "lib"
    modules = {p.stem for p in (lib / "calcml").glob("*.py") if p.stem != "__init__"}
    tests = {p.stem.removeprefix("test_") for p in (lib / "tests").glob("test_*.py")}
    assert modules <= tests, f"lib modules without a test module: {sorted(modules - tests)}"
