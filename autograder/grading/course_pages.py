"""Write what is derived from the sources: the exercise lists of `course/units.yml`, `course/syllabus.md` and
`course/START_HERE.ipynb`.

Usage: `python -m grading.course_pages` (`make pages`). Each exercise's grade_id, title and points are read from
its unit's source (`grading.exercises`) and written into the manifest's `exercises:` lists, which students'
`calcml.progress` reads where there is no `source/`; the rest of the manifest is written by hand. The files are
committed (Binder shows them as they are) and a test fails when they differ from what this module renders.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import yaml
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from grading import exercises, manifest

COURSE = manifest.ROOT / "course"
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def unit_link(entry: dict, prefix: str) -> str:
    number, _, _ = entry["id"].partition("_")
    return f"[{number} · {entry['title']}]({prefix}release/{entry['id']}/{entry['notebook']}.ipynb)"


def syllabus(data: dict) -> str:
    lines = ["# Syllabus", "",
             "Generated from `course/units.yml` by `python -m grading.course_pages`; edit the manifest, not this file.",
             "", "## Learning objectives, and where they are taught and graded", ""]
    for number, text in data["objectives"].items():
        lines.append(f"{number}. **{text}**")
        for entry in (e for e in data["units"] if number in e["objectives"]):
            exercises = ", ".join(f"`{x['grade_id']}` ({x['points']} pt{', by hand' if x.get('manual') else ''})"
                                  for x in entry["exercises"])
            lines.append(f"   - {unit_link(entry, '../')}: {exercises}")
        lines.append("")
    lines += ["## Units", ""]
    for entry in data["units"]:
        total = sum(x["points"] for x in entry["exercises"])
        lines += [f"### {unit_link(entry, '../')}", "",
                  f"Objectives {', '.join(map(str, entry['objectives']))} · {len(entry['exercises'])} graded "
                  f"exercises · {total} points", ""]
        lines += [f"- {topic}" for topic in entry.get("teaches", [])]
        if entry.get("widget"):
            lines.append(f"- *Interactive:* {entry['widget']}")
        lines += ["", "| exercise | grade_id | points |", "|---|---|---|"]
        lines += [f"| {x['title']}{' (graded by hand)' if x.get('manual') else ''} | `{x['grade_id']}` | "
                  f"{x['points']} |" for x in entry["exercises"]]
        lines.append("")
    return "\n".join(lines)


def start_here(data: dict) -> str:
    units = "\n".join(f"{i}. {unit_link(e, '../')}: {'; '.join(e.get('teaches', [])[:3])}"
                      for i, e in enumerate(data["units"], start=1))
    cells = [
        new_markdown_cell(
            "# Calculus for Machine Learning\n\n"
            "Every neural network learns by following a gradient. This course builds that idea from the ground "
            "up: from the slope of a curve, through gradients and Jacobians, to a reverse-mode autograd engine you "
            "write yourself, the optimiser that uses it, the gradients of the losses it minimises, and the ways it "
            "goes wrong.\n\n"
            "You need first-year calculus (derivatives, the chain rule, Taylor's formula); linear algebra up to "
            "matrix–vector products and the eigenvalues and eigenvectors of a symmetric matrix; and Python with "
            "NumPy. Where a unit uses a little more, it recalls it on the spot: determinants in unit 3, "
            "eigen-decompositions and the complex roots of a quadratic in unit 6."),
        new_markdown_cell(
            "## How to work through it\n\n"
            "1. Open the units in order; each builds on the one before.\n"
            "2. Run each notebook from the top (**Run → Run All Cells** works too). Read, then play with the "
            "interactive figure: it is there to be moved.\n"
            "3. Most exercises are a function with a contract. Replace `raise NotImplementedError()` with your code, "
            "then run the test cell below it. A failing test tells you what is wrong and why. Unit 4 also asks you "
            "to work one backpropagation with pen and paper: you type the numbers, and write the derivation in a "
            "text cell that an instructor grades by hand, with the rubric printed below it.\n"
            "4. When a unit is done, press **Validate** in the toolbar (or run the progress cell below). "
            "Graders run further hidden tests with other inputs, so make your code general, not tuned to the "
            "visible tests."),
        new_markdown_cell(f"## The units\n\n{units}\n\nThe [syllabus](syllabus.md) maps each learning objective to "
                          "its units and exercises. One [notation](notation.md) holds in every unit: each symbol "
                          "means one thing, and the Jacobian has one layout, $J_{ij} = \\partial f_i/\\partial x_j$."),
        new_markdown_cell("## Your progress\n\nSave your notebooks first (**File → Save Notebook**, or Ctrl+S), then "
                          "run the next cell. It runs the visible tests of your saved copies in `release/`, each in a "
                          "fresh kernel of its own, so it changes nothing in your notebooks; it says which unit it "
                          "is checking, then shows one row per exercise: passed, failing (with what the test "
                          "said) or not started. Checking every unit takes a minute or two."),
        new_code_cell("from calcml import progress\n\nprogress.show()"),
    ]
    notebook = new_notebook(cells=cells, metadata={"kernelspec": KERNELSPEC})
    for index, cell in enumerate(notebook.cells):
        cell.id = f"start-{index:02d}"
    return nbformat.writes(notebook) + "\n"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def exercise_lists(text: str, data: dict) -> str:
    """The manifest's `text` with every unit's `exercises:` list rewritten from the unit's source."""
    for entry in data["units"]:
        lines = ["    exercises:"]
        for exercise in exercises.read(entry):
            lines += [f"      - grade_id: {exercise.grade_id}", f"        title: {_yaml_text(exercise.title)}",
                      f"        points: {_number(exercise.points)}"]
            lines += ["        manual: true"] if exercise.manual else []
        block = re.compile(rf"(  - id: {re.escape(entry['id'])}\n(?:    .*\n)*?)    exercises:\n(?:      .*\n)*")
        text, count = block.subn(lambda match, lines=lines: match[1] + "\n".join(lines) + "\n", text)
        if count != 1:
            raise ValueError(f"{manifest.MANIFEST}: unit {entry['id']} needs one `exercises:` list, as its last key")
    return text


def _yaml_text(text: str) -> str:
    """`text` as a YAML scalar: plain when that reads back the same, quoted otherwise."""
    plain = not re.search(r"^[-?:,\[\]{}#&*!|>'\"%@`]|: | #|:$", text)
    return text if plain else '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render() -> dict[Path, str]:
    data = manifest.load()
    listed = exercise_lists(manifest.MANIFEST.read_text(encoding="utf-8"), data)
    data = yaml.safe_load(listed)
    return {manifest.MANIFEST: listed, COURSE / "syllabus.md": syllabus(data),
            COURSE / "START_HERE.ipynb": start_here(data)}


def main() -> None:
    for path, text in render().items():
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path.relative_to(manifest.ROOT)}")


if __name__ == "__main__":
    main()
