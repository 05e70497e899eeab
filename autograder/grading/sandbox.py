"""Run untrusted student code in a real sandbox: bubblewrap namespaces, an unprivileged uid, rlimits, cgroups.

Stable API (the integrity checks of `grading.integrity` and the grader both use it):

- `SandboxPolicy`: what the sandbox may see (read-only and read-write binds) and its limits (memory, CPU
  seconds, wall seconds, processes, output bytes, file bytes, open files; network off).
- `available() -> (ok, reason)`: whether real isolation works on this machine; `isolation()` says which
  mechanisms are active (for reports); `require(trusted)` raises `SandboxUnavailable` with a message saying
  why and how to install bubblewrap, unless `trusted=True` (the `--no-sandbox` opt-out for trusted local use).
- `command(argv, policy, cwd, trusted=False) -> list[str]`: `argv` wrapped in bwrap + setpriv + prlimit,
  without cgroups (use `Jail` or `run` for those).
- `run(argv, policy, cwd=None, input=None, env=None, trusted=False) -> Completed`: run one command to the
  end and report `status` ('ok' | 'error' | 'timeout' | 'memory' | 'output' | 'crashed'), `returncode`,
  `stdout`, `stderr` (text, each cut at `policy.max_output_bytes`), `wall` seconds and `notes`.
- `Jail`: the per-process resources behind `run` and the kernel manager (a private home folder, the
  cgroups, the unprivileged uid); a context manager.
- `SandboxedKernelManager`: a jupyter_client `AsyncKernelManager` whose kernel runs in a `Jail`, talking
  ZMQ over unix sockets (`transport = "ipc"`) in the jail's folder, since the sandbox has no network.
  `SandboxedKernelManager.configured(policy, trusted)` returns a subclass bound to a policy, for
  `NotebookClient.kernel_manager_class` (nbgrader's `Execute` sets that argument itself, so the grader passes
  it explicitly rather than through `c.Execute.kernel_manager_class`). `kill_strays()` kills what a cell left
  running; `diagnosis()` / `last_diagnosis` say whether the memory cgroup killed the kernel. Its clients
  (`SandboxedKernelClient`) refuse single messages above `MAX_MESSAGE_BYTES`.
- `sweep_stale_cgroups()`: remove the cgroups of jails whose process died without closing them.

How each limit is enforced, best mechanism first (`isolation()` reports which are active):

- **Filesystem:** bwrap mounts a new root holding only /usr (and the /bin, /lib... links), a few /etc files,
  the Python installation (`sys.prefix`, `sys.base_prefix`), the `calcml` package's folder (lib/), read
  only, plus the policy's binds and `cwd`. `source/`, the gradebook, `autograder/` and other students'
  folders are simply not there. /tmp is a private tmpfs.
- **Network:** a new, empty network namespace (no interface but a down loopback): any connect fails.
- **User:** as root, bwrap runs without a user namespace and `setpriv` drops to a real unprivileged uid
  (a fresh one per jail, so per-uid limits are per jail) with no capabilities and `no_new_privs`; as an
  ordinary user, bwrap uses a user namespace and the code runs as that (unprivileged) user.
- **Processes:** a cgroup `pids.max` when the pids controller is writable (root); else `RLIMIT_NPROC`, which
  binds only a non-root uid. Either way the sandbox has its own pid namespace whose init is bwrap, started
  with `--die-with-parent`: killing the sandbox (on timeout or at the end) kills every process in it, so a
  fork bomb never outlives its notebook.
- **Memory:** `RLIMIT_AS` per process (a big allocation raises `MemoryError`), and a memory cgroup for the
  whole sandbox when writable (the kernel is OOM-killed: status 'memory').
- **Time:** wall seconds (the caller kills the sandbox) and `RLIMIT_CPU` (SIGXCPU, then SIGKILL).
- **Output:** `run` keeps at most `max_output_bytes` of each stream and kills a process that writes more
  (status 'output'); for kernels the grader's Execute preprocessor counts the output bytes. `RLIMIT_FSIZE`
  caps the size of any file written.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import importlib.util
import itertools
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

BWRAP = shutil.which("bwrap") or "/usr/bin/bwrap"
PRLIMIT = shutil.which("prlimit") or "/usr/bin/prlimit"
SETPRIV = shutil.which("setpriv") or "/usr/bin/setpriv"
INSTALL_HINT = ("Install bubblewrap (Debian/Ubuntu: `sudo apt-get install bubblewrap`; Fedora: `sudo dnf install "
                "bubblewrap`) and make sure user namespaces are enabled (`sysctl kernel.unprivileged_userns_clone=1` "
                "on older Debian kernels), or pass --no-sandbox to grade without isolation on a machine you trust "
                "with code you trust.")

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


class SandboxUnavailable(RuntimeError):
    """Real isolation is not possible here and the caller did not opt out with `trusted=True`."""


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


@dataclasses.dataclass
class Completed:
    """The end of a sandboxed run.

    status: 'ok' (exit 0), 'error' (a non-zero exit), 'timeout' (wall or CPU limit), 'memory' (killed by the
    memory cgroup), 'output' (wrote more than max_output_bytes) or 'crashed' (killed by another signal).
    """

    status: str
    returncode: int | None
    stdout: str
    stderr: str
    wall: float
    notes: list[str] = dataclasses.field(default_factory=list)


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


def _system_binds() -> list[str]:
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


def _parents_args(paths: Sequence[str], done: set[str]) -> list[str]:
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


def _probe(mode: str) -> tuple[bool, str]:
    argv = _bwrap_args(mode, SandboxPolicy(), cwd=None, uid=UID_BASE) + _inner(mode, SandboxPolicy(), UID_BASE) + [
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


def available() -> tuple[bool, str]:
    """(True, description) when real isolation works here, else (False, why not)."""
    iso = isolation()
    return (True, iso.describe()) if iso.ok else (False, iso.reason)


def require(trusted: bool = False) -> Isolation:
    """Return the isolation in force; raise `SandboxUnavailable` if there is none and `trusted` is False."""
    iso = isolation()
    if not iso.ok and not trusted:
        raise SandboxUnavailable(f"Refusing to run student code without a sandbox: {iso.reason}.\n{INSTALL_HINT}")
    return iso


# --------------------------------------------------------------------------------------------------------------
# Commands


def _bwrap_args(mode: str, policy: SandboxPolicy, cwd: str | None, uid: int,
                rw_extra: Sequence[str] = ()) -> list[str]:
    args = [BWRAP, "--die-with-parent", "--new-session", "--unshare-pid", "--unshare-ipc", "--unshare-uts",
            "--hostname", "sandbox"]
    if mode == "userns":
        args += ["--unshare-user", "--unshare-cgroup-try"]
    else:
        args += ["--unshare-cgroup-try"]
    if not policy.network:
        args.append("--unshare-net")
    args += _system_binds()
    ro = list(python_paths()) + [os.path.realpath(p) for p in policy.ro_binds]
    rw = [os.path.realpath(p) for p in (*policy.rw_binds, *rw_extra)]
    if cwd:
        rw.append(os.path.realpath(cwd))
    done: set[str] = {"/tmp"}
    args += ["--dev", "/dev", "--proc", "/proc", "--perms", "1777", "--tmpfs", "/tmp"]
    args += _parents_args([*ro, *rw], done)
    for path in ro:
        args += ["--ro-bind", path, path]
    for path in rw:
        args += ["--bind", path, path]
    if cwd:
        args += ["--chdir", os.path.realpath(cwd)]
    else:
        args += ["--chdir", "/tmp"]
    return args + ["--"]


def _inner(mode: str, policy: SandboxPolicy, uid: int) -> list[str]:
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


def _fresh_uid() -> int:
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


def command(argv: Sequence[str], policy: SandboxPolicy, cwd: str | os.PathLike | None = None,
            trusted: bool = False) -> list[str]:
    """`argv` wrapped in bwrap, setpriv (as root) and prlimit, without cgroups or a private home.

    With `trusted=True` and no isolation available, only prlimit wraps it (no isolation at all).
    """
    iso = require(trusted)
    uid = _fresh_uid()
    if not iso.ok:
        return _inner("none", policy, uid) + list(argv)
    return _bwrap_args(iso.mode, policy, str(cwd) if cwd else None, uid) + _inner(iso.mode, policy, uid) + list(argv)


# --------------------------------------------------------------------------------------------------------------
# Jails: a sandbox's private resources


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
    unprivileged uid, and cgroups. `argv(cmd)` wraps a command; `close()` kills what is left and cleans up.

    The folder is bound read-write at its own path; `cwd` too. Use as a context manager.
    """

    def __init__(self, policy: SandboxPolicy, cwd: str | os.PathLike | None = None, trusted: bool = False):
        self.policy = policy
        self.iso = require(trusted)
        self.cwd = os.path.realpath(cwd) if cwd else None
        self.uid = _fresh_uid() if self.iso.mode == "privileged" else os.getuid()
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
            return _inner("none", self.policy, self.uid) + list(cmd)
        wrapped = (_bwrap_args(self.iso.mode, self.policy, self.cwd, self.uid, rw_extra=[str(self.dir)])
                   + _inner(self.iso.mode, self.policy, self.uid) + list(cmd))
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


def sweep_stale_cgroups() -> int:
    """Remove the cgroups of jails whose owning process died without closing them (a killed grader worker);
    kill anything still inside them first. Returns how many were removed."""
    import re

    iso = isolation()
    removed = 0
    for parent in (iso.pids_cgroup, iso.memory_cgroup):
        if not parent:
            continue
        for folder in Path(parent).glob("calcml-*"):
            match = re.match(r"calcml-(\d+)-[0-9a-f]+$", folder.name)
            if not match or Path(f"/proc/{match.group(1)}").exists():
                continue
            with contextlib.suppress(OSError, ValueError):
                for pid in (folder / "cgroup.procs").read_text().split():
                    os.kill(int(pid), signal.SIGKILL)
            for _ in range(50):
                try:
                    folder.rmdir()
                    removed += 1
                    break
                except OSError:
                    time.sleep(0.02)
    return removed


# --------------------------------------------------------------------------------------------------------------
# Process trees


def _read(path: str) -> bytes:
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
        found += [int(p) for p in _read(f"/proc/{pid}/task/{tid}/children").split()]
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


# --------------------------------------------------------------------------------------------------------------
# run()


def _kill_tree(process: subprocess.Popen) -> None:
    with contextlib.suppress(OSError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(OSError):
        process.kill()


def run(argv: Sequence[str], policy: SandboxPolicy, cwd: str | os.PathLike | None = None,
        input: str | bytes | None = None, env: Mapping[str, str] | None = None,  # noqa: A002
        trusted: bool = False) -> Completed:
    """Run `argv` in a fresh sandbox until it exits or breaks a limit, and say how it ended.

    Args:
        argv: The command; `sys.executable` works (the Python installation is visible read-only).
        policy: Binds and limits.
        cwd: The working folder, bound read-write (give a private scratch folder).
        input: Sent to stdin, which is then closed.
        env: Extra environment variables (the rest of the environment is `base_env`, not the caller's).
        trusted: Allow running without isolation when none is available (the `--no-sandbox` opt-out).
    """
    start = time.monotonic()
    data = input.encode() if isinstance(input, str) else input
    with Jail(policy, cwd, trusted) as jail:
        process = subprocess.Popen(jail.argv(argv), cwd=jail.cwd or str(jail.dir), env=jail.env(env),
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   start_new_session=True)
        buffers: dict[str, bytearray] = {"stdout": bytearray(), "stderr": bytearray()}
        overflow = threading.Event()

        def pump(name: str, stream: Any) -> None:
            while chunk := stream.read1(65536) if hasattr(stream, "read1") else stream.read(65536):
                room = policy.max_output_bytes - len(buffers[name])
                if room > 0:
                    buffers[name] += chunk[:room]
                if len(chunk) > room:
                    overflow.set()
                    _kill_tree(process)
                    break
            stream.close()

        threads = [threading.Thread(target=pump, args=(name, getattr(process, name)), daemon=True)
                   for name in buffers]
        for thread in threads:
            thread.start()
        if data:
            with contextlib.suppress(OSError):
                process.stdin.write(data)
        with contextlib.suppress(OSError):
            process.stdin.close()
        timed_out = False
        try:
            process.wait(timeout=policy.wall_seconds)
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_tree(process)
            process.wait()
        for thread in threads:
            thread.join(timeout=5)
        code = process.returncode
        notes = list(jail.notes)
        oom = jail.oom_killed()
        if jail.hit_process_limit():
            notes.append(f"the process limit ({policy.max_processes}) was reached")
        signum = -code if code is not None and code < 0 else (code - 128 if code and code > 128 else 0)
        stderr = buffers["stderr"].decode("utf-8", "replace")
        if timed_out:
            status = "timeout"
            notes.append(f"killed after the wall-time limit of {policy.wall_seconds:g} s")
        elif overflow.is_set():
            status = "output"
            notes.append(f"killed for writing more than {policy.max_output_bytes} bytes")
        elif oom or (code != 0 and stderr.rstrip().endswith("MemoryError")):
            status = "memory"
            notes.append(f"ran out of its memory limit ({policy.memory_bytes} bytes)")
        elif signum in (signal.SIGXCPU, signal.SIGKILL) and code != 0 and _cpu_exhausted(signum, start, policy):
            status = "timeout"
            notes.append(f"killed after the CPU-time limit of {policy.cpu_seconds} s")
        elif code == 0:
            status = "ok"
        elif signum:
            status = "crashed"
            name = signal.Signals(signum).name if signum in signal.valid_signals() else signum
            notes.append(f"killed by signal {name}")
        else:
            status = "error"
        return Completed(status, code, buffers["stdout"].decode("utf-8", "replace"), stderr,
                         time.monotonic() - start, notes)


def _cpu_exhausted(signum: int, start: float, policy: SandboxPolicy) -> bool:
    # SIGXCPU is only sent for RLIMIT_CPU; a SIGKILL counts when the hard CPU limit can have been reached.
    return signum == signal.SIGXCPU or time.monotonic() - start >= policy.cpu_seconds


# --------------------------------------------------------------------------------------------------------------
# The kernel manager

from jupyter_client.asynchronous import AsyncKernelClient  # noqa: E402
from jupyter_client.manager import AsyncKernelManager  # noqa: E402
from traitlets import Bool, DottedObjectName, Instance, default  # noqa: E402

MAX_MESSAGE_BYTES = 64 * MIB  # ipykernel sends what a cell prints in 0.2 s as one message: tens of MiB in a loop


class SandboxedKernelClient(AsyncKernelClient):
    """A kernel client whose sockets refuse any single message larger than `MAX_MESSAGE_BYTES`
    (ZMQ_MAXMSGSIZE), so one gigantic output cannot exhaust the grader's memory: the connection drops, the
    kernel stops answering and the notebook ends as a timeout. Ordinary outputs are counted and cut by the
    grader (`SandboxPolicy.max_output_bytes`)."""

    @default("context")
    def _context_default(self):
        import zmq
        import zmq.asyncio

        self._created_context = True
        context = zmq.asyncio.Context()
        context.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)  # a default for every socket it makes
        return context


class SandboxedKernelManager(AsyncKernelManager):
    """An ipykernel in a `Jail`: ZMQ over unix sockets in the jail's folder, the kernel wrapped by `Jail.argv`.

    Its environment is `base_env` (nothing from the grader's), its stdout and stderr go to a log in the jail,
    and interrupts are sent as messages (a signal would reach bwrap, not the kernel).
    """

    policy = Instance(SandboxPolicy, allow_none=True, help="limits and binds; None for SandboxPolicy()")
    trusted = Bool(False, help="run without isolation when none is available (--no-sandbox)").tag(config=True)

    client_class = DottedObjectName("grading.sandbox.SandboxedKernelClient")

    @default("client_factory")
    def _default_client_factory(self) -> type:
        return SandboxedKernelClient

    @default("transport")
    def _default_transport(self) -> str:
        return "ipc"

    @classmethod
    def configured(cls, policy: SandboxPolicy, trusted: bool = False) -> type[SandboxedKernelManager]:
        """A subclass whose instances use `policy` (for `NotebookClient.kernel_manager_class`)."""
        return type("BoundSandboxedKernelManager", (cls,), {"_bound_policy": policy, "_bound_trusted": trusted})

    _bound_policy: SandboxPolicy | None = None
    _bound_trusted: bool = False
    jail: Jail | None = None

    def _policy(self) -> SandboxPolicy:
        return self.policy or self._bound_policy or SandboxPolicy()

    async def _async_pre_start_kernel(self, **kw: Any):
        if self.jail is None:
            self.jail = Jail(self._policy(), kw.get("cwd"), self.trusted or self._bound_trusted)
        self.transport = "ipc"
        self.connection_file = str(self.jail.dir / "kernel.json")
        self.ip = str(self.jail.dir / "ipc")
        spec = self.kernel_spec
        if spec is not None:
            # parent_handle=1 turns off ipykernel's parent poller, which takes the sandbox's init (pid 1) for a
            # dead parent; bwrap's --die-with-parent does its job.
            spec.argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}",
                         "--IPKernelApp.parent_handle=1"]
            spec.interrupt_mode = "message"
            spec.env = {}
        kw["env"] = self.jail.env()
        # Opened read-write: the log is read back through this descriptor, never by its path, which the sandbox
        # could have replaced with a link to a file the grader may read and the student may not.
        self._log_handle = open(self.jail.dir / "kernel.log", "w+b")  # noqa: SIM115 -- closed in cleanup
        kw["stdout"] = kw["stderr"] = self._log_handle
        kw["stdin"] = subprocess.DEVNULL
        return await super()._async_pre_start_kernel(**kw)

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        cmd = super().format_kernel_cmd(extra_arguments)
        assert self.jail is not None
        return self.jail.argv(cmd)

    def write_connection_file(self, **kwargs: Any) -> None:
        super().write_connection_file(**kwargs)
        if self.jail is not None and self.jail.iso.mode == "privileged":
            with contextlib.suppress(OSError):
                os.chown(self.connection_file, self.jail.uid, self.jail.uid)

    def kernel_pid(self) -> int | None:
        """The host pid of the kernel process (inside the sandbox's process tree), found once."""
        if getattr(self, "_kernel_pid", None):
            return self._kernel_pid
        process = getattr(self.provisioner, "process", None)
        if process is None:
            return None
        for pid in descendants(process.pid):
            argv = _read(f"/proc/{pid}/cmdline").split(b"\0")
            if argv[1:3] == [b"-m", b"ipykernel_launcher"]:  # the kernel itself, not a wrapper naming it
                self._kernel_pid = pid
                return pid
        return None

    def kill_strays(self) -> int:
        """Kill every process the kernel started that is still alive (forks, subprocesses); return how many.

        The grader calls this after each cell: a cell's processes never outlive it, so a fork bomb or a
        forgotten background process cannot starve the cells after it of processes, threads or CPU.
        """
        kernel = self.kernel_pid()
        if kernel is None:
            return 0
        strays = descendants(kernel)
        for pid in strays:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        return len(strays)

    def kernel_log(self, limit: int = 4000) -> str:
        """The tail of the kernel process's own stdout and stderr (a crash message, a segfault)."""
        handle = getattr(self, "_log_handle", None)
        if handle is None:
            return getattr(self, "_last_log", "")
        with contextlib.suppress(OSError, ValueError):
            size = os.fstat(handle.fileno()).st_size
            return os.pread(handle.fileno(), limit, max(0, size - limit)).decode("utf-8", "replace")
        return ""

    def diagnosis(self) -> dict[str, Any]:
        """What the jail saw: OOM kill, process limit reached, the kernel's log tail."""
        jail = self.jail
        return {"oom_killed": bool(jail and jail.oom_killed()),
                "process_limit": bool(jail and jail.hit_process_limit()),
                "log": self.kernel_log()}

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        await super()._async_cleanup_resources(restart=restart)
        self._close_jail(restart)

    cleanup_resources = _async_cleanup_resources

    def _close_jail(self, restart: bool) -> None:
        self._last_log = self.kernel_log()
        handle = getattr(self, "_log_handle", None)
        if handle is not None:
            handle.close()
            self._log_handle = None
        if not restart and self.jail is not None:
            self.last_diagnosis = {"oom_killed": self.jail.oom_killed(),
                                   "process_limit": self.jail.hit_process_limit(), "log": self.kernel_log()}
            self.jail.close()
            self.jail = None
