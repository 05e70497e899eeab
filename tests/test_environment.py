"""environment.yml (Binder) and lib/pyproject.toml (pip) install the same packages."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
import yaml

from grading import manifest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


def names(requirements: list[str]) -> set[str]:
    return {re.split(r"[<>=!~ \[]", req, maxsplit=1)[0].strip().lower() for req in requirements}


def test_binder_environment_names_the_same_packages_as_the_lib() -> None:
    project = tomllib.loads((manifest.ROOT / "lib" / "pyproject.toml").read_text())["project"]
    pip_side = names(project["dependencies"] + project["optional-dependencies"]["course"])
    env = yaml.safe_load(Path(manifest.ROOT / "environment.yml").read_text())
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    conda_side = names(conda) - {"python", "pip"}
    assert conda_side == pip_side
    assert {"pip": ["-e ./lib"]} in env["dependencies"], "Binder must install calcml from ./lib"
    assert env["channels"] == ["conda-forge"]


def test_the_design_card_packages_are_all_there() -> None:
    env = yaml.safe_load(Path(manifest.ROOT / "environment.yml").read_text())
    conda = names([d for d in env["dependencies"] if isinstance(d, str)])
    assert {"jupyterlab", "numpy", "matplotlib", "nbgrader", "ipywidgets", "sympy", "jupytext"} <= conda


@pytest.mark.xdist_group("01_derivatives")
def test_xdist_keeps_a_units_tests_on_one_worker(request) -> None:
    """Under `make test` (`--dist loadgroup`) a unit's tests share one worker and its fixtures are built once.
    pytest 9.2 stopped pytest-xdist 3.8 from grouping anything, silently: every worker built every unit again."""
    if not getattr(request.config.option, "loadgroup", False):
        pytest.skip("not run with pytest-xdist's --dist loadgroup, which `make test` uses")
    assert request.node.nodeid.endswith("@01_derivatives"), (
        f"pytest-xdist no longer groups tests (node id {request.node.nodeid!r}); "
        "check the pytest pin in lib/pyproject.toml")
