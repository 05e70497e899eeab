"""Which isolation this machine offers: `Isolation`, and `isolation()`, which probes it once by running a tiny
sandboxed Python (bubblewrap as root with setpriv, else in a user namespace) and tries the pids and memory
cgroups. `grading.sandbox` re-exports both and refuses to run student code without isolation.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import subprocess
import sys
import uuid
from pathlib import Path

from grading.bwrap import BWRAP, PRLIMIT, SETPRIV, UID_BASE, SandboxPolicy, bwrap_args, limit_args


@dataclasses.dataclass(frozen=True)
class Isolation:
    """Which isolation mechanisms work on this machine."""

    ok: bool
    reason: str
    mode: str  # 'privileged' (root: bwrap + setpriv) | 'userns' (ordinary user) | 'none'
    pids_cgroup: str | None
    memory_cgroup: str | None

    def describe(self) -> str:
        if not self.ok:
            return f"no isolation: {self.reason}"
        user = ("a fresh unprivileged uid per sandbox (setpriv)" if self.mode == "privileged"
                else "the invoking unprivileged user, in a user namespace")
        processes = (("cgroup pids.max" if self.pids_cgroup else "RLIMIT_NPROC")
                     + " and a pid namespace torn down on exit")
        memory = "RLIMIT_AS" + (" and a memory cgroup" if self.memory_cgroup else "")
        return (f"bubblewrap ({self.mode}): new mount, pid, net, ipc and uts namespaces; runs as {user}; "
                f"processes: {processes}; memory: {memory}; time: wall clock and RLIMIT_CPU; files: RLIMIT_FSIZE")


# --------------------------------------------------------------------------------------------------------------
# Detection


def _is_root() -> bool:
    return os.geteuid() == 0


def _own_cgroup_v1(controller: str) -> Path | None:
    """The writable cgroup-v1 folder of this process for `controller`, or None."""
    base = Path("/sys/fs/cgroup") / controller
    if not (base / "cgroup.procs").exists():
        return None
    relative = "/"
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            if controller in controllers.split(","):
                relative = path
    folder = base / relative.lstrip("/")
    return folder if folder.is_dir() and os.access(folder, os.W_OK) else None


def _probe_cgroup(controller: str, limit_file: str) -> str | None:
    """Create and remove a child cgroup to prove `controller` can be used; return its parent folder."""
    if not _is_root():
        return None
    parent = _own_cgroup_v1(controller)
    if parent is None:
        return None
    probe = parent / f"calcml-probe-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    try:
        probe.mkdir()
        ok = (probe / limit_file).exists() and (probe / "cgroup.procs").exists()
        probe.rmdir()
    except OSError:
        return None
    return str(parent) if ok else None


def _probe(mode: str) -> tuple[bool, str]:
    argv = bwrap_args(mode, SandboxPolicy(), cwd=None, uid=UID_BASE) + limit_args(mode, SandboxPolicy(), UID_BASE) + [
        sys.executable, "-c", "import os, socket; socket.socket().close(); print(os.getuid())"]
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as error:
        return False, f"{argv[0]}: {error}"
    if result.returncode != 0:
        return False, (result.stderr or result.stdout).strip()[-400:] or f"exit status {result.returncode}"
    if mode == "privileged" and result.stdout.strip() != str(UID_BASE):
        return False, f"setpriv did not change the uid (got {result.stdout.strip()!r})"
    return True, ""


@functools.lru_cache(maxsize=1)
def isolation() -> Isolation:
    """Probe once which isolation works here (runs a tiny sandboxed Python)."""
    if sys.platform != "linux":
        return Isolation(False, f"bubblewrap sandboxes need Linux; this is {sys.platform}", "none", None, None)
    missing = [tool for tool in (BWRAP, PRLIMIT) if not os.access(tool, os.X_OK)]
    if missing:
        return Isolation(False, f"{' and '.join(missing)} not found", "none", None, None)
    reasons = []
    modes = ["privileged", "userns"] if _is_root() and os.access(SETPRIV, os.X_OK) else ["userns"]
    for mode in modes:
        ok, reason = _probe(mode)
        if ok:
            return Isolation(True, "", mode, _probe_cgroup("pids", "pids.max"),
                             _probe_cgroup("memory", "memory.limit_in_bytes"))
        reasons.append(f"{mode}: {reason}")
    return Isolation(False, "bubblewrap cannot create a sandbox here (" + "; ".join(reasons) + ")", "none", None, None)

