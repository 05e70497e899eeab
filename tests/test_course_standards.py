"""What the course promises as a whole: enough graded exercises for every objective, at least three realistic
known-wrong answers for every autograded exercise, and one notation, linked from every unit."""

from __future__ import annotations

import re

import jupytext
import nbformat

from grading import course_pages, exercises, manifest

MIN_EXERCISES = 50
MIN_PER_OBJECTIVE = 3
MIN_WRONG_ANSWERS = 3
NOTATION = manifest.ROOT / "course" / "notation.md"


def _autograded(entry: dict) -> list[exercises.Exercise]:
    return [exercise for exercise in exercises.read(entry) if exercise.hidden]


def test_the_course_grades_at_least_fifty_exercises() -> None:
    count = sum(len(entry["exercises"]) for entry in manifest.load()["units"])
    assert count >= MIN_EXERCISES, f"{count} graded exercises; the course promises at least {MIN_EXERCISES}"


def test_every_objective_is_graded_by_at_least_three_exercises() -> None:
    data = manifest.load()
    for number in data["objectives"]:
        count = sum(len(entry["exercises"]) for entry in data["units"] if number in entry["objectives"])
        assert count >= MIN_PER_OBJECTIVE, f"objective {number} has {count} graded exercises"


def test_every_autograded_exercise_has_three_known_wrong_answers(unit) -> None:
    few = {exercise.grade_id: sum(map(len, exercise.wrong_answers.values())) for exercise in _autograded(unit)}
    few = {grade_id: count for grade_id, count in few.items() if count < MIN_WRONG_ANSWERS}
    assert not few, f"exercises with fewer than {MIN_WRONG_ANSWERS} known-wrong answers: {few}"


def test_every_wrong_answer_says_what_mistake_it_makes(unit) -> None:
    notebook = jupytext.read(manifest.source_script(unit))
    silent = [cell.source.splitlines()[0] for cell in notebook.cells
              if exercises.WRONG_ANSWER in cell.metadata and not str(cell.metadata.get("mistake", "")).strip()]
    assert not silent, f"wrong answers without a `mistake`: {silent}"


def test_the_notation_is_written_and_linked_from_the_start_page_and_every_unit(unit) -> None:
    assert NOTATION.is_file()
    start = nbformat.reads(course_pages.render()[course_pages.COURSE / "START_HERE.ipynb"], as_version=4)
    assert any("(notation.md)" in cell.source for cell in start.cells)
    release = nbformat.read(manifest.release_notebook(unit), as_version=4)
    intro = "\n".join(cell.source for cell in release.cells[:3] if cell.cell_type == "markdown")
    assert "(../../course/notation.md)" in intro, f"{unit['id']} must link the notation in its introduction"


def test_the_notation_gives_each_symbol_one_meaning() -> None:
    rows = re.findall(r"^\| (.+?) \| (.+?) \|", NOTATION.read_text(encoding="utf-8"), re.M)
    symbols: dict[str, str] = {}
    for cell, meaning in rows:
        if cell.strip() in ("symbol", "---"):
            continue
        for key in re.findall(r"\$([^$]+)\$", cell):  # a formula's symbol; code names live in their own column
            assert symbols.setdefault(key, meaning) == meaning, f"{key} has two meanings in notation.md"
    assert len(symbols) >= 30, "notation.md lists the course's symbols"
