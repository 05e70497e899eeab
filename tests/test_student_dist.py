"""The student-facing distribution (`make student-dist`): what a graded class hands out holds no solution and no
hidden test, its notebooks are the release's, and its `calcml` works on its own."""

from __future__ import annotations

import ast
import filecmp
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from grading import exercises, manifest, student_dist, submissions

ROOT = manifest.ROOT
UNITS = manifest.load()["units"]
pytestmark = pytest.mark.xdist_group("student_dist")  # one worker builds the dist and the secret lines once
TOP_LEVEL = {"release", "course", "lib", "environment.yml", ".jupyter", "README.md", student_dist.MARKER}


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    return student_dist.build(tmp_path_factory.mktemp("dist") / "student", check=False)


@pytest.fixture(scope="module")
def secrets() -> dict[str, str]:
    return student_dist.secret_lines()


def test_it_holds_what_students_need_and_nothing_of_the_grader(dist) -> None:
    assert {p.name for p in dist.iterdir()} == TOP_LEVEL
    names = {p.relative_to(dist).as_posix() for p in dist.rglob("*")}
    for forbidden in ("source", "autograder", "samples", "tests", "nbgrader_config.py", ".seed_secret", "gradebook.db"):
        assert not [n for n in names if forbidden in n.split("/")], forbidden
    assert not [n for n in names if n.endswith(".py") and not n.startswith("lib/calcml/")]
    assert (dist / "course" / "START_HERE.ipynb").is_file()
    assert (dist / ".jupyter" / "labconfig" / "page_config.json").read_bytes() == \
        (ROOT / ".jupyter" / "labconfig" / "page_config.json").read_bytes()
    assert (dist / ".jupyter" / "jupyter_server_config.json").read_bytes() == \
        (ROOT / ".jupyter" / "jupyter_server_config.json").read_bytes()
    assert (dist / "environment.yml").read_bytes() == (ROOT / "environment.yml").read_bytes()
    readme = (dist / "README.md").read_text(encoding="utf-8")
    for needed in ("course/START_HERE.ipynb", "Validate", "Assignment List", "Fetch", "Submit", "Fetch Feedback"):
        assert needed in readme, needed


def test_the_release_notebooks_are_the_release_byte_for_byte(dist) -> None:
    for entry in UNITS:
        released = manifest.release_notebook(entry)
        assert filecmp.cmp(released, dist / released.relative_to(ROOT), shallow=False), released
    assert sorted(p.relative_to(dist) for p in (dist / "release").rglob("*") if p.is_file()) == \
        sorted(p.relative_to(ROOT) for p in (ROOT / "release").rglob("*")
               if p.is_file() and "__pycache__" not in p.parts and ".ipynb_checkpoints" not in p.parts)


def test_the_secret_lines_are_every_exercise_s_solution_and_hidden_tests(secrets) -> None:
    """The scan is not vacuous: every exercise with hidden tests, and every solution region of substance, gives
    lines to look for."""
    sources = set(secrets.values())
    for entry in UNITS:
        for exercise in exercises.read(entry):
            if not exercise.manual:
                assert f"hidden tests of {exercise.grade_id}" in sources, exercise.grade_id
        solved = [g for g in submissions.solution_cells(entry) if f"solution of {g}" in sources]
        assert len(solved) >= len(submissions.solution_cells(entry)) // 2, entry["id"]
    assert len(secrets) > 1000
    assert not [line for line in secrets if len(line) < student_dist.MIN_LINE or line.startswith(("#", "import "))]


def test_no_solution_or_hidden_test_line_is_in_any_file(dist, secrets) -> None:
    assert student_dist.leaks(dist, secrets) == {}


def test_a_planted_line_is_caught_in_a_notebook_and_in_a_page(dist, secrets, tmp_path) -> None:
    copy = tmp_path / "student"
    shutil.copytree(dist, copy)
    entry = manifest.unit("03_jacobians")
    hidden_line = next(line for line in next(e for e in exercises.read(entry) if not e.manual).hidden.split("\n")
                       if " ".join(line.split()) in secrets)
    solution = next(line for source in submissions.solution_cells(manifest.unit("05_autograd")).values()
                    for line in source.split("\n") if " ".join(line.split()) in secrets)
    notebook_path = copy / "release" / "01_derivatives" / "derivatives.ipynb"
    notebook = json.loads(notebook_path.read_text(encoding="utf-8"))
    notebook["cells"][-1]["source"] = ["x = 1\n", f"    {solution}\n", "y = 2"]  # JSON-escaped, indented
    notebook_path.write_text(json.dumps(notebook, indent=1), encoding="utf-8")
    syllabus = copy / "course" / "syllabus.md"
    syllabus.write_text(syllabus.read_text(encoding="utf-8") + "\n\n" + hidden_line.replace(" ", "   ") + "\n")
    found = student_dist.leaks(copy, secrets)
    assert set(found) == {"release/01_derivatives/derivatives.ipynb", "course/syllabus.md"}
    assert any("hidden tests of 03_jacobians" in hit for hit in found["course/syllabus.md"])
    assert any("solution of 05_autograd" in hit for hit in found["release/01_derivatives/derivatives.ipynb"])


def test_the_build_refuses_a_leak_and_deletes_the_dist(secrets, monkeypatch, tmp_path) -> None:
    planted = next(line for line, where in secrets.items() if where.startswith("solution of 08_pitfalls"))
    monkeypatch.setattr(student_dist, "STUDENT_README", f"{student_dist.STUDENT_README}\n```\n{planted}\n```\n")
    target = tmp_path / "student"
    with pytest.raises(SystemExit, match="README.md"):
        student_dist.build(target)
    assert not target.exists()


def test_it_never_replaces_a_folder_it_did_not_build(tmp_path) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    with pytest.raises(SystemExit, match="not a student distribution"):
        student_dist.build(tmp_path / "mine", check=False)
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep"


def release_imports(notebook: Path) -> list[str]:
    """The import statements of a notebook's code cells (top level of each cell), as source."""
    found = []
    for cell in json.loads(notebook.read_text(encoding="utf-8"))["cells"]:
        if cell["cell_type"] != "code":
            continue
        try:
            tree = ast.parse("".join(cell["source"]))
        except SyntaxError:
            continue
        found += [ast.unparse(node) for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]
    return list(dict.fromkeys(found))


@pytest.mark.slow
def test_its_calcml_imports_and_every_release_import_resolves_with_it(dist) -> None:
    notebooks = [dist / manifest.release_notebook(entry).relative_to(ROOT) for entry in UNITS]
    statements = [s for notebook in notebooks for s in release_imports(notebook)]
    statements += release_imports(dist / "course" / "START_HERE.ipynb")
    assert any("calcml" in s for s in statements)
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(dist / 'lib')!r})
        for statement in {statements!r}:
            exec(statement, {{}})
        lib = {str(dist / 'lib' / 'calcml')!r}
        loaded = [m for name, m in sys.modules.items() if name == "calcml" or name.startswith("calcml.")]
        outside = [m.__name__ for m in loaded if not str(getattr(m, "__file__", "")).startswith(lib)]
        assert len(loaded) > 5 and not outside, outside
        print(len(loaded))
    """)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(MPLBACKEND="Agg", CALCML_STATIC="1")
    result = subprocess.run([sys.executable, "-c", script], cwd=dist, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
