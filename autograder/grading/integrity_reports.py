"""The integrity report `integrity.json` and `apply`: the lowering of scores after a plain `nbgrader autograde`."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from grading import manifest
from grading.probe_process import _LAST_RUN, RunOutput, Verdict, _runner_summary
from grading.seeds import SEEDS

REPORT_NAME = "integrity.json"
FORMAT = 1


@dataclasses.dataclass(frozen=True)
class Flag:
    """A disagreement between the in-kernel (nbgrader) and the out-of-kernel result of one exercise.

    kind: "lowered" (in-kernel points, out-of-kernel failure: the score was lowered to the minimum) or
    "in_kernel_only_failed" (the out-of-kernel check passed where nbgrader gave less than full marks; the
    score is left alone, but the instructor may want to look).
    """

    grade_id: str
    kind: str
    in_kernel_score: float
    max_score: float
    out_of_kernel_passed: bool
    final_score: float
    message: str


def report_path(autograded_dir: str | os.PathLike, student_id: str, unit_id: str) -> Path:
    return Path(autograded_dir) / student_id / unit_id / REPORT_NAME


def apply(gradebook_path: str | os.PathLike, unit_id: str, student_id: str, verdicts: Mapping[str, Verdict], *,
          autograded_dir: str | os.PathLike | None = None, run: RunOutput | None = None,
          isolation: str | None = None) -> list[Flag]:
    """Apply verdicts to a gradebook filled by a plain `nbgrader autograde` (`grading.grade` does this itself
    from `check_submission`): lower nbgrader's auto_score of every exercise that failed out of kernel to 0 (the
    minimum of the two results; the grade is also marked for a manual look), flag every disagreement, and write
    `autograded/<student>/<unit>/integrity.json` in the same shape as `grading.grade` (module docstring).

    Applying twice is harmless: when the autograded notebook is the one the report was written for, the
    in-kernel scores recorded then are reused (the gradebook already holds the lowered ones).

    Returns:
        The flags, in the order of the unit's exercises.
    """
    from nbgrader.api import Gradebook

    gradebook_path = Path(gradebook_path).resolve()
    autograded_dir = Path(autograded_dir) if autograded_dir else gradebook_path.parent / "autograded"
    entry = manifest.unit(unit_id)
    notebook_id = entry["notebook"]
    target = report_path(autograded_dir, student_id, unit_id)
    notebook_file = target.parent / f"{notebook_id}.ipynb"
    fingerprint = hashlib.sha256(notebook_file.read_bytes()).hexdigest() if notebook_file.exists() else ""
    previous: dict[str, Any] = {}
    if target.exists() and fingerprint:
        with contextlib.suppress(OSError, ValueError, AttributeError):
            old = json.loads(target.read_text(encoding="utf-8"))["notebooks"][notebook_id]
            if old.get("autograded_sha256") == fingerprint:
                previous = old.get("exercises", {})
    run = run or _LAST_RUN.get((unit_id, student_id))
    exercises: dict[str, dict[str, Any]] = {}
    flags: list[Flag] = []
    with Gradebook(f"sqlite:///{gradebook_path}") as gradebook:
        submitted = gradebook.find_submission_notebook(notebook_id, unit_id, student_id)
        grades = {grade.name: grade for grade in submitted.grades}
        for exercise in entry["exercises"]:
            grade_id = exercise["grade_id"]
            grade = grades.get(grade_id) if not exercise.get("manual") else None  # an instructor grades it
            if grade is None:
                continue
            verdict = verdicts.get(grade_id, Verdict(False, "no out-of-kernel result"))
            max_score = float(grade.max_score or exercise["points"])
            in_kernel = float(grade.auto_score or 0.0)
            if grade_id in previous and in_kernel == 0.0:
                in_kernel = float(previous[grade_id].get("in_kernel_score", 0.0))
            final = in_kernel if verdict.passed else 0.0
            if not verdict.passed and (grade.auto_score or 0.0) > 0.0:
                grade.auto_score = 0.0
                grade.needs_manual_grade = True
            exercises[grade_id] = {"points": max_score if verdict.passed else 0.0, "max_points": max_score,
                                   "passed": verdict.passed, "detail": verdict.message,
                                   "in_kernel_passed": in_kernel >= max_score, "in_kernel_score": in_kernel,
                                   "final_score": final}
            if not verdict.passed and in_kernel > 0.0:
                flags.append(Flag(grade_id, "lowered", in_kernel, max_score, False, final, verdict.message))
            elif verdict.passed and in_kernel < max_score:
                flags.append(Flag(grade_id, "in_kernel_only_failed", in_kernel, max_score, True, final,
                                  "The out-of-kernel check passed, but nbgrader's tests did not give full marks."))
        gradebook.db.commit()
    report = {"ran": run is not None and run.status != "malformed", "format": FORMAT, "unit": unit_id,
              "student": student_id, "seeds": SEEDS, "isolation": isolation or "",
              "runner": _runner_summary(run) if run else None, "autograded_sha256": fingerprint,
              "exercises": exercises, "flags": [dataclasses.asdict(flag) for flag in flags]}
    document = {"student": student_id, "assignment": unit_id, "flags": [_flag_text(flag) for flag in flags],
                "notebooks": {notebook_id: report}}
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(temporary, target)
    return flags


def _flag_text(flag: Flag) -> str:
    if flag.kind == "lowered":
        return (f"{flag.grade_id}: passed in the kernel ({flag.in_kernel_score:g} pt) but the out-of-kernel check "
                f"gives 0 pt: {flag.message}")
    return (f"{flag.grade_id}: failed in the kernel but passes the out-of-kernel check on the grader's own inputs "
            "(the in-kernel score stands; worth a look)")

def read_report(autograded_dir: str | os.PathLike, student_id: str, unit_id: str) -> dict[str, Any] | None:
    """The `integrity.json` of a submission, or None if there is none."""
    path = report_path(autograded_dir, student_id, unit_id)
    if not path.exists():
        return None
    return json.loads(path.read_text(encoding="utf-8"))
