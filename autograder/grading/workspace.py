"""A throwaway copy of the course, so tests and benchmarks can run nbgrader without touching the real one.

The copy holds `course/`, `source/`, `release/` and the nbgrader config with this package; its gradebook
and runtime folders are its own.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from nbformat import NotebookNode

from grading import manifest, release, submissions

IGNORED = shutil.ignore_patterns("__pycache__", "*.ipynb_checkpoints", "*.ipynb", "submitted", "autograded", "feedback",
                                 "gradebook.db", "exchange", "tests", "samples", ".work",
                                 ".seed_secret")


def create(target: Path) -> Path:
    """Copy the course into `target` (which must not exist) and return it."""
    shutil.copytree(manifest.ROOT / "course", target / "course")
    shutil.copytree(manifest.ROOT / "source", target / "source", ignore=IGNORED)
    shutil.copytree(manifest.ROOT / "autograder", target / "autograder", ignore=IGNORED)
    for entry in manifest.load()["units"]:
        release.build_source_notebook(target / manifest.source_script(entry).relative_to(manifest.ROOT))
    return target


def run_nbgrader(root: Path, *args: str, timeout: float = 1800) -> subprocess.CompletedProcess:
    """Run an nbgrader command in the copy at `root`, raising with its output if it fails."""
    command = [sys.executable, "-m", "nbgrader", *args, "--log-level=WARN"]
    env = release.nbgrader_env()
    env["PYTHONPATH"] = str(root / "autograder")
    result = subprocess.run(command, cwd=root / "autograder", env=env, capture_output=True, text=True,
                            timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(f"nbgrader {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def autograde(root: Path, unit_id: str, students: dict[str, NotebookNode]) -> dict[str, dict[str, float]]:
    """Release the unit in the copy, submit the notebooks, autograde them, and return the scores.

    Returns:
        For each student, the score of each graded cell by grade_id, plus `"total"`.
    """
    from nbgrader.api import Gradebook

    entry = manifest.unit(unit_id)
    run_nbgrader(root, "generate_assignment", unit_id, "--force")
    for student, notebook in students.items():
        target = root / "autograder" / "submitted" / student / unit_id / f"{entry['notebook']}.ipynb"
        submissions.write(notebook, target)
    run_nbgrader(root, "autograde", unit_id, "--force", "--create")
    scores: dict[str, dict[str, float]] = {}
    with Gradebook(f"sqlite:///{root / 'autograder' / 'gradebook.db'}") as gradebook:
        for student in students:
            submitted = gradebook.find_submission_notebook(entry["notebook"], unit_id, student)
            scores[student] = {grade.name: grade.score for grade in submitted.grades}
            scores[student]["total"] = submitted.score
    return scores
