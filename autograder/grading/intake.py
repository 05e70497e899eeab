"""Reading what a student handed in: only regular files, never through a link, within size limits.

A student controls every name and byte of a submission: a link could lead to the instructor's solutions or a
classmate's work, a FIFO could block the grader, a huge or deeply nested file could exhaust it, and a file
beside the notebook could shadow a module on the kernel's `sys.path`. Everything here turns such input into
`Malformed` (with a reason a student can act on) or a note, and never stops the class.
"""

from __future__ import annotations

import contextlib
import datetime
import fnmatch
import hashlib
import json
import os
import re
import stat
from collections.abc import Iterable
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from grading.config import warnings_suppressed

MIB = 1 << 20
MAX_NOTEBOOK_BYTES = 64 * MIB  # a submitted notebook; the release notebooks are under 1 MiB
# The student's other files copied beside the notebook (the kernel's working folder is on sys.path): data and
# pictures only, so nothing a student hands in can shadow a module. Anything else is left out, with a note.
EXTRA_FILE_SUFFIXES = frozenset({".csv", ".txt", ".json", ".npy", ".npz", ".png", ".jpg", ".jpeg", ".md"})
MAX_EXTRA_FILES = 50
MAX_EXTRA_BYTES = 16 * MIB
# What nbgrader keeps of a submission beside its notebooks, written by the collect (`timestamp.txt`) and by
# `nbgrader submit` (`submission_secret.txt`, which names the student's feedback in the exchange). `nbgrader
# autograde` copies them into autograded/, `generate_feedback` on into feedback/, where `release_feedback` needs
# them. They never reach the kernel's folder; `copy_records` copies them, small regular files only.
SUBMISSION_RECORDS = ("timestamp.txt", "submission_secret.txt")
MAX_RECORD_BYTES = 1024
SECRET = re.compile(r"[0-9A-Za-z_\-+/=.]{16,512}")
NOTEBOOK_COPY = re.compile(r"(\s*\(\d+\)|[\s_-]*copy\d*|[\s_-]+\d+)$")  # "x (1)", "x-Copy1", "x copy", "x_2"


class Malformed(Exception):
    """The submission cannot be graded as it is; the message says why."""


def read_regular_file(path: Path, limit: int) -> bytes:
    """The bytes of `path`, only if it is a regular file (never through a symbolic link) of at most `limit` bytes.

    A student controls every name in a submission: a link could point at the instructor's solutions, another
    student's work or a device. Raises `Malformed` with the reason otherwise.
    """
    try:
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError as error:
        if path.is_symlink():
            raise Malformed(f"{path.name} is a symbolic link; only regular files are graded") from None
        raise Malformed(f"cannot read {path.name}: {error.strerror}") from None
    with os.fdopen(descriptor, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise Malformed(f"{path.name} is not a regular file; only regular files are graded")
        if info.st_size > limit:
            raise Malformed(f"{path.name} is {info.st_size / MIB:.0f} MiB; a submitted notebook may be at most "
                            f"{limit / MIB:.0f} MiB (clear its outputs and submit again)")
        return handle.read(limit + 1)[:limit]


def submission_timestamp(folder: Path) -> datetime.datetime | None:
    """The time in `folder/timestamp.txt`, written by `nbgrader collect` or `grading.collect` from the exchange's
    or the LMS's record; None when it is absent or is not a small regular file holding a time."""
    from nbgrader.utils import parse_utc

    try:
        return parse_utc(read_regular_file(folder / "timestamp.txt", 256).decode("utf-8").strip())
    except (Malformed, UnicodeDecodeError, ValueError, TypeError, OverflowError):
        return None


def read_submission(path: Path) -> NotebookNode:
    """Parse a submitted notebook strictly: a regular file, JSON, nbformat 4, valid against the schema."""
    raw = read_regular_file(path, MAX_NOTEBOOK_BYTES)
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError, MemoryError) as error:
        raise Malformed(f"{path.name} is not valid JSON ({type(error).__name__}: {str(error)[:120]})") from None
    if not isinstance(data, dict) or "cells" not in data:
        raise Malformed(f"{path.name} is JSON but not a notebook (no 'cells')")
    major = data.get("nbformat")
    if major != 4:
        raise Malformed(f"{path.name} is nbformat {major!r}; this course's notebooks are nbformat 4 "
                        "(re-save it with a current Jupyter)")
    try:
        with warnings_suppressed():
            notebook = nbformat.reads(raw.decode("utf-8"), as_version=4)
            nbformat.validate(notebook)
    except Exception as error:  # nbformat's ValidationError, a structure from_dict rejects, deep nesting
        text = str(error)[:2000].strip()
        message = text.splitlines()[0] if text else type(error).__name__
        raise Malformed(f"{path.name} is not a valid nbformat 4 notebook: {message[:200]}") from None
    return notebook


def copy_files(src: Path, dest: Path, *, student: bool, ignore: Iterable[str] = ()) -> list[str]:
    """Copy the non-notebook files of `src` into `dest`; return notes on what was left out.

    Links are never followed, and names matching the `ignore` patterns (nbgrader's `CourseDirectory.ignore`) are
    skipped. The instructor's files (`student` False) are copied as they are; a student's only when they are
    regular data files (`EXTRA_FILE_SUFFIXES`, at most `MAX_EXTRA_FILES` and `MAX_EXTRA_BYTES` in all), so no
    file handed in can shadow a module on the kernel's `sys.path`. A file that cannot be copied (an over-long
    name, a FIFO) is left out with a note.
    """
    if not src.is_dir() or src.is_symlink():
        return []
    patterns = list(ignore)
    try:
        paths = sorted(src.rglob("*"))
    except OSError as error:  # a path too long to name, a folder that vanished...
        return [f"the other files of the submission could not be listed ({error.strerror}); only the notebook "
                "was graded"]
    skipped: list[str] = []
    copied = size = 0
    for path in paths:
        relative = path.relative_to(src)
        if any(fnmatch.fnmatch(part, p) for part in relative.parts for p in patterns):
            continue
        if path.is_dir() and not path.is_symlink() or path.suffix == ".ipynb" or \
                relative.as_posix() in SUBMISSION_RECORDS:  # copied by `copy_records`, never for the kernel
            continue
        if student and (path.suffix.lower() not in EXTRA_FILE_SUFFIXES or copied >= MAX_EXTRA_FILES):
            skipped.append(str(relative)[:80])
            continue
        try:
            data = read_regular_file(path, MAX_EXTRA_BYTES - size)
            target = dest / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileNotFoundError):
                target.unlink()
            target.write_bytes(data)
        except (Malformed, OSError, ValueError):
            skipped.append(str(relative)[:80])
            continue
        copied += 1
        size += len(data)
    if not skipped:
        return []
    shown = ", ".join(skipped[:5]) + (f" and {len(skipped) - 5} more" if len(skipped) > 5 else "")
    return [f"left out of grading: {shown} (only regular data files are kept beside the notebook: "
            f"{', '.join(sorted(EXTRA_FILE_SUFFIXES))}; at most {MAX_EXTRA_FILES} files, "
            f"{MAX_EXTRA_BYTES // MIB} MiB)"]


def linked_submission(submitted_root: Path, student: str, assignment: str) -> str:
    """Why the folder `submitted_root/student/assignment` cannot be trusted as a folder ('' if it can)."""
    folder = submitted_root / student / assignment
    if (submitted_root / student).is_symlink() or folder.is_symlink() or not folder.is_dir():
        return "the submission folder is a symbolic link; only regular files and folders are graded"
    if folder.resolve() != folder:
        return "the submission folder leads outside the submitted folder"
    return ""


def copy_records(src: Path, dest: Path) -> list[str]:
    """Copy the submission's `SUBMISSION_RECORDS` from `src` into `dest`, as `nbgrader autograde` does, so that
    `nbgrader release_feedback` finds them; return notes on what was not kept.

    The rules of the other files hold: regular files only, never through a link, at most `MAX_RECORD_BYTES`.
    `timestamp.txt` (the collector's) must hold a time, `submission_secret.txt` (the student's nbgrader wrote
    it) one token; anything else is left out, with a note, and only that student's feedback cannot be released.
    """
    notes: list[str] = []
    for name in SUBMISSION_RECORDS:
        path = src / name
        if not path.exists() and not path.is_symlink():
            continue
        try:
            data = read_regular_file(path, MAX_RECORD_BYTES)
            text = data.decode("ascii")
            if name == "timestamp.txt" and submission_timestamp(src) is None:
                raise Malformed(f"{name} holds no time")
            if name == "submission_secret.txt" and not SECRET.fullmatch(text.strip()):
                raise Malformed(f"{name} is not an nbgrader submission secret")
            target = dest / name
            with contextlib.suppress(FileNotFoundError):
                target.unlink()
            target.write_bytes(data)
        except (Malformed, UnicodeDecodeError, OSError) as error:
            why = str(error) if isinstance(error, Malformed) else f"{name} is unreadable"
            notes.append(f"{why}; it was not kept, so this submission's feedback cannot be released through the "
                         "exchange (nbgrader release_feedback)")
    return notes


def submission_digest(folder: Path) -> str:
    """A digest of a submission folder: every name with its bytes (a link by its target's name, never followed,
    anything else by its kind). `--resume` compares it, not file times, which a student sets. "" when any of it
    cannot be read: such a submission is graded again."""
    digest = hashlib.sha256()
    try:
        for path in sorted(folder.rglob("*")):
            mode = path.lstat().st_mode
            data = (os.readlink(path).encode("utf-8", "surrogateescape") if stat.S_ISLNK(mode)
                    else path.read_bytes() if stat.S_ISREG(mode) else b"")
            digest.update(f"{path.relative_to(folder).as_posix()}\0{stat.S_IFMT(mode)}\0{len(data)}\0".encode(
                "utf-8", "surrogateescape") + data)
    except (OSError, ValueError):
        return ""
    return digest.hexdigest()


def notebook_key(stem: str) -> str:
    """A notebook's name as a student may have changed it: case, spaces and a copy suffix do not count."""
    key = stem.strip().lower()
    while (shorter := NOTEBOOK_COPY.sub("", key)) != key:
        key = shorter
    return re.sub(r"[\s\-]+", "_", key.removeprefix("copy of ").strip())


def match_notebooks(folder: Path, notebooks: list[str]) -> tuple[dict[str, Path], dict[str, str], list[str]]:
    """Which file of the submission `folder` is each of the assignment's `notebooks`.

    A notebook is its own `<id>.ipynb`; a missing one is matched to a notebook the student renamed when that
    cannot be a mistake: the one other notebook whose name differs only by case, spaces or a copy suffix
    (`Derivatives.ipynb`, `derivatives (1).ipynb`, `derivatives-Copy1.ipynb`), or, for a one-notebook
    assignment, the only notebook in the folder. A renamed notebook is graded with a note; any other case is a
    problem that names the files found, so a student who submitted the right work under the wrong name loses
    nothing, and one whose submission is ambiguous is told what to rename.

    Returns:
        ({notebook id: path}, {notebook id: problem}, notes). A problem starting with "no " means that no
        notebook at all is there (the submission counts as missing).
    """
    try:
        found = sorted(p for p in folder.iterdir() if p.suffix == ".ipynb")
    except OSError:
        found = []
    paths: dict[str, Path] = {}
    problems: dict[str, str] = {}
    notes: list[str] = []
    own = {f"{notebook_id}.ipynb" for notebook_id in notebooks}
    others = [p for p in found if p.name not in own]
    missing = []
    for notebook_id in notebooks:
        path = folder / f"{notebook_id}.ipynb"
        if path.exists() or path.is_symlink():
            paths[notebook_id] = path
        else:
            missing.append(notebook_id)
    for notebook_id in missing:
        named = [p for p in others if notebook_key(p.stem) == notebook_key(notebook_id)]
        if not named and len(notebooks) == 1 and len(others) == 1:
            named = others  # the only notebook handed in for a one-notebook assignment
        if len(named) == 1 and named[0] not in paths.values():
            paths[notebook_id] = named[0]
            notes.append(f"{named[0].name} graded as {notebook_id}.ipynb (the notebook was renamed; keep the name "
                         f"{notebook_id}.ipynb next time)")
        elif not found:
            problems[notebook_id] = f"no {notebook_id}.ipynb in the submission (it holds no notebook)"
        else:
            shown = ", ".join(p.name for p in (named or others or found))
            problems[notebook_id] = (f"{notebook_id}.ipynb is not in the submission and cannot be told apart among "
                                     f"its notebooks ({shown}): rename the right one to {notebook_id}.ipynb and "
                                     "submit again")
    return paths, problems, notes
