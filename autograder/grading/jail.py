"""Jails: the private resources of one sandboxed process (a folder for its home and its kernel's sockets, a fresh
unprivileged uid, the pids and memory cgroups), and the wrapping of its command in them. `grading.sandbox.run`
and the sandboxed kernel manager each open one per process, given the isolation `grading.sandbox.require`
found.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import signal
import tempfile
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from grading.bwrap import SandboxPolicy, base_env, bwrap_args, fresh_uid, limit_args
from grading.isolation import Isolation
from grading.processes import remove_tree


@functools.lru_cache(maxsize=1)
def _font_cache() -> Path | None:
    """matplotlib's font list of this machine, so no sandbox rebuilds it (a second or more per kernel)."""
    cache = Path(os.environ.get("MPLCONFIGDIR") or Path.home() / ".cache" / "matplotlib")
    found = sorted(cache.glob("fontlist-*.json"))
    if found:
        return found[-1]
    try:  # no cache yet: let matplotlib build it (a second or two, once)
        import matplotlib
        from matplotlib import font_manager  # noqa: F401
    except Exception:  # pragma: no cover - matplotlib is a course dependency
        return None
    found = sorted(Path(matplotlib.get_cachedir()).glob("fontlist-*.json"))
    return found[-1] if found else None


class Jail:
    """The private resources of one sandboxed process: a folder (its home, its kernel's sockets), a fresh
    unprivileged uid, and cgroups, under the isolation `iso` (no bwrap, uid or cgroups when it is not ok: the
    `--no-sandbox` opt-out). `argv(cmd)` wraps a command; `close()` kills what is left and cleans up.

    The folder is bound read-write at its own path; `cwd` too. Use as a context manager.
    """

    def __init__(self, policy: SandboxPolicy, iso: Isolation, cwd: str | os.PathLike | None = None):
        self.policy = policy
        self.iso = iso
        self.cwd = os.path.realpath(cwd) if cwd else None
        self.uid = fresh_uid() if self.iso.mode == "privileged" else os.getuid()
        self.dir = Path(tempfile.mkdtemp(prefix="calcml-sbx-"))
        self.home = self.dir / "home"
        (self.home / "mpl").mkdir(parents=True)
        fonts = _font_cache()
        if fonts is not None:
            shutil.copy2(fonts, self.home / "mpl" / fonts.name)
        self.cgroups: list[Path] = []
        self.notes: list[str] = []
        if self.iso.ok:
            self._make_cgroups()
        if self.iso.mode == "privileged":
            for path in [self.dir, *self.dir.rglob("*")]:
                os.chown(path, self.uid, self.uid)
            if self.cwd:
                self._give(Path(self.cwd))

    def _give(self, folder: Path) -> None:
        """Let the sandbox's uid write `folder` (a private scratch copy)."""
        for path in [folder, *folder.rglob("*")]:
            with contextlib.suppress(OSError):
                os.chown(path, self.uid, self.uid, follow_symlinks=False)

    def _make_cgroups(self) -> None:
        name = f"calcml-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        specs = [(self.iso.pids_cgroup, {"pids.max": str(self.policy.max_processes + 8)}),
                 (self.iso.memory_cgroup, {"memory.limit_in_bytes": str(self.policy.memory_bytes),
                                           "memory.swappiness": "0"})]
        for parent, settings in specs:
            if not parent:
                continue
            folder = Path(parent) / name
            try:
                folder.mkdir()
                for key, value in settings.items():
                    with contextlib.suppress(OSError):
                        (folder / key).write_text(value)
                self.cgroups.append(folder)
            except OSError as error:
                self.notes.append(f"cgroup {folder} not created: {error}")

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        return base_env(str(self.home), {**dict(self.policy.env), **(extra or {})})

    def argv(self, cmd: Sequence[str]) -> list[str]:
        """`cmd` wrapped: join the cgroups, then bwrap, setpriv and prlimit."""
        if not self.iso.ok:
            return limit_args("none", self.policy, self.uid) + list(cmd)
        wrapped = (bwrap_args(self.iso.mode, self.policy, self.cwd, self.uid, rw_extra=[str(self.dir)])
                   + limit_args(self.iso.mode, self.policy, self.uid) + list(cmd))
        if self.cgroups:
            join = 'for g in "$@"; do case "$g" in --) break;; esac; echo $$ > "$g/cgroup.procs" || exit 126; done; ' \
                   'while [ "$1" != "--" ]; do shift; done; shift; exec "$@"'
            wrapped = ["/bin/sh", "-c", join, "sh", *map(str, self.cgroups), "--", *wrapped]
        return wrapped

    def pids(self) -> list[int]:
        """Processes still in the jail's cgroups."""
        found: set[int] = set()
        for folder in self.cgroups:
            with contextlib.suppress(OSError):
                found.update(int(p) for p in (folder / "cgroup.procs").read_text().split())
        return sorted(found)

    def oom_killed(self) -> bool:
        """Whether the memory cgroup killed a process of the jail."""
        for folder in self.cgroups:
            control = folder / "memory.oom_control"
            with contextlib.suppress(OSError, ValueError):
                for line in control.read_text().splitlines():
                    if line.startswith("oom_kill ") and int(line.split()[1]) > 0:
                        return True
        return False

    def hit_process_limit(self) -> bool:
        for folder in self.cgroups:
            with contextlib.suppress(OSError, ValueError):
                if (folder / "pids.events").exists():
                    if int((folder / "pids.events").read_text().split()[-1]) > 0:
                        return True
        return False

    def kill_all(self) -> None:
        """SIGKILL every process left in the jail's cgroups (normally none: the pid namespace is gone)."""
        for _ in range(50):
            left = self.pids()
            if not left:
                return
            for pid in left:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.02)

    def close(self) -> None:
        self.kill_all()
        for folder in self.cgroups:
            for _ in range(100):
                try:
                    folder.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.02)
            else:
                self.notes.append(f"cgroup {folder} could not be removed")
        self.cgroups = []
        remove_tree(self.dir)

    def __enter__(self) -> Jail:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

