"""One unit's checks, for the person editing it: `python -m grading.check_unit 03_jacobians` (`make check UNIT=...`).

Rebuilds the unit's release and the generated course pages, then runs on two workers every test parametrised by
the unit, the browser tests aside (its source notebook runs clean, the release is in sync and hides every solution
and hidden check, the untouched release scores 0, the solution earns full marks, each known-wrong answer loses its
points in the kernel and out of it, the probes run, the teaching messages), and the lib tests of the `calcml`
modules the unit imports. `make test` stays the full suite, for CI and before a commit.
"""

from __future__ import annotations

import argparse
import ast
import subprocess
import sys

import jupytext

from grading import course_pages, manifest, release

LIB_TESTS = manifest.ROOT / "lib" / "tests"


def lib_modules(entry: dict) -> list[str]:
    """The `calcml` modules a unit's source imports (`from calcml import a, b` or `import calcml.a`)."""
    notebook = jupytext.read(manifest.source_script(entry))
    names: set[str] = set()
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:  # an IPython magic: the cell imports nothing of calcml
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "calcml":
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("calcml."):
                names.add(node.module.split(".")[1])
            elif isinstance(node, ast.Import):
                names.update(a.name.split(".")[1] for a in node.names if a.name.startswith("calcml."))
    return sorted(names)


def pytest_commands(entry: dict, extra: list[str]) -> list[list[str]]:
    """The unit's tests (selected by its id), then the lib tests of the modules it imports."""
    pytest = [sys.executable, "-m", "pytest", "-n", "2", "--dist", "loadgroup", "-q", "-p", "no:cacheprovider"]
    lib = [str(LIB_TESTS / f"test_{name}.py") for name in lib_modules(entry)
           if (LIB_TESTS / f"test_{name}.py").exists()]
    unit = [*pytest, "tests", "autograder/tests", "-k", entry["id"], "-m", "not browser", *extra]
    return [unit, [*pytest, *lib, *extra]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("unit", help="a unit id, such as 03_jacobians")
    args, extra = parser.parse_known_args(argv)
    entry = manifest.unit(args.unit)
    release.build_source_notebook(manifest.source_script(entry))
    release.generate_release(entry["id"])
    for path, text in course_pages.render().items():
        path.write_text(text, encoding="utf-8")
    print(f"rebuilt {manifest.release_notebook(entry).relative_to(manifest.ROOT)} and the course pages", flush=True)
    codes = [subprocess.call(command, cwd=manifest.ROOT) for command in pytest_commands(entry, extra)]
    return max(codes)


if __name__ == "__main__":
    sys.exit(main())
