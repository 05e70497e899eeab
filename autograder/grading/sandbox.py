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
- `grading.kernel_manager.SandboxedKernelManager`: a jupyter_client `AsyncKernelManager` whose kernel runs in
  a `Jail`, talking ZMQ over unix sockets (`transport = "ipc"`) in the jail's folder, since the sandbox has no
  network.
  `SandboxedKernelManager.configured(policy, trusted)` returns a subclass bound to a policy, for
  `NotebookClient.kernel_manager_class` (nbgrader's `Execute` sets that argument itself, so the grader passes
  it explicitly rather than through `c.Execute.kernel_manager_class`). `kill_strays()` kills what a cell left
  running; `diagnosis()` / `last_diagnosis` say whether the memory cgroup killed the kernel. Its clients
  (`SandboxedKernelClient`) refuse single messages above `MAX_MESSAGE_BYTES`.
- `sweep_stale_cgroups()`: remove the cgroups of jails whose process died without closing them.

Where each part lives: `grading.bwrap` (the policy and the bwrap/setpriv/prlimit command line),
`grading.isolation` (probing what this machine offers), `grading.jail` (`Jail`), `grading.processes` (process
trees, `remove_tree`), `grading.kernel_manager` (the kernel manager and client). This module runs a sandbox and
re-exports what callers use of the first ones (`SandboxPolicy`, `GIB`, `MIB`, `base_env`, `Isolation`,
`isolation`, `remove_tree`).

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
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from grading.bwrap import GIB as GIB
from grading.bwrap import MIB as MIB
from grading.bwrap import SandboxPolicy, bwrap_args, fresh_uid, limit_args
from grading.bwrap import base_env as base_env
from grading.isolation import Isolation, isolation
from grading.jail import Jail
from grading.processes import kill_tree
from grading.processes import remove_tree as remove_tree

INSTALL_HINT = ("Install bubblewrap (Debian/Ubuntu: `sudo apt-get install bubblewrap`; Fedora: `sudo dnf install "
                "bubblewrap`) and make sure user namespaces are enabled (`sysctl kernel.unprivileged_userns_clone=1` "
                "on older Debian kernels), or pass --no-sandbox to grade without isolation on a machine you trust "
                "with code you trust.")


class SandboxUnavailable(RuntimeError):
    """Real isolation is not possible here and the caller did not opt out with `trusted=True`."""


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


def command(argv: Sequence[str], policy: SandboxPolicy, cwd: str | os.PathLike | None = None,
            trusted: bool = False) -> list[str]:
    """`argv` wrapped in bwrap, setpriv (as root) and prlimit, without cgroups or a private home.

    With `trusted=True` and no isolation available, only prlimit wraps it (no isolation at all).
    """
    iso = require(trusted)
    uid = fresh_uid()
    if not iso.ok:
        return limit_args("none", policy, uid) + list(argv)
    return bwrap_args(iso.mode, policy, str(cwd) if cwd else None, uid) + limit_args(iso.mode, policy, uid) + list(argv)


def sweep_stale_cgroups() -> int:
    """Remove the cgroups of jails whose owning process died without closing them (a killed grader worker);
    kill anything still inside them first. Returns how many were removed."""
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
# run()


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
    with Jail(policy, require(trusted), cwd) as jail:
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
                    kill_tree(process)
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
            kill_tree(process)
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
