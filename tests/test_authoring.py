"""The authoring walkthrough of `source/README.md`, followed literally in a copy of the course.

The test takes the example exercise and the commands from the README itself (the blocks after its
`<!-- walkthrough: ... -->` markers), pastes the exercise at the end of unit 01's source in a copy of the
repository, and runs the commands there. `make check` then proves, for the new exercise as for every other
one: the release hides its solution, hidden checks and wrong answers; the untouched release scores 0; the
solution earns full marks; each known-wrong answer loses its points in the kernel (nbgrader) and out of it
(the probe, run in the sandbox and verified in the grader's process). The test reads pytest's report to make
sure the new exercise's cases really ran.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

from grading import manifest

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("01_derivatives")]

README = manifest.ROOT / "source" / "README.md"
UNIT = "01_derivatives"
NEW = "01_derivatives-d_power"


def walkthrough_block(marker: str) -> str:
    """The fenced block after `<!-- walkthrough: marker -->` in the README."""
    match = re.search(rf"<!-- walkthrough: {marker} -->\n```\w*\n(.*?)\n```", README.read_text(encoding="utf-8"),
                      re.S)
    assert match, f"source/README.md lost its walkthrough block {marker!r}"
    return match[1]


def copy_of_the_course(target: Path) -> Path:
    """The repository's files (tracked or new, not ignored) copied to `target`."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
                            cwd=manifest.ROOT, capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = manifest.ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            (target / name).write_bytes(source.read_bytes())
            os.utime(target / name, ns=(source.stat().st_atime_ns, source.stat().st_mtime_ns))
    return target


@pytest.fixture(scope="session")
def walked(tmp_path_factory) -> tuple[Path, str]:
    root = copy_of_the_course(tmp_path_factory.mktemp("authoring"))
    script = root / "source" / UNIT / "derivatives.py"
    script.write_text(script.read_text(encoding="utf-8").rstrip("\n") + "\n\n\n" + walkthrough_block("the exercise")
                      + "\n", encoding="utf-8")
    # make uses this environment's venv (as if given VENV=... on its command line) and reports every test
    env = {**os.environ, "MAKEFLAGS": f"VENV={sys.prefix}", "PYTEST_ARGS": "-rA"}
    env.pop("PYTHONPATH", None)
    log = []
    for command in walkthrough_block("the commands").splitlines():
        done = subprocess.run(command, shell=True, cwd=root, env=env, capture_output=True, text=True, timeout=1800)
        # the whole output: `-rA` lists every test, the unit's first and its lib modules' after them
        log.append(f"$ {command}\n{done.stdout}\n{done.stderr[-5000:]}")
        assert done.returncode == 0, "\n".join(log)[-30_000:]
    return root, "\n".join(log)


def test_the_new_exercise_is_listed_from_its_source(walked) -> None:
    root, _ = walked
    data = yaml.safe_load((root / "course" / "units.yml").read_text(encoding="utf-8"))
    (unit,) = [entry for entry in data["units"] if entry["id"] == UNIT]
    assert unit["exercises"][-1] == {"grade_id": NEW, "title": "The derivative of a power", "points": 1}
    assert f"`{NEW}`" in (root / "course" / "syllabus.md").read_text(encoding="utf-8")


def test_the_release_hides_the_solution_the_hidden_checks_and_the_wrong_answers(walked) -> None:
    root, _ = walked
    notebook = nbformat.read(root / "release" / UNIT / "derivatives.ipynb", as_version=4)
    text = "\n".join(cell.source for cell in notebook.cells)
    assert "def d_power(x, n):" in text and "checks.assert_close(d_power(2.0, 3)" in text, "the exercise is missing"
    for secret in ("np.zeros_like(x)", "** (n - 1)", "_DRIVER", "probes.exercise", "sp.diff(t**n", "wrong_answer",
                   "n * np.asarray(x, dtype=float) ** n"):
        assert secret not in text, f"the release shows {secret!r}"
    assert not any(cell.cell_type == "raw" for cell in notebook.cells)


def test_make_check_graded_the_new_exercise_in_the_kernel_and_out_of_it(walked) -> None:
    _, log = walked
    for case in ("test_solutions_earn_full_marks[01_derivatives]", "test_untouched_release_scores_zero[01_derivatives]",
                 "test_known_wrong_answers_lose_their_points[01_derivatives]",
                 "test_a_correct_submission_passes_every_probe[01_derivatives]",
                 "test_release_has_no_solution_and_no_hidden_test[01_derivatives]"):
        assert _passed(log, case), f"{case} did not pass in `make check`"
    for k in range(2):  # each wrong answer, out of the kernel
        assert _passed(log, f"test_a_known_wrong_answer_fails_its_probe[{NEW}-solution-{k}]"), k


def _passed(log: str, case: str) -> bool:
    """Whether `-rA` reported `case` passed (under `--dist loadgroup` its id ends with `@<xdist group>`)."""
    return any(line.startswith("PASSED ") and re.sub(r"@[\w.-]+$", "", line).endswith("::" + case)
               for line in log.splitlines())
