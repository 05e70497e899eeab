"""Write the sample submissions in `autograder/samples/<student>/<unit>/`: correct, wrong, untouched, partial.

Usage: `python -m grading.samples [UNIT_ID ...]` (default: every unit). They are built from the source
notebooks and the known-wrong answers, committed so an instructor can try the grading pipeline at once, and
autograded by `autograder/tests/test_samples.py`, which asserts each one's score.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from nbformat import NotebookNode

from grading import manifest, submissions

SAMPLES = manifest.ROOT / "autograder" / "samples"


def partial_exercises(entry: dict) -> list[str]:
    """The exercises the partly correct sample solves: the first half, rounded down, at least one."""
    exercises = [exercise["grade_id"] for exercise in entry["exercises"] if not exercise.get("manual")]
    return exercises[: max(1, len(exercises) // 2)]


def samples(entry: dict) -> dict[str, NotebookNode]:
    """The four sample submissions of a unit, by student name."""
    solutions = submissions.solution_cells(entry)
    first_wrong = {solution_id: sources[0] for solution_id, sources in submissions.wrong_answers(entry).items()}
    partial = {f"{grade_id}-solution": solutions[f"{grade_id}-solution"] for grade_id in partial_exercises(entry)}
    release = submissions.release(entry)
    return {
        "correct": submissions.fill(release, solutions),
        "wrong": submissions.fill(release, {**solutions, **first_wrong}),
        "untouched": release,
        "partial": submissions.fill(release, partial),
    }


def sample_path(student: str, entry: dict) -> Path:
    return SAMPLES / student / entry["id"] / f"{entry['notebook']}.ipynb"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("units", nargs="*", help="unit ids (default: all)")
    args = parser.parse_args(argv)
    for entry in manifest.load()["units"]:
        if not args.units or entry["id"] in args.units:
            for student, notebook in samples(entry).items():
                print(f"wrote {submissions.write(notebook, sample_path(student, entry)).relative_to(manifest.ROOT)}")


if __name__ == "__main__":
    main()
