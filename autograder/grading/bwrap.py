"""The bubblewrap command line of a sandbox and the policy it enforces.

`SandboxPolicy` says what a sandboxed process may see and its limits; `bwrap_args` builds the bwrap call (new
namespaces, a root holding only the system folders, a few /etc files, the Python installation and the policy's
binds), `limit_args` the setpriv (as root) and prlimit calls run inside it, `fresh_uid` the unprivileged uid of
one sandbox and `base_env` its whole environment. Nothing here runs a process: `grading.sandbox` does.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import importlib.util
import itertools
import os
import shutil
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

BWRAP = shutil.which("bwrap") or "/usr/bin/bwrap"
PRLIMIT = shutil.which("prlimit") or "/usr/bin/prlimit"
SETPRIV = shutil.which("setpriv") or "/usr/bin/setpriv"

GIB = 1 << 30
MIB = 1 << 20
# Files of /etc that Python, numpy and matplotlib need; nothing else of /etc is visible.
ETC_FILES = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "passwd", "group", "nsswitch.conf", "hosts", "localtime",
             "fonts", "mime.types", "alternatives", "ssl/certs", "ca-certificates.conf", "matplotlibrc")
# Top-level system folders visible read-only (or as the symlinks they are on a merged-/usr system).
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
# Unprivileged uids for sandboxes started by root: a fresh one per jail, so RLIMIT_NPROC is per jail.
UID_BASE = 200_000
PID_SLOTS = 1 << 22  # Linux's largest pid_max: every live process gets its own block of uids
UIDS_PER_PROCESS = 16  # jails one process holds at once are far fewer (a kernel, then its probe)

@dataclasses.dataclass(frozen=True)
class SandboxPolicy:
    """What a sandboxed process may see, and its limits.

    Attributes:
        ro_binds: Extra paths visible read-only, at the same path.
        rw_binds: Extra paths visible read-write, at the same path.
        memory_bytes: Address-space limit per process (RLIMIT_AS), and the memory cgroup limit of the sandbox.
        cpu_seconds: CPU time of each process (RLIMIT_CPU).
        wall_seconds: Wall time of the whole run (`run`) or of one notebook (the grader).
        max_processes: Processes and threads in the sandbox (cgroup pids.max, else RLIMIT_NPROC).
        max_output_bytes: Output kept from each stream (`run`) or from a whole notebook (the grader).
        max_file_bytes: Largest file the process may write (RLIMIT_FSIZE).
        max_open_files: RLIMIT_NOFILE.
        network: False gives an empty network namespace; True shares the host's (never for student code).
        env: Extra environment variables for the sandboxed process.
    """

    ro_binds: tuple[str, ...] = ()
    rw_binds: tuple[str, ...] = ()
    memory_bytes: int = 2 * GIB
    cpu_seconds: int = 900
    wall_seconds: float = 600.0
    max_processes: int = 48
    max_output_bytes: int = 2 * MIB
    max_file_bytes: int = 64 * MIB
    max_open_files: int = 512
    network: bool = False
    env: tuple[tuple[str, str], ...] = ()

    def replace(self, **changes: Any) -> SandboxPolicy:
        """A copy with some fields changed (`env` may be given as a dict)."""
        if isinstance(changes.get("env"), Mapping):
            changes["env"] = tuple(sorted(changes["env"].items()))
        return dataclasses.replace(self, **changes)


def system_binds() -> list[str]:
    args: list[str] = []
    for folder in SYSTEM_DIRS:
        if os.path.islink(folder):
            args += ["--symlink", os.readlink(folder), folder]
        elif os.path.isdir(folder):
            args += ["--ro-bind", folder, folder]
    for name in ETC_FILES:
        path = os.path.join("/etc", name)
        if os.path.exists(path):
            args += ["--ro-bind", path, path]
    return args


def parents_args(paths: Sequence[str], done: set[str]) -> list[str]:
    """`--dir` arguments making every parent folder of `paths` traversable (bwrap makes them 0700 by default)."""
    args: list[str] = []
    for path in paths:
        parts = Path(path).parts
        for i in range(2, len(parts)):
            parent = str(Path(*parts[:i]))
            if parent not in done and not any(parent == d or parent.startswith(d + "/") for d in SYSTEM_DIRS):
                done.add(parent)
                args += ["--perms", "0755", "--dir", parent]
    return args


@functools.lru_cache(maxsize=1)
def python_paths() -> tuple[str, ...]:
    """Folders the sandboxed Python needs read-only: its installation and the `calcml` package's folder."""
    paths = {os.path.realpath(sys.prefix), os.path.realpath(sys.base_prefix),
             os.path.dirname(os.path.realpath(sys.executable))}
    with contextlib.suppress(Exception):
        spec = importlib.util.find_spec("calcml")
        if spec and spec.origin:
            paths.add(str(Path(spec.origin).resolve().parents[1]))  # lib/, which holds calcml/
    paths.add(os.path.realpath(sys.prefix))
    kept = sorted(p for p in paths if not any(p == d or p.startswith(d + "/") for d in SYSTEM_DIRS))
    # Drop a path inside another kept one.
    return tuple(p for p in kept if not any(p != q and p.startswith(q + "/") for q in kept))


def bwrap_args(mode: str, policy: SandboxPolicy, cwd: str | None, uid: int,
                rw_extra: Sequence[str] = ()) -> list[str]:
    args = [BWRAP, "--die-with-parent", "--new-session", "--unshare-pid", "--unshare-ipc", "--unshare-uts",
            "--hostname", "sandbox"]
    if mode == "userns":
        args += ["--unshare-user", "--unshare-cgroup-try"]
    else:
        args += ["--unshare-cgroup-try"]
    if not policy.network:
        args.append("--unshare-net")
    args += system_binds()
    ro = list(python_paths()) + [os.path.realpath(p) for p in policy.ro_binds]
    rw = [os.path.realpath(p) for p in (*policy.rw_binds, *rw_extra)]
    if cwd:
        rw.append(os.path.realpath(cwd))
    done: set[str] = {"/tmp"}
    args += ["--dev", "/dev", "--proc", "/proc", "--perms", "1777", "--tmpfs", "/tmp"]
    args += parents_args([*ro, *rw], done)
    for path in ro:
        args += ["--ro-bind", path, path]
    for path in rw:
        args += ["--bind", path, path]
    if cwd:
        args += ["--chdir", os.path.realpath(cwd)]
    else:
        args += ["--chdir", "/tmp"]
    return args + ["--"]


def limit_args(mode: str, policy: SandboxPolicy, uid: int) -> list[str]:
    """setpriv (root only) and prlimit, run inside the sandbox right before the command."""
    args: list[str] = []
    if mode == "privileged":
        args += [SETPRIV, f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--inh-caps=-all",
                 "--bounding-set=-all", "--no-new-privs", "--"]
    cpu = max(1, int(policy.cpu_seconds))
    args += [PRLIMIT, f"--as={policy.memory_bytes}", f"--cpu={cpu}:{cpu + 5}", f"--nproc={policy.max_processes}",
             f"--fsize={policy.max_file_bytes}", f"--nofile={policy.max_open_files}", "--core=0", "--"]
    return args


_uid_counter = itertools.count()


def fresh_uid() -> int:
    """A uid no other live sandbox has: distinct per process (pid), and per jail within it (a counter); two
    concurrent sandboxes sharing a uid could signal each other and read each other's folders."""
    return UID_BASE + (os.getpid() % PID_SLOTS) * UIDS_PER_PROCESS + next(_uid_counter) % UIDS_PER_PROCESS


def base_env(home: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The whole environment of a sandboxed process: nothing leaks from the grader's own environment."""
    env = {
        "PATH": os.pathsep.join([os.path.dirname(sys.executable), "/usr/local/bin", "/usr/bin", "/bin"]),
        "HOME": home, "USER": "student", "LOGNAME": "student", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
        "TMPDIR": "/tmp", "MPLBACKEND": "Agg", "CALCML_STATIC": "1", "MPLCONFIGDIR": os.path.join(home, "mpl"),
        "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "NUMEXPR_NUM_THREADS": "1",
        "PYTHONDONTWRITEBYTECODE": "1", "PYTHONNOUSERSITE": "1", "PYDEVD_DISABLE_FILE_VALIDATION": "1",
        "JUPYTER_PLATFORM_DIRS": "1",
    }
    if extra:
        env.update(extra)
    return env

