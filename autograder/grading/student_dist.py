"""The student-facing distribution: `python -m grading.student_dist [TARGET]` (`make student-dist`).

This repository holds `source/` (every solution and hidden test), the grader and its probes: self-study
learners may read them, a graded class must not get them. The student distribution is what a class hands out
instead (the repository its Binder link opens, what the hub's students get):

- `release/`: the student notebooks, byte for byte;
- `course/`: START_HERE, the syllabus, the notation page and the units manifest;
- `lib/`: the `calcml` package the notebooks import (its `pyproject.toml`, README and `calcml/`; not its tests);
- `environment.yml`: the Binder (repo2docker) environment, which installs `./lib`;
- `.jupyter/`: the student Jupyter settings (nbgrader's instructor tools off, Validate on), which Binder makes
  the user's configuration folder;
- `README.md`: how to start, check and submit (`STUDENT_README` below).

Nothing else: no `source/`, no `autograder/` (config, grader, probes, samples, gradebook), no tests.

`build` then scans every file it wrote (`leaks`) for each line of substance of every solution region and of
every hidden-test region of the course (`secret_lines`), in notebooks as decoded cell text; a dist with any of
them is deleted and the command fails. `tests/test_student_dist.py` proves it, and that the scan catches a
planted line.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from grading import manifest

ROOT = manifest.ROOT
DEFAULT_TARGET = ROOT / "dist" / "student"
# What is copied, relative to the repository root (folders whole, minus IGNORED).
FOLDERS = ("release", "course", "lib/calcml")
FILES = ("environment.yml", "lib/pyproject.toml", "lib/README.md", ".jupyter/jupyter_server_config.json",
         ".jupyter/labconfig/page_config.json")
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints", "*.egg-info")
MARKER = ".calcml-student-dist"  # marks a folder this module built, so a rebuild may replace it

STUDENT_README = """\
# Calculus for Machine Learning

An interactive Jupyter course on the calculus behind deep learning, with auto-graded exercises: from the slope
of a curve to a reverse-mode autograd engine, the optimiser that uses it and the loss gradients it computes.

## Start here

Open **`course/START_HERE.ipynb`**: it lists the units in order, links each notebook, and its progress cell
shows which exercises pass. Then work through `release/01_derivatives/derivatives.ipynb` to
`release/08_pitfalls/pitfalls.ipynb`. `course/syllabus.md` says what each exercise assesses.

- On your instructor's **JupyterHub**, or through the class's **Binder** link, everything is installed.
- On your **own computer**: `conda env create -f environment.yml && conda activate calcml && jupyter lab`
  (or, in a Python 3.10+ virtual environment, `pip install -e ./lib jupyterlab nbgrader`), in this folder.

## Check your work

- Write your answer where a cell says `YOUR CODE HERE`, and replace the `raise NotImplementedError()`.
- Run the test cell below each exercise: it runs the **visible** tests and explains what is wrong. When you
  submit, further **hidden** tests (other inputs, edge cases) and a check of your functions outside the
  notebook grade the exercise, so make your function correct for every input its docstring allows, not only
  for the visible examples. An exercise that calls the course's reference tools (`calcml.numdiff`,
  `calcml.checks`, sympy, `np.gradient`...) to do its own work loses its points.
- Press **Validate** (in the notebook's toolbar) before you submit: it restarts the kernel, runs every cell
  and reports the tests that fail.
- Do not rename the notebook, and do not delete or edit the test cells (they are restored from the
  instructor's copy when you are graded).

## Submit (on a JupyterHub with nbgrader)

1. In JupyterLab, open **Nbgrader → Assignment List**. Under *Released assignments*, press **Fetch** next to
   the unit: it copies the unit's notebook into a folder of your home named after the unit (for example
   `01_derivatives/`). Work in **that** copy.
2. Save, press **Validate**, then press **Submit** next to the unit in the Assignment List. You may submit again
   before the deadline: the latest submission is graded (the earlier ones are kept). Late submissions may lose
   points as your instructor announced.
3. After grading, **Fetch Feedback** in the Assignment List, then open the feedback page: your score for each
   exercise and the grader's message. It never shows the hidden tests.

Outside a hub, hand in the notebook file (`release/NN_topic/topic.ipynb`, its name unchanged) as your
instructor asks.
"""


# ---- what must never be in it

MIN_LINE = 12  # as grading.feedback: shorter lines ("x = 1.0", "return x", ")") are too common to mean a leak
IMPORT = re.compile(r"^(import\s|from\s+\S+\s+import\s)")


def _norm(text: str) -> str:
    return " ".join(text.split())


def _public_text(entry: dict[str, Any]) -> list[str]:
    """What the unit shows every student: its source's cells without solution and hidden-test regions (what the
    release notebook holds), never its known-wrong answers."""
    import jupytext

    from grading.feedback import SOLUTION_BEGIN, SOLUTION_END, strip_hidden

    texts = []
    for cell in jupytext.read(manifest.source_script(entry)).cells:
        if cell.cell_type == "raw" and "wrong_answer" in cell.metadata:
            continue
        if cell.metadata.get("nbgrader", {}).get("solution"):
            kept, inside = [], False
            for line in cell.source.split("\n"):
                if SOLUTION_BEGIN in line:
                    inside = True
                elif SOLUTION_END in line and inside:
                    inside = False
                elif not inside:
                    kept.append(line)
            texts.append("\n".join(kept) if SOLUTION_BEGIN in cell.source else "")
        else:
            texts.append(strip_hidden(cell.source))
    return texts


def candidate_lines(entry: dict[str, Any]) -> list[tuple[str, str]]:
    """(where, line) for every line of the unit's solution regions (a solution cell without markers: all of it)
    and of its hidden-test regions."""
    from grading import exercises, submissions
    from grading.feedback import SOLUTION_BEGIN, solution_lines

    found = []
    for grade_id, source in submissions.solution_cells(entry).items():
        body = solution_lines(source) if SOLUTION_BEGIN in source else source.split("\n")
        found += [(f"solution of {grade_id}", line) for line in body]
    for exercise in exercises.read(entry):
        found += [(f"hidden tests of {exercise.grade_id}", line) for line in exercise.hidden.split("\n")]
    return found


def secret_lines(root: Path = ROOT) -> dict[str, str]:
    """{line (whitespace collapsed): where it comes from} for every line of substance of the course's solutions
    and hidden tests: at least MIN_LINE characters, no comment, no import, and in no text that students get
    anyway (any unit's visible cells, the `calcml` package, which the visible tests import)."""
    public = [_norm(text) for entry in manifest.load()["units"] for text in _public_text(entry)]
    public += [_norm(path.read_text(encoding="utf-8")) for path in sorted((root / "lib" / "calcml").glob("*.py"))]
    public_flat = " ".join(public)
    secrets: dict[str, str] = {}
    for entry in manifest.load()["units"]:
        for where, line in candidate_lines(entry):
            norm = _norm(line)
            if len(norm) < MIN_LINE or norm.startswith("#") or IMPORT.match(norm) or norm in public_flat:
                continue
            secrets.setdefault(norm, where)
    return secrets


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)


def file_text(path: Path) -> str:
    """A file's text as a reader sees it, whitespace collapsed: for JSON (notebooks), the raw text and every
    string in it, decoded and joined (a cell's source is a list of escaped strings)."""
    raw = path.read_bytes().decode("utf-8", errors="replace")
    texts = [raw]
    if path.suffix in (".ipynb", ".json"):
        try:
            texts += ["".join(_strings(json.loads(raw)))]
        except ValueError:
            pass
    return " ".join(_norm(text) for text in texts)


def leaks(target: Path, secrets: dict[str, str] | None = None) -> dict[str, list[str]]:
    """{file: [where each secret line it holds comes from, with the line]} for every file under `target`."""
    secrets = secret_lines() if secrets is None else secrets
    found: dict[str, list[str]] = {}
    for path in sorted(Path(target).rglob("*")):
        if path.is_file():
            text = file_text(path)
            hits = [f"{where}: {line!r}" for line, where in secrets.items() if line in text]
            if hits:
                found[str(path.relative_to(target))] = hits
    return found


def _lines(found: dict[str, list[str]]) -> Iterable[str]:
    for name, hits in found.items():
        yield f"  {name}: {len(hits)} line(s), e.g. {hits[0]}"


# ---- building it


def build(target: Path = DEFAULT_TARGET, root: Path = ROOT, check: bool = True) -> Path:
    """Build the student distribution into `target` (replaced if this module built it) and return it. With
    `check`, scan it for solution and hidden-test lines and, if any is there, delete it and fail."""
    target = Path(target).resolve()
    if target.exists():
        if not (target / MARKER).is_file():
            raise SystemExit(f"{target} exists and is not a student distribution built here; choose another folder")
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for folder in FOLDERS:
        shutil.copytree(root / folder, target / folder, ignore=IGNORED, symlinks=False)
    for name in FILES:
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / name, target / name)
    (target / "README.md").write_text(STUDENT_README, encoding="utf-8")
    (target / MARKER).write_text("built by `make student-dist` (autograder/grading/student_dist.py)\n",
                                 encoding="utf-8")
    if check:
        found = leaks(target)
        if found:
            shutil.rmtree(target)
            raise SystemExit("the student distribution held solution or hidden-test lines, so it was deleted:\n"
                             + "\n".join(_lines(found)))
    return target


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grading.student_dist", description=__doc__.splitlines()[0])
    parser.add_argument("target", nargs="?", type=Path, default=DEFAULT_TARGET,
                        help=f"the folder to build (default: {DEFAULT_TARGET.relative_to(ROOT)})")
    args = parser.parse_args(argv)
    target = build(args.target)
    files = sum(1 for p in target.rglob("*") if p.is_file())
    print(f"wrote the student distribution to {target} ({files} files): release/, course/, lib/, environment.yml, "
          ".jupyter/, README.md; no source/, no autograder/; checked: no solution or hidden-test line in any file")
    return 0


if __name__ == "__main__":
    sys.exit(main())
