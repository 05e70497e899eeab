"""`nbgrader collect` that trusts nothing a student wrote into the exchange.

In an nbgrader exchange every student can write `inbound/<student>+<assignment>+<timestamp>+<random>/`: the
folder's name, its content and its `timestamp.txt` are all chosen by whoever created it. nbgrader 0.9's collect
only warns when a folder claims another student, follows links with `shutil.copytree`, recurses without bound,
checks the size after copying and takes the submission time from the student's own file. The config selects
this plugin instead (`c.ExchangeFactory.collect`), which:

- collects a folder only if it is owned by the student it names (`SafeExchangeCollect.owner_check`, by default
  `owner_matches`: the Unix account of that name) and, when the gradebook has students, only if the student is
  on that roster; any other folder is skipped with a warning naming its owner and the student it claims;
- reads only regular files and folders whose real path stays inside the submission: every file is opened with
  `O_NOFOLLOW` relative to an already-opened folder, so no link is ever followed, even one swapped in while
  copying; a submission holding a link, special file or hard link is not collected at all;
- walks the submission with an explicit stack and, BEFORE writing anything, refuses it when it nests folders
  deeper than `max_depth`, holds more than `max_entries` files and folders, or its files add up (by `st_size`,
  so sparse files count in full) to more than `CourseDirectory.max_dir_size`; the copy stops at that budget too;
- records as the submission time the newest change time (ctime) of the folder and everything copied from it.
  A student cannot set a ctime (any change moves it to the present), so the late penalty cannot be dodged; the
  student's `timestamp.txt` and the time in the folder name are never used. Collect from the original exchange:
  copying it elsewhere resets the ctimes. If no ctime can be read, the time of collection is used;
- skips, with a warning naming the student, any submission that cannot be collected for any reason, so one bad
  folder never stops the class.
"""

from __future__ import annotations

import datetime
import os
import pwd
import shutil
import stat
import time
from pathlib import Path

from nbgrader.api import Gradebook
from nbgrader.exchange.default.collect import ExchangeCollect
from nbgrader.utils import ignore_patterns
from traitlets import Integer, Unicode
from traitlets.utils.importstring import import_item

from grading.archive_layout import STUDENT_ID

OPEN_DIRECTORY = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
OPEN_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK  # NONBLOCK: a planted FIFO cannot hang the collect
STAMP = "timestamp.txt"


class Refused(Exception):
    """A submission that is not collected; the message names what is wrong with it."""


def owner_matches(student: str, info: os.stat_result) -> bool:
    """Return whether `info` (the submission folder's lstat) is owned by the Unix account named `student`.

    Args:
        student: The student id the folder's name claims.
        info: The folder's `os.lstat` result.

    Returns:
        True only if an account of that name exists and its uid owns the folder.
    """
    try:
        return pwd.getpwnam(student).pw_uid == info.st_uid
    except (KeyError, ValueError):
        return False


def _owner_name(uid: int) -> str:
    try:
        return f"{pwd.getpwuid(uid).pw_name!r} (uid {uid})"
    except KeyError:
        return f"uid {uid}"


class SafeExchangeCollect(ExchangeCollect):
    """nbgrader's exchange collect that collects each student's own folder, and nothing else, safely."""

    owner_check = Unicode("grading.exchange.owner_matches", config=True,
                          help="Dotted name of a function (student, lstat result) -> bool accepting a folder's owner.")
    max_depth = Integer(32, config=True, help="Deepest folder nesting collected in one submission.")
    max_entries = Integer(1000, config=True, help="Most files and folders collected in one submission.")

    _roster: set[str] | None = None
    _roster_loaded = False

    def _load_roster(self) -> set[str] | None:
        if not self._roster_loaded:
            with Gradebook(self.coursedir.db_url, self.coursedir.course_id) as gradebook:
                self._roster = {student.id for student in gradebook.students} or None
            self._roster_loaded = True
        return self._roster

    def _path_to_record(self, path: str) -> dict:
        name = os.path.basename(path)
        student = name.split("+")[0]
        try:
            record = super()._path_to_record(path)
            student = record["username"]
            info = os.lstat(path)
        except Exception as error:  # noqa: BLE001 -- nbgrader would stop the whole collect here
            return self._invalid(name, student, f"its folder name has no valid timestamp ({error})")
        owner = _owner_name(info.st_uid)
        roster = self._load_roster()
        if not STUDENT_ID.fullmatch(student):
            return self._invalid(name, student, "the student id in its folder name is not a valid id")
        if roster is not None and student not in roster:
            return self._invalid(name, student, f"it is owned by {owner} and {student!r} is not on the roster")
        if not import_item(self.owner_check)(student, info):
            return self._invalid(name, student, f"it is owned by {owner}, not by {student!r}; a student can only "
                                                "submit as themselves (cheating attempt?)")
        record["timestamp"] = _utc(info.st_ctime)  # the name's time is the student's choice
        return record

    def _invalid(self, name: str, student: str, why: str) -> dict:
        self.log.warning("Not collecting %r for student %r: %s.", name, student, why)
        return {"username": student, "filename": name, "timestamp": datetime.datetime.min, "invalid": why}

    def copy_files(self) -> None:
        self.src_records = [record for record in self.src_records if "invalid" not in record]
        super().copy_files()

    def do_copy(self, src: str, dest: str, log=None) -> None:
        """Copy the submission `src` to `dest` and write its time, or nothing of it if it is refused."""
        student = Path(dest).parent.name
        try:
            self._copy_submission(src, Path(dest))
        except Exception as error:  # noqa: BLE001 -- one bad folder is skipped; the class is still collected
            self._refuse(student, src, dest, str(error) or type(error).__name__)

    def _copy_submission(self, src: str, dest: Path) -> None:
        try:
            fd = os.open(src, OPEN_DIRECTORY)
        except OSError as error:
            raise Refused(f"the submission folder is a link or unreadable ({error.strerror})") from None
        ignore = ignore_patterns(exclude=self.coursedir.ignore, include=self.coursedir.include,
                                 max_file_size=self.coursedir.max_file_size, log=self.log)
        budget = 1000 * self.coursedir.max_dir_size
        try:
            plan, newest = _scan(fd, src, ignore, budget, self.max_depth, self.max_entries)
            newest = max(newest, _copy(fd, plan, dest, budget))
        finally:
            os.close(fd)
        now = time.time()
        stamp = newest if 0 < newest <= now else now
        (dest / STAMP).write_text(_utc(stamp).strftime("%Y-%m-%d %H:%M:%S.%f UTC"))
        if self.coursedir.groupshared:
            _share_with_group(dest)

    def _refuse(self, student: str, src: str, dest: str, why: str) -> None:
        shutil.rmtree(dest, ignore_errors=True)
        self.log.warning("Not collecting the submission of student %r (%s): %s. Links are never followed, so a "
                         "submission cannot hand in files from elsewhere; ask the student to submit again.",
                         student, os.path.basename(src), why)


def _utc(seconds: float) -> datetime.datetime:
    """A naive UTC datetime, as nbgrader compares them."""
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).replace(tzinfo=None)


def _open_under(root_fd: int, relative: str) -> int:
    """Open the folder `relative` under the opened root one component at a time, following no link."""
    fd = os.dup(root_fd)
    for part in relative.split(os.sep) if relative else []:
        try:
            child = os.open(part, OPEN_DIRECTORY, dir_fd=fd)
        finally:
            os.close(fd)
        fd = child
    return fd


def _scan(root_fd: int, src: str, ignore, budget: int, max_depth: int,
          max_entries: int) -> tuple[list[tuple[str, bool]], float]:
    """Check a whole submission before anything is copied.

    Args:
        root_fd: The opened submission folder.
        src: Its path, for the ignore patterns.
        ignore: nbgrader's ignore function (folder, names) -> ignored names.
        budget: The most bytes the copied files may add up to.
        max_depth: The deepest folder nesting allowed.
        max_entries: The most files and folders allowed.

    Returns:
        The (relative path, is a folder) entries to copy, parents first, and the newest ctime seen.

    Raises:
        Refused: A link, special file or hard link, or a limit passed.
    """
    newest = os.fstat(root_fd).st_ctime
    plan: list[tuple[str, bool]] = []
    size = entries = 0
    stack = [("", 0, False)]  # folder, depth, ignored
    while stack:
        relative, depth, ignored = stack.pop()
        fd = _open_under(root_fd, relative)
        try:
            names = sorted(os.listdir(fd))
            entries += len(names)
            if entries > max_entries:
                raise Refused(f"it holds more than {max_entries} files and folders")
            skipped = set() if ignored else set(ignore(os.path.join(src, relative), names))
            for name in names:
                path = os.path.join(relative, name)
                info = os.stat(name, dir_fd=fd, follow_symlinks=False)
                newest = max(newest, info.st_ctime)
                hidden = ignored or name in skipped or (not relative and name == STAMP)
                if stat.S_ISDIR(info.st_mode):
                    if depth + 1 > max_depth:
                        raise Refused(f"it nests folders more than {max_depth} deep")
                    stack.append((path, depth + 1, hidden))
                elif stat.S_ISLNK(info.st_mode):
                    raise Refused(f"{path!r} is a link")
                elif not stat.S_ISREG(info.st_mode):
                    raise Refused(f"{path!r} is not a regular file")
                elif info.st_nlink > 1:
                    raise Refused(f"{path!r} is a hard link")
                elif not hidden:
                    size += info.st_size
                    if size > budget:
                        raise Refused(f"its files add up to more than {budget} bytes (CourseDirectory.max_dir_size)")
                if not hidden:
                    plan.append((path, stat.S_ISDIR(info.st_mode)))
        finally:
            os.close(fd)
    return plan, newest


def _copy(root_fd: int, plan: list[tuple[str, bool]], dest: Path, budget: int) -> float:
    """Copy the planned entries under the opened folder to `dest`, following no link; return the newest ctime."""
    dest.mkdir(parents=True, exist_ok=True)
    total = 0
    newest = 0.0
    for path, is_folder in plan:
        if is_folder:
            (dest / path).mkdir()
            continue
        parent = _open_under(root_fd, os.path.dirname(path))
        try:
            source = os.open(os.path.basename(path), OPEN_FILE, dir_fd=parent)
        finally:
            os.close(parent)
        try:
            if not stat.S_ISREG(os.fstat(source).st_mode) or os.fstat(source).st_nlink > 1:
                raise Refused(f"{path!r} is not a regular file")
            target = os.open(dest / path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
            with os.fdopen(target, "wb") as out:
                while chunk := os.read(source, 1 << 16):
                    total += len(chunk)
                    if total > budget:  # a file grown since the scan
                        raise Refused(f"its files add up to more than {budget} bytes (CourseDirectory.max_dir_size)")
                    out.write(chunk)
            newest = max(newest, os.fstat(source).st_ctime)  # after reading: a change while copying counts
        finally:
            os.close(source)
    return newest


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
