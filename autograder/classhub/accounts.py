"""The class's Unix accounts: created from the roster, marked by a Unix group, with passwords kept by root.

Students belong to the Unix group `nbgrader-<course>`, the instructor to `formgrade-<course>` (the names of
nbgrader's JupyterHub groups, which the hub gets too). The group is also how a later run knows an account is
the class's own: an existing account outside it (a system account, someone else's) is never touched, and the
roster is refused. Homes are private (0700). Passwords are made once, set with `chpasswd`, and kept in a
root-only file (`name password` lines); a later run keeps them.
"""

from __future__ import annotations

import grp
import os
import pwd
import secrets
import subprocess
from collections.abc import Sequence
from pathlib import Path

import psutil

from classhub.roster import Roster, RosterError

ALPHABET = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/l/I
PATH = "/usr/local/bin:/usr/bin:/bin"


def group_names(course_id: str) -> dict[str, str]:
    """The Unix (and JupyterHub) group of each role."""
    return {"student": f"nbgrader-{course_id}", "instructor": f"formgrade-{course_id}"}


def _groups_of(name: str) -> set[str]:
    user = pwd.getpwnam(name)
    return {g.gr_name for g in grp.getgrall() if name in g.gr_mem} | {grp.getgrgid(user.pw_gid).gr_name}


def check(roster: Roster, course_id: str) -> None:
    """Refuse (RosterError) a roster naming an account that exists but is not this class's, in that role."""
    groups = group_names(course_id)
    problems = []
    for role, names in (("instructor", [roster.instructor]), ("student", roster.students)):
        for name in names:
            try:
                pwd.getpwnam(name)
            except KeyError:
                continue
            if groups[role] not in _groups_of(name):
                problems.append(f"{name!r} is already an account on this machine and not a {role} of this class "
                                f"(not in the Unix group {groups[role]}); choose another name")
    if problems:
        raise RosterError("\n".join(problems))


def read_passwords(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    pairs = (line.split(" ", 1) for line in path.read_text(encoding="utf-8").splitlines() if " " in line)
    return {name: password for name, password in pairs}


def write_passwords(path: Path, passwords: dict[str, str]) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write("".join(f"{name} {password}\n" for name, password in passwords.items()))
    os.chmod(path, 0o600)


def ensure(roster: Roster, course_id: str, passwords_file: Path) -> dict[str, str]:
    """Create what is missing (groups, accounts, passwords); keep what exists. Returns every user's password."""
    check(roster, course_id)
    groups = group_names(course_id)
    for group in groups.values():
        try:
            grp.getgrnam(group)
        except KeyError:
            subprocess.run(["groupadd", group], check=True)
    passwords = read_passwords(passwords_file)
    for role, names in (("instructor", [roster.instructor]), ("student", roster.students)):
        for name in names:
            try:
                pwd.getpwnam(name)
            except KeyError:
                subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", "--user-group",
                                "--groups", groups[role], name], check=True)
                passwords.pop(name, None)  # a new account gets a new password
            os.chmod(pwd.getpwnam(name).pw_dir, 0o700)
            if name not in passwords:
                passwords[name] = "".join(secrets.choice(ALPHABET) for _ in range(14))
                subprocess.run(["chpasswd"], input=f"{name}:{passwords[name]}\n", text=True, check=True)
    write_passwords(passwords_file, passwords)
    return {name: passwords[name] for name in roster.users}


def remove(names: Sequence[str], course_id: str) -> None:
    """Delete these class accounts and their homes (for tests); then the class groups, if left empty."""
    groups = group_names(course_id)
    for name in names:
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        if not set(groups.values()) & _groups_of(name):
            raise RosterError(f"{name!r} is not a class account; not removing it")
        uid = pwd.getpwnam(name).pw_uid
        for process in psutil.process_iter(["uids"]):  # what is left of this account's own processes
            if process.info["uids"] and process.info["uids"].real == uid:
                try:
                    process.kill()
                except psutil.Error:
                    pass
        subprocess.run(["userdel", "--remove", name], check=False, capture_output=True)
    for group in groups.values():
        try:
            if not grp.getgrnam(group).gr_mem:
                subprocess.run(["groupdel", group], check=False)
        except KeyError:
            pass


def run_as(user: str, argv: Sequence[str], cwd: Path | None = None, env: dict[str, str] | None = None,
           **kwargs) -> subprocess.CompletedProcess:
    """Run `argv` as `user`, in a clean environment (their HOME, a plain PATH, plus `env`)."""
    home = pwd.getpwnam(user).pw_dir
    clean = {"HOME": home, "USER": user, "LOGNAME": user, "PATH": PATH, "LANG": "C.UTF-8", **(env or {})}
    command = ["runuser", "-u", user, "--", "env", "-i", *(f"{k}={v}" for k, v in clean.items()), *argv]
    return subprocess.run(command, cwd=cwd or home, **kwargs)
