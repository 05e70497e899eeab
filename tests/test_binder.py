"""Binder: the files repo2docker applies make a self-study JupyterLab with Validate and no instructor tools.

repo2docker cannot run here, so these tests check what it would use. It builds from the repository root
(`environment.yml`, because there is no `binder/` or `.binder/` folder to shadow it) and copies the
repository into the home folder, so `.jupyter/` becomes the user's Jupyter configuration folder. There,
`jupyter_server_config.json` switches off nbgrader's formgrader and course-list server extensions and
`labconfig/page_config.json` switches off (and locks) the formgrader, create-assignment and course-list
JupyterLab plugins. Validate stays on. The tests ask Jupyter itself what it makes of that folder.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from grading import manifest

ROOT = manifest.ROOT
CONFIG = ROOT / ".jupyter"
INSTRUCTOR_SERVER = {"nbgrader.server_extensions.formgrader", "nbgrader.server_extensions.course_list"}
INSTRUCTOR_LAB = {"@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:create-assignment",
                  "@jupyter/nbgrader:course-list"}
VALIDATE_SERVER = "nbgrader.server_extensions.validate_assignment"
VALIDATE_LAB = "@jupyter/nbgrader:validate-assignment"


def jupyter(*args: str) -> str:
    """Output of a `jupyter` command run with `.jupyter/` as the user configuration folder, as on Binder."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("JUPYTER_")}
    env["JUPYTER_CONFIG_DIR"] = str(CONFIG)
    result = subprocess.run([sys.executable, "-m", "jupyter", *args], env=env, capture_output=True, text=True,
                            timeout=300, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    return re.sub(r"\x1b\[[0-9;]*m", "", result.stdout + result.stderr)  # no colour codes


def test_repo2docker_reads_the_root_environment() -> None:
    for shadow in ("binder", ".binder"):
        assert not (ROOT / shadow).exists(), f"a {shadow}/ folder would make repo2docker ignore environment.yml"
    env = yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf-8"))
    assert {"pip": ["-e ./lib"]} in env["dependencies"], "Binder must install calcml from ./lib"


def test_config_files_say_what_they_should() -> None:
    server = json.loads((CONFIG / "jupyter_server_config.json").read_text(encoding="utf-8"))
    extensions = server["ServerApp"]["jpserver_extensions"]
    assert {name for name, on in extensions.items() if not on} == INSTRUCTOR_SERVER
    assert extensions.get(VALIDATE_SERVER, True)
    page = json.loads((CONFIG / "labconfig" / "page_config.json").read_text(encoding="utf-8"))
    disabled = {name for name, off in page["disabledExtensions"].items() if off}
    assert INSTRUCTOR_LAB <= disabled and VALIDATE_LAB not in disabled
    assert INSTRUCTOR_LAB <= {name for name, locked in page["lockedExtensions"].items() if locked}


def test_jupyter_server_loads_validate_but_not_the_instructor_extensions() -> None:
    listing = jupyter("server", "extension", "list")
    # The listing shows each configuration folder in turn; the user folder (ours) is listed first and wins.
    user_section = listing.split(f"Config dir: {CONFIG}", 1)[1].split("Config dir:", 1)[0]
    for name in INSTRUCTOR_SERVER:
        assert re.search(rf"{re.escape(name)} disabled", user_section), user_section
    assert VALIDATE_SERVER not in user_section or f"{VALIDATE_SERVER} enabled" in user_section


def test_jupyterlab_disables_the_instructor_plugins_and_keeps_validate() -> None:
    listing = jupyter("labextension", "list")
    disabled = set(listing.split("Disabled extensions:", 1)[1].split()) if "Disabled extensions:" in listing else set()
    assert INSTRUCTOR_LAB <= disabled, listing
    assert VALIDATE_LAB not in disabled


def test_the_disabled_names_exist_in_the_installed_nbgrader() -> None:
    """A renamed plugin or extension would make the configuration a silent no-op."""
    import nbgrader

    package = Path(nbgrader.__file__).parent
    bundle = "".join(p.read_text(encoding="utf-8", errors="replace")
                     for p in (package / "labextension" / "static").glob("*.js"))
    for plugin in INSTRUCTOR_LAB | {VALIDATE_LAB}:
        assert f'"{plugin}"' in bundle, f"nbgrader has no JupyterLab plugin {plugin}"
    for module in INSTRUCTOR_SERVER | {VALIDATE_SERVER}:
        assert (package / Path(*module.split(".")[1:])).is_dir(), f"nbgrader has no server extension {module}"


def test_the_config_is_committed_not_ignored() -> None:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    files = [CONFIG / "jupyter_server_config.json", CONFIG / "labconfig" / "page_config.json"]
    result = subprocess.run(["git", "check-ignore", *map(str, files)], cwd=ROOT, capture_output=True, text=True)
    assert result.stdout.strip() == "", f"git ignores {result.stdout.split()}: Binder would never see them"


def test_readme_badge_opens_start_here_in_jupyterlab() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    badges = re.findall(r"\[!\[[^\]]*\]\(https://mybinder\.org/badge_logo\.svg\)\]\((https://mybinder\.org/[^)]+)\)",
                        readme)
    assert len(badges) == 1, "the README needs one Binder badge"
    match = re.fullmatch(r"https://mybinder\.org/v2/gh/[\w.-]+/[\w.-]+/[\w./-]+\?urlpath=(\S+)", badges[0])
    assert match, badges[0]
    assert match.group(1) == "lab/tree/course/START_HERE.ipynb"
    assert (ROOT / "course" / "START_HERE.ipynb").is_file()
