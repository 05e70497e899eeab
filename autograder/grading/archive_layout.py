"""The folder layout of a class archive: where each entry belongs and how it is written.

Names first: the safe path components of an entry of the class archive (`class_parts`) or of a student's own
zip (`student_parts`, which refuses a hostile name with `Problem`), and whose entry it is (`place`, `zip_owner`:
`[submitted/]<student>/[<assignment>/]<file>`, an LMS file name matched by the collector's pattern, or
`<student>.zip`). Then dates (`is_date`, `is_later`: what nbgrader can read) and writing (`write_file`: never
through a symlink, never outside the target). `grading.collect` reads the archive with these.
"""

from __future__ import annotations

import os
import re
import stat
import unicodedata
import zipfile
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

STUDENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
MAX_NAME_BYTES = 255  # one path component, as most file systems allow
MAX_PATH_BYTES = 1024
DEFAULT_REGEXP = (r"^(?P<student_id>[A-Za-z0-9][A-Za-z0-9.-]*)_(?:attempt_(?P<timestamp>[0-9][0-9:\- T]+)_)?"
                  r"(?P<file_id>[^/]+\.ipynb)$")
ZIP_OWNER = re.compile(r"(?P<student_id>[A-Za-z0-9][A-Za-z0-9.-]*)"
                       r"(?:_attempt_(?P<timestamp>[0-9][0-9:\- T]+)_.*|_.*)?\.zip", re.IGNORECASE)


class Problem(Exception):
    """One student's files cannot be collected; the message says why, in words the student can act on."""


def zip_owner(parts: tuple[str, ...], assignment: str, pattern: re.Pattern) -> tuple[str, str, str | None] | None:
    """Whose zip this is: the student folder it sits in, else its LMS name. The name part is `<zip>`."""
    folders = [p for p in parts[:-1] if p not in ("submitted", assignment)]
    if len(folders) == 1 and len(parts) <= 4:
        return folders[0], ".zip", None
    if folders:
        return None
    match = pattern.fullmatch(parts[-1]) or ZIP_OWNER.fullmatch(parts[-1])
    if match is None:
        return None
    return match.group("student_id"), ".zip", match.groupdict().get("timestamp")


def place(parts: tuple[str, ...], assignment: str, pattern: re.Pattern) -> tuple[str, str, str | None] | None:
    """(student, file name, LMS timestamp) of a class-archive entry, or None if no layout matches."""
    folders = [p for p in parts[:-1] if p not in ("submitted", assignment)]
    if len(folders) == 1 and len(parts) <= 4:
        return folders[0], parts[-1], None
    match = pattern.fullmatch(parts[-1])
    if match:
        groups = match.groupdict()
        return groups["student_id"], PurePosixPath(groups["file_id"]).name, groups.get("timestamp")
    return None


# --------------------------------------------------------------------------------------------------------------
# Names, dates and writing


def fold(name: str) -> str:
    """The key under which two names are the same file on some disk: Unicode NFC, then case-folded."""
    return unicodedata.normalize("NFC", name).casefold()


def short(text: str, width: int = 60) -> str:
    text = repr(text)
    return text if len(text) <= width else text[:width - 5] + "...'"


def _bad_characters(name: str) -> bool:
    return "\x00" in name or any(unicodedata.category(ch) in ("Cc", "Cf") for ch in name)


def class_parts(name: str) -> tuple[str, ...] | None:
    """The path components of a class-archive entry, or None if it could escape the target."""
    if _bad_characters(name) or name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        return None
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if any(part in ("..", "") for part in parts):
        return None
    return tuple(part for part in parts if part != ".")


def student_parts(name: str) -> tuple[str, ...]:
    """The path components of an entry of a student's own zip.

    Raises:
        Problem: The name is absolute, climbs with `..`, holds a backslash, NUL or control character, or is too
            long; such an archive is refused as a whole, since only a hostile or broken tool writes one.
    """
    why = None
    if _bad_characters(name):
        why = "holds NUL or control characters"
    elif "\\" in name:
        why = "holds a backslash"
    elif name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        why = "is absolute"
    elif ".." in PurePosixPath(name).parts:
        why = "climbs out with '..'"
    elif len(name.encode()) > MAX_PATH_BYTES or any(len(p.encode()) > MAX_NAME_BYTES for p in name.split("/")):
        why = f"is too long (over {MAX_NAME_BYTES} bytes a name or {MAX_PATH_BYTES} a path)"
    if why:
        raise Problem(f"an entry's name {why} ({short(name, 40)}); zip your files again with a standard tool")
    return tuple(part for part in PurePosixPath(name).parts if part != ".")


def is_special(info: zipfile.ZipInfo) -> bool:
    kind = stat.S_IFMT((info.external_attr >> 16) & 0xFFFF)
    return kind not in (0, stat.S_IFREG, stat.S_IFDIR)  # 0: no Unix mode recorded (Windows zips)


def is_date(value: str) -> bool:
    from nbgrader.utils import parse_utc

    try:
        return bool(value) and parse_utc(value) is not None
    except (ValueError, OverflowError):
        return False


def is_later(value: str, than: str) -> bool:
    from nbgrader.utils import parse_utc

    return parse_utc(value) > parse_utc(than)


def write_file(target: Path, parts: Sequence[str], data: bytes) -> Path:
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

