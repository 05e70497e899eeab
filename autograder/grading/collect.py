"""Collect submissions from a zip, safely, into nbgrader's `submitted/<student>/<assignment>/` layout.

Usage: `python -m grading.grade A --zip FILE` (or `python -m grading.collect A FILE [--submitted DIR]`).

Two layouts of the class archive (made by the LMS or the instructor) are understood, as `nbgrader zip_collect`
does:

- **folders:** `[submitted/]<student>/[<assignment>/]<file>` (a zip of `submitted/`, or of one folder per
  student); a `timestamp.txt` is read only at nbgrader's own place, `<student>/<assignment>/timestamp.txt`;
- **file names:** a flat archive of LMS downloads, each name matched whole by
  `c.FileNameCollectorPlugin.named_regexp` of the nbgrader config (groups `student_id`, `file_id`, optional
  `timestamp`), or by default `<student>_[attempt_<timestamp>_]<notebook>.ipynb`.

**A student's own zip** (`<student>.zip`, `<student>_<anything>.zip`, `<student>_attempt_<time>_<anything>.zip`,
or any zip inside `<student>/`) is opened one level deep, and everything in it belongs to that student and
nobody else: folders inside it are ignored (only file names count; an LMS-style name such as `bob_x.ipynb`
counts as `x.ipynb` of the zip's owner), and a `timestamp.txt` inside it is refused. The submission time comes
only from the class archive: the LMS file name or nbgrader's layout, never from a file the student wrote.

**Contract with the grader.** `collect()` returns a `Collected` whose `problems: dict[str, str]` maps each
student whose files could not be collected to a readable reason (an encrypted, corrupt, oddly compressed,
badly named, duplicated or oversized archive or entry; an id that differs from another only by case). Nothing
of such a student is written by this run, and the grader must mark them `malformed` with that reason. The rest
of the class is collected. `UnsafeArchive` is raised only when the class archive as a whole cannot be read
(not a zip, too many entries, too many bytes in total); then nothing is written.

Extraction is safe: no entry is written outside the target, no symlink is followed or created, sizes are
counted while decompressing (never trusting what the archive claims), with limits per file, per student, per
class and on the compression ratio (zip bombs). Refused entries are listed, never silently dropped. This module
reads the archive and holds the limits; the names, the layout and the writing are `grading.archive_layout`'s.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import re
import sys
import zipfile
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from grading import intake
from grading.archive_layout import (
    DEFAULT_REGEXP,
    STUDENT_ID,
    Problem,
    class_parts,
    fold,
    is_date,
    is_later,
    is_special,
    place,
    short,
    student_parts,
    write_file,
    zip_owner,
)

ALLOWED_EXTRA = (".ipynb", ".py", ".csv", ".txt", ".json", ".png", ".jpg", ".md")
READABLE_METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}


@dataclasses.dataclass(frozen=True)
class Limits:
    """What one archive may hold; sizes are counted while decompressing."""

    max_entries: int = 20_000  # entries of the class archive
    max_file_bytes: int = 50 << 20
    max_total_bytes: int = 1 << 30  # the whole class, nested zips included
    max_ratio: float = 200.0  # uncompressed / compressed, per entry, above 1 MiB
    max_depth: int = 1  # nested zips opened
    max_student_entries: int = 2_000  # entries of one student's own zip
    max_student_bytes: int = 100 << 20


class UnsafeArchive(Exception):
    """The class archive as a whole cannot be read or breaks a class limit; nothing was written."""



@dataclasses.dataclass
class Collected:
    """What a collection did.

    Attributes:
        students: For each collected student, the files written.
        refused: (entry, why) for each entry left out; the student, if any, is still collected.
        problems: For each student whose files could not be collected, why. Nothing of theirs was written;
            the grader marks them `malformed` with this reason.
    """

    students: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    refused: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    problems: dict[str, str] = dataclasses.field(default_factory=dict)

    def messages(self) -> list[str]:
        lines = [f"collected {sum(len(v) for v in self.students.values())} file(s) for "
                 f"{len(self.students)} student(s)"]
        lines += [f"refused {name!r}: {why}" for name, why in self.refused]
        lines += [f"problem {student}: {why}" for student, why in sorted(self.problems.items())]
        return lines


@dataclasses.dataclass
class _Student:
    files: dict[str, tuple[str, bytes, str]] = dataclasses.field(default_factory=dict)  # key: (name, data, entry)
    timestamp: str | None = None
    problem: str | None = None
    entries: int = 0
    bytes: int = 0

    def add(self, name: str, data: bytes, entry: str) -> None:
        key = fold(name)
        if key in self.files:
            raise Problem(f"two files for {short(name)} ({short(self.files[key][2])} and "
                          f"{short(entry)}): names that repeat or differ only by case or Unicode "
                          f"normalisation are ambiguous; keep one")
        self.files[key] = (name, data, entry)

    def fail(self, entry: str, error: Exception) -> None:
        if self.problem is None:
            self.problem = f"{short(entry)}: {explain(error)}"[:390]


def explain(error: Exception) -> str:
    """A readable reason for an error met while reading an archive (never a traceback)."""
    text = str(error)[:200]
    if isinstance(error, Problem | ValueError) and not isinstance(error, UnicodeDecodeError):
        return text
    if isinstance(error, UnicodeDecodeError):
        return "a file name is not valid UTF-8 although the archive says so; zip the files again"
    if isinstance(error, RuntimeError) and "encrypted" in text:
        return "an entry is encrypted (password-protected); submit an archive without a password"
    if isinstance(error, NotImplementedError):
        return "an entry uses a compression method this grader cannot read; zip it again with standard compression"
    return f"not a valid zip ({type(error).__name__}: {text}); zip the files again"


def _budget_read(archive: zipfile.ZipFile, info: zipfile.ZipInfo, owner: _Student | None, total: list[int],
                 limits: Limits) -> bytes:
    """Decompress one entry, counting the real bytes against the limits."""
    if info.flag_bits & 0x1:
        raise Problem(explain(RuntimeError("encrypted")))
    if info.compress_type not in READABLE_METHODS:
        raise Problem(f"an entry uses compression method {info.compress_type}, which this grader cannot read; "
                      "zip it again with standard (deflate) compression")
    out = io.BytesIO()
    with archive.open(info) as handle:
        while chunk := handle.read(1 << 16):
            out.write(chunk)
            size = out.tell()
            if size > limits.max_file_bytes:
                raise ValueError(f"a file larger than {limits.max_file_bytes} bytes")
            if size > (1 << 20) and size > limits.max_ratio * max(info.compress_size, 1):
                raise ValueError(f"compression ratio above {limits.max_ratio:g} (a zip bomb?)")
            if owner is not None and owner.bytes + size > limits.max_student_bytes:
                raise ValueError(f"more than {limits.max_student_bytes} bytes for one student")
            if total[0] + size > limits.max_total_bytes:
                raise UnsafeArchive(f"more than {limits.max_total_bytes} bytes in total (raise Limits if expected)")
    total[0] += out.tell()
    if owner is not None:
        owner.bytes += out.tell()
    return out.getvalue()


def collect(zip_path: Path, assignment: str, submitted: Path, notebooks: Sequence[str] = (),
            config=None, limits: Limits = Limits()) -> Collected:
    """Extract the submissions of `assignment` from `zip_path` into `submitted/<student>/<assignment>/`.

    Args:
        zip_path: The class archive.
        assignment: The assignment id; a folder level named so is skipped in the folder layout.
        submitted: nbgrader's submitted folder (created if needed).
        notebooks: The assignment's notebook ids; other .ipynb files are refused.
        config: The nbgrader config, for `FileNameCollectorPlugin.named_regexp`.
        limits: Size and count limits.

    Returns:
        What was written, refused, and `problems`: the students to mark malformed, with the reason.

    Raises:
        UnsafeArchive: The class archive as a whole is unreadable or too large; nothing was written.
    """
    regexp = DEFAULT_REGEXP
    if config is not None:
        regexp = config.get("FileNameCollectorPlugin", {}).get("named_regexp") or regexp
    pattern = re.compile(regexp)
    wanted = {f"{name}.ipynb" for name in notebooks}
    wanted_keys = {intake.notebook_key(name) for name in notebooks}
    result = Collected()
    staged: dict[str, _Student] = {}
    total = [0]

    def renamed(name: str) -> bool:
        """A notebook the student may have renamed (`Derivatives.ipynb`, `derivatives (1).ipynb`, or any notebook of
        a one-notebook assignment): kept under its own name, for `intake.match_notebooks` to decide."""
        return len(wanted) == 1 or intake.notebook_key(name.removesuffix(".ipynb")) in wanted_keys

    def keep(entry: str, name: str) -> bool:
        """Whether a file of this name is collected; if not, the entry is listed as refused."""
        if name.endswith(".ipynb") and wanted and name not in wanted and not renamed(name):
            result.refused.append((entry, f"not a notebook of {assignment} ({', '.join(sorted(wanted))})"))
        elif not name.lower().endswith(ALLOWED_EXTRA):
            result.refused.append((entry, "file type not collected"))
        else:
            return True
        return False

    def timestamp(owner: _Student, entry: str, value: str) -> None:
        if not is_date(value):
            result.refused.append((entry, f"timestamp {short(value)} is not a date nbgrader can read"))
        elif owner.timestamp is None or is_later(value, owner.timestamp):
            owner.timestamp = value

    def student_zip(owner: _Student, data: bytes, label: str) -> None:
        with zipfile.ZipFile(io.BytesIO(data)) as inner:
            infos = inner.infolist()
            if len(infos) > limits.max_student_entries:
                raise Problem(f"{len(infos)} entries, more than {limits.max_student_entries}; submit only your files")
            for info in infos:
                entry = f"{label}/{info.orig_filename}"
                parts = student_parts(info.orig_filename)  # raises Problem on a bad name
                if info.is_dir() or any(p.startswith(".") or p == "__MACOSX" for p in parts):
                    continue
                if is_special(info):
                    raise Problem(f"{short(info.filename)} is a symlink or special file; submit regular files")
                name = parts[-1]
                if name.lower().endswith(".zip"):
                    raise Problem(f"an archive inside the archive ({short(name)}); submit one zip of your files")
                if name == "timestamp.txt":
                    result.refused.append((entry, "a timestamp.txt written by the student is not read: the "
                                                  "submission time comes from the LMS or nbgrader"))
                    continue
                match = pattern.fullmatch(name)
                if match and name not in wanted:
                    name = PurePosixPath(match.group("file_id")).name  # an LMS name: the file, not its claimed owner
                if keep(entry, name):
                    owner.add(name, _budget_read(inner, info, owner, total, limits), entry)

    try:
        archive = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, UnicodeDecodeError, OSError) as error:
        raise UnsafeArchive(f"{zip_path} is not a valid zip: {explain(error)}") from None
    with archive:
        infos = archive.infolist()
        if len(infos) > limits.max_entries:
            raise UnsafeArchive(f"more than {limits.max_entries} entries")
        for info in infos:
            label = info.orig_filename
            parts = class_parts(label)
            if parts is None:
                result.refused.append((label, "unsafe path"))
                continue
            if info.is_dir() or any(p.startswith(".") or p == "__MACOSX" for p in parts):
                continue  # .ipynb_checkpoints, macOS metadata
            if is_special(info):
                result.refused.append((label, "symlink or special file"))
                continue
            if parts[-1].lower().endswith(".zip"):
                placed = zip_owner(parts, assignment, pattern)
            else:
                placed = place(parts, assignment, pattern)
            if placed is None:
                result.refused.append((label, "matches neither <student>/<file>, <student>.zip nor the "
                                              "file-name pattern"))
                continue
            student, name, stamp = placed
            if not STUDENT_ID.fullmatch(student):
                result.refused.append((label, f"invalid student id {student!r}"))
                continue
            owner = staged.setdefault(student, _Student())
            if name == "timestamp.txt":
                if len(parts) >= 3 and parts[-2] == assignment and (len(parts) == 3 or parts[0] == "submitted"):
                    try:
                        timestamp(owner, label, _budget_read(archive, info, owner, total, limits)
                                  .decode("utf-8", "replace").strip())
                    except UnsafeArchive:
                        raise
                    except Exception as error:  # contain: an unreadable timestamp is left out, and listed
                        result.refused.append((label, explain(error)))
                else:
                    result.refused.append((label, f"timestamp.txt is read only at <student>/{assignment}/: the "
                                                  "submission time comes from the LMS or nbgrader"))
                continue
            if stamp:
                timestamp(owner, label, stamp)
            if name.lower().endswith(".zip") or keep(label, name):
                try:
                    data = _budget_read(archive, info, owner, total, limits)
                    if name.lower().endswith(".zip"):
                        student_zip(owner, data, label)
                    else:
                        owner.add(name, data, label)
                except UnsafeArchive:
                    raise
                except Exception as error:  # contain: one student's bad file is their problem only
                    if not isinstance(error, Problem):
                        result.refused.append((label, explain(error)))
                    owner.fail(label, error)
    _check_case_collisions(staged)
    _write_all(staged, assignment, submitted, result)
    return result

def _check_case_collisions(staged: dict[str, _Student]) -> None:
    by_key: dict[str, list[str]] = {}
    for student in staged:
        by_key.setdefault(fold(student), []).append(student)
    for same in by_key.values():
        if len(same) > 1:
            for student in same:
                staged[student].problem = staged[student].problem or (
                    f"student ids {', '.join(sorted(same))} differ only by case: they would share one folder on "
                    "a case-insensitive disk; check the class archive")


def _write_all(staged: dict[str, _Student], assignment: str, submitted: Path, result: Collected) -> None:
    submitted.mkdir(parents=True, exist_ok=True)
    for student, owner in staged.items():
        if owner.problem is None and owner.files:
            files = [(name, data) for name, data, _ in owner.files.values()]
            files += [("timestamp.txt", owner.timestamp.encode())] if owner.timestamp else []
            try:
                for name, data in files:
                    write_file(submitted, (student, assignment, name), data)
                    if name != "timestamp.txt":
                        result.students.setdefault(student, []).append(name)
            except (OSError, ValueError) as error:
                result.refused.append((f"{student}/{name}", str(error)))
                owner.problem = f"{short(name)} could not be written: {error}"[:390]
                result.students.pop(student, None)
        if owner.problem is not None:
            result.problems[student] = owner.problem


def main(argv: Sequence[str] | None = None) -> int:
    from grading.config import DEFAULT_CONFIG, course_directory, load_config

    parser = argparse.ArgumentParser(prog="python -m grading.collect", description=__doc__.splitlines()[0])
    parser.add_argument("assignment")
    parser.add_argument("zip", type=Path)
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    parser.add_argument("--submitted", type=Path, help="the target folder (default: the course's submitted/)")
    args = parser.parse_args(argv)
    config = load_config(args.config.resolve())
    target = args.submitted
    if target is None:
        coursedir = course_directory(config)
        target = Path(coursedir.format_path(coursedir.submitted_directory, ".", ".")).resolve()
    try:
        collected = collect(args.zip, args.assignment, target, config=config)
    except UnsafeArchive as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print("\n".join(collected.messages()))
    if collected.problems:
        print(f"{len(collected.problems)} student(s) could not be collected: grade them malformed, see above")
    return 0


if __name__ == "__main__":
    sys.exit(main())
