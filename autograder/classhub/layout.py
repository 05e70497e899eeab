"""The class folder and the instructor's course: what `make class` lays out, keeping whatever is there.

```
<class root>/                 0755 root (default /srv/calcml-class)
  settings.json               what the hub's config reads (ports, users, folders); no secret
  passwords.txt               0600 root: `name password`, one line per account
  hub/                        0700 root: the hub's database, cookie secret, pid files and log
  exchange/                   1777 root: nbgrader's exchange (world-writable, sticky: nobody removes another's)
    <course>/                 0755 instructor, made here so that no student can claim the course's name first
      outbound/ 0755  inbound/ 2733 (students write, cannot list)  feedback/ 0711 (read your own only)
  jupyter/student/            0755 root: the students' Jupyter settings (JUPYTER_CONFIG_DIR; they cannot edit it)
  jupyter/instructor/         0755 root: the instructor's
~<instructor>/<course>/       the instructor's course repository (a clone of the checkout, with its uncommitted
                              changes); its .venv runs the class venv's packages, its autograder/exchange is
                              the class exchange
```
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

from classhub.accounts import PATH, run_as
from classhub.roster import Roster

CHECKOUT = Path(__file__).resolve().parents[2]


def _mkdir(path: Path, mode: int, owner: str | None = None) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    if owner:
        user = pwd.getpwnam(owner)
        os.chown(path, user.pw_uid, user.pw_gid)
    os.chmod(path, mode)
    return path


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    os.chmod(path, mode)


def class_folder(root: Path) -> dict[str, Path]:
    """Make the class folder; return its paths."""
    _mkdir(root, 0o755)
    _mkdir(root / "hub", 0o700)
    return {"root": root, "hub": root / "hub", "exchange": root / "exchange", "jupyter": root / "jupyter",
            "passwords": root / "passwords.txt", "settings": root / "settings.json"}


def exchange(path: Path, roster: Roster, course_id: str) -> None:
    """nbgrader's exchange, with the course's folder made (and owned) by the instructor's account."""
    _mkdir(path, 0o1777)
    course = _mkdir(path / course_id, 0o755, roster.instructor)
    for name, mode in (("outbound", 0o755), ("inbound", 0o2733), ("feedback", 0o711)):
        _mkdir(course / name, mode, roster.instructor)


SETTINGS_DIRS = """import os

# The configuration folder is root's and read-only: JupyterLab keeps the user's settings in their home.
c.LabApp.user_settings_dir = os.path.expanduser("~/.jupyter/lab/user-settings")
c.LabApp.workspaces_dir = os.path.expanduser("~/.jupyter/lab/workspaces")
"""


def jupyter_settings(folder: Path, exchange: Path, course_id: str, course: Path) -> None:
    """Write the students' and the instructor's Jupyter settings (their JUPYTER_CONFIG_DIR)."""
    student = folder / "student"
    # What Binder's learners get (the repository's .jupyter/): Validate and the Assignment List, without
    # formgrader, create-assignment or the course list, on the server and in JupyterLab.
    shutil.copytree(CHECKOUT / ".jupyter", student, dirs_exist_ok=True, ignore=shutil.ignore_patterns("migrated"))
    _write(student / "jupyter_server_config.py", SETTINGS_DIRS)
    _write(student / "nbgrader_config.py", f"""c = get_config()  # noqa: F821
c.CourseDirectory.course_id = {course_id!r}
c.Exchange.root = {str(exchange)!r}
# The course is offered to the members of the hub group nbgrader-{course_id} (nbgrader's JupyterHub convention).
from nbgrader.auth import JupyterHubAuthPlugin  # noqa: E402
c.Authenticator.plugin_class = JupyterHubAuthPlugin
""")
    instructor = folder / "instructor"
    _write(instructor / "jupyter_server_config.py", SETTINGS_DIRS + """
# Formgrader runs in the instructor's own server (nbgrader's "one class, one grader"); the course list, which
# looks for formgrader services on the hub, stays off (nbgrader #1831).
c.ServerApp.jpserver_extensions = {"nbgrader.server_extensions.course_list": False}
""")
    _write(instructor / "labconfig" / "page_config.json", json.dumps(
        {"disabledExtensions": {"@jupyter/nbgrader:course-list": True,
                                "@jupyterlab/apputils-extension:announcements": True}}, indent=2) + "\n")
    _write(instructor / "nbgrader_config.py", f"""c = get_config()  # noqa: F821
# The course's own configuration, in the instructor's copy; its autograder/exchange is the class exchange.
load_subconfig({str(course / "autograder" / "nbgrader_config.py")!r})  # noqa: F821
""")
    for role in (student, instructor):
        # jupyter_core migrates ~/.ipython settings once, then writes this marker into the (read-only) folder:
        # without it, a server whose user has an ~/.ipython would fail to start.
        _write(role / "migrated", "written by make class\n")
    for path in [folder, *folder.rglob("*")]:
        os.chmod(path, 0o755 if path.is_dir() else 0o644)


def _changed_files(checkout: Path) -> list[str]:
    out = subprocess.run(["git", "-C", str(checkout), "ls-files", "-z", "--modified", "--others", "--exclude-standard"],
                         check=True, capture_output=True, text=True).stdout
    return [name for name in out.split("\0") if name]


def instructor_course(checkout: Path, roster: Roster, course_id: str, exchange: Path, venv: Path) -> Path:
    """The instructor's course repository in their home, made once: a later run keeps it (and its gradebook).

    Its `.venv` runs the class venv's packages, so `make grade` there runs at once; its lib/pyproject.toml keeps
    the checkout's time, older than that venv's stamp, so make never tries to reinstall it.
    """
    user = pwd.getpwnam(roster.instructor)
    course = Path(user.pw_dir) / course_id
    if not course.exists():
        with tempfile.TemporaryDirectory(dir=user.pw_dir) as scratch:
            work = Path(scratch) / course_id
            subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(checkout), str(work)], check=True)
            for name in _changed_files(checkout):  # what the checkout has and has not committed yet
                if (checkout / name).is_file():
                    (work / name).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(checkout / name, work / name)
            (work / "autograder" / "exchange").symlink_to(exchange)
            # make there must find its .venv up to date (see _course_venv's stamp), never reinstall it.
            stamp = (checkout / "lib" / "pyproject.toml").stat()
            os.utime(work / "lib" / "pyproject.toml", (stamp.st_atime, stamp.st_mtime))
            subprocess.run(["chown", "-R", "--no-dereference", f"{user.pw_uid}:{user.pw_gid}", str(work)], check=True)
            work.rename(course)
    _course_venv(course / ".venv", venv, roster.instructor)
    return course


def _course_venv(path: Path, venv: Path, owner: str) -> None:
    """The course's `.venv`: a venv of the instructor's whose site-packages are the class venv's (by a .pth).

    Not a link: the grader's sandbox shows student code the Python it runs from by its real path, and the
    grader names that Python by the path make runs, `.venv/bin/python`; a real folder makes both one.
    """
    if path.is_symlink():
        path.unlink()
    if not (path / "pyvenv.cfg").exists():
        run_as(owner, [str(venv / "bin" / "python"), "-m", "venv", "--without-pip", str(path)], check=True,
               capture_output=True)
    purelib = subprocess.run([str(path / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()"
                              "['purelib'])"], check=True, capture_output=True, text=True).stdout.strip()
    class_lib = subprocess.run([str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()"
                                "['purelib'])"], check=True, capture_output=True, text=True).stdout.strip()
    user = pwd.getpwnam(owner)
    # Jupyter's data and settings (nbconvert's templates, kernels, extensions) and the class venv's commands.
    links = [(path / folder, venv / folder) for folder in ("share", "etc")]
    links += [(path / "bin" / tool.name, tool) for tool in (venv / "bin").iterdir() if not tool.name.startswith(
        ("python", "activate", "Activate"))]
    for link, target in links:
        if not link.exists() and not link.is_symlink() and target.exists():
            link.symlink_to(target)
            os.lchown(link, user.pw_uid, user.pw_gid)
    for name, text in ((Path(purelib) / "calcml-class-venv.pth", f"import site; site.addsitedir({class_lib!r})\n"),
                       (path / ".installed", "")):  # make's stamp: this venv is up to date
        name.write_text(text, encoding="utf-8")
        os.chown(name, user.pw_uid, user.pw_gid)


def gradebook_roster(course: Path, roster: Roster, venv: Path) -> None:
    """Put the students on the gradebook's roster (collect takes only theirs); existing entries are kept."""
    if not roster.students:
        return
    with tempfile.NamedTemporaryFile("w", suffix=".csv", dir=course, delete=False) as out:
        out.write("id\n" + "".join(f"{name}\n" for name in roster.students))
    listing = Path(out.name)
    try:
        os.chmod(listing, 0o644)
        # nbgrader runs `alembic` from PATH when it makes a new gradebook: the venv's bin comes first.
        run_as(roster.instructor, [str(course / ".venv" / "bin" / "python"), "-m", "nbgrader", "db", "student",
                                   "import", str(listing)], cwd=course / "autograder", check=True,
               capture_output=True, env={"PATH": f"{venv / 'bin'}:{PATH}"})
    finally:
        listing.unlink(missing_ok=True)
