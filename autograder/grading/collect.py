"""Collect submissions from a zip, safely, into nbgrader's `submitted/<student>/<assignment>/` layout.

Usage: `python -m grading.grade A --zip FILE` (or `python -m grading.collect A FILE`).

Two layouts are understood, as `nbgrader zip_collect` does:

- **folders:** `<student>/<assignment>/<notebook>.ipynb` or `<student>/<notebook>.ipynb` (a zip of
  `submitted/`, or of one folder per student), with an optional `timestamp.txt` beside the notebook;
- **file names:** a flat archive of LMS downloads, each name matched by `c.FileNameCollectorPlugin.named_regexp`
  of the nbgrader config (it must define the groups `student_id` and `file_id`, and may define `timestamp`),
  or by default `<student>_<notebook>.ipynb`, optionally with `_attempt_<timestamp>_` between them.

Nested zips (one per student, as LMSs produce) are opened too, one level deep. Extraction is safe:

- no entry is written outside the target (absolute paths, `..` and drive letters are refused);
- symlinks and other special files in the archive are refused, and no existing symlink is followed
  (`O_NOFOLLOW`, and every parent folder is checked);
- limits on the number of entries, the size of each file and of the whole (counted while decompressing,
  never trusting the sizes the archive claims), and on the compression ratio (zip bombs);
- student ids must look like ids (letters, digits, `._-`), and only files of the assignment's notebooks (or
  other files with an allowed extension) are kept.

Refused entries are listed, never silently dropped.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import os
import re
import stat
import sys
import zipfile
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
DEFAULT_REGEXP = (r"^(?P<student_id>[A-Za-z0-9][A-Za-z0-9.-]*)_(?:attempt_(?P<timestamp>[0-9][0-9:\- T]+)_)?"
                  r"(?P<file_id>[^/]+\.ipynb)$")
ALLOWED_EXTRA = (".ipynb", ".py", ".csv", ".txt", ".json", ".png", ".jpg", ".md")


@dataclasses.dataclass(frozen=True)
class Limits:
    max_entries: int = 20_000
    max_file_bytes: int = 50 << 20
    max_total_bytes: int = 1 << 30
    max_ratio: float = 200.0  # uncompressed / compressed, per entry, above 1 MiB
    max_depth: int = 1  # nested zips opened


class UnsafeArchive(Exception):
    """The archive breaks a limit as a whole; nothing was written."""


@dataclasses.dataclass
class Collected:
    students: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    refused: list[tuple[str, str]] = dataclasses.field(default_factory=list)  # (entry, why)

    def messages(self) -> list[str]:
        lines = [f"collected {sum(len(v) for v in self.students.values())} file(s) for "
                 f"{len(self.students)} student(s)"]
        lines += [f"refused {name!r}: {why}" for name, why in self.refused]
        return lines


def _safe_parts(name: str) -> tuple[str, ...] | None:
    """The path components of an archive entry name, or None if it could escape the target."""
    if "\x00" in name or name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        return None
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if any(part in ("..", "") for part in parts):
        return None
    return tuple(part for part in parts if part != ".")


def _is_special(info: zipfile.ZipInfo) -> bool:
    kind = stat.S_IFMT((info.external_attr >> 16) & 0xFFFF)
    return kind not in (0, stat.S_IFREG, stat.S_IFDIR)  # 0: no Unix mode recorded (Windows zips)


class _Budget:
    def __init__(self, limits: Limits):
        self.limits = limits
        self.entries = 0
        self.total = 0

    def read(self, archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
        """Decompress one entry, counting the real bytes against the limits."""
        self.entries += 1
        if self.entries > self.limits.max_entries:
            raise UnsafeArchive(f"more than {self.limits.max_entries} entries")
        out = io.BytesIO()
        with archive.open(info) as handle:
            while chunk := handle.read(1 << 16):
                out.write(chunk)
                size = out.tell()
                if size > self.limits.max_file_bytes:
                    raise ValueError(f"larger than {self.limits.max_file_bytes} bytes")
                if size > (1 << 20) and size > self.limits.max_ratio * max(info.compress_size, 1):
                    raise ValueError(f"compression ratio above {self.limits.max_ratio:g} (a zip bomb?)")
                if self.total + size > self.limits.max_total_bytes:
                    raise UnsafeArchive(f"more than {self.limits.max_total_bytes} bytes in total")
        self.total += out.tell()
        return out.getvalue()


def _write(target: Path, parts: Sequence[str], data: bytes) -> Path:
    """Write `data` at target/parts without following any symlink; refuse to leave `target`."""
    root = target.resolve()
    folder = root
    for part in parts[:-1]:
        folder = folder / part
        if folder.is_symlink():
            raise ValueError(f"{folder} is a symlink")
        folder.mkdir(exist_ok=True)
    if os.path.commonpath([root, folder.resolve()]) != str(root):
        raise ValueError("outside the target folder")
    path = folder / parts[-1]
    if path.is_symlink():
        path.unlink()  # an old symlink is replaced, never written through
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    return path


def collect(zip_path: Path, assignment: str, submitted: Path, notebooks: Sequence[str] = (),
            config=None, limits: Limits = Limits()) -> Collected:
    """Extract the submissions of `assignment` from `zip_path` into `submitted/<student>/<assignment>/`.

    Args:
        zip_path: The archive.
        assignment: The assignment id; a folder level named so is skipped in the folder layout.
        submitted: nbgrader's submitted folder (created if needed).
        notebooks: The assignment's notebook ids; other .ipynb files are refused.
        config: The nbgrader config, for `FileNameCollectorPlugin.named_regexp`.
        limits: Size and count limits.
    """
    regexp = DEFAULT_REGEXP
    if config is not None:
        regexp = config.get("FileNameCollectorPlugin", {}).get("named_regexp") or regexp
    pattern = re.compile(regexp)
    wanted = {f"{name}.ipynb" for name in notebooks}
    result = Collected()
    budget = _Budget(limits)
    staged: list[tuple[str, str, bytes, str | None]] = []  # (student, file, data, timestamp)

    def visit(archive: zipfile.ZipFile, prefix: str, depth: int) -> None:
        for info in archive.infolist():
            label = prefix + info.filename
            if info.is_dir():
                continue
            parts = _safe_parts(info.filename)
            if parts is None:
                result.refused.append((label, "unsafe path"))
                continue
            if _is_special(info):
                result.refused.append((label, "symlink or special file"))
                continue
            if any(part.startswith(".") or part == "__MACOSX" for part in parts):
                continue  # .ipynb_checkpoints, macOS metadata
            try:
                data = budget.read(archive, info)
            except ValueError as error:
                result.refused.append((label, str(error)))
                continue
            if parts[-1].lower().endswith(".zip"):
                if depth >= limits.max_depth:
                    result.refused.append((label, "nested archive too deep"))
                    continue
                try:
                    with zipfile.ZipFile(io.BytesIO(data)) as inner:
                        visit(inner, label + "/", depth + 1)
                except zipfile.BadZipFile:
                    result.refused.append((label, "not a valid zip"))
                continue
            placed = _place(parts, prefix, depth)
            if placed is None:
                result.refused.append((label, "matches neither <student>/<notebook> nor the file-name pattern"))
                continue
            student, name, timestamp = placed
            if not STUDENT_ID.match(student):
                result.refused.append((label, f"invalid student id {student!r}"))
                continue
            if name == "timestamp.txt":
                staged.append((student, name, data, None))
                continue
            if name.endswith(".ipynb") and wanted and name not in wanted:
                result.refused.append((label, f"not a notebook of {assignment} ({', '.join(sorted(wanted))})"))
                continue
            if not name.lower().endswith(ALLOWED_EXTRA):
                result.refused.append((label, "file type not collected"))
                continue
            staged.append((student, name, data, timestamp))

    def _place(parts: tuple[str, ...], prefix: str, depth: int) -> tuple[str, str, str | None] | None:
        # Folder layouts: <student>/<assignment>/<file>, <student>/<file>, and with a leading submitted/.
        folders = [p for p in parts[:-1] if p not in ("submitted", assignment)]
        if len(folders) == 1 and len(parts) <= 4:
            return folders[0], parts[-1], None
        if depth > 0 and not folders and prefix:
            # A file at the top of a student's own zip: the zip's name says who, e.g. alice.zip.
            stem = PurePosixPath(prefix.rstrip("/")).stem
            match = pattern.match(PurePosixPath(prefix.rstrip("/")).name)
            student = match.group("student_id") if match else stem.split("_")[0]
            return student, parts[-1], None
        match = pattern.match(parts[-1])
        if match:
            groups = match.groupdict()
            file_id = PurePosixPath(groups["file_id"]).name
            return groups["student_id"], file_id, groups.get("timestamp")
        return None

    try:
        with zipfile.ZipFile(zip_path) as archive:
            visit(archive, "", 0)
    except zipfile.BadZipFile as error:
        raise UnsafeArchive(f"{zip_path} is not a valid zip: {error}") from None
    submitted.mkdir(parents=True, exist_ok=True)
    for student, name, data, timestamp in staged:
        folder = Path(student) / assignment
        try:
            _write(submitted, (*folder.parts, name), data)
            if timestamp:
                _write(submitted, (*folder.parts, "timestamp.txt"), timestamp.encode())
        except (OSError, ValueError) as error:
            result.refused.append((f"{student}/{name}", str(error)))
            continue
        result.students.setdefault(student, []).append(name)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    from grading.grade import DEFAULT_CONFIG, course_directory, load_config

    parser = argparse.ArgumentParser(prog="python -m grading.collect", description=__doc__.splitlines()[0])
    parser.add_argument("assignment")
    parser.add_argument("zip", type=Path)
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    args = parser.parse_args(argv)
    config = load_config(args.config.resolve())
    coursedir = course_directory(config)
    target = Path(coursedir.format_path(coursedir.submitted_directory, ".", ".")).resolve()
    try:
        collected = collect(args.zip, args.assignment, target, config=config)
    except UnsafeArchive as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print("\n".join(collected.messages()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
