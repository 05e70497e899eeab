"""The sandboxed Jupyter kernel: `SandboxedKernelManager`, an `AsyncKernelManager` whose ipykernel runs in a
`Jail` and talks ZMQ over unix sockets in the jail's folder, and `SandboxedKernelClient`, whose sockets refuse
any single message above `MAX_MESSAGE_BYTES`. See `grading.sandbox` for the limits they enforce.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from typing import Any

from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.manager import AsyncKernelManager
from traitlets import Bool, DottedObjectName, Instance, default

from grading import sandbox
from grading.bwrap import MIB, SandboxPolicy
from grading.jail import Jail
from grading.processes import descendants, read_file

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

    client_class = DottedObjectName("grading.kernel_manager.SandboxedKernelClient")

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
            self.jail = Jail(self._policy(), sandbox.require(self.trusted or self._bound_trusted), kw.get("cwd"))
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
            argv = read_file(f"/proc/{pid}/cmdline").split(b"\0")
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
