"""Process trees and the folders they leave, seen from the host: the children and descendants of a pid (from
/proc), killing a process group, and removing a folder a sandbox could write, whatever it made there.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess


def read_file(path: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError:
        return b""


def children(pid: int) -> list[int]:
    """The direct children of `pid` (all its threads' children), from /proc."""
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for tid in tasks:
        found += [int(p) for p in read_file(f"/proc/{pid}/task/{tid}/children").split()]
    return found


def descendants(pid: int) -> list[int]:
    """Every process below `pid`, parents before children."""
    out: list[int] = []
    queue = children(pid)
    while queue:
        child = queue.pop(0)
        if child not in out:
            out.append(child)
            queue += children(child)
    return out


def kill_tree(process: subprocess.Popen) -> None:
    with contextlib.suppress(OSError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(OSError):
        process.kill()

def remove_tree(path: str | os.PathLike) -> None:
    """Remove a folder a sandbox could write, whatever it made there. A tree nested past Python's recursion
    limit makes `shutil.rmtree` raise RecursionError (which `ignore_errors` does not cover), so `rm -rf`, which
    never follows links and has no depth limit, finishes the job. Never raises."""
    try:
        shutil.rmtree(path)
    except FileNotFoundError:
        return
    except (OSError, RecursionError):
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            subprocess.run(["rm", "-rf", "--one-file-system", "--", os.fspath(path)], check=False, timeout=600,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
