"""Grades export and class report: `python -m grading.report [A ...] [--csv-only]`.

- `autograder/grades.csv`: one row per student x assignment (every assignment with a submission or a
  grading status), with the grader's status, the score from the gradebook (manual grades count, late
  penalties too), the maximum, the integrity verdict and the notes. No zero is silent: a zero row always
  says whether the notebook was graded, timed out, crashed, was malformed or missing.
- `autograder/report/<A>/report.md` with PNG plots beside it: statuses, the distribution of scores per
  exercise and in total, the checks that fail most across the class (the first line of each failed test's
  error, e.g. a `CheckFailure` message, with its numbers masked so that the same mistake groups together),
  the integrity flags, and the submissions that need a look.

Inputs: the gradebook; `autograded/<student>/<A>/grading.json` (written by `grading.grade`); the graded
notebooks (for the error outputs of test cells); `autograded/<student>/<A>/integrity.json` (written by the
integrity step of `grading.integrity` through `grading.grade`; when none exists the report says so).
"""

from __future__ import annotations

import argparse
import collections
import csv
import json
import re
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import nbformat

from grading.config import DEFAULT_CONFIG, INTEGRITY_FILE, STATUS_FILE, STATUSES, course_directory, load_config

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")
CSV_FIELDS = ["assignment", "student_id", "status", "score", "max_score", "late_penalty", "needs_manual_grade",
              "integrity", "timestamp", "notes"]


class Course:
    """The course folders and gradebook behind an nbgrader config."""

    def __init__(self, config_path: Path = DEFAULT_CONFIG):
        self.config_path = Path(config_path).resolve()
        self.config = load_config(self.config_path)
        self.coursedir = course_directory(self.config)
        self.autograder = self.config_path.parent

    def autograded(self, student: str, assignment: str) -> Path:
        return Path(self.coursedir.format_path(self.coursedir.autograded_directory, student, assignment))

    def gradebook(self):
        from nbgrader.api import Gradebook

        return Gradebook(self.coursedir.db_url, self.coursedir.course_id)

    def status(self, student: str, assignment: str) -> dict[str, Any] | None:
        path = self.autograded(student, assignment) / STATUS_FILE
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            return None

    def integrity(self, student: str, assignment: str) -> dict[str, Any] | None:
        path = self.autograded(student, assignment) / INTEGRITY_FILE
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            return None


def check_ran(doc: dict[str, Any]) -> bool:
    """Whether the out-of-kernel check of every notebook in an `integrity.json` ran to the end."""
    notebooks = doc.get("notebooks") if isinstance(doc, dict) else None
    return isinstance(notebooks, dict) and bool(notebooks) and all(
        isinstance(n, dict) and n.get("ran") is True for n in notebooks.values())


def integrity_state(doc: dict[str, Any] | None) -> str:
    """'ok', 'flagged', 'failed' (the check could not run: its exercises scored 0) or 'not run'."""
    if doc is None:
        return "not run"
    if not check_ran(doc):
        return "failed"
    return "flagged" if doc.get("flags") else "ok"


def rows(course: Course, assignments: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """The export rows, from the gradebook and the status files."""
    from nbgrader.api import MissingEntry

    out: list[dict[str, Any]] = []
    root = Path(course.coursedir.format_path(course.coursedir.autograded_directory, ".", ".")).resolve()
    with course.gradebook() as gb:
        students = sorted(s.id for s in gb.students)
        for assignment in gb.assignments:
            if assignments and assignment.name not in assignments:
                continue
            with_status = {p.parent.parent.name for p in root.glob(f"*/{assignment.name}/{STATUS_FILE}")}
            submitted = {s.student.id for s in assignment.submissions}
            if not (with_status or submitted):
                continue
            for student in sorted(set(students) | with_status):
                status = course.status(student, assignment.name)
                integrity = course.integrity(student, assignment.name)
                try:
                    submission = gb.find_submission(assignment.name, student)
                except MissingEntry:
                    submission = None
                if status:
                    state = status["status"]
                elif submission is not None:
                    state = "graded"  # graded by plain nbgrader, before this grader existed
                else:
                    state = "missing"
                notes = list((status or {}).get("notes", []))
                if state == "missing" and not notes:
                    notes = ["no submission"]
                flags = (integrity or {}).get("flags", [])
                out.append({
                    "assignment": assignment.name,
                    "student_id": student,
                    "status": state,
                    "score": (round(float(submission.score), 4)
                              if submission is not None and state != "missing" else 0.0),
                    "max_score": float(assignment.max_score),
                    "late_penalty": round(float(submission.late_submission_penalty or 0), 4) if submission else 0.0,
                    "needs_manual_grade": bool(submission.needs_manual_grade) if submission else False,
                    "integrity": integrity_state(integrity),
                    "timestamp": str(submission.timestamp or "") if submission else "",
                    "notes": " | ".join(notes + [f"integrity: {f}" for f in flags]),
                })
    return out


def write_csv(course: Course, path: Path | None = None) -> Path:
    path = path or course.autograder / "grades.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_FIELDS)
        writer.writeheader()
        writer.writerows({k: spreadsheet_safe(v) for k, v in row.items()} for row in rows(course))
    return path


# --------------------------------------------------------------------------------------------------------------
# Failing checks


def failure_line(output: dict[str, Any]) -> str:
    """The first line of a test's error: `CheckFailure: Your gradient at ... is ...`."""
    evalue = str(output.get("evalue", "")).strip()
    first = evalue.splitlines()[0] if evalue else ""
    return f"{output.get('ename', 'Error')}: {first}".strip().rstrip(":")


def mask(line: str) -> str:
    """Numbers replaced by `#`, so the same mistake at different inputs groups together."""
    return NUMBER.sub("#", ANSI.sub("", line))


def failed_checks(course: Course, assignment: str, students: Sequence[str]) -> collections.Counter:
    """(grade_id, masked failure line) -> the number of students whose test failed with it."""
    counter: collections.Counter = collections.Counter()
    for student in students:
        seen = set()
        for path in sorted(course.autograded(student, assignment).glob("*.ipynb")):
            try:
                notebook = nbformat.read(path, as_version=4)
            except Exception:
                continue
            for cell in notebook.cells:
                nbg = cell.get("metadata", {}).get("nbgrader", {})
                if cell.cell_type != "code" or not nbg.get("grade") or nbg.get("solution"):
                    continue
                for output in cell.get("outputs", []):
                    if output.get("output_type") == "error":
                        seen.add((nbg.get("grade_id"), mask(failure_line(output))[:240]))
                        break
        counter.update(seen)
    return counter


# --------------------------------------------------------------------------------------------------------------
# Plots


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_statuses(counts: dict[str, int], path: Path) -> None:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 3.2), layout="constrained")
    colors = {"graded": "#009E73", "timeout": "#E69F00", "crashed": "#D55E00", "malformed": "#CC79A7",
              "missing": "#999999"}
    ax.bar(list(STATUSES), [counts.get(s, 0) for s in STATUSES], color=[colors[s] for s in STATUSES])
    ax.set_xlabel("status")
    ax.set_ylabel("submissions")
    ax.set_title("How each submission ended")
    ax.yaxis.get_major_locator().set_params(integer=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_exercises(exercises: list[tuple[str, float, list[float]]], path: Path) -> None:
    """One horizontal stacked bar per exercise: the share of students with 0, partial and full marks."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 0.5 * len(exercises) + 1.6), layout="constrained")
    labels = [name for name, _, _ in exercises]
    zero = [sum(s == 0 for s in scores) / max(len(scores), 1) * 100 for _, _, scores in exercises]
    full = [sum(s >= m for s in scores) / max(len(scores), 1) * 100 for _, m, scores in exercises]
    partial = [100 - z - f for z, f in zip(zero, full, strict=True)]
    ax.barh(labels, full, color="#009E73", label="full marks")
    ax.barh(labels, partial, left=full, color="#E69F00", label="partial")
    ax.barh(labels, zero, left=[f + p for f, p in zip(full, partial, strict=True)], color="#D55E00", label="zero")
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("share of the class (%)")
    ax.set_ylabel("exercise")
    ax.set_title("Scores per exercise", pad=24)
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.06), ncol=3, fontsize=8, frameon=False)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_totals(totals: list[float], maximum: float, path: Path) -> None:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 3.2), layout="constrained")
    bins = max(1, min(int(maximum) if maximum else 10, 20))
    ax.hist(totals, bins=bins, range=(0, maximum or 1), color="#0072B2", edgecolor="white")
    ax.set_xlabel(f"total score (out of {maximum:g})")
    ax.set_ylabel("students")
    ax.set_title("Distribution of total scores")
    ax.yaxis.get_major_locator().set_params(integer=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


# --------------------------------------------------------------------------------------------------------------
# The report


MARKDOWN_SPECIALS = str.maketrans({c: "\\" + c for c in "\\`*_[]<>|#!~"} | {"&": "&amp;", "\n": " ", "\r": " "})


def inert_markdown(text: Any) -> str:
    """Text from a submission (an error message, a note) as inert Markdown: no link, image, HTML or table break."""
    return str(text).translate(MARKDOWN_SPECIALS)


def spreadsheet_safe(value: Any) -> Any:
    """A CSV field that a spreadsheet shows as text: a leading =, +, -, @ or control character would make it a
    formula (CSV injection through a student's error message or note)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def write_report(course: Course, assignment: str, out_dir: Path | None = None) -> Path:
    """Write `report/<assignment>/report.md` and its plots; return the Markdown file."""
    from nbgrader.api import MissingEntry

    out_dir = out_dir or course.autograder / "report" / assignment
    out_dir.mkdir(parents=True, exist_ok=True)
    table = [r for r in rows(course, [assignment]) if r["assignment"] == assignment]
    counts = collections.Counter(r["status"] for r in table)
    with course.gradebook() as gb:
        try:
            entry = gb.find_assignment(assignment)
        except MissingEntry:
            raise SystemExit(f"assignment {assignment!r} is not in the gradebook") from None
        maximum = float(entry.max_score)
        grade_cells = [(cell.name, float(cell.max_score)) for nb in entry.notebooks for cell in nb.grade_cells]
        per_exercise: dict[str, list[float]] = {name: [] for name, _ in grade_cells}
        present = [r["student_id"] for r in table if r["status"] != "missing"]
        for student in present:
            for nb in entry.notebooks:
                try:
                    submitted = gb.find_submission_notebook(nb.name, assignment, student)
                except MissingEntry:
                    continue
                for grade in submitted.grades:
                    if grade.name in per_exercise:
                        per_exercise[grade.name].append(float(grade.score or 0))
    totals = [r["score"] for r in table if r["status"] != "missing"]
    lines = [f"# Grading report: {assignment}", "",
             f"{len(table)} students · maximum {maximum:g} points · generated by `python -m grading.report`.", ""]
    sandboxes = {(course.status(r["student_id"], assignment) or {}).get("sandbox", "") for r in table} - {""}
    if sandboxes:
        lines += ["**Sandbox:** " + "; ".join(sorted(sandboxes)), ""]

    lines += ["## Statuses", "", "| status | submissions |", "|---|---|"]
    lines += [f"| {s} | {counts.get(s, 0)} |" for s in STATUSES]
    plot_statuses(counts, out_dir / "statuses.png")
    lines += ["", "![statuses](statuses.png)", ""]

    lines += ["## Scores", ""]
    if totals:
        lines += [f"Mean {statistics.mean(totals):.2f}, median {statistics.median(totals):g}, "
                  f"full marks {sum(t >= maximum for t in totals)} of {len(totals)} submissions "
                  "(missing students excluded).", ""]
        plot_totals(totals, maximum, out_dir / "scores.png")
        lines += ["![total scores](scores.png)", ""]
    lines += ["| exercise | points | mean | full marks | zero |", "|---|---|---|---|---|"]
    exercises = []
    for name, points in grade_cells:
        scores = per_exercise[name]
        exercises.append((name, points, scores))
        if scores:
            lines.append(f"| `{name}` | {points:g} | {statistics.mean(scores):.2f} | "
                         f"{sum(s >= points for s in scores)} | {sum(s == 0 for s in scores)} |")
        else:
            lines.append(f"| `{name}` | {points:g} | – | – | – |")
    if exercises and present:
        plot_exercises(exercises, out_dir / "exercises.png")
        lines += ["", "![scores per exercise](exercises.png)", ""]

    lines += ["## Checks that fail most", ""]
    failures = failed_checks(course, assignment, present)
    if failures:
        lines += ["The first line of each failed test's error; numbers are shown as `#`.", "",
                  "| students | exercise | failure |", "|---|---|---|"]
        for (grade_id, line), n in failures.most_common(15):
            lines.append(f"| {n} | `{grade_id}` | {inert_markdown(line)} |")
    else:
        lines.append("No test failed.")
    lines.append("")

    lines += ["## Integrity", ""]
    checked = [(r["student_id"], course.integrity(r["student_id"], assignment)) for r in table]
    checked = [(s, doc) for s, doc in checked if doc is not None]
    if not checked:
        lines += ["Integrity checks were not run for this assignment (no `integrity.json` found): the scores are "
                  "the in-kernel results only.", ""]
    else:
        flagged = [(s, doc) for s, doc in checked if doc.get("flags")]
        failed = [s for s, doc in checked if not check_ran(doc)]
        lines += [f"Out-of-kernel checks ran for {len(checked) - len(failed)} submissions; {len(flagged)} flagged.",
                  ""]
        if failed:
            names = inert_markdown(", ".join(failed))
            lines += [f"The check could not run for {len(failed)} submissions ({names}): their automatic scores are "
                      "0 and each needs a manual look.", ""]
        if flagged:
            lines += ["| student | flag |", "|---|---|"]
            for student, doc in flagged:
                for flag in doc["flags"]:
                    lines.append(f"| {inert_markdown(student)} | {inert_markdown(flag)} |")
            lines.append("")

    lines += ["## Submissions that need a look", ""]
    attention = [r for r in table if r["status"] != "graded" or r["needs_manual_grade"]]
    if attention:
        lines += ["| student | status | score | notes |", "|---|---|---|---|"]
        for r in attention:
            lines.append(f"| {inert_markdown(r['student_id'])} | {r['status']} | {r['score']:g} / {r['max_score']:g} | "
                         f"{inert_markdown(r['notes'][:300])} |")
    else:
        lines.append("None: every submission was graded normally.")
    lines.append("")
    path = out_dir / "report.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def write_all(config_path: Path = DEFAULT_CONFIG, assignments: Sequence[str] | None = None,
              csv_only: bool = False) -> tuple[Path, list[Path]]:
    """Rewrite grades.csv (every assignment) and the report of each of `assignments` (default: all graded)."""
    course = Course(config_path)
    csv_path = write_csv(course)
    reports: list[Path] = []
    if not csv_only:
        names = assignments or sorted({r["assignment"] for r in rows(course)})
        reports = [write_report(course, name) for name in names]
    return csv_path, reports


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grading.report", description=__doc__.splitlines()[0])
    parser.add_argument("assignments", nargs="*", help="assignments to report on (default: every graded one)")
    parser.add_argument("--csv-only", action="store_true", help="only write grades.csv")
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    args = parser.parse_args(argv)
    csv_path, reports = write_all(args.config, args.assignments or None, args.csv_only)
    print(f"wrote {csv_path}")
    for path in reports:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
