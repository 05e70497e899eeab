"""`nbgrader collect` without following links a student planted in the exchange.

In an nbgrader exchange every student can write `inbound/<student>+<assignment>+<timestamp>+<random>/`. nbgrader
0.9's collect copies those folders with `shutil.copytree`, which follows symlinks: a notebook that is a link to
the instructor's `source/` (or a submission folder that is a link to it) would be collected, and graded, as the
student's own work. The config selects this plugin instead (`c.ExchangeFactory.collect`), which:

- reads only regular files and folders whose real path stays inside the submission: every file is opened with
  `O_NOFOLLOW` relative to its already-opened folder, so no link is ever followed, even one swapped in while
  copying; hard links (a second name for someone else's file) are refused too;
- copies nothing of a submission holding a link, special file or hard link, and logs a warning naming the
  student; the other students are still collected;
- skips, with a warning, a submission whose folder name has an invalid student id or timestamp, or that is too
  large, where nbgrader would stop collecting the whole class.
"""

from __future__ import annotations

import datetime
import os
import shutil
import stat
from pathlib import Path

from nbgrader.exchange import ExchangeError
from nbgrader.exchange.default.collect import ExchangeCollect
from nbgrader.utils import ignore_patterns

from grading.collect import STUDENT_ID

OPEN_DIRECTORY = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
OPEN_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK  # NONBLOCK: a planted FIFO cannot hang the collect


class Refused(Exception):
    """A submission that is not collected; the message names what is wrong with it."""


class SafeExchangeCollect(ExchangeCollect):
    """nbgrader's exchange collect that never follows a link and never stops on one bad submission."""

    def _path_to_record(self, path: str) -> dict:
        try:
            return super()._path_to_record(path)
        except (ExchangeError, ValueError, OverflowError) as error:
            name = os.path.basename(path)
            return {"username": name.split("+")[0], "filename": name, "timestamp": datetime.datetime.min,
                    "invalid": f"its folder name has no valid timestamp ({error})"}

    def copy_files(self) -> None:
        kept = []
        for record in self.src_records:
            why = record.get("invalid")
            if why is None and not STUDENT_ID.fullmatch(record["username"]):
                why = "the student id in its folder name is not a valid id"
            if why:
                self.log.warning("Not collecting %r for student %r: %s.", record["filename"], record["username"], why)
            else:
                kept.append(record)
        self.src_records = kept
        super().copy_files()

    def do_copy(self, src: str, dest: str, log=None) -> None:
        """Copy the submission `src` to `dest`, or nothing of it if it holds a link or is too large."""
        student = Path(dest).parent.name
        try:
            fd = os.open(src, OPEN_DIRECTORY)
        except OSError as error:
            self._refuse(student, src, dest, f"the submission folder is a link or unreadable ({error.strerror})")
            return
        ignore = ignore_patterns(exclude=self.coursedir.ignore, include=self.coursedir.include,
                                 max_file_size=self.coursedir.max_file_size, log=self.log)
        try:
            _check(fd, "")
            size = _copy(fd, src, Path(dest), ignore)
            if size > 1000 * self.coursedir.max_dir_size:
                raise Refused(f"it holds {size} bytes, more than CourseDirectory.max_dir_size")
        except (Refused, OSError) as error:
            self._refuse(student, src, dest, str(error))
            return
        finally:
            os.close(fd)
        if self.coursedir.groupshared:
            _share_with_group(Path(dest))

    def _refuse(self, student: str, src: str, dest: str, why: str) -> None:
        shutil.rmtree(dest, ignore_errors=True)
        self.log.warning("Not collecting the submission of student %r (%s): %s. Links are never followed, so a "
                         "submission cannot hand in files from elsewhere; ask the student to submit again.",
                         student, os.path.basename(src), why)


def _check(folder_fd: int, relative: str) -> None:
    """Raise Refused if anything under the opened folder is a link, a special file or a hard link."""
    for name in os.listdir(folder_fd):
        path = os.path.join(relative, name)
        info = os.stat(name, dir_fd=folder_fd, follow_symlinks=False)
        if stat.S_ISDIR(info.st_mode):
            child = os.open(name, OPEN_DIRECTORY, dir_fd=folder_fd)
            try:
                _check(child, path)
            finally:
                os.close(child)
        elif stat.S_ISLNK(info.st_mode):
            raise Refused(f"{path!r} is a link")
        elif not stat.S_ISREG(info.st_mode):
            raise Refused(f"{path!r} is not a regular file")
        elif info.st_nlink > 1:
            raise Refused(f"{path!r} is a hard link")


def _copy(folder_fd: int, folder: str, dest: Path, ignore) -> int:
    """Copy the regular files under the opened folder to `dest`, following no link; return the bytes copied."""
    dest.mkdir(parents=True, exist_ok=True)
    names = sorted(os.listdir(folder_fd))
    skipped = set(ignore(folder, names))
    total = 0
    for name in names:
        if name in skipped:
            continue
        info = os.stat(name, dir_fd=folder_fd, follow_symlinks=False)
        if stat.S_ISDIR(info.st_mode):
            child = os.open(name, OPEN_DIRECTORY, dir_fd=folder_fd)  # fails on a link swapped in meanwhile
            try:
                total += _copy(child, os.path.join(folder, name), dest / name, ignore)
            finally:
                os.close(child)
            continue
        source = os.open(name, OPEN_FILE, dir_fd=folder_fd)
        try:
            opened = os.fstat(source)
            if not stat.S_ISREG(opened.st_mode) or opened.st_nlink > 1:
                raise Refused(f"{os.path.join(folder, name)!r} is not a regular file")
            target = os.open(dest / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
            with os.fdopen(target, "wb") as out:
                while chunk := os.read(source, 1 << 16):
                    out.write(chunk)
                    total += len(chunk)
        finally:
            os.close(source)
    return total


def _share_with_group(dest: Path) -> None:
    """Give the group read and write access, as nbgrader does for a groupshared course."""
    for path in [dest, *dest.rglob("*")]:
        mode = path.stat().st_mode
        wanted = (mode | 0o2770) & 0o2777 if path.is_dir() else (mode | 0o660) & 0o777
        if mode & 0o7777 != wanted:
            try:
                os.chmod(path, wanted)
            except PermissionError:
                pass
