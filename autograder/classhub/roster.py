"""The class list: a text file of `instructor NAME` and `student NAME` lines, read and checked as a whole.

Blank lines and `#` comments are skipped. Every name becomes a Unix account, so it must be a portable user
name (lower case letters, digits, `_` and `-`, starting with a letter, at most 32 characters) and an nbgrader
student id. Any mistake (an unknown role, an invalid or duplicate name, no instructor or two) raises
`RosterError` naming every bad line, so nothing is created from a roster that is partly wrong.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

#: Debian's default NAME_REGEX, limited to 32 characters (useradd's limit), and no trailing `$`.
USER_NAME = re.compile(r"[a-z][a-z0-9_-]{0,31}")
ROLES = ("instructor", "student")


class RosterError(ValueError):
    """A roster that cannot be used; the message lists every problem, one per line."""


@dataclass(frozen=True)
class Roster:
    instructor: str
    students: tuple[str, ...]

    @property
    def users(self) -> tuple[str, ...]:
        return (self.instructor, *self.students)


def parse(text: str, source: str = "roster") -> Roster:
    """Read a roster; raise `RosterError` listing every problem if there is any."""
    problems: list[str] = []
    seen: dict[str, int] = {}
    by_role: dict[str, list[str]] = {role: [] for role in ROLES}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        where = f"{source}:{number}"
        if len(parts) != 2 or parts[0] not in ROLES:
            problems.append(f"{where}: expected 'instructor NAME' or 'student NAME', got {raw.strip()!r}")
            continue
        role, name = parts
        if not USER_NAME.fullmatch(name):
            problems.append(f"{where}: {name!r} is not a valid user name (lower case letters, digits, '_' and "
                            "'-', starting with a letter, at most 32 characters)")
            continue
        if name in seen:
            problems.append(f"{where}: {name!r} is listed twice (first on line {seen[name]})")
            continue
        seen[name] = number
        by_role[role].append(name)
    if len(by_role["instructor"]) != 1 and not problems:
        problems.append(f"{source}: needs exactly one 'instructor NAME' line, found {len(by_role['instructor'])}")
    if problems:
        raise RosterError("\n".join(problems))
    return Roster(by_role["instructor"][0], tuple(by_role["student"]))


def load(path: Path) -> Roster:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise RosterError(f"cannot read the roster {path}: {error.strerror}") from None
    return parse(text, str(path))
